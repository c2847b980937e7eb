"""Data losses on replica-stacked outputs ``out`` of shape ``(R, B, C)``.

Every loss averages over the batch axis (-2) and returns one float64 value per replica:

* ``value_and_grad(out, y) -> (loss, grad)``: ``loss`` has shape ``(R,)`` (float64),
  ``grad = d loss_r / d out`` has ``out``'s shape and dtype (so it already carries ``1/B``).
* ``value(out, y) -> (R,)``; ``accuracy(out, y) -> (R,)`` for classification, ``None``
  for regression; ``task`` is ``"classification"`` or ``"regression"``.

softmax_cross_entropy (classification; ``y`` int labels ``(B,)`` shared by all replicas or
``(R, B)``)::

    loss_r = (1/B) sum_b [ logsumexp_c out[r,b,c] - out[r,b,y_b] ]
    grad   = (softmax(out) - onehot(y)) / B

computed with the max shifted out of the exponent (no overflow), and the one-hot
subtraction done by indexing (no one-hot array).

mse (regression; ``y`` float ``(B, k)`` or ``(R, B, k)``; ``(B,)`` is read as ``(B, 1)``)::

    loss_r = (1/B) sum_b (1/2) sum_k (out[r,b,k] - y[b,k])^2
    grad   = (out - y) / B

the factor 1/2 makes the gradient the plain residual.
"""

from __future__ import annotations

import math

import numpy as np

from nngrid.core.hyper import Component, declared_init
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

LOSSES = Registry("loss")


