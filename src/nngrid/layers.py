"""Layers: one registered class per kind, forward and backward on replica-stacked arrays.

Every array carries a leading replica axis ``R`` (a layer's *input* may lack it: the network's
inputs are shared by the replicas, and a layer with parameters broadcasts them). Shapes, with
``B`` the batch:

===================  ==========================  ==========================  ====================
kind                 input                       output                      parameters (per R)
===================  ==========================  ==========================  ====================
dense {units}        (R, B, F)                   (R, B, units)               W (F, units),
                                                                             b (1, units)
conv1d               (R, B, L, C)                (R, B, L', channels)        W (kernel*C, channels),
                                                                             b (1, channels)
max_pool1d,          (R, B, L, C)                (R, B, L', C)               -
avg_pool1d
global_avg_pool1d    (R, B, L, C)                (R, B, C)                   -
flatten              (R, B, L, C) or (R, B, F)   (R, B, L*C) or unchanged    -
rnn, gru, lstm       (R, B, L, C)                (R, B, L, D*hidden) if      per direction:
                                                 sequences else (R, B,       W_ih (C, G), W_hh
                                                 D*hidden)                   (hidden, G),
                                                                             b_ih, b_hh (1, G)
===================  ==========================  ==========================  ====================

Sequences are stored time-major with channels last, ``(R, B, L, C)``; ``L' = floor((L + 2 padding
- dilation (kernel - 1) - 1) / stride) + 1`` (pools: padding 0, dilation 1). ``D`` is 2 for a
bidirectional layer, else 1; ``G`` is ``hidden`` (rnn), ``3 hidden`` (gru, gates r, z, n) or
``4 hidden`` (lstm, gates i, f, g, o). Every weight is a matrix ``(fan_in, fan_out)`` that
multiplies from the right (``x @ W``), so the regularizers see matrices like the dense layers';
conv1d's row ``k * C + c`` holds kernel tap ``k`` of input channel ``c``.

The equations are PyTorch's (``nn.Linear``, ``nn.Conv1d`` as cross-correlation with zero padding,
``nn.MaxPool1d``, ``nn.AvgPool1d``, ``nn.RNN``, ``nn.GRU``, ``nn.LSTM``), with ``sigma`` the
logistic function and ``f`` the network's activation:

* rnn:  ``h_t = f(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)``;
* gru:  ``r, z = sigma(x_t W_ih[r,z] + b_ih[r,z] + h_{t-1} W_hh[r,z] + b_hh[r,z])``,
  ``n = tanh(x_t W_ih[n] + b_ih[n] + r * (h_{t-1} W_hh[n] + b_hh[n]))``,
  ``h_t = (1 - z) * n + z * h_{t-1}``;
* lstm: ``i, f, g, o = sigma, sigma, tanh, sigma(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)``,
  ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``;

with ``h_{-1} = c_{-1} = 0``. The reverse direction runs the same cell from ``t = L - 1`` down to
0; outputs concatenate the directions forward first, and ``sequences: false`` returns each
direction's last state (torch's ``h_n``: the forward one at ``t = L - 1``, the reverse one at 0).

The network's activation follows every dense and conv1d layer except the output layer (dense,
appended by the network), and is the rnn's ``f``. Initial weights (biases start at 0): dense and
conv1d use the network's initializer (the activation's ``default_init`` unless one is chosen);
rnn's ``W_ih`` too, gru's and lstm's ``W_ih`` ``glorot_uniform`` (their gates are sigmoid and
tanh), each gate's block drawn on its own; every ``W_hh`` block ``orthogonal``. The recurrent
layers' keys ``init`` and ``recurrent_init`` override these.

A layer's ``forward`` returns an array it owns (overwritten by the next pass of the same batch
size); ``backward`` takes the gradient of its output and returns that of its input, and may write
into the gradient it is handed only when the network owns it (never the loss's ``grad_out``: the
output layer has no activation and leaves it alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nngrid.activations import _sigmoid
from nngrid.errors import NngridError
from nngrid.registry import Registry

LAYERS = Registry("layer")


class Shape:
    """The per-example shape flowing between layers: flat ``(F,)`` or a sequence ``(L, C)``.

    ``order`` says how :class:`Flatten` orders a sequence's features: ``"channel"`` (torch's
    ``(C, L)`` layout after conv1d and the pools) or ``"time"`` (batch-first ``(L, C)`` after a
    recurrent layer with ``sequences: true``).
    """

    def __init__(self, dims: Sequence[int], order: str = "channel"):
        self.dims = tuple(int(d) for d in dims)
        self.order = order

    @property
    def is_seq(self) -> bool:
        return len(self.dims) == 2

    def __repr__(self) -> str:
        return f"Shape({self.dims}, {self.order!r})"


def _positive(index: int, kind: str, key: str, value: Any, minimum: int = 1) -> int:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or int(value) < minimum:
        raise NngridError(
            f"layer {index} ({kind}): {key} must be an integer >= {minimum}, got {value!r}"
        )
    return int(value)


def _flag(index: int, kind: str, key: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise NngridError(f"layer {index} ({kind}): {key} must be true or false, got {value!r}")
    return bool(value)


class Layer:
    """Base class. Subclasses set ``params`` (name, (rows, cols)) in :meth:`build`."""

    name = "layer"
    has_activation = False

    def __init__(self) -> None:
        self.index = 0
        self.params: list[tuple[str, tuple[int, int]]] = []

    # ---- set-up
    def build(self, shape: Shape, net: Any) -> Shape:
        """Check the input ``shape``, declare the parameters, return the output shape."""
        raise NotImplementedError

    def init_replica(self, rng: np.random.Generator, values: list[np.ndarray], net: Any) -> None:
        """Fill one replica's parameter arrays ``values`` (zeros on entry) from ``rng``."""

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.p, self.g = params, grads

    def buffers(self, lead: tuple, B: int, dtype: np.dtype) -> dict[str, Any]:
        """Work arrays of one batch size; ``lead`` is ``(R,)`` or ``()`` for shared inputs."""
        return {}

    def train_buffers(self, buf: dict[str, Any], lead: tuple, B: int, dtype: np.dtype) -> None:
        """Add backward's work arrays to ``buf`` (the first time a pass keeps its work)."""

    def where(self, msg: str) -> NngridError:
        return NngridError(f"layer {self.index} ({self.name}): {msg}")

    # ---- torch state_dict names and layouts
    def torch_names(self) -> list[str]:
        return [name for name, _ in self.params]

    def to_torch(self, name: str, value: np.ndarray) -> np.ndarray:
        """One replica's parameter ``name`` (rows, cols) in torch's layout."""
        return value[0].copy() if name.startswith("bias") else value.T.copy()

    def from_torch(self, name: str, value: np.ndarray) -> np.ndarray:
        return value.reshape(1, -1) if name.startswith("bias") else value.T

    def torch_shape(self, name: str, shape: tuple[int, int]) -> tuple[int, ...]:
        return self.to_torch(name, np.empty(shape)).shape

    def __repr__(self) -> str:
        keys = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k in self._keys)
        return f"{type(self).__name__}({keys})"

    _keys: tuple[str, ...] = ()


