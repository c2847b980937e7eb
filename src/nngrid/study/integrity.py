"""Results trusted by their content, never by where they lie; derived tables verified.

Every consumer checks what it reads against what it expects, each refusal one ``NngridError``
naming the file and the fix:

* **Job specs.** A job's spec is known to the workflow (its rule's params); its digest
  (:func:`spec_digest`, sha256 of the canonical JSON) is what every later step compares with. At
  workflow load, :func:`remove_stale_specs` deletes a spec file whose text differs from the
  config's (edited or truncated), so its rule writes it again; the training job itself refuses a
  spec file whose digest differs from the one its rule passes (:func:`read_job_spec`).
* **Datasets.** A job refuses a dataset whose content hash differs from its ``.json`` (a swapped
  ``.npz``) or whose ``.json`` was made from another dataset spec than the job's
  (:func:`check_job_data`).
* **Results.** A job's result names what it stands for (:func:`job_stamp`: the spec digest, the
  dataset's content hash and the plugins loaded; architectures and side-experiment .npz results
  a ``job`` entry with a checksum of their records). At workflow load,
  :func:`remove_stale_results` removes (and so remakes) a result that names another digest than
  its job's (made under another config while ``.snakemake`` was missing, an orphan of a killed
  run renamed over a newer result, a copy, a symbolic link, a truncated file); the collection
  refuses the same (:func:`check_results`, :func:`check_architecture_results`,
  :func:`check_experiment_result`).
* **claims.csv and claims_by_dataset.csv.** Written with a stamp (:func:`write_claims_stamp`:
  the sha256 of both files and of every input they were derived from); :func:`read_claims`
  refuses a claims table that differs from its stamp, whose inputs changed since, or one of
  whose verdicts contradicts its own interval, threshold and direction;
  :func:`read_claims_by_dataset` refuses the same of the per-dataset verdicts (and a stamp that
  names none: an older nngrid's). One row check serves both (:func:`verify_claims`).
* **replication.csv.** Written with a stamp (:func:`write_replication_stamp`: its sha256 and the
  two claims tables' it compared); :func:`verify_replication_stamp` refuses one that differs from
  its stamp or that compared another claims.csv than the one shown beside it (another run's, or
  stale); nngrid.study.replication's ``read_replication`` then refuses rows that their own
  verdicts and that claims.csv do not give.
* **Code.** :func:`source_closure` lists the nngrid modules a rule runs (its imports,
  transitively): every computing rule's code hash covers them.
* **Labels and captions.** :func:`check_labels` keeps every name of the experiments section to
  the label pattern; :func:`safe_caption` makes generated caption text inert for Jinja (Snakemake
  renders every caption as a template) and for reStructuredText (no directive can start a line).
* **Bounds and signals.** :func:`training_minutes` is the one time estimate of the config check
  and ``nngrid train``; :func:`check_dataset_finite` refuses dataset params that make NaN data;
  :func:`stop_on_signals` (jobs) and :func:`stop_run_on_signals` (Snakemake) make SIGTERM and
  SIGHUP stop cleanly.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nngrid.errors import NngridError
from nngrid.io import payload_sha256, read_json, write_json

__all__ = [
    "MAX_JOB_MINUTES",
    "REPLICATION_FIX",
    "SECONDS_PER_REPLICA_EPOCH_EXAMPLE",
    "check_finite_arrays",
    "training_minutes",
    "verify_tables",
    "write_tables_stamp",
    "STAMP_KEYS",
    "TABLES_STAMP",
    "VERDICT_COLUMNS",
    "Stopped",
    "check_architecture_results",
    "check_experiment_result",
    "check_dataset_finite",
    "check_job_data",
    "check_labels",
    "check_results",
    "claims_stamp_path",
    "experiment_digest",
    "file_sha256",
    "inspecting",
    "inert_template",
    "job_stamp",
    "read_claims",
    "read_claims_by_dataset",
    "read_job_spec",
    "remove_stale_results",
    "remove_stale_specs",
    "safe_caption",
    "source_closure",
    "spec_digest",
    "stamp_architecture_result",
    "stamp_experiment_result",
    "stamp_path",
    "stop_on_signals",
    "stop_run_on_signals",
    "verify_claims",
    "verify_replication_stamp",
    "write_claims_stamp",
    "write_replication_stamp",
]

#: The keys a job's result carries beside its rows (see :func:`job_stamp`).
STAMP_KEYS = ("spec_sha256", "data_sha256", "plugins")


def spec_digest(spec: Any) -> str:
    """sha256 of ``spec`` as canonical JSON (sorted keys, no spaces): the spec's identity."""
    return payload_sha256(spec)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- code


