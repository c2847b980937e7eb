"""The training loop: ``R`` replicas of one network trained at once, one record per replica.

Usage::

    from nngrid.core.train import TrainConfig, train_replicas

    config = TrainConfig(activation="relu", hidden=[32, 32], optimizer="adam",
                         opt_params={"lr": [1e-3, 1e-2]}, seeds=[0, 1], epochs=50)
    result = train_replicas(data, config)   # a TrainResult
    result.records                          # one dict per replica (RECORD_KEYS)
    result.model                            # the trained Network stack (final weights)

:class:`TrainConfig` is a frozen dataclass of every option (its fields are documented there);
``dataclasses.replace(config, epochs=10)`` derives another. :func:`train_replicas` trains one
:class:`~nngrid.core.network.Network` stack (an
:class:`~nngrid.core.network.MLP` for ``hidden``, any layer list for ``layers``) whose replica ``r``
has its own seed, learning rate and (optionally) penalty strength, dropout rate or early-stopping
patience. Per epoch and replica:

1. replica ``r`` visits the training points in its own random order (``rng_shuffle[r]``), in
   mini-batches of ``batch_size`` (the last one smaller when ``batch_size`` does not divide ``n``;
   full batch: one step on all points, in the stored order);
2. per batch (:meth:`_Trainer.step`): forward (with dropout masks from ``rng_dropout[r]``), data
   loss and its gradient, backward, ``regularizer.add_grad(W, G)`` for every weight matrix (never
   the biases), gradient clipping to ``clip_norm`` per replica (when given), one optimizer step on
   the flat parameter buffer, ``regularizer.project(W)`` (max-norm);
3. at the end of the epoch (:meth:`_Trainer.end_of_epoch`): the training loss is the mean data
   loss over the epoch's points as they were seen (each batch's mean loss weighted by its size;
   penalty excluded) and the training accuracy the fraction of those points classified right;
   the validation loss and accuracy are those of the whole validation split with the current
   weights (no dropout).

Divergence. At the end of every epoch a replica whose training or validation loss, or any
parameter, is NaN or infinite is *frozen*: it is flagged ``diverged`` with that epoch number
(``diverged_epoch``, counting from 1), its parameters are restored to the values they had at the
end of the previous epoch (the last finite ones; the initial weights if it diverged in epoch 1),
and from then on they are held fixed (re-copied after every optimizer step), so its final metrics
are those of the last finite weights. The layers' state that is not a parameter (a batch norm's
running statistics, :meth:`~nngrid.core.network.Network.state_arrays`) goes back to the same
epoch's with them; the training passes of a stack still move a frozen replica's state, unseen
(no record reads it), so it is put back once more at the end. Its history stops with the
diverging epoch (whose non-finite losses are recorded as ``None``). The other replicas go on:
nothing mixes replicas.

Early stopping (regularizer ``early_stopping``, per-replica ``patience``, ``monitor`` accuracy
(classification's default) or loss). Each replica tracks its best monitored validation result
(highest accuracy, or lowest loss); when it has not improved for ``patience`` epochs (a tie is
no improvement) the replica is frozen (not flagged diverged). At the end, every early-stopping
replica gets its best-validation weights back, with its layers' state of that epoch (a batch
norm's running statistics), before the final metrics are computed.

Training stops before ``epochs`` only when every replica is frozen.

Timing. ``seconds`` in a record is the wall time of the whole stack's training loop (epochs,
including the per-epoch validation pass) divided by ``R``; ``seconds_per_epoch`` the median epoch
time divided by ``R``; a history entry's ``seconds`` the cumulative time at the end of that epoch
divided by ``R``; ``seconds_to_target`` the cumulative time (divided by ``R``) at the first epoch
whose validation accuracy reaches ``target_accuracy``.

Best values: ``best_epoch`` is the epoch of the lowest validation loss and ``best_val_loss`` that
loss; ``best_val_accuracy`` is the highest validation accuracy of any epoch.

Options for callers that study the training itself (nngrid.study.experiments); all off by default,
and
none touches the per-batch loop:

* ``history_test=True``: every history entry also has ``test_loss`` and ``test_accuracy`` (None
  for regression), those of the whole test split with the weights at the end of that epoch (no
  dropout). The test pass is not timed (it is outside ``seconds``).
* ``history_initial=True``: each history starts with an entry for ``epoch`` 0, the metrics of the
  initial weights on the whole splits (no dropout; ``seconds`` 0). It is not an epoch: the
  record's ``epochs`` does not count it.

The result's ``model`` is the trained :class:`~nngrid.core.network.Network` stack with the final
weights (early stopping's best weights restored, frozen replicas at their held values, each with
its layer state of the same epoch), the weights the records' final metrics were computed with.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import nngrid
from nngrid.core.activations import ACTIVATIONS
from nngrid.core.initializers import INITIALIZERS
from nngrid.core.layers import parse_layers, spec_of
from nngrid.core.losses import LOSSES
from nngrid.core.network import MLP, Network
from nngrid.core.optim import OPTIMIZERS
from nngrid.core.regularizers import REGULARIZERS
from nngrid.core.schedules import SCHEDULES
from nngrid.errors import NngridError

#: The record's metrics: the final weights' accuracy and loss on each split, then the best
#: validation accuracy and loss; a float, or None where not finite (accuracies: for regression).
METRIC_KEYS = (
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "train_loss",
    "val_loss",
    "test_loss",
    "best_val_accuracy",
    "best_val_loss",
)

#: The keys every record has (the contract in docs/ARCHITECTURE.md).
RECORD_KEYS = (
    *METRIC_KEYS,
    "best_epoch",
    "epochs",
    "diverged",
    "diverged_epoch",
    "epochs_to_target",
    "seconds_to_target",
    "seconds",
    "seconds_per_epoch",
    "history",
    "seed",
    "lr",
    "replica",
    "config",
    "version",
)

#: Keys of the record that measure time (everything else is reproducible bit for bit).
TIMING_KEYS = ("seconds", "seconds_per_epoch", "seconds_to_target")

#: Gather a whole epoch's shuffled inputs at once while it needs at most this many bytes.
EPOCH_GATHER_BYTES = 256 * 2**20

_SPLITS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


@dataclass(frozen=True)
class TrainConfig:
    """Every option of one training stack (a frozen dataclass: derive others with
    ``dataclasses.replace``).

    Architecture: ``hidden``, the hidden widths of a dense network (``[128, 128]`` or
    ``"128,128"``; ``X`` is ``(n, features)``), or ``layers``, a layer list (see
    :mod:`nngrid.core.layers`; ``X`` is ``(n, features)``, ``(n, length)`` or ``(n, length,
    channels)``); a dense output layer is appended. ``activation`` (required) and ``init`` (None:
    the activation's ``default_init``) name registered components. ``init_from`` maps torch
    ``state_dict`` names to arrays (:meth:`~nngrid.core.network.Network.load_state_dict`) and sets
    every replica's initial weights (after the usual draws).

    Training: ``loss`` (None: ``softmax_cross_entropy`` for integer labels, ``mse`` for float
    targets), ``regularizer`` with ``reg_params``, ``optimizer`` with ``opt_params``,
    ``schedule`` with ``schedule_params`` (registered names; parameters as each declares them).
    Any value in ``reg_params`` and ``opt_params``' per-replica hyperparameters (``lr``,
    ``momentum``, ``betas`` (a list of R pairs), ``eps``, ``alpha``, ``weight_decay``: the ones
    declared ``per_replica``) may be a scalar or a list with one value per replica; the other
    optimizer hyperparameters are shared by the stack. ``batch_size`` None (or
    ``"full"``) is full-batch gradient descent. ``clip_norm`` clips each replica's gradient to
    that global 2-norm before every step (:func:`clip_gradients`). ``seeds``: one replica each;
    replica ``r`` uses ``SeedSequence(seeds[r]).spawn(3)`` for its initial weights, its shuffles
    and its dropout masks, so it gives the same record alone as inside any stack. ``dtype``
    ``"float32"`` or ``"float64"``.

    Records: ``target_accuracy`` (time-to-target), ``dataset`` (only labels the records'
    config), ``history_test`` and ``history_initial`` (module docstring); ``progress(epoch,
    epochs, metrics)`` is called after every epoch when given.
    """

    activation: str
    hidden: Any = None
    layers: Any = None
    init_from: Mapping[str, np.ndarray] | None = None
    clip_norm: float | None = None
    init: str | None = None
    loss: str | None = None
    regularizer: str = "none"
    reg_params: Mapping[str, Any] | None = None
    optimizer: str = "adam"
    opt_params: Mapping[str, Any] | None = None
    schedule: str = "constant"
    schedule_params: Mapping[str, Any] | None = None
    batch_size: int | str | None = None
    epochs: int = 100
    seeds: Sequence[int] = (0,)
    dtype: str = "float32"
    target_accuracy: float | None = None
    progress: Callable[[int, int, dict[str, Any]], None] | None = None
    dataset: str | None = None
    history_test: bool = False
    history_initial: bool = False


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_replicas` returns: one record per replica (:data:`RECORD_KEYS`, in
    replica order) and the trained stack (``model``, the weights the final metrics are of)."""

    records: list[dict[str, Any]]
    model: Network


