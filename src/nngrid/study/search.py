"""Search spaces and quasi-random search over an optimizer's hyperparameters (issue 21).

The ``full`` tuning protocol (:func:`nngrid.study.protocol.run_search_cell`) tunes every
hyperparameter a search space names, not the learning rate alone (Choi et al. 2019; the tuning
playbook's quasi-random search). A search space is declared per optimizer in the config
(``optimizers.<name>.search``), one entry per hyperparameter:

- a number: the value is fixed (``eps: 1.0e-8``);
- ``{low, high, scale: log | linear}``: drawn on that range (log: uniform in ``log x``);
- ``{low, high, scale, one_minus: true}``: the range is that of ``1 - x``, the usual way for
  a decay rate close to 1 (``momentum: {low: 1.0e-3, high: 0.5, scale: log, one_minus: true}``
  draws momentum in [0.5, 0.999], as densely near 0.999 as near 0.5).

Names are the optimizer's declared per-replica hyperparameters (``lr``, ``momentum``, ``eps``,
``alpha``, ``weight_decay``), with ``betas`` given as ``b1`` and ``b2``; a hyperparameter the
space leaves out keeps the optimizer's configured ``params`` or its default.

Trials: the first ``budget`` points of a scrambled Sobol sequence in ``d`` dimensions (one per
range, in the order of :data:`ORDER`), ``scipy.stats.qmc.Sobol(d, scramble=True, rng=seed)``,
drawn as ``random_base2(ceil(log2(budget)))`` (a power of two keeps the sequence's balance;
the first ``budget`` points are used), each coordinate ``u`` mapped to its range and the value
rounded to 6 significant digits (like the lr grid). The same seed gives the same trials, bit for
bit, on every machine: the scrambling draws from ``numpy.random.default_rng(seed)``.

Each cell draws its own trials (:func:`cell_seed`: the study's ``search_seed`` and a digest of
the cell's dataset, regularizer, activation and optimizer). With one sequence for every cell, a
small budget's luck (Adam's 7 trials missing the good corner, say) would repeat in every cell
and data draw, out of reach of any interval over them, and a redrawn ``search_seed`` could turn
a verdict; drawn per cell, that luck is one more source of variation the draws' interval sees.

The edge rule: a winner whose coordinate ``u`` of a range lies in its outer sixteenth (``u <
1/16`` or ``u > 15/16``, measured on the range's own scale: log or linear, of ``1 - x`` when
``one_minus``) is flagged ``on_edge`` for that hyperparameter: the best value may lie outside.

SciPy is imported here only (the core stays NumPy-only; a job imports this module only for the
``full`` protocol).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nngrid.errors import NngridError

__all__ = [
    "EDGE",
    "ORDER",
    "Range",
    "draw_trials",
    "on_edge",
    "opt_params_of",
    "parse_space",
    "trial_positions",
]

#: The searchable names, in the order their dimensions take in the Sobol sequence.
ORDER = ("lr", "momentum", "b1", "b2", "alpha", "eps", "weight_decay")
#: A winner's coordinate within this fraction of either end of a range is on its edge.
EDGE = 1.0 / 16.0


@dataclass(frozen=True)
class Range:
    """One searched hyperparameter: ``low <= x <= high`` on ``scale`` (of ``1 - value`` when
    ``one_minus``)."""

    name: str
    low: float
    high: float
    scale: str = "log"
    one_minus: bool = False

    def value(self, u: float) -> float:
        """The hyperparameter at coordinate ``u`` in [0, 1], rounded to 6 significant digits."""
        if self.scale == "log":
            x = self.low * (self.high / self.low) ** u
        else:
            x = self.low + (self.high - self.low) * u
        return float(f"{(1.0 - x if self.one_minus else x):.6g}")

    def position(self, value: float) -> float:
        """The coordinate in [0, 1] of ``value`` (the inverse of :meth:`value`, up to rounding)."""
        x = 1.0 - value if self.one_minus else value
        if self.scale == "log":
            return math.log(x / self.low) / math.log(self.high / self.low)
        return (x - self.low) / (self.high - self.low)


def _hyper_of(name: str) -> str:
    return "betas" if name in ("b1", "b2") else name


def parse_space(
    optimizer: str, space: Mapping[str, Any], where: str | None = None
) -> tuple[list[Range], dict[str, float]]:
    """The ranges (in :data:`ORDER`) and fixed values of a search space, checked against the
    optimizer's declarations: a per-replica hyperparameter (``b1``/``b2`` for ``betas``), a
    range with ``low < high`` (``low > 0`` on a log scale) whose ends are valid values.
    Every mistake is one NngridError line naming ``where`` (default ``optimizers.<name>.search``).
    """
    from nngrid.core.optim import OPTIMIZERS

    where = where or f"optimizers.{optimizer}.search"
    if not isinstance(space, Mapping) or not space:
        raise NngridError(f"{where} must name at least one hyperparameter, got {space!r}")
    declared = {h.name: h for h in OPTIMIZERS.hypers(optimizer) if h.per_replica}
    valid = [n for n in ORDER if _hyper_of(n) in declared]
    ranges: list[Range] = []
    fixed: dict[str, float] = {}
    for name, spec in space.items():
        if name not in valid:
            raise NngridError(
                f"{where}.{name}: {optimizer} has no searchable hyperparameter {name!r}; "
                f"valid names: {', '.join(valid)}"
            )
        hyper = declared[_hyper_of(name)]
        if isinstance(spec, bool) or not isinstance(spec, int | float | Mapping):
            raise NngridError(
                f"{where}.{name} must be a number or {{low, high, scale}}, got {spec!r}"
            )
        if not isinstance(spec, Mapping):
            fixed[name] = _valid(where, name, hyper, float(spec))
            continue
        unknown = sorted(set(spec) - {"low", "high", "scale", "one_minus"})
        if unknown or "low" not in spec or "high" not in spec:
            raise NngridError(
                f"{where}.{name} needs low and high (and optionally scale: log | linear, "
                f"one_minus: true), got {dict(spec)!r}"
            )
        scale = spec.get("scale", "log")
        one_minus = spec.get("one_minus", False)
        low, high = spec["low"], spec["high"]
        if scale not in ("log", "linear") or not isinstance(one_minus, bool):
            raise NngridError(
                f"{where}.{name}: scale must be log or linear and one_minus true or false, got "
                f"scale={scale!r}, one_minus={one_minus!r}"
            )
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise NngridError(
                f"{where}.{name}: low and high must be finite numbers with low < high, got "
                f"low={low!r}, high={high!r}"
            )
        if scale == "log" and low <= 0:
            raise NngridError(
                f"{where}.{name}: a log range needs low > 0, got low={low!r}; give low > 0 or "
                "scale: linear"
            )
        r = Range(name, float(low), float(high), scale, one_minus)
        for u in (0.0, 1.0):
            _valid(where, name, hyper, r.value(u))
        ranges.append(r)
    if not ranges:
        raise NngridError(f"{where} fixes every value: give at least one {{low, high}} range")
    ranges.sort(key=lambda r: ORDER.index(r.name))
    return ranges, fixed


def _valid(where: str, name: str, hyper: Any, value: float) -> float:
    try:
        if hyper.type is tuple:
            hyper.check(where, (value, value))
        else:
            hyper.check(where, value)
    except NngridError:
        raise NngridError(
            f"{where}.{name}: {value!r} is not a valid {name}; it must be in {hyper.range_text()}"
        ) from None
    return value


def cell_seed(search_seed: int, cell: Sequence[str]) -> list[int]:
    """The seed of one cell's trials: ``search_seed`` and the first 8 bytes of the SHA-256 of the
    cell's names (joined by a unit separator), as one ``default_rng`` entropy list."""
    digest = hashlib.sha256("\x1f".join(str(c) for c in cell).encode()).digest()
    return [int(search_seed), int.from_bytes(digest[:8], "little")]