def source_closure(*modules: str) -> list[Path]:
    """The source files of nngrid modules ``modules`` (dotted names) and of every nngrid
    module they import, transitively (imports inside functions included): the code a rule
    runs, for its code hash. Read from the sources (``ast``), nothing is imported. A package
    named in ``modules`` counts with every module in its folder (it may import them by name at
    run time, as nngrid.study.claims imports its section modules)."""
    import ast

    root = Path(__file__).resolve().parents[1]  # src/nngrid

    def path_of(name: str) -> Path | None:
        parts = name.split(".")[1:]
        candidates = [root.joinpath(*parts, "__init__.py")]
        if parts:
            candidates.insert(0, root.joinpath(*parts[:-1], parts[-1] + ".py"))
        return next((c for c in candidates if c.is_file()), None)

    seen: dict[str, Path] = {}
    todo = list(modules)
    for name in modules:
        init = path_of(name)
        if init is not None and init.name == "__init__.py":
            todo += [f"{name}.{p.stem}" for p in sorted(init.parent.glob("*.py"))]
    while todo:
        name = todo.pop()
        if name in seen or not (name == "nngrid" or name.startswith("nngrid.")):
            continue
        path = path_of(name)
        if path is None:
            continue
        seen[name] = path
        parts = name.split(".")
        package = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package[: len(package) - node.level + 1] + ([base] if base else [])
                    )
                todo.append(base)
                todo += [f"{base}.{alias.name}" for alias in node.names]
        for i in range(1, len(parts)):  # a package's __init__ runs first
            todo.append(".".join(parts[:i]))
    return sorted(set(seen.values()))


# --------------------------------------------------------------------------- specs


def remove_stale_specs(
    expected: Mapping[str, str], dry_run: bool = False, log: Any = None
) -> list[str]:
    """Delete every spec file of ``expected`` (path -> the text its rule writes, without the
    newline) whose content is not that text; return them (``dry_run``, or a Snakemake command
    line that only inspects: only name them).

    Called when the workflow loads: a spec file edited or truncated by hand never trains and
    never fails forever; its rule writes it again whenever its job runs.
    """
    dry_run = dry_run or inspecting()
    removed = []
    for path, text in expected.items():
        try:
            current = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError):
            current = None
        if current is not None and current.rstrip("\n") == text:
            continue
        if not dry_run:
            _remove(path)
        removed.append(path)
        _say(
            f"{path} differed from the spec the config gives (edited, truncated or from "
            "another config); "
            + (
                "it will be removed"
                if dry_run
                else "removed it: its rule writes it again when its job runs"
            ),
            log,
        )
    return removed


def remove_stale_results(
    expected: Mapping[str, str],
    downstream: Iterable[str] = (),
    dry_run: bool = False,
    log: Any = None,
) -> list[str]:
    """Delete every job result of ``expected`` (path -> the spec digest of its job) that names
    another spec digest, and then the ``downstream`` files made from the results; return the
    stale results.

    Called when the workflow loads, so a result that is not its job's (made under another config
    while ``.snakemake``, which holds the params Snakemake compares, was missing; an orphan of a
    killed run renamed over a newer result; a copy of another job's) is remade instead of being
    kept because its file exists. Only the digest a result names is read here (the end of a
    JSON result, one member of an .npz); the collection verifies everything. ``dry_run``: only
    say so.
    """
    dry_run = dry_run or inspecting()
    stale = []
    for path, digest in expected.items():
        if not os.path.lexists(path):
            continue
        named = None if os.path.islink(path) else _named_digest(path)
        if named == digest:
            continue
        stale.append(path)
        why = (
            "a symbolic link"
            if os.path.islink(path)
            else "truncated, unreadable or naming no spec"
            if named is None
            else "made from another spec than its job's (under another config, an orphan of "
            "an earlier run, or a copy of another job's result)"
        )
        if not dry_run:
            _remove(path)
        _say(
            f"{path} is not its job's result: {why}; "
            + ("it will be removed and remade" if dry_run else "removed it: it is remade"),
            log,
        )
    if stale and not dry_run:
        for path in downstream:
            if os.path.lexists(path):
                _remove(path)
    return stale


#: Snakemake options under which nothing runs: stale files are then only named, never removed.
_INSPECTING = {
    "--dry-run", "--dryrun", "--report", "--lint", "--summary", "--detailed-summary",
    "--list-changes", "--lc", "--list-code-changes", "--list-input-changes",
    "--list-params-changes",
    "--dag", "--rulegraph", "--filegraph", "--d3dag", "--list", "--list-rules",
    "--list-target-rules", "--unlock", "--cleanup-metadata", "--delete-all-output",
    "--delete-temp-output", "--print-compilation", "--containerize", "--archive",
    # a job of a cluster executor parses the workflow again: it never removes anything
    "--target-jobs", "--mode",
}  # fmt: skip


