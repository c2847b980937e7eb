"""Regularizers: a penalty on the weights, a weight projection, or a training-loop setting.

Penalties act on weights, never on biases: the network hands a regularizer only the
weight matrices ``W`` of shape ``(R, fan_in, fan_out)`` (one call per layer). Interface:

* ``penalty(W) -> (R,)`` float64, the term added to replica r's data loss;
* ``add_grad(W, G)`` adds ``dP/dW`` into ``G`` in place (and writes nothing else);
* ``project(W)`` changes ``W`` in place after the optimizer step (no-op by default);
* ``dropout_rate`` (0.0 by default) and ``patience`` (None by default) tell the network
  and the trainer about inverted dropout and early stopping;
* the class attribute ``sweep`` names the parameter a grid sweeps (None: nothing to sweep).

===============  ========================================  ================================
name             penalty P(W) / effect                     dP/dW
===============  ========================================  ================================
none             0                                         0
l1               s sum |W|                                 s sign(W)  (0 at W = 0)
l2               s sum W^2                                 2 s W
lp               s sum |W|^p   (p = 3 by default)          s p |W|^(p-1) sign(W)
elastic_net      s (r sum |W| + (1 - r) sum W^2)           s (r sign(W) + 2 (1 - r) W)
max_norm         0; project(): each column W[r, :, j] (a   0
                 hidden unit's incoming weights) rescaled
                 to Euclidean norm <= max_norm
dropout          0; the network applies inverted dropout   0
                 with probability ``rate``
early_stopping   0; the trainer stops after ``patience``   0
                 epochs without a better validation
                 ``monitor`` (accuracy or loss)
===============  ========================================  ================================

``s`` is ``strength`` and ``r`` is ``l1_ratio``. Strengths, rates and max-norms are
scalars or 1-D arrays of length R (one value per replica, broadcast as ``(R, 1, 1)``);
the arithmetic runs in W's dtype so a replica computes the same numbers in a stack as alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nngrid.core.hyper import Component, Hyper
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

REGULARIZERS = Registry("regularizer")


def _as3(x: float | np.ndarray, dtype) -> np.ndarray:
    """A scalar as a 0-d array, a per-replica vector as (R, 1, 1), in ``dtype``."""
    a = np.asarray(x, dtype=dtype)
    return a.reshape(-1, 1, 1) if a.ndim == 1 else a


def _sum_w(x: np.ndarray) -> np.ndarray:
    """Sum over the last two axes in float64: (R, fan_in, fan_out) -> (R,)."""
    return x.sum(axis=(-2, -1), dtype=np.float64)


class Regularizer(Component):
    """Base class: no penalty, no projection, no dropout, no early stopping. Parameters are
    declared in ``hypers``; a ``per_replica`` one takes a scalar or a 1-D array (one value per
    replica)."""

    name = "regularizer"
    sweep: str | None = None
    dropout_rate: float | np.ndarray = 0.0
    patience: int | None = None

    def validate(self) -> None:
        for h in type(self).hypers:
            if h.per_replica and np.ndim(getattr(self, h.name)) > 1:
                raise NngridError(
                    f"{self.name} {h.name} must be a number or a 1-D array, got "
                    f"{getattr(self, h.name)!r}"
                )

    def penalty(self, W: np.ndarray) -> np.ndarray:
        return np.zeros(W.shape[:-2], dtype=np.float64)

    def add_grad(self, W: np.ndarray, G: np.ndarray) -> None:
        return None

    def project(self, W: np.ndarray) -> None:
        return None

    def params(self) -> dict[str, Any]:
        """Constructor parameters and their values (lists for per-replica arrays)."""
        return {
            k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in vars(self).items()
            if not k.startswith("_")
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


@REGULARIZERS.register("none")
class NoRegularizer(Regularizer):
    """No regularization."""


STRENGTH = Hyper("strength", float, 1e-4, low=0.0, per_replica=True, help="penalty strength")


class _Strength(Regularizer):
    sweep = "strength"
    hypers = (STRENGTH,)

    def _s(self, W):
        return _as3(self.strength, W.dtype)

    def _s_vec(self):
        return np.asarray(self.strength, dtype=np.float64)


@REGULARIZERS.register("l1")
class L1(_Strength):
    """Lasso penalty ``strength * sum |W|``; its (sub)gradient ``strength * sign(W)``."""

    def penalty(self, W):
        return self._s_vec() * _sum_w(np.abs(W))

    def add_grad(self, W, G):
        t = np.sign(W)
        t *= self._s(W)
        G += t


@REGULARIZERS.register("l2")
class L2(_Strength):
    """Ridge penalty ``strength * sum W^2``; gradient ``2 strength W`` (no factor 1/2)."""

    def penalty(self, W):
        return self._s_vec() * _sum_w(np.square(W))

    def add_grad(self, W, G):
        t = np.multiply(W, self._s(W) * W.dtype.type(2.0))
        G += t


@REGULARIZERS.register("lp")
class Lp(_Strength):
    """``strength * sum |W|^p`` (p = 3: cubes, 4: fourth powers); grad ``s p |W|^(p-1) sign W``."""

    hypers = (STRENGTH, Hyper("p", float, 3.0, low=1.0, help="the power"))

    def penalty(self, W):
        a = np.abs(W)
        np.power(a, W.dtype.type(self.p), out=a)
        return self._s_vec() * _sum_w(a)

    def add_grad(self, W, G):
        t = np.abs(W)
        np.power(t, W.dtype.type(self.p - 1.0), out=t)
        t *= np.sign(W)
        t *= self._s(W) * W.dtype.type(self.p)
        G += t


@REGULARIZERS.register("elastic_net")
class ElasticNet(_Strength):
    """``strength * (l1_ratio sum |W| + (1 - l1_ratio) sum W^2)``."""

    hypers = (
        STRENGTH,
        Hyper("l1_ratio", float, 0.5, low=0.0, high=1.0, per_replica=True, help="share of L1"),
    )

    def penalty(self, W):
        r = np.asarray(self.l1_ratio, dtype=np.float64)
        return self._s_vec() * (r * _sum_w(np.abs(W)) + (1.0 - r) * _sum_w(np.square(W)))

    def add_grad(self, W, G):
        dt = W.dtype.type
        r = _as3(self.l1_ratio, W.dtype)
        s = self._s(W)
        t = np.multiply(W, s * ((dt(1.0) - r) * dt(2.0)))
        G += t
        np.sign(W, out=t)
        t *= s * r
        G += t


@REGULARIZERS.register("max_norm")
class MaxNorm(Regularizer):
    """Max-norm constraint: after each step, every column ``W[r, :, j]`` (the incoming
    weights of hidden unit j) is rescaled to Euclidean norm at most ``max_norm``."""

    sweep = "max_norm"

    hypers = (
        Hyper(
            "max_norm",
            float,
            3.0,
            low=0.0,
            low_open=True,
            per_replica=True,
            help="largest norm of a unit's incoming weights",
        ),
    )

    def project(self, W):
        norms = np.sqrt(np.square(W).sum(axis=-2, keepdims=True))  # (R, 1, fan_out)
        c = _as3(self.max_norm, W.dtype)
        # scale = min(1, c / norm); norm 0 gives scale 1
        with np.errstate(divide="ignore"):
            scale = np.divide(c, norms)
        np.minimum(scale, W.dtype.type(1.0), out=scale)
        W *= scale


@REGULARIZERS.register("dropout")
class Dropout(Regularizer):
    """Inverted dropout with drop probability ``rate`` in [0, 1), applied by the network:
    in training each hidden activation is zeroed with probability ``rate`` and the rest
    are scaled by ``1 / (1 - rate)``; evaluation uses the full network unscaled."""

    sweep = "rate"

    hypers = (
        Hyper(
            "rate",
            float,
            0.5,
            low=0.0,
            high=1.0,
            high_open=True,
            per_replica=True,
            help="drop probability",
        ),
    )

    @property
    def dropout_rate(self):
        return self.rate


@REGULARIZERS.register("early_stopping")
class EarlyStopping(Regularizer):
    """Early stopping: the trainer stops once the monitored validation result has not improved
    for ``patience`` epochs and restores the best weights. ``monitor``: ``accuracy`` (the
    default for classification; a tie is no improvement) or ``loss`` (the default, and the only
    choice, for regression)."""

    sweep = "patience"

    hypers = (
        Hyper("patience", int, 10, low=1, help="epochs without a better validation result"),
        Hyper("monitor", str, "auto", help="accuracy, loss or auto (accuracy if classifying)"),
    )

    def validate(self) -> None:
        super().validate()
        if self.monitor not in ("auto", "accuracy", "loss"):
            raise NngridError(
                f"early_stopping monitor must be accuracy, loss or auto, got {self.monitor!r}"
            )