# --------------------------------------------------------------------------------- dense


class _WeightBias(Layer):
    """A layer with one weight matrix (drawn by the network's initializer) and one bias row."""

    def init_replica(self, rng, values, net):
        values[0][...] = net.initializer(rng, *self.params[0][1], net.dtype)

    def bind(self, params, grads):
        super().bind(params, grads)
        self.W, self.b = params
        self.WT = self.W.transpose(0, 2, 1)
        self.dW, self.db = grads


@LAYERS.register("dense")
class Dense(_WeightBias):
    """``Z = X @ W + b``, then the network's activation (not on the output layer)."""

    has_activation = True
    _keys = ("units",)

    def __init__(self, units: int | None = None):
        super().__init__()
        self.units = units
        self.output = False  # the network's output layer (no activation) when True

    def build(self, shape, net):
        units = _positive(self.index, self.name, "units", self.units)
        if shape.is_seq:
            what = f"layer {self.index} (dense{', the output layer' if self.output else ''})"
            raise NngridError(
                f"{what}: its input is a sequence (length {shape.dims[0]}, "
                f"{shape.dims[1]} channels); put flatten or global_avg_pool1d before it"
            )
        self.act = None if self.output else net.activation
        self.params = [("weight", (shape.dims[0], units)), ("bias", (1, units))]
        return Shape((units,))

    def buffers(self, lead, B, dtype):
        R = self.W.shape[0]
        buf = {"Z": np.empty((R, B, self.units), dtype), "ones": np.ones((1, 1, B), dtype)}
        if self.act is not None:
            buf["A"] = np.empty((R, B, self.units), dtype)
        return buf

    def train_buffers(self, buf, lead, B, dtype):
        R, F = self.W.shape[0], self.W.shape[1]
        buf["dX"] = np.empty((R, B, F), dtype)
        if self.act is not None:
            buf["S"] = np.empty((R, B, self.units), dtype)

    def forward(self, X, buf, keep):
        Z = buf["Z"]
        np.matmul(X, self.W, out=Z)
        np.add(Z, self.b, out=Z)
        buf["X"] = X
        if self.act is None:
            return Z
        A = buf["A"]
        if keep:
            self.act.forward_train(Z, A, buf["S"])
        else:
            self.act.forward(Z, out=A)
        return A

    def backward(self, dY, buf, need_dx):
        if self.act is not None:
            self.act.backward_train(buf["Z"], buf["A"], buf["S"], dY, dY)
        X = buf["X"]
        np.matmul(X.T if X.ndim == 2 else X.transpose(0, 2, 1), dY, out=self.dW)
        np.matmul(buf["ones"], dY, out=self.db)
        if not need_dx:
            return None
        return np.matmul(dY, self.WT, out=buf["dX"])


# --------------------------------------------------------------------------------- conv1d


def _windows(X: np.ndarray, L_out: int, kernel: int, stride: int, dilation: int) -> np.ndarray:
    """A read-only strided view ``(..., B, L_out, kernel, C)`` of the windows of ``X (..., B,
    L, C)``: window ``j`` tap ``k`` is ``X[..., j * stride + k * dilation, :]``."""
    s = X.strides
    shape = X.shape[:-2] + (L_out, kernel, X.shape[-1])
    strides = s[:-2] + (stride * s[-2], dilation * s[-2], s[-1])
    return as_strided(X, shape, strides, writeable=False)