class Loss(Component):
    """Base class: subclasses implement ``value_and_grad`` and ``value``."""

    name = "loss"
    task = "classification"

    def value_and_grad(self, out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def value(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def accuracy(self, out: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        return None

    # The trainer's hot path: targets already checked once for the whole dataset, results may
    # be work arrays that the next call overwrites. Subclasses may override these for speed.
    def _fast_value_and_grad(self, out: np.ndarray, y: np.ndarray):
        return self.value_and_grad(out, y)

    def _fast_value(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.value(out, y)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _labels(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Check integer labels against logits ``(..., B, C)``; return them broadcast to (..., B)."""
    y = np.asarray(y)
    if out.ndim < 2:
        raise NngridError(f"logits must have shape (R, B, C) or (B, C), got {out.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise NngridError(f"class labels must be integers, got dtype {y.dtype}")
    try:
        y = np.broadcast_to(y, out.shape[:-1])
    except ValueError:
        raise NngridError(
            f"labels of shape {y.shape} do not match logits of shape {out.shape}"
        ) from None
    c = out.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= c):
        raise NngridError(f"class labels must be in [0, {c}), got range [{y.min()}, {y.max()}]")
    return y


class _Work:
    """Work arrays of one logits shape and dtype, reused from call to call."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        *lead, B, C = shape
        lead = tuple(lead)
        self.ET = np.empty((*lead, C, B), dtype)  # logits transposed: max over a long axis
        self.mxT = np.empty((*lead, 1, B), dtype)
        self.mx = self.mxT.swapaxes(-1, -2)  # (..., B, 1) view
        self.E = np.empty(shape, dtype)  # exp(out - max), then the gradient
        self.se = np.empty((*lead, B, 1), dtype)  # row sums of E
        self.ones = np.ones((C, 1), dtype)
        self.base = np.arange(0, int(np.prod(shape)), C).reshape(*lead, B)  # flat row starts
        self.fi = np.empty((*lead, B), np.intp)  # flat index of each row's label
        self.pk = np.empty((*lead, B), dtype)  # each row's label logit minus the row max
        self.lse = np.empty((*lead, B), dtype)  # per-example loss
        # views used on every call, made once
        self.se1 = self.se[..., 0]
        self.E_flat, self.fi_flat = self.E.reshape(-1), self.fi.reshape(-1)
        self.loss = np.empty(tuple(lead) or (), np.float64)
        self.inv_b = dtype.type(1.0 / B) if B else dtype.type(1)
        self.inv_b64 = 1.0 / B if B else math.nan


#: Logit shapes whose work arrays :class:`SoftmaxCrossEntropy` keeps (oldest dropped first).
_WORK_CACHE_SIZE = 8


@LOSSES.register("softmax_cross_entropy")
class SoftmaxCrossEntropy(Loss):
    """Softmax followed by the cross-entropy with integer labels (fused, stable).

    Per example ``loss = log(sum_c exp(out_c - m)) + m - out_y`` with ``m = max_c out_c``, in the
    logits' dtype, averaged over the batch in float64. The public methods check the labels and
    return fresh arrays; the trainer uses :meth:`_fast_value_and_grad` (labels checked once per
    dataset, results in reused work arrays).
    """

    task = "classification"

    @declared_init
    def __init__(self, **params) -> None:
        super().__init__(**params)
        self._work: dict[tuple, _Work] = {}

    def _get_work(self, out: np.ndarray) -> _Work:
        key = (out.shape, out.dtype)
        w = self._work.get(key)
        if w is None:
            if len(self._work) >= _WORK_CACHE_SIZE:
                del self._work[next(iter(self._work))]
            w = self._work[key] = _Work(out.shape, out.dtype)
        return w

    def _forward(self, out: np.ndarray, y: np.ndarray, w: _Work, lse: np.ndarray) -> None:
        """Fill ``w.E = exp(out - max)``, its row sums ``w.se``, ``w.fi`` and the per-example
        losses ``lse`` (shape ``out.shape[:-1]``, ``out``'s dtype)."""
        np.copyto(w.ET, out.swapaxes(-1, -2))
        np.maximum.reduce(w.ET, axis=-2, keepdims=True, out=w.mxT)
        np.subtract(out, w.mx, out=w.E)
        np.add(w.base, y, out=w.fi)
        # the label's shifted logit out_y - m; fi is in range by construction (no bounds check)
        np.take(w.E_flat, w.fi, out=w.pk, mode="clip")
        np.exp(w.E, out=w.E)
        np.matmul(w.E, w.ones, out=w.se)  # row sums by BLAS: ~3x faster than a sum over C
        np.log(w.se1, out=lse)
        lse -= w.pk

    def _mean(self, w: _Work) -> np.ndarray:
        np.add.reduce(w.lse, axis=-1, dtype=np.float64, out=w.loss)
        w.loss *= w.inv_b64
        return w.loss

    def _grad(self, w: _Work) -> np.ndarray:
        grad = w.E
        grad /= w.se  # softmax
        # subtract 1 at each example's label, by flat index into the contiguous grad
        w.E_flat[w.fi_flat] -= 1
        grad *= w.inv_b
        return grad

    def _fast_value_and_grad(self, out: np.ndarray, y: np.ndarray):
        """``value_and_grad`` without label checks; both results are reused work arrays.

        ``y`` must hold integer labels in ``[0, C)`` broadcastable to ``out.shape[:-1]``.
        """
        w = self._get_work(out)
        self._forward(out, y, w, w.lse)
        return self._mean(w), self._grad(w)

    def _fast_per_example(self, out: np.ndarray, y: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """The trainer's step: per-example losses into ``losses`` (``out.shape[:-1]``, ``out``'s
        dtype); returns the gradient of the batch mean (a reused work array). No label checks."""
        w = self._get_work(out)
        self._forward(out, y, w, losses)
        return self._grad(w)

    def _fast_value(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``value`` without label checks, into a reused work array."""
        w = self._get_work(out)
        self._forward(out, y, w, w.lse)
        return self._mean(w)

    def value(self, out, y):
        y = _labels(out, y)
        return self._fast_value(out, y).copy()

    def value_and_grad(self, out, y):
        y = _labels(out, y)
        loss, grad = self._fast_value_and_grad(out, y)
        return loss.copy(), grad.copy()

    def accuracy(self, out, y):
        y = _labels(out, y)
        return np.mean(out.argmax(axis=-1) == y, axis=-1, dtype=np.float64)


def _targets(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 1 and out.ndim >= 2 and out.shape[-1] == 1 and y.shape[0] == out.shape[-2]:
        y = y[:, None]
    if y.ndim < 2 or np.broadcast_shapes(y.shape, out.shape) != out.shape:
        raise NngridError(
            f"regression targets of shape {y.shape} do not match outputs of shape {out.shape}; "
            "expected (B, k) or (R, B, k)"
        )
    return y


@LOSSES.register("mse")
class MeanSquaredError(Loss):
    """Half squared error summed over outputs, averaged over the batch."""

    task = "regression"

    def value(self, out, y):
        y = _targets(out, y)
        r = np.subtract(out, y, dtype=out.dtype)
        np.square(r, out=r)
        return 0.5 * r.sum(axis=-1, dtype=np.float64).mean(axis=-1)

    def value_and_grad(self, out, y):
        y = _targets(out, y)
        grad = np.subtract(out, y, dtype=out.dtype)
        sq = np.square(grad)
        loss = 0.5 * sq.sum(axis=-1, dtype=np.float64).mean(axis=-1)
        batch = out.shape[-2]
        grad *= out.dtype.type(1.0 / batch) if batch else 1
        return loss, grad
