"""Performance profiles (Dolan and More 2002, as AlgoPerf scores training algorithms) of the
grid's steps to target, and their area as a score with a bootstrap interval.

Input: a table of steps to target with one row per cell and one column per optimizer (each at
its fastest rate: :func:`nngrid.study.tables.fastest_steps`; ``inf`` = never reached). In each
cell every optimizer's *ratio* is its steps over the fewest any optimizer needed there (1 for
the fastest, ``inf`` for one that never got there). An optimizer's profile ``rho(tau)`` is the
share of cells whose ratio is at most ``tau``: ``rho(1)`` is how often it is the fastest,
``rho(tau)`` for large ``tau`` how often it gets there at all. Cells where no optimizer reached
the target have no best and are left out (counted); a cell an optimizer was not run in is left
out of every profile (a profile compares optimizers on the same cells).

The score is the profile's normalised area over ``log tau`` from 1 to :data:`TAU_MAX` (the
figure's log axis): ``(1 / ln TAU_MAX) * integral rho(tau) d(ln tau)``, 1 for an optimizer that
is the fastest in every cell, 0 for one never within ``TAU_MAX`` of the fastest. Since
``rho`` is a mean over cells of the step function ``[r <= tau]``, the area is the mean over
cells of ``max(0, 1 - ln r / ln TAU_MAX)``: a per-cell score, so the bootstrap resamples
cells (:func:`bootstrap_area`), and, when there are several datasets (data draws), first the
datasets, then the cells within each (the highest random level first, as the claims do).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "METRIC",
    "TAU_MAX",
    "area_scores",
    "bootstrap_area",
    "profile",
    "ratios",
]

#: Largest ratio to the fastest optimizer that still scores (4: more than four times the best
#: one's steps counts as not competitive; AlgoPerf, too, integrates its profiles up to a cap).
TAU_MAX = 4.0
#: The ``metric`` of the performance-profile rows of rankings.csv.
METRIC = "profile_area"
#: Bootstrap resamples, and the fewest cells (and datasets) an interval is computed from.
N_RESAMPLES = 2000
MIN_CELLS = 10
MIN_DATASETS = 3


def ratios(steps: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Each optimizer's steps over the cell's fewest (``inf``: never reached), for the cells
    every optimizer ran in and at least one reached the target; and the number of cells left out
    because none did."""
    s = steps.astype(float).dropna()
    best = s.min(axis=1)
    reached = np.isfinite(best)
    s, best = s[reached], best[reached]
    v, b = s.to_numpy(float), best.to_numpy(float)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(b == 0, np.where(v == 0, 1.0, np.inf), v / b)  # 0 steps: no 0/0
    return pd.DataFrame(r, index=s.index, columns=s.columns), int((~reached).sum())


def profile(r: pd.DataFrame, taus: Sequence[float]) -> pd.DataFrame:
    """``rho(tau)`` per optimizer (columns) at each ``tau`` (rows)."""
    values = r.to_numpy(float)
    taus = np.asarray(taus, dtype=float)
    rho = (values[None, :, :] <= taus[:, None, None]).mean(axis=1)
    return pd.DataFrame(rho, index=pd.Index(taus, name="tau"), columns=r.columns)


def area_scores(r: pd.DataFrame, tau_max: float = TAU_MAX) -> pd.DataFrame:
    """Per cell and optimizer, ``max(0, 1 - ln r / ln tau_max)`` (0 for ``inf``): the mean over
    cells is the normalised area of the profile over ``ln tau`` from 1 to ``tau_max``."""
    with np.errstate(divide="ignore"):
        score = 1.0 - np.log(r.to_numpy(float)) / math.log(tau_max)
    return pd.DataFrame(np.clip(score, 0.0, 1.0), index=r.index, columns=r.columns)


def bootstrap_area(
    groups: Sequence[np.ndarray], seed: int, level: float = 0.95
) -> tuple[float, float, float, str]:
    """The mean score of the cells (``groups``: one array of per-cell scores per dataset) and
    its percentile bootstrap interval: cells resampled within one dataset; with several, the
    datasets first, then each drawn dataset's cells (the mean over datasets of their means).
    ``NaN`` bounds, with the reason, for fewer than :data:`MIN_CELLS` cells (in a dataset),
    for 2 datasets (too few to resample) and for an interval of no width."""
    arrays = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if not arrays:
        return math.nan, math.nan, math.nan, "no cell"
    value = float(np.mean([a.mean() for a in arrays]))
    fewest = min(a.size for a in arrays)
    if fewest < MIN_CELLS:
        return value, math.nan, math.nan, f"no interval: {fewest} cells, fewer than {MIN_CELLS}"
    k = len(arrays)
    if 1 < k < MIN_DATASETS:
        return value, math.nan, math.nan, f"no interval: {k} datasets, fewer than {MIN_DATASETS}"
    rng = np.random.default_rng(int(seed))
    stats = np.empty(N_RESAMPLES)
    for i in range(N_RESAMPLES):
        picks = rng.integers(0, k, k) if k > 1 else [0]
        stats[i] = np.mean([arrays[j][rng.integers(0, arrays[j].size, arrays[j].size)].mean()
                            for j in picks])  # fmt: skip
    alpha = (1 - level) / 2
    lo, hi = (float(q) for q in np.quantile(stats, [alpha, 1 - alpha]))
    if not hi - lo > 1e-9 * max(1.0, abs(value)):
        return value, math.nan, math.nan, "no interval: every resample gives the same area"
    unit = f"{k} datasets, then cells" if k > 1 else f"{arrays[0].size} cells"
    return value, lo, hi, f"bootstrap over {unit}"