def inspecting(argv: Sequence[str] | None = None) -> bool:
    """True when Snakemake's command line (``sys.argv``) only inspects the workflow (a dry
    run, a report, lint ...): then nothing is removed at load."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _INSPECTING or name.startswith("--list-"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:]:
            return True  # -n, -pn ...
    return False


_DIGEST_AT_END = re.compile(rb'"spec_sha256":\s*"([0-9a-f]{64})"\s*}\s*$')


def _named_digest(path: str) -> str | None:
    """The spec digest a result names, read cheaply: the last key of a job's JSON (keys are
    sorted), the ``job`` member of an architectures .npz; None when there is none."""
    try:
        if str(path).endswith(".npz"):
            import numpy as np

            with np.load(path, allow_pickle=False) as z:
                job = json.loads(str(z["job"])) if "job" in z.files else None
            return job[0].get("spec_sha256") if isinstance(job, list) and job else None
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 200))
            match = _DIGEST_AT_END.search(f.read())
        return match.group(1).decode() if match else None
    except Exception:  # unreadable, truncated, not an archive: not its job's result
        return None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise NngridError(
            f"{path} is stale and cannot be removed ({exc.strerror}); delete it by hand"
        ) from None


def _say(message: str, log: Any = None) -> None:
    import sys

    print(f"nngrid: {message}", file=log or sys.stderr)


def read_spec(text: str) -> dict:
    """A job spec from a JSON file, or from the JSON itself when the text starts with ``{``."""
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return json.loads(Path(text).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NngridError(f"cannot read job spec {text[:60]!r}: {exc}") from None


def read_job_spec(text: str, expected_sha256: str | None = None) -> dict:
    """A job spec from a JSON file (or inline JSON), refused when its digest does not start
    with ``expected_sha256`` (the digest of the spec the job's rule holds, at least its first
    16 hex digits: the workflow passes those, to keep the command line short)."""
    fix = (
        "it was edited or truncated after its rule wrote it; rerun snakemake, which removes it "
        "and writes it again from the config"
    )
    try:
        spec = read_spec(text)
    except NngridError as exc:
        if expected_sha256 is None:
            raise
        raise NngridError(f"{exc}; {fix}") from None
    if not isinstance(spec, dict):
        raise NngridError(f"job spec {text[:60]!r} is not a JSON object; {fix}")
    if expected_sha256 is not None and (
        len(expected_sha256) < 16 or not spec_digest(spec).startswith(expected_sha256)
    ):
        raise NngridError(
            f"{text[:200]} differs from the spec its rule holds (sha256 "
            f"{spec_digest(spec)[:12]}..., expected {expected_sha256[:12]}...); {fix}"
        )
    return spec


def check_job_data(path: str | os.PathLike[str], spec: Mapping[str, Any]) -> str | None:
    """The content hash of dataset ``path``, checked against its ``.json`` beside it.

    Refused: arrays whose hash differs from the ``.json``'s ``sha256`` (a swapped or altered
    ``.npz``), and a ``.json`` made from another dataset spec than the job's ``data`` entry (a
    swapped pair). Returns ``None`` for a dataset without a ``.json`` given by hand outside the
    workflow (a spec without ``data``); a workflow job's dataset must have one.
    """
    from nngrid.datasets import content_hash
    from nngrid.io import load_npz

    info_path = Path(path).with_suffix(".json")
    wanted = spec.get("data") if isinstance(spec, Mapping) else None
    fix = f"delete {path} and {info_path} and rerun snakemake, which makes them again"
    if not info_path.exists():
        if wanted is None:
            return None
        raise NngridError(f"{info_path} (the metadata of {path}) is missing; {fix}")
    info = read_json(info_path)
    if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
        raise NngridError(f"{info_path} holds no sha256 of its dataset; {fix}")
    if wanted is not None and info.get("spec") != wanted:
        raise NngridError(
            f"{info_path} describes another dataset than this job's (spec {info.get('spec')!r}, "
            f"expected {dict(wanted)!r}); {fix}"
        )
    digest = content_hash(load_npz(path))
    if digest != info["sha256"]:
        raise NngridError(
            f"{path} does not match the sha256 in {info_path} (replaced or altered after it "
            f"was made); {fix}"
        )
    return digest


def job_stamp(spec: Any, data_sha256: str | None) -> dict[str, Any]:
    """What a job's result names beside its rows: the spec's digest, the dataset's content
    hash and the plugins loaded (module, file, sha256)."""
    from nngrid.plugins import loaded_plugins

    return {
        "spec_sha256": spec_digest(spec),
        "data_sha256": data_sha256,
        "plugins": loaded_plugins(),
    }


class Stopped(SystemExit):
    """SIGTERM or SIGHUP arrived (:func:`stop_on_signals`); the exit status is 128 + signal."""


def stop_on_signals() -> None:
    """Make SIGTERM and SIGHUP end this process through :class:`Stopped` (a ``SystemExit`` of
    status 128 + signal), so ``finally`` blocks run (an atomic write removes its temporary
    file) and no result is written."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise Stopped(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, stop)
        except (ValueError, OSError):  # not the main thread
            pass