def _out_length(layer: Layer, L: int, kernel: int, stride: int, padding: int, dilation: int):
    span = dilation * (kernel - 1) + 1
    if span > L + 2 * padding:
        raise layer.where(
            f"kernel {kernel} (span {span} with dilation {dilation}) is longer than the "
            f"{'padded ' if padding else ''}sequence of length {L + 2 * padding}; "
            f"valid: a span <= {L + 2 * padding}"
        )
    return (L + 2 * padding - span) // stride + 1


def _scatter_windows(dX, dW, L_out, kernel, stride, dilation):
    """Add window gradients ``dW (..., B, L_out, kernel, C)`` back onto ``dX (..., B, L, C)``."""
    for k in range(kernel):
        start = k * dilation
        dX[..., start : start + stride * (L_out - 1) + 1 : stride, :] += dW[..., k, :]


@LAYERS.register("conv1d")
class Conv1d(_WeightBias):
    """Cross-correlation with zero padding: ``Z[j] = sum_k X[j*stride + k*dilation - padding]
    @ W_k + b``, then the network's activation. Computed as one GEMM over the gathered windows."""

    has_activation = True
    _keys = ("channels", "kernel", "stride", "padding", "dilation")

    def __init__(
        self,
        channels: int | None = None,
        kernel: int | None = None,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
    ):
        super().__init__()
        self.channels, self.kernel = channels, kernel
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def build(self, shape, net):
        i, n = self.index, self.name
        self.channels = _positive(i, n, "channels", self.channels)
        self.kernel = _positive(i, n, "kernel", self.kernel)
        self.stride = _positive(i, n, "stride", self.stride)
        self.padding = _positive(i, n, "padding", self.padding, minimum=0)
        self.dilation = _positive(i, n, "dilation", self.dilation)
        if not shape.is_seq:
            raise self.where(
                f"needs a sequence input (length, channels), got {shape.dims[0]} flat features"
            )
        L, C = shape.dims
        self.L, self.C = L, C
        self.L_out = _out_length(self, L, self.kernel, self.stride, self.padding, self.dilation)
        self.act = net.activation
        self.params = [("weight", (self.kernel * C, self.channels)), ("bias", (1, self.channels))]
        return Shape((self.L_out, self.channels), "channel")

    def buffers(self, lead, B, dtype):
        R, K, C, Lo, Co = self.W.shape[0], self.kernel, self.C, self.L_out, self.channels
        buf = {
            "P": np.empty((*lead, B, Lo, K, C), dtype),
            "Z": np.empty((R, B, Lo, Co), dtype),
            "A": np.empty((R, B, Lo, Co), dtype),
        }
        if self.padding:
            buf["Xp"] = np.zeros((*lead, B, self.L + 2 * self.padding, C), dtype)
        return buf

    def train_buffers(self, buf, lead, B, dtype):
        R, K, C, Lo, Co = self.W.shape[0], self.kernel, self.C, self.L_out, self.channels
        buf["S"] = np.empty((R, B, Lo, Co), dtype)
        buf["dZ"] = np.empty((R, B, Lo, Co), dtype)
        buf["dP"] = np.empty((R, B, Lo, K, C), dtype)
        buf["dXp"] = np.empty((R, B, self.L + 2 * self.padding, C), dtype)
        buf["ones"] = np.ones((1, 1, B * Lo), dtype)

    def forward(self, X, buf, keep):
        p = self.padding
        if p:
            Xp = buf["Xp"]
            Xp[..., p : p + self.L, :] = X
        else:
            Xp = np.ascontiguousarray(X)
        P = buf["P"]
        np.copyto(P, _windows(Xp, self.L_out, self.kernel, self.stride, self.dilation))
        Z = buf["Z"]
        R, B = Z.shape[:2]
        P2 = P.reshape(*P.shape[:-4], B * self.L_out, self.kernel * self.C)
        Z2 = Z.reshape(R, B * self.L_out, self.channels)
        np.matmul(P2, self.W, out=Z2)
        np.add(Z2, self.b, out=Z2)
        buf["P2"] = P2
        A = buf["A"]
        if keep:
            self.act.forward_train(Z, A, buf["S"])
        else:
            self.act.forward(Z, out=A)
        return A

    def backward(self, dY, buf, need_dx):
        dZ = buf["dZ"]
        self.act.backward_train(buf["Z"], buf["A"], buf["S"], dY, dZ)
        R, B = dZ.shape[:2]
        dZ2 = dZ.reshape(R, B * self.L_out, self.channels)
        np.matmul(np.swapaxes(buf["P2"], -1, -2), dZ2, out=self.dW)
        np.matmul(buf["ones"], dZ2, out=self.db)
        if not need_dx:
            return None
        dP = buf["dP"]
        np.matmul(dZ2, self.WT, out=dP.reshape(R, B * self.L_out, self.kernel * self.C))
        dXp = buf["dXp"]
        dXp.fill(0)
        _scatter_windows(dXp, dP, self.L_out, self.kernel, self.stride, self.dilation)
        return dXp[..., self.padding : self.padding + self.L, :]

    def to_torch(self, name, value):
        if name == "bias":
            return value[0].copy()
        K, C, Co = self.kernel, self.C, self.channels
        return value.reshape(K, C, Co).transpose(2, 1, 0).copy()

    def from_torch(self, name, value):
        if name == "bias":
            return value.reshape(1, -1)
        return value.transpose(2, 1, 0).reshape(self.kernel * self.C, self.channels)


