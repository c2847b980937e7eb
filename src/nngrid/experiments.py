"""The small side experiments behind figures 1 to 8 (NumPy and the nngrid core only).

Each experiment is a function that returns a *result*: a dict with ``"records"``, a list of
flat dicts (one tidy row per measured thing, ready for ``pandas.DataFrame``), and optionally
NumPy arrays under other keys (decision-boundary grids, fitted curves, weights). :func:`save`
writes a result to one ``.npz`` (records as a JSON string, so no pickle) and :func:`load` reads it.

| figure | function | question |
|---|---|---|
| 1 | :func:`activation_curves` | what does every activation and its derivative look like? |
| 2 | :func:`nonlinearity_boundaries` | can a net without a nonlinearity separate moons or xor? |
| 3 | :func:`gradient_flow` | where do per-layer gradient norms vanish or explode with depth? |
| 4 | :func:`regression_overfitting` | does a net overfit noisy points; what cures it? |
| 5 | :func:`data_size_sweep` | does more data close the train/test gap? |
| 6 | :func:`regularizer_boundaries` | what do regularizers do to boundaries and weights? |
| 7 | :func:`batch_size_curves` | mini-batch vs full batch: loss against epochs and seconds |
| 8 | :func:`optimizer_paths` | how does each optimizer move on 2-D test functions? |

Randomness: every function takes a ``seed`` and draws only from Generators derived from it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nngrid.io import load_npz, to_jsonable, write_npz

Result = dict[str, Any]


# --------------------------------------------------------------------------- files


def save(path: str | Path, result: Result) -> Path:
    """Write ``result`` to ``path`` (.npz): arrays as they are, lists (of records) as JSON text."""
    arrays = {}
    for key, value in result.items():
        if isinstance(value, list):
            arrays[key] = np.array(json.dumps(to_jsonable(value), sort_keys=True))
        else:
            arrays[key] = np.asarray(value)
    return write_npz(path, **arrays)


def load(path: str | Path) -> Result:
    """Read a result written by :func:`save`."""
    data = load_npz(path)
    out: Result = {}
    for key in data:
        value = np.asarray(data[key])
        out[key] = json.loads(str(value)) if value.dtype.kind == "U" else value
    return out


# --------------------------------------------------------------------------- training


class Fit:
    """A trained stack: the network, its per-epoch history and its final metrics.

    ``history`` is a list of per-epoch dicts (``epoch`` from 0, the initial weights, to the last
    epoch trained) with ``seconds`` and, per replica (NumPy arrays, NaN where a replica's history
    has ended or its value was not finite), ``train_loss``, ``val_loss``, ``test_loss`` and, for
    classification, ``train_accuracy``, ``val_accuracy``, ``test_accuracy``. ``final`` holds the
    same keys per replica for the final weights (whole splits, no dropout; after early stopping's
    restoration): the records' final metrics of :func:`nngrid.train.train_replicas`.
    """

    def __init__(self, model, history: list[dict], final: dict[str, np.ndarray]):
        self.model = model
        self.history = history
        self.final = final


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
    """Train ``len(seeds)`` replicas of one MLP with :func:`nngrid.train.train_replicas`.

    The training is the project's one loop (``batch_size=None`` is the full batch; each replica
    shuffles with its own seed; regularizer, dropout and early stopping as there), run with
    ``history_test``, ``history_initial`` and ``return_model``; this only reshapes its records
    into a :class:`Fit`. The history's ``train_loss`` and ``train_accuracy`` are those of the
    epoch's points as they were seen (with dropout, if any); ``seconds`` is the training time so
    far (the validation pass included, the test pass not).
    """
    from nngrid.train import train_replicas

    records, model = train_replicas(
        data,
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
        return_model=True,
    )
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


# --------------------------------------------------------------------------- figure 1


def activation_curves(
    names: Sequence[str] | None = None, lo: float = -4.0, hi: float = 4.0, points: int = 161
) -> Result:
    """Every activation ``f`` and its derivative ``f'`` on ``points`` values of ``[lo, hi]``.

    Records: ``activation, x, curve ("f(x)" or "f'(x)"), value``. The derivative is the
    activation's own :meth:`derivative` (the one backpropagation uses), evaluated in float64.
    """
    from nngrid.activations import ACTIVATIONS

    names = list(names) if names else ACTIVATIONS.names()
    x = np.linspace(lo, hi, points)
    records = []
    for name in names:
        act = ACTIVATIONS.create(name)
        f = np.asarray(act.forward(x.copy()), dtype=float)
        d = np.asarray(act.derivative(x.copy()), dtype=float)
        for curve, values in (("f(x)", f), ("f'(x)", d)):
            records += [
                {"activation": name, "x": float(a), "curve": curve, "value": float(v)}
                for a, v in zip(x, values, strict=True)
            ]
    return {"records": records}


# --------------------------------------------------------------------------- figure 8


class TestFunction:
    """A 2-D function with its gradient, a start point and its minimiser (if bounded)."""

    name = ""
    start = (0.0, 0.0)
    minimum: tuple[float, float] | None = None
    box = ((-1.0, 1.0), (-1.0, 1.0))  # plotting limits (x range, y range)

    def value(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grad(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class Bowl(TestFunction):
    """Ill-conditioned bowl ``f = x^2/20 + y^2``; gradient ``(x/10, 2y)``; minimum at 0."""

    name = "bowl"
    start = (-7.0, 2.0)
    minimum = (0.0, 0.0)
    box = ((-8.0, 8.0), (-3.0, 3.0))

    def value(self, x, y):
        return x**2 / 20.0 + y**2

    def grad(self, x, y):
        return x / 10.0, 2.0 * y


class Rosenbrock(TestFunction):
    """``f = (1 - x)^2 + 100 (y - x^2)^2``; gradient ``(-2(1-x) - 400 x (y-x^2), 200 (y-x^2))``;
    minimum at (1, 1), at the end of a long curved valley."""

    name = "rosenbrock"
    start = (-1.5, 1.5)
    minimum = (1.0, 1.0)
    box = ((-2.0, 2.0), (-1.0, 3.0))

    def value(self, x, y):
        return (1 - x) ** 2 + 100.0 * (y - x**2) ** 2

    def grad(self, x, y):
        r = y - x**2
        return -2.0 * (1 - x) - 400.0 * x * r, 200.0 * r


class Beale(TestFunction):
    """``f = sum_i (c_i - x + x y^i)^2`` with ``c = (1.5, 2.25, 2.625)``, ``i = 1, 2, 3``;
    ``df/dx = sum_i 2 t_i (y^i - 1)``, ``df/dy = sum_i 2 t_i i x y^(i-1)`` with ``t_i`` the
    i-th term; minimum at (3, 0.5) in a flat, narrow valley."""

    name = "beale"
    start = (1.0, 1.4)
    minimum = (3.0, 0.5)
    box = ((-0.5, 4.0), (-1.5, 2.0))
    _c = (1.5, 2.25, 2.625)

    def value(self, x, y):
        return sum((c - x + x * y ** (i + 1)) ** 2 for i, c in enumerate(self._c))

    def grad(self, x, y):
        gx = 0.0
        gy = 0.0
        for i, c in enumerate(self._c):
            p = i + 1
            t = c - x + x * y**p
            gx = gx + 2 * t * (y**p - 1)
            gy = gy + 2 * t * p * x * y ** (p - 1)
        return gx, gy


class Saddle(TestFunction):
    """``f = x^2 + y^4/4 - y^2/2``: a saddle at the origin, minima ``-1/4`` at ``(0, +-1)``;
    gradient ``(2x, y^3 - y)``. The start sits almost on the ridge ``y = 0``."""

    name = "saddle"
    start = (-1.5, 1e-3)
    minimum = (0.0, 1.0)
    box = ((-2.0, 2.0), (-1.5, 1.5))

    def value(self, x, y):
        return x**2 + y**4 / 4.0 - y**2 / 2.0

    def grad(self, x, y):
        return 2.0 * x, y**3 - y


TEST_FUNCTIONS: dict[str, TestFunction] = {
    f.name: f for f in (Bowl(), Rosenbrock(), Beale(), Saddle())
}


def _descend(fn: TestFunction, optimizer: str, lr: float, steps: int, hp: dict) -> np.ndarray:
    """Run ``optimizer`` at rate ``lr`` for ``steps`` steps from ``fn.start``.

    Returns the path, shape ``(steps + 1, 2)``. A point that leaves the finite numbers (or
    goes beyond 1e6) stops the run; the remaining steps repeat that point.
    """
    from nngrid.optim import make_optimizer

    theta = np.array([[list(fn.start)]], dtype=np.float64)  # (R=1, 1, 2), a weight's shape
    opt = make_optimizer(optimizer, lr=float(lr), **hp)
    grad = np.zeros_like(theta)
    path = np.empty((steps + 1, 2))
    path[0] = theta[0, 0]
    with np.errstate(all="ignore"):
        for t in range(steps):
            gx, gy = fn.grad(theta[0, 0, 0], theta[0, 0, 1])
            grad[0, 0] = gx, gy
            if not (np.isfinite(grad).all() and (np.abs(theta) < 1e6).all()):
                path[t + 1 :] = theta[0, 0]
                break
            opt.step([theta], [grad])
            path[t + 1] = theta[0, 0]
    return path


#: How close to the minimum a path must come, as a share of ``f(start) - f_min``.
PATH_TOLERANCE = 1e-2


def optimizer_paths(
    functions: Sequence[str] = ("bowl", "rosenbrock", "beale", "saddle"),
    optimizers: Sequence[str] | None = None,
    lr_grid: Sequence[float] = tuple(10.0 ** np.arange(-4.0, 1.01, 0.25)),
    steps: int = 200,
    hyperparams: dict[str, dict] | None = None,
    tolerance: float = PATH_TOLERANCE,
) -> Result:
    """Each optimizer's path on each 2-D test function, at its tuned learning rate.

    Tuning: every rate of ``lr_grid`` runs ``steps`` steps from the function's start. The chosen
    rate is the one that first brings ``f - f_min`` within ``tolerance`` times its value at the
    start in the fewest steps *without the path ever leaving the plotting frame* (``fn.box``):
    fast, and a path one can draw. When no rate in the frame reaches the tolerance, the in-frame
    rate with the lowest final value wins; when every path leaves the frame, the lowest final
    value (a path that leaves the finite numbers scores ``+inf``). Ties go to the smaller rate.
    A winner at either end of the grid is flagged ``lr_on_edge``. Records: one row per
    (function, optimizer, step) of the tuned path with ``x, y, value, lr, lr_on_edge,
    steps_to_tolerance`` (``inf`` if never), ``in_frame`` and ``tolerance``; arrays
    ``path__<fn>__<opt>``. How fast *this* rate gets near the minimum of *this* function from
    *this* start says nothing about which optimizer is better on data.
    """
    from nngrid.optim import OPTIMIZERS

    optimizers = list(optimizers) if optimizers else OPTIMIZERS.names()
    hyperparams = hyperparams or {}
    lrs = np.asarray(sorted(lr_grid), dtype=float)
    records: list[dict] = []
    tuning: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    for fname in functions:
        fn = TEST_FUNCTIONS[fname]
        for opt in optimizers:
            paths = [_descend(fn, opt, lr, steps, hyperparams.get(opt, {})) for lr in lrs]
            score = np.array([_score(fn, p) for p in paths])
            frame = np.array([_in_frame(fn, p) for p in paths])
            reach = np.array([_steps_to_tolerance(fn, p, tolerance) for p in paths])
            # fewest steps to the tolerance in the frame; else lowest final value in the frame;
            # else lowest final value (np.lexsort: the last key is the primary one)
            key_reach = np.where(frame, reach, np.inf)
            key_score = np.where(frame, score, np.inf) if frame.any() else score
            best = int(np.lexsort((lrs, key_score, key_reach))[0])
            for lr, s, r, f in zip(lrs, score, reach, frame, strict=True):
                tuning.append(
                    {
                        "function": fname,
                        "optimizer": opt,
                        "lr": float(lr),
                        "final_value": float(s),
                        "steps_to_tolerance": float(r),
                        "in_frame": bool(f),
                    }
                )
            tuned = paths[best]
            arrays[f"path__{fname}__{opt}"] = tuned
            edge = best in (0, lrs.size - 1)
            with np.errstate(all="ignore"):
                values = fn.value(tuned[:, 0], tuned[:, 1])
            for t, ((x, y), v) in enumerate(zip(tuned, values, strict=True)):
                records.append(
                    {
                        "function": fname,
                        "optimizer": opt,
                        "step": t,
                        "x": float(x),
                        "y": float(y),
                        "value": float(v),
                        "lr": float(lrs[best]),
                        "lr_on_edge": bool(edge),
                        "steps_to_tolerance": float(reach[best]),
                        "in_frame": bool(frame[best]),
                        "tolerance": float(tolerance),
                    }
                )
    return {"records": records, "tuning": tuning, **arrays}


def _in_frame(fn: TestFunction, path: np.ndarray) -> bool:
    """Whether every point of ``path`` lies inside the function's plotting frame ``fn.box``."""
    (x0, x1), (y0, y1) = fn.box
    x, y = path[:, 0], path[:, 1]
    with np.errstate(invalid="ignore"):
        return bool(
            np.isfinite(path).all() and ((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).all()
        )


def _steps_to_tolerance(fn: TestFunction, path: np.ndarray, tolerance: float) -> float:
    """The first step at which ``f - f_min <= tolerance * (f(start) - f_min)``; ``inf`` if none."""
    if fn.minimum is None:  # unbounded below: no tolerance to reach
        return math.inf
    fmin = float(fn.value(*fn.minimum))
    with np.errstate(all="ignore"):
        gap = fn.value(path[:, 0], path[:, 1]) - fmin
    hit = np.flatnonzero(np.isfinite(gap) & (gap <= tolerance * gap[0]))
    return float(hit[0]) if hit.size else math.inf


def _score(fn: TestFunction, path: np.ndarray) -> float:
    """Final value of a path; ``+inf`` if it left the finite numbers or escaped to 1e6."""
    x, y = path[-1]
    with np.errstate(all="ignore"):
        value = float(fn.value(x, y))
    if not np.isfinite(path).all() or np.abs(path).max() >= 1e6 or not math.isfinite(value):
        return math.inf
    return value


# --------------------------------------------------------------------------- figure 2


def nonlinearity_boundaries(
    datasets: Sequence[str] = ("moons", "circles", "spirals", "xor"),
    activations: Sequence[str] = ("identity", "relu", "tanh", "sigmoid"),
    hidden: Sequence[int] = (32, 32),
    epochs: int = 100,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 1e-2,
    seed: int = 0,
    mesh: int = 80,
    dataset_params: dict[str, dict] | None = None,
) -> Result:
    """The same network with each activation on 2-D data no straight line separates.

    With ``identity`` every layer is affine, so the whole network is one affine map
    ``x -> W x + b`` and its boundary ``{x : p(class 1 | x) = 1/2}`` is a straight line, however
    many layers; a nonlinear ``f`` lets the boundary bend. Records per (dataset, activation):
    ``train_accuracy, test_accuracy``. Arrays: ``X__<ds>``, ``y__<ds>`` (training points),
    ``gx__<ds>``, ``gy__<ds>`` (mesh axes) and ``proba__<ds>__<act>`` (``P(class 1)`` on the mesh).
    """
    from nngrid.datasets import build

    records: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    for ds in datasets:
        data = build(ds, seed, **(dataset_params or {}).get(ds, {}))
        gx, gy = _mesh(data["X_train"], mesh)
        arrays |= {f"X__{ds}": data["X_train"], f"y__{ds}": data["y_train"]}
        arrays |= {f"gx__{ds}": gx, f"gy__{ds}": gy}
        for act in activations:
            run = fit(
                data,
                hidden=hidden,
                activation=act,
                optimizer=optimizer,
                lr=lr,
                batch_size=batch_size,
                epochs=epochs,
                seeds=(seed,),
            )
            records.append(
                {
                    "dataset": ds,
                    "activation": act,
                    "train_accuracy": float(run.final["train_accuracy"][0]),
                    "test_accuracy": float(run.final["test_accuracy"][0]),
                }
            )
            arrays[f"proba__{ds}__{act}"] = _proba(run.model, gx, gy)
    return {"records": records, **arrays}


# --------------------------------------------------------------------------- figure 3


def _layer_grad_norms(model, loss, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Frobenius norm ``||dL/dW_l||`` of every layer's weight gradient, shape ``(R, L)``."""
    out = model.forward(X)
    _, grad = loss.value_and_grad(out, y)
    model.backward(grad)
    return np.stack(
        [np.sqrt((G.astype(np.float64) ** 2).sum(axis=(1, 2))) for G in model.grads[0::2]], axis=1
    )


def gradient_flow(
    depths: Sequence[int] = (2, 4, 8, 16),
    activations: Sequence[str] = ("sigmoid", "tanh", "relu"),
    initializers: Sequence[str] = ("glorot_uniform", "he_normal"),
    width: int = 32,
    dataset: str = "spirals",
    epochs: int = 20,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 1e-3,
    seeds: Sequence[int] = (0, 1, 2),
    probe: int = 256,
) -> Result:
    """Per-layer gradient norms by depth x activation x initializer, at init and after training.

    For a network of ``depth`` hidden layers of ``width`` units, ``dL/dW_l = H_{l-1}^T dZ_l``
    and ``dZ_{l-1} = f'(Z_{l-1}) * (dZ_l W_l^T)``: each layer multiplies the backward signal by
    ``W_l^T`` and by ``f'``, so with ``|f'| <= 1/4`` (sigmoid) it shrinks geometrically with depth
    (vanishes), and with weights too large it grows (explodes). The norms are measured on a fixed
    probe batch (the first ``probe`` training points) at initialisation (``stage = "init"``) and
    after ``epochs`` epochs (``stage = "trained"``). Records: ``depth, activation, init, stage,
    layer`` (1 = next to the input), ``seed``, ``grad_norm``; plus the final ``test_accuracy``
    per replica in ``accuracy`` records.
    """
    from nngrid.datasets import build
    from nngrid.losses import LOSSES
    from nngrid.network import MLP
    from nngrid.train import replica_rngs

    data = build(dataset, int(seeds[0]))
    loss = LOSSES.create("softmax_cross_entropy")
    Xp, yp = data["X_train"][:probe], data["y_train"][:probe]
    records: list[dict] = []
    accuracy: list[dict] = []
    for depth in depths:
        for act in activations:
            for init in initializers:
                key = {"depth": int(depth), "activation": act, "init": init}
                n_out = int(data["y_train"].max() + 1)
                sizes = [data["X_train"].shape[1], *[width] * depth, n_out]
                at_init = MLP(sizes, act, init, replica_rngs(seeds)[0], np.float64)
                norms = {"init": _layer_grad_norms(at_init, loss, Xp, yp)}
                run = fit(
                    data,
                    hidden=[width] * depth,
                    activation=act,
                    init=init,
                    optimizer=optimizer,
                    lr=lr,
                    batch_size=batch_size,
                    epochs=epochs,
                    seeds=seeds,
                )
                norms["trained"] = _layer_grad_norms(run.model, loss, Xp, yp)
                for stage, g in norms.items():
                    for r, seed in enumerate(seeds):
                        for layer in range(g.shape[1]):
                            records.append(
                                {
                                    **key,
                                    "stage": stage,
                                    "layer": layer + 1,
                                    "seed": int(seed),
                                    "grad_norm": float(g[r, layer]),
                                }
                            )
                for r, seed in enumerate(seeds):
                    accuracy.append(
                        {
                            **key,
                            "seed": int(seed),
                            "test_accuracy": float(run.final["test_accuracy"][r]),
                        }
                    )
    return {"records": records, "accuracy": accuracy}


# --------------------------------------------------------------------------- figures 4 and 5


def regression_overfitting(
    cures: dict[str, dict] | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "tanh",
    epochs: int = 1500,
    optimizer: str = "adam",
    lr: float = 1e-2,
    seed: int = 0,
    eval_every: int = 20,
    dataset_params: dict | None = None,
) -> Result:
    """A noisy 1-D regression fitted without regularisation and with each cure.

    The data is ``regression1d`` (``y = sin(2 pi x) + eps``, a few training points; its test split
    is the noise-free curve on a dense grid, so the test loss measures the distance to the true
    curve). Each cure is ``{"regularizer": name, "reg_params": {...}}`` or
    ``{"n_samples": n}`` (more data). Full-batch training. Records: per (cure, epoch) for epoch 0
    (the initial weights), every ``eval_every``-th epoch and the last one trained,
    ``train_loss, val_loss, test_loss``. Arrays: ``x_train__<cure>``, ``y_train__<cure>``,
    ``x_test``, ``y_test``, ``fit__<cure>`` (the fitted curve on ``x_test``).
    """
    from nngrid.datasets import build

    cures = cures or {
        "none": {},
        "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-3}},
        "l1": {"regularizer": "l1", "reg_params": {"strength": 1e-3}},
        "dropout": {"regularizer": "dropout", "reg_params": {"rate": 0.2}},
        "early_stopping": {"regularizer": "early_stopping", "reg_params": {"patience": 100}},
        "more data": {"n_samples": 300},
    }
    records: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    for cure, spec in cures.items():
        params = dict(dataset_params or {})
        if "n_samples" in spec:
            params["n_samples"] = spec["n_samples"]
        data = build("regression1d", seed, **params)
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            regularizer=spec.get("regularizer", "none"),
            reg_params=spec.get("reg_params"),
            batch_size=None,
            epochs=epochs,
            seeds=(seed,),
        )
        end = run.history[-1]["epoch"]
        kept = [h for h in run.history if h["epoch"] % eval_every == 0 or h["epoch"] == end]
        records += _long(kept, cure=cure)
        arrays[f"x_train__{cure}"] = data["X_train"][:, 0]
        arrays[f"y_train__{cure}"] = data["y_train"][:, 0]
        arrays[f"fit__{cure}"] = run.model.predict(data["X_test"])[0, :, 0]
        arrays["x_test"] = data["X_test"][:, 0]
        arrays["y_test"] = data["y_test"][:, 0]
    return {"records": records, "cures": list(cures), **arrays}


def data_size_sweep(
    sizes: Sequence[int] = (15, 30, 100, 300, 1000),
    hidden: Sequence[int] = (64, 64),
    activation: str = "tanh",
    epochs: int = 1000,
    optimizer: str = "adam",
    lr: float = 1e-2,
    seeds: Sequence[int] = (0, 1, 2),
    noise: float = 0.3,
) -> Result:
    """Train/test loss of the same unregularised network against the training-set size.

    ``regression1d`` with ``n_samples = n`` (the validation split is carved out of it) and test
    targets with the *same* noise as training (``test_noise = noise``), so both losses share the
    noise floor ``noise^2 / 2`` and ``gap = test_loss - train_loss`` measures overfitting alone.
    Full batch for ``epochs`` epochs; one data draw per size (seed ``seeds[0]``), one replica per
    seed (initial weights). Records per (n, seed): ``n_train, train_loss, test_loss, gap``.
    """
    from nngrid.datasets import build

    records = []
    for n in sizes:
        data = build("regression1d", int(seeds[0]), n_samples=int(n), noise=noise, test_noise=noise)
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            batch_size=None,
            epochs=epochs,
            seeds=seeds,
        )
        for r, seed in enumerate(seeds):
            train, test = float(run.final["train_loss"][r]), float(run.final["test_loss"][r])
            records.append(
                {
                    "n_samples": int(n),
                    "n_train": int(data["X_train"].shape[0]),
                    "seed": int(seed),
                    "train_loss": train,
                    "test_loss": test,
                    "gap": test - train,
                }
            )
    return {"records": records}


