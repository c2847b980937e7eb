"""Declared hyperparameters: a component states its knobs once, and everything reads them.

A component (optimizer, activation, initializer, regularizer, schedule, loss) is a subclass of
:class:`Component` with a class attribute ``hypers``, a tuple of :class:`Hyper`::

    class Lion(Optimizer):
        hypers = (
            Hyper("lr", float, 1e-4, low=0.0, low_open=True, per_replica=True),
            Hyper("betas", tuple, (0.9, 0.99), low=0.0, high=1.0, high_open=True),
            Hyper("weight_decay", float, 0.0, low=0.0),
        )

Building it (``Lion(lr=0.01)``, or ``OPTIMIZERS.create("lion", lr=0.01)``) checks every value
against its declaration (type and bounds; one ``NngridError`` line naming the component, the
parameter and the allowed range), sets it as an attribute, then calls :meth:`Component.validate`
for rules between parameters. The registries' ``parameters``, ``nngrid list`` (and its
``--markdown`` tables in config/README.md), the command line's flags, the workflow's config
check (:func:`nngrid.core.registry.check_params`, given the registry) and the test suite's generic
checks all read ``hypers``; nothing else lists a component's parameters.

Types: ``float``, ``int``, ``bool``, ``str`` and ``tuple`` (a pair of floats, each in the
bounds, e.g. Adam's betas). ``per_replica`` also accepts an array of values (one per replica,
or per element of a flat parameter buffer; for a pair, each of its two entries may be one); the
check then applies to every entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from nngrid.errors import NngridError

_TYPES = (float, int, bool, str, tuple)


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its name, type, default and bounds (``None``: unbounded)."""

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    per_replica: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"Hyper {self.name!r}: type must be one of {_TYPES}, got {self.type}")

    # ---- text
    def range_text(self) -> str:
        """The allowed values as an interval, e.g. ``[0, 1)`` or ``(0, inf)``; ``""`` if any."""
        if self.type in (bool, str) or (self.low is None and self.high is None):
            return ""
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low is None or self.low_open else "["
        right = ")" if self.high is None or self.high_open else "]"
        return f"{left}{lo}, {hi}{right}"

    def type_text(self) -> str:
        text = "pair" if self.type is tuple else self.type.__name__
        return text + (" or per-replica array" if self.per_replica else "")

    # ---- checks
    def _inside(self, x: np.ndarray) -> np.ndarray:
        ok = np.isfinite(x)
        if self.low is not None:
            ok &= (x > self.low) if self.low_open else (x >= self.low)
        if self.high is not None:
            ok &= (x < self.high) if self.high_open else (x <= self.high)
        return ok

    def _number(self, owner: str, label: str, value: Any) -> float:
        rng = self.range_text() or "(-inf, inf)"
        if isinstance(value, (bool, np.bool_, str, bytes)):
            raise NngridError(f"{owner} {label} must be a number in {rng}, got {value!r}")
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise NngridError(f"{owner} {label} must be a number in {rng}, got {value!r}") from None
        if not self._inside(np.float64(x)):
            raise NngridError(f"{owner} {label} must be in {rng}, got {value!r}")
        return x

    def check(self, owner: str, value: Any) -> Any:
        """``value`` converted to the declared type, or one NngridError line naming ``owner``."""
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise NngridError(f"{owner} {self.name} must be true or false, got {value!r}")
            return bool(value)
        if self.type is str:
            if not isinstance(value, str):
                raise NngridError(f"{owner} {self.name} must be a name, got {value!r}")
            return value
        if self.type is tuple:
            try:
                a, b = value
            except (TypeError, ValueError):
                raise NngridError(
                    f"{owner} {self.name} must be a pair in {self.range_text()}, got {value!r}"
                ) from None
            return tuple(
                self._array(owner, x, f"{self.name}[{i}]")
                if self.per_replica and np.ndim(x) > 0
                else self._number(owner, f"{self.name}[{i}]", x)
                for i, x in enumerate((a, b))
            )
        if self.per_replica and np.ndim(value) > 0:
            return self._array(owner, value)
        if self.type is int:
            ok = isinstance(value, (int, np.integer, float)) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or int(value) != value:
                rng = self.range_text()
                raise NngridError(
                    f"{owner} {self.name} must be an integer in {rng}, got {value!r}"
                    if rng
                    else f"{owner} {self.name} must be an integer, got {value!r}"
                )
            self._number(owner, self.name, value)
            return int(value)
        return self._number(owner, self.name, value)

    def _array(self, owner: str, value: Any, label: str | None = None) -> np.ndarray:
        label = self.name if label is None else label
        try:
            arr = np.array(value, dtype=np.float64)  # a copy: later changes to it are unseen
        except (TypeError, ValueError):
            raise NngridError(f"{owner} {label} must be numbers, got {value!r}") from None
        ok = self._inside(arr)
        if not np.all(ok):
            bad = float(arr[~ok].flat[0])
            raise NngridError(
                f"{owner} {label} must be in {self.range_text()} everywhere, got {bad!r} "
                "in the array"
            )
        return arr

    def parse(self, text: str) -> Any:
        """A command-line string as this type (bounds are checked by :meth:`check`)."""
        if self.type is bool:
            low = text.strip().lower()
            if low in ("true", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            raise ValueError(f"expected true or false, got {text!r}")
        if self.type is str:
            return text
        if self.type is tuple:
            parts = [p for p in text.split(",") if p.strip()]
            if len(parts) != 2:
                raise ValueError(f"expected two comma-separated numbers, got {text!r}")
            return tuple(float(p) for p in parts)
        if self.type is int:
            return int(text)
        return float(text)


def declared_init(init: Any) -> Any:
    """Mark an ``__init__(self, **params)`` that passes its keywords on to :func:`configure`
    (a subclass that only adds work arrays keeps its parameters declared)."""
    init._declared_init = True
    return init


class Component:
    """Base of every declared component: ``__init__(**params)`` checks and sets ``hypers``.

    Subclasses declare ``hypers`` and, when some values exclude others, override
    :meth:`validate` (raise ``NngridError`` there). The registry sets ``name``.
    """

    name = "component"
    hypers: tuple[Hyper, ...] = ()

    @declared_init
    def __init__(self, **params: Any):
        configure(self, params)

    def validate(self) -> None:
        """Rules between parameters (after each was checked on its own); none by default."""

    def hyperparams(self) -> dict[str, Any]:
        """The resolved hyperparameters (lists for arrays and pairs), for the run's record."""
        out = {}
        for h in type(self).hypers:
            v = getattr(self, h.name)
            out[h.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{h.name}={getattr(self, h.name)!r}" for h in type(self).hypers)
        return f"{type(self).__name__}({args})"


def declared(obj: Any) -> bool:
    """Whether ``obj`` (a class) declares its hyperparameters with :class:`Hyper`: a
    :class:`Component` whose constructor is a declared one. A subclass with an ``__init__`` of
    its own signature (written before declarations existed) is read from that signature."""
    return (
        isinstance(obj, type)
        and issubclass(obj, Component)
        and getattr(obj.__init__, "_declared_init", False)
    )


def configure(obj: Any, params: Mapping[str, Any]) -> None:
    """Check ``params`` against ``type(obj).hypers``, set each (defaults for the rest), then
    call ``obj.validate()``."""
    hypers = type(obj).hypers
    names = [h.name for h in hypers]
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise NngridError(
            f"{obj.name} takes no parameter {unknown[0]!r}; its parameters: "
            f"{', '.join(names) or 'none'}"
        )
    for h in hypers:
        setattr(obj, h.name, h.check(obj.name, params.get(h.name, h.default)))
    obj.validate()


def inferred(name: str, default: Any) -> Hyper:
    """A :class:`Hyper` for an undeclared keyword parameter (a plain signature default)."""
    if isinstance(default, bool):
        kind: type = bool
    elif isinstance(default, int):
        kind = int
    elif isinstance(default, float):
        kind = float
    elif isinstance(default, tuple):
        kind = tuple
    else:
        kind = str
    return Hyper(name, kind, default)
