"""Activation functions ``a = f(z)`` and their derivatives, one registered class each.

Every activation works element-wise on arrays of any shape (the network hands it
``(R, B, width)``) and keeps the dtype of its input. The interface:

* ``forward(z, out=None)`` returns ``f(z)``, written into ``out`` when given.
* ``derivative(z)`` returns ``f'(z)`` as a new array.
* ``backward(z, a, grad, out=None)`` returns ``grad * f'(z)``. ``out`` may be ``grad``
  itself (in place); ``z`` and ``a`` are never written. Every backward here computes the
  derivative from ``z`` alone, so ``a`` may have been changed since the forward pass
  (for example multiplied by a dropout mask); it is accepted for interface symmetry.
* ``default_init`` names the initializer that suits the activation: He for the
  rectifier family (relu, leaky_relu, elu, gelu, silu), Glorot for the rest.

Adding an activation is one decorated class::

    @ACTIVATIONS.register("mish")
    class Mish(Activation):
        def forward(self, z, out=None): ...
        def derivative(self, z): ...

Constructor parameters are keyword arguments with defaults; ``ACTIVATIONS.create``
reads them from the signature.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev as _cheb

from nngrid.errors import NngridError
from nngrid.registry import Registry

ACTIVATIONS = Registry("activation")


class Activation:
    """Base class: subclasses implement ``forward`` and ``derivative``."""

    name = "activation"
    default_init = "glorot_uniform"

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

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.forward(z)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def _const(z: np.ndarray, value: float):
    """``value`` as a scalar of ``z``'s floating dtype (keeps float32 float32)."""
    dt = z.dtype if np.issubdtype(z.dtype, np.floating) else np.dtype(np.float64)
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

    default_init = "he_uniform"

    def forward(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def derivative(self, z):
        return (z > 0).astype(z.dtype)

    def backward(self, z, a, grad, out=None):
        return np.multiply(grad, z > 0, out=out)


@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(Activation):
    """``f(z) = z if z > 0 else s z``, ``f'(z) = 1 if z > 0 else s`` (s = negative_slope)."""

    default_init = "he_uniform"

    def __init__(self, negative_slope: float = 0.01):
        s = float(negative_slope)
        if not (math.isfinite(s) and 0.0 <= s < 1.0):
            raise NngridError(
                f"leaky_relu negative_slope must be in [0, 1), got {negative_slope!r}"
            )
        self.negative_slope = s

    def forward(self, z, out=None):
        # For 0 <= s < 1, max(z, s z) is z for z > 0 and s z otherwise.
        scaled = np.multiply(z, _const(z, self.negative_slope))
        return np.maximum(z, scaled, out=out)

    def derivative(self, z):
        return np.where(z > 0, _const(z, 1.0), _const(z, self.negative_slope))

    def backward(self, z, a, grad, out=None):
        return np.multiply(grad, self.derivative(z), out=out)


@ACTIVATIONS.register("elu")
class ELU(Activation):
    """``f(z) = z if z > 0 else alpha (e^z - 1)``, ``f'(z) = 1 if z > 0 else alpha e^z``."""

    default_init = "he_uniform"

    def __init__(self, alpha: float = 1.0):
        alpha = float(alpha)
        if not (math.isfinite(alpha) and alpha >= 0.0):
            raise NngridError(f"elu alpha must be a finite number >= 0, got {alpha!r}")
        self.alpha = alpha

    def forward(self, z, out=None):
        neg = np.minimum(z, 0)
        np.expm1(neg, out=neg)
        neg *= _const(z, self.alpha)
        out = np.maximum(z, 0, out=out)  # max(z,0) + alpha*expm1(min(z,0))
        out += neg
        return out

    def derivative(self, z):
        neg = np.minimum(z, 0)
        np.exp(neg, out=neg)
        neg *= _const(z, self.alpha)
        return np.where(z > 0, _const(z, 1.0), neg)


def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Overflow-free logistic: with e = exp(-|z|), 1/(1+e) for z >= 0 and e/(1+e) otherwise."""
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|z|) in (0, 1]
    den = e + _const(z, 1.0)
    num = np.where(z >= 0, _const(z, 1.0), e)
    return np.divide(num, den, out=out)


@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """``f(z) = 1 / (1 + e^-z)`` in (0, 1), ``f'(z) = f(z) (1 - f(z))``; no overflow."""

    def forward(self, z, out=None):
        return _sigmoid(z, out=out)

    def derivative(self, z):
        s = _sigmoid(z)
        return s * (_const(z, 1.0) - s)

    def backward(self, z, a, grad, out=None):
        s = _sigmoid(z)
        d = _const(z, 1.0) - s
        d *= s
        return np.multiply(grad, d, out=out)


@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """``f(z) = tanh z`` in (-1, 1), ``f'(z) = 1 - tanh(z)^2``."""

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


def erfc_nonneg(x: np.ndarray) -> np.ndarray:
    """``erfc(x)`` for ``x >= 0`` (Chebyshev representation of exp(x^2) erfc(x)); keeps dtype."""
    x = np.asarray(x)
    if x.ndim == 0:  # in-place ufuncs need arrays, not NumPy scalars
        return erfc_nonneg(x.reshape(1)).reshape(())
    t = np.minimum(x, _const(x, _ERFC_XMAX))
    t *= _const(x, 2.0 / _ERFC_XMAX)
    t -= _const(x, 1.0)
    # Clenshaw recurrence: b_k = 2 t b_{k+1} - b_{k+2} + c_k; h = c_0 + t b_1 - b_2.
    two_t = t + t
    b1 = np.zeros_like(t)
    b2 = np.zeros_like(t)
    tmp = np.empty_like(t)
    for c in _ERFCX_COEF[:0:-1]:
        np.multiply(two_t, b1, out=tmp)
        tmp -= b2
        tmp += _const(x, c)
        b1, b2, tmp = tmp, b1, b2
    h = np.multiply(t, b1, out=tmp)
    h -= b2
    h += _const(x, _ERFCX_COEF[0])
    e = np.square(x)
    np.negative(e, out=e)
    np.exp(e, out=e)
    h *= e
    return h


def erf(x: np.ndarray) -> np.ndarray:
    """The error function, ``erf(x) = sign(x) (1 - erfc(|x|))``, absolute error < 1e-14."""
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
    r *= _const(z, 0.5)  # r = Phi(-|z|)
    return np.where(z >= 0, _const(z, 1.0) - r, r)


@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """Exact GELU, ``f(z) = z Phi(z)`` with Phi the standard normal CDF (erf form, not tanh).

    ``f'(z) = Phi(z) + z phi(z)`` with ``phi(z) = exp(-z^2/2) / sqrt(2 pi)``. Phi is
    computed from this module's float64-accurate ``erfc`` (see ``erfc_nonneg``).
    """

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
