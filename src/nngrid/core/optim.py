"""Optimizers: PyTorch's documented ``torch.optim`` algorithms in NumPy, updating in place.

This table is the one place the conventions are documented. ``g`` is the gradient, ``p``
the parameter, ``t`` the step count starting at 1, ``wd`` the weight decay. Names and
defaults of the hyperparameters are PyTorch's.

========  =========================================================  ===========================
name      update (per element, every step)                           defaults
========  =========================================================  ===========================
sgd       g += wd p;  with momentum: b = g at t = 1, else            lr=1e-3, momentum=0,
          b = momentum b + (1 - dampening) g;  d = g + momentum b    dampening=0,
          if nesterov, else d = b;  p -= lr d  (d = g if no          weight_decay=0,
          momentum)                                                  nesterov=False
momentum  sgd with momentum                                          lr=1e-3, momentum=0.9,
                                                                     dampening=0, weight_decay=0
nesterov  sgd with momentum and nesterov=True                        lr=1e-3, momentum=0.9,
                                                                     weight_decay=0
adagrad   g += wd p;  clr = lr / (1 + (t - 1) lr_decay);             lr=1e-2, lr_decay=0,
          s += g^2  (s starts at initial_accumulator_value);         weight_decay=0,
          p -= clr g / (sqrt(s) + eps)                               initial_accumulator_value=0,
                                                                     eps=1e-10
rmsprop   g += wd p;  v = alpha v + (1 - alpha) g^2;  if centered:   lr=1e-2, alpha=0.99,
          a = alpha a + (1 - alpha) g, v~ = v - a^2, else v~ = v;    eps=1e-8, weight_decay=0,
          d = g / (sqrt(v~) + eps);  with momentum:                  momentum=0, centered=False
          b = momentum b + d, p -= lr b;  else p -= lr d
adam      g += wd p;  m = b1 m + (1 - b1) g;                       lr=1e-3,
          v = b2 v + (1 - b2) g^2;  if amsgrad: vmax = max(vmax, v),  betas=(0.9, 0.999),
          used in place of v;                                        eps=1e-8, weight_decay=0,
          p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)  amsgrad=False
adamw     p *= 1 - lr wd  (decoupled, before the update);  then      lr=1e-3,
          adam with no weight decay in the gradient                  betas=(0.9, 0.999),
                                                                     eps=1e-8, weight_decay=1e-2,
                                                                     amsgrad=False
========  =========================================================  ===========================

(All state buffers start at zero, except sgd's momentum buffer, which is the first
gradient itself, without dampening, as in PyTorch.) The lesson's forms are these
algorithms written differently: its momentum ``m = b1 m - lr g; W += m`` is sgd with
momentum for a constant lr; its AdaGrad and RMSProp omit eps; Adam adds bias correction.

Interface. ``step(params, grads)`` updates a list of float arrays in place (only the
params; grads are never written). State is created lazily on the first step, one entry
per position in the list. ``lr`` may be reassigned between steps (a schedule, per-replica
learning rates): a positive scalar or an array broadcastable against every param, e.g.
``(R, 1, 1)`` or one value per element of a flat parameter buffer. Assign a new value
(``opt.lr = base * factor``); the optimizer keeps a copy, so changing the caller's array in
place has no effect. Arithmetic on a float32 param happens in float32 (lr is cast to the
param's dtype), so replica ``r`` of a stack trained with an lr array gets bitwise the same
numbers as a separate optimizer with the scalar ``lr[r]``.

The same holds for ``momentum`` (sgd family, rmsprop), ``betas`` (adam, adamw: each of b1 and b2
a scalar or an array), ``eps``, ``alpha`` and ``weight_decay``: each may be a scalar or an array
broadcastable against every param (the trainer gives one value per element of the flat buffer),
so one stack trains R trials with different settings; replica ``r`` gets bitwise the numbers of a
separate optimizer with replica r's scalars. A scalar setting takes exactly the arithmetic it took
before arrays were allowed. With arrays, the element-wise form of the same formula is used: a
quantity derived from a hyperparameter by ``+ - * /`` and square roots (``1 - alpha``) is computed
in float64 element by element (IEEE rounds those alike for scalars and arrays); adam's folded
bias-correction scalars, which need ``b^t``, are computed once per step for each distinct
``(b1, b2, eps)`` with the scalar code and gathered to the elements. An array that mixes 0 with
positive values (momentum, weight decay) takes the nonzero branch everywhere: ``0 b + d = d`` and
``g + 0 p = g``, so the replicas at 0 get the same numbers (up to the sign of an exact zero, which
no later step can see). Arrays are fixed at assignment: reassign (``opt.eps = new``) to change
them; the optimizer recasts an array when the attribute holds a new object.

The update of each parameter is written with ``out=`` ufuncs on preallocated state and
scratch buffers (adam: 10 ufunc calls per step, no temporaries), because the trainer calls
``step`` on one big flat buffer per batch. Algebraically equivalent rearrangements of
PyTorch's formulas are used where they save passes (e.g. adam keeps its moments divided by
``1 - beta``, ``m' = b1 m' + g``, and folds the bias corrections and those factors into two
scalars); they agree with a literal transcription to ~1e-15 in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nngrid.core.hyper import Component, Hyper, declared_init
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

OPTIMIZERS = Registry("optimizer")


def make_optimizer(name: str, **hyperparams: Any) -> Optimizer:
    """Create the optimizer ``name`` with PyTorch-named hyperparameters (defaults otherwise)."""
    return OPTIMIZERS.create(name, **hyperparams)


# --- base class ----------------------------------------------------------------------------


def lr_hyper(default: float) -> Hyper:
    """The learning rate's declaration: > 0, a scalar or one value per replica or element."""
    return Hyper(
        "lr", float, default, low=0.0, low_open=True, per_replica=True, help="learning rate"
    )