def stop_run_on_signals(grace: float = 10.0) -> None:
    """In Snakemake's own process (its ``onstart`` handler): make SIGTERM and SIGHUP stop the
    whole run as SIGINT does, children included.

    Snakemake's own SIGTERM handler waits for the running jobs to end, and SIGHUP (a closed
    terminal, ``kill -HUP``) ends Snakemake at once, leaving its lock and its jobs running as
    orphans that later rename their results over newer ones. Here either signal sends SIGTERM
    to every descendant process (the jobs end through :class:`Stopped`, writing nothing;
    whatever still runs after ``grace`` seconds is killed), then raises ``KeyboardInterrupt``
    in Snakemake, which cancels the jobs, marks their outputs incomplete and releases its
    lock; a rerun redoes exactly the stopped jobs.
    """
    import signal

    def stop(signum: int, frame: Any) -> None:
        import time

        import psutil

        for sig in (signal.SIGTERM, signal.SIGHUP):  # once is enough: ignore repeats
            signal.signal(sig, signal.SIG_IGN)
        children = psutil.Process().children(recursive=True)
        for child in children:
            try:
                child.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(children, timeout=grace)
        for child in alive:
            try:
                child.kill()
            except psutil.Error:
                pass
        time.sleep(0)  # let the executor's threads see their jobs end
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, stop)
        except (ValueError, OSError):  # not the main thread
            pass


# --------------------------------------------------------------------------- results


def check_results(
    paths: Sequence[str | os.PathLike[str]],
    docs: Sequence[Mapping[str, Any]],
    expected: Sequence[str] | None = None,
) -> None:
    """Refuse results that do not stand for the job they are taken for (module docstring).

    ``docs`` are the parsed (checksum-verified) results of ``paths``; ``expected`` the spec
    digest the workflow expects of each path, in the same order (``None``: no expectation,
    only the results' own consistency and uniqueness are checked).
    """
    if expected is not None and len(expected) != len(paths):
        raise NngridError(
            f"{len(paths)} results but {len(expected)} expected spec digests; give one per result"
        )
    seen: dict[str, str] = {}
    for i, (path, doc) in enumerate(zip(paths, docs, strict=True)):
        fix = f"remake it with: snakemake --forcerun {path}"
        if os.path.islink(path):
            raise NngridError(
                f"{path} is a symbolic link to {os.readlink(path)}, not its job's own result; "
                f"delete it and {fix.replace('remake it with: ', 'run: ')}"
            )
        stamped = doc.get("spec_sha256")
        if not isinstance(stamped, str) or "spec" not in doc:
            raise NngridError(
                f"{path} names no spec digest (made by hand or by an older nngrid); {fix}"
            )
        if spec_digest(doc["spec"]) != stamped:
            raise NngridError(f"{path}: its spec does not match its spec digest; {fix}")
        if expected is not None and stamped != expected[i]:
            raise NngridError(
                f"{path} was made from another spec than the config gives for this job (a copy "
                "of another job's result, an orphan of an earlier run, or a result of another "
                f"config); {fix}"
            )
        if stamped in seen:
            raise NngridError(
                f"{path} is the result of the same job as {seen[stamped]} (a copy); {fix}"
            )
        seen[stamped] = str(path)


#: The lists of an architectures job's result its stamp covers.
_ARCH_PAYLOAD = ("records", "curves", "grad_time")


def stamp_architecture_result(result: dict, spec: Any, data_sha256: str | None) -> dict:
    """``result`` with a ``job`` entry (a list of one object, as results store lists): the
    :func:`job_stamp` and the sha256 of its record lists (an .npz carries no checksum)."""
    payload = {k: result.get(k, []) for k in _ARCH_PAYLOAD}
    stamp = {**job_stamp(spec, data_sha256), "spec": spec, "sha256": payload_sha256(payload)}
    return {**result, "job": [stamp]}