# --------------------------------------------------------------------------------- pools


class _Pool(Layer):
    _keys = ("kernel", "stride")

    def __init__(self, kernel: int | None = None, stride: int | None = None):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def build(self, shape, net):
        self.kernel = _positive(self.index, self.name, "kernel", self.kernel)
        if self.stride is None:
            self.stride = self.kernel
        self.stride = _positive(self.index, self.name, "stride", self.stride)
        if not shape.is_seq:
            raise self.where(
                f"needs a sequence input (length, channels), got {shape.dims[0]} flat features"
            )
        self.L, self.C = shape.dims
        self.L_out = _out_length(self, self.L, self.kernel, self.stride, 0, 1)
        return Shape((self.L_out, self.C), "channel")

    def buffers(self, lead, B, dtype):
        return {"Y": np.empty((*lead, B, self.L_out, self.C), dtype)}

    def train_buffers(self, buf, lead, B, dtype):
        buf["dX"] = np.empty((*lead, B, self.L, self.C), dtype)


@LAYERS.register("max_pool1d")
class MaxPool1d(_Pool):
    """``Y[j] = max_k X[j*stride + k]`` per channel; the gradient goes to the (first) maximum."""

    def train_buffers(self, buf, lead, B, dtype):
        super().train_buffers(buf, lead, B, dtype)
        buf["arg"] = np.empty((*lead, B, self.L_out, self.C), np.intp)
        buf["hit"] = np.empty((*lead, B, self.L_out, self.C), dtype)

    def forward(self, X, buf, keep):
        win = _windows(np.ascontiguousarray(X), self.L_out, self.kernel, self.stride, 1)
        Y = buf["Y"]
        np.max(win, axis=-2, out=Y)
        if keep:
            np.argmax(win, axis=-2, out=buf["arg"])
        return Y

    def backward(self, dY, buf, need_dx):
        if not need_dx:
            return None
        dX, arg, hit = buf["dX"], buf["arg"], buf["hit"]
        dX.fill(0)
        for k in range(self.kernel):
            np.equal(arg, k, out=hit)
            hit *= dY
            dX[..., k : k + self.stride * (self.L_out - 1) + 1 : self.stride, :] += hit
        return dX


@LAYERS.register("avg_pool1d")
class AvgPool1d(_Pool):
    """``Y[j] = mean_k X[j*stride + k]`` per channel."""

    def train_buffers(self, buf, lead, B, dtype):
        super().train_buffers(buf, lead, B, dtype)
        buf["g"] = np.empty((*lead, B, self.L_out, self.C), dtype)

    def forward(self, X, buf, keep):
        win = _windows(np.ascontiguousarray(X), self.L_out, self.kernel, self.stride, 1)
        Y = buf["Y"]
        np.sum(win, axis=-2, out=Y)
        Y *= Y.dtype.type(1.0 / self.kernel)
        return Y

    def backward(self, dY, buf, need_dx):
        if not need_dx:
            return None
        dX, g = buf["dX"], buf["g"]
        np.multiply(dY, g.dtype.type(1.0 / self.kernel), out=g)
        dX.fill(0)
        for k in range(self.kernel):
            dX[..., k : k + self.stride * (self.L_out - 1) + 1 : self.stride, :] += g
        return dX


@LAYERS.register("global_avg_pool1d")
class GlobalAvgPool1d(Layer):
    """``Y = mean_t X[t]`` per channel: ``(R, B, L, C) -> (R, B, C)``."""

    def build(self, shape, net):
        if not shape.is_seq:
            raise self.where(
                f"needs a sequence input (length, channels), got {shape.dims[0]} flat features"
            )
        self.L, self.C = shape.dims
        return Shape((self.C,))

    def buffers(self, lead, B, dtype):
        return {"Y": np.empty((*lead, B, self.C), dtype)}

    def train_buffers(self, buf, lead, B, dtype):
        buf["dX"] = np.empty((*lead, B, self.L, self.C), dtype)

    def forward(self, X, buf, keep):
        Y = buf["Y"]
        np.sum(X, axis=-2, out=Y)
        Y *= Y.dtype.type(1.0 / self.L)
        return Y

    def backward(self, dY, buf, need_dx):
        if not need_dx:
            return None
        dX = buf["dX"]
        np.multiply(dY[..., None, :], dX.dtype.type(1.0 / self.L), out=dX)
        return dX


@LAYERS.register("flatten")
class Flatten(Layer):
    """A sequence's features in one row: channel-major (torch's ``flatten(1)`` of ``(C, L)``)
    after conv1d and the pools, time-major (of batch-first ``(L, C)``) after a recurrent layer
    with ``sequences: true``. Flat inputs pass unchanged."""

    def build(self, shape, net):
        self.shape = shape
        if not shape.is_seq:
            return shape
        L, C = shape.dims
        return Shape((L * C,))

    def buffers(self, lead, B, dtype):
        if self.shape.is_seq and self.shape.order == "channel":
            L, C = self.shape.dims
            return {"Y": np.empty((*lead, B, C, L), dtype)}
        return {}

    def forward(self, X, buf, keep):
        if not self.shape.is_seq:
            return X
        L, C = self.shape.dims
        if self.shape.order == "channel":
            Y = buf["Y"]
            np.copyto(Y, np.swapaxes(X, -1, -2))
            return Y.reshape(*Y.shape[:-2], C * L)
        return np.ascontiguousarray(X).reshape(*X.shape[:-2], L * C)

    def backward(self, dY, buf, need_dx):
        if not need_dx or not self.shape.is_seq:
            return dY if need_dx else None
        L, C = self.shape.dims
        if self.shape.order == "channel":
            return np.swapaxes(dY.reshape(*dY.shape[:-1], C, L), -1, -2)
        return dY.reshape(*dY.shape[:-1], L, C)