#: Declarations the optimizers share (each class lists the ones it takes).
WEIGHT_DECAY = Hyper(
    "weight_decay", float, 0.0, low=0.0, per_replica=True, help="weight decay (L2 in the update)"
)
EPS = Hyper("eps", float, 1e-8, low=0.0, per_replica=True, help="term added to the denominator")


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray)


class Optimizer(Component):
    """Base class. Subclasses declare ``hypers`` (``lr`` first) and implement
    ``_init_state(p)`` and ``_update(p, g, state)``.

    Optional class attributes, read elsewhere: ``plain`` (True for the SGD family: the figures
    group it apart from the adaptive methods); ``torch`` (the name of the ``torch.optim`` class
    the optimizer equals, e.g. ``"Adam"``, with ``torch_kwargs`` fixed on it; the tests then
    check its defaults and its steps against torch's); ``reference`` (``(hyperparameters,
    (theta_1, theta_2, theta_3))``: the first three iterates from ``theta_0 = 1`` on ``f =
    theta^2 / 2``, as published, e.g. in the lesson's table; the tests check them).
    """

    name = "optimizer"
    hypers: tuple[Hyper, ...] = (lr_hyper(1e-3),)
    plain = False
    torch: str | None = None
    torch_kwargs: dict[str, Any] = {}
    reference: tuple[dict[str, Any], tuple[float, ...]] | None = None

    @declared_init
    def __init__(self, *lr: Any, **params: Any):
        # (a subclass with a constructor of its own may pass lr positionally)
        self.t = 0  # number of steps taken
        self.state: list[dict[str, np.ndarray]] | None = None
        if lr:
            params["lr"] = lr[0]
        super().__init__(**params)

    @property
    def lr(self) -> float | np.ndarray:
        return self._lr

    @lr.setter
    def lr(self, value: float | np.ndarray) -> None:
        self._lr = self._lr_hyper.check(self.name, value)
        self._lr_cast: dict[np.dtype, np.ndarray] = {}

    @property
    def _lr_hyper(self) -> Hyper:
        for h in type(self).hypers:
            if h.name == "lr":
                return h
        return Optimizer.hypers[0]

    def hyperparams(self) -> dict[str, Any]:
        """The resolved hyperparameters (constructor names), for the run's record."""
        out = super().hyperparams()
        for key, v in out.items():
            if isinstance(v, tuple):
                out[key] = [x.tolist() if _is_array(x) else x for x in v]
        return out

    def _lr_for(self, p: np.ndarray) -> np.ndarray:
        """lr in p's dtype (a NumPy scalar, or an array), so scalar and array lr round alike.

        Cast once per assignment of ``lr`` and dtype, not once per step. A scalar lr is a NumPy
        scalar of p's dtype: arithmetic with it rounds as the array's elements do, and costs far
        less per call than a 0-d array."""
        lr = self._lr_cast.get(p.dtype)
        if lr is None:
            lr = np.asarray(self._lr, dtype=p.dtype)
            if lr.ndim == 0:
                lr = lr[()]
            self._lr_cast[p.dtype] = lr
        return lr

    def _cast(self, key: str, value: Any, p: np.ndarray) -> Any:
        """A hyperparameter in p's dtype: ``p.dtype.type(value)`` for a scalar (exactly the
        scalar arithmetic), else the array cast once (recast when ``value`` is a new object)."""
        if not _is_array(value):
            return p.dtype.type(value)
        return self._cached((key, p.dtype), (value,), lambda: np.asarray(value, p.dtype))

    def _derived(self, key: str, p: np.ndarray, fn: Any, *values: Any) -> Any:
        """``fn(*values)`` in p's dtype. Scalars: ``p.dtype.type(fn(*values))`` as before; with an
        array among ``values``, ``fn`` applied element-wise in float64 (only ``+ - * /`` and
        square roots, which round alike for scalars and arrays), then cast, once."""
        if not any(_is_array(v) for v in values):
            return p.dtype.type(fn(*values))
        return self._cached(
            (key, p.dtype),
            values,
            lambda: np.asarray(fn(*(np.asarray(v, np.float64) for v in values)), p.dtype),
        )

    def _cached(self, key: tuple, values: tuple, make: Any) -> Any:
        cache = self.__dict__.setdefault("_hp_cache", {})
        hit = cache.get(key)
        if (
            hit is None
            or len(hit[0]) != len(values)
            or any(a is not b for a, b in zip(hit[0], values, strict=True))
        ):
            hit = (values, make())
            cache[key] = hit
        return hit[1]

    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """Update every ``params[i]`` in place from ``grads[i]``; grads are not modified."""
        if len(params) != len(grads):
            raise NngridError(f"{len(params)} params but {len(grads)} grads")
        if self.state is None:
            self.state = [self._init_state(p) for p in params]
        elif len(self.state) != len(params):
            raise NngridError(
                f"optimizer state holds {len(self.state)} params, step got {len(params)}"
            )
        self.t += 1
        for p, g, st in zip(params, grads, self.state, strict=True):
            if p.shape != g.shape:
                raise NngridError(f"param shape {p.shape} != grad shape {g.shape}")
            self._update(p, g, st)

    def _init_state(self, p: np.ndarray) -> dict[str, np.ndarray]:
        return {"scratch": np.empty_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, st: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items())
        return f"{type(self).__name__}({args})"


