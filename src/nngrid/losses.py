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

import numpy as np

from nngrid.errors import NngridError
from nngrid.registry import Registry

LOSSES = Registry("loss")


class Loss:
    """Base class: subclasses implement ``value_and_grad`` and ``value``."""

    name = "loss"
    task = "classification"

    def value_and_grad(self, out: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def value(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def accuracy(self, out: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        return None

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


def _log_softmax_parts(out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``e = exp(out - max)``, ``sumexp`` and ``max`` (both with keepdims)."""
    shift = out.max(axis=-1, keepdims=True)
    e = np.subtract(out, shift)
    np.exp(e, out=e)
    sumexp = e.sum(axis=-1, keepdims=True)
    return e, sumexp, shift


@LOSSES.register("softmax_cross_entropy")
class SoftmaxCrossEntropy(Loss):
    """Softmax followed by the cross-entropy with integer labels (fused, stable)."""

    task = "classification"

    def _picked(self, out, y):
        return np.take_along_axis(out, y[..., None], axis=-1)[..., 0]

    def value(self, out, y):
        y = _labels(out, y)
        _, sumexp, shift = _log_softmax_parts(out)
        per_example = np.log(sumexp[..., 0], dtype=np.float64)
        per_example += shift[..., 0]
        per_example -= self._picked(out, y)
        return per_example.mean(axis=-1)

    def value_and_grad(self, out, y):
        y = _labels(out, y)
        e, sumexp, shift = _log_softmax_parts(out)
        per_example = np.log(sumexp[..., 0], dtype=np.float64)
        per_example += shift[..., 0]
        per_example -= self._picked(out, y)
        loss = per_example.mean(axis=-1)
        batch = out.shape[-2]
        grad = e
        grad /= sumexp  # softmax
        # subtract 1 at each example's label, by flat index into the contiguous grad
        c = out.shape[-1]
        flat = grad.reshape(-1)
        idx = np.arange(0, flat.size, c)
        idx += y.reshape(-1)
        flat[idx] -= 1
        grad *= out.dtype.type(1.0 / batch) if batch else 1
        return loss, grad

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