# --------------------------------------------------------------------------------- recurrent


class _Recurrent(Layer):
    """Shared set-up, parameters and loops of rnn, gru and lstm (``gates`` blocks of ``hidden``)."""

    gates = 1
    default_init: str | None = None  # None: the network's initializer
    _keys = ("hidden", "bidirectional", "sequences")
    #: Opt-in gradient through time: set ``keep_dh_norms = True`` on a layer and every backward
    #: pass fills ``dh_norms`` ``(R, D, L)`` with ``||dL/dh_t||`` (2-norm over hidden units and
    #: batch, per replica, direction and step; float64). Off by default: no cost on training.
    keep_dh_norms = False
    dh_norms: np.ndarray | None = None

    def __init__(
        self,
        hidden: int | None = None,
        bidirectional: bool = False,
        sequences: bool = False,
        init: str | None = None,
        recurrent_init: str = "orthogonal",
    ):
        super().__init__()
        self.hidden, self.bidirectional, self.sequences = hidden, bidirectional, sequences
        self.init, self.recurrent_init = init, recurrent_init

    def build(self, shape, net):
        from nngrid.initializers import INITIALIZERS

        i, n = self.index, self.name
        self.hidden = H = _positive(i, n, "hidden", self.hidden)
        self.bidirectional = _flag(i, n, "bidirectional", self.bidirectional)
        self.sequences = _flag(i, n, "sequences", self.sequences)
        for key in ("init", "recurrent_init"):
            value = getattr(self, key)
            if value is not None and value not in INITIALIZERS:
                raise self.where(
                    f"unknown {key} {value!r}; valid choices: {', '.join(INITIALIZERS.names())}"
                )
        if not shape.is_seq:
            raise self.where(
                f"needs a sequence input (length, channels), got {shape.dims[0]} flat features"
            )
        self.L, self.C = shape.dims
        self.D = 2 if self.bidirectional else 1
        self.act = net.activation
        init = self.init or self.default_init
        self.w_init = net.initializer if init is None else INITIALIZERS.create(init)
        self.r_init = INITIALIZERS.create(self.recurrent_init)
        G = self.gates * H
        self.params = []
        for suffix in ("_l0", "_l0_reverse")[: self.D]:
            self.params += [
                ("weight_ih" + suffix, (self.C, G)),
                ("weight_hh" + suffix, (H, G)),
                ("bias_ih" + suffix, (1, G)),
                ("bias_hh" + suffix, (1, G)),
            ]
        if self.sequences:
            return Shape((self.L, self.D * H), "time")
        return Shape((self.D * H,))

    def init_replica(self, rng, values, net):
        H = self.hidden
        for d in range(self.D):
            W_ih, W_hh = values[4 * d], values[4 * d + 1]
            for g in range(self.gates):
                W_ih[:, g * H : (g + 1) * H] = self.w_init(rng, self.C, H, net.dtype)
            for g in range(self.gates):
                W_hh[:, g * H : (g + 1) * H] = self.r_init(rng, H, H, net.dtype)

    def bind(self, params, grads):
        super().bind(params, grads)
        self.dirs = []
        for d in range(self.D):
            W_ih, W_hh, b_ih, b_hh = params[4 * d : 4 * d + 4]
            dW_ih, dW_hh, db_ih, db_hh = grads[4 * d : 4 * d + 4]
            self.dirs.append(
                {
                    "W_ih": W_ih,
                    "W_hh": W_hh,
                    "b_ih": b_ih,
                    "W_ihT": W_ih.transpose(0, 2, 1),
                    "W_hhT": W_hh.transpose(0, 2, 1),
                    "b_hhT": b_hh.transpose(0, 2, 1),
                    "dW_ih": dW_ih,
                    "dW_hh": dW_hh,
                    "db_ih": db_ih,
                    "db_hh": db_hh,
                }
            )

    # The time loop works hidden-major: a step's arrays are (R, G, B) and (R, H, B), so a
    # gate's block is contiguous per replica (with batch-minor (R, B, G) arrays every gate
    # slice is a strided (B, H) view, and elementwise work on it runs B short inner loops).
    def buffers(self, lead, B, dtype):
        R, L, H, G = self.p[0].shape[0], self.L, self.hidden, self.gates * self.hidden
        buf = {
            "Xt": np.empty((*lead, L, B, self.C), dtype),
            "XW": np.empty((R, L, B, G), dtype),  # x_t W_ih + b_ih, batch-minor (one GEMM)
            "out": np.empty((R, B, L, self.D * H) if self.sequences else (R, B, self.D * H), dtype),
        }
        for d in range(self.D):
            buf[f"XT{d}"] = np.empty((R, L, G, B), dtype)  # the same, hidden-major, per step
            buf[f"Hp{d}"] = np.zeros((R, L + 2, H, B), dtype)  # h_t at t + 1; zeros at both ends
            self.cell_buffers(buf, d, R, L, B, dtype)
        return buf

    def cell_buffers(self, buf, d, R, L, B, dtype):
        pass

    def train_buffers(self, buf, lead, B, dtype):
        R, L, H, G = self.p[0].shape[0], self.L, self.hidden, self.gates * self.hidden
        buf["dh"] = np.empty((R, H, B), dtype)
        buf["dYT"] = np.empty((R, L, H, B), dtype)
        buf["Grows"] = np.empty((R, L, B, G), dtype)
        buf["Hrows"] = np.empty((R, L, B, H), dtype)
        buf["dXt"] = np.empty((R, L, B, self.C), dtype)
        buf["dX"] = np.empty((R, B, L, self.C), dtype)
        buf["ones"] = np.ones((1, 1, L * B), dtype)
        for d in range(self.D):
            buf[f"dGx{d}"] = np.empty((R, L, G, B), dtype)
            buf[f"dGh{d}"] = buf[f"dGx{d}"] if self.gates != 3 else np.empty((R, L, G, B), dtype)

    @staticmethod
    def _times(L: int, d: int) -> range:
        return range(L) if d == 0 else range(L - 1, -1, -1)

    def forward(self, X, buf, keep):
        L, H = self.L, self.hidden
        Xt = buf["Xt"]
        np.copyto(Xt, np.swapaxes(X, -3, -2))
        lead = Xt.shape[:-3]
        B = Xt.shape[-2]
        X2 = Xt.reshape(*lead, L * B, self.C)
        out, XW = buf["out"], buf["XW"]
        R = XW.shape[0]
        XW2 = XW.reshape(R, L * B, -1)
        for d, w in enumerate(self.dirs):
            np.matmul(X2, w["W_ih"], out=XW2)
            np.add(XW2, w["b_ih"], out=XW2)
            np.copyto(buf[f"XT{d}"], XW.transpose(0, 1, 3, 2))
            Hp = buf[f"Hp{d}"]
            prev = 0 if d == 0 else 2
            for t in self._times(L, d):
                self.step(buf, d, w, t, Hp[:, t + prev], Hp[:, t + 1], keep)
            if self.sequences:
                np.copyto(out[..., d * H : (d + 1) * H], Hp[:, 1 : L + 1].transpose(0, 3, 1, 2))
            else:
                np.copyto(
                    out[..., d * H : (d + 1) * H], np.swapaxes(Hp[:, L if d == 0 else 1], 1, 2)
                )
        return out

    def backward(self, dY, buf, need_dx):
        L, H = self.L, self.hidden
        Xt = buf["Xt"]
        lead, B = Xt.shape[:-3], Xt.shape[-2]
        X2T = np.swapaxes(Xt.reshape(*lead, L * B, self.C), -1, -2)
        dh, dYT, Grows, Hrows = buf["dh"], buf["dYT"], buf["Grows"], buf["Hrows"]
        R = dh.shape[0]
        G2 = Grows.reshape(R, L * B, -1)
        norms = None
        if self.keep_dh_norms:
            norms = self.dh_norms = np.zeros((R, self.D, L))
        for d, w in enumerate(self.dirs):
            dYd = dY[..., d * H : (d + 1) * H]
            Hp = buf[f"Hp{d}"]
            prev = 0 if d == 0 else 2
            self.reset_carry(buf)
            if self.sequences:
                np.copyto(dYT, dYd.transpose(0, 2, 3, 1))
                dh.fill(0)
            else:
                np.copyto(dh, np.swapaxes(dYd, 1, 2))
            for t in reversed(self._times(L, d)):
                if self.sequences:
                    dh += dYT[:, t]
                if norms is not None:  # dh is dL/dh_t here
                    norms[:, d, t] = np.sqrt(np.einsum("rhb,rhb->r", dh, dh, dtype=np.float64))
                self.step_back(buf, d, w, t, Hp[:, t + prev], dh)
            # the weight gradients as GEMMs over all steps, on batch-minor copies
            np.copyto(Hrows, Hp[:, prev : prev + L].transpose(0, 1, 3, 2))
            if self.gates == 3:  # gru: the recurrent gradient differs in the n gate
                np.copyto(Grows, buf[f"dGh{d}"].transpose(0, 1, 3, 2))
                np.matmul(Hrows.reshape(R, L * B, H).transpose(0, 2, 1), G2, out=w["dW_hh"])
                np.matmul(buf["ones"], G2, out=w["db_hh"])
            np.copyto(Grows, buf[f"dGx{d}"].transpose(0, 1, 3, 2))
            np.matmul(X2T, G2, out=w["dW_ih"])
            np.matmul(buf["ones"], G2, out=w["db_ih"])
            if self.gates != 3:
                np.matmul(Hrows.reshape(R, L * B, H).transpose(0, 2, 1), G2, out=w["dW_hh"])
                np.copyto(w["db_hh"], w["db_ih"])
            if need_dx:
                dXt2 = buf["dXt"].reshape(R, L * B, self.C)
                if d == 0:
                    np.matmul(G2, w["W_ihT"], out=dXt2)
                else:
                    dXt2 += np.matmul(G2, w["W_ihT"])
        if not need_dx:
            return None
        dX = buf["dX"]
        np.copyto(dX, np.swapaxes(buf["dXt"], 1, 2))
        return dX

    def reset_carry(self, buf):
        pass

    def to_torch(self, name, value):
        return value[0].copy() if name.startswith("bias") else value.T.copy()


