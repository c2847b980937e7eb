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
layer_norm,          (R, B, F) or (R, B, L, C)   unchanged                   weight, bias (1, F)
batch_norm                                                                   (or (1, C))
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

layer_norm is ``torch.nn.LayerNorm`` over the last axis; batch_norm is ``torch.nn.BatchNorm1d``
(batch statistics while training, per-replica running statistics in evaluation). Every layer
declares its parameters' roles (:class:`Param`: ``penalised`` for the regularizers, ``init``) and
receives ``train`` in ``forward``; a layer with state that is not a parameter (batch_norm's running
statistics) declares it in :meth:`Layer.state`.

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
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nngrid.core.hyper import Hyper
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

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


@dataclass(frozen=True)
class Param:
    """One parameter of a layer, per replica a matrix ``shape = (rows, cols)``, and its roles.

    ``penalised``: the regularizers see it (penalties, their gradients, max-norm); the layers
    mark their weight matrices, never biases or normalisation gains. ``init``: how each
    replica's values start: ``"zeros"``, ``"ones"``, ``"network"`` (the network's initializer,
    drawn from the replica's Generator with ``(rows, cols)`` as the fans), or a registered
    initializer's name; a layer that overrides :meth:`Layer.init_replica` (the recurrent ones:
    a draw per gate block) says ``"custom"``.
    """

    name: str
    shape: tuple[int, int]
    penalised: bool = False
    init: str = "zeros"


def as_param(item: Any) -> Param:
    """A :class:`Param`; a bare ``(name, (rows, cols))`` pair (a layer written before roles
    were declared) is an unpenalised parameter its ``init_replica`` fills."""
    if isinstance(item, Param):
        return item
    name, shape = item
    return Param(str(name), tuple(shape), penalised=False, init="custom")


