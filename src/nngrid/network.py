"""The replica-stacked multilayer perceptron.

``R`` copies ("replicas") of one architecture ``sizes = [n_0, n_1, ..., n_L]`` are trained at once.
Layer ``l`` of replica ``r`` computes

    Z_l[r] = H_{l-1}[r] @ W_l[r] + b_l[r]          W_l: (R, n_{l-1}, n_l), b_l: (R, 1, n_l)
    A_l[r] = f(Z_l[r])                              for the hidden layers l < L
    H_l[r] = A_l[r] * M_l[r] / (1 - p_r)            inverted dropout while training (else H_l = A_l)

with ``H_0 = X`` and a linear output ``Z_L`` (the loss applies softmax or nothing). The backward
pass is the chain rule written per layer, given ``dZ_L = dloss/dZ_L``:

    dW_l = H_{l-1}^T @ dZ_l,   db_l = 1^T @ dZ_l (the sum over the batch),
    dH_{l-1} = dZ_l @ W_l^T,
    dA_{l-1} = dH_{l-1} * M_{l-1} / (1 - p),   dZ_{l-1} = f'(Z_{l-1}) * dA_{l-1}.

No operation mixes replicas: each matrix product of the stack is one BLAS call per replica, and each
replica's initial weights and dropout masks come from its own ``numpy.random.Generator``, so replica
``r`` of a stack computes exactly what it computes alone.

All parameters live in one contiguous 1-D buffer :attr:`MLP.flat` (``params`` are views into it,
in the order ``W_1, b_1, W_2, b_2, ...``), and all gradients in :attr:`MLP.flat_grad` (views
``grads``), so an optimizer updates the whole stack with a handful of large element-wise operations.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from nngrid.errors import NngridError

#: Rows per forward pass in :meth:`MLP.predict` (bounds the memory of large evaluations; 2048
#: rows of width 128 in float32 are 1 MB per array, about what stays in cache).
PREDICT_CHUNK = 2048

#: Batch sizes whose forward/backward buffers are kept (least recently used ones are dropped).
_CACHE_SIZE = 4


def _resolve(registry_module: str, registry_name: str, value: Any, **kwargs: Any) -> Any:
    """Return ``value`` itself, or the registry entry it names, instantiated."""
    if not isinstance(value, str):
        return value
    import importlib

    registry = getattr(importlib.import_module(registry_module), registry_name)
    return registry.create(value, **kwargs)


class _Buffers:
    """Work arrays of one batch size: pre-activations, activations, masks and backward scratch."""

    def __init__(self, R: int, B: int, widths: Sequence[int], dtype: np.dtype):
        hidden = widths[1:-1]
        self.Z = [np.empty((R, B, w), dtype) for w in widths[1:]]
        self.A = [np.empty((R, B, w), dtype) for w in hidden]
        # backward's arrays, created by the first forward pass that keeps its work (predict
        # does not: its chunks would allocate, and page in, megabytes never used)
        self.dA: list[np.ndarray] | None = None
        self.S: list[np.ndarray] | None = None  # the activation's saved helper
        # dropout work arrays, created on first use
        self.H: list[np.ndarray] | None = None
        self.U: list[np.ndarray] | None = None
        self.Mb: list[np.ndarray] | None = None
        self.Mf: list[np.ndarray] | None = None
        # bias gradients as (1, B) @ dZ: one BLAS call, ~5x faster than a sum over the batch axis
        self.ones = np.ones((1, 1, B), dtype)

    def training_arrays(self, R: int, B: int, widths: Sequence[int], dtype: np.dtype) -> None:
        hidden = widths[1:-1]
        self.dA = [np.empty((R, B, w), dtype) for w in hidden]
        self.S = [np.empty((R, B, w), dtype) for w in hidden]
        self.AT = [a.transpose(0, 2, 1) for a in self.A]  # backward's H^T without dropout

    def dropout_arrays(self, R: int, B: int, widths: Sequence[int], dtype: np.dtype) -> None:
        if self.H is None:
            hidden = widths[1:-1]
            self.H = [np.empty((R, B, w), dtype) for w in hidden]
            # replicas without dropout keep u = 1 >= 0 = rate, i.e. an all-ones mask, forever
            self.U = [np.ones((R, B, w), dtype) for w in hidden]
            self.Mb = [np.empty((R, B, w), bool) for w in hidden]
            self.Mf = [np.empty((R, B, w), dtype) for w in hidden]


class MLP:
    """``R`` replicas of a fully connected network ``sizes[0] -> ... -> sizes[-1]``.

    Parameters
    ----------
    sizes:
        Layer widths, input first and output last, e.g. ``[40, 128, 128, 10]``.
    activation:
        An :class:`nngrid.activations.Activation` (or its registry name) used by every hidden layer.
    initializer:
        An :class:`nngrid.initializers.Initializer` (or its name); ``None`` takes the activation's
        ``default_init``. Biases start at zero.
    rngs:
        One Generator per replica; ``R = len(rngs)``. Replica ``r``'s weights are drawn from
        ``rngs[r]`` alone, layer by layer, so it is the same whether trained alone or in a stack.
    dtype:
        ``float32`` (default) or ``float64``.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Any,
        initializer: Any = None,
        rngs: Sequence[np.random.Generator] = (),
        dtype: Any = np.float32,
    ):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise NngridError(f"layer sizes must be >= 2 positive integers, got {sizes}")
        if len(rngs) < 1:
            raise NngridError("MLP needs one random Generator per replica (got none)")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise NngridError(f"dtype must be float32 or float64, got {self.dtype}")
        self.sizes = sizes
        self.R = R = len(rngs)
        self.n_layers = len(sizes) - 1
        self.activation = _resolve("nngrid.activations", "ACTIVATIONS", activation)
        if initializer is None:
            initializer = getattr(self.activation, "default_init", "glorot_uniform")
        self.initializer = _resolve("nngrid.initializers", "INITIALIZERS", initializer)

        shapes: list[tuple[int, int, int]] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            shapes += [(R, fan_in, fan_out), (R, 1, fan_out)]
        self.shapes = shapes
        total = sum(int(np.prod(s)) for s in shapes)
        self.flat = np.zeros(total, self.dtype)
        self.flat_grad = np.zeros(total, self.dtype)
        self.params = self.views(self.flat)
        self.grads = self.views(self.flat_grad)
        for r, rng in enumerate(rngs):
            for layer in range(self.n_layers):
                W = self.initializer(rng, sizes[layer], sizes[layer + 1], self.dtype)
                self.params[2 * layer][r] = W
        self._buffers: OrderedDict[int, _Buffers] = OrderedDict()
        self._last: tuple | None = None  # (buffers, X, dropout masks) of the last kept forward
        # per layer, made once: (W, b, W^T, dW, db) views used by every pass
        p, g = self.params, self.grads
        self._layers = [
            (p[2 * i], p[2 * i + 1], p[2 * i].transpose(0, 2, 1), g[2 * i], g[2 * i + 1])
            for i in range(self.n_layers)
        ]

    # ----------------------------------------------------------------- parameter layout
    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split a buffer laid out like :attr:`flat` into ``[W_1, b_1, W_2, b_2, ...]`` views."""
        out, offset = [], 0
        for shape in self.shapes:
            n = shape[0] * shape[1] * shape[2]
            out.append(flat[offset : offset + n].reshape(shape))
            offset += n
        return out

    def per_replica(self, values: Any) -> np.ndarray:
        """Expand per-replica values (scalar or length ``R``) to a per-element array like ``flat``.

        Used for per-replica learning rates: element ``i`` of the result holds the value of the
        replica that owns ``flat[i]``.
        """
        v = np.broadcast_to(np.asarray(values, self.dtype).reshape(-1), (self.R,))
        out = np.empty_like(self.flat)
        for view in self.views(out):
            view[...] = v.reshape(-1, 1, 1)
        return out

    def weights(self) -> list[np.ndarray]:
        """The weight matrices ``W_l`` (views, shape ``(R, fan_in, fan_out)``); biases excluded."""
        return self.params[0::2]

    def biases(self) -> list[np.ndarray]:
        """The bias rows ``b_l`` (views, shape ``(R, 1, fan_out)``)."""
        return self.params[1::2]

    def get_replica(self, r: int) -> list[np.ndarray]:
        """Copies of replica ``r``'s parameters, ``[W_1[r], b_1[r], ...]``."""
        return [p[r].copy() for p in self.params]

    def set_replica(self, r: int, values: Sequence[np.ndarray]) -> None:
        """Overwrite replica ``r``'s parameters with ``values`` (as from :meth:`get_replica`)."""
        for p, v in zip(self.params, values, strict=True):
            p[r] = v

    # ----------------------------------------------------------------- forward / backward
    def _get_buffers(self, B: int) -> _Buffers:
        buf = self._buffers.get(B)
        if buf is None:
            buf = _Buffers(self.R, B, self.sizes, self.dtype)
            self._buffers[B] = buf
            while len(self._buffers) > _CACHE_SIZE:
                self._buffers.popitem(last=False)
        else:
            self._buffers.move_to_end(B)
        return buf

    def forward(
        self, X: np.ndarray, train: bool = False, dropout: Any = None, _keep: bool = True
    ) -> np.ndarray:
        """Return the outputs ``Z_L`` of every replica, shape ``(R, B, sizes[-1])``.

        ``X`` is ``(B, n_0)`` (shared by all replicas) or ``(R, B, n_0)`` (one batch per replica),
        in the network's dtype. ``dropout`` is ``None`` or ``(rates, rngs)``: per-replica drop
        probabilities (scalar or length ``R``, each in ``[0, 1)``) and one Generator per replica;
        it acts only when ``train`` is true. Replica ``r`` keeps unit ``j`` when
        ``u >= rate_r`` with ``u ~ U[0, 1)`` drawn from ``rngs[r]``, and scales kept units by
        ``1 / (1 - rate_r)``; replicas with rate 0 draw nothing.

        The returned array is a work buffer owned by the network: it is overwritten by the next
        forward pass with the same batch size. :meth:`backward` uses the latest forward pass.
        """
        if X.ndim == 2:
            B = X.shape[0]
        elif X.ndim == 3 and X.shape[0] == self.R:
            B = X.shape[1]
        else:
            raise NngridError(
                f"inputs must be (batch, {self.sizes[0]}) or ({self.R}, batch, {self.sizes[0]}), "
                f"got shape {X.shape}"
            )
        if X.shape[-1] != self.sizes[0]:
            raise NngridError(f"inputs have {X.shape[-1]} features, the network {self.sizes[0]}")
        buf = self._get_buffers(B)
        if _keep and buf.S is None:
            buf.training_arrays(self.R, B, self.sizes, self.dtype)
        act = self.activation
        masks = None
        if train and dropout is not None:
            masks = self._draw_masks(buf, B, *dropout)
        matmul, add = np.matmul, np.add
        H = X
        last = self.n_layers - 1
        for layer, (W, b, _, _, _) in enumerate(self._layers):
            Z = buf.Z[layer]
            matmul(H, W, out=Z)
            add(Z, b, out=Z)
            if layer == last:
                break
            A = buf.A[layer]
            if _keep:
                act.forward_train(Z, A, buf.S[layer])
            else:  # predict: no backward follows
                act.forward(Z, out=A)
            if masks is not None:
                H = buf.H[layer]
                np.multiply(A, masks[layer], out=H)
            else:
                H = A
        self._last = (buf, X, masks) if _keep else None
        return buf.Z[last]

    def _draw_masks(self, buf: _Buffers, B: int, rates: Any, rngs: Sequence) -> list | None:
        rates = np.broadcast_to(np.asarray(rates, np.float64).reshape(-1), (self.R,))
        if not np.any(rates > 0):
            return None
        if np.any(rates < 0) or np.any(rates >= 1):
            raise NngridError(f"dropout rate must be in [0, 1), got {rates.tolist()}")
        buf.dropout_arrays(self.R, B, self.sizes, self.dtype)
        rate3 = rates.astype(self.dtype).reshape(-1, 1, 1)
        scale3 = (1.0 / (1.0 - rates)).astype(self.dtype).reshape(-1, 1, 1)
        active = [r for r in range(self.R) if rates[r] > 0]
        for layer in range(self.n_layers - 1):
            U = buf.U[layer]
            for r in active:
                rngs[r].random(dtype=self.dtype, out=U[r])
            np.greater_equal(U, rate3, out=buf.Mb[layer])
            np.multiply(buf.Mb[layer], scale3, out=buf.Mf[layer])
        return buf.Mf

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Fill :attr:`flat_grad` with ``d loss / d params`` given ``grad_out = d loss / d Z_L``.

        ``grad_out`` has the shape of the last forward output and is not modified. Returns
        :attr:`flat_grad`.
        """
        if self._last is None:
            raise RuntimeError("backward() called before forward()")
        buf, X, masks = self._last
        act, layers, matmul = self.activation, self._layers, np.matmul
        dZ = grad_out
        for layer in range(self.n_layers - 1, -1, -1):
            _, _, WT, dW, db = layers[layer]
            if layer == 0:
                HT = X.T if X.ndim == 2 else X.transpose(0, 2, 1)
            elif masks is None:
                HT = buf.AT[layer - 1]
            else:
                HT = buf.H[layer - 1].transpose(0, 2, 1)
            matmul(HT, dZ, out=dW)
            matmul(buf.ones, dZ, out=db)
            if layer == 0:
                break
            dA = buf.dA[layer - 1]
            matmul(dZ, WT, out=dA)
            if masks is not None:
                np.multiply(dA, masks[layer - 1], out=dA)
            act.backward_train(buf.Z[layer - 1], buf.A[layer - 1], buf.S[layer - 1], dA, dA)
            dZ = dA
        return self.flat_grad

    def predict(self, X: np.ndarray, chunk: int = PREDICT_CHUNK) -> np.ndarray:
        """Outputs for all rows of ``X``, ``(n, n_0)`` or ``(R, n, n_0)``, computed in chunks."""
        n = X.shape[-2]
        out = np.empty((self.R, n, self.sizes[-1]), self.dtype)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            out[:, start:stop] = self.forward(X[..., start:stop, :], _keep=False)
        return out