@LAYERS.register("rnn")
class RNN(_Recurrent):
    """Elman: ``h_t = f(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)`` with f the network's activation."""

    has_activation = True

    def cell_buffers(self, buf, d, R, L, B, dtype):
        buf[f"S{d}"] = np.empty((R, L, self.hidden, B), dtype)

    def step(self, buf, d, w, t, h_prev, h, keep):
        Z = buf[f"XT{d}"][:, t]  # becomes the pre-activation in place
        Z += np.matmul(w["W_hhT"], h_prev)
        Z += w["b_hhT"]
        if keep:
            self.act.forward_train(Z, h, buf[f"S{d}"][:, t])
        else:
            self.act.forward(Z, out=h)

    def step_back(self, buf, d, w, t, h_prev, dh):
        dZ = buf[f"dGx{d}"][:, t]
        Z, h = buf[f"XT{d}"][:, t], buf[f"Hp{d}"][:, t + 1]
        self.act.backward_train(Z, h, buf[f"S{d}"][:, t], dh, dZ)
        np.matmul(w["W_hh"], dZ, out=dh)


@LAYERS.register("gru")
class GRU(_Recurrent):
    """torch's GRU, gates r, z, n (see the module docstring)."""

    gates = 3
    default_init = "glorot_uniform"

    def cell_buffers(self, buf, d, R, L, B, dtype):
        H = self.hidden
        buf[f"HW{d}"] = np.empty((R, L, 3 * H, B), dtype)  # W_hh^T h_{t-1} + b_hh
        buf[f"RZ{d}"] = np.empty((R, L, 2 * H, B), dtype)
        buf[f"N{d}"] = np.empty((R, L, H, B), dtype)

    def step(self, buf, d, w, t, h_prev, h, keep):
        H = self.hidden
        XW, HW = buf[f"XT{d}"][:, t], buf[f"HW{d}"][:, t]
        RZ, N = buf[f"RZ{d}"][:, t], buf[f"N{d}"][:, t]
        np.matmul(w["W_hhT"], h_prev, out=HW)
        HW += w["b_hhT"]
        np.add(XW[:, : 2 * H], HW[:, : 2 * H], out=RZ)
        _sigmoid(RZ, out=RZ)
        np.multiply(RZ[:, :H], HW[:, 2 * H :], out=N)
        N += XW[:, 2 * H :]
        np.tanh(N, out=N)
        np.subtract(h_prev, N, out=h)  # h = n + z (h_prev - n)
        h *= RZ[:, H:]
        h += N

    def step_back(self, buf, d, w, t, h_prev, dh):
        H = self.hidden
        HW = buf[f"HW{d}"][:, t]
        RZ, n = buf[f"RZ{d}"][:, t], buf[f"N{d}"][:, t]
        r, z = RZ[:, :H], RZ[:, H:]
        dGx, dGh = buf[f"dGx{d}"][:, t], buf[f"dGh{d}"][:, t]
        one = dh.dtype.type(1)
        # n's pre-activation: dn * (1 - n^2), dn = dh (1 - z)
        da_n = dGx[:, 2 * H :]
        np.multiply(dh, one - z, out=da_n)
        da_n *= one - n * n
        np.multiply(da_n, r, out=dGh[:, 2 * H :])
        # r: da_n * HW_n * r (1 - r); z: dh (h_prev - n) z (1 - z)
        da_r = dGx[:, :H]
        np.multiply(da_n, HW[:, 2 * H :], out=da_r)
        da_r *= r * (one - r)
        da_z = dGx[:, H : 2 * H]
        np.subtract(h_prev, n, out=da_z)
        da_z *= dh
        da_z *= z * (one - z)
        dGh[:, : 2 * H] = dGx[:, : 2 * H]
        dh *= z
        dh += np.matmul(w["W_hh"], dGh)