def check_architecture_results(
    paths: Sequence[str | os.PathLike[str]],
    results: Sequence[Mapping[str, Any]],
    expected: Sequence[str] | None = None,
) -> None:
    """:func:`check_results` for the architectures jobs' .npz results, after checking each one's
    records against the sha256 of its stamp."""
    docs = []
    for path, res in zip(paths, results, strict=True):
        fix = f"remake it with: snakemake --forcerun {path}"
        job = res.get("job")
        if not (isinstance(job, list) and len(job) == 1 and isinstance(job[0], dict)):
            raise NngridError(f"{path} names no job (made by hand or by an older nngrid); {fix}")
        payload = {k: res.get(k, []) for k in _ARCH_PAYLOAD}
        if payload_sha256(payload) != job[0].get("sha256"):
            raise NngridError(
                f"{path} does not match its sha256 checksum (changed after its job wrote it: "
                f"edited by hand or damaged); {fix}"
            )
        docs.append(job[0])
    check_results(paths, docs, expected)


def experiment_digest(name: str, settings: Mapping[str, Any], seed: Any) -> str:
    """The identity of a side experiment's job: its name, its config settings and seed."""
    return spec_digest({"experiment": name, "settings": dict(settings), "seed": seed})


def _result_sha256(result: Mapping[str, Any]) -> str:
    """sha256 over a result's entries (lists as canonical JSON, arrays by dtype, shape and
    bytes), its ``job`` stamp left out."""
    import numpy as np

    h = hashlib.sha256()
    for key in sorted(k for k in result if k != "job"):
        value = result[key]
        h.update(key.encode() + b"\0")
        if isinstance(value, list):
            h.update(payload_sha256(value).encode())
        else:
            a = np.ascontiguousarray(value)
            h.update(f"{a.dtype.str}|{a.shape}|".encode() + a.tobytes())
    return h.hexdigest()


def stamp_experiment_result(
    result: dict, name: str, settings: Mapping[str, Any], seed: Any
) -> dict:
    """``result`` with a ``job`` entry naming the experiment, the digest of its settings
    (:func:`experiment_digest`) and the sha256 of its entries."""
    stamp = {
        "experiment": name,
        "spec_sha256": experiment_digest(name, settings, seed),
        "sha256": _result_sha256(result),
        "plugins": job_stamp(None, None)["plugins"],
    }
    return {**result, "job": [stamp]}


def check_experiment_result(path: str | os.PathLike[str], result: Mapping[str, Any]) -> None:
    """Refuse a side experiment's result whose entries changed since its job (its sha256), or
    that stands for another experiment than its file name says (a copy)."""
    fix = f"remake it with: snakemake --forcerun {path}"
    stamp = result["job"][0]
    if _result_sha256(result) != stamp.get("sha256"):
        raise NngridError(
            f"{path} does not match its sha256 checksum (changed after its job wrote it: "
            f"edited by hand or damaged); {fix}"
        )
    if Path(path).stem != stamp.get("experiment"):
        raise NngridError(
            f"{path} is the result of experiment {stamp.get('experiment')!r}, not of "
            f"{Path(path).stem!r} (a copy); {fix}"
        )


# --------------------------------------------------------------------------- tables

TABLES_STAMP = "tables.stamp.json"


def write_tables_stamp(paths: Iterable[str | os.PathLike[str]], stamp: str | os.PathLike) -> Path:
    """Write the stamp of the tables ``paths`` just written: each one's sha256 by file name."""
    return write_json(
        stamp, {"tables": {Path(p).name: file_sha256(p) for p in paths}}, checksum=True
    )


def verify_tables(stamp: str | os.PathLike[str], paths: Iterable[str | os.PathLike]) -> None:
    """Refuse a table of ``paths`` that differs from what nngrid.study.tables wrote (its stamp):
    the tables are derived, never edited."""
    from nngrid.io import verify_sha256

    fix = "remake them with: snakemake --forcerun tables"
    recorded = verify_sha256(stamp, read_json(stamp), fix).get("tables") or {}
    for path in paths:
        name = Path(path).name
        if name not in recorded:
            raise NngridError(f"{path} is not one of the tables {stamp} names; {fix}")
        if file_sha256(path) != recorded[name]:
            raise NngridError(
                f"{path} differs from what nngrid.study.tables wrote (edited by hand?); the tables "
                f"are derived, never edited: {fix}"
            )


# --------------------------------------------------------------------------- claims


def stamp_path(table: str | os.PathLike[str]) -> Path:
    """``x.csv`` -> ``x.stamp.json`` beside it: where a derived table's stamp lies."""
    p = Path(table)
    return p.with_name(p.stem + ".stamp.json")