@dataclass(frozen=True)
class _Loop:
    """The epoch loop's settings, derived from the :class:`TrainConfig` once."""

    epochs: int
    base_lr: Any
    dropout: tuple | None
    patience: Any
    monitor: str  # early stopping's score: "accuracy" or "loss"
    shuffle_rngs: list
    clip_norm: float | None
    target_accuracy: float | None
    progress: Callable[[int, int, dict[str, Any]], None] | None
    history_test: bool
    history_initial: bool


# --------------------------------------------------------------------------- helpers

_malloc_tuned = False


def _tune_malloc() -> None:
    """Keep freed memory in the process for reuse (glibc only; once per process).

    glibc hands blocks above ~128 KB back to the operating system when they are freed, so each
    training call pages its multi-megabyte arrays in afresh (thousands of page faults). Raising
    ``M_MMAP_THRESHOLD`` to 64 MB and ``M_TRIM_THRESHOLD`` to 256 MB keeps that memory for the
    next call. Measured on the core benchmark workload (repeated 5-epoch calls in one process):
    ~1.8 ms per epoch less CPU time (~9 ms per call); a single call in a fresh process is not
    helped (its first touches are unavoidable). Set ``NNGRID_MALLOPT=0`` to leave malloc alone;
    elsewhere than glibc this does nothing.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    if os.environ.get("NNGRID_MALLOPT", "1") == "0":
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def _finite_or_none(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _per_replica(name: str, value: Any, R: int, pair: bool = False) -> list[Any]:
    """Expand a scalar (or a pair, for ``betas``) to R values; a list of length R is per replica."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    per = isinstance(value, (list, tuple)) and (
        not pair or (len(value) > 0 and isinstance(value[0], (list, tuple, np.ndarray)))
    )
    if not per:
        return [value] * R
    if len(value) != R:
        raise NngridError(
            f"{name} has {len(value)} values but there are {R} replicas; give one value or {R}"
        )
    return list(value)