@LAYERS.register("lstm")
class LSTM(_Recurrent):
    """torch's LSTM, gates i, f, g, o (see the module docstring)."""

    gates = 4
    default_init = "glorot_uniform"

    def cell_buffers(self, buf, d, R, L, B, dtype):
        H = self.hidden
        buf[f"Cp{d}"] = np.zeros((R, L + 2, H, B), dtype)  # c_t at t + 1, like Hp
        buf[f"TC{d}"] = np.empty((R, L, H, B), dtype)  # tanh(c_t)

    def train_buffers(self, buf, lead, B, dtype):
        super().train_buffers(buf, lead, B, dtype)
        buf["dc"] = np.empty((self.p[0].shape[0], self.hidden, B), dtype)

    def reset_carry(self, buf):
        buf["dc"].fill(0)

    def step(self, buf, d, w, t, h_prev, h, keep):
        H = self.hidden
        G = buf[f"XT{d}"][:, t]  # becomes the activated gates in place
        G += np.matmul(w["W_hhT"], h_prev)
        G += w["b_hhT"]
        _sigmoid(G[:, : 2 * H], out=G[:, : 2 * H])
        np.tanh(G[:, 2 * H : 3 * H], out=G[:, 2 * H : 3 * H])
        _sigmoid(G[:, 3 * H :], out=G[:, 3 * H :])
        i, f, g, o = G[:, :H], G[:, H : 2 * H], G[:, 2 * H : 3 * H], G[:, 3 * H :]
        Cp = buf[f"Cp{d}"]
        prev = t if d == 0 else t + 2
        c = Cp[:, t + 1]
        np.multiply(f, Cp[:, prev], out=c)
        c += i * g
        tc = buf[f"TC{d}"][:, t]
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=h)

    def step_back(self, buf, d, w, t, h_prev, dh):
        H = self.hidden
        G = buf[f"XT{d}"][:, t]
        i, f, g, o = G[:, :H], G[:, H : 2 * H], G[:, 2 * H : 3 * H], G[:, 3 * H :]
        prev = t if d == 0 else t + 2
        c_prev = buf[f"Cp{d}"][:, prev]
        tc = buf[f"TC{d}"][:, t]
        dc = buf["dc"]
        one = dh.dtype.type(1)
        dG = buf[f"dGx{d}"][:, t]
        np.multiply(dh, tc, out=dG[:, 3 * H :])  # do
        dG[:, 3 * H :] *= o * (one - o)
        dc += dh * o * (one - tc * tc)
        np.multiply(dc, g, out=dG[:, :H])  # di
        dG[:, :H] *= i * (one - i)
        np.multiply(dc, c_prev, out=dG[:, H : 2 * H])  # df
        dG[:, H : 2 * H] *= f * (one - f)
        np.multiply(dc, i, out=dG[:, 2 * H : 3 * H])  # dg
        dG[:, 2 * H : 3 * H] *= one - g * g
        dc *= f
        np.matmul(w["W_hh"], dG, out=dh)