# --------------------------------------------------------------------------- figure 6


def regularizer_boundaries(
    regularizers: dict[str, dict] | None = None,
    dataset: str = "moons",
    dataset_params: dict | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    epochs: int = 300,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 5e-3,
    seed: int = 0,
    mesh: int = 80,
) -> Result:
    """Decision boundaries and weight distributions under each regularizer.

    ``regularizers`` maps a label to ``{"regularizer": name, "reg_params": {...}}``; the default
    is none, l1, l2, lp (p = 3 and 4) and dropout on noisy moons with few points, where the
    unregularised boundary bends around noise. Penalties ``s sum |W|^p`` pull weights to zero
    with force ``s p |W|^(p-1)``: constant for p = 1 (small weights reach 0: sparse), linear for
    p = 2, and vanishing near 0 for p = 3, 4 (only the large weights are squeezed). Records per
    label: accuracies, the share of ``|W| < 1e-3`` and ``max |W|``. Arrays: ``X``, ``y``,
    ``gx``, ``gy``, ``proba__<label>``, ``weights__<label>`` (all weights, flattened).
    """
    from nngrid.datasets import build

    regularizers = regularizers or {
        "none": {},
        "l1": {"regularizer": "l1", "reg_params": {"strength": 1e-3}},
        "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-3}},
        "lp3": {"regularizer": "lp", "reg_params": {"strength": 1e-3, "p": 3}},
        "lp4": {"regularizer": "lp", "reg_params": {"strength": 1e-3, "p": 4}},
        "dropout": {"regularizer": "dropout", "reg_params": {"rate": 0.3}},
    }
    data = build(dataset, seed, **(dataset_params or {"n_samples": 200, "noise": 0.35}))
    gx, gy = _mesh(data["X_train"], mesh)
    arrays = {"X": data["X_train"], "y": data["y_train"], "gx": gx, "gy": gy}
    records = []
    for label, spec in regularizers.items():
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            regularizer=spec.get("regularizer", "none"),
            reg_params=spec.get("reg_params"),
            batch_size=batch_size,
            epochs=epochs,
            seeds=(seed,),
        )
        w = np.concatenate([W[0].ravel() for W in run.model.weights()]).astype(np.float64)
        records.append(
            {
                "label": label,
                "regularizer": spec.get("regularizer", "none"),
                "train_accuracy": float(run.final["train_accuracy"][0]),
                "test_accuracy": float(run.final["test_accuracy"][0]),
                "near_zero": float(np.mean(np.abs(w) < 1e-3)),
                "max_abs_weight": float(np.abs(w).max()),
            }
        )
        arrays[f"proba__{label}"] = _proba(run.model, gx, gy)
        arrays[f"weights__{label}"] = w
    return {"records": records, "labels": list(regularizers), **arrays}


