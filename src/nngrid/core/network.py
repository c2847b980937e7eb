"""The replica-stacked network: a list of layers (:mod:`nngrid.core.layers`) over one flat buffer.

:class:`Network` chains any layer list and appends a dense output layer; :class:`MLP` is the
fully connected special case (``sizes``), the network the study trained before layers existed,
with the same initial draws and the same floating-point operations (so the same numbers).

For the MLP, ``R`` copies ("replicas") of one architecture ``sizes = [n_0, n_1, ..., n_L]``
are trained at once. Layer ``l`` of replica ``r`` computes

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

All parameters live in one contiguous 1-D buffer :attr:`Network.flat` (``params`` are views into
it), and all gradients in :attr:`Network.flat_grad` (views ``grads``), so an optimizer updates the
whole stack with a handful of large element-wise operations. The layout: layer by layer (the
output layer last), each layer's parameters in its torch ``state_dict`` order (dense and conv1d:
``weight, bias``; recurrent: ``weight_ih, weight_hh, bias_ih, bias_hh``, then the reverse
direction's), each parameter one block ``(R, rows, cols)`` (replica-major), so that for the MLP
it is ``W_1, b_1, W_2, b_2, ...``. Initial weights are drawn replica by replica, each replica's
layers in order from its own Generator.

Dropout (inverted, per-replica rates) acts on the outputs of the hidden dense layers.

A layer's state that is not a parameter (a batch norm's running statistics) stays outside the flat
buffer, where no optimizer step can touch it; :meth:`Network.state_arrays` gathers what the
layers declare (:meth:`~nngrid.core.layers.Layer.state`), so that whoever saves or restores a
replica's weights saves or restores that state with them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nngrid.errors import NngridError

#: Rows per forward pass in :meth:`MLP.predict` (bounds the memory of large evaluations; 2048
#: rows of width 128 in float32 are 1 MB per array, about what stays in cache).
PREDICT_CHUNK = 2048

#: Bound on the widest work array of one :meth:`Network.predict` chunk (networks with sequence
#: layers; dense ones keep ``PREDICT_CHUNK``).
PREDICT_BYTES = 2**22

#: Bound on what a recurrent layer holds for a whole sequence in one :meth:`Network.predict`
#: chunk (its states at every step; one step's work is bounded by ``PREDICT_BYTES``).
PREDICT_SEQUENCE_BYTES = 2**26

#: Batch sizes whose forward/backward buffers are kept (least recently used ones are dropped).
_CACHE_SIZE = 4


def _resolve(registry_module: str, registry_name: str, value: Any, **kwargs: Any) -> Any:
    """Return ``value`` itself, or the registry entry it names, instantiated."""
    if not isinstance(value, str):
        return value
    import importlib

    registry = getattr(importlib.import_module(registry_module), registry_name)
    return registry.create(value, **kwargs)


class Network:
    """``R`` replicas of ``layers`` followed by a dense output layer of ``n_out`` units.

    Parameters
    ----------
    layers:
        A spec list (see :func:`nngrid.core.layers.parse_layers`) or
        :class:`~nngrid.core.layers.Layer`
        objects, input side first, without the output layer.
    in_shape:
        One example's shape: ``(features,)`` (flat) or ``(length, channels)`` (a sequence).
    n_out:
        Units of the appended linear output layer.
    activation, initializer, rngs, dtype:
        As for :class:`MLP`. Replica ``r``'s weights are drawn from ``rngs[r]`` alone.
    """

    def __init__(
        self,
        layers: Any,
        in_shape: Sequence[int],
        n_out: int,
        activation: Any,
        initializer: Any = None,
        rngs: Sequence[np.random.Generator] = (),
        dtype: Any = np.float32,
    ):
        import inspect

        from nngrid.core.layers import Dense, Shape, as_param, parse_layers

        if len(rngs) < 1:
            raise NngridError("the network needs one random Generator per replica (got none)")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise NngridError(f"dtype must be float32 or float64, got {self.dtype}")
        self.R = R = len(rngs)
        self.activation = _resolve("nngrid.core.activations", "ACTIVATIONS", activation)
        if initializer is None:
            initializer = getattr(self.activation, "default_init", "glorot_uniform")
        self.initializer = _resolve("nngrid.core.initializers", "INITIALIZERS", initializer)
        self.in_shape = tuple(int(d) for d in in_shape)
        if len(self.in_shape) not in (1, 2) or min(self.in_shape) < 1:
            raise NngridError(
                f"input shape must be (features,) or (length, channels), got {in_shape}"
            )
        self.layers = list(parse_layers(layers))
        output = Dense(units=int(n_out))
        output.output = True
        self.layers.append(output)
        shape = Shape(self.in_shape, "channel")
        specs: list[tuple[int, str, tuple[int, int]]] = []  # (layer, name, shape per replica)
        self.layer_shapes = [shape]
        for i, layer in enumerate(self.layers):
            layer.index = i
            shape = layer.build(shape, self)
            self.layer_shapes.append(shape)
            layer.params = [as_param(p) for p in layer.params]
            specs += [(i, p.name, p.shape) for p in layer.params]
        self.param_specs = specs
        roles = [p for layer in self.layers for p in layer.params]
        self.shapes = [(R, *sh) for _, _, sh in specs]
        total = sum(int(np.prod(s)) for s in self.shapes)
        self.flat = np.zeros(total, self.dtype)
        self.flat_grad = np.zeros(total, self.dtype)
        self.params = self.views(self.flat)
        self.grads = self.views(self.flat_grad)
        owned: list[list[int]] = [[] for _ in self.layers]
        for j, (i, _, _) in enumerate(specs):
            owned[i].append(j)
        self._owned = owned
        for layer, idx in zip(self.layers, owned, strict=True):
            layer.bind([self.params[j] for j in idx], [self.grads[j] for j in idx])
        self._check_state()
        for r, rng in enumerate(rngs):
            for layer, idx in zip(self.layers, owned, strict=True):
                layer.init_replica(rng, [self.params[j][r] for j in idx], self)
        self._weight_index = [j for j, p in enumerate(roles) if p.penalised]
        self._takes_train = [
            "train" in inspect.signature(layer.forward).parameters for layer in self.layers
        ]
        # dropout acts after the hidden dense layers
        self._sites = [i for i, layer in enumerate(self.layers[:-1]) if layer.name == "dense"]
        self._buffers: OrderedDict[tuple, list] = OrderedDict()
        self._recent_key: tuple | None = None  # the last batch shape and its buffers
        self._recent: list = []
        self._last: tuple | None = None
        self.predict_chunk = self._predict_chunk()

    def _predict_chunk(self) -> int:
        """Rows per forward pass of :meth:`predict`: :data:`PREDICT_CHUNK` for dense networks
        (the MLP's long-standing value); for others as many rows as keep the widest work array
        of the stack within :data:`PREDICT_BYTES` (sequence layers hold ``L x C`` values per
        row and replica; one huge chunk would page in, and miss the cache on, tens of MB)."""
        if all(layer.name == "dense" for layer in self.layers):
            return PREDICT_CHUNK
        widest = max(int(np.prod(shape.dims)) for shape in self.layer_shapes)
        held = 1
        for layer in self.layers:
            if layer.name == "conv1d":  # the gathered windows
                widest = max(widest, layer.L_out * layer.kernel * layer.C)
            elif layer.name in ("rnn", "gru", "lstm"):
                widest = max(widest, layer.row_floats)
                held = max(held, layer.sequence_floats)
        size = self.R * self.dtype.itemsize
        rows = min(PREDICT_BYTES // (size * widest), PREDICT_SEQUENCE_BYTES // (size * held))
        return int(min(PREDICT_CHUNK, max(16, rows)))

    # ----------------------------------------------------------------- parameter layout
    def views(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split a buffer laid out like :attr:`flat` into one view per parameter."""
        out, offset = [], 0
        for shape in self.shapes:
            n = shape[0] * shape[1] * shape[2]
            out.append(flat[offset : offset + n].reshape(shape))
            offset += n
        return out

    def per_replica(self, values: Any, dtype: Any = None) -> np.ndarray:
        """Expand per-replica values (scalar or length ``R``) to a per-element array like ``flat``
        (in ``dtype``, the network's by default).

        Used for per-replica optimizer hyperparameters: element ``i`` of the result holds the
        value of the replica that owns ``flat[i]``.
        """
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        v = np.broadcast_to(np.asarray(values, dtype).reshape(-1), (self.R,))
        out = np.empty(self.flat.shape, dtype)
        for view in self.views(out):
            view[...] = v.reshape(-1, 1, 1)
        return out

    def weights(self) -> list[np.ndarray]:
        """The parameters the layers declare ``penalised`` (their weight matrices, views
        ``(R, fan_in, fan_out)``): what the regularizers act on. Biases and gains excluded."""
        return [self.params[j] for j in self._weight_index]

    def weight_grads(self) -> list[np.ndarray]:
        """The gradients of :meth:`weights`, in the same order."""
        return [self.grads[j] for j in self._weight_index]

    def biases(self) -> list[np.ndarray]:
        """The parameters not :meth:`weights` (bias rows, normalisation gains)."""
        w = set(self._weight_index)
        return [p for j, p in enumerate(self.params) if j not in w]

    def get_replica(self, r: int) -> list[np.ndarray]:
        """Copies of replica ``r``'s parameters, in :attr:`params` order."""
        return [p[r].copy() for p in self.params]

    def set_replica(self, r: int, values: Sequence[np.ndarray]) -> None:
        """Overwrite replica ``r``'s parameters with ``values`` (as from :meth:`get_replica`)."""
        for p, v in zip(self.params, values, strict=True):
            p[r] = v

    # ----------------------------------------------------------------- non-parameter state
    def state_arrays(self) -> dict[str, np.ndarray]:
        """Every layer's declared non-parameter state (:meth:`~nngrid.core.layers.Layer.state`:
        a batch norm's ``running_mean`` and ``running_var``) as ``{"layers.<i>.<name>": array}``,
        layer by layer: the live ``(R, ...)`` arrays, not copies.

        The outputs depend on them but the flat buffer does not hold them, so saving or
        restoring replica ``r``'s parameters alone would pair its weights with another moment's
        state; the trainer copies ``array[r]`` of each with the parameters. Empty for a network
        without such layers (the MLP), so those copies cost nothing there."""
        out = {}
        for i, layer in enumerate(self.layers):
            for name, array in layer.state().items():
                out[f"layers.{i}.{name}"] = array
        return out

    def _check_state(self) -> None:
        """Refuse declared state that is not one array per replica (replica axis first)."""
        for layer in self.layers:
            for name, array in layer.state().items():
                if not isinstance(array, np.ndarray) or array.ndim < 1 or len(array) != self.R:
                    got = getattr(array, "shape", type(array).__name__)
                    raise layer.where(
                        f"state {name!r} must be an array with the replica axis first, "
                        f"({self.R}, ...), got {got}"
                    )

    # ----------------------------------------------------------------- torch state_dict
    def state_dict(self, r: int = 0) -> dict[str, np.ndarray]:
        """Replica ``r``'s parameters under torch's names and shapes (``layers.<i>.<name>``)."""
        out = {}
        for j, (i, name, _) in enumerate(self.param_specs):
            out[f"layers.{i}.{name}"] = self.layers[i].to_torch(name, self.params[j][r])
        return out

    def load_state_dict(
        self, r: int, arrays: Mapping[str, np.ndarray], source: str = "weights"
    ) -> None:
        """Set replica ``r`` from torch-named arrays; refuse the first name or shape that does not
        fit (one line naming the layer, the key and the expected names or shape)."""
        expected = [f"layers.{i}.{name}" for i, name, _ in self.param_specs]
        for key, (i, name, sh) in zip(expected, self.param_specs, strict=True):
            layer = self.layers[i]
            if key not in arrays:
                raise NngridError(
                    f"{source}: no {key!r} for layer {i} ({layer.name}); the spec needs "
                    f"{', '.join(expected)}"
                )
            want = layer.torch_shape(name, sh)
            got = np.shape(arrays[key])
            if tuple(got) != tuple(want):
                raise NngridError(
                    f"{source}: {key} has shape {tuple(got)} but layer {i} ({layer.name}) "
                    f"needs {want}"
                )
        extra = sorted(set(arrays) - set(expected))
        if extra:
            raise NngridError(
                f"{source}: unexpected key {extra[0]!r}; the spec's keys: {', '.join(expected)}"
            )
        for j, (key, (i, name, _)) in enumerate(zip(expected, self.param_specs, strict=True)):
            value = np.asarray(arrays[key], np.float64)
            self.params[j][r] = self.layers[i].from_torch(name, value)

    # ----------------------------------------------------------------- forward / backward
    def _batch_axis(self, X: np.ndarray) -> tuple[np.ndarray, bool]:
        """``X`` in canonical form and whether it is shared by the replicas."""
        k = len(self.in_shape)
        if k == 1:  # flat features: the common case, checked cheaply
            shape = X.shape
            if len(shape) == 2 and shape[1] == self.in_shape[0]:
                return X, True
            if len(shape) == 3 and shape[0] == self.R and shape[2] == self.in_shape[0]:
                return X, False
        if k == 2 and self.in_shape[1] == 1 and X.shape[-1:] == self.in_shape[:1]:
            if X.ndim in (2, 3) and not (X.ndim == 3 and X.shape[-2:] == self.in_shape):
                X = X[..., None]  # (n, L) or (R, n, L): one channel
        if X.ndim == k + 1:
            shared = True
        elif X.ndim == k + 2 and X.shape[0] == self.R:
            shared = False
        else:
            shared = None
        if shared is not None and X.shape[X.ndim - k :] != self.in_shape:
            got = X.shape[X.ndim - k :]
            raise NngridError(
                f"inputs have per-example shape {got} ({got[-1]} features), the network "
                f"{self.in_shape}"
            )
        if shared is None:
            want = ", ".join(str(d) for d in self.in_shape)
            raise NngridError(
                f"inputs must be (batch, {want}) or ({self.R}, batch, {want}), got shape {X.shape}"
            )
        return X, shared

    def _get_buffers(self, B: int, shared: bool, keep: bool) -> list:
        key = (B, shared)
        if key == self._recent_key and (not keep or self._recent[-1]["train"]):
            return self._recent
        bufs = self._buffers.get(key)
        if bufs is None:
            lead: tuple = () if shared else (self.R,)
            bufs = []
            for layer in self.layers:
                bufs.append(layer.buffers(lead, B, self.dtype))
                if layer.params:
                    lead = (self.R,)
            bufs.append({"lead": () if shared else (self.R,), "train": False})
            self._buffers[key] = bufs
            while len(self._buffers) > _CACHE_SIZE:
                self._buffers.popitem(last=False)
        else:
            self._buffers.move_to_end(key)
        meta = bufs[-1]
        if keep and not meta["train"]:
            lead = meta["lead"]
            for layer, buf in zip(self.layers, bufs, strict=False):
                layer.train_buffers(buf, lead, B, self.dtype)
                if layer.params:
                    lead = (self.R,)
            meta["train"] = True
        self._recent_key, self._recent = key, bufs
        return bufs

    def forward(
        self, X: np.ndarray, train: bool = False, dropout: Any = None, keep: bool = True
    ) -> np.ndarray:
        """Return the outputs of every replica, shape ``(R, B, n_out)``.

        ``X`` is ``(B, *in_shape)`` (shared by all replicas) or ``(R, B, *in_shape)`` (one batch
        per replica), in the network's dtype; a one-channel sequence may drop its channel axis.
        ``dropout`` is ``None`` or ``(rates, rngs)``: per-replica drop probabilities (scalar or
        length ``R``, each in ``[0, 1)``) and one Generator per replica; it acts only when
        ``train`` is true. Replica ``r`` keeps unit ``j`` when ``u >= rate_r`` with
        ``u ~ U[0, 1)`` drawn from ``rngs[r]``, and scales kept units by ``1 / (1 - rate_r)``;
        replicas with rate 0 draw nothing.

        ``train`` marks a training step: every layer receives it (dropout acts, a batch norm
        normalises by the batch's statistics and updates its running ones); evaluation passes
        ``train=False``. ``keep`` (default True) keeps each layer's work for :meth:`backward`;
        :meth:`predict` passes False.

        The returned array is a work buffer owned by the network: it is overwritten by the next
        forward pass with the same batch size. :meth:`backward` uses the latest forward pass.
        """
        X, shared = self._batch_axis(X)
        B = X.shape[-1 - len(self.in_shape)]
        bufs = self._get_buffers(B, shared, keep)
        masks = None
        if train and dropout is not None:
            masks = self._draw_masks(bufs[-1], B, *dropout)
        H = X
        takes_train = self._takes_train
        for i, (layer, buf) in enumerate(zip(self.layers, bufs, strict=False)):
            if takes_train[i]:
                H = layer.forward(H, buf, keep, train)
            else:
                H = layer.forward(H, buf, keep)
            if masks is not None and i in masks:
                Hm = masks[i][0]
                np.multiply(H, masks[i][1], out=Hm)
                H = Hm
        self._last = (bufs, masks) if keep else None
        return H

    def _draw_masks(self, meta: dict, B: int, rates: Any, rngs: Sequence) -> dict | None:
        rates = np.broadcast_to(np.asarray(rates, np.float64).reshape(-1), (self.R,))
        if not np.any(rates > 0):
            return None
        if np.any(rates < 0) or np.any(rates >= 1):
            raise NngridError(f"dropout rate must be in [0, 1), got {rates.tolist()}")
        if "drop" not in meta:
            arrays = {}
            for i in self._sites:
                w = (self.R, B, self.layers[i].units)
                # replicas without dropout keep u = 1 >= 0 = rate, i.e. an all-ones mask, forever
                arrays[i] = (
                    np.empty(w, self.dtype),
                    np.ones(w, self.dtype),
                    np.empty(w, bool),
                    np.empty(w, self.dtype),
                )
            meta["drop"] = arrays
        rate3 = rates.astype(self.dtype).reshape(-1, 1, 1)
        scale3 = (1.0 / (1.0 - rates)).astype(self.dtype).reshape(-1, 1, 1)
        active = [r for r in range(self.R) if rates[r] > 0]
        masks = {}
        for i in self._sites:
            H, U, Mb, Mf = meta["drop"][i]
            for r in active:
                rngs[r].random(dtype=self.dtype, out=U[r])
            np.greater_equal(U, rate3, out=Mb)
            np.multiply(Mb, scale3, out=Mf)
            masks[i] = (H, Mf)
        return masks

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Fill :attr:`flat_grad` with ``d loss / d params`` given ``grad_out = d loss / d out``.

        ``grad_out`` has the shape of the last forward output and is not modified. Returns
        :attr:`flat_grad`.
        """
        if self._last is None:
            raise RuntimeError("backward() called before forward()")
        bufs, masks = self._last
        dY = grad_out
        last = len(self.layers) - 1
        for i in range(last, -1, -1):
            if masks is not None and i in masks:
                np.multiply(dY, masks[i][1], out=dY)
            dY = self.layers[i].backward(dY, bufs[i], i > 0)
        return self.flat_grad

    def predict(self, X: np.ndarray, chunk: int | None = None) -> np.ndarray:
        """Outputs for all rows of ``X``, ``(n, *in_shape)`` or ``(R, n, *in_shape)``, in chunks
        of ``chunk`` rows (default :attr:`predict_chunk`)."""
        X, _ = self._batch_axis(X)
        chunk = self.predict_chunk if chunk is None else int(chunk)
        axis = X.ndim - 1 - len(self.in_shape)
        n = X.shape[axis]
        out = np.empty((self.R, n, self.layers[-1].units), self.dtype)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            index = (slice(None),) * axis + (slice(start, stop),)
            out[:, start:stop] = self.forward(X[index], keep=False)
        return out


class MLP(Network):
    """``R`` replicas of a fully connected network ``sizes[0] -> ... -> sizes[-1]``.

    Parameters
    ----------
    sizes:
        Layer widths, input first and output last, e.g. ``[40, 128, 128, 10]``.
    activation:
        An :class:`nngrid.core.activations.Activation` (or its registry name) used by every hidden
        layer.
    initializer:
        An :class:`nngrid.core.initializers.Initializer` (or its name); ``None`` takes the
        activation's
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
        super().__init__(
            [{"dense": {"units": s}} for s in sizes[1:-1]],
            (sizes[0],),
            sizes[-1],
            activation,
            initializer,
            rngs,
            dtype,
        )
        self.sizes = sizes
        self.n_layers = len(sizes) - 1