# --------------------------------------------------------------------------------- specs


def parse_layers(spec: Any) -> list[Layer]:
    """Layers from a spec list: ``[{conv1d: {channels: 25, kernel: 5}}, flatten, ...]``.

    Each item is a bare kind name (a layer without parameters, or with all defaults) or a
    one-key mapping ``{kind: {key: value, ...}}``; an existing :class:`Layer` passes through.
    A bad item is one line naming its index, the key and the valid choices.
    """
    if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
        raise NngridError(
            f"layers must be a list like [{{dense: {{units: 32}}}}, flatten], got {spec!r}"
        )
    layers = []
    for i, item in enumerate(spec):
        if isinstance(item, Layer):
            layers.append(item)
            continue
        if isinstance(item, str):
            kind, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            kind, params = next(iter(item.items()))
            params = {} if params is None else params
            if not isinstance(params, dict):
                raise NngridError(
                    f"layer {i} ({kind}): parameters must be a mapping like {{key: value}}, "
                    f"got {params!r}"
                )
        else:
            raise NngridError(
                f"layer {i}: expected a kind name or {{kind: {{key: value}}}}, got {item!r}; "
                f"valid kinds: {', '.join(LAYERS.names())}"
            )
        if kind not in LAYERS:
            raise NngridError(
                f"layer {i}: unknown kind {kind!r}; valid choices: {', '.join(LAYERS.names())}"
            )
        valid = list(LAYERS.parameters(kind))
        for key in params:
            if key not in valid:
                raise NngridError(
                    f"layer {i} ({kind}): unknown key {key!r}; "
                    f"valid keys: {', '.join(valid) or 'none'}"
                )
        for key, default in LAYERS.parameters(kind).items():
            if (
                default is None
                and key in valid
                and key not in params
                and key not in ("init", "stride")
            ):
                raise NngridError(
                    f"layer {i} ({kind}): needs key {key!r}; its keys: {', '.join(valid)}"
                )
        layer = LAYERS.get(kind)(**params)
        layer.index = i
        layers.append(layer)
    return layers


def spec_of(layers: Sequence[Layer]) -> list[Any]:
    """The spec list (plain data, as the records' config stores it) of built layers."""
    out: list[Any] = []
    for layer in layers:
        keys = {k: getattr(layer, k) for k in layer._keys}
        for extra in ("init", "recurrent_init"):
            if (
                hasattr(layer, extra)
                and getattr(layer, extra) != LAYERS.parameters(layer.name)[extra]
            ):
                keys[extra] = getattr(layer, extra)
        out.append({layer.name: keys} if keys else layer.name)
    return out


def plan(spec: Any, in_shape: Sequence[int], n_out: int) -> tuple[int, list[int]]:
    """Check ``spec`` on one example's ``in_shape`` without allocating anything.

    Returns the parameters per replica and, per layer (the output layer included), the values
    one example keeps for the backward pass: the layer's output, and for a recurrent layer its
    states at every time step. Raises the same one-line errors as building the network.
    """
    from types import SimpleNamespace

    layers = parse_layers(spec)
    output = Dense(units=int(n_out))
    output.output = True
    layers.append(output)
    stub = SimpleNamespace(activation=None, initializer=None, dtype=np.dtype(np.float32))
    shape = Shape(tuple(int(d) for d in in_shape), "channel")
    n_params, kept = 0, []
    for i, layer in enumerate(layers):
        layer.index = i
        before = shape
        shape = layer.build(shape, stub)
        n_params += sum(int(np.prod(sh)) for _, sh in layer.params)
        size = int(np.prod(shape.dims))
        if isinstance(layer, _Recurrent):
            size = max(size, before.dims[0] * layer.D * layer.gates * layer.hidden)
        kept.append(size)
    return n_params, kept