def claims_stamp_path(claims: str | os.PathLike[str]) -> Path:
    """``claims.csv`` -> ``claims.stamp.json`` beside it."""
    return stamp_path(claims)


_CLAIMS_FIX = "remake it with: snakemake --forcerun claims"


def write_claims_stamp(
    claims: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike],
    by_dataset: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the stamp of ``claims`` (a claims.csv just written) and of ``by_dataset`` (the
    claims_by_dataset.csv written with it; ``None``: none was): their sha256 and every input's."""
    return write_json(
        claims_stamp_path(claims),
        {
            "claims_sha256": file_sha256(claims),
            "by_dataset_sha256": None if by_dataset is None else file_sha256(by_dataset),
            "inputs": {str(p): file_sha256(p) for p in inputs},
        },
        checksum=True,
    )


#: The columns each verdict is checked by, in claims.csv and claims_by_dataset.csv alike.
VERDICT_COLUMNS = ("claim_id", "verdict", "value", "ci_low", "ci_high", "threshold", "direction")


def _check_verdict(row: Mapping[str, Any], i: int, source: Any, fix: str) -> None:
    """Refuse one row of verdicts (claims.csv's, or claims_by_dataset.csv's: a claim on one
    dataset) whose verdict is not what its own interval, threshold and direction give, or whose
    value lies outside its interval."""
    from nngrid.study.verdict import decide

    name = f"claim {row.get('claim_id')}"
    if "dataset" in row:
        name += f" on dataset {row.get('dataset')}"
    verdict = str(row.get("verdict"))
    direction = str(row.get("direction") or "")
    try:
        lo, hi, thr, value = (
            float(row.get(k)) for k in ("ci_low", "ci_high", "threshold", "value")
        )
    except (TypeError, ValueError):
        raise NngridError(f"{source}: row {i + 1} holds a number that is not one; {fix}") from None
    if direction not in (">", "<"):
        raise NngridError(
            f"{source}: row {i + 1} ({row.get('claim_id')}) has direction {direction!r}, "
            f"not '>' or '<'; {fix}"
        )
    want = decide(lo, hi, thr, direction)
    if (
        verdict == "not applicable"
        and want == "inconclusive"
        and not (math.isfinite(lo) or math.isfinite(hi))
        and str(row.get("evidence") or "").lower().startswith("not applicable")
    ):
        want = verdict  # a claim the data cannot measure: no interval, and its evidence says so
    if verdict != want:
        raise NngridError(
            f"{source}: {name} says {verdict!r} but its interval [{lo:g}, {hi:g}] against "
            f"{direction} {thr:g} gives {want!r}; {fix}"
        )
    if math.isfinite(value) and math.isfinite(lo) and math.isfinite(hi):
        slack = 1e-5 * max(1.0, abs(lo), abs(hi))  # the csv keeps 6 significant digits
        if not lo - slack <= value <= hi + slack:
            raise NngridError(
                f"{source}: {name} has value {value:g} outside its interval [{lo:g}, {hi:g}]; {fix}"
            )


def verify_claims(claims: Any, source: str | os.PathLike[str] = "claims.csv") -> Any:
    """Refuse a table of verdicts (claims.csv, or claims_by_dataset.csv: the same columns per
    claim and dataset) one of whose verdicts is not what its own interval, threshold and
    direction give (the rule of nngrid.study.verdict.decide), or whose value lies outside its
    interval; return the table."""
    missing = [c for c in VERDICT_COLUMNS if c not in claims]
    if missing:
        raise NngridError(f"{source} lacks the column {missing[0]!r}; {_CLAIMS_FIX}")
    for i, row in enumerate(claims.to_dict("records")):
        _check_verdict(row, i, source, _CLAIMS_FIX)
    return claims


def _own_stamp(
    path: str | os.PathLike[str], stamp_file: Path, writer: str, older: str, fix: str
) -> dict:
    """The stamp ``stamp_file`` of the table ``path`` that nngrid.study.<writer> wrote, verified:
    present (``older``: what else its absence may mean), its own checksum, and the table's
    ``<writer>_sha256`` the table's sha256 (unchanged since written)."""
    from nngrid.io import verify_sha256

    if not stamp_file.exists():
        raise NngridError(
            f"{path} has no stamp {stamp_file} (not written by nngrid.study.{writer}{older}); {fix}"
        )
    stamp = verify_sha256(stamp_file, read_json(stamp_file), fix)
    if file_sha256(path) != stamp.get(f"{writer}_sha256"):
        raise NngridError(
            f"{path} differs from what nngrid.study.{writer} wrote (edited by hand?); it is "
            f"derived, never edited: {fix}"
        )
    return stamp