class Layer:
    """Base class. Subclasses set ``params`` (a list of :class:`Param`) in :meth:`build`.

    The network calls ``forward(X, buf, keep, train)``: ``keep`` says the backward pass will
    follow (keep its work in ``buf``), ``train`` that this is a training step (dropout acts, a
    batch norm uses and updates its batch statistics) rather than an evaluation. A layer whose
    ``forward`` takes no ``train`` is called without it.
    """

    name = "layer"
    has_activation = False
    #: Constructor arguments that build the layer in a tiny test network (the generic checks
    #: and the plugin check use them): give the required ones.
    check_params: dict[str, Any] = {}

    def __init__(self) -> None:
        self.index = 0
        self.params: list[Param] = []

    # ---- set-up
    def build(self, shape: Shape, net: Any) -> Shape:
        """Check the input ``shape``, declare the parameters, return the output shape."""
        raise NotImplementedError

    def init_replica(self, rng: np.random.Generator, values: list[np.ndarray], net: Any) -> None:
        """Fill one replica's parameter arrays ``values`` (zeros on entry) from ``rng``, in
        order, as each :class:`Param`'s ``init`` says."""
        from nngrid.core.initializers import INITIALIZERS

        for param, value in zip(self.params, values, strict=True):
            init = as_param(param).init
            if init == "ones":
                value[...] = 1
            elif init == "network":
                value[...] = net.initializer(rng, *value.shape, net.dtype)
            elif init not in ("zeros", "custom"):
                value[...] = INITIALIZERS.create(init)(rng, *value.shape, net.dtype)

    def bind(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        self.p, self.g = params, grads

    def state(self) -> dict[str, np.ndarray]:
        """The layer's non-parameter state: arrays that are not in the flat buffer (the
        optimizer never sees them) but that its outputs depend on, such as a batch norm's
        running statistics. Each is ``(R, ...)``, replica first (the network checks), made in
        :meth:`build` or :meth:`bind` and only ever changed in place, under its torch
        ``state_dict`` name.

        Declared so that the trainer can snapshot and restore them with the weights (early
        stopping's best epoch, a diverged replica's last finite epoch) without knowing the
        layer: weights put back with another epoch's statistics would be evaluated with
        statistics they were never trained with. None by default."""
        return {}

    def buffers(self, lead: tuple, B: int, dtype: np.dtype) -> dict[str, Any]:
        """Work arrays of one batch size; ``lead`` is ``(R,)`` or ``()`` for shared inputs."""
        return {}

    def train_buffers(self, buf: dict[str, Any], lead: tuple, B: int, dtype: np.dtype) -> None:
        """Add backward's work arrays to ``buf`` (the first time a pass keeps its work)."""

    def where(self, msg: str) -> NngridError:
        return NngridError(f"layer {self.index} ({self.name}): {msg}")

    # ---- torch state_dict names and layouts
    def torch_names(self) -> list[str]:
        return [as_param(p).name for p in self.params]

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


def _activate(act: Any, Z: np.ndarray, A: np.ndarray, saved: np.ndarray, keep: bool) -> None:
    """``A = act(Z)``; a pass that keeps its work also fills ``saved`` for the backward pass."""
    if keep:
        act.forward_train(Z, A, saved)
    else:
        act.forward(Z, out=A)


# --------------------------------------------------------------------------------- dense


class _WeightBias(Layer):
    """A layer with one weight matrix (drawn by the network's initializer) and one bias row."""

    @staticmethod
    def weight_bias(rows: int, cols: int) -> list[Param]:
        return [
            Param("weight", (rows, cols), penalised=True, init="network"),
            Param("bias", (1, cols)),
        ]

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
    hypers = (Hyper("units", int, None, low=1, help="output features (required)"),)
    check_params = {"units": 3}

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
        self.params = self.weight_bias(shape.dims[0], units)
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

    def forward(self, X, buf, keep, train=False):
        Z = buf["Z"]
        np.matmul(X, self.W, out=Z)
        np.add(Z, self.b, out=Z)
        buf["X"] = X
        if self.act is None:
            return Z
        _activate(self.act, Z, buf["A"], buf.get("S"), keep)
        return buf["A"]

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
    hypers = (
        Hyper("channels", int, None, low=1, help="output channels (required)"),
        Hyper("kernel", int, None, low=1, help="taps of the kernel (required)"),
        Hyper("stride", int, 1, low=1, help="step between windows"),
        Hyper("padding", int, 0, low=0, help="zeros added at each end"),
        Hyper("dilation", int, 1, low=1, help="spacing of the taps"),
    )
    check_params = {"channels": 2, "kernel": 2}

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
        self.params = self.weight_bias(self.kernel * C, self.channels)
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

    def forward(self, X, buf, keep, train=False):
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
        _activate(self.act, Z, buf["A"], buf.get("S"), keep)
        return buf["A"]

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


def _mean_into(X: np.ndarray, n: int, out: np.ndarray) -> np.ndarray:
    """The mean of ``X`` over its next-to-last axis (``n`` entries) into ``out``: the sum, then
    times ``1 / n`` in ``out``'s dtype (the average pools)."""
    np.sum(X, axis=-2, out=out)
    out *= out.dtype.type(1.0 / n)
    return out


class _Pool(Layer):
    _keys = ("kernel", "stride")
    hypers = (
        Hyper("kernel", int, None, low=1, help="window length (required)"),
        Hyper("stride", int, None, low=1, help="step between windows (default: kernel)"),
    )
    check_params = {"kernel": 2}

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

    def forward(self, X, buf, keep, train=False):
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

    def forward(self, X, buf, keep, train=False):
        win = _windows(np.ascontiguousarray(X), self.L_out, self.kernel, self.stride, 1)
        return _mean_into(win, self.kernel, buf["Y"])

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

    def forward(self, X, buf, keep, train=False):
        return _mean_into(X, self.L, buf["Y"])

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

    def forward(self, X, buf, keep, train=False):
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


def _span(views: Sequence[np.ndarray]) -> np.ndarray:
    """One 1-D view over ``views``, which the network lays out back to back in its flat buffer."""
    base = views[0].base
    size = views[0].itemsize
    start = (views[0].__array_interface__["data"][0] - base.__array_interface__["data"][0]) // size
    end = start
    for v in views:
        at = (v.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // size
        if v.base is not base or not v.flags.c_contiguous or at != end:
            raise RuntimeError("a recurrent layer's parameters must be consecutive in one buffer")
        end += v.size
    return base.reshape(-1)[start:end]


class _Recurrent(Layer):
    """Shared set-up, parameters and time loops of rnn, gru and lstm.

    One step of one direction is one batched GEMM and a few element-wise passes. The step's
    input is a column block ``[h_{t-1}; x_t; 1]`` of ``K = hidden + C + 1`` rows and the GEMM
    gives every pre-activation block of the step at once, ``P = W [h_{t-1}; x_t; 1]``, with
    ``W (M, K)`` gathered from torch's four parameters of the direction (``M = blocks x
    hidden``; the bias column holds ``b_ih + b_hh`` where a block takes both). Work arrays are
    replica-minor, ``(..., rows, R, B)``: each block of a step is one contiguous array over all
    replicas (element-wise passes run on it at full speed) and each replica's GEMM operands are
    plain strided matrices. Steps are stored in processing order (the reverse direction's step
    ``s`` is time ``L - 1 - s``), so both directions share the loops.
    """

    gates = 1  # torch's blocks of hidden units in W_ih, W_hh (G = gates x hidden)
    blocks = 1  # pre-activation blocks a step computes
    ih_blocks: tuple[int, ...] = (0,)  # block receiving gate g's input part x_t W_ih[g]
    hh_blocks: tuple[int, ...] = (0,)  # block receiving gate g's recurrent part h W_hh[g]
    #: blocks through a sigmoid, computed as ``(1 + tanh(a / 2)) / 2``: their rows of the
    #: forward GEMM's matrix are halved (exact), saving a pass per step
    sig_blocks: tuple[int, ...] = ()
    cell_kept = 0  # the cell's own per-step arrays of ``hidden`` rows
    default_init: str | None = None  # None: the network's initializer
    _keys = ("hidden", "bidirectional", "sequences")
    hypers = (
        Hyper("hidden", int, None, low=1, help="hidden units per direction (required)"),
        Hyper("bidirectional", bool, False, help="add a reverse direction"),
        Hyper("sequences", bool, False, help="return every step (else the last state)"),
        Hyper("init", str, None, help="initializer of W_ih (default: the layer's)"),
        Hyper("recurrent_init", str, "orthogonal", help="initializer of W_hh"),
    )
    check_params = {"hidden": 2}
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
        from nngrid.core.initializers import INITIALIZERS

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
        self.K, self.M = H + self.C + 1, self.blocks * H
        #: values per example and replica one step works on (sizes predict's chunks)
        self.row_floats = self.K + self.M + 3 * H
        #: values per example and replica a pass that keeps nothing holds for the whole sequence
        self.sequence_floats = self.D * (self.L + 1) * (self.K + H)
        #: values per example and replica a training pass keeps for the backward pass
        self.kept_floats = self.D * (self.L + 1) * (self.K + self.M + self.cell_kept * H)
        self.half = net.dtype.type(0.5)
        scale = np.ones((self.M, 1), net.dtype)
        for q in self.sig_blocks:
            scale[q * H : (q + 1) * H] = self.half
        self.row_scale = scale
        self.act = net.activation
        init = self.init or self.default_init
        self.w_init = net.initializer if init is None else INITIALIZERS.create(init)
        self.r_init = INITIALIZERS.create(self.recurrent_init)
        G = self.gates * H
        self.params = []
        for suffix in ("_l0", "_l0_reverse")[: self.D]:
            self.params += [
                Param("weight_ih" + suffix, (self.C, G), penalised=True, init="custom"),
                Param("weight_hh" + suffix, (H, G), penalised=True, init="custom"),
                Param("bias_ih" + suffix, (1, G)),
                Param("bias_hh" + suffix, (1, G)),
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

    def _gather_map(self, R: int) -> tuple[np.ndarray, ...]:
        """Indices from one direction's parameters, concatenated flat in their order (W_ih,
        W_hh, b_ih, b_hh, each ``(R, rows, cols)``), into its step matrix ``W (R, M, K)``:
        ``(dst, src)`` of each value's first destination, ``(dst2, src2)`` of the values
        added to a bias entry that already has one, and ``grad`` (the entry of ``W`` whose
        gradient is each parameter's)."""
        H, C, K, M, G = self.hidden, self.C, self.K, self.M, self.gates * self.hidden
        sizes = [C * G, H * G, G, G]
        offs = np.cumsum([0] + [R * s for s in sizes])
        r = np.arange(R).reshape(-1, 1, 1, 1)
        j = np.arange(H).reshape(1, 1, 1, -1)
        g = np.arange(self.gates).reshape(1, 1, -1, 1)
        srcs, dsts = [], []
        # (rows of the parameter, W's column of its row a, the block of each gate)
        for p, (rows, column, blocks) in enumerate(
            [
                (C, lambda a: H + a, self.ih_blocks),  # W_ih row c: x_t's column H + c
                (H, lambda a: a, self.hh_blocks),  # W_hh row k: h_{t-1}'s column k
                (1, lambda a: K - 1 + 0 * a, self.ih_blocks),  # the biases: the ones column
                (1, lambda a: K - 1 + 0 * a, self.hh_blocks),
            ]
        ):
            a = np.arange(rows).reshape(1, -1, 1, 1)
            q = np.asarray(blocks).reshape(1, 1, -1, 1)
            srcs.append((offs[p] + r * rows * G + a * G + g * H + j).reshape(-1))
            dsts.append((r * M * K + (q * H + j) * K + column(a)).reshape(-1))
        src, dst = np.concatenate(srcs), np.concatenate(dsts)
        _, first = np.unique(dst, return_index=True)
        again = np.setdiff1d(np.arange(dst.size), first)
        return dst[first], src[first], dst[again], src[again], dst

    def bind(self, params, grads):
        super().bind(params, grads)
        R = params[0].shape[0]
        maps = self._gather_map(R)
        self.dirs = []
        for d in range(self.D):
            p, g = params[4 * d : 4 * d + 4], grads[4 * d : 4 * d + 4]
            self.dirs.append({"p1": _span(p), "g1": _span(g), "maps": maps})

    def _gather(self, w: dict, W: np.ndarray, Ws: np.ndarray) -> None:
        """The direction's current parameters into its step matrix ``W`` (zeros stay zero) and
        ``Ws``, ``W`` with the sigmoid blocks' rows halved."""
        dst, src, dst2, src2, _ = w["maps"]
        flat = w["p1"]
        Wf = W.reshape(-1)
        Wf[dst] = flat[src]
        Wf[dst2] += flat[src2]
        if Ws is not W:
            np.multiply(W, self.row_scale, out=Ws)

    def _scatter(self, w: dict, dW: np.ndarray) -> None:
        """The gradient of ``W`` into the direction's four parameter gradients."""
        np.take(dW.reshape(-1), w["maps"][4], out=w["g1"])

    def buffers(self, lead, B, dtype):
        R, L, H, K, M = self.p[0].shape[0], self.L, self.hidden, self.K, self.M
        out = (R, B, L, self.D * H) if self.sequences else (R, B, self.D * H)
        buf: dict[str, Any] = {"out": np.empty(out, dtype)}
        for d in range(self.D):
            Hc = np.zeros((L + 1, K, R, B), dtype)  # step s reads rows [h_{s-1}; x_s; 1] of Hc[s]
            Hc[:, K - 1] = 1
            W = np.zeros((R, M, K), dtype)
            b = {"Hc": Hc, "W": W, "Ws": np.zeros_like(W) if self.sig_blocks else W}
            self.cell_buffers(b, R, B, dtype)
            ev = self.step_arrays(1, R, B, dtype)  # a pass that keeps nothing: one step's slot
            b["ev"] = [self.step_views(b, ev, s, 0) for s in range(L)]
            buf[f"d{d}"] = b
        return buf

    def step_arrays(self, steps: int, R: int, B: int, dtype: np.dtype) -> dict:
        """Per-step arrays (``steps`` slots): the pre-activations and the cell's own."""
        return {"P": np.empty((steps, self.M, R, B), dtype)}

    def cell_buffers(self, b: dict, R: int, B: int, dtype: np.dtype) -> None:
        pass

    def train_buffers(self, buf, lead, B, dtype):
        R, L, H, K, M = self.p[0].shape[0], self.L, self.hidden, self.K, self.M
        shared = {
            "dh": np.empty((H, R, B), dtype),
            "dP": np.empty((M, R, B), dtype),  # one step's: its dW is added up at once
            "dHc": np.empty((L, K, R, B), dtype),  # W^T dP: rows [dh_{s-1}; dx_s; -]
            "dWs": np.empty((L, R, M, K), dtype),
            "dW": np.empty((R, M, K), dtype),
            "T1": np.empty((H, R, B), dtype),
            "T2": np.empty((H, R, B), dtype),
            "dX": np.empty((R, B, L, self.C), dtype),
        }
        if self.sequences:
            shared["dYs"] = np.empty((L, H, R, B), dtype)
        self.cell_train_buffers(shared, R, B, dtype)
        buf["shared"] = shared
        for d in range(self.D):
            b = buf[f"d{d}"]
            tr = self.step_arrays(L, R, B, dtype)
            b["fw"] = [self.step_views(b, tr, s, s) for s in range(L)]
            b["bw"] = [dict(v, **self.back_views(shared, s)) for s, v in enumerate(b["fw"])]

    def cell_train_buffers(self, shared: dict, R: int, B: int, dtype: np.dtype) -> None:
        pass

    def step_views(self, b: dict, arrays: dict, s: int, slot: int) -> dict:
        """Views of step ``s`` (its per-step arrays in ``slot``) for the forward pass."""
        H, Hc, P = self.hidden, b["Hc"], arrays["P"]
        return {
            "W": b["Ws"],
            "xin": Hc[s].transpose(1, 0, 2),  # (R, K, B)
            "xinT": Hc[s].transpose(1, 2, 0),
            "pout": P[slot].transpose(1, 0, 2),  # (R, M, B)
            "P": [P[slot, q * H : (q + 1) * H] for q in range(self.blocks)],
            "h_prev": Hc[s, :H],
            "h": Hc[s + 1, :H],
            "WT": b["W"].transpose(0, 2, 1),
        }

    def back_views(self, shared: dict, s: int) -> dict:
        """The extra views of step ``s`` for the backward pass."""
        H, dP, dHc = self.hidden, shared["dP"], shared["dHc"]
        return {
            "dpin": dP.transpose(1, 0, 2),
            "dhout": dHc[s].transpose(1, 0, 2),
            "dWs": shared["dWs"][s],
            "dP": [dP[q * H : (q + 1) * H] for q in range(self.blocks)],
            "dh_prev": dHc[s, :H],
        }

    def forward(self, X, buf, keep, train=False):
        L, H, C = self.L, self.hidden, self.C
        # the input, (L, C, R or 1, B), time-reversed for the reverse direction
        src = X.transpose(1, 2, 0)[:, :, None, :] if X.ndim == 3 else X.transpose(2, 3, 0, 1)
        out = buf["out"]
        for d, w in enumerate(self.dirs):
            b = buf[f"d{d}"]
            self._gather(w, b["W"], b["Ws"])
            Hc = b["Hc"]
            np.copyto(Hc[:L, H : H + C], src if d == 0 else src[::-1])
            for v in b["fw"] if keep else b["ev"]:
                self.step(v, keep)
            o = out[..., d * H : (d + 1) * H]
            if self.sequences:
                np.copyto(o, (Hc[1 : L + 1] if d == 0 else Hc[L:0:-1])[:, :H].transpose(2, 3, 0, 1))
            else:
                np.copyto(o, Hc[L, :H].transpose(1, 2, 0))
        return out

    def backward(self, dY, buf, need_dx):
        L, H, C = self.L, self.hidden, self.C
        sh = buf["shared"]
        dh, dHc, dWs, dW = sh["dh"], sh["dHc"], sh["dWs"], sh["dW"]
        R = dh.shape[1]
        norms = None
        if self.keep_dh_norms:
            norms = self.dh_norms = np.zeros((R, self.D, L))
        dX = sh["dX"]
        for d, w in enumerate(self.dirs):
            b = buf[f"d{d}"]
            dYd = dY[..., d * H : (d + 1) * H]
            self.reset_carry(sh)
            if self.sequences:
                dYs = sh["dYs"]
                np.copyto(dYs, (dYd if d == 0 else dYd[:, :, ::-1]).transpose(2, 3, 0, 1))
                dh.fill(0)
            else:
                np.copyto(dh, dYd.transpose(2, 0, 1))
            views = b["bw"]
            for s in range(L - 1, -1, -1):
                if self.sequences:
                    dh += dYs[s]
                if norms is not None:  # dh is dL/dh_t here
                    t = s if d == 0 else L - 1 - s
                    norms[:, d, t] = np.sqrt(np.einsum("hrb,hrb->r", dh, dh, dtype=np.float64))
                v = views[s]
                self.step_back(v, dh, sh)
                np.matmul(v["dpin"], v["xinT"], out=v["dWs"])  # dP_s [h_{s-1}; x_s; 1]^T
            np.sum(dWs, axis=0, out=dW)
            self._scatter(w, dW)
            if need_dx:
                dx = dHc[:, H : H + C].transpose(2, 3, 0, 1)
                if d == 0:
                    np.copyto(dX, dx)
                else:
                    dX += dx[:, :, ::-1]
        return dX if need_dx else None

    def reset_carry(self, shared):
        pass

    def to_torch(self, name, value):
        return value[0].copy() if name.startswith("bias") else value.T.copy()


@LAYERS.register("rnn")
class RNN(_Recurrent):
    """Elman: ``h_t = f(x_t W_ih + b_ih + h_{t-1} W_hh + b_hh)`` with f the network's activation."""

    has_activation = True
    cell_kept = 1  # the activation's saved state

    def step_arrays(self, steps, R, B, dtype):
        arrays = super().step_arrays(steps, R, B, dtype)
        arrays["S"] = np.empty((steps, self.hidden, R, B), dtype)
        return arrays

    def step_views(self, b, arrays, s, slot):
        return dict(super().step_views(b, arrays, s, slot), S=arrays["S"][slot])

    def step(self, v, keep):
        np.matmul(v["W"], v["xin"], out=v["pout"])
        _activate(self.act, v["P"][0], v["h"], v["S"], keep)

    def step_back(self, v, dh, shared):
        self.act.backward_train(v["P"][0], v["h"], v["S"], dh, v["dP"][0])
        np.matmul(v["WT"], v["dpin"], out=v["dhout"])
        np.copyto(dh, v["dh_prev"])


@LAYERS.register("gru")
class GRU(_Recurrent):
    """torch's GRU, gates r, z, n (see the module docstring). A step's blocks: the r and z
    pre-activations, ``h_{t-1} W_hh[n] + b_hh[n]`` and ``x_t W_ih[n] + b_ih[n]``."""

    gates, blocks = 3, 4
    ih_blocks, hh_blocks, sig_blocks = (0, 1, 3), (0, 1, 2), (0, 1)
    default_init = "glorot_uniform"

    def cell_buffers(self, b, R, B, dtype):
        b["T"] = np.empty((self.hidden, R, B), dtype)

    def step_views(self, b, arrays, s, slot):
        v = super().step_views(b, arrays, s, slot)
        v.update(rz=arrays["P"][slot, : 2 * self.hidden], T=b["T"])
        return v

    def step(self, v, keep):
        np.matmul(v["W"], v["xin"], out=v["pout"])
        rz, T, h = v["rz"], v["T"], v["h"]
        r, z, hn, n = v["P"]  # n's block holds x W_ih[n] + b_ih[n] until n overwrites it
        np.tanh(rz, out=rz)  # sigmoid of the pre-activation (W's rows halved)
        rz *= self.half
        rz += self.half
        np.multiply(r, hn, out=T)
        n += T
        np.tanh(n, out=n)
        np.subtract(v["h_prev"], n, out=h)  # h = n + z (h_prev - n)
        h *= z
        h += n

    def step_back(self, v, dh, sh):
        r, z, hn, n = v["P"]
        dr, dz, dhn, dxn = v["dP"]
        T1, T2 = sh["T1"], sh["T2"]
        one = dh.dtype.type(1)
        np.subtract(one, z, out=T1)
        np.multiply(dh, T1, out=dxn)  # dn = dh (1 - z); n's pre-activation: dn (1 - n^2)
        np.multiply(n, n, out=T2)
        np.subtract(one, T2, out=T2)
        dxn *= T2
        np.multiply(dxn, r, out=dhn)
        np.multiply(dxn, hn, out=dr)  # r: da_n hn r (1 - r)
        np.subtract(one, r, out=T2)
        T2 *= r
        dr *= T2
        np.subtract(v["h_prev"], n, out=dz)  # z: dh (h_prev - n) z (1 - z)
        dz *= dh
        T1 *= z
        dz *= T1
        np.matmul(v["WT"], v["dpin"], out=v["dhout"])
        dh *= z
        dh += v["dh_prev"]


@LAYERS.register("lstm")
class LSTM(_Recurrent):
    """torch's LSTM, gates i, f, g, o (see the module docstring)."""

    gates, blocks = 4, 4
    ih_blocks = hh_blocks = (0, 1, 3, 2)  # blocks i, f, o (the sigmoids, together), g
    sig_blocks = (0, 1, 2)
    cell_kept = 2  # c and tanh(c)
    default_init = "glorot_uniform"

    def cell_buffers(self, b, R, B, dtype):
        b["Cc"] = np.zeros((self.L + 1, self.hidden, R, B), dtype)  # c at s + 1, zeros at 0
        b["ig"] = np.empty((self.hidden, R, B), dtype)

    def step_arrays(self, steps, R, B, dtype):
        arrays = super().step_arrays(steps, R, B, dtype)
        arrays["TC"] = np.empty((steps, self.hidden, R, B), dtype)  # tanh(c)
        return arrays

    def cell_train_buffers(self, shared, R, B, dtype):
        shared["dc"] = np.empty((self.hidden, R, B), dtype)

    def reset_carry(self, shared):
        shared["dc"].fill(0)

    def step_views(self, b, arrays, s, slot):
        v = super().step_views(b, arrays, s, slot)
        v.update(
            ifo=arrays["P"][slot, : 3 * self.hidden],
            c_prev=b["Cc"][s],
            c=b["Cc"][s + 1],
            tc=arrays["TC"][slot],
            ig=b["ig"],
        )
        return v

    def step(self, v, keep):
        np.matmul(v["W"], v["xin"], out=v["pout"])
        i, f, o, g = v["P"]
        c, tc, ig, ifo = v["c"], v["tc"], v["ig"], v["ifo"]
        np.tanh(ifo, out=ifo)  # sigmoids of the pre-activations (W's rows halved)
        ifo *= self.half
        ifo += self.half
        np.tanh(g, out=g)
        np.multiply(f, v["c_prev"], out=c)
        np.multiply(i, g, out=ig)
        c += ig
        np.tanh(c, out=tc)
        np.multiply(o, tc, out=v["h"])

    def step_back(self, v, dh, sh):
        i, f, o, g = v["P"]
        di, df, do, dg = v["dP"]
        tc, dc, T1 = v["tc"], sh["dc"], sh["T1"]
        one = dh.dtype.type(1)
        np.multiply(dh, tc, out=do)  # do = dh tanh(c), through o's sigmoid
        np.subtract(one, o, out=T1)
        T1 *= o
        do *= T1
        np.multiply(tc, tc, out=T1)  # dc += dh o (1 - tanh(c)^2)
        np.subtract(one, T1, out=T1)
        T1 *= o
        T1 *= dh
        dc += T1
        np.multiply(dc, g, out=di)
        np.subtract(one, i, out=T1)
        T1 *= i
        di *= T1
        np.multiply(dc, v["c_prev"], out=df)
        np.subtract(one, f, out=T1)
        T1 *= f
        df *= T1
        np.multiply(dc, i, out=dg)
        np.multiply(g, g, out=T1)
        np.subtract(one, T1, out=T1)
        dg *= T1
        dc *= f
        np.matmul(v["WT"], v["dpin"], out=v["dhout"])
        np.copyto(dh, v["dh_prev"])


# --------------------------------------------------------------------------------- norms


class _Norm(Layer):
    """Shared parts of layer_norm and batch_norm: a gain ``weight`` (starts at 1) and a
    ``bias`` (starts at 0) per feature or channel, neither penalised; ``Y = xhat * weight +
    bias`` with ``xhat`` the input normalised over :meth:`_stat_axes`."""

    _keys = ("eps",)
    hypers = (Hyper("eps", float, 1e-5, low=0.0, low_open=True, help="added to the variance"),)

    def __init__(self, eps: float = 1e-5):
        super().__init__()
        self.eps = eps

    def build(self, shape, net):
        eps = self.eps
        ok = isinstance(eps, (int, float, np.floating)) and not isinstance(eps, bool)
        if not ok or not np.isfinite(eps) or eps <= 0:
            raise self.where(f"eps must be a number > 0, got {eps!r}")
        self.eps = float(eps)
        self.shape = shape
        F = shape.dims[-1]
        self.params = [Param("weight", (1, F), init="ones"), Param("bias", (1, F))]
        return shape

    def bind(self, params, grads):
        super().bind(params, grads)
        R, F = params[0].shape[0], params[0].shape[-1]
        ones = (1,) * len(self.shape.dims)  # (R, 1, F) or (R, 1, 1, C): over (R, B, ...)
        self.Wb = params[0].reshape(R, *ones, F)
        self.bb = params[1].reshape(R, *ones, F)

    def _reduce(self, x: np.ndarray) -> np.ndarray:
        """Sum over every axis but the replicas and the features: ``(R, ..., F) -> (R, 1, F)``."""
        return x.sum(axis=tuple(range(1, x.ndim - 1))).reshape(x.shape[0], 1, x.shape[-1])

    def to_torch(self, name, value):
        return value.reshape(-1).copy()

    def from_torch(self, name, value):
        return value.reshape(1, -1)

    def _affine(self, xhat: np.ndarray) -> np.ndarray:
        Y = np.multiply(xhat, self.Wb)
        Y += self.bb
        return Y

    def _param_grads(self, dY: np.ndarray, xhat: np.ndarray) -> None:
        self.g[0][...] = self._reduce(dY * xhat)
        self.g[1][...] = self._reduce(dY)

    def _stat_axes(self, ndim: int, buf: dict) -> int | tuple[int, ...] | None:
        """The axes the forward pass took the statistics over (of an ``ndim``-dimensional
        gradient), or None when it normalised by fixed (running) statistics."""
        raise NotImplementedError

    def backward(self, dY, buf, need_dx):
        """The parameters' gradients, then the input's: with ``d = dY * weight``, ``dX = rstd (d
        - mean(d) - xhat mean(d xhat))``, the means over :meth:`_stat_axes`; ``rstd d`` when
        the statistics were fixed."""
        xhat, rstd = buf["xhat"], buf["rstd"]
        self._param_grads(dY, xhat)
        if not need_dx:
            return None
        d = dY * self.Wb
        axes = self._stat_axes(d.ndim, buf)
        if axes is not None:
            d -= d.mean(axis=axes, keepdims=True)
            d -= xhat * np.mean(dY * self.Wb * xhat, axis=axes, keepdims=True)
        d *= rstd
        return d


@LAYERS.register("layer_norm")
class LayerNorm(_Norm):
    """Layer normalisation as ``torch.nn.LayerNorm(features, eps)``: each example (each time
    step of a sequence) normalised over its features, ``xhat = (x - mean) / sqrt(var + eps)``
    (biased variance), then ``xhat * weight + bias``. The same in training and evaluation."""

    #: the torch twin (read by the torch oracle test): module, its keyword arguments (this
    #: layer's attributes of the same names), and the axis it normalises ("last" or "channel")
    torch = ("LayerNorm", ("eps",), "last")

    def forward(self, X, buf, keep, train=False):
        mu = X.mean(axis=-1, keepdims=True)
        xc = X - mu
        rstd = 1.0 / np.sqrt(np.mean(xc * xc, axis=-1, keepdims=True) + X.dtype.type(self.eps))
        xhat = np.multiply(xc, rstd, out=xc)
        if keep:
            buf["xhat"], buf["rstd"] = xhat, rstd
        return self._affine(xhat)

    def _stat_axes(self, ndim, buf):
        return -1


@LAYERS.register("batch_norm")
class BatchNorm(_Norm):
    """Batch normalisation as ``torch.nn.BatchNorm1d(features, eps, momentum)``: each feature
    (each channel of a sequence, over the batch and the time steps) normalised by the batch's
    mean and biased variance while training, which also updates per-replica running statistics
    ``running = (1 - momentum) running + momentum batch`` (the running variance from the
    unbiased batch variance; they start at 0 and 1); evaluation normalises by the running
    statistics. ``running_mean`` and ``running_var`` are ``(R, F)`` arrays of the layer, not
    parameters: the optimizer never sees them; :meth:`state` declares them, so that they are
    saved and restored with the weights."""

    _keys = ("momentum", "eps")
    torch = ("BatchNorm1d", ("eps", "momentum"), "channel")
    hypers = (
        Hyper("momentum", float, 0.1, low=0.0, high=1.0, help="weight of a batch's statistics"),
        _Norm.hypers[0],
    )

    def __init__(self, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__(eps)
        self.momentum = momentum

    def build(self, shape, net):
        m = self.momentum
        ok = isinstance(m, (int, float, np.floating)) and not isinstance(m, bool)
        if not ok or not 0.0 <= m <= 1.0:
            raise self.where(f"momentum must be a number in [0, 1], got {m!r}")
        self.momentum = float(m)
        self.dtype = net.dtype
        return super().build(shape, net)

    def bind(self, params, grads):
        super().bind(params, grads)
        R, F = params[0].shape[0], params[0].shape[-1]
        self.running_mean = np.zeros((R, F), self.dtype)
        self.running_var = np.ones((R, F), self.dtype)

    def state(self):
        return {"running_mean": self.running_mean, "running_var": self.running_var}

    def _running(self, X: np.ndarray, stat: np.ndarray) -> np.ndarray:
        return stat.reshape(stat.shape[0], *(1,) * (X.ndim - 2), stat.shape[1])

    def forward(self, X, buf, keep, train=False):
        dt = X.dtype.type
        if X.ndim == len(self.shape.dims) + 1:  # inputs shared by the replicas
            X = X[None]
        if train:
            axes = tuple(range(1, X.ndim - 1))
            n = int(np.prod([X.shape[a] for a in axes]))
            if n < 2:
                raise self.where("needs more than one value per feature to train; use batches > 1")
            mu = X.mean(axis=axes, keepdims=True)
            xc = X - mu
            var = np.mean(xc * xc, axis=axes, keepdims=True)
            m = dt(self.momentum)
            R = self.running_mean.shape[0]
            mean_r = np.broadcast_to(mu.reshape(mu.shape[0], -1), (R, mu.shape[-1]))
            var_r = np.broadcast_to(var.reshape(var.shape[0], -1), (R, var.shape[-1]))
            self.running_mean *= dt(1.0) - m
            self.running_mean += m * mean_r
            self.running_var *= dt(1.0) - m
            self.running_var += m * var_r * dt(n / (n - 1))
        else:
            xc = X - self._running(X, self.running_mean)
            var = self._running(X, self.running_var)
        rstd = 1.0 / np.sqrt(var + dt(self.eps))
        xhat = np.multiply(xc, rstd, out=xc)
        if keep:
            buf["xhat"], buf["rstd"], buf["train"] = xhat, rstd, train
        return self._affine(xhat)

    def _stat_axes(self, ndim, buf):
        return tuple(range(1, ndim - 1)) if buf["train"] else None


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
        shape = layer.build(shape, stub)
        n_params += sum(int(np.prod(as_param(p).shape)) for p in layer.params)
        size = int(np.prod(shape.dims))
        if isinstance(layer, _Recurrent):
            size = max(size, layer.kept_floats)
        kept.append(size)
    return n_params, kept
