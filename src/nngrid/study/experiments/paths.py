"""Figure 8: optimizer paths on 2-D test functions, each at its tuned rate."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result


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


class MomentumBowl(TestFunction):
    """Dive into Deep Learning's ill-conditioned bowl (chapter "Optimization Algorithms",
    section "Momentum"): ``f = 0.1 x^2 + 2 y^2``, gradient ``(0.2 x, 4 y)``, minimum at 0, from
    d2l's start ``(-5, -2)``. Gradient descent at rate 0.4 crawls along x (factor 0.92 per step)
    and at 0.6 diverges along y (factor -1.4); momentum 0.5 at rate 0.6 converges. Not in the
    default figure (a second bowl beside ``bowl``); ``tests/test_experiments.py`` checks the
    optimizers' iterates on it against the closed form."""

    name = "momentum_bowl"
    start = (-5.0, -2.0)
    minimum = (0.0, 0.0)
    box = ((-6.0, 6.0), (-3.0, 3.0))

    def value(self, x, y):
        return 0.1 * x**2 + 2.0 * y**2

    def grad(self, x, y):
        return 0.2 * x, 4.0 * y


TEST_FUNCTIONS: dict[str, TestFunction] = {
    f.name: f for f in (Bowl(), Rosenbrock(), Beale(), Saddle(), MomentumBowl())
}


def _descend(fn: TestFunction, optimizer: str, lr: float, steps: int, hp: dict) -> np.ndarray:
    """Run ``optimizer`` at rate ``lr`` for ``steps`` steps from ``fn.start``.

    Returns the path, shape ``(steps + 1, 2)``. A point that leaves the finite numbers (or
    goes beyond 1e6) stops the run; the remaining steps repeat that point.
    """
    from nngrid.core.optim import make_optimizer

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
    from nngrid.core.optim import OPTIMIZERS

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
