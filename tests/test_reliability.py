"""Faults the workflow survives: killed jobs, interrupted runs, truncated files, read-only and full
folders, divergence, untrusted files, and the same numbers whatever the number of cores.

Every workflow-running test is marked ``slow``. They share one baseline: a tiny study (``TINY``:
2 datasets x 2 activations x 1 regularizer x 2 optimizers, 4 training jobs, 56 runs) run once per
session in a temporary copy of the workflow with ``--cores 2``. Each fault test works in its own
copy, provokes its fault, reruns, and compares the tables with the baseline apart from the timing
columns. ``NNGRID_RELIABILITY_CONFIG=config/quick.yaml`` runs the same set on another study
(slower; the divergence test then needs a cell that diverges and skips otherwise).

Every process these tests start runs in its own session; only those processes are signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from local_env import local_env

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TARGET = "tables"  # the collection rule: the tables without the figures, which are not tested here
TIMEOUT = 600

# The sgd cells' untuned arm runs at lr 100: with the identity activation it diverges (epoch 2).
TINY = {
    "data_seed": 0,
    "splits": {"val_fraction": 0.25, "test_fraction": 0.25},
    "datasets": {
        "moons": {"params": {"n_samples": 400, "noise": 0.2}},
        "circles": {"params": {"n_samples": 400, "noise": 0.1, "factor": 0.5}},
    },
    "regularizers": {"none": {}},
    "optimizers": {
        "sgd": {"lr_grid": {"low": 1.0e-2, "high": 1.0, "points": 3}, "default_lr": 100.0},
        "adam": {"lr_grid": {"low": 1.0e-3, "high": 1.0e-1, "points": 3}},
    },
    "training": {
        "hidden": [16],
        "epochs": 20,
        "batch_size": 32,
        "seeds": [0, 1],
        "target_accuracy": 0.8,
    },
    "studies": {
        "tiny": {
            "datasets": ["moons", "circles"],
            "activations": ["relu", "identity"],
            "regularizers": ["none"],
            "optimizers": ["sgd", "adam"],
        }
    },
}

TABLES = {
    "runs": "results/tables/runs.parquet",
    "summary": "results/tables/summary.parquet",
    "rankings": "results/tables/rankings.csv",
    "histories": "results/tables/histories.parquet",
}
#: Columns that measure time (or name the Slurm job): the only ones allowed to differ.
TIMING = re.compile(r"seconds|slurm_job_id")

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def study_config() -> dict:
    path = os.environ.get("NNGRID_RELIABILITY_CONFIG")
    return yaml.safe_load((ROOT / path).read_text()) if path else TINY


def workflow_copy(dest: Path, cfg: dict) -> Path:
    """A runnable copy of the workflow in ``dest`` whose default config is ``cfg`` alone."""
    dest.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    shutil.copytree(ROOT / "workflow", dest / "workflow")
    shutil.copytree(ROOT / "profiles", dest / "profiles")
    (dest / "config").mkdir()
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def snakemake(wf: Path, *args: str, cores: int = 2) -> subprocess.CompletedProcess:
    """Run snakemake in ``wf`` to the end; stdout and stderr together in ``.stdout``."""
    return subprocess.run(
        [*SNAKEMAKE, "--cores", str(cores), *args],
        cwd=wf,
        env=local_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT,
        start_new_session=True,
    )


def start_snakemake(wf: Path, *args: str, cores: int = 2) -> subprocess.Popen:
    """Start snakemake in ``wf`` in its own session (its output goes to ``wf/run.log``)."""
    return subprocess.Popen(
        [*SNAKEMAKE, "--cores", str(cores), *args],
        cwd=wf,
        env=local_env(),
        stdout=open(wf / "run.log", "w"),  # noqa: SIM115 (closed with the process)
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"snakemake ended (status {proc.returncode}) before {what}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> list[int]:
    """Every live process whose parent chain leads to ``pid``."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _ppid(int(entry.name))
            if parent is not None:
                parents[int(entry.name)] = parent
    out, frontier = [], {pid}
    while frontier:
        children = {p for p, parent in parents.items() if parent in frontier}
        out += sorted(children)
        frontier = children
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def training_processes(proc: subprocess.Popen) -> list[int]:
    """The Python processes of the training jobs that ``proc`` started (not their shells)."""
    return [
        p
        for p in descendants(proc.pid)
        if "nngrid.study.protocol" in cmdline(p)
        and not cmdline(p).startswith(("/bin/", "/usr/bin/"))
    ]


