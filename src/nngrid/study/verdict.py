"""The one rule that turns a 95% interval into a verdict, shared by the claims that decide it
(:mod:`nngrid.study.claims`) and the check that refuses a claims table it does not fit
(:mod:`nngrid.study.integrity`)."""

from __future__ import annotations

import math

from nngrid.errors import NngridError


def decide(ci_low: float, ci_high: float, threshold: float, direction: str) -> str:
    """``supported`` when the whole interval clears ``threshold`` in ``direction`` (``>`` or
    ``<``), ``contradicted`` when it clears it the other way, else ``inconclusive`` (also when
    the interval is missing or not finite)."""
    if direction not in (">", "<"):
        raise NngridError(f"direction must be '>' or '<', got {direction!r}")
    lo, hi = float(ci_low), float(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return "inconclusive"
    above, below = lo > threshold, hi < threshold
    if direction == ">":
        return "supported" if above else "contradicted" if below else "inconclusive"
    return "supported" if below else "contradicted" if above else "inconclusive"