# --------------------------------------------------------------------------- figure 7


def batch_size_curves(
    batch_sizes: Sequence[int | None] = (8, 32, 128, None),
    dataset: str = "digits",
    hidden: Sequence[int] = (64,),
    activation: str = "relu",
    epochs: int = 20,
    optimizer: str = "sgd",
    lr: float = 5e-2,
    seeds: Sequence[int] = (0, 1, 2),
) -> Result:
    """Loss against epochs and against wall-clock seconds for several batch sizes.

    One epoch is one pass over the training set: with batch size ``B`` that is ``ceil(n/B)``
    updates, each costing ``O(B)``. Full batch (``None``) is one update per epoch. Same rate for
    all sizes. Records per (batch size, epoch, replica): ``batch_size`` (``n`` for full),
    ``full_batch``, ``seconds`` (training time so far, the validation pass included), losses and
    accuracies (epoch 0: the initial weights, at 0 seconds).
    """
    from nngrid.datasets import build

    data = build(dataset, int(seeds[0]))
    n = data["X_train"].shape[0]
    records = []
    for bs in batch_sizes:
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            batch_size=bs,
            epochs=epochs,
            seeds=seeds,
        )
        label = f"full ({n})" if not bs else str(bs)
        records += _long(run.history, batch_size=int(bs or n), batch=label, full_batch=not bs)
    return {"records": records}