def _claims_stamp(path: str | os.PathLike[str], check_inputs: bool = True) -> dict:
    """The stamp of claims.csv ``path``, verified: its checksum, the file unchanged since
    nngrid.study.claims wrote it, and (``check_inputs``) every input unchanged since."""
    stamp = _own_stamp(path, claims_stamp_path(path), "claims", "", _CLAIMS_FIX)
    for src, digest in (stamp.get("inputs") or {}).items() if check_inputs else ():
        if not Path(src).exists() or file_sha256(src) != digest:
            raise NngridError(
                f"{path} was derived from another {src} than the one there now (stale); "
                f"{_CLAIMS_FIX}"
            )
    return stamp


def read_claims(path: str | os.PathLike[str]) -> Any:
    """claims.csv, verified: against its stamp (the file unchanged since nngrid.study.claims wrote
    it, every input unchanged since), then each verdict against its own numbers."""
    import pandas as pd

    _claims_stamp(path)
    return verify_claims(pd.read_csv(path), path)


def read_claims_by_dataset(
    path: str | os.PathLike[str], claims: str | os.PathLike[str], check_inputs: bool = True
) -> Any:
    """claims_by_dataset.csv, verified: the table nngrid.study.claims wrote together with
    ``claims`` (claims.csv: its stamp names both files' sha256), then each per-dataset verdict
    against its own numbers. ``check_inputs=False`` skips hashing the stamp's inputs again, for
    a caller that has just read ``claims`` with :func:`read_claims`."""
    import pandas as pd

    stamp = _claims_stamp(claims, check_inputs)
    stamp_file = claims_stamp_path(claims)
    if "by_dataset_sha256" not in stamp:
        raise NngridError(
            f"{path} cannot be verified: {stamp_file} names no per-dataset table (written by an "
            f"older nngrid); {_CLAIMS_FIX}"
        )
    if stamp["by_dataset_sha256"] is None:
        raise NngridError(
            f"{path} was not written with {claims} ({stamp_file} names no per-dataset table); "
            f"{_CLAIMS_FIX}"
        )
    if file_sha256(path) != stamp["by_dataset_sha256"]:
        raise NngridError(
            f"{path} differs from what nngrid.study.claims wrote with {claims} (edited by hand, "
            f"or another run's?); it is derived, never edited: {_CLAIMS_FIX}"
        )
    return verify_claims(pd.read_csv(path), path)


# --------------------------------------------------------------------------- replication

#: How to remake replication.csv (and its stamp).
REPLICATION_FIX = "remake it with: snakemake --forcerun replication"


def write_replication_stamp(
    table: str | os.PathLike[str],
    first: str | os.PathLike[str],
    second: str | os.PathLike[str],
) -> Path:
    """Write the stamp of ``table`` (a replication.csv just written by nngrid.study.replication):
    its sha256 and the path and sha256 of the two claims tables it compared (``first``: the first
    run's, ``second``: this run's)."""
    return write_json(
        stamp_path(table),
        {
            "replication_sha256": file_sha256(table),
            "first": {"path": str(first), "sha256": file_sha256(first)},
            "second": {"path": str(second), "sha256": file_sha256(second)},
        },
        checksum=True,
    )


def verify_replication_stamp(
    path: str | os.PathLike[str], claims_csv: str | os.PathLike[str]
) -> dict:
    """Refuse replication.csv ``path`` unless its stamp says it is unchanged since
    nngrid.study.replication wrote it and that the claims table it compared as this run's was
    ``claims_csv`` (the claims.csv shown beside it, by sha256: a replication of another run, or a
    stale one, is refused); return the stamp. The first run's claims table is named in the stamp,
    not checked here (it lies outside this run). Its rows: nngrid.study.replication's
    ``read_replication``, which calls this first."""
    stamp = _own_stamp(
        path, stamp_path(path), "replication", ", or by an older nngrid", REPLICATION_FIX
    )
    second = stamp.get("second") if isinstance(stamp.get("second"), dict) else {}
    if second.get("sha256") != file_sha256(claims_csv):
        raise NngridError(
            f"{path} compared another claims table ({second.get('path')}) than {claims_csv}, the "
            f"one shown beside it (another run's replication, or stale); {REPLICATION_FIX}"
        )
    return stamp


# --------------------------------------------------------------------------- labels

#: A user-chosen name (the config schema's ``label``): it lands in file paths, wildcards,
#: figure legends and the report, so it can never be markup, a template or a path.
LABEL = re.compile(r"[a-z][a-z0-9_]*")
LABEL_MAX = 64