def _check_data(data: Mapping[str, Any], dtype: np.dtype) -> tuple[dict[str, np.ndarray], str]:
    missing = [k for k in _SPLITS if k not in data]
    if missing:
        raise NngridError(f"data is missing {', '.join(missing)}; it needs {', '.join(_SPLITS)}")
    out: dict[str, np.ndarray] = {}
    n_features = None
    ys = {}
    for part in ("train", "val", "test"):
        X = np.asarray(data[f"X_{part}"])
        y = np.asarray(data[f"y_{part}"])
        if X.ndim not in (2, 3) or X.dtype.kind not in "biuf":
            raise NngridError(
                f"X_{part} must be a numeric array (n, features) or (n, length, channels), "
                f"got {X.dtype} {X.shape}"
            )
        if n_features is None:
            n_features = X.shape[1:]
        elif X.shape[1:] != n_features:
            raise NngridError(f"X_{part} has per-row shape {X.shape[1:]}, X_train {n_features}")
        if len(y) != len(X):
            raise NngridError(f"y_{part} has {len(y)} entries but X_{part} {len(X)} rows")
        if not np.all(np.isfinite(X)):
            raise NngridError(f"X_{part} contains NaN or infinite values")
        out[f"X_{part}"] = np.ascontiguousarray(X, dtype=dtype)
        ys[part] = y
    if len(out["X_train"]) < 1 or len(out["X_val"]) < 1:
        raise NngridError("X_train and X_val need at least one row each")
    classification = all(y.ndim == 1 and y.dtype.kind in "iub" for y in ys.values())
    if classification:
        for part, y in ys.items():
            if y.size and y.min() < 0:
                raise NngridError(f"y_{part} has negative labels; labels must be 0..C-1")
            out[f"y_{part}"] = np.ascontiguousarray(y, dtype=np.intp)
        return out, "classification"
    for part, y in ys.items():
        if y.dtype.kind not in "biuf":
            raise NngridError(f"y_{part} must be numeric, got {y.dtype}")
        y = y.reshape(len(y), -1)
        if not np.all(np.isfinite(y)):
            raise NngridError(f"y_{part} contains NaN or infinite values")
        out[f"y_{part}"] = np.ascontiguousarray(y, dtype=dtype)
    widths = {out[f"y_{p}"].shape[1] for p in ("train", "val", "test")}
    if len(widths) > 1:
        raise NngridError(f"the targets of the splits have different widths: {sorted(widths)}")
    return out, "regression"


def _parse_hidden(hidden: Any) -> list[int]:
    if isinstance(hidden, str):
        parts = [h for h in hidden.replace(" ", "").split(",") if h]
    elif isinstance(hidden, (int, np.integer)):
        parts = [hidden]
    else:
        parts = list(hidden)
    try:
        sizes = [int(h) for h in parts]
    except (TypeError, ValueError):
        raise NngridError(f"hidden must be layer widths like 128,128; got {hidden!r}") from None
    if any(s < 1 for s in sizes) or any(
        float(h) != int(h) for h in parts if not isinstance(h, str)
    ):
        raise NngridError(f"hidden layer widths must be positive integers, got {hidden!r}")
    return sizes


class _Replicas:
    """Per-replica bookkeeping over the epochs."""

    def __init__(self, R: int):
        self.active = np.ones(R, bool)
        self.diverged_epoch: list[int | None] = [None] * R
        self.stopped_epoch: list[int | None] = [None] * R
        self.history: list[list[dict[str, Any]]] = [[] for _ in range(R)]
        self.best_loss = np.full(R, np.inf)
        self.best_epoch: list[int | None] = [None] * R
        self.best_acc = np.full(R, -np.inf)
        self.best_monitor = np.full(R, -np.inf)  # early stopping's score: -loss or accuracy
        self.wait = np.zeros(R, int)
        self.target_epoch: list[int | None] = [None] * R
        self.target_seconds: list[float | None] = [None] * R


# --------------------------------------------------------------------------- set-up


def _check_options(seeds, dtype, epochs, target_accuracy, clip_norm):
    """The scalar options, checked and normalised: (seeds, numpy dtype, epochs, target, clip)."""
    seeds = [int(s) for s in seeds]
    if len(seeds) < 1:
        raise NngridError("seeds must hold at least one seed")
    if dtype not in ("float32", "float64"):
        raise NngridError(f"dtype must be float32 or float64, got {dtype!r}")
    epochs = int(epochs)
    if epochs < 1:
        raise NngridError(f"epochs must be >= 1, got {epochs}")
    if target_accuracy is not None:
        target_accuracy = float(target_accuracy)
        if not 0.0 <= target_accuracy <= 1.0:
            raise NngridError(f"target accuracy must be in [0, 1], got {target_accuracy}")
    if clip_norm is not None:
        clip_norm = float(clip_norm)
        if not (math.isfinite(clip_norm) and clip_norm > 0):
            raise NngridError(f"clip_norm must be a positive number, got {clip_norm!r}")
    return seeds, np.dtype(dtype), epochs, target_accuracy, clip_norm


def _batch_size(batch_size: Any, n_train: int) -> tuple[int, bool]:
    """``(B, full_batch)``: None or ``"full"`` is one batch of every point."""
    if batch_size is None or batch_size == "full":
        return n_train, True
    try:
        B = int(batch_size)
    except (TypeError, ValueError):
        raise NngridError(
            f"batch size must be a positive integer or 'full', got {batch_size!r}"
        ) from None
    if B < 1 or B != float(batch_size):
        raise NngridError(f"batch size must be a positive integer or 'full', got {batch_size!r}")
    return min(B, n_train), B >= n_train


def _architecture(hidden: Any, layers: Any, X_train: np.ndarray, n_out: int):
    """``(sizes, None, None)`` for a dense ``hidden`` net, ``(None, layers, in_shape)`` else."""
    row_shape = X_train.shape[1:]
    if (hidden is None) == (layers is None):
        raise NngridError("give the architecture as hidden (dense widths) or layers, not both")
    if layers is None:
        if len(row_shape) != 1:
            raise NngridError(
                f"hidden builds a dense network for (n, features) data, but X_train is "
                f"{X_train.shape}; use layers with flatten or a sequence layer"
            )
        return [row_shape[0], *_parse_hidden(hidden), n_out], None, None
    layers = parse_layers(layers)
    first = layers[0].name if layers else "dense"
    # (n, L) data: flat features for a leading dense or flatten, else one channel
    flat = len(row_shape) == 1 and first in ("dense", "flatten")
    in_shape = row_shape if len(row_shape) == 2 or flat else (row_shape[0], 1)
    return None, layers, in_shape


def _loss(loss: str | None, task: str):
    name = loss if loss is not None else (
        "softmax_cross_entropy" if task == "classification" else "mse"
    )  # fmt: skip
    loss_fn = LOSSES.create(name)
    loss_task = getattr(loss_fn, "task", task)
    if loss_task != task:
        raise NngridError(
            f"loss {name!r} is for {loss_task} but the data is {task} "
            f"({'integer labels' if task == 'classification' else 'float targets'})"
        )
    return name, loss_fn