def session_gone(sid: int) -> bool:
    """True when no process of session ``sid`` is left (orphans included)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    return False
            except OSError:
                pass
    return True


def untimed(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in df.columns if TIMING.search(c)])


def read_tables(wf: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for name, rel in TABLES.items():
        path = wf / rel
        out[name] = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    return out


def assert_same_tables(wf: Path, baseline: dict[str, pd.DataFrame]) -> None:
    """Every table of ``wf`` equals the baseline's exactly, apart from the timing columns."""
    tables = read_tables(wf)
    for name, expected in baseline.items():
        pd.testing.assert_frame_equal(untimed(tables[name]), untimed(expected), check_exact=True)


def no_temporary_files(wf: Path) -> list[Path]:
    """Leftover temporary files of the atomic writers (``.<name>.<random>.tmp``) under results/."""
    return sorted((wf / "results").rglob(".*.tmp")) if (wf / "results").exists() else []


def assert_grid_rows(runs: pd.DataFrame, cfg: dict) -> None:
    """Every cell of ``cfg`` is in ``runs`` with 2 arms x seeds reruns and, per learning rate of
    its (possibly extended) grid, one tuning run per tuning seed. A dataset's ``data_seeds``
    count as one dataset per draw, as the workflow expands them."""
    import copy

    from nngrid.study.seeds import expand_draws

    cfg = expand_draws(copy.deepcopy(cfg))
    tuning = {"seeds": 3, "extend": 2, **cfg.get("tuning", {})}
    keys = ["study", "dataset", "activation", "regularizer", "optimizer"]
    cells = 0
    for study_name, study in cfg["studies"].items():
        training = {**cfg["training"], **study.get("training", {})}
        seeds = len(training["seeds"])
        tune_seeds = min(seeds, tuning["seeds"])
        for opt in study["optimizers"]:
            points = cfg["optimizers"][opt]["lr_grid"]["points"]
            sub = runs[(runs["study"] == study_name) & (runs["optimizer"] == opt)]
            for _, cell in sub.groupby(keys):
                cells += 1
                assert (cell["arm"] != "tune").sum() == 2 * seeds
                tune = cell[cell["arm"] == "tune"]
                n_lr = tune["lr"].nunique()
                assert points <= n_lr <= points + 2 * tuning["extend"]
                assert len(tune) == n_lr * tune_seeds
    expected = sum(
        len(s["datasets"]) * len(s["activations"]) * len(s["regularizers"]) * len(s["optimizers"])
        for s in cfg["studies"].values()
        if "architectures" not in s  # the architectures arm has no rows in the grid's tables
    )
    assert cells == expected == runs.groupby(keys).ngroups


