"""Helpers every experiment shares: one training call, history reshaping, meshes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Result = dict[str, Any]


class Fit:
    """A trained stack: the network, its per-epoch history and its final metrics.

    ``history`` is a list of per-epoch dicts (``epoch`` from 0, the initial weights, to the last
    epoch trained) with ``seconds`` and, per replica (NumPy arrays, NaN where a replica's history
    has ended or its value was not finite), ``train_loss``, ``val_loss``, ``test_loss`` and, for
    classification, ``train_accuracy``, ``val_accuracy``, ``test_accuracy``. ``final`` holds the
    same keys per replica for the final weights (whole splits, no dropout; after early stopping's
    restoration): the records' final metrics of :func:`nngrid.core.train.train_replicas`.
    """

    def __init__(self, model, history: list[dict], final: dict[str, np.ndarray]):
        self.model = model
        self.history = history
        self.final = final

    def floats(self, r: int, *keys: str) -> dict[str, float]:
        """Replica ``r``'s final ``keys`` (``train_accuracy``, ``test_loss``, ...) as floats."""
        return {k: float(self.final[k][r]) for k in keys}


def regularizer_args(spec: dict) -> dict[str, Any]:
    """The :func:`fit` arguments of a regularizer spec ``{"regularizer": name, "reg_params":
    {...}}`` (the experiments' cures and regularizers; ``{}`` is none)."""
    return {"regularizer": spec.get("regularizer", "none"), "reg_params": spec.get("reg_params")}


_METRICS = tuple(f"{s}_{m}" for m in ("loss", "accuracy") for s in ("train", "val", "test"))


def _floats(values: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values])


def fit(
    data: dict[str, np.ndarray],
    *,
    hidden: Sequence[int],
    activation: str = "relu",
    init: str | None = None,
    optimizer: str = "adam",
    lr: float = 1e-2,
    regularizer: str = "none",
    reg_params: dict | None = None,
    batch_size: int | None = 32,
    epochs: int = 100,
    seeds: Sequence[int] = (0,),
    dtype: str = "float64",
) -> Fit:
    """Train ``len(seeds)`` replicas of one MLP with :func:`nngrid.core.train.train_replicas`.

    The training is the project's one loop (``batch_size=None`` is the full batch; each replica
    shuffles with its own seed; regularizer, dropout and early stopping as there), run with
    ``history_test`` and ``history_initial``; this only reshapes its result (records and model)
    into a :class:`Fit`. The history's ``train_loss`` and ``train_accuracy`` are those of the
    epoch's points as they were seen (with dropout, if any); ``seconds`` is the training time so
    far (the validation pass included, the test pass not).
    """
    from nngrid.core.train import TrainConfig, train_replicas

    result = train_replicas(
        data,
        TrainConfig(
            hidden=list(hidden),
            activation=activation,
            init=init,
            regularizer=regularizer,
            reg_params=reg_params,
            optimizer=optimizer,
            opt_params={"lr": lr},
            batch_size=batch_size,
            epochs=epochs,
            seeds=seeds,
            dtype=dtype,
            history_test=True,
            history_initial=True,
        ),
    )
    records, model = result.records, result.model
    R = len(records)
    keys = [k for k in _METRICS if records[0][k] is not None or not k.endswith("accuracy")]
    rows: dict[int, dict[str, Any]] = {}
    for r, rec in enumerate(records):
        for entry in rec["history"]:
            row = rows.setdefault(
                entry["epoch"],
                {"epoch": entry["epoch"], "seconds": entry["seconds"]}
                | {k: np.full(R, np.nan) for k in keys},
            )
            for k in keys:
                row[k][r] = np.nan if entry[k] is None else entry[k]
    final = {k: _floats([rec[k] for rec in records]) for k in keys}
    return Fit(model, [rows[e] for e in sorted(rows)], final)


def _long(history: list[dict], **keys: Any) -> list[dict]:
    """Per-epoch history (values per replica) -> one record per (epoch, replica).

    A replica whose history has ended (early stopping, divergence) has no record after it."""
    out = []
    for row in history:
        per = {k: v for k, v in row.items() if isinstance(v, np.ndarray)}
        R = len(next(iter(per.values())))
        for r in range(R):
            if all(np.isnan(v[r]) for v in per.values()):
                continue
            rec = {**keys, "epoch": row["epoch"], "seconds": row["seconds"], "replica": r}
            rec.update({k: float(v[r]) for k, v in per.items()})
            out.append(rec)
    return out


def _mesh(X: np.ndarray, points: int, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced axes covering the 2-D points ``X`` plus a margin."""
    lo, hi = X.min(axis=0) - margin, X.max(axis=0) + margin
    return np.linspace(lo[0], hi[0], points), np.linspace(lo[1], hi[1], points)


def _proba(model, gx: np.ndarray, gy: np.ndarray, replica: int = 0) -> np.ndarray:
    """Softmax probability of class 1 on the mesh ``gx x gy``, shape ``(len(gy), len(gx))``."""
    xx, yy = np.meshgrid(gx, gy)
    grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(model.dtype)
    out = model.predict(grid)[replica].astype(np.float64)
    out -= out.max(axis=-1, keepdims=True)
    p = np.exp(out)
    p /= p.sum(axis=-1, keepdims=True)
    return p[:, 1].reshape(xx.shape)