def _regularizer(regularizer: str, reg_params: Mapping[str, Any] | None, R: int):
    """The stack's regularizer, each replica's resolved parameters, dropout rates, patience."""
    reg_params = dict(reg_params or {})
    reg_defaults = REGULARIZERS.check_params(regularizer, reg_params)
    reg_values = {k: _per_replica(f"{regularizer} {k}", v, R) for k, v in reg_params.items()}
    per_replica = [{**reg_defaults, **{k: v[r] for k, v in reg_values.items()}} for r in range(R)]
    # each replica's setting must be valid on its own (clear messages naming the bad value) ...
    for combo in {repr(sorted(p.items())): p for p in per_replica}.values():
        REGULARIZERS.create(regularizer, **{k: combo[k] for k in reg_values})
    # ... and the stack gets one regularizer with per-replica arrays where the values differ
    # (patience is the trainer's business: the regularizer sees one value, the trainer all R)
    reg_kwargs = {
        k: (np.asarray(v) if len({repr(x) for x in v}) > 1 and k != "patience" else v[0])
        for k, v in reg_values.items()
    }
    reg = REGULARIZERS.create(regularizer, **reg_kwargs)
    rate_attr = getattr(reg, "dropout_rate", None)
    rate_attr = 0.0 if rate_attr is None else rate_attr
    dropout_rate = np.broadcast_to(np.asarray(rate_attr, np.float64).reshape(-1), (R,))
    if np.any(dropout_rate < 0) or np.any(dropout_rate >= 1):
        raise NngridError(f"dropout rate must be in [0, 1), got {dropout_rate.tolist()}")
    patience = None
    if getattr(reg, "patience", None) is not None:
        patience = np.array([int(p.get("patience", reg.patience)) for p in per_replica])
    return reg, per_replica, dropout_rate, patience


def _optimizer(optimizer: str, opt_params: Mapping[str, Any] | None, R: int):
    """The optimizer, the per-replica learning rates, the other hyperparameters resolved (replica
    0's), and ``{name: R values}`` of the declared per-replica ones that differ between replicas
    (:func:`_set_per_replica` hands them to the optimizer once the network exists)."""
    opt_params = dict(opt_params or {})
    opt_defaults = OPTIMIZERS.check_params(optimizer, opt_params)
    if "lr" not in opt_defaults:
        raise NngridError(f"optimizer {optimizer!r} has no lr parameter")
    lrs = [float(x) for x in _per_replica("lr", opt_params.pop("lr", opt_defaults["lr"]), R)]
    declared = {h.name: h for h in OPTIMIZERS.hypers(optimizer)}
    varying: dict[str, list[Any]] = {}
    for k, v in opt_params.items():
        values = _per_replica(f"{optimizer} {k}", v, R, pair=k == "betas")
        if k == "betas":
            values = [tuple(b) if isinstance(b, list | tuple) else b for b in values]
        if len({repr(x) for x in values}) > 1:
            if k not in declared or not declared[k].per_replica:
                per = [h.name for h in declared.values() if h.per_replica]
                raise NngridError(
                    f"{optimizer} {k} cannot differ between the replicas of one run (only "
                    f"{', '.join(per)} may); got {v!r}"
                )
            varying[k] = [tuple(float(x) for x in b) if k == "betas" else float(b) for b in values]
        opt_params[k] = values[0]
    # each replica's setting must be valid on its own (rules between parameters included)
    if varying:
        combos = {repr((lrs[r], [varying[k][r] for k in varying])): r for r in range(R)}.values()
        for r in combos:
            OPTIMIZERS.create(
                optimizer, lr=lrs[r], **{**opt_params, **{k: v[r] for k, v in varying.items()}}
            )
    opt = OPTIMIZERS.create(optimizer, lr=lrs[0], **opt_params)
    resolved = {**opt_defaults, **opt_params}
    if hasattr(opt, "hyperparams"):
        resolved = {k: v for k, v in opt.hyperparams().items() if k != "lr"}
    return opt, lrs, resolved, varying


def _set_per_replica(opt: Any, varying: Mapping[str, list[Any]], net: Network) -> None:
    """Give ``opt`` the hyperparameters that differ between replicas as float64 arrays with one
    value per element of the network's flat buffer (a pair's entries each, where they differ)."""
    for k, values in varying.items():
        if k == "betas":
            pair = []
            for i in range(2):
                column = [float(b[i]) for b in values]
                same = len(set(column)) == 1
                pair.append(column[0] if same else net.per_replica(column, np.float64))
            setattr(opt, k, tuple(pair))
        else:
            setattr(opt, k, net.per_replica([float(x) for x in values], np.float64))


class _Batches:
    """The training points of an epoch as per-replica mini-batches in reused buffers.

    Replica ``r`` visits the points in its own order (``shuffle_rngs[r]``); the whole epoch is
    gathered at once while it needs at most :data:`EPOCH_GATHER_BYTES`, else batch by batch.
    Full batch: one batch of every point in the stored order.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, B: int, full_batch: bool, R: int):
        n = len(X)
        self.X, self.y, self.B, self.full_batch = X, y, B, full_batch
        self.bounds = [(s, min(s + B, n)) for s in range(0, n, B)]
        if full_batch:
            return
        row_bytes = int(np.prod(X.shape[1:])) * X.dtype.itemsize + 8
        self.epoch_gather = R * n * row_bytes <= EPOCH_GATHER_BYTES
        self.idx = np.empty((R, n), np.intp)
        if self.epoch_gather:
            self.Xe = np.empty((R, *X.shape), X.dtype)
            self.ye = np.empty((R, *y.shape), y.dtype)
            self.views = [(self.Xe[:, s:e], self.ye[:, s:e]) for s, e in self.bounds]
        else:
            last = self.bounds[-1][1] - self.bounds[-1][0]
            self.full = (
                np.empty((R, B, *X.shape[1:]), X.dtype),
                np.empty((R, B, *y.shape[1:]), y.dtype),
            )
            self.last = (
                np.empty((R, last, *X.shape[1:]), X.dtype),
                np.empty((R, last, *y.shape[1:]), y.dtype),
            )

    def epoch(self, shuffle_rngs: Sequence[np.random.Generator]):
        """This epoch's ``(Xb, yb)`` batches (a list, or a generator filling reused buffers)."""
        if self.full_batch:
            return [(self.X, self.y)]
        for r, rng in enumerate(shuffle_rngs):
            self.idx[r] = rng.permutation(len(self.X))
        if self.epoch_gather:
            # idx holds permutations (always in range): mode="clip" skips the bounds check,
            # which halves the cost of the gather (measured)
            np.take(self.X, self.idx, axis=0, out=self.Xe, mode="clip")
            np.take(self.y, self.idx, axis=0, out=self.ye, mode="clip")
            return self.views
        return _gather_batches(self.X, self.y, self.idx, self.B, *self.full, *self.last)