@contextlib.contextmanager
def mounted(args: list[str], where: Path):
    """``mount args... where`` for the block (skip with mount's own reason if refused)."""
    proc = subprocess.run(["mount", *args, str(where)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here ({' '.join(args)}): {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@contextlib.contextmanager
def read_only(folder: Path):
    """``folder`` made read-only by a read-only bind mount onto itself (chmod does not stop
    root, which runs these tests)."""
    with mounted(["--bind", str(folder)], folder):
        proc = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {proc.stderr.strip()}")
        yield folder


# ------------------------------------------------------------------------------------------
# The baseline: one uninterrupted run, shared
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability")


@pytest.fixture(scope="session")
def baseline(base_dir) -> Path:
    wf = workflow_copy(base_dir / "baseline", study_config())
    proc = snakemake(wf, TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return wf


@pytest.fixture(scope="session")
def baseline_tables(baseline) -> dict[str, pd.DataFrame]:
    return read_tables(baseline)


@pytest.fixture
def fresh(base_dir, request) -> Path:
    """A copy of the workflow with nothing built yet."""
    return workflow_copy(base_dir / f"fresh-{request.node.name}", study_config())


@pytest.fixture
def built(baseline, base_dir, request) -> Path:
    """A copy of the baseline after its run (results and Snakemake's metadata included)."""
    dest = base_dir / f"built-{request.node.name}"
    shutil.copytree(baseline, dest, symlinks=True)
    return dest


def test_the_baseline_is_complete_and_a_rerun_does_nothing(baseline, baseline_tables):
    runs = baseline_tables["runs"]
    assert_grid_rows(runs, study_config())
    assert runs["test_accuracy"].between(0, 1).all()
    proc = snakemake(baseline, TARGET, "--dry-run")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout, proc.stdout[-3000:]
    assert not no_temporary_files(baseline)


def test_the_default_profile_reruns_incomplete_jobs():
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert profile.get("rerun-incomplete") is True


# ------------------------------------------------------------------------------------------
# (g) Determinism: --cores 1 gives the tables of --cores 2
# ------------------------------------------------------------------------------------------


def test_one_core_gives_the_tables_of_two_cores(fresh, baseline_tables):
    proc = snakemake(fresh, TARGET, cores=1)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert_same_tables(fresh, baseline_tables)


def test_the_quick_study_gives_the_same_tables_on_one_and_two_cores(base_dir):
    """config/quick.yaml itself (the Slurm comparison is in tests/test_slurm.py)."""
    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    tables = []
    for cores in (2, 1):
        wf = workflow_copy(base_dir / f"quick-{cores}", cfg)
        proc = snakemake(wf, TARGET, cores=cores)
        assert proc.returncode == 0, proc.stdout[-4000:]
        tables.append(wf)
    expected = read_tables(tables[0])
    assert_grid_rows(expected["runs"], cfg)
    assert_same_tables(tables[1], expected)


def test_a_busy_machine_gives_the_same_claims_and_tables_as_a_quiet_one(base_dir):
    """config/quick.yaml twice, the second time with both cores kept busy by two spinning
    processes: claims.csv byte for byte the same, every table the same apart from the timing
    columns (no verdict, ranking or column a verdict reads may depend on the machine's load)."""
    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    claims = "results/tables/claims.csv"
    runs = []
    for busy in (False, True):
        wf = workflow_copy(base_dir / f"load-{int(busy)}", cfg)
        spinners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range(2 if busy else 0)
        ]
        try:
            proc = snakemake(wf, claims, TARGET)
        finally:
            for p in spinners:
                p.kill()
                p.wait()
        assert proc.returncode == 0, proc.stdout[-4000:]
        runs.append(wf)
    quiet, loaded = runs
    assert (quiet / claims).read_bytes() == (loaded / claims).read_bytes()
    assert_same_tables(loaded, read_tables(quiet))
    seconds = [read_tables(wf)["runs"]["seconds"].sum() for wf in runs]
    assert seconds[0] != seconds[1]  # the timing columns did move: the comparison means something


# ------------------------------------------------------------------------------------------
# (a) kill -9 of a training job mid-run
# ------------------------------------------------------------------------------------------


def test_a_training_job_killed_mid_run_is_redone(fresh, baseline_tables):
    proc = start_snakemake(fresh, TARGET)
    try:
        # a training job that has started training: its own log shows a cell (the job's
        # stderr goes through `tee` to logs/train/<study>/<dataset>/<optimizer>.log)
        def started():
            for pid in training_processes(proc):
                with contextlib.suppress(OSError, IndexError):
                    output = cmdline(pid).split("--output ")[1].split()[0]
                    job = output.removeprefix("results/runs/").removesuffix(".json")
                    log = fresh / "logs" / "train" / f"{job}.log"
                    if log.stat().st_size > 0:  # past its imports, into its cells
                        return pid, output
            return None

        def killed():
            found = started()
            if found is None:
                return None
            try:
                os.kill(found[0], signal.SIGKILL)
            except ProcessLookupError:  # it finished in the meantime: take the next one
                return None
            return found[1]

        output = wait_for(killed, "a training job to kill mid-run", proc)
        status = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = (fresh / "run.log").read_text()
    assert status != 0, log[-3000:]
    assert "Error in rule train" in log
    assert not (fresh / output).exists()  # the killed job left nothing at its output path
    rerun = snakemake(fresh, TARGET)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert_same_tables(fresh, baseline_tables)


# ------------------------------------------------------------------------------------------
# (b) the whole snakemake run interrupted: SIGINT, and SIGKILL of snakemake itself
# ------------------------------------------------------------------------------------------


def _interrupt_mid_run(wf: Path, sig: int) -> tuple[subprocess.Popen, int]:
    proc = start_snakemake(wf, TARGET)
    try:
        wait_for(lambda: training_processes(proc), "a training job", proc)
        os.kill(proc.pid, sig)
        status = proc.wait(timeout=TIMEOUT)
        # jobs the signal did not reach finish on their own; wait for the whole session to end
        wait_for(lambda: session_gone(proc.pid), "the interrupted run's jobs to end")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc, status


def test_a_run_interrupted_by_sigint_is_completed_by_a_rerun(fresh, baseline_tables):
    _, status = _interrupt_mid_run(fresh, signal.SIGINT)
    assert status != 0
    assert not (fresh / TABLES["runs"]).exists()
    rerun = snakemake(fresh, TARGET)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert_same_tables(fresh, baseline_tables)
    assert not no_temporary_files(fresh)


def test_a_run_whose_snakemake_is_killed_is_completed_after_unlock(fresh, baseline_tables):
    _, status = _interrupt_mid_run(fresh, signal.SIGKILL)
    assert status == -signal.SIGKILL
    # Snakemake's lock outlives a SIGKILL; the rerun says so and names the fix ...
    locked = snakemake(fresh, TARGET)
    if locked.returncode != 0:
        assert "--unlock" in locked.stdout, locked.stdout[-3000:]
        assert snakemake(fresh, "--unlock").returncode == 0
    # ... and after `snakemake --unlock` the rerun redoes the jobs left incomplete
    rerun = snakemake(fresh, TARGET)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    assert_same_tables(fresh, baseline_tables)
    assert not no_temporary_files(fresh)


# ------------------------------------------------------------------------------------------
# (c) a truncated result or dataset is never taken for a result
# ------------------------------------------------------------------------------------------


def truncate(path: Path) -> None:
    """Cut ``path`` to half its size; its modification time becomes now (newer than the rest)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_result_json_is_named_and_rebuilt(built, baseline_tables):
    """A truncated result names no spec digest: the workflow removes it when it loads, saying
    so in one line, and remakes it and the tables (nngrid.study.integrity)."""
    result = sorted((built / "results" / "runs").rglob("*.json"))[0]
    rel = str(result.relative_to(built))
    truncate(result)
    proc = snakemake(built, TARGET)
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"nngrid: {rel} ")]
    assert lines and "truncated" in lines[0] and "remade" in lines[0], proc.stdout[-3000:]
    assert "rule train:" in proc.stdout
    assert_same_tables(built, baseline_tables)
    # the collection itself refuses a truncated result by name (given by hand)
    truncate(result)
    proc = subprocess.run(
        [sys.executable, "-m", "nngrid.study.tables", "--runs", rel, "--out-dir", "elsewhere"],
        cwd=built, env=local_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert proc.returncode == 2 and rel in proc.stderr and "not valid JSON" in proc.stderr
    assert "delete it and rerun its rule" in proc.stderr


def test_a_truncated_dataset_is_named_and_rebuilt(built, baseline_tables):
    data = built / "results" / "data" / "moons.npz"
    truncate(data)
    # newer than the results: Snakemake reruns the training jobs, which refuse it by name
    proc = snakemake(built, TARGET)
    assert proc.returncode != 0, proc.stdout[-3000:]
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("nngrid: error:")]
    assert errors and "results/data/moons.npz" in errors[0], proc.stdout[-3000:]
    assert "truncated" in errors[0] and "recreate it" in errors[0]
    # the fix the message names: delete it and make it again. Snakemake deleted the failed
    # job's result, and with the default profile's rerun-triggers (no mtime) a missing
    # intermediate file alone does not rerun anything: rebuilding the tables remakes both
    data.unlink()
    proc = snakemake(built, TARGET, "--forcerun", TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "rule dataset:" in proc.stdout
    assert_same_tables(built, baseline_tables)


def test_a_result_edited_by_hand_is_refused_by_its_checksum(built, baseline_tables):
    """A result still valid JSON but changed after its job (one test_accuracy set to 0.999):
    the collection refuses it by its sha256, naming the file and the fix, which works."""
    result = sorted((built / "results" / "runs").rglob("*.json"))[0]
    rel = str(result.relative_to(built))
    doc = json.loads(result.read_text())
    doc["rows"][0]["test_accuracy"] = 0.999
    result.write_text(json.dumps(doc, indent=1))
    proc = snakemake(built, TARGET)
    assert proc.returncode != 0, proc.stdout[-3000:]
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("nngrid: error:")]
    assert errors and rel in errors[0], proc.stdout[-3000:]
    assert "does not match its sha256 checksum" in errors[0]
    assert f"snakemake --forcerun {rel}" in errors[0]
    proc = snakemake(built, TARGET, "--forcerun", rel)  # the fix the message names
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "rule train:" in proc.stdout
    assert_same_tables(built, baseline_tables)


def test_a_deleted_result_is_named_and_remade_by_a_plain_rerun(built, baseline_tables):
    """A result deleted while the tables are up to date: asking for the tables alone says in
    one line which result is missing and what remakes it; the default target (rule all asks
    for every result) remakes it and then the tables (``--until tables``: no figures)."""
    result = sorted((built / "results" / "runs").rglob("*.json"))[-1]
    rel = str(result.relative_to(built))
    result.unlink()
    proc = snakemake(built, TARGET)
    assert proc.returncode == 0, proc.stdout[-3000:]
    said = [ln for ln in proc.stdout.splitlines() if ln.startswith("nngrid: 1 job result(s)")]
    assert len(said) == 1 and rel in said[0] and "`snakemake`" in said[0], proc.stdout[-3000:]
    assert not result.exists()
    proc = snakemake(built, "--until", TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "rule train:" in proc.stdout and "rule tables:" in proc.stdout
    assert result.exists()
    assert_same_tables(built, baseline_tables)
    assert "job result(s) missing" not in snakemake(built, TARGET, "--dry-run").stdout


PLUGIN = """
import numpy as np
from nngrid.core.activations import ACTIVATIONS, Activation

@ACTIVATIONS.register("softsign_plugin")
class Softsign(Activation):
    def forward(self, z, out=None):
        return np.divide(z, 1 + np.abs(z), out=out)
    def derivative(self, z):
        return 1 / (1 + np.abs(z)) ** 2
"""


def test_an_edited_plugin_reruns_the_training_jobs(built, baseline_tables, tmp_path):
    """The plugins' sources enter the jobs' parameters like the core's hash: loading a plugin,
    and then editing it, reruns the training (a plugin may change any component)."""
    (tmp_path / "wf_plugin.py").write_text(PLUGIN)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = local_env(PYTHONPATH=path, NNGRID_PLUGINS="wf_plugin")

    def run(*args):
        return subprocess.run(
            [*SNAKEMAKE, "--cores", "2", TARGET, *args], cwd=built, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT,
        )  # fmt: skip

    proc = run()
    assert proc.returncode == 0 and "rule train:" in proc.stdout, proc.stdout[-3000:]
    assert_same_tables(built, baseline_tables)  # the plugin is loaded, not used: same numbers
    assert "Nothing to be done" in run("--dry-run").stdout
    (tmp_path / "wf_plugin.py").write_text(PLUGIN + "# a fix\n")
    proc = run("--dry-run")
    assert "rule train:" in proc.stdout and "params" in proc.stdout.lower(), proc.stdout[-3000:]


def test_a_leftover_temporary_file_is_ignored(built, baseline_tables):
    """What a job killed mid-write leaves (a temporary name) is never read as a result."""
    result = sorted((built / "results" / "runs").rglob("*.json"))[0]
    leftover = result.parent / f".{result.name}.abc123.tmp"
    leftover.write_text('{"rows": [')
    result.unlink()
    # a missing intermediate file alone does not make Snakemake rerun anything (the tables are
    # up to date); rebuilding the tables rebuilds it
    proc = snakemake(built, TARGET, "--forcerun", TARGET)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "rule train:" in proc.stdout  # the missing result was made again, not replaced
    assert_same_tables(built, baseline_tables)
    assert leftover.read_text() == '{"rows": ['  # neither read nor mistaken for the output


# ------------------------------------------------------------------------------------------
# (d) a read-only or full results folder
# ------------------------------------------------------------------------------------------


def test_a_read_only_results_folder_gives_a_clear_error(built):
    runs = built / "results" / "runs"
    victim = sorted(runs.rglob("*.json"))[0]
    rel = str(victim.relative_to(built))
    victim.unlink()
    with read_only(runs):
        proc = snakemake(built, rel)  # rebuild the missing result into the read-only folder
    assert proc.returncode != 0
    # Snakemake itself meets the folder first (it clears the job's output before starting it):
    # `OSError: [Errno 30] Read-only file system: '<the output>'`; had the job started, the
    # atomic writer would say `nngrid: error: cannot write <the output>: Read-only file system`
    lines = [ln for ln in proc.stdout.splitlines() if "Read-only file system" in ln]
    assert lines and rel in lines[0], proc.stdout[-3000:]
    assert not victim.exists() and not no_temporary_files(built)


def test_a_full_disk_gives_a_clear_error_and_no_partial_file(built):
    runs = built / "results" / "runs"
    shutil.rmtree(runs)
    runs.mkdir()
    with mounted(["-t", "tmpfs", "-o", "size=16k", "tmpfs"], runs):
        proc = snakemake(built, TARGET, "--forcerun", TARGET)  # remake the missing results
        left = sorted(p.relative_to(built) for p in runs.rglob("*") if p.is_file())
    assert proc.returncode != 0
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("nngrid: error:")]
    assert errors, proc.stdout[-3000:]
    assert "No space left on device" in errors[0] and "disk full" in errors[0]
    assert re.search(r"cannot write results/runs/\S+\.json", errors[0]), errors[0]
    assert left == []  # neither a partial result nor a temporary file stayed behind


# ------------------------------------------------------------------------------------------
# (e) divergence: completes, recorded with its epoch in every table
# ------------------------------------------------------------------------------------------


def test_a_diverging_cell_completes_and_is_recorded_with_its_epoch(baseline_tables):
    runs, summary = baseline_tables["runs"], baseline_tables["summary"]
    histories, rankings = baseline_tables["histories"], baseline_tables["rankings"]
    diverged = runs[runs["diverged"]]
    if diverged.empty:
        pytest.skip("this study has no diverging cell (TINY has one: identity x sgd at lr 100)")
    if study_config() is TINY:
        cell = runs[
            (runs["activation"] == "identity") & (runs["optimizer"] == "sgd")
            & (runs["arm"] == "untuned")
        ]  # fmt: skip
        assert len(cell) == 2 * 2 and cell["diverged"].all()
    # runs: the flag and the epoch, within the run's epochs; the run still has its metrics
    assert diverged["diverged_epoch"].notna().all()
    assert (diverged["diverged_epoch"] >= 1).all()
    assert (diverged["diverged_epoch"] <= diverged["max_epochs"]).all()
    assert (diverged["epochs"] == diverged["diverged_epoch"]).all()
    assert runs.loc[~runs["diverged"], "diverged_epoch"].isna().all()
    # histories: a diverged run's history stops at its diverging epoch
    last = histories.groupby("run_id")["epoch"].max()
    assert (last.loc[diverged["run_id"]].to_numpy() == diverged["diverged_epoch"].to_numpy()).all()
    assert histories.loc[histories["run_id"].isin(diverged["run_id"]), "diverged"].all()
    # summary: per cell and arm, the count of diverged runs and the earliest diverging epoch
    keys = ["study", "dataset", "activation", "regularizer", "optimizer", "arm"]
    finals = runs[runs["arm"].isin(["tuned", "untuned"])]
    counts = finals.groupby(keys)["diverged"].sum()
    merged = summary.set_index(keys)
    assert (merged.loc[counts.index, "diverged"].to_numpy() == counts.to_numpy()).all()
    assert "diverged_epoch_min" in summary.columns, (
        "summary lacks the epoch of divergence (diverged_epoch_min)"
    )
    first = finals.groupby(keys)["diverged_epoch"].min()
    got = merged.loc[first.index, "diverged_epoch_min"]
    assert (got.isna().to_numpy() == first.isna().to_numpy()).all()
    assert (got.dropna().to_numpy() == first.dropna().to_numpy()).all()
    # rankings: the diverged count of every level
    tuned_div = runs[runs["arm"] == "tuned"].groupby(["study", "dataset", "optimizer"])["diverged"]
    from nngrid.study.profiles import METRIC  # the profiles' rows count tuning runs

    accuracy = rankings[rankings["metric"] != METRIC]
    opt = accuracy[accuracy["factor"] == "optimizer"].set_index(["study", "dataset", "level"])
    sums = tuned_div.sum()
    assert (opt.loc[sums.index, "diverged"].to_numpy() == sums.to_numpy()).all()


# ------------------------------------------------------------------------------------------
# (f) untrusted input: pickles refused, config values never evaluated, paths stay inside
# ------------------------------------------------------------------------------------------


class Payload:
    """Unpickling this creates the file ``marker`` (it must never happen)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_dataset_in_the_workflow_is_refused_and_never_run(built):
    data = built / "results" / "data" / "moons.npz"
    marker = built / "marker"
    with np.load(data) as z:
        arrays = dict(z)
    arrays["y_train"] = np.array([Payload(marker)] * len(arrays["y_train"]), dtype=object)
    np.savez(data, allow_pickle=True, **arrays)  # planted, newer than every result
    proc = snakemake(built, TARGET)
    assert proc.returncode != 0
    errors = [ln for ln in proc.stdout.splitlines() if ln.startswith("nngrid: error:")]
    assert errors and "results/data/moons.npz" in errors[0], proc.stdout[-3000:]
    assert "pickle" in errors[0] and "refused" in errors[0]
    assert not marker.exists()


EVIL = "__import__('os').system('touch marker')"


@pytest.mark.parametrize(
    "where",
    [
        ("studies", "tiny", "activations", 0),
        ("training", "init"),
    ],
)
def test_config_values_are_never_evaluated(where, tmp_path):
    cfg = json.loads(json.dumps(TINY))
    node = cfg
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = EVIL
    wf = workflow_copy(tmp_path / "wf", cfg)
    proc = snakemake(wf, TARGET, "--dry-run")
    assert proc.returncode != 0
    assert any(
        ln.startswith("config error: ") and "__import__" in ln for ln in proc.stdout.splitlines()
    )
    assert not (wf / "marker").exists() and not (tmp_path / "marker").exists()


def test_yaml_python_tags_in_the_config_are_refused(tmp_path):
    wf = workflow_copy(tmp_path / "wf", TINY)
    config = wf / "config" / "config.yaml"
    text = config.read_text().replace(
        "data_seed: 0", 'data_seed: !!python/object/apply:os.system ["touch marker"]'
    )
    config.write_text(text)
    proc = snakemake(wf, TARGET, "--dry-run")
    assert proc.returncode != 0
    assert "not valid JSON or YAML" in proc.stdout
    assert not (wf / "marker").exists()


def test_every_output_path_lies_inside_the_working_directory(baseline):
    """Paths come from config labels, which the schema limits to ``[a-z][a-z0-9_]*``."""
    proc = snakemake(baseline, TARGET, "--summary", "--forceall")
    assert proc.returncode == 0, proc.stdout[-3000:]
    paths = [ln.split("\t")[0] for ln in proc.stdout.splitlines()[1:] if "\t" in ln]
    assert paths and all(
        (baseline / p).resolve().is_relative_to(baseline.resolve()) for p in paths
    ), paths
