"""Figure 13: Wilson et al. 2017's separable problem, where adaptive methods generalise worse.

Wilson, Roelofs, Stern, Srebro and Recht, "The Marginal Value of Adaptive Gradient Methods in
Machine Learning" (NeurIPS 2017), section 3.3 ("Adaptivity can overfit"). The reference
material stored here holds only the paper's abstract, which states the result ("GD and SGD
achieve zero test error, and AdaGrad, Adam, and RMSProp attain test errors arbitrarily close to
half"); the construction below is section 3.3's as recalled from the paper, and
``tests/test_wilson.py`` checks the properties the paper derives from it (``X sign(X^T y) =
4 y``, the adaptive methods' limit, the minimum-norm solution's zero test error). The section
fixes no ``n`` or ``p`` (its result holds for any ``n`` with ``b > 0`` and any ``p > 1/2``);
the default study takes ``n_train = 60`` and ``p = 0.55``, so the adaptive limit's test error
is near ``1 - p = 0.45``.

* labels ``y_i`` in {-1, +1}, ``+1`` with probability ``p > 1/2``;
* features (``j`` from 1): ``x_i1 = y_i`` (the label itself, the only feature that
  generalises); ``x_i2 = x_i3 = 1`` (constants); ``x_ij = 1`` for ``j = 4 + 5(i - 1), ...,
  4 + 5(i - 1) + 2(1 - y_i)``: one feature of its own for a positive point, five for a negative
  one, which no other point has; every other ``x_ij = 0``. More features than points
  (``3 + 5 n``), linearly separable (by the first feature alone);
* the loss is least squares, ``(1/2) ||X w - y||^2`` (here divided by ``n``), full batch, from
  ``w = 0``, no bias (the paper's model; a bias would be a fourth constant feature and break
  the lemma below).

Why it separates the methods (the paper's Lemma 3.1 and its section 3.3): with ``u = X^T y`` and
``b = sum_i y_i > 0`` (the paper assumes it; here the training labels are redrawn until it
holds), ``sign(u) = (1, 1, 1, y_i on point i's own features)`` and ``X sign(u) = 4 y``; the
lemma then says AdaGrad, RMSProp and Adam from 0 all converge to a ``w`` proportional to
``sign(u)``. A new point shares only the first three features with the training set, so its
score is ``tau (y + 2) > 0``: every new point is labelled positive, a test error of ``1 - p``
(near one half as ``p`` nears one half). Gradient descent and SGD from 0 stay in the row space
of ``X`` and reach the minimum-norm solution, which (the paper shows) weights the label feature
enough to classify every new point correctly: test error 0.

Here: ``n_train`` training points, ``n_val`` validation and ``n_test`` test points drawn the
same way (labels i.i.d., each point with features of its own). A held-out point's own features
are columns no training point has: their gradient is exactly 0, so every optimizer here leaves
their weights at 0 and a held-out score is ``w_1 y + w_2 + w_3`` (the test checks this against
the full matrix). Each optimizer (``nngrid.core.optim``, its PyTorch defaults but the rate)
runs every rate of ``lr_grid`` at once (per-replica rates, ``w`` of shape ``(R, d, 1)``) for
``steps`` full-batch steps. The tuned rate is chosen among the rates that fit the training set
(final training loss at most :data:`FIT_TOLERANCE` times the loss at ``w = 0``; all rates when
none does): the lowest validation error, then the lowest final training loss, then the smaller
rate. The question is which of the many solutions of ``X w = y`` a method finds; a rate still
far from any solution could score well on validation by luck. A rate whose loss left the finite
numbers scores worst; ``lr_on_edge`` flags a winner at either end of the grid. Every data draw
(``data_seeds``) repeats all of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result

#: Features every point has: the label, and two constants.
SHARED = 3
#: Columns reserved per point (a negative point uses all five, a positive one the first).
BLOCK = 5
#: A rate "fits" when its final training loss is at most this share of the loss at w = 0.
FIT_TOLERANCE = 1e-3


def wilson_features(y: np.ndarray, first_point: int = 0, columns: int | None = None) -> np.ndarray:
    """The rows of Wilson et al.'s construction for labels ``y`` (+-1): point ``k`` is point
    ``first_point + k`` of the whole sample, its own features at columns ``3 + 5 (first_point +
    k)`` onwards (one if positive, five if negative). ``columns`` (default: up to this block's
    last) truncates or pads the matrix."""
    y = np.asarray(y, dtype=float)
    n = y.size
    width = SHARED + BLOCK * (first_point + n) if columns is None else int(columns)
    X = np.zeros((n, width))
    X[:, 0] = y
    X[:, 1:SHARED] = 1.0
    for k, label in enumerate(y):
        start = SHARED + BLOCK * (first_point + k)
        stop = start + (1 if label > 0 else BLOCK)
        X[k, start : min(stop, width)] = 1.0
    return X


def _labels(rng: np.random.Generator, n: int, p: float) -> np.ndarray:
    return np.where(rng.random(n) < p, 1.0, -1.0)


def draw(seed: int, n_train: int, n_val: int, n_test: int, p: float) -> dict[str, np.ndarray]:
    """One data draw: training labels redrawn until more positives than negatives (the paper's
    ``b > 0``); validation and test labels i.i.d. The held-out matrices keep only the training
    columns (see the module docstring)."""
    rng = np.random.default_rng(int(seed))
    while True:
        y_train = _labels(rng, n_train, p)
        if y_train.sum() > 0:
            break
    y_val, y_test = _labels(rng, n_val, p), _labels(rng, n_test, p)
    X = wilson_features(y_train)
    d = X.shape[1]
    return {
        "X_train": X,
        "y_train": y_train,
        "X_val": wilson_features(y_val, n_train, d),
        "y_val": y_val,
        "X_test": wilson_features(y_test, n_train + n_val, d),
        "y_test": y_test,
    }


def _error(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per replica, the share of points whose score ``x . w`` does not have the label's sign
    (a score of exactly 0 counts as an error)."""
    with np.errstate(invalid="ignore"):
        score = (X @ w)[..., 0]  # (R, n)
        return (~(score * y > 0)).mean(axis=-1)


