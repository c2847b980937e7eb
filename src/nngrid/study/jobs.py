"""The workflow's jobs, from a checked config: job and cell tables, the spec of every job, the
paths it writes, and the hashes of the code each kind of job runs.

Every function takes the config as its first argument (``workflow/rules/common.smk`` passes
Snakemake's ``config``); nothing here reads a global.

The grid: one training job per study x dataset x optimizer; inside it, every regularizer x
activation cell of the study runs the protocol in turn. Smaller jobs (one per regularizer too)
spent ~20% of their training time on process start and file I/O; see docs/BENCHMARKS.md. The
optimizer stays a wildcard so that a changed lr grid reruns only that optimizer's jobs.

The architectures arm (:mod:`nngrid.study.experiments.architectures`): a study that names
``architectures`` (layer lists of the config's ``architectures`` section) trains those networks
instead of the MLP of ``training.hidden``; one job per study x dataset x architecture x
optimizer, each regularizer x activation of the study a cell inside it. Its rows never enter the
grid's tables or rankings (they have an axis the grid has not); they are merged into
:data:`ARCH_RESULT`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

import nngrid
from nngrid.data_files import file_params

JOB_AXES = ["study", "dataset", "optimizer"]
CELL_AXES = ["study", "dataset", "activation", "regularizer", "optimizer"]
ARCH_AXES = ["study", "dataset", "architecture", "optimizer"]

RUN = "results/runs/{study}/{dataset}/{optimizer}.json"
ARCH_RUN = "results/architectures/{study}/{dataset}/{architecture}/{optimizer}.npz"
ARCH_RESULT = "results/tables/architectures.npz"

#: Final outputs of the collection step (rule all asks for these and for the runs).
TABLES = [
    "results/tables/runs.parquet",
    "results/tables/runs.csv",
    "results/tables/summary.parquet",
    "results/tables/summary.csv",
    "results/tables/rankings.csv",
    "results/tables/histories.parquet",
]


# --------------------------------------------------------------------------- tables of jobs


def _grid_studies(cfg: dict) -> dict:
    """The studies of the grid (the architectures arm has jobs of its own)."""
    return {name: s for name, s in cfg["studies"].items() if "architectures" not in s}


def _architecture_studies(cfg: dict) -> dict:
    return {name: s for name, s in cfg["studies"].items() if "architectures" in s}


def job_table(cfg: dict) -> pd.DataFrame:
    """One row per training job of the grid (columns JOB_AXES)."""
    rows = [
        (study, *job)
        for study, s in _grid_studies(cfg).items()
        for job in itertools.product(s["datasets"], s["optimizers"])
    ]
    return pd.DataFrame(rows, columns=JOB_AXES)


def cell_table(cfg: dict) -> pd.DataFrame:
    """One row per dataset x activation x regularizer x optimizer cell of the grid."""
    rows = [
        (study, *cell)
        for study, s in _grid_studies(cfg).items()
        for cell in itertools.product(
            s["datasets"], s["activations"], s["regularizers"], s["optimizers"]
        )
    ]
    return pd.DataFrame(rows, columns=CELL_AXES)


def architecture_jobs(cfg: dict) -> pd.DataFrame:
    """One row per architectures job (columns ARCH_AXES)."""
    rows = [
        (study, *job)
        for study, s in _architecture_studies(cfg).items()
        for job in itertools.product(s["datasets"], s["architectures"], s["optimizers"])
    ]
    return pd.DataFrame(rows, columns=ARCH_AXES)


# --------------------------------------------------------------------------- paths


def run_targets(jobs: pd.DataFrame) -> list[str]:
    """The JSON path of every job of the job table."""
    return [RUN.format(**row) for row in jobs.to_dict("records")]


def architecture_targets(cfg: dict) -> list[str]:
    """The result path of every architectures job."""
    return [ARCH_RUN.format(**row) for row in architecture_jobs(cfg).to_dict("records")]


def data_targets(cfg: dict) -> list[str]:
    """Every dataset file the studies use."""
    used = {d for s in cfg["studies"].values() for d in s["datasets"]}
    return [f"results/data/{d}.npz" for d in cfg["datasets"] if d in used]


def alternatives(names: Iterable[str]) -> str:
    """A regex matching exactly one of ``names`` (so ``relu`` never matches ``leaky_relu``)."""
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


def warn_missing_results(runs: list[str], tables: str | Path) -> list[str]:
    """Name, in one line on stderr, the job results missing while the tables made from them
    exist (deleted by hand, or by Snakemake after their job failed), with the command that
    remakes them; return them. ``rule all`` asks for every result, so a plain ``snakemake``
    remakes them; a run that asks for the tables alone says "Nothing to be done"."""
    if not Path(tables).exists():
        return []
    missing = [p for p in runs if not Path(p).exists()]
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        print(
            f"nngrid: {len(missing)} job result(s) missing while the tables exist ({shown}); "
            "`snakemake` remakes them and the tables (`snakemake --until tables` without "
            "the figures)",
            file=sys.stderr,
        )
    return missing


# --------------------------------------------------------------------------- specs


def canonical(value: Any) -> str:
    """``value`` as JSON with sorted keys: a ``params:`` value that changes only when the data
    does (Snakemake compares params as text, and dict order depends on the config file's order).
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def training_settings(cfg: dict, study: str) -> dict:
    """The study's training settings: the shared block overridden by the study's own."""
    return {**cfg["training"], **cfg["studies"][study].get("training", {})}


def tuning_settings(cfg: dict, study: str) -> dict:
    """The study's tuning (nngrid.study.protocol): the shared block overridden key by key by
    the study's own (a study per tuning protocol)."""
    return {**cfg.get("tuning", {}), **cfg["studies"][study].get("tuning", {})}


def search_spaces(cfg: dict) -> dict[str, dict]:
    """The ``search`` space of every optimizer a ``full``-protocol study tunes, in config order
    (empty without such a study): what the hyperparameter-axis figure draws its axes from."""
    used: set[str] = set()
    for study, spec in cfg["studies"].items():
        if tuning_settings(cfg, study).get("protocol") == "full":
            used.update(spec.get("optimizers", []))
    opts = cfg.get("optimizers", {})
    return {o: dict(s["search"]) for o, s in opts.items() if o in used and (s or {}).get("search")}


def regularizer_specs(cfg: dict, labels: Iterable[str]) -> list[dict]:
    """Label, kind and params of each regularizer named in ``labels``."""
    regs = cfg["regularizers"]
    return [
        {
            "label": label,
            "kind": regs[label].get("kind", label),
            "params": regs[label].get("params", {}),
        }
        for label in labels
    ]


#: The ``tuning`` keys each protocol's jobs read (nngrid.study.protocol.run_job).
TUNING_READS = {
    "lr": ("protocol", "seeds", "extend"),
    "full": ("protocol", "seeds", "budget", "search_seed"),
    "default": ("protocol",),
}


def job_spec(cfg: dict, study: str, dataset: str, optimizer: str) -> dict:
    """The spec ``python -m nngrid.study.protocol`` runs: every hyperparameter of one job."""
    study_cfg = cfg["studies"][study]
    training = training_settings(cfg, study)
    seeds = training.pop("seeds")
    opt = cfg["optimizers"][optimizer]
    # what the job's protocol reads, and only that (a changed lr grid or search seed reruns no
    # job that does not read it): its tuning keys, the lr grid for the lr protocol, the search
    # space for the full protocol
    tuning = tuning_settings(cfg, study)
    protocol = tuning.get("protocol", "lr")
    tuning = {k: v for k, v in tuning.items() if k in TUNING_READS[protocol]}
    reads = {"lr_grid": opt["lr_grid"]} if protocol == "lr" else {}
    if protocol == "full":
        reads["search"] = opt["search"]
    return {
        "axes": {"study": study, "dataset": dataset},
        "activations": list(study_cfg["activations"]),
        "regularizers": regularizer_specs(cfg, study_cfg["regularizers"]),
        "optimizers": [
            {
                "name": optimizer,
                **({"lr_grid": reads.pop("lr_grid")} if "lr_grid" in reads else {}),
                "default_lr": opt.get("default_lr"),
                "params": opt.get("params", {}),
                **reads,
            }
        ],
        "seeds": seeds,
        "tuning": tuning,
        "training": training,
        # the dataset the job must read (checked against results/data/<label>.json)
        "data": dataset_spec(cfg, dataset),
    }


def dataset_spec(cfg: dict, label: str) -> dict:
    """How to build dataset ``label``: kind, seed, split fractions and generator params."""
    spec = cfg["datasets"][label]
    return {
        "kind": spec.get("kind", label),
        "seed": spec.get("data_seed", cfg["data_seed"]),
        "val_fraction": spec.get("val_fraction", cfg["splits"]["val_fraction"]),
        "test_fraction": spec.get("test_fraction", cfg["splits"]["test_fraction"]),
        "params": (file_params(spec) if spec.get("kind") == "file" else spec.get("params", {})),
    }


def architecture_spec(
    cfg: dict, study: str, dataset: str, architecture: str, optimizer: str
) -> dict:
    """The spec ``python -m nngrid.study.experiments.architectures`` runs for one job."""
    s = cfg["studies"][study]
    arch = cfg["architectures"][architecture]
    training = training_settings(cfg, study)
    opt = cfg["optimizers"][optimizer]
    acts = [a for a in s["activations"] if a in arch.get("activations", s["activations"])]
    options = dict(s.get("architecture_options", {}))
    lr_grid = arch.get("lr_grid", options.pop("lr_grid", opt["lr_grid"]))
    options.pop("lr_grid", None)
    tuning = options.pop("tuning", cfg.get("tuning", {}))
    # an architecture's own budget (epochs, seeds) replaces the study's
    training = {**training, **{k: arch[k] for k in ("epochs", "seeds") if k in arch}}
    return {
        "axes": {
            "study": study,
            "dataset": dataset,
            "architecture": architecture,
            "optimizer": optimizer,
        },
        "shuffled": bool(
            cfg["datasets"][dataset].get("params", {}).get("shuffle_positions", False)
        ),
        "layers": arch["layers"],
        # a file's sequences (only when declared: other specs stay as they were)
        **(
            {"shape": cfg["datasets"][dataset]["shape"]}
            if cfg["datasets"][dataset].get("shape")
            else {}
        ),
        "clip_norm": arch.get("clip_norm"),
        "activations": acts or list(arch["activations"]),
        "regularizers": regularizer_specs(cfg, s["regularizers"]),
        "optimizer": {"name": optimizer, "lr_grid": lr_grid, "params": opt.get("params", {})},
        "seeds": training["seeds"],
        "tuning": dict(tuning),
        "training": {
            "epochs": training["epochs"],
            "batch_size": training.get("batch_size", 100),
            "dtype": training.get("dtype", "float32"),
            **options,
        },
        "data": dataset_spec(cfg, dataset),
    }


# --------------------------------------------------------------------------- code hashes
# A job reruns when the code it runs changes: each computing rule's params carry the hash of
# the package modules that can change its result.

#: Modules at the top of src/nngrid that never influence a training result.
NOT_CORE = {"cli.py", "__main__.py"}


def _root() -> Path:
    return Path(nngrid.__file__).parent


def source_hash(files: Iterable[Path]) -> str:
    """sha256 over the (relative name, bytes) of ``files``, first 16 hex digits.

    The sources of the plugin modules in NNGRID_PLUGINS enter every such hash (a plugin can
    register or change anything), so editing a plugin reruns the jobs; without plugins the
    hash is that of ``files`` alone.
    """
    from nngrid.plugins import load_plugins, sources_digest

    root = _root()
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(b"\0".join([str(path.relative_to(root)).encode(), path.read_bytes(), b""]))
    load_plugins()
    plugins = sources_digest()
    if plugins:
        digest.update(b"\0".join([b"plugins", plugins.encode()]))
    return digest.hexdigest()[:16]


def core_files() -> list[Path]:
    """The modules on the training path (the training jobs' hash): the core, the top-level
    modules but the command line, and the training job (study/protocol.py, with the search
    spaces of its ``full`` protocol, study/search.py)."""
    top = [p for p in _root().glob("*.py") if p.name not in NOT_CORE]
    study = _root() / "study"
    return [*(_root() / "core").glob("*.py"), *top, study / "protocol.py", study / "search.py"]


def data_files() -> list[Path]:
    """The modules that build a dataset (the dataset jobs' hash)."""
    names = ("datasets.py", "data_files.py", "io.py", "core/registry.py", "core/hyper.py")
    return [_root() / name for name in (*names, "errors.py")]


def figure_files() -> list[Path]:
    """The modules that draw the figures and write their captions (the figure jobs' hash)."""
    study = _root() / "study"
    return [*(study / "figures").glob("*.py"), *(study / "report").glob("*.py")]


# --------------------------------------------------------------------------- expected results


def spec_sha256_of(text: str) -> str:
    """The spec digest (nngrid.study.integrity.spec_digest) of a spec's canonical text."""
    from nngrid.study.integrity import spec_digest

    return spec_digest(json.loads(text))


def expected_specs(pattern: str, jobs: pd.DataFrame, spec: Any) -> dict[str, str]:
    """``{path: spec text}`` of every job of ``jobs`` (``pattern`` formatted with a row gives
    the path, ``spec(row)`` the spec): what each spec file and result must stand for."""
    return {pattern.format(**row): canonical(spec(row)) for row in jobs.to_dict("records")}
