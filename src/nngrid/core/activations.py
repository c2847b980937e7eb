"""Activation functions ``a = f(z)`` and their derivatives, one registered class each.

Every activation works element-wise on arrays of any shape (the network hands it
``(R, B, width)``) and keeps the dtype of its input. The interface:

* ``forward(z, out=None)`` returns ``f(z)``, written into ``out`` when given.
* ``derivative(z)`` returns ``f'(z)`` as a new array.
* ``backward(z, a, grad, out=None)`` returns ``grad * f'(z)``. ``out`` may be ``grad``
  itself (in place); ``z`` and ``a`` are never written. Every backward here computes the
  derivative from ``z`` alone, so ``a`` may have been changed since the forward pass
  (for example multiplied by a dropout mask); it is accepted for interface symmetry.
* ``forward_train(z, out, saved)`` / ``backward_train(z, a, saved, grad, out)``: the
  network's training path, with ``saved`` a work array shaped like ``z`` kept between the two
  calls. The defaults call ``forward`` and ``backward``; relu stores its 0/1 derivative there
  (as a float array) so that its backward is one multiply. Same values as the plain methods.
* ``default_init`` names the initializer that suits the activation: He for the
  rectifier family (relu, leaky_relu, elu, gelu, silu), Glorot for the rest.

Adding an activation is one decorated class::

    @ACTIVATIONS.register("mish")
    class Mish(Activation):
        def forward(self, z, out=None): ...
        def derivative(self, z): ...

Its parameters, if any, are declared on the class (``hypers = (Hyper("beta", float, 1.0,
low=0.0),)``, :mod:`nngrid.core.hyper`): the constructor checks them and sets them as
attributes, and ``ACTIVATIONS.create``, the command line and the config check read them.
``torch`` optionally names the ``torch.nn.functional`` function the activation equals (the
torch oracle test then compares them).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from nngrid.core.hyper import Component, Hyper
from nngrid.core.registry import Registry

ACTIVATIONS = Registry("activation")


class Activation(Component):
    """Base class: subclasses implement ``forward`` and ``derivative``."""

    name = "activation"
    default_init = "glorot_uniform"
    torch: str | None = None

    def forward(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(
        self,
        z: np.ndarray,
        a: np.ndarray | None,
        grad: np.ndarray,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Return ``grad * f'(z)`` (into ``out``, which may be ``grad``)."""
        return np.multiply(grad, self.derivative(z), out=out)

    # The network's training path. ``saved`` is a work array shaped like ``z`` that the network
    # keeps between the two calls; an activation may store there whatever makes its backward
    # cheaper (relu: its 0/1 derivative). The defaults ignore it.
    def forward_train(self, z: np.ndarray, out: np.ndarray, saved: np.ndarray) -> np.ndarray:
        """``f(z)`` into ``out``, possibly storing backward's helper in ``saved``."""
        return self.forward(z, out=out)

    def backward_train(
        self, z: np.ndarray, a: np.ndarray, saved: np.ndarray, grad: np.ndarray, out: np.ndarray
    ) -> np.ndarray:
        """``grad * f'(z)`` into ``out`` (may be ``grad``), after :meth:`forward_train`."""
        return self.backward(z, a, grad, out=out)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.forward(z)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def _const(z: np.ndarray, value: float):
    """``value`` as a scalar of ``z``'s floating dtype (keeps float32 float32)."""
    dt = z.dtype
    if dt.kind != "f":  # (a kind test: np.issubdtype costs ~1 us, a step's whole element-wise op)
        dt = np.dtype(np.float64)
    return dt.type(value)