# --------------------------------------------------------------------------- running from config

#: Experiment name (a key of the config's ``experiments`` section) -> function.
EXPERIMENTS = {
    "activation_curves": activation_curves,
    "optimizer_paths": optimizer_paths,
    "nonlinearity_boundaries": nonlinearity_boundaries,
    "gradient_flow": gradient_flow,
    "regression_overfitting": regression_overfitting,
    "data_size_sweep": data_size_sweep,
    "regularizer_boundaries": regularizer_boundaries,
    "batch_size_curves": batch_size_curves,
}

#: Keys of an experiment's config section that only the figures read.
PLOT_KEYS = ("plot",)


def settings(name: str, section: dict, seed: int = 0) -> dict:
    """Keyword arguments for experiment ``name`` from its config ``section``.

    ``lr_grid: {low, high, points}`` becomes ``points`` log-spaced rates from ``low`` to
    ``high``; a batch size ``"full"`` becomes ``None`` (the full batch); ``seed`` comes from the
    section or the ``experiments.seed`` default; the figure-only ``plot`` key is dropped. An
    unknown key raises :class:`~nngrid.errors.NngridError` naming it and the valid ones.
    """
    import inspect

    from nngrid.errors import NngridError, choices_message

    if name not in EXPERIMENTS:
        raise NngridError(choices_message("experiment", name, list(EXPERIMENTS)))
    accepted = inspect.signature(EXPERIMENTS[name]).parameters
    kwargs = {k: v for k, v in (section or {}).items() if k not in PLOT_KEYS}
    for key in kwargs:
        if key not in accepted:
            raise NngridError(
                f"experiments.{name} has no key {key!r}; valid keys: "
                + ", ".join([*accepted, *PLOT_KEYS])
            )
    grid = kwargs.get("lr_grid")
    if isinstance(grid, dict):
        kwargs["lr_grid"] = np.geomspace(grid["low"], grid["high"], int(grid["points"])).tolist()
    if "batch_sizes" in kwargs:
        kwargs["batch_sizes"] = [
            None if b in ("full", None) else int(b) for b in kwargs["batch_sizes"]
        ]
    if "seed" in accepted and "seed" not in kwargs:
        kwargs["seed"] = int(seed)
    return kwargs


def run(name: str, section: dict, seed: int = 0) -> Result:
    """Run experiment ``name`` with the settings of its config ``section``."""
    return EXPERIMENTS[name](**settings(name, section, seed))