# --------------------------------------------------------------------------- the trainer


class _Trainer:
    """One stack's training: :meth:`run` is the epoch loop, :meth:`step` one training step,
    :meth:`end_of_epoch` the bookkeeping (validation, divergence, early stopping, history),
    :meth:`finish` the final weights and metrics."""

    def __init__(self, net, arrays, classify, loss_fn, opt, reg, sched, batches, loop: _Loop):
        self.net, self.arrays, self.classify = net, arrays, classify
        self.loss_fn, self.opt, self.reg, self.sched, self.batches = (
            loss_fn,
            opt,
            reg,
            sched,
            batches,
        )
        # the loop's settings, as attributes read in the loop (one lookup each)
        self.epochs, self.base_lr, self.dropout = loop.epochs, loop.base_lr, loop.dropout
        self.patience, self.shuffle_rngs = loop.patience, loop.shuffle_rngs
        self.monitor = loop.monitor
        self.clip_norm, self.target_accuracy = loop.clip_norm, loop.target_accuracy
        self.progress = loop.progress
        self.history_test, self.history_initial = loop.history_test, loop.history_initial
        R, n, B = net.R, len(arrays["X_train"]), batches.B
        self.R, self.n_train = R, n
        self.state = _Replicas(R)
        # per-batch results, reduced once per epoch: mean losses and right/wrong of every point
        bounds = batches.bounds
        self.batch_sizes = np.array([e - s for s, e in bounds], np.float64)
        self.batch_losses = np.empty((R, len(bounds)))
        self.hits = np.empty((R, n), bool)
        pred_full = np.empty((R, B), np.intp)
        pred_last = np.empty((R, bounds[-1][1] - bounds[-1][0]), np.intp)
        # a loss that writes per-example values (softmax cross-entropy) fills one epoch-long
        # array, reduced once per epoch; others return per-batch means
        self.per_example = getattr(loss_fn, "_fast_per_example", None)
        self.ep_loss = np.empty((R, n), net.dtype) if self.per_example is not None else None
        # every batch's fixed views, made once: (loss rows, hit rows, argmax buffer)
        self.views = [
            (
                None if self.ep_loss is None else self.ep_loss[:, s:e],
                self.hits[:, s:e],
                pred_full if e - s == B else pred_last,
            )
            for s, e in bounds
        ]
        # the loop's fixed arguments, and which regularizer hooks do anything
        self.flat_params, self.flat_grads = [net.flat], [net.flat_grad]
        self.weights, self.weight_grads = net.weights(), net.weight_grads()
        self.penalizes, self.projects = _overrides(reg, "add_grad"), _overrides(reg, "project")
        self.last_good = net.flat.copy()  # parameters at the end of the last finite epoch
        self.frozen_flat = net.flat.copy()  # the values frozen replicas are held at
        self.frozen_mask = np.zeros(net.flat.shape, bool)
        self.frozen_views = net.views(self.frozen_mask)
        self.best_flat = net.flat.copy() if self.patience is not None else None
        # the layers' non-parameter state (batch norm's running statistics), outside the flat
        # buffer: each snapshot of the parameters above has its twin here, taken and restored
        # at the same moments, replica by replica. Most networks have none: the lists are empty
        # and every copy below is a loop over nothing.
        self.layer_state = list(net.state_arrays().values())
        self.last_good_state = [a.copy() for a in self.layer_state]
        self.frozen_state = [a.copy() for a in self.layer_state]
        self.best_state = (
            [a.copy() for a in self.layer_state] if self.patience is not None else None
        )
        self.any_frozen = False
        # the loss without per-batch target checks (the data were checked once, above)
        self.value_and_grad = getattr(loss_fn, "_fast_value_and_grad", loss_fn.value_and_grad)
        self.fast_value = getattr(loss_fn, "_fast_value", loss_fn.value)
        self.epoch_times: list[float] = []
        self.elapsed = 0.0

    def run(self) -> dict[str, tuple]:
        """Train up to ``epochs`` epochs; return the final metrics per split."""
        factor = None
        with np.errstate(all="ignore"):
            if self.history_initial:
                self.initial_entries()
            for epoch in range(self.epochs):
                t0 = time.perf_counter()
                f = float(self.sched.factor(epoch, self.epochs))
                if f != factor:
                    factor = f
                    self.opt.lr = self.base_lr * f
                for i, (Xb, yb) in enumerate(self.batches.epoch(self.shuffle_rngs)):
                    self.step(i, Xb, yb)
                now = self.end_of_epoch(epoch, t0)
                if self.progress is not None:
                    metrics = _progress_metrics(self.state, self.R, epoch + 1, now)
                    self.progress(epoch + 1, self.epochs, metrics)
                if not self.state.active.any():
                    break
            return self.finish()

    def step(self, i: int, Xb: np.ndarray, yb: np.ndarray) -> None:
        """One training step on batch ``i``: forward, loss, backward, penalty, clipping, update."""
        net = self.net
        loss_rows, hit_rows, pred = self.views[i]
        out = net.forward(Xb, True, self.dropout)
        if self.per_example is not None:
            grad = self.per_example(out, yb, loss_rows)
        else:
            lvals, grad = self.value_and_grad(out, yb)
            self.batch_losses[:, i] = lvals
        if self.classify:  # right answers, counted once per epoch
            out.argmax(axis=2, out=pred)
            np.equal(pred, yb, out=hit_rows)
        net.backward(grad)
        if self.penalizes:
            for W, G in zip(self.weights, self.weight_grads, strict=True):
                self.reg.add_grad(W, G)
        if self.clip_norm is not None:
            clip_gradients(net.grads, self.clip_norm)
        self.opt.step(self.flat_params, self.flat_grads)
        if self.projects:
            for W in self.weights:
                self.reg.project(W)
        if self.any_frozen:
            np.copyto(net.flat, self.frozen_flat, where=self.frozen_mask)

    def end_of_epoch(self, epoch: int, t0: float) -> float:
        """Validation, timing, then each active replica's history entry and verdicts."""
        n, net, arrays = self.n_train, self.net, self.arrays
        if self.ep_loss is not None:
            train_loss = self.ep_loss.sum(axis=1, dtype=np.float64) / n
        else:
            train_loss = (self.batch_losses * self.batch_sizes).sum(axis=1) / n  # no BLAS
        train_acc = np.count_nonzero(self.hits, axis=1) / n if self.classify else None
        val_out = net.predict(arrays["X_val"])
        val_loss = np.array(self.fast_value(val_out, arrays["y_val"]), np.float64)
        val_acc = (
            np.asarray(self.loss_fn.accuracy(val_out, arrays["y_val"]), np.float64)
            if self.classify
            else None
        )
        params_finite = np.ones(self.R, bool)
        for p in net.params:
            params_finite &= np.isfinite(p).all(axis=(1, 2))
        self.elapsed += time.perf_counter() - t0
        self.epoch_times.append(time.perf_counter() - t0)
        now = self.elapsed / self.R
        test = self.split_metrics("test") if self.history_test else None  # untimed
        for r in np.flatnonzero(self.state.active):
            r = int(r)
            metrics = (train_loss[r], val_loss[r], train_acc, val_acc, params_finite[r])
            self.bookkeep(r, epoch + 1, now, metrics, test)
        np.copyto(self.last_good, net.flat)
        for a, s in zip(self.layer_state, self.last_good_state, strict=True):
            np.copyto(s, a)
        self.val = (val_loss, val_acc)
        return now

    def bookkeep(self, r: int, epoch: int, now: float, metrics: tuple, test: tuple | None):
        """Replica ``r``'s history entry; divergence, best epoch, time to target, patience."""
        state = self.state
        tl, vl, train_acc, val_acc, finite = metrics
        tl, vl = float(tl), float(vl)
        entry = {
            "epoch": epoch,
            "train_loss": _finite_or_none(tl),
            "val_loss": _finite_or_none(vl),
            "train_accuracy": None if train_acc is None else float(train_acc[r]),
            "val_accuracy": None if val_acc is None else float(val_acc[r]),
            "seconds": now,
        }
        if test is not None:
            _add_test(entry, test, r)
        state.history[r].append(entry)
        if not (math.isfinite(tl) and math.isfinite(vl) and finite):
            # accuracies of non-finite outputs mean nothing: recorded as None
            entry["train_accuracy"] = entry["val_accuracy"] = None
            if test is not None:
                entry["test_accuracy"] = None
            state.diverged_epoch[r] = epoch
            self.freeze(r, (self.last_good, self.last_good_state))
            return
        if vl < state.best_loss[r]:
            state.best_loss[r], state.best_epoch[r] = vl, epoch
        score = float(val_acc[r]) if self.monitor == "accuracy" and val_acc is not None else -vl
        if score > state.best_monitor[r]:  # early stopping's improvement (a tie is none)
            state.best_monitor[r], state.wait[r] = score, 0
            if self.best_flat is not None:
                for p, b in zip(self.net.params, self.net.views(self.best_flat), strict=True):
                    b[r] = p[r]
                _copy_replica(self.layer_state, self.best_state, r)
        else:
            state.wait[r] += 1
        if val_acc is not None:
            state.best_acc[r] = max(state.best_acc[r], float(val_acc[r]))
            target = self.target_accuracy
            if target is not None and state.target_epoch[r] is None and val_acc[r] >= target:
                state.target_epoch[r], state.target_seconds[r] = epoch, now
        if self.patience is not None and state.wait[r] >= self.patience[r]:
            state.stopped_epoch[r] = epoch
            self.freeze(r, None)

    def freeze(self, r: int, restore_from: tuple[np.ndarray, list[np.ndarray]] | None) -> None:
        """Hold replica ``r`` fixed from now on, first restoring it from ``restore_from``: a
        snapshot ``(flat, layer state)`` of parameters and layer state taken at one moment.

        Its parameters are re-copied after every optimizer step; its layer state, which the
        stack's training passes go on updating, is put back in :meth:`finish`."""
        net = self.net
        if restore_from is not None:
            flat, layer_state = restore_from
            for p, s in zip(net.params, net.views(flat), strict=True):
                p[r] = s[r]
            _copy_replica(layer_state, self.layer_state, r)
        dst = net.views(self.frozen_flat)
        for p, d, m in zip(net.params, dst, self.frozen_views, strict=True):
            d[r] = p[r]
            m[r] = True
        _copy_replica(self.layer_state, self.frozen_state, r)
        self.state.active[r] = False
        self.any_frozen = True

    def split_metrics(self, part: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Loss and accuracy (None for regression) per replica on a whole split, no dropout."""
        X, y = self.arrays[f"X_{part}"], self.arrays[f"y_{part}"]
        R = self.R
        if len(X) == 0:
            return np.full(R, np.nan), (np.full(R, np.nan) if self.classify else None)
        out = self.net.predict(X)
        return (
            np.asarray(self.loss_fn.value(out, y), np.float64),
            np.asarray(self.loss_fn.accuracy(out, y), np.float64) if self.classify else None,
        )

    def initial_entries(self) -> None:
        """History entries for epoch 0: the initial weights on the whole splits."""
        initial = {part: self.split_metrics(part) for part in ("train", "val")}
        test = self.split_metrics("test") if self.history_test else None
        for r in range(self.R):
            entry = {"epoch": 0, "seconds": 0.0}
            for part, (lv, av) in initial.items():
                entry[f"{part}_loss"] = _finite_or_none(lv[r])
                entry[f"{part}_accuracy"] = None if av is None else _finite_or_none(av[r])
            if test is not None:
                _add_test(entry, test, r)
            self.state.history[r].append(entry)

    def finish(self) -> dict[str, tuple]:
        """Final weights (early stopping's best restored, frozen replicas at their held values),
        each replica's layer state from the same epoch as its weights, and the final metrics of
        every split with them."""
        net, state = self.net, self.state
        if self.any_frozen:
            np.copyto(net.flat, self.frozen_flat, where=self.frozen_mask)
            for r in np.flatnonzero(~state.active):
                _copy_replica(self.frozen_state, self.layer_state, int(r))
        if self.best_flat is not None:
            for r in range(self.R):
                if state.diverged_epoch[r] is None and state.best_epoch[r] is not None:
                    for p, b in zip(net.params, net.views(self.best_flat), strict=True):
                        p[r] = b[r]
                    _copy_replica(self.best_state, self.layer_state, r)
        final = {}
        for part in ("train", "val", "test"):
            if part == "val" and not self.any_frozen and self.best_flat is None:
                # the weights are those of the last epoch's validation pass: reuse its metrics
                final[part] = self.val
                continue
            final[part] = self.split_metrics(part)
        return final


def _copy_replica(src: Sequence[np.ndarray], dst: Sequence[np.ndarray], r: int) -> None:
    """``dst[k][r] = src[k][r]`` for each array: replica ``r``'s layer state alone (the other
    replicas' are left as they are)."""
    for s, d in zip(src, dst, strict=True):
        d[r] = s[r]


def _add_test(entry: dict[str, Any], test: tuple, r: int) -> None:
    entry["test_loss"] = _finite_or_none(test[0][r])
    entry["test_accuracy"] = None if test[1] is None else _finite_or_none(test[1][r])


# --------------------------------------------------------------------------- the entry point


def train_replicas(data: Mapping[str, Any], config: TrainConfig) -> TrainResult:
    """Train ``R = len(config.seeds)`` replicas of one network on ``data``.

    ``data`` holds ``X_train, y_train, X_val, y_val, X_test, y_test`` (as
    :func:`nngrid.datasets.load_dataset` returns them): integer labels ``(n,)`` mean
    classification, float targets ``(n, k)`` regression. ``config`` is a :class:`TrainConfig`;
    the result a :class:`TrainResult`. The records' keys are :data:`RECORD_KEYS`; see the module
    docstring for their meaning.
    """
    if not isinstance(config, TrainConfig):
        raise NngridError(
            f"train_replicas takes a TrainConfig, got {type(config).__name__}; build one with "
            "TrainConfig(activation=..., ...)"
        )
    c = config
    hidden, activation, layers, init_from, init = (
        c.hidden,
        c.activation,
        c.layers,
        c.init_from,
        c.init,
    )
    loss, regularizer, reg_params = c.loss, c.regularizer, c.reg_params
    optimizer, opt_params, schedule = c.optimizer, c.opt_params, c.schedule
    schedule_params, batch_size, dtype, dataset = (
        c.schedule_params,
        c.batch_size,
        c.dtype,
        c.dataset,
    )
    _tune_malloc()
    seeds, np_dtype, epochs, target_accuracy, clip_norm = _check_options(
        c.seeds, dtype, c.epochs, c.target_accuracy, c.clip_norm
    )
    R = len(seeds)
    arrays, task = _check_data(data, np_dtype)
    n_train = len(arrays["X_train"])
    if task == "classification":
        n_out = int(max(arrays[f"y_{p}"].max(initial=0) for p in ("train", "val", "test"))) + 1
        n_out = max(n_out, 2)
    else:
        n_out = arrays["y_train"].shape[1]
    B, full_batch = _batch_size(batch_size, n_train)
    sizes, layers, in_shape = _architecture(hidden, layers, arrays["X_train"], n_out)

    # ---- components
    act = ACTIVATIONS.create(activation)
    init_name = init if init is not None else act.default_init
    initializer = INITIALIZERS.create(init_name)
    loss_name, loss_fn = _loss(loss, task)
    reg, reg_per_replica, dropout_rate, patience = _regularizer(regularizer, reg_params, R)
    opt, lrs, opt_resolved, opt_varying = _optimizer(optimizer, opt_params, R)
    schedule_params = dict(schedule_params or {})
    sched = SCHEDULES.create(schedule, **schedule_params)
    sched_resolved = {**SCHEDULES.parameters(schedule), **schedule_params}

    # ---- randomness: one (init, shuffle, dropout) triple of streams per replica
    init_rngs, shuffle_rngs, dropout_rngs = replica_rngs(seeds)
    if layers is None:
        net: Network = MLP(sizes, act, initializer, init_rngs, dtype=np_dtype)
    else:
        net = Network(layers, in_shape, n_out, act, initializer, init_rngs, dtype=np_dtype)
    if init_from is not None:
        for r in range(R):
            net.load_state_dict(r, init_from, source="init_from")
    # learning rate: a scalar while all replicas share it, else one value per parameter element
    base_lr = lrs[0] if len(set(lrs)) == 1 else net.per_replica(lrs).astype(np.float64)
    _set_per_replica(opt, opt_varying, net)

    batches = _Batches(arrays["X_train"], arrays["y_train"], B, full_batch, R)
    loop = _Loop(
        epochs=epochs,
        base_lr=base_lr,
        dropout=(dropout_rate, dropout_rngs) if np.any(dropout_rate > 0) else None,
        patience=patience,
        monitor=(
            reg.monitor
            if getattr(reg, "monitor", "auto") in ("accuracy", "loss")
            else ("accuracy" if task == "classification" else "loss")
        ),
        shuffle_rngs=shuffle_rngs,
        clip_norm=clip_norm,
        target_accuracy=target_accuracy,
        progress=c.progress,
        history_test=c.history_test,
        history_initial=c.history_initial,
    )
    trainer = _Trainer(
        net, arrays, task == "classification", loss_fn, opt, reg, sched, batches, loop
    )
    final = trainer.run()

    record_config = {
        "dataset": dataset,
        "hidden": sizes[1:-1] if layers is None else None,
        "activation": activation,
        "init": init_name,
        "loss": loss_name,
        "task": task,
        "optimizer": optimizer,
        "schedule": schedule,
        "schedule_params": sched_resolved,
        "batch_size": "full" if full_batch and batch_size in (None, "full") else B,
        "epochs": epochs,
        "dtype": dtype,
        "target_accuracy": target_accuracy,
    }
    if layers is not None:
        record_config["layers"] = spec_of(net.layers[:-1])
    if clip_norm is not None:
        record_config["clip_norm"] = clip_norm
    per_replica = [
        {
            "regularizer": regularizer,
            "reg_params": _plain(reg_per_replica[r]),
            "opt_params": _plain(
                {"lr": lrs[r], **opt_resolved, **{k: v[r] for k, v in opt_varying.items()}}
            ),
        }
        for r in range(R)
    ]
    records = _records(trainer, final, seeds, lrs, record_config, per_replica)
    return TrainResult(records=records, model=net)


def _records(trainer: _Trainer, final: dict, seeds, lrs, config, per_replica) -> list[dict]:
    """One record per replica (the contract: :data:`RECORD_KEYS`)."""
    state, R, classify = trainer.state, trainer.R, trainer.classify
    times = trainer.epoch_times
    seconds_per_epoch = float(np.median(times)) / R if times else None
    records = []
    for r in range(R):
        hist = state.history[r]

        def acc(part: str, r: int = r) -> float | None:
            return None if final[part][1] is None else _finite_or_none(final[part][1][r])

        record = {
            "train_accuracy": acc("train"),
            "val_accuracy": acc("val"),
            "test_accuracy": acc("test"),
            "train_loss": _finite_or_none(final["train"][0][r]),
            "val_loss": _finite_or_none(final["val"][0][r]),
            "test_loss": _finite_or_none(final["test"][0][r]),
            "best_val_accuracy": (
                float(state.best_acc[r]) if classify and math.isfinite(state.best_acc[r]) else None
            ),
            "best_val_loss": _finite_or_none(state.best_loss[r]),
            "best_epoch": state.best_epoch[r],
            "epochs": len(hist) - int(trainer.history_initial),
            "diverged": state.diverged_epoch[r] is not None,
            "diverged_epoch": state.diverged_epoch[r],
            "epochs_to_target": state.target_epoch[r],
            "seconds_to_target": state.target_seconds[r],
            "seconds": trainer.elapsed / R,
            "seconds_per_epoch": seconds_per_epoch,
            "history": hist,
            "seed": seeds[r],
            "lr": lrs[r],
            "replica": r,
            "config": {**config, **per_replica[r]},
            "version": nngrid.__version__,
        }
        if state.stopped_epoch[r] is not None:
            record["config"]["stopped_epoch"] = state.stopped_epoch[r]
        records.append(record)
    return records


def clip_gradients(grads: Sequence[np.ndarray], max_norm: float) -> np.ndarray:
    """Scale each replica's gradients so that their global 2-norm is at most ``max_norm``.

    As torch's ``clip_grad_norm_``: ``norm_r = sqrt(sum over parameters of ||g[r]||^2)``, and
    replica ``r``'s gradients are multiplied by ``min(1, max_norm / (norm_r + 1e-6))``. The
    gradients are ``(R, rows, cols)`` views (modified in place); returns the norms.
    """
    sq = np.zeros(grads[0].shape[0], np.float64)
    for g in grads:
        sq += np.square(g, dtype=np.float64).sum(axis=(1, 2))
    norms = np.sqrt(sq)
    coef = np.minimum(max_norm / (norms + 1e-6), 1.0)
    if np.any(coef < 1.0):
        c3 = coef.astype(grads[0].dtype).reshape(-1, 1, 1)
        for g in grads:
            g *= c3
    return norms


def replica_rngs(seeds: Sequence[int]) -> tuple[list, list, list]:
    """Per replica: its (init, shuffle, dropout) Generators from ``SeedSequence(seed).spawn(3)``."""
    streams = [np.random.SeedSequence(int(s)).spawn(3) for s in seeds]
    init, shuffle, dropout = ([np.random.default_rng(st[i]) for st in streams] for i in range(3))
    return init, shuffle, dropout


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def _overrides(reg: Any, method: str) -> bool:
    """True unless ``reg.method`` is the base class's no-op (then the loop skips the call)."""
    from nngrid.core.regularizers import Regularizer

    base = getattr(Regularizer, method, None)
    return getattr(type(reg), method, None) is not base


def _gather_batches(X, y, idx, B, Xb_full, yb_full, Xb_last, yb_last):
    """Yield per-replica batches gathered from the permutations ``idx`` into reused buffers."""
    n = idx.shape[1]
    for s in range(0, n, B):
        e = min(s + B, n)
        Xb, yb = (Xb_full, yb_full) if e - s == B else (Xb_last, yb_last)
        np.take(X, idx[:, s:e], axis=0, out=Xb, mode="clip")
        np.take(y, idx[:, s:e], axis=0, out=yb, mode="clip")
        yield Xb, yb


def _progress_metrics(state: _Replicas, R: int, epoch: int, seconds: float) -> dict[str, Any]:
    """Means over the replicas that reported this epoch (for the progress line)."""
    rows = [h[-1] for h in state.history if h and h[-1]["epoch"] == epoch]

    def mean(key: str) -> float | None:
        vals = [row[key] for row in rows if row[key] is not None]
        return float(np.mean(vals)) if vals else None

    return {
        "train_loss": mean("train_loss"),
        "val_loss": mean("val_loss"),
        "train_accuracy": mean("train_accuracy"),
        "val_accuracy": mean("val_accuracy"),
        "active": int(state.active.sum()),
        "replicas": R,
        "seconds": seconds,
    }