def _finish(result: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return result
    np.copyto(out, result)
    return out


# ---------------------------------------------------------------------------------------
# Registered activations
# ---------------------------------------------------------------------------------------


@ACTIVATIONS.register("identity")
class Identity(Activation):
    """``f(z) = z``, ``f'(z) = 1``: no nonlinearity (the network stays linear)."""

    def forward(self, z, out=None):
        if out is None:
            return z.copy()
        np.copyto(out, z)
        return out

    def derivative(self, z):
        return np.ones_like(z)

    def backward(self, z, a, grad, out=None):
        if out is None:
            return grad.copy()
        if out is not grad:
            np.copyto(out, grad)
        return out


@ACTIVATIONS.register("relu")
class ReLU(Activation):
    """``f(z) = max(z, 0)``, ``f'(z) = 1 if z > 0 else 0`` (0 at the kink)."""

    torch = "relu"

    default_init = "he_uniform"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def derivative(self, z):
        return (z > 0).astype(z.dtype)

    def backward(self, z, a, grad, out=None):
        return np.multiply(grad, z > 0, out=out)

    # Training path: the derivative [z > 0] kept as a float 0/1 array, so forward is
    # z * [z > 0] and backward one float multiply (a float mask multiplies ~2x faster than a
    # bool one, and greater + multiply beat np.maximum; measured). Same values as forward and
    # backward, except that -inf maps to NaN rather than 0 (a diverged network either way).
    def forward_train(self, z, out, saved):
        np.greater(z, 0, out=saved)
        return np.multiply(z, saved, out=out)

    def backward_train(self, z, a, saved, grad, out):
        return np.multiply(grad, saved, out=out)


@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(Activation):
    """``f(z) = z if z > 0 else s z``, ``f'(z) = 1 if z > 0 else s`` (s = negative_slope)."""

    torch = "leaky_relu"

    default_init = "he_uniform"
    hypers = (
        Hyper(
            "negative_slope",
            float,
            0.01,
            low=0.0,
            high=1.0,
            high_open=True,
            help="slope for z <= 0",
        ),
    )

    def forward(self, z, out=None):
        # For 0 <= s < 1, max(z, s z) is z for z > 0 and s z otherwise.
        scaled = np.multiply(z, _const(z, self.negative_slope))
        return np.maximum(z, scaled, out=out)

    def derivative(self, z):
        # s + (1 - s) [z > 0]  (np.where is several times slower on unpredictable signs)
        d = np.multiply(z > 0, _const(z, 1.0 - self.negative_slope), dtype=z.dtype)
        d += _const(z, self.negative_slope)
        return d

    def backward(self, z, a, grad, out=None):
        return np.multiply(grad, self.derivative(z), out=out)


@ACTIVATIONS.register("elu")
class ELU(Activation):
    """``f(z) = z if z > 0 else alpha (e^z - 1)``, ``f'(z) = 1 if z > 0 else alpha e^z``."""

    torch = "elu"

    default_init = "he_uniform"
    hypers = (Hyper("alpha", float, 1.0, low=0.0, help="saturation value -alpha for z -> -inf"),)

    def forward(self, z, out=None):
        neg = np.minimum(z, 0)
        np.expm1(neg, out=neg)
        neg *= _const(z, self.alpha)
        out = np.maximum(z, 0, out=out)  # max(z,0) + alpha*expm1(min(z,0))
        out += neg
        return out

    def derivative(self, z):
        # alpha exp(min(z, 0)) + (1 - alpha) [z > 0]: alpha e^z for z <= 0, 1 for z > 0
        d = np.minimum(z, 0)
        np.exp(d, out=d)
        d *= _const(z, self.alpha)
        if self.alpha != 1.0:
            d += np.multiply(z > 0, _const(z, 1.0 - self.alpha), dtype=z.dtype)
        return d


def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Overflow-free logistic ``(1 + tanh(z/2)) / 2`` (absolute error ~ machine epsilon)."""
    out = np.multiply(z, _const(z, 0.5), out=out)
    np.tanh(out, out=out)
    out *= _const(z, 0.5)
    out += _const(z, 0.5)
    return out


def _sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    """``s (1 - s) = e / (1 + e)^2`` with ``e = exp(-|z|)``: no overflow, accurate even where
    the sigmoid saturates (relative precision, so tiny gradients are not rounded to 0)."""
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    den = e + _const(z, 1.0)
    np.square(den, out=den)
    return np.divide(e, den, out=e)


@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """``f(z) = 1 / (1 + e^-z)`` in (0, 1), ``f'(z) = f(z) (1 - f(z))``; no overflow.

    Computed as ``(1 + tanh(z/2)) / 2`` (exact identity) and ``f'`` as ``e / (1 + e)^2``
    with ``e = exp(-|z|)``.
    """

    torch = "sigmoid"

    def forward(self, z, out=None):
        return _sigmoid(z, out=out)

    def derivative(self, z):
        return _sigmoid_derivative(z)


@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """``f(z) = tanh z`` in (-1, 1), ``f'(z) = 1 - tanh(z)^2``."""

    torch = "tanh"

    def forward(self, z, out=None):
        return np.tanh(z, out=out)

    def derivative(self, z):
        t = np.tanh(z)
        np.square(t, out=t)
        return np.subtract(_const(z, 1.0), t, out=t)

    def backward(self, z, a, grad, out=None):
        return np.multiply(grad, self.derivative(z), out=out)


@ACTIVATIONS.register("softplus")
class Softplus(Activation):
    """``f(z) = log(1 + e^z) = max(z, 0) + log1p(e^-|z|)``, ``f'(z) = sigmoid(z)``."""

    torch = "softplus"

    def forward(self, z, out=None):
        e = np.abs(z)
        np.negative(e, out=e)
        np.exp(e, out=e)
        np.log1p(e, out=e)
        out = np.maximum(z, 0, out=out)
        out += e
        return out

    def derivative(self, z):
        return _sigmoid(z)


# --- the error function, for the exact GELU -----------------------------------------------
# NumPy has no erf. For x >= 0 we write erfc(x) = exp(-x^2) h(x), where the scaled
# complementary error function h(x) = exp(x^2) erfc(x) is smooth and slowly varying, and
# represent h on [0, 6] by its degree-32 Chebyshev interpolant, built once at import from
# the C library's erfc (math.erfc). Tested max relative error of h: ~2e-14 (float64).
# For x > 6 (erfc(x) < 2.2e-17) h is frozen at h(6) while the factor exp(-x^2) keeps
# falling, so erfc stays continuous and decays to exactly 0.
_ERFC_XMAX = 6.0
_ERFC_DEGREE = 32


def _erfcx_reference(t: np.ndarray) -> np.ndarray:
    x = (np.asarray(t, dtype=np.float64) + 1.0) * (_ERFC_XMAX / 2.0)
    return np.array([math.exp(v * v) * math.erfc(v) for v in np.atleast_1d(x)])


_ERFCX_COEF = _cheb.chebinterpolate(_erfcx_reference, _ERFC_DEGREE)
_ERFCX_TAIL = np.cumsum(np.abs(_ERFCX_COEF[::-1]))[::-1]  # bound on the truncation error


def _erfcx_coef(dtype: np.dtype) -> np.ndarray:
    """The shortest leading part of the series whose dropped tail is < eps(dtype) / 20
    (degree 19 for float32, all 32 for float64), as scalars of ``dtype``."""
    tol = np.finfo(dtype).eps / 20
    n = next((k for k in range(len(_ERFCX_COEF)) if _ERFCX_TAIL[k] < tol), len(_ERFCX_COEF))
    return _ERFCX_COEF[:n].astype(dtype)


def erfc_nonneg(x: np.ndarray) -> np.ndarray:
    """``erfc(x)`` for ``x >= 0``, in ``x``'s dtype.

    float64 (and wider): the Chebyshev representation of ``exp(x^2) erfc(x)`` above,
    absolute error < 1e-14. float32 and narrower: Abramowitz & Stegun 7.1.26,
    ``erfc(x) = (a1 u + ... + a5 u^5) exp(-x^2)`` with ``u = 1 / (1 + p x)``, formula
    error < 1.5e-7 (about float32's resolution; ~5e-7 after float32 rounding), at a
    quarter of the cost.
    """
    x = np.asarray(x)
    if x.ndim == 0:  # in-place ufuncs need arrays, not NumPy scalars
        return erfc_nonneg(x.reshape(1)).reshape(())
    if np.finfo(x.dtype).eps > 1e-10:
        return _erfc_nonneg_as(x)
    t = np.minimum(x, _const(x, _ERFC_XMAX))
    t *= _const(x, 2.0 / _ERFC_XMAX)
    t -= _const(x, 1.0)
    # Clenshaw recurrence: b_k = 2 t b_{k+1} - b_{k+2} + c_k; h = c_0 + t b_1 - b_2.
    two_t = t + t
    b1 = np.zeros_like(t)
    b2 = np.zeros_like(t)
    tmp = np.empty_like(t)
    coef = _erfcx_coef(t.dtype)
    for c in coef[:0:-1]:
        np.multiply(two_t, b1, out=tmp)
        tmp -= b2
        tmp += c
        b1, b2, tmp = tmp, b1, b2
    h = np.multiply(t, b1, out=tmp)
    h -= b2
    h += coef[0]
    e = np.square(x)
    np.negative(e, out=e)
    np.exp(e, out=e)
    h *= e
    return h


_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erfc_nonneg_as(x: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 for erfc on x >= 0 (|error| < 1.5e-7), in x's dtype."""
    u = np.multiply(x, _const(x, _AS_P))
    u += _const(x, 1.0)
    np.divide(_const(x, 1.0), u, out=u)
    poly = np.multiply(u, _const(x, _AS_A[4]))
    for a in _AS_A[3::-1]:
        poly += _const(x, a)
        poly *= u
    e = np.square(x)
    np.negative(e, out=e)
    np.exp(e, out=e)
    poly *= e
    return poly


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, ``erf(x) = sign(x) (1 - erfc(|x|))``; absolute error < 1e-14 in
    float64, < 6e-7 in float32 (see ``erfc_nonneg``)."""
    x = np.asarray(x)
    if x.ndim == 0:
        return erf(x.reshape(1)).reshape(())
    r = erfc_nonneg(np.abs(x))
    np.subtract(_const(x, 1.0), r, out=r)
    return np.copysign(r, x, out=r)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """``Phi(z) = erfc(-z / sqrt 2) / 2``: the standard normal CDF, keeps dtype."""
    z = np.asarray(z)
    if z.ndim == 0:
        return normal_cdf(z.reshape(1)).reshape(())
    u = np.multiply(z, _const(z, 1.0 / math.sqrt(2.0)))
    r = erfc_nonneg(np.abs(u))
    r *= _const(z, 0.5)  # r = Phi(-|z|);  Phi(z) = 1/2 + sign(z) (1/2 - r)
    np.subtract(_const(z, 0.5), r, out=r)
    np.copysign(r, z, out=r)
    r += _const(z, 0.5)
    return r


@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """Exact GELU, ``f(z) = z Phi(z)`` with Phi the standard normal CDF (erf form, not tanh).

    ``f'(z) = Phi(z) + z phi(z)`` with ``phi(z) = exp(-z^2/2) / sqrt(2 pi)``. Phi comes from
    this module's ``erfc``: accurate to ~1e-14 in float64 (so finite-difference checks of
    ``f'`` against ``f`` hold), to float32 resolution (~3e-7) in float32.
    """

    torch = "gelu"

    default_init = "he_uniform"

    def forward(self, z, out=None):
        return np.multiply(z, normal_cdf(z), out=out)

    def derivative(self, z):
        phi = np.square(z)
        phi *= _const(z, -0.5)
        np.exp(phi, out=phi)
        phi *= _const(z, 1.0 / math.sqrt(2.0 * math.pi))
        phi *= z
        phi += normal_cdf(z)
        return phi


@ACTIVATIONS.register("silu")
class SiLU(Activation):
    """SiLU / swish, ``f(z) = z sigmoid(z)``, ``f'(z) = s (1 + z (1 - s))`` with s = sigmoid(z)."""

    torch = "silu"

    default_init = "he_uniform"

    def forward(self, z, out=None):
        return np.multiply(z, _sigmoid(z), out=out)

    def derivative(self, z):
        s = _sigmoid(z)
        d = _const(z, 1.0) - s
        d *= z
        d += _const(z, 1.0)
        d *= s
        return d


@ACTIVATIONS.register("atan")
class Atan(Activation):
    """The arctan sigmoid ``f(z) = arctan(z) / (pi/2)``, ``f'(z) = (2/pi) / (1 + z^2)``."""

    def forward(self, z, out=None):
        out = np.arctan(z, out=out)
        out *= _const(z, 2.0 / math.pi)
        return out

    def derivative(self, z):
        d = np.square(z)
        d += _const(z, 1.0)
        return np.divide(_const(z, 2.0 / math.pi), d, out=d)


@ACTIVATIONS.register("step")
class Step(Activation):
    """The Heaviside step ``f(z) = 1 if z > 0 else 0``: not differentiable at 0 and with
    derivative ``f'(z) = 0`` everywhere else, so backpropagation passes nothing through it.

    The lesson's example of an activation that cannot learn: only the layer after the last
    step receives a gradient; every weight before it keeps its initial value.
    """

    def forward(self, z, out=None):
        return _finish(np.greater(z, 0).astype(z.dtype), out)

    def derivative(self, z):
        return np.zeros_like(z)

    def backward(self, z, a, grad, out=None):
        if out is None:
            return np.zeros_like(grad)
        out[...] = 0
        return out