def check_labels(node: Any, where: str) -> None:
    """Every mapping key and every string value under ``node`` (the config's ``experiments``
    section: cure labels, dataset labels, component names) must be a label; the first that is
    not raises a config error naming its key."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            _check_label(f"{where} key", key, where)
            check_labels(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_labels(value, f"{where}[{i}]")
    elif isinstance(node, str):
        _check_label(where, node, where)


def _check_label(what: str, name: Any, where: str) -> None:
    text = str(name)
    shown = text if len(text) <= 40 else text[:37] + "..."
    if len(text) > LABEL_MAX:
        raise NngridError(
            f"config error: {what} {shown!r} is longer than {LABEL_MAX} characters; "
            "give a shorter name"
        )
    if not LABEL.fullmatch(text):
        raise NngridError(
            f"config error: {what} {shown!r} is not a valid name; use lower_snake_case "
            "letters, digits and underscores, starting with a letter"
        )


def check_dataset_finite(where: str, spec: Mapping[str, Any], sample: int = 200) -> None:
    """Refuse at config load dataset parameters that make the data NaN or infinite, naming
    the key: the dataset (``spec`` as the workflow's ``dataset_spec``) is built with at most
    ``sample`` points when its generator takes ``n_samples`` (the others are left to their
    job)."""
    from nngrid.datasets import DATASETS, NonFiniteData, build

    params = dict(spec.get("params") or {})
    accepted = DATASETS.parameters(spec["kind"])
    if "n_samples" not in accepted:
        return
    n = params.get("n_samples", accepted["n_samples"])
    params["n_samples"] = min(int(n), sample) if isinstance(n, int | float) else n
    try:
        build(
            spec["kind"],
            seed=spec.get("seed", 0),
            val_fraction=spec.get("val_fraction", 0.2),
            test_fraction=spec.get("test_fraction", 0.2),
            **params,
        )
    except NonFiniteData as exc:
        raise NngridError(f"config error: {where}: {exc}") from None
    except (NngridError, ValueError, TypeError):
        pass  # a sample too small for its splits ...: its job says so at full size


# --------------------------------------------------------------------------- bounds

#: CPU seconds per replica, epoch and training example for hidden widths up to 64, measured on
#: this machine (docs/BENCHMARKS.md); wider layers cost (width / 64)^2 times more.
SECONDS_PER_REPLICA_EPOCH_EXAMPLE = 1.2e-6
#: Longest estimated training job accepted (minutes of CPU on this machine's measured speed),
#: by the config check and by ``nngrid train`` alike.
MAX_JOB_MINUTES = 7 * 24 * 60


def training_minutes(replicas: int, epochs: int, n_train: int, widest: int) -> float:
    """Estimated minutes of one training run (with the config check's safety factor of 4)."""
    width = max(1.0, widest / 64) ** 2
    seconds = replicas * epochs * n_train * width * SECONDS_PER_REPLICA_EPOCH_EXAMPLE
    return 4 * seconds / 60


def check_finite_arrays(what: str, arrays: Mapping[str, Any], fix: str) -> None:
    """Refuse arrays holding NaN or infinities (``--init-from`` weights), naming the first."""
    import numpy as np

    for name, value in arrays.items():
        a = np.asarray(value)
        if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
            bad = int(a.size - np.count_nonzero(np.isfinite(a)))
            raise NngridError(f"{what}: array {name!r} holds {bad} NaN or infinite value(s); {fix}")


# --------------------------------------------------------------------------- captions

_JINJA = re.compile(r"\{[{%#]|[}%#]\}")


def safe_caption(text: str) -> str:
    """``text`` (generated rst) made inert: no line can start an rst directive, comment or
    substitution definition (``..``), and the whole is wrapped in ``{% raw %}`` with every Jinja
    delimiter inside broken by a backslash (which rst drops), so Snakemake's Jinja pass never
    evaluates it and docutils never passes raw HTML through."""
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(".."):
            line = line[: len(line) - len(stripped)] + "\\" + stripped
        lines.append(line)
    body = _JINJA.sub(lambda m: m.group(0)[0] + "\\" + m.group(0)[1], "\n".join(lines))
    return "{% raw %}\n" + body + "\n{% endraw %}\n"


def inert_template(text: str) -> str:
    """``text`` wrapped in ``{% raw %}`` for Snakemake's Jinja pass, any ``endraw`` inside
    broken so that nothing in it can close the raw block (for text that must keep its rst
    directives, such as the landing page's HTML table)."""
    return "{% raw %}\n" + re.sub("endraw", "end_raw", text) + "\n{% endraw %}\n"
