"""Estimates of what a job costs: peak memory and minutes of training, from the config alone.

The config check refuses a job whose estimate cannot run (:func:`nngrid.study.config.check_costs`);
the workflow gives each job a wall-time limit for cluster executors (:func:`train_runtime`,
:func:`architecture_runtime`). Rough upper estimates, measured on this machine
(docs/BENCHMARKS.md).
"""

from __future__ import annotations

import math
import os

from nngrid.data_files import entry_size
from nngrid.study.integrity import SECONDS_PER_REPLICA_EPOCH_EXAMPLE
from nngrid.study.jobs import architecture_spec, dataset_spec, job_spec

# CPU seconds per replica, epoch and training example (SECONDS_PER_REPLICA_EPOCH_EXAMPLE) and
# the longest job accepted (MAX_JOB_MINUTES) live in nngrid.study.integrity: `nngrid train`
# refuses its --epochs by the same estimate.
#: Dataset sizes of the kinds without an `n_samples` parameter.
SHIPPED_SIZES = {"digits": 1797, "mnist1d": 4000}
#: Features and classes of the dataset kinds that fix them; the others read `n_features` and
#: `n_classes` from their params (defaults 2 features, 10 classes: an upper bound).
SHIPPED_SHAPES = {"digits": (64, 10), "mnist1d": (40, 10)}


def machine_memory() -> int:
    """Physical memory of this machine in bytes (the limit of one job's estimate)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _dataset_parameters(kind: str) -> dict:
    """The generator defaults of dataset kind ``kind`` (plugins named in NNGRID_PLUGINS too)."""
    from nngrid.plugins import load_plugins, registries

    load_plugins()
    return registries()["datasets"].parameters(kind)


def _dataset_class(kind: str):
    """The registered class of dataset kind ``kind`` (plugins named in NNGRID_PLUGINS too)."""
    from nngrid.plugins import load_plugins, registries

    load_plugins()
    return registries()["datasets"].get(kind)


def job_cost(cfg: dict, study: str, dataset: str, optimizer: str) -> tuple[int, float, dict]:
    """Estimated peak memory (bytes) and work (minutes, as train_runtime counts) of one job,
    and the factors that drive them (config key -> (value, size relative to a typical study)).

    Memory: the dataset (kept, converted and standardised: 3 float64 copies) plus the largest
    replica stack (max(lr_grid.points x tuning seeds, 2 x seeds) replicas) x (parameters,
    gradients and up to 4 optimizer/work copies of them + 4 work arrays per layer for one batch
    + 2 for a forward over the whole dataset). A rough upper estimate: what it refuses cannot
    run.
    """
    spec = job_spec(cfg, study, dataset, optimizer)
    data = dataset_spec(cfg, dataset)
    kind = data["kind"]
    params = {**_dataset_parameters(kind), **data["params"]}
    size = (  # a user's file, or the fixed tables (those SHIPPED_SIZES lacks)
        entry_size(cfg["datasets"][dataset])
        if kind == "file"
        else (None if kind in SHIPPED_SIZES else getattr(_dataset_class(kind), "SIZE", None))
    )
    n = int(params.get("n_samples", size[0] if size else SHIPPED_SIZES.get(kind, 1000)))
    d, c = (
        size[1:]
        if size
        else SHIPPED_SHAPES.get(kind, (params.get("n_features", 2), params.get("n_classes", 10)))
    )
    training = spec["training"]
    itemsize = 8 if training.get("dtype") == "float64" else 4
    widths = [int(d), *training["hidden"], int(c)]
    n_params = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
    protocol = spec["tuning"].get("protocol", "lr")
    if protocol == "lr":
        grid = spec["optimizers"][0]["lr_grid"]
        points = grid["points"] if isinstance(grid, dict) else len(grid)
        extend = spec["tuning"].get("extend", 2)  # points tried past an edge, at most on both
    else:  # the search's trials (one stack), or no tuning at all
        points = spec["tuning"].get("budget", 8) if protocol == "full" else 0
        extend = 0
    tune_seeds = min(len(spec["seeds"]), spec["tuning"].get("seeds", 3))
    stack = max(points * tune_seeds, 2 * len(spec["seeds"]))
    n_train = max(1, n * (1 - data["val_fraction"] - data["test_fraction"]))
    batch = min(training.get("batch_size") or n_train, n_train)
    units = sum(widths[1:])
    memory = 3 * n * (d + 1) * 8 + stack * itemsize * (
        6 * n_params + 4 * batch * units + 2 * n * max(widths[1:])
    )
    cells = len(spec["activations"]) * len(spec["regularizers"])
    replicas = cells * ((points + 2 * extend) * tune_seeds + 2 * len(spec["seeds"]))
    width = max(1.0, max(training["hidden"]) / 64) ** 2
    seconds = replicas * training["epochs"] * n_train * width
    minutes = 4 * seconds * SECONDS_PER_REPLICA_EPOCH_EXAMPLE / 60
    factors = {
        "training.hidden": (training["hidden"], max(training["hidden"]) / 64),
        ("tuning.budget" if protocol == "full" else f"optimizers.{optimizer}.lr_grid.points"): (
            points,
            points / 20,
        ),
        "training.seeds": (spec["seeds"], len(spec["seeds"]) / 10),
        (  # a file's rows are its size
            f"datasets.{dataset}.path (rows)"
            if kind == "file"
            else f"datasets.{dataset}.params.n_samples"
        ): (n, n / 10_000),
        "training.epochs": (training["epochs"], training["epochs"] / 1000),
        "training.batch_size": (training.get("batch_size"), batch / 1000),
    }
    return memory, minutes, factors


def train_runtime(cfg: dict, study: str, dataset: str, optimizer: str) -> int:
    """Wall-time limit in minutes of one training job (for cluster executors).

    The measured cost per replica-epoch-example times the job's replicas, epochs and training
    examples, times a safety factor of 4 (job_cost); at least 10 minutes.
    """
    _, minutes, _ = job_cost(cfg, study, dataset, optimizer)
    return max(10, math.ceil(minutes))


def architecture_runtime(
    cfg: dict, study: str, dataset: str, architecture: str, optimizer: str
) -> int:
    """Wall-time limit in minutes of one architectures job (cluster executors): a replica-epoch
    on 4,000 MNIST-1D points costs at most ~1.5 CPU-seconds (measured for the pooled CNN, the
    dearest of the config's networks, in stacks of 8: 0.36 s per 1,000 points; the mnist1d CNN
    0.17, the LSTM 0.24, the GRU 0.12, the RNN 0.08, the MLP 0.03), times the job's replicas and
    epochs, times a safety factor of 4; at least 10 minutes."""
    spec = architecture_spec(cfg, study, dataset, architecture, optimizer)
    grid = spec["optimizer"]["lr_grid"]
    points = grid["points"] + 2 * spec["tuning"].get("extend", 2)
    seeds = len(spec["seeds"])
    tune_seeds = min(seeds, spec["tuning"].get("seeds", 3))
    cells = len(spec["activations"]) * len(spec["regularizers"])
    n = spec["training"].get("n_train", 4000)
    replica_epochs = cells * (points * tune_seeds + seeds) * spec["training"]["epochs"]
    seconds = 1.5 * replica_epochs * n / 4000
    return max(10, math.ceil(4 * seconds / 60))
