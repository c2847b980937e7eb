"""The fair-comparison protocol for one cell of the grid, and the job that runs several cells.

A *cell* is one dataset x activation x regularizer x optimizer combination. Comparing optimizers
is only fair when each gets its own tuned learning rate, so every cell runs the same protocol:

1. **Tune.** Train one replica per learning rate of the optimizer's log-spaced grid
   ``lr_k = low * (high / low) ** (k / (K - 1))``, ``k = 0 .. K-1``, all from the first seed and
   all in one replica stack. Score each candidate on the *validation* split only: validation
   accuracy for classification (ties broken by the lower validation loss), validation loss for
   regression. A diverged candidate (NaN or inf loss) loses to every finite one. The winner
   ``k*`` is flagged ``lr_on_edge`` when ``k* in {0, K-1}``: the best rate may lie outside the
   grid, and the grid should be widened.
2. **Rerun.** Train the chosen rate over every seed (arm ``tuned``) and, beside it, the optimizer's
   default rate over the same seeds (arm ``untuned``): one stack of ``2 * n_seeds`` replicas.

The test split is never looked at while choosing; it is only reported.

Every replica becomes one row: the core's result record (see ``docs/ARCHITECTURE.md``) plus the
cell's axis values, the ``arm`` (``tune``, ``tuned`` or ``untuned``), the grid, the chosen rate and
the flags. :func:`run_job` crosses lists of activations, regularizers and optimizers into cells,
so the workflow chooses how many cells one job holds by choosing its wildcards.

Command line (NumPy only; writes the job's JSON atomically)::

    python -m nngrid.protocol --data results/data/moons.npz --spec spec.json --output out.json

``--spec`` takes a JSON file or, when the text starts with ``{``, the JSON itself.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nngrid.errors import NngridError

__all__ = [
    "ARMS",
    "lr_grid",
    "main",
    "run_cell",
    "run_job",
    "select_lr",
]

#: The three kinds of rows a cell produces.
ARMS = ("tune", "tuned", "untuned")

#: Keys of the ``training`` block of a job spec, passed through to ``train_replicas``.
TRAINING_KEYS = (
    "hidden",
    "init",
    "loss",
    "schedule",
    "schedule_params",
    "batch_size",
    "epochs",
    "dtype",
    "target_accuracy",
)


def lr_grid(low: float, high: float, points: int) -> list[float]:
    """The log-spaced grid ``low * (high / low) ** (k / (points - 1))`` for ``k = 0 .. points-1``.

    Values are rounded to 6 significant digits so that they read well in tables and compare
    exactly across runs. ``points == 1`` gives ``[low]``.
    """
    if not (low > 0 and high > 0):
        raise NngridError(f"lr_grid needs positive bounds, got low={low!r}, high={high!r}")
    if high < low:
        raise NngridError(f"lr_grid needs low <= high, got low={low!r}, high={high!r}")
    if int(points) != points or points < 1:
        raise NngridError(f"lr_grid points must be a positive integer, got {points!r}")
    values = np.geomspace(low, high, int(points)) if points > 1 else np.array([low])
    return [float(f"{v:.6g}") for v in values]


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def _is_diverged(record: Mapping[str, Any]) -> bool:
    return bool(record.get("diverged")) or not _finite(record.get("val_loss"))


def select_lr(records: Sequence[Mapping[str, Any]]) -> tuple[int, bool]:
    """Index of the winning candidate among tuning ``records`` and whether all diverged.

    Score (larger wins): ``(val_accuracy, -val_loss)`` for classification (``val_accuracy`` not
    ``None``), ``-val_loss`` for regression. Diverged candidates score below every finite one.
    Ties keep the earlier (smaller) learning rate. When every candidate diverged the smallest
    rate (index 0) is returned with ``all_diverged=True``.
    """
    if not records:
        raise NngridError("select_lr needs at least one tuning record")
    best, best_score = None, None
    for k, rec in enumerate(records):
        if _is_diverged(rec):
            continue
        acc = rec.get("val_accuracy")
        score = (acc if _finite(acc) else -math.inf, -rec["val_loss"])
        if best_score is None or score > best_score:
            best, best_score = k, score
    if best is None:
        return 0, True
    return best, False


def _per_replica(params: Mapping[str, Any] | None, lrs: Sequence[float]) -> dict[str, Any]:
    out = dict(params or {})
    out["lr"] = [float(v) for v in lrs]
    return out


def run_cell(
    data: Any,
    *,
    activation: str,
    optimizer: str,
    lrs: Sequence[float],
    default_lr: float,
    seeds: Sequence[int],
    regularizer: str = "none",
    reg_params: Mapping[str, Any] | None = None,
    opt_params: Mapping[str, Any] | None = None,
    axes: Mapping[str, Any] | None = None,
    train: Callable[..., list[dict]] | None = None,
    **training: Any,
) -> list[dict]:
    """Run the protocol on one cell and return one row per replica (see the module docstring).

    ``lrs`` is the optimizer's grid, ``default_lr`` its documented default, ``seeds`` the
    seeds of the rerun (the first also seeds the tuning stack). ``training`` goes to
    ``train_replicas`` unchanged (hidden, epochs, batch_size, ...). ``axes`` is copied into every
    row (dataset, study, the regularizer's label ...). ``train`` defaults to
    :func:`nngrid.train.train_replicas` and exists so that tests can substitute a stub.
    """
    if train is None:
        from nngrid.train import train_replicas as train
    lrs = [float(v) for v in lrs]
    seeds = [int(s) for s in seeds]
    if not lrs:
        raise NngridError("the learning-rate grid is empty; give at least one rate")
    if not seeds:
        raise NngridError("seeds is empty; give at least one seed")
    common = dict(
        activation=activation,
        regularizer=regularizer,
        reg_params=dict(reg_params or {}),
        optimizer=optimizer,
        **training,
    )
    tune = train(
        data, opt_params=_per_replica(opt_params, lrs), seeds=[seeds[0]] * len(lrs), **common
    )
    k, all_diverged = select_lr(tune)
    chosen = lrs[k]
    on_edge = len(lrs) > 1 and k in (0, len(lrs) - 1)
    n = len(seeds)
    final = train(
        data,
        opt_params=_per_replica(opt_params, [chosen] * n + [float(default_lr)] * n),
        seeds=seeds + seeds,
        **common,
    )
    cell = {
        "activation": activation,
        "regularizer_kind": regularizer,
        "reg_params": dict(reg_params or {}),
        "optimizer": optimizer,
        "opt_params": dict(opt_params or {}),
        **dict(axes or {}),
        "lr_grid": lrs,
        "chosen_lr": chosen,
        "default_lr": float(default_lr),
        "lr_on_edge": bool(on_edge),
        "all_diverged": bool(all_diverged),
    }
    rows = []
    for i, rec in enumerate(tune):
        rows.append({**rec, **cell, "arm": "tune", "lr": lrs[i], "selected": i == k})
    for i, rec in enumerate(final):
        arm = "tuned" if i < n else "untuned"
        lr = chosen if i < n else float(default_lr)
        rows.append({**rec, **cell, "arm": arm, "lr": lr, "selected": False})
    return rows


def _default_lr(optimizer: str, given: float | None) -> float:
    if given is not None:
        return float(given)
    from nngrid.optim import OPTIMIZERS

    default = OPTIMIZERS.parameters(optimizer).get("lr")
    if not _finite(default) or default <= 0:
        raise NngridError(
            f"optimizer {optimizer!r} has no default lr to use for the untuned arm; "
            "give optimizers.<name>.default_lr in the config"
        )
    return float(default)


def run_job(data: Any, spec: Mapping[str, Any], progress: Callable[[str], None] | None = None):
    """Run every cell of a job ``spec`` on ``data`` and return ``(rows, seconds)``.

    ``spec`` holds ``activations`` (names), ``regularizers`` (objects ``{label, kind, params}``),
    ``optimizers`` (objects ``{name, params, lr_grid, default_lr}``; ``lr_grid`` is either a
    list or ``{low, high, points}``), ``seeds``, ``training`` (keyword arguments of
    ``train_replicas``) and ``axes`` (copied into every row, e.g. ``study`` and ``dataset``).
    Cells are the product optimizers x regularizers x activations, run in that order.
    """
    missing = [k for k in ("activations", "regularizers", "optimizers", "seeds") if k not in spec]
    if missing:
        raise NngridError(
            f"job spec lacks {missing[0]!r}; it needs activations, regularizers, "
            "optimizers and seeds"
        )
    training = dict(spec.get("training") or {})
    unknown = sorted(set(training) - set(TRAINING_KEYS))
    if unknown:
        raise NngridError(
            f"job spec training has unknown key {unknown[0]!r}; valid keys: "
            + ", ".join(TRAINING_KEYS)
        )
    rows: list[dict] = []
    start = time.perf_counter()
    for opt, reg, act in itertools.product(
        spec["optimizers"], spec["regularizers"], spec["activations"]
    ):
        grid = opt["lr_grid"]
        lrs = lr_grid(**grid) if isinstance(grid, Mapping) else list(grid)
        if progress is not None:
            progress(f"cell {act} x {reg['label']} x {opt['name']}: lrs {lrs}")
        rows += run_cell(
            data,
            activation=act,
            regularizer=reg.get("kind", reg["label"]),
            reg_params=reg.get("params"),
            optimizer=opt["name"],
            opt_params=opt.get("params"),
            lrs=lrs,
            default_lr=_default_lr(opt["name"], opt.get("default_lr")),
            seeds=spec["seeds"],
            axes={**dict(spec.get("axes") or {}), "regularizer": reg["label"]},
            **training,
        )
    return rows, time.perf_counter() - start


def _read_spec(text: str) -> dict:
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return json.loads(Path(text).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NngridError(f"cannot read job spec {text[:60]!r}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.protocol --data D.npz --spec SPEC --output OUT.json``."""
    parser = argparse.ArgumentParser(
        prog="nngrid cell", description="Run the tuned/untuned protocol on the cells of one job."
    )
    parser.add_argument("--data", required=True, help="dataset .npz written by `nngrid data`")
    parser.add_argument("--spec", required=True, help="job spec: a JSON file or inline JSON")
    parser.add_argument("--output", required=True, help="JSON file to write (atomically)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    try:
        from nngrid.datasets import load_dataset
        from nngrid.io import write_json
        from nngrid.plugins import load_plugins

        load_plugins()

        spec = _read_spec(args.spec)
        training = spec.get("training") if isinstance(spec, dict) else None
        dtype = training.get("dtype", "float32") if isinstance(training, dict) else "float32"
        data = load_dataset(args.data, dtype=dtype)

        def progress(msg: str) -> None:
            if not args.quiet:
                print(msg, file=sys.stderr, flush=True)

        rows, seconds = run_job(data, spec, progress)
        job_id = os.environ.get("SLURM_JOB_ID")
        for row in rows:
            row["slurm_job_id"] = job_id
        write_json(
            args.output,
            {"spec": spec, "seconds": seconds, "slurm_job_id": job_id, "rows": rows},
            checksum=True,  # nngrid.tables refuses the file if anything in it changes later
        )
    except NngridError as exc:
        print(f"nngrid: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