def _sobol(d: int, n: int, seed: int | Sequence[int]) -> np.ndarray:
    from scipy.stats import qmc

    try:
        engine = qmc.Sobol(d, scramble=True, rng=np.random.default_rng(seed))
    except TypeError:  # SciPy before 1.15 names it seed
        engine = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(seed))
    return engine.random_base2(max(0, math.ceil(math.log2(n))))[:n]


def draw_trials(
    ranges: Sequence[Range],
    fixed: Mapping[str, float],
    budget: int,
    seed: int | Sequence[int],
) -> list[dict[str, float]]:
    """``budget`` trials ``{name: value}`` (every range and fixed value, :data:`ORDER`'s names),
    from the seeded scrambled Sobol sequence (see the module docstring); ``seed`` an integer or
    an entropy list (:func:`cell_seed`)."""
    if int(budget) != budget or budget < 1:
        raise NngridError(f"the search budget must be a positive integer, got {budget!r}")
    seed = int(seed) if np.ndim(seed) == 0 else [int(x) for x in seed]
    points = _sobol(len(ranges), int(budget), seed)
    trials = []
    for u in points:
        trial = {r.name: r.value(float(x)) for r, x in zip(ranges, u, strict=True)}
        trial.update(fixed)
        trials.append({n: trial[n] for n in ORDER if n in trial})
    return trials


def trial_positions(ranges: Sequence[Range], trial: Mapping[str, float]) -> dict[str, float]:
    """Each range's coordinate of ``trial`` in [0, 1]."""
    return {r.name: r.position(trial[r.name]) for r in ranges}


def on_edge(ranges: Sequence[Range], trial: Mapping[str, float]) -> list[str]:
    """The names whose coordinate lies in the outer :data:`EDGE` of their range."""
    pos = trial_positions(ranges, trial)
    return [n for n, u in pos.items() if u < EDGE or u > 1.0 - EDGE]


def opt_params_of(
    optimizer: str, trials: Sequence[Mapping[str, float]], base: Mapping[str, Any]
) -> dict:
    """``train_replicas``' per-replica ``opt_params`` for ``trials`` (one replica each):
    ``base`` with every trial's values as lists (``b1``/``b2`` as a list of ``betas`` pairs; the
    one not searched from ``base`` or the optimizer's default)."""
    from nngrid.core.optim import OPTIMIZERS

    out = dict(base)
    names = [n for n in ORDER if any(n in t for t in trials)]
    for name in names:
        if name in ("b1", "b2"):
            continue
        out[name] = [float(t[name]) for t in trials]
    if "b1" in names or "b2" in names:
        pairs = []
        for t in trials:
            default = base.get("betas", OPTIMIZERS.parameters(optimizer)["betas"])
            pairs.append([float(t.get("b1", default[0])), float(t.get("b2", default[1]))])
        out["betas"] = pairs
    return out
