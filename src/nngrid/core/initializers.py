"""Weight initializers: ``init(rng, fan_in, fan_out, dtype) -> W`` of shape ``(fan_in, fan_out)``.

========================  ====================================  =====================
name                      distribution                          variance of W
========================  ====================================  =====================
glorot_uniform (Xavier)   U(-a, a), a = sqrt(6 / (in + out))    2 / (in + out)
glorot_normal             N(0, 2 / (in + out))                  2 / (in + out)
he_uniform (Kaiming)      U(-a, a), a = sqrt(6 / in)            2 / in
he_normal                 N(0, 2 / in)                          2 / in
lecun                     N(0, 1 / in)                          1 / in
normal                    N(0, std^2), std = 0.01               std^2
orthogonal                gain * Q, Q from QR of an N(0, 1)     gain^2 / max(in, out)
                          matrix (orthonormal rows or columns)
identity                  gain * I (ones on the diagonal; for   gain^2 p (1 - p),
                          a non-square W the leading diagonal)  p = 1 / max(in, out)
========================  ====================================  =====================

``orthogonal`` (Saxe, McClelland and Ganguli 2014) and ``identity`` (Le, Jaitly and Hinton
2015: the identity-initialised relu RNN) are meant for recurrent weights ``W_hh`` (square), but
work for any shape. ``identity`` draws nothing from the generator.

Draws are made in float64 from the ``numpy.random.Generator`` passed in and then cast,
so a float32 run starts from the float64 run's weights, rounded. The network calls the
initializer once per replica with that replica's own generator. Biases start at zero
(the network's business). ``default_initializer(activation)`` names the initializer an
activation asks for (He for the rectifier family, Glorot otherwise).
"""

from __future__ import annotations

import math

import numpy as np

from nngrid.core.activations import ACTIVATIONS
from nngrid.core.hyper import Component, Hyper
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

INITIALIZERS = Registry("initializer")


def default_initializer(activation_name: str) -> str:
    """The initializer registered as ``default_init`` on the activation ``activation_name``."""
    return ACTIVATIONS.get(activation_name).default_init


def _check_fans(fan_in: int, fan_out: int) -> None:
    if int(fan_in) < 1 or int(fan_out) < 1:
        raise NngridError(f"fan_in and fan_out must be >= 1, got {fan_in!r} and {fan_out!r}")


class Initializer(Component):
    """Base class: subclasses implement ``draw(rng, fan_in, fan_out)`` in float64 and
    declare their parameters in ``hypers``."""

    name = "initializer"

    def __call__(
        self, rng: np.random.Generator, fan_in: int, fan_out: int, dtype=np.float32
    ) -> np.ndarray:
        _check_fans(fan_in, fan_out)
        return self.draw(rng, int(fan_in), int(fan_out)).astype(dtype, copy=False)

    def draw(self, rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
        raise NotImplementedError

    def variance(self, fan_in: int, fan_out: int) -> float:
        """The variance of every entry of W (used by the tests and the figures)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Uniform(Initializer):
    def draw(self, rng, fan_in, fan_out):
        a = math.sqrt(3.0 * self.variance(fan_in, fan_out))  # var of U(-a, a) is a^2 / 3
        w = rng.random((fan_in, fan_out))
        w *= 2.0 * a
        w -= a
        return w


class _Normal(Initializer):
    def draw(self, rng, fan_in, fan_out):
        w = rng.standard_normal((fan_in, fan_out))
        w *= math.sqrt(self.variance(fan_in, fan_out))
        return w


class _Glorot(Initializer):
    """Glorot & Bengio (2010)'s variance, 2 / (fan_in + fan_out), for its uniform and normal
    forms."""

    def variance(self, fan_in, fan_out):
        return 2.0 / (fan_in + fan_out)


class _He(Initializer):
    """He et al. (2015)'s variance, 2 / fan_in, for its uniform and normal forms."""

    def variance(self, fan_in, fan_out):
        return 2.0 / fan_in


@INITIALIZERS.register("glorot_uniform")
class GlorotUniform(_Glorot, _Uniform):
    """Glorot & Bengio (2010): U(-a, a) with a = sqrt(6 / (fan_in + fan_out))."""


@INITIALIZERS.register("glorot_normal")
class GlorotNormal(_Glorot, _Normal):
    """Glorot & Bengio (2010): N(0, 2 / (fan_in + fan_out))."""


@INITIALIZERS.register("he_uniform")
class HeUniform(_He, _Uniform):
    """He et al. (2015): U(-a, a) with a = sqrt(6 / fan_in)."""


@INITIALIZERS.register("he_normal")
class HeNormal(_He, _Normal):
    """He et al. (2015): N(0, 2 / fan_in)."""


@INITIALIZERS.register("lecun")
class LeCun(_Normal):
    """LeCun et al. (1998): N(0, 1 / fan_in)."""

    def variance(self, fan_in, fan_out):
        return 1.0 / fan_in


@INITIALIZERS.register("normal")
class Normal(_Normal):
    """N(0, std^2) whatever the fans (std = 0.01: the classic small random start)."""

    hypers = (Hyper("std", float, 0.01, low=0.0, low_open=True, help="standard deviation"),)

    def variance(self, fan_in, fan_out):
        return self.std**2

    def __repr__(self) -> str:
        return f"Normal(std={self.std!r})"


@INITIALIZERS.register("orthogonal")
class Orthogonal(Initializer):
    """``gain * Q``: Q has orthonormal columns (fan_in >= fan_out) or rows (fan_in < fan_out).

    Q comes from the QR decomposition of a standard normal ``(max, min)`` matrix, with the signs
    of R's diagonal folded into Q so that Q is uniformly (Haar) distributed.
    """

    hypers = (Hyper("gain", float, 1.0, low=0.0, low_open=True, help="scale of Q"),)

    def draw(self, rng, fan_in, fan_out):
        rows, cols = max(fan_in, fan_out), min(fan_in, fan_out)
        q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
        q *= np.where(np.diag(r) < 0, -1.0, 1.0)
        if fan_in < fan_out:
            q = q.T
        q *= self.gain
        return np.ascontiguousarray(q)

    def variance(self, fan_in, fan_out):
        return self.gain**2 / max(fan_in, fan_out)

    def __repr__(self) -> str:
        return f"Orthogonal(gain={self.gain!r})"


@INITIALIZERS.register("identity")
class Identity(Initializer):
    """``gain * I``: ones on the leading diagonal, zeros elsewhere; no random draw."""

    hypers = (Hyper("gain", float, 1.0, low=0.0, low_open=True, help="the diagonal's value"),)

    def draw(self, rng, fan_in, fan_out):
        return np.eye(fan_in, fan_out) * self.gain

    def variance(self, fan_in, fan_out):
        p = 1.0 / max(fan_in, fan_out)
        return self.gain**2 * p * (1.0 - p)

    def __repr__(self) -> str:
        return f"Identity(gain={self.gain!r})"


@INITIALIZERS.register("he_large")
class HeLarge(_Normal):
    """He's normal initialisation scaled up by ``gain`` (3 by default): N(0, 2 gain^2 / fan_in).

    A deliberately too-large start: with relu each layer multiplies the signal (and the
    backward gradient) by about ``gain``, so gradients explode with depth."""

    hypers = (Hyper("gain", float, 3.0, low=0.0, low_open=True, help="factor on He's std"),)

    def variance(self, fan_in, fan_out):
        return 2.0 * self.gain**2 / fan_in

    def __repr__(self) -> str:
        return f"HeLarge(gain={self.gain!r})"