def _train(
    data: dict[str, np.ndarray], optimizer: str, lrs: np.ndarray, steps: int, checkpoints
) -> tuple[np.ndarray, list[dict]]:
    """Full-batch training of one weight vector per rate; returns the final ``w (R, d, 1)``
    and the curve (train loss, train and test error per replica) at each checkpoint."""
    from nngrid.core.optim import make_optimizer

    X, y = data["X_train"], data["y_train"]
    n, d = X.shape
    R = lrs.size
    w = np.zeros((R, d, 1))
    grad = np.empty_like(w)
    opt = make_optimizer(optimizer, lr=lrs.reshape(-1, 1, 1))
    curve = []
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            resid = (X @ w)[..., 0] - y  # (R, n)
            if t in checkpoints:
                curve.append(
                    {
                        "step": t,
                        "train_loss": 0.5 * np.mean(resid**2, axis=-1),
                        "train_error": _error(X, y, w),
                        "test_error": _error(data["X_test"], data["y_test"], w),
                    }
                )
            if t == steps:
                break
            np.matmul(X.T, resid[..., None] / n, out=grad)
            opt.step([w], [grad])
    return w, curve


def wilson_separable(
    optimizers: Sequence[str] = ("sgd", "momentum", "adagrad", "rmsprop", "adam"),
    n_train: int = 60,
    n_val: int = 200,
    n_test: int = 500,
    p: float = 0.55,
    steps: int = 1000,
    lr_grid: Sequence[float] = tuple(np.geomspace(1e-3, 1.0, 7)),
    data_seeds: Sequence[int] = (0, 1, 2, 3, 4),
) -> Result:
    """Each optimizer on Wilson et al.'s construction (module docstring), at its tuned rate.

    Records, one per (data draw, optimizer), the tuned rate's final weights: ``data_seed``,
    ``optimizer``, ``adaptive`` (not of the SGD family: the optimizer's ``plain`` flag),
    ``lr``, ``lr_on_edge``, ``fits`` (see above), ``train_loss``, ``train_error``,
    ``val_error``, ``test_error``, ``test_negative_share`` (the test error of labelling every
    point positive), ``cos_sign`` and ``cos_min_norm`` (cosine of ``w`` with ``sign(X^T y)``,
    the adaptive methods' limit, and with the minimum-norm interpolant ``pinv(X) y``, gradient
    descent's), ``w_label`` and ``w_constant`` (the weight of the label feature and the mean of
    the two constants'). ``tuning``: one row per (draw, optimizer, rate) with its validation
    error, final training loss and ``fits``. ``curves``: the tuned rate's training loss and
    training and test error at log-spaced steps.
    """
    from nngrid.core.optim import OPTIMIZERS
    from nngrid.errors import NngridError

    if not 0.5 < float(p) < 1.0:
        raise NngridError(f"wilson_separable: p must lie in (0.5, 1), got {p!r}")
    lrs = np.asarray(sorted(float(r) for r in lr_grid))
    steps = int(steps)
    checkpoints = set(np.unique(np.geomspace(1, steps, 40).astype(int)).tolist()) | {0, steps}
    records: list[dict] = []
    tuning: list[dict] = []
    curves: list[dict] = []
    for seed in data_seeds:
        data = draw(int(seed), int(n_train), int(n_val), int(n_test), float(p))
        X, y = data["X_train"], data["y_train"]
        sign_u = np.sign(X.T @ y)
        min_norm = np.linalg.pinv(X) @ y
        for name in optimizers:
            w, curve = _train(data, name, lrs, steps, checkpoints)
            loss = curve[-1]["train_loss"]
            val = _error(data["X_val"], data["y_val"], w)
            bad = ~np.isfinite(loss)
            fits = ~bad & (loss <= FIT_TOLERANCE * curve[0]["train_loss"])
            key_fit = np.where(fits, 0, 1) if fits.any() else np.zeros(lrs.size, int)
            key_val = np.where(bad, np.inf, val)
            key_loss = np.where(bad, np.inf, loss)
            best = int(np.lexsort((lrs, key_loss, key_val, key_fit))[0])
            for r, lr in enumerate(lrs):
                tuning.append(
                    {
                        "data_seed": int(seed),
                        "optimizer": name,
                        "lr": float(lr),
                        "val_error": float(val[r]),
                        "train_loss": float(loss[r]),
                        "fits": bool(fits[r]),
                    }
                )
            wb = w[best, :, 0]
            finite = np.isfinite(wb).all()
            records.append(
                {
                    "data_seed": int(seed),
                    "optimizer": name,
                    "adaptive": not getattr(OPTIMIZERS.get(name), "plain", False),
                    "lr": float(lrs[best]),
                    "lr_on_edge": bool(best in (0, lrs.size - 1)),
                    "fits": bool(fits[best]),
                    "steps": steps,
                    "n_train": int(n_train),
                    "features": int(X.shape[1]),
                    "p": float(p),
                    "train_loss": float(loss[best]),
                    "train_error": float(curve[-1]["train_error"][best]),
                    "val_error": float(val[best]),
                    "test_error": float(curve[-1]["test_error"][best]),
                    "test_negative_share": float(np.mean(data["y_test"] < 0)),
                    "cos_sign": _cos(wb, sign_u) if finite else float("nan"),
                    "cos_min_norm": _cos(wb, min_norm) if finite else float("nan"),
                    "w_label": float(wb[0]),
                    "w_constant": float(wb[1:SHARED].mean()),
                }
            )
            for c in curve:
                curves.append(
                    {
                        "data_seed": int(seed),
                        "optimizer": name,
                        "step": int(c["step"]),
                        "train_loss": float(c["train_loss"][best]),
                        "train_error": float(c["train_error"][best]),
                        "test_error": float(c["test_error"][best]),
                    }
                )
    return {"records": records, "tuning": tuning, "curves": curves}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan")
