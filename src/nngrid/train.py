"""The training loop: ``R`` replicas of one network trained at once, one record per replica.

:func:`train_replicas` trains one :class:`~nngrid.network.MLP` stack whose replica ``r`` has its
own seed, learning rate and (optionally) penalty strength, dropout rate or early-stopping patience.
Per epoch and replica:

1. replica ``r`` visits the training points in its own random order (``rng_shuffle[r]``), in
   mini-batches of ``batch_size`` (the last one smaller when ``batch_size`` does not divide ``n``;
   full batch: one step on all points, in the stored order);
2. per batch: forward (with dropout masks from ``rng_dropout[r]``), data loss and its gradient,
   backward, ``regularizer.add_grad(W, G)`` for every weight matrix (never the biases), one
   optimizer step on the flat parameter buffer, ``regularizer.project(W)`` (max-norm);
3. at the end of the epoch: the training loss is the mean data loss over the epoch's points as they
   were seen (each batch's mean loss weighted by its size; penalty excluded) and the training
   accuracy the fraction of those points classified right; the validation loss and accuracy are
   those of the whole validation split with the current weights (no dropout).

Divergence. At the end of every epoch a replica whose training or validation loss, or any
parameter, is NaN or infinite is *frozen*: it is flagged ``diverged`` with that epoch number
(``diverged_epoch``, counting from 1), its parameters are restored to the values they had at the
end of the previous epoch (the last finite ones; the initial weights if it diverged in epoch 1),
and from then on they are held fixed (re-copied after every optimizer step), so its final metrics
are those of the last finite weights. Its history stops with the diverging epoch (whose non-finite
losses are recorded as ``None``). The other replicas go on: nothing mixes replicas.

Early stopping (regularizer ``early_stopping``, per-replica ``patience``). Each replica tracks its
lowest validation loss; when it has not improved for ``patience`` epochs the replica is frozen
(not flagged diverged). At the end, every early-stopping replica gets its best-validation weights
back before the final metrics are computed.

Training stops before ``epochs`` only when every replica is frozen.

Timing. ``seconds`` in a record is the wall time of the whole stack's training loop (epochs,
including the per-epoch validation pass) divided by ``R``; ``seconds_per_epoch`` the median epoch
time divided by ``R``; a history entry's ``seconds`` the cumulative time at the end of that epoch
divided by ``R``; ``seconds_to_target`` the cumulative time (divided by ``R``) at the first epoch
whose validation accuracy reaches ``target_accuracy``.

Best values: ``best_epoch`` is the epoch of the lowest validation loss and ``best_val_loss`` that
loss; ``best_val_accuracy`` is the highest validation accuracy of any epoch.

Options for callers that study the training itself (nngrid.experiments); all off by default, and
none touches the per-batch loop:

* ``history_test=True``: every history entry also has ``test_loss`` and ``test_accuracy`` (None
  for regression), those of the whole test split with the weights at the end of that epoch (no
  dropout). The test pass is not timed (it is outside ``seconds``).
* ``history_initial=True``: each history starts with an entry for ``epoch`` 0, the metrics of the
  initial weights on the whole splits (no dropout; ``seconds`` 0). It is not an epoch: the
  record's ``epochs`` does not count it.
* ``return_model=True``: return ``(records, model)``, the trained :class:`~nngrid.network.MLP`
  stack with the final weights (early stopping's best weights restored, frozen replicas at their
  held values), the weights the records' final metrics were computed with.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

import nngrid
from nngrid.activations import ACTIVATIONS
from nngrid.errors import NngridError
from nngrid.initializers import INITIALIZERS
from nngrid.layers import parse_layers, spec_of
from nngrid.losses import LOSSES
from nngrid.network import MLP, Network
from nngrid.optim import OPTIMIZERS
from nngrid.regularizers import REGULARIZERS
from nngrid.schedules import SCHEDULES

#: The keys every record has (the contract in docs/ARCHITECTURE.md).
RECORD_KEYS = (
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "train_loss",
    "val_loss",
    "test_loss",
    "best_val_accuracy",
    "best_val_loss",
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
        self.wait = np.zeros(R, int)
        self.target_epoch: list[int | None] = [None] * R
        self.target_seconds: list[float | None] = [None] * R


# --------------------------------------------------------------------------- the trainer


def train_replicas(
    data: Mapping[str, Any],
    *,
    hidden: Any = None,
    activation: str,
    layers: Any = None,
    init_from: Mapping[str, np.ndarray] | None = None,
    clip_norm: float | None = None,
    init: str | None = None,
    loss: str | None = None,
    regularizer: str = "none",
    reg_params: Mapping[str, Any] | None = None,
    optimizer: str = "adam",
    opt_params: Mapping[str, Any] | None = None,
    schedule: str = "constant",
    schedule_params: Mapping[str, Any] | None = None,
    batch_size: int | str | None = None,
    epochs: int = 100,
    seeds: Sequence[int] = (0,),
    dtype: str = "float32",
    target_accuracy: float | None = None,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    dataset: str | None = None,
    history_test: bool = False,
    history_initial: bool = False,
    return_model: bool = False,
) -> list[dict[str, Any]] | tuple[list[dict[str, Any]], Network]:
    """Train ``R = len(seeds)`` replicas of one MLP on ``data``; return one record per replica.

    ``data`` holds ``X_train, y_train, X_val, y_val, X_test, y_test`` (as
    :func:`nngrid.datasets.load_dataset` returns them): integer labels ``(n,)`` mean
    classification (default loss ``softmax_cross_entropy``), float targets ``(n, k)`` regression
    (default loss ``mse``). ``hidden`` lists the hidden widths (``[128, 128]`` or ``"128,128"``).
    Any value in ``reg_params`` and ``opt_params['lr']`` may be a scalar or a list with one value
    per replica; other optimizer hyperparameters are shared by the stack. ``batch_size`` None (or
    ``"full"``) is full-batch gradient descent. ``dataset`` only labels the records' config.
    Replica ``r`` uses ``SeedSequence(seeds[r]).spawn(3)`` for its initial weights, its shuffles and
    its dropout masks, so it gives the same record alone as inside any stack.
    The record's keys are :data:`RECORD_KEYS`; see the module docstring for their meaning, and for
    the options ``history_test``, ``history_initial`` and ``return_model``.
    """
    _tune_malloc()
    seeds = [int(s) for s in seeds]
    R = len(seeds)
    if R < 1:
        raise NngridError("seeds must hold at least one seed")
    if dtype not in ("float32", "float64"):
        raise NngridError(f"dtype must be float32 or float64, got {dtype!r}")
    np_dtype = np.dtype(dtype)
    epochs = int(epochs)
    if epochs < 1:
        raise NngridError(f"epochs must be >= 1, got {epochs}")
    if target_accuracy is not None:
        target_accuracy = float(target_accuracy)
        if not 0.0 <= target_accuracy <= 1.0:
            raise NngridError(f"target accuracy must be in [0, 1], got {target_accuracy}")

    arrays, task = _check_data(data, np_dtype)
    n_train = arrays["X_train"].shape[0]
    row_shape = arrays["X_train"].shape[1:]
    n_features = int(np.prod(row_shape))
    if clip_norm is not None:
        clip_norm = float(clip_norm)
        if not (math.isfinite(clip_norm) and clip_norm > 0):
            raise NngridError(f"clip_norm must be a positive number, got {clip_norm!r}")
    if task == "classification":
        n_out = int(max(arrays[f"y_{p}"].max(initial=0) for p in ("train", "val", "test"))) + 1
        n_out = max(n_out, 2)
    else:
        n_out = arrays["y_train"].shape[1]

    # ---- batch size
    if batch_size is None or batch_size == "full":
        B = n_train
        full_batch = True
    else:
        try:
            B = int(batch_size)
        except (TypeError, ValueError):
            raise NngridError(
                f"batch size must be a positive integer or 'full', got {batch_size!r}"
            ) from None
        if B < 1 or B != float(batch_size):
            raise NngridError(
                f"batch size must be a positive integer or 'full', got {batch_size!r}"
            )
        full_batch = B >= n_train
        B = min(B, n_train)

    # ---- components
    if (hidden is None) == (layers is None):
        raise NngridError("give the architecture as hidden (dense widths) or layers, not both")
    if layers is None:
        if len(row_shape) != 1:
            raise NngridError(
                f"hidden builds a dense network for (n, features) data, but X_train is "
                f"{arrays['X_train'].shape}; use layers with flatten or a sequence layer"
            )
        sizes = [n_features, *_parse_hidden(hidden), n_out]
    else:
        layers = parse_layers(layers)
        first = layers[0].name if layers else "dense"
        in_shape = (
            row_shape
            if len(row_shape) == 2 or first in ("dense", "flatten")
            else (
                row_shape[0],
                1,
            )
        )
    act = ACTIVATIONS.create(activation)
    init_name = init if init is not None else act.default_init
    initializer = INITIALIZERS.create(init_name)
    loss_name = (
        loss
        if loss is not None
        else ("softmax_cross_entropy" if task == "classification" else "mse")
    )
    loss_fn = LOSSES.create(loss_name)
    loss_task = getattr(loss_fn, "task", task)
    if loss_task != task:
        raise NngridError(
            f"loss {loss_name!r} is for {loss_task} but the data is {task} "
            f"({'integer labels' if task == 'classification' else 'float targets'})"
        )
    classify = task == "classification"

    reg_params = dict(reg_params or {})
    reg_defaults = REGULARIZERS.check_params(regularizer, reg_params)
    reg_values = {k: _per_replica(f"{regularizer} {k}", v, R) for k, v in reg_params.items()}
    reg_per_replica = [
        {**reg_defaults, **{k: v[r] for k, v in reg_values.items()}} for r in range(R)
    ]
    # each replica's setting must be valid on its own (clear messages naming the bad value) ...
    for combo in {repr(sorted(p.items())): p for p in reg_per_replica}.values():
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
        patience = np.array([int(p.get("patience", reg.patience)) for p in reg_per_replica])

    opt_params = dict(opt_params or {})
    opt_defaults = OPTIMIZERS.check_params(optimizer, opt_params)
    if "lr" not in opt_defaults:
        raise NngridError(f"optimizer {optimizer!r} has no lr parameter")
    lrs = [float(x) for x in _per_replica("lr", opt_params.pop("lr", opt_defaults["lr"]), R)]
    for k, v in opt_params.items():
        values = _per_replica(f"{optimizer} {k}", v, R, pair=k == "betas")
        if len({repr(x) for x in values}) > 1:
            raise NngridError(
                f"only lr may differ between the replicas of one run; {optimizer} {k} got {v!r}"
            )
        opt_params[k] = values[0]
    opt = OPTIMIZERS.create(optimizer, lr=lrs[0], **opt_params)
    opt_resolved = {**opt_defaults, **opt_params}
    if hasattr(opt, "hyperparams"):
        opt_resolved = {k: v for k, v in opt.hyperparams().items() if k != "lr"}

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
    weights = net.weights()
    dropout = (dropout_rate, dropout_rngs) if np.any(dropout_rate > 0) else None

    # learning rate: a scalar while all replicas share it, else one value per parameter element
    same_lr = len(set(lrs)) == 1
    base_lr = lrs[0] if same_lr else net.per_replica(lrs).astype(np.float64)

    # ---- data layout
    X_train, y_train = arrays["X_train"], arrays["y_train"]
    n_batches = 1 if full_batch else -(-n_train // B)
    epoch_gather = (
        not full_batch and R * n_train * (n_features * np_dtype.itemsize + 8) <= EPOCH_GATHER_BYTES
    )
    y_shape_tail = y_train.shape[1:]
    if not full_batch:
        idx = np.empty((R, n_train), np.intp)
        if epoch_gather:
            Xe = np.empty((R, n_train, *row_shape), np_dtype)
            ye = np.empty((R, n_train, *y_shape_tail), y_train.dtype)
        else:
            Xb_full = np.empty((R, B, *row_shape), np_dtype)
            yb_full = np.empty((R, B, *y_shape_tail), y_train.dtype)
            last = n_train - (n_batches - 1) * B
            Xb_last = np.empty((R, last, *row_shape), np_dtype)
            yb_last = np.empty((R, last, *y_shape_tail), y_train.dtype)

    state = _Replicas(R)
    # per-batch results, reduced once per epoch: mean losses and right/wrong of every point
    bounds = [(s, min(s + B, n_train)) for s in range(0, n_train, B)]
    batch_sizes = np.array([e - s for s, e in bounds], np.float64)
    batch_losses = np.empty((R, len(bounds)))
    hits = np.empty((R, n_train), bool)
    pred_full = np.empty((R, B), np.intp)
    pred_last = np.empty((R, bounds[-1][1] - bounds[-1][0]), np.intp)
    # a loss that writes per-example values (softmax cross-entropy) fills one epoch-long array,
    # reduced once per epoch; others return per-batch means
    per_example = getattr(loss_fn, "_fast_per_example", None)
    ep_loss = np.empty((R, n_train), np_dtype) if per_example is not None else None
    # every batch's fixed views, made once: (loss rows, hit rows, argmax buffer)
    views = [
        (
            None if ep_loss is None else ep_loss[:, s:e],
            hits[:, s:e],
            pred_full if e - s == B else pred_last,
        )
        for s, e in bounds
    ]
    if not full_batch and epoch_gather:
        epoch_batches = [(Xe[:, s:e], ye[:, s:e]) for s, e in bounds]
    # the loop's fixed arguments, and which regularizer hooks do anything
    flat_params, flat_grads = [net.flat], [net.flat_grad]
    weight_grads = net.weight_grads()
    penalizes = _overrides(reg, "add_grad")
    projects = _overrides(reg, "project")
    last_good = net.flat.copy()  # parameters at the end of the last finite epoch
    frozen_flat = net.flat.copy()  # the values frozen replicas are held at
    frozen_mask = np.zeros(net.flat.shape, bool)
    frozen_views = net.views(frozen_mask)
    best_flat = net.flat.copy() if patience is not None else None
    any_frozen = False
    # the loss without per-batch target checks (the data were checked once, above)
    value_and_grad = getattr(loss_fn, "_fast_value_and_grad", loss_fn.value_and_grad)
    forward, backward = net.forward, net.backward
    fast_value = getattr(loss_fn, "_fast_value", loss_fn.value)
    factor = None
    epoch_times: list[float] = []
    elapsed = 0.0

    def freeze(r: int, restore_from: np.ndarray | None) -> None:
        nonlocal any_frozen
        if restore_from is not None:
            src = net.views(restore_from)
            for p, s in zip(net.params, src, strict=True):
                p[r] = s[r]
        dst = net.views(frozen_flat)
        for p, d, m in zip(net.params, dst, frozen_views, strict=True):
            d[r] = p[r]
            m[r] = True
        state.active[r] = False
        any_frozen = True

    def split_metrics(part: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Loss and accuracy (None for regression) per replica on a whole split, no dropout."""
        X, y = arrays[f"X_{part}"], arrays[f"y_{part}"]
        if len(X) == 0:
            return np.full(R, np.nan), (np.full(R, np.nan) if classify else None)
        out = net.predict(X)
        return (
            np.asarray(loss_fn.value(out, y), np.float64),
            np.asarray(loss_fn.accuracy(out, y), np.float64) if classify else None,
        )

    def add_test(entry: dict[str, Any], test: tuple, r: int) -> None:
        entry["test_loss"] = _finite_or_none(test[0][r])
        entry["test_accuracy"] = None if test[1] is None else _finite_or_none(test[1][r])

    with np.errstate(all="ignore"):
        if history_initial:
            initial = {part: split_metrics(part) for part in ("train", "val")}
            test = split_metrics("test") if history_test else None
            for r in range(R):
                entry = {"epoch": 0, "seconds": 0.0}
                for part, (lv, av) in initial.items():
                    entry[f"{part}_loss"] = _finite_or_none(lv[r])
                    entry[f"{part}_accuracy"] = None if av is None else _finite_or_none(av[r])
                if test is not None:
                    add_test(entry, test, r)
                state.history[r].append(entry)

        for epoch in range(epochs):
            t0 = time.perf_counter()
            f = float(sched.factor(epoch, epochs))
            if f != factor:
                factor = f
                opt.lr = base_lr * f

            # ---- one pass over the training points
            if full_batch:
                batches = [(X_train, y_train)]
            else:
                for r in range(R):
                    idx[r] = shuffle_rngs[r].permutation(n_train)
                if epoch_gather:
                    # idx holds permutations (always in range): mode="clip" skips the bounds
                    # check, which halves the cost of the gather (measured)
                    np.take(X_train, idx, axis=0, out=Xe, mode="clip")
                    np.take(y_train, idx, axis=0, out=ye, mode="clip")
                    batches = epoch_batches
                else:
                    batches = _gather_batches(
                        X_train, y_train, idx, B, Xb_full, yb_full, Xb_last, yb_last
                    )
            for i, (Xb, yb) in enumerate(batches):
                loss_rows, hit_rows, pred = views[i]
                out = forward(Xb, True, dropout)
                if per_example is not None:
                    grad = per_example(out, yb, loss_rows)
                else:
                    lvals, grad = value_and_grad(out, yb)
                    batch_losses[:, i] = lvals
                if classify:  # right answers, counted once per epoch
                    out.argmax(axis=2, out=pred)
                    np.equal(pred, yb, out=hit_rows)
                backward(grad)
                if penalizes:
                    for W, G in zip(weights, weight_grads, strict=True):
                        reg.add_grad(W, G)
                if clip_norm is not None:
                    clip_gradients(net.grads, clip_norm)
                opt.step(flat_params, flat_grads)
                if projects:
                    for W in weights:
                        reg.project(W)
                if any_frozen:
                    np.copyto(net.flat, frozen_flat, where=frozen_mask)

            # ---- end of epoch: validation, divergence, early stopping, history
            if ep_loss is not None:
                train_loss = ep_loss.sum(axis=1, dtype=np.float64) / n_train
            else:
                train_loss = (batch_losses * batch_sizes).sum(axis=1) / n_train  # no BLAS
            train_acc = np.count_nonzero(hits, axis=1) / n_train if classify else None
            val_out = net.predict(arrays["X_val"])
            val_loss = np.array(fast_value(val_out, arrays["y_val"]), np.float64)
            val_acc = (
                np.asarray(loss_fn.accuracy(val_out, arrays["y_val"]), np.float64)
                if classify
                else None
            )
            params_finite = np.ones(R, bool)
            for p in net.params:
                params_finite &= np.isfinite(p).all(axis=(1, 2))
            elapsed += time.perf_counter() - t0
            epoch_times.append(time.perf_counter() - t0)
            now = elapsed / R
            test = split_metrics("test") if history_test else None  # untimed

            for r in np.flatnonzero(state.active):
                r = int(r)
                tl, vl = float(train_loss[r]), float(val_loss[r])
                entry = {
                    "epoch": epoch + 1,
                    "train_loss": _finite_or_none(tl),
                    "val_loss": _finite_or_none(vl),
                    "train_accuracy": None if train_acc is None else float(train_acc[r]),
                    "val_accuracy": None if val_acc is None else float(val_acc[r]),
                    "seconds": now,
                }
                if test is not None:
                    add_test(entry, test, r)
                state.history[r].append(entry)
                if not (math.isfinite(tl) and math.isfinite(vl) and params_finite[r]):
                    # accuracies of non-finite outputs mean nothing: recorded as None
                    entry["train_accuracy"] = entry["val_accuracy"] = None
                    if test is not None:
                        entry["test_accuracy"] = None
                    state.diverged_epoch[r] = epoch + 1
                    freeze(r, last_good)
                    continue
                if vl < state.best_loss[r]:
                    state.best_loss[r] = vl
                    state.best_epoch[r] = epoch + 1
                    state.wait[r] = 0
                    if best_flat is not None:
                        for p, b in zip(net.params, net.views(best_flat), strict=True):
                            b[r] = p[r]
                else:
                    state.wait[r] += 1
                if val_acc is not None:
                    state.best_acc[r] = max(state.best_acc[r], float(val_acc[r]))
                    if (
                        target_accuracy is not None
                        and state.target_epoch[r] is None
                        and val_acc[r] >= target_accuracy
                    ):
                        state.target_epoch[r] = epoch + 1
                        state.target_seconds[r] = now
                if patience is not None and state.wait[r] >= patience[r]:
                    state.stopped_epoch[r] = epoch + 1
                    freeze(r, None)
            np.copyto(last_good, net.flat)

            if progress is not None:
                progress(epoch + 1, epochs, _progress_metrics(state, R, epoch + 1, now))
            if not state.active.any():
                break

        # ---- final weights: early stopping restores the best; frozen replicas their held values
        if any_frozen:
            np.copyto(net.flat, frozen_flat, where=frozen_mask)
        if best_flat is not None:
            for r in range(R):
                if state.diverged_epoch[r] is None and state.best_epoch[r] is not None:
                    for p, b in zip(net.params, net.views(best_flat), strict=True):
                        p[r] = b[r]
        final = {}
        for part in ("train", "val", "test"):
            if part == "val" and not any_frozen and best_flat is None:
                # the weights are those of the last epoch's validation pass: reuse its metrics
                final[part] = (val_loss, val_acc)
                continue
            final[part] = split_metrics(part)

    seconds_per_epoch = float(np.median(epoch_times)) / R if epoch_times else None
    base_config = {
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
        base_config["layers"] = spec_of(net.layers[:-1])
    if clip_norm is not None:
        base_config["clip_norm"] = clip_norm
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
            "epochs": len(hist) - int(history_initial),
            "diverged": state.diverged_epoch[r] is not None,
            "diverged_epoch": state.diverged_epoch[r],
            "epochs_to_target": state.target_epoch[r],
            "seconds_to_target": state.target_seconds[r],
            "seconds": elapsed / R,
            "seconds_per_epoch": seconds_per_epoch,
            "history": hist,
            "seed": seeds[r],
            "lr": lrs[r],
            "replica": r,
            "config": {
                **base_config,
                "regularizer": regularizer,
                "reg_params": _plain(reg_per_replica[r]),
                "opt_params": _plain({"lr": lrs[r], **opt_resolved}),
            },
            "version": nngrid.__version__,
        }
        if state.stopped_epoch[r] is not None:
            record["config"]["stopped_epoch"] = state.stopped_epoch[r]
        records.append(record)
    return (records, net) if return_model else records


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
    from nngrid.regularizers import Regularizer

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