def _with_weight_decay(p, g, wd, out):
    """``g + wd p`` into ``out`` (or ``g`` itself, unchanged, when wd is a scalar 0); ``wd`` is a
    Python scalar or an array already in p's dtype (:meth:`Optimizer._cast`)."""
    if wd.__class__ is not np.ndarray:
        if wd == 0:
            return g
        wd = p.dtype.type(wd)
    np.multiply(p, wd, out=out)
    out += g
    return out


def _nonzero(value: Any) -> bool:
    """Whether a branch for ``value != 0`` is taken: a scalar not 0, or any array."""
    return value.__class__ is np.ndarray or value != 0


# --- registered optimizers ---------------------------------------------------------------


@OPTIMIZERS.register("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``."""

    reference = ({"lr": 0.1}, (0.9, 0.81, 0.729))

    hypers = (
        lr_hyper(1e-3),
        Hyper("momentum", float, 0.0, low=0.0, per_replica=True, help="momentum factor"),
        Hyper("dampening", float, 0.0, low=0.0, high=1.0, help="momentum dampening"),
        WEIGHT_DECAY,
        Hyper("nesterov", bool, False, help="Nesterov momentum"),
    )
    plain = True
    torch = "SGD"

    def validate(self):
        if self.nesterov and (np.any(np.asarray(self.momentum) <= 0) or self.dampening != 0):
            raise NngridError(
                f"{self.name} nesterov=True needs momentum > 0 and dampening = 0, got "
                f"momentum={self.momentum!r}, dampening={self.dampening!r}"
            )

    def _init_state(self, p):
        st = {"scratch": np.empty_like(p)}
        if _nonzero(self.momentum):
            st["momentum_buffer"] = np.empty_like(p)
        return st

    def _update(self, p, g, st):
        s = st["scratch"]
        wd, mu = self.weight_decay, self.momentum
        if wd.__class__ is np.ndarray:
            wd = self._cast("weight_decay", wd, p)
        d = _with_weight_decay(p, g, wd, s)
        if mu.__class__ is np.ndarray or mu != 0:
            buf = st["momentum_buffer"]
            mu = self._cast("momentum", mu, p) if mu.__class__ is np.ndarray else p.dtype.type(mu)
            if self.t == 1:
                np.copyto(buf, d)
            else:
                buf *= mu
                if self.dampening == 0:
                    buf += d
                else:
                    # buf += (1 - dampening) d, written into the scratch unless d lives there
                    if d is s:
                        d *= p.dtype.type(1.0 - self.dampening)
                        buf += d
                    else:
                        np.multiply(d, p.dtype.type(1.0 - self.dampening), out=s)
                        buf += s
            if self.nesterov:
                if d is s:  # s = d + mu buf, without another buffer: d += mu buf
                    np.multiply(buf, mu, out=st.setdefault("scratch2", np.empty_like(p)))
                    s += st["scratch2"]
                else:
                    np.multiply(buf, mu, out=s)
                    s += d
                d = s
            else:
                d = buf
        # p -= lr d
        np.multiply(d, self._lr_for(p), out=s)
        p -= s


@OPTIMIZERS.register("momentum")
class Momentum(SGD):
    """SGD with heavy-ball momentum (torch.optim.SGD with momentum=0.9 by default)."""

    reference = ({"lr": 0.1, "momentum": 0.9}, (0.9, 0.72, 0.486))

    hypers = (
        lr_hyper(1e-3),
        Hyper(
            "momentum", float, 0.9, low=0.0, low_open=True, per_replica=True, help="momentum factor"
        ),
        Hyper("dampening", float, 0.0, low=0.0, high=1.0, help="momentum dampening"),
        WEIGHT_DECAY,
    )
    nesterov = False
    torch_kwargs = {"momentum": 0.9}


@OPTIMIZERS.register("nesterov")
class Nesterov(SGD):
    """SGD with Nesterov momentum (torch.optim.SGD with momentum=0.9, nesterov=True)."""

    reference = ({"lr": 0.1, "momentum": 0.9}, (0.81, 0.5751, 0.327321))

    hypers = (
        lr_hyper(1e-3),
        Hyper("momentum", float, 0.9, low=0.0, per_replica=True, help="momentum factor"),
        WEIGHT_DECAY,
    )
    dampening = 0.0
    nesterov = True
    torch_kwargs = {"momentum": 0.9, "nesterov": True}


@OPTIMIZERS.register("adagrad")
class Adagrad(Optimizer):
    """AdaGrad as ``torch.optim.Adagrad``: per-element step lr / (sqrt(sum of g^2) + eps)."""

    reference = ({"lr": 0.1}, (0.9, 0.8331035269, 0.7804561814))

    hypers = (
        lr_hyper(1e-2),
        Hyper("lr_decay", float, 0.0, low=0.0, help="learning-rate decay per step"),
        WEIGHT_DECAY,
        Hyper(
            "initial_accumulator_value",
            float,
            0.0,
            low=0.0,
            help="starting value of the sum of squares",
        ),
        Hyper("eps", float, 1e-10, low=0.0, per_replica=True, help="term added to the denominator"),
    )
    torch = "Adagrad"

    def _init_state(self, p):
        return {
            "scratch": np.empty_like(p),
            "sum": np.full_like(p, self.initial_accumulator_value),
        }

    def _update(self, p, g, st):
        s, acc = st["scratch"], st["sum"]
        wd = self.weight_decay
        clr = self._lr_for(p) / p.dtype.type(1.0 + (self.t - 1) * self.lr_decay)
        if wd.__class__ is np.ndarray:
            self._update_per_replica_decay(p, g, st, self._cast("weight_decay", wd, p), clr)
            return
        d = _with_weight_decay(p, g, wd, s)
        if d is s:
            np.multiply(d, clr, out=st.setdefault("scratch2", np.empty_like(p)))
            num = st["scratch2"]
            np.square(s, out=s)
            acc += s
        else:
            np.square(d, out=s)
            acc += s
            num = None
        np.sqrt(acc, out=s)
        eps = self.eps
        s += self._cast("eps", eps, p) if eps.__class__ is np.ndarray else p.dtype.type(eps)
        if num is None:
            np.divide(d, s, out=s)
            s *= clr
        else:
            np.divide(num, s, out=s)
        p -= s

    def _update_per_replica_decay(self, p, g, st, wd, clr):
        """The update with a weight-decay array: the scalar code orders its operations by
        whether wd is 0 (``d / s * clr``) or not (``d clr / s``), so both are computed and each
        element keeps the one its own scalar setting takes."""
        s, acc = st["scratch"], st["sum"]
        d = st.setdefault("scratch2", np.empty_like(p))
        alt = st.setdefault("scratch3", np.empty_like(p))
        np.multiply(p, wd, out=d)
        d += g  # g + wd p
        np.square(d, out=s)
        acc += s
        np.sqrt(acc, out=s)
        s += self._cast("eps", self.eps, p)
        np.divide(d, s, out=alt)
        alt *= clr  # wd == 0: d / s * clr
        d *= clr
        np.divide(d, s, out=s)  # wd != 0: (d clr) / s
        zero = self._cached(("wd == 0", p.dtype), (self.weight_decay,), lambda: wd == 0)
        np.copyto(s, alt, where=np.broadcast_to(zero, s.shape))
        p -= s


@OPTIMIZERS.register("rmsprop")
class RMSprop(Optimizer):
    """RMSProp as ``torch.optim.RMSprop`` (eps added after the square root)."""

    reference = ({"lr": 0.01}, (0.90000001, 0.8329179753, 0.779982282))

    hypers = (
        lr_hyper(1e-2),
        Hyper(
            "alpha",
            float,
            0.99,
            low=0.0,
            high=1.0,
            high_open=True,
            per_replica=True,
            help="smoothing constant",
        ),
        EPS,
        WEIGHT_DECAY,
        Hyper("momentum", float, 0.0, low=0.0, per_replica=True, help="momentum factor"),
        Hyper("centered", bool, False, help="normalise by the gradient's estimated variance"),
    )
    torch = "RMSprop"

    def _init_state(self, p):
        st = {
            "scratch": np.empty_like(p),
            "scratch2": np.empty_like(p),
            "square_avg": np.zeros_like(p),
        }
        if _nonzero(self.momentum):
            st["momentum_buffer"] = np.zeros_like(p)
        if self.centered:
            st["grad_avg"] = np.zeros_like(p)
        return st

    def _update(self, p, g, st):
        s, s2, v = st["scratch"], st["scratch2"], st["square_avg"]
        alpha, wd, eps, mu = self.alpha, self.weight_decay, self.eps, self.momentum
        if alpha.__class__ is np.ndarray:
            one_minus_alpha = self._derived("1 - alpha", p, lambda a: 1.0 - a, alpha)
        else:
            one_minus_alpha = p.dtype.type(1.0 - alpha)
        if wd.__class__ is np.ndarray:
            wd = self._cast("weight_decay", wd, p)
        d = _with_weight_decay(p, g, wd, s2)  # d lives in s2 or is g
        # v = alpha v + (1 - alpha) d^2, as v += (1 - alpha) (d^2 - v)
        np.square(d, out=s)
        s -= v
        s *= one_minus_alpha
        v += s
        if self.centered:
            m = st["grad_avg"]
            np.subtract(d, m, out=s)
            s *= one_minus_alpha
            m += s
            np.square(m, out=s)
            np.subtract(v, s, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(v, out=s)
        s += self._cast("eps", eps, p) if eps.__class__ is np.ndarray else p.dtype.type(eps)
        np.divide(d, s, out=s)  # s = d / (sqrt(v~) + eps)
        if mu.__class__ is np.ndarray or mu > 0:
            buf = st["momentum_buffer"]
            buf *= self._cast("momentum", mu, p) if mu.__class__ is np.ndarray else p.dtype.type(mu)
            buf += s
            np.multiply(buf, self._lr_for(p), out=s)
        else:
            s *= self._lr_for(p)
        p -= s


@OPTIMIZERS.register("adam")
class Adam(Optimizer):
    """Adam as ``torch.optim.Adam`` (L2 weight decay added to the gradient; optional AMSGrad)."""

    reference = ({"lr": 0.1}, (0.900000001, 0.8004122297, 0.7015862745))

    decoupled = False
    hypers = (
        lr_hyper(1e-3),
        Hyper(
            "betas",
            tuple,
            (0.9, 0.999),
            low=0.0,
            high=1.0,
            high_open=True,
            per_replica=True,
            help="decay rates of the two moments",
        ),
        EPS,
        WEIGHT_DECAY,
        Hyper("amsgrad", bool, False, help="use the running maximum of the second moment"),
    )
    torch = "Adam"

    def _init_state(self, p):
        # the moments are kept divided by (1 - beta): m' = m / (1 - b1), v' = v / (1 - b2)
        st = {
            "scratch": np.empty_like(p),
            "exp_avg_scaled": np.zeros_like(p),
            "exp_avg_sq_scaled": np.zeros_like(p),
        }
        if self.amsgrad:
            st["max_exp_avg_sq_scaled"] = np.zeros_like(p)
        return st

    def _update(self, p, g, st):
        s, m, v = st["scratch"], st["exp_avg_scaled"], st["exp_avg_sq_scaled"]
        dt = p.dtype.type
        b1, b2 = self.betas
        lr = self._lr_for(p)
        wd = self.weight_decay
        arrays = b1.__class__ is np.ndarray or b2.__class__ is np.ndarray
        arrays = arrays or self.eps.__class__ is np.ndarray
        if wd.__class__ is np.ndarray or wd != 0:
            wd = self._cast("weight_decay", wd, p) if wd.__class__ is np.ndarray else dt(wd)
            if self.decoupled:  # AdamW: p *= 1 - lr wd
                p *= dt(1.0) - lr * wd
            else:  # Adam: g + wd p, into a buffer of its own (the scratch is needed below)
                gd = st.setdefault("grad", np.empty_like(p))
                g = _with_weight_decay(p, g, wd, gd)
        # m = b1 m + (1 - b1) g  <=>  m' = b1 m' + g  with m = (1 - b1) m'      (2 calls)
        m *= self._cast("b1", b1, p) if arrays else dt(b1)
        m += g
        # v = b2 v + (1 - b2) g^2  <=>  v' = b2 v' + g^2  with v = (1 - b2) v'  (3 calls)
        np.multiply(g, g, out=s)
        v *= self._cast("b2", b2, p) if arrays else dt(b2)
        v += s
        if self.amsgrad:  # the max commutes with the positive scale 1 - b2
            vmax = st["max_exp_avg_sq_scaled"]
            np.maximum(vmax, v, out=vmax)
            v = vmax
        # p -= lr/bc1 m / (sqrt(v)/sqrt(bc2) + eps); with k = sqrt(bc2 / (1 - b2)):
        #    = (lr (1 - b1) k / bc1) m' / (sqrt(v') + eps k)                    (5 calls)
        np.sqrt(v, out=s)
        if arrays:
            eps_k, scale = self._folded(p, st)
            s += eps_k
            np.divide(m, s, out=s)
            if np.shape(lr) == () or np.shape(lr) == scale.shape:
                np.multiply(lr, scale, out=scale)  # lr * scale, element by element
            else:
                scale = lr * scale
            s *= scale
        else:
            bc1 = 1.0 - b1**self.t
            k = math.sqrt((1.0 - b2**self.t) / (1.0 - b2))
            s += dt(self.eps * k)
            np.divide(m, s, out=s)
            s *= lr * dt((1.0 - b1) * k / bc1)  # the same as _adam_scalars
        p -= s

    def _folded(self, p, st):
        """:func:`_adam_scalars` of this step for every element, with per-replica b1, b2 or
        eps: computed once per distinct ``(b1, b2, eps)`` by the scalar code, then gathered."""
        b1, b2 = self.betas
        eps = self.eps
        groups = self._cached(
            ("adam groups", p.dtype), (b1, b2, eps), lambda: _distinct(b1, b2, eps)
        )
        columns, inverse = groups
        values = np.array([_adam_scalars(*c, self.t) for c in columns]).T.astype(p.dtype)
        shape = inverse.shape
        eps_k = st.get("eps_k")
        if eps_k is None or eps_k.shape != shape:
            eps_k = st["eps_k"] = np.empty(shape, p.dtype)
            st["scale"] = np.empty(shape, p.dtype)
        np.take(values[0], inverse, out=eps_k)
        np.take(values[1], inverse, out=st["scale"])
        return eps_k, st["scale"]


def _adam_scalars(b1: float, b2: float, eps: float, t: int) -> tuple[float, float]:
    """Adam's folded step scalars (float64): ``eps k`` and ``(1 - b1) k / bc1`` with
    ``bc1 = 1 - b1^t`` and ``k = sqrt((1 - b2^t) / (1 - b2))``."""
    bc1 = 1.0 - b1**t
    k = math.sqrt((1.0 - b2**t) / (1.0 - b2))
    return eps * k, (1.0 - b1) * k / bc1


def _distinct(*values: Any) -> tuple[list[tuple[float, ...]], np.ndarray]:
    """The distinct combinations of broadcast hyperparameters (Python floats) and, for every
    element of their broadcast shape, the index of its combination."""
    arrays = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in values))
    shape = arrays[0].shape
    stacked = np.stack([a.reshape(-1) for a in arrays])
    columns, inverse = np.unique(stacked, axis=1, return_inverse=True)
    combos = [tuple(float(x) for x in col) for col in columns.T]
    return combos, np.asarray(inverse, np.intp).reshape(shape)


@OPTIMIZERS.register("adamw")
class AdamW(Adam):
    """AdamW as ``torch.optim.AdamW``: decoupled weight decay ``p *= 1 - lr wd`` first."""

    reference = ({"lr": 0.1, "weight_decay": 0.1}, (0.890000001, 0.781571857, 0.6751012232))

    decoupled = True
    hypers = tuple(
        Hyper("weight_decay", float, 1e-2, low=0.0, per_replica=True, help="decoupled weight decay")
        if h.name == "weight_decay"
        else h
        for h in Adam.hypers
    )
    torch = "AdamW"
