"""The lesson's claims as data: the registry, the statistics and the verdicts.

Each claim is one function in the module of its section of the lesson (:mod:`.activations`,
:mod:`.overfitting`, :mod:`.optimizers`, :mod:`.architectures`; the literature's claims on a
fair comparison of optimizers in :mod:`.fairness`), registered with
:func:`claim`: tables and records in, a statistic with its interval out. This module holds what
they share: the registry (:data:`CLAIMS`), the interval helpers, :func:`decide`,
:func:`evaluate`, :func:`claims_table` and the command line.

Every claim of the lesson (the study's sections 1-3: activations, overfitting, optimizers) is
decided by a statistic that can fail: a number measured on this run's data, its 95% interval, a
threshold and the direction the lesson predicts. :func:`decide` turns them into a verdict:

* ``supported`` when the whole interval lies beyond the threshold in the lesson's direction,
* ``contradicted`` when the whole interval lies beyond it the other way,
* ``inconclusive`` when the interval straddles the threshold (or could not be computed).

Intervals (all from :mod:`scipy.stats`): a Student t interval over independent units (seeds,
or (dataset, seed) pairs; paired differences where two arms share the seeds), or a percentile
bootstrap (``scipy.stats.bootstrap``, ``BOOTSTRAP_SEED``, ``N_RESAMPLES`` resamples) where the
statistic is not a mean. The grid's claims (optimizers) take the *cell* as the unit: seeds are
nested in cells, so each cell's seeds are summarised first (median steps to target, mean test
accuracy), the statistic is a mean over cells and the bootstrap resamples cells. Studies with a
single cell are never pooled into these statistics. No statistic reads wall-clock seconds: speed
is counted in optimizer steps (``steps_to_target``).

The table :func:`claims_table` writes, ``results/tables/claims.csv``, has the columns
:data:`COLUMNS`, one row per claim in the lesson's order (:data:`CLAIMS`); captions and the
report read verdicts from it, never the other way round. The optimizer claims of the grid are
decided once per tuning protocol the grid ran (``lr``, ``full``, ``default``; issue 21), one row
each: a row's ``protocol`` names the protocol whose tables decided it (``lr`` alone in a study
that tunes only the learning rate), and is empty for a claim no single tuning protocol decides
(the side experiments; the Crowded Valley claim, which sets two against each other).
``(claim_id, protocol)`` is a row's key. A claim whose experiment is not in the
config comes out ``inconclusive`` with evidence saying what was not run. Beside it the command
line writes ``claims_by_dataset.csv`` (``--by-dataset``: each pooled claim on each dataset alone)
and ``claims.stamp.json``, the sha256 of both tables and of every input
(nngrid.study.integrity's ``write_claims_stamp``): the report and the figures verify them by it.

Command line::

    python -m nngrid.study.claims --runs results/tables/runs.parquet \\
        --summary results/tables/summary.parquet --histories results/tables/histories.parquet \\
        --experiments results/experiments/*.npz \\
        --out results/tables/claims.csv
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nngrid.errors import NngridError
from nngrid.study.verdict import decide

__all__ = [
    "CLAIMS",
    "COLUMNS",
    "SECTIONS",
    "Claim",
    "Verdict",
    "bootstrap_interval",
    "claim",
    "claims_table",
    "claims_tables",
    "evaluate_all",
    "hierarchical_interval",
    "sign_interval",
    "nested_interval",
    "pool",
    "decide",
    "evaluate",
    "main",
    "mean_interval",
]

#: The columns of claims.csv, in order (the contract the report and the figures rely on).
COLUMNS = [
    "claim_id",
    "section",
    "claim",
    "verdict",
    "statistic",
    "value",
    "ci_low",
    "ci_high",
    "threshold",
    "direction",
    "evidence",
    "figure",
    "protocol",
]
VERDICTS = ("supported", "contradicted", "inconclusive", "not applicable")
#: Evidence of a claim that does not apply to the data (e.g. an accuracy claim on regression
#: datasets only) starts with this; its verdict is ``not applicable``, never computed.
NOT_APPLICABLE = "not applicable"


def applies(task: str, needs: str = "classification") -> bool:
    """Whether a claim measured on ``needs`` data (accuracy: classification) applies to a
    dataset of ``task``."""
    return task == needs


def regression_note(summary: pd.DataFrame) -> str:
    """``; not applicable to the regression dataset(s) ...`` when the grid has any, else ""."""
    from nngrid.study.tables import tasks

    tuned = summary[summary["arm"] == "tuned"]
    names = list(dict.fromkeys(tuned.loc[tasks(tuned) == "regression", "dataset"]))
    if not names:
        return ""
    return f"; {NOT_APPLICABLE} to the regression dataset(s) {', '.join(names)} (left out)"


LEVEL = 0.95
BOOTSTRAP_SEED = 0
N_RESAMPLES = 2000
#: Gradient-norm growth that counts as vanishing / exploding: a factor of 100 (log10 2).
GRADIENT_DECADES = 2.0
#: ``|w|`` below this counts as "near zero" in the sparsity claim (the experiment's default;
#: its records say which threshold it used).
NEAR_ZERO = 1e-3


@dataclass(frozen=True)
class Verdict:
    """One row of claims.csv (see :data:`COLUMNS`)."""

    claim_id: str
    section: str
    claim: str
    verdict: str
    statistic: str
    value: float
    ci_low: float
    ci_high: float
    threshold: float
    direction: str
    evidence: str
    figure: str
    protocol: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim of the lesson: its id, section, sentence, figure and deciding function.

    ``needs`` lists the inputs the function reads: experiment names or ``"grid"`` (the
    runs and summary tables). ``function(inputs)`` returns ``(value, ci_low, ci_high,
    evidence)``; threshold and direction are fixed here, so no data can move them.
    ``protocol`` is :data:`EACH_PROTOCOL` for a claim decided once per tuning protocol of the
    grid (the function sees the grid's tables of one protocol at a time), the name of the one
    protocol whose tables decide it, or "" for a claim no tuning protocol decides."""

    claim_id: str
    section: str
    claim: str
    figure: str
    threshold: float
    direction: str
    statistic: str
    needs: tuple[str, ...]
    function: Callable[[Mapping[str, Any]], tuple[float, float, float, str]]
    protocol: str = ""


# --------------------------------------------------------------------------- statistics


#: Fewest units a bootstrap resamples (fewer: no interval, the verdict is inconclusive).
MIN_BOOTSTRAP_UNITS = 10
#: Fewest top-level units (data draws) of a hierarchical bootstrap.
MIN_DRAWS = 3
#: Why the last intervals of the claim being decided could not be computed (evaluate() adds
#: them to its evidence); cleared before each claim.
NOTES: list[str] = []
#: The bootstrap seed of the claims being decided (config ``claims.bootstrap_seed``).
_SEED = {"bootstrap": BOOTSTRAP_SEED}


def _degenerate(lo: float, hi: float, scale: float) -> bool:
    """Whether ``[lo, hi]`` has no width beyond rounding (relative 1e-9 of ``scale``)."""
    return not hi - lo > 1e-9 * max(1.0, abs(scale))


def _note(reason: str) -> None:
    if reason not in NOTES:
        NOTES.append(reason)


def mean_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student t interval of the finite ``values``. ``NaN`` bounds (and a note saying
    why, :data:`NOTES`) when fewer than 2 units or when every unit is equal: a zero spread is
    no evidence of a zero standard error, so no zero-width interval is ever returned."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        _note(f"no interval: {x.size} unit, a t interval needs 2 or more")
        return mean, math.nan, math.nan
    sem = float(stats.sem(x))
    if _degenerate(x.min(), x.max(), mean):
        _note(f"no interval: all {x.size} units are equal (zero spread)")
        return mean, math.nan, math.nan
    lo, hi = stats.t.interval(level, x.size - 1, loc=mean, scale=sem)
    return mean, float(lo), float(hi)


def bootstrap_interval(
    data: Sequence[Sequence[float]] | Sequence[float],
    statistic: Callable[..., float],
    *,
    paired: bool = False,
    level: float = LEVEL,
) -> tuple[float, float, float]:
    """The statistic on ``data`` and its percentile bootstrap interval (``scipy.stats.bootstrap``,
    the claims' bootstrap seed). ``data`` is one sample, or several samples resampled together
    when ``paired``. Fewer than :data:`MIN_BOOTSTRAP_UNITS` units, or a degenerate interval
    (every resample gives the same value), give ``NaN`` bounds and a note (:data:`NOTES`)."""
    import warnings

    from scipy import stats

    if paired:
        samples = tuple(np.asarray(d, dtype=float) for d in data)
    else:
        samples = (np.asarray(data, dtype=float),)
    if samples[0].size == 0:
        return math.nan, math.nan, math.nan
    value = float(statistic(*samples))
    if samples[0].size < MIN_BOOTSTRAP_UNITS:
        _note(
            f"no interval: {samples[0].size} units, a bootstrap needs {MIN_BOOTSTRAP_UNITS} or more"
        )
        return value, math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant resamples (a rank correlation of ties)
        res = stats.bootstrap(
            samples,
            statistic,
            paired=paired,
            vectorized=False,
            n_resamples=N_RESAMPLES,
            confidence_level=level,
            method="percentile",
            rng=np.random.default_rng(_SEED["bootstrap"]),
        )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if _degenerate(lo, hi, value):
        _note(
            f"no interval: every bootstrap resample of the {samples[0].size} units gives {_f(lo)}"
        )
        return value, math.nan, math.nan
    return value, lo, hi


def sign_interval(scores: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """The mean of per-cell scores in {-1, 0, +1} (wins minus losses over cells) with an exact
    interval: the Clopper-Pearson interval of the share of wins among the cells that did not
    tie (a sign test over the cells), scaled by the share of cells that did not tie. ``NaN``
    bounds when every cell tied."""
    from scipy import stats

    x = np.asarray(scores, dtype=float)
    x = x[np.isfinite(x)]
    wins, losses = int((x > 0).sum()), int((x < 0).sum())
    if x.size == 0 or not np.isin(x, (-1.0, 0.0, 1.0)).all():
        return math.nan, math.nan, math.nan
    value = float(x.mean())
    if wins + losses == 0:
        _note(f"no interval: all {x.size} cells tie")
        return value, math.nan, math.nan
    ci = stats.binomtest(wins, wins + losses).proportion_ci(level, method="exact")
    share = (wins + losses) / x.size
    return value, share * (2 * ci.low - 1), share * (2 * ci.high - 1)


def hierarchical_interval(
    groups: Sequence[Sequence[float]], level: float = LEVEL
) -> tuple[float, float, float]:
    """Mean over the top-level units (data draws) of the mean over each one's cells, with an
    interval whose unit is the draw.

    With fewer than :data:`MIN_BOOTSTRAP_UNITS` draws (the usual 3 to 5) it is the Student t
    interval of the draws' means (``k - 1`` degrees of freedom): a bootstrap that resamples 3
    draws has only 10 distinct resamples and a spread (k - 1)/k of the draws', so its interval
    is too narrow and a verdict decided on it does not replicate with other draws. With more
    draws it is a two-level percentile bootstrap: resample the draws, then the cells within each
    drawn draw (the claims' bootstrap seed, :data:`N_RESAMPLES` resamples), which then needs
    :data:`MIN_BOOTSTRAP_UNITS` cells in each. Fewer than :data:`MIN_DRAWS` draws, or a
    degenerate interval: ``NaN`` bounds and a note."""
    arrays = [np.asarray(g, dtype=float) for g in groups]
    arrays = [a[np.isfinite(a)] for a in arrays]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return math.nan, math.nan, math.nan
    value = float(np.mean([a.mean() for a in arrays]))
    k = len(arrays)
    if k < MIN_DRAWS:
        _note(f"no interval: {k} data draws, an interval over draws needs {MIN_DRAWS}")
        return value, math.nan, math.nan
    if k < MIN_BOOTSTRAP_UNITS:
        _, lo, hi = mean_interval([a.mean() for a in arrays], level)
        return value, lo, hi
    fewest = min(a.size for a in arrays)
    if fewest < MIN_BOOTSTRAP_UNITS:
        _note(f"no interval: a draw has {fewest} cells, the bootstrap needs {MIN_BOOTSTRAP_UNITS}")
        return value, math.nan, math.nan
    rng = np.random.default_rng(_SEED["bootstrap"])
    picks = rng.integers(0, k, size=(N_RESAMPLES, k))
    stats = np.empty(N_RESAMPLES)
    for r in range(N_RESAMPLES):  # each pick of a draw resamples that draw's cells anew
        stats[r] = np.mean([arrays[j][rng.integers(0, arrays[j].size, arrays[j].size)].mean()
                            for j in picks[r]])  # fmt: skip
    alpha = (1 - level) / 2
    lo, hi = (float(q) for q in np.quantile(stats, [alpha, 1 - alpha]))
    if _degenerate(lo, hi, value):
        _note(f"no interval: every bootstrap resample of the {k} draws gives {_f(lo)}")
        return value, math.nan, math.nan
    return value, lo, hi


def _f(x: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a" if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}g}"


def _ci(lo: float, hi: float) -> str:
    return f"95% CI {_f(lo)} to {_f(hi)}"


def _df(records: Any) -> pd.DataFrame:
    return records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))


# --------------------------------------------------------------------------- the registry

#: The sections of the lesson, in order, each with the lesson's question (the report groups
#: claims.csv by these and titles each group with its question).
ACTIVATIONS, OVERFITTING, OPTIMIZERS = "activations", "overfitting", "optimizers"
SECTIONS = {
    ACTIVATIONS: "Why do we need activation functions?",
    OVERFITTING: "What is overfitting, and how do more data, L1/L2 penalties and dropout cure it?",
    OPTIMIZERS: "How do mini-batch SGD, Momentum, AdaGrad, RMSProp and Adam speed training up?",
}
#: The modules of the sections, imported in this order (the lesson's order of the claims).
SECTION_MODULES = ("activations", "overfitting", "optimizers", "architectures", "fairness")
#: Every claim, in the lesson's order: the order the section modules register them in.
CLAIMS: list[Claim] = []


def claim(
    claim_id: str,
    section: str,
    figure: str,
    threshold: float,
    direction: str,
    statistic: str,
    text: str,
    *,
    needs: tuple[str, ...],
    protocol: str = "",
) -> Callable[[Callable], Callable]:
    """Register the decorated function as the claim ``claim_id`` (see :class:`Claim`); the
    function is returned unchanged. A second claim with the same id is an error."""
    if section not in SECTIONS:
        raise NngridError(
            f"claim {claim_id!r}: section must be one of {', '.join(SECTIONS)}, got {section!r}"
        )
    if direction not in (">", "<"):
        raise NngridError(f"claim {claim_id!r}: direction must be '>' or '<', got {direction!r}")
    if any(c.claim_id == claim_id for c in CLAIMS):
        raise NngridError(f"claim {claim_id!r} is registered twice; give the new claim its own id")

    def register(function: Callable) -> Callable:
        CLAIMS.append(
            Claim(
                claim_id,
                section,
                text,
                figure,
                float(threshold),
                direction,
                statistic,
                tuple(needs),
                function,
                protocol,
            )
        )
        return function

    return register


#: The columns of claims_by_dataset.csv: each pooled claim's verdict on each dataset alone.
DATASET_COLUMNS = [
    "claim_id",
    "dataset",
    "verdict",
    "value",
    "ci_low",
    "ci_high",
    "threshold",
    "direction",
    "evidence",
    "protocol",
]

#: :class:`Claim` ``protocol`` of a claim decided once per tuning protocol of the grid.
EACH_PROTOCOL = "each"
#: The tuning protocols (``nngrid.study.protocol.PROTOCOLS``) in the order claims.csv lists them;
#: tables written before protocols existed hold ``lr`` rows only.
PROTOCOL_ORDER = ("lr", "full", "default")


def _protocol_column(df: pd.DataFrame) -> pd.Series:
    if "protocol" not in df:
        return pd.Series("lr", index=df.index)
    return df["protocol"].fillna("lr").astype(str)


def grid_protocols(grid: Mapping[str, Any]) -> list[str]:
    """The tuning protocols of the grid's studies with more than one cell (the studies the grid's
    claims read), in :data:`PROTOCOL_ORDER`; those of every study when none has several cells,
    ``["lr"]`` for an empty table or one without a ``protocol`` column."""
    summary = grid["summary"]
    if summary is None or summary.empty or "protocol" not in summary:
        return ["lr"]
    tuned = summary[summary["arm"] == "tuned"] if "arm" in summary else summary
    protocols = _protocol_column(tuned)
    if "study" in tuned and len(tuned):
        multi = tuned.groupby("study")["study"].transform("size") > 1
        if multi.any():
            protocols = protocols[multi]
    found = set(protocols) or {"lr"}
    return [p for p in PROTOCOL_ORDER if p in found] + sorted(found - set(PROTOCOL_ORDER))


def grid_of(grid: Mapping[str, Any], protocol: str) -> dict[str, Any]:
    """The grid's tables (``runs``, ``summary``) restricted to the rows of one tuning protocol
    (rows without a protocol are ``lr``'s)."""
    out = dict(grid)
    for key in ("runs", "summary"):
        df = grid.get(key)
        if df is not None and "protocol" in df:
            out[key] = df[_protocol_column(df) == protocol]
    return out


def pool(per_dataset: Mapping[str, tuple]) -> tuple[float, float, float]:
    """The pooled value (mean of the datasets' values) and interval of a claim decided per
    dataset: the hull of the datasets' intervals, so the pooled verdict is supported only when
    every dataset supports the claim and contradicted only when every dataset contradicts it (an
    intersection-union rule: a dataset that disagrees is never averaged away)."""
    rows = [r for r in per_dataset.values() if math.isfinite(r[0])]
    if not rows:
        return math.nan, math.nan, math.nan
    value = float(np.mean([r[0] for r in rows]))
    if len(rows) < len(per_dataset) or not all(math.isfinite(r[1] + r[2]) for r in rows):
        return value, math.nan, math.nan
    return value, float(min(r[1] for r in rows)), float(max(r[2] for r in rows))


def nested_interval(
    df: pd.DataFrame, value: str, unit: str = "seed", top: str | None = "data_seed"
) -> tuple[float, float, float, str]:
    """The mean of ``df[value]`` with the highest random level as the unit: when ``top`` is a
    column with more than one value (data draws), each draw's rows are averaged first and the t
    interval runs over the draws; otherwise over ``unit`` (seeds). Returns the value, the
    interval and the unit's name with its count."""
    if top is not None and top in df and df[top].nunique() > 1:
        means = df.groupby(top)[value].mean()
        v, lo, hi = mean_interval(means)
        return v, lo, hi, f"{len(means)} data draws"
    means = df.groupby(unit)[value].mean() if unit in df else df[value]
    v, lo, hi = mean_interval(means)
    return v, lo, hi, f"{len(means)} {unit}s"


def _sentence(evidence: str) -> str:
    return evidence[0].upper() + evidence[1:].rstrip(".") + "." if evidence else ""


def _decide_one(
    c: Claim, inputs: Mapping[str, Any], protocol: str = ""
) -> tuple[Verdict, list[dict]]:
    NOTES.clear()
    per: dict[str, tuple] = {}
    missing = [n for n in c.needs if n not in inputs]
    if missing:
        value = lo = hi = math.nan
        evidence = f"not measured: {missing[0]} is not in this run's config"
    else:
        out = c.function(inputs)
        value, lo, hi, evidence = out[:4]
        per = dict(out[4]) if len(out) > 4 else {}
    notes = list(NOTES)
    rows = []
    for ds, (v, dlo, dhi, ev) in per.items():
        rows.append(
            {
                "claim_id": c.claim_id,
                "dataset": ds,
                "verdict": decide(dlo, dhi, c.threshold, c.direction),
                "value": float(v),
                "ci_low": float(dlo),
                "ci_high": float(dhi),
                "threshold": float(c.threshold),
                "direction": c.direction,
                "evidence": ev.rstrip(".") + "." if ev else "",
                "protocol": protocol,
            }
        )
    if rows:
        counts = {w: sum(r["verdict"] == w for r in rows) for w in VERDICTS}
        each = ", ".join(f"{r['dataset']} {r['verdict']}" for r in rows)
        evidence += (
            f"; per dataset: {each} "
            f"({counts['supported']} of {len(rows)} support the claim, "
            f"{counts['contradicted']} contradict it; pooled over datasets by the hull of their "
            "intervals: supported only when every dataset supports it)"
        )
    if notes and not (math.isfinite(lo) and math.isfinite(hi)):
        evidence += "; " + "; ".join(notes)
    decided = decide(lo, hi, c.threshold, c.direction)
    if evidence.startswith(NOT_APPLICABLE):
        decided = NOT_APPLICABLE
    elif "grid" in c.needs and "grid" in inputs:
        evidence += regression_note(inputs["grid"]["summary"])
    verdict = Verdict(
        claim_id=c.claim_id,
        section=c.section,
        claim=c.claim,
        verdict=decided,
        statistic=c.statistic,
        value=float(value),
        ci_low=float(lo),
        ci_high=float(hi),
        threshold=float(c.threshold),
        direction=c.direction,
        evidence=_sentence(evidence),
        figure=c.figure,
        protocol=protocol,
    )
    return verdict, rows


def _decide(c: Claim, inputs: Mapping[str, Any]) -> list[tuple[Verdict, list[dict]]]:
    """The claim's verdicts: one per tuning protocol of the grid for a claim decided under each
    (:data:`EACH_PROTOCOL`; ``lr`` alone when the grid did not run), else one."""
    if c.protocol != EACH_PROTOCOL:
        return [_decide_one(c, inputs, c.protocol)]
    if "grid" not in inputs:
        return [_decide_one(c, inputs, "lr")]
    return [
        _decide_one(c, {**inputs, "grid": grid_of(inputs["grid"], p)}, p)
        for p in grid_protocols(inputs["grid"])
    ]


def _register_sections() -> None:
    """Import the section modules (:data:`SECTION_MODULES`), which registers every claim; the
    package's ``__init__`` does the same, this covers a caller that imported core alone."""
    import importlib

    for name in SECTION_MODULES:
        importlib.import_module(f"{__package__}.{name}")


def evaluate_all(
    inputs: Mapping[str, Any],
    only: Sequence[str] | None = None,
    bootstrap_seed: int = BOOTSTRAP_SEED,
) -> tuple[list[Verdict], list[dict]]:
    """Every claim's verdict (or those in ``only``), in :data:`CLAIMS` order, and the
    per-dataset rows (:data:`DATASET_COLUMNS`) of the claims decided per dataset. A claim decided
    under each tuning protocol (:data:`EACH_PROTOCOL`) gives one verdict per protocol of the grid
    (:func:`grid_protocols`), in :data:`PROTOCOL_ORDER`, each with its ``protocol``.

    ``inputs`` maps experiment names to their results (``nngrid.study.experiments.load``) and
    ``"grid"`` to ``{"runs": DataFrame, "summary": DataFrame}``. A claim whose inputs are
    missing is ``inconclusive`` with evidence naming what was not run; one whose interval could
    not be computed is ``inconclusive`` with evidence saying why (too few units, zero spread).
    Every bootstrap draws from ``bootstrap_seed``.
    """
    _register_sections()

    _SEED["bootstrap"] = int(bootstrap_seed)
    verdicts, rows = [], []
    try:
        for c in CLAIMS:
            if only is not None and c.claim_id not in only:
                continue
            for v, r in _decide(c, inputs):
                verdicts.append(v)
                rows += r
    finally:
        _SEED["bootstrap"] = BOOTSTRAP_SEED
    return verdicts, rows


def evaluate(
    inputs: Mapping[str, Any],
    only: Sequence[str] | None = None,
    bootstrap_seed: int = BOOTSTRAP_SEED,
) -> list[Verdict]:
    """Every claim's verdict (or those in ``only``): :func:`evaluate_all` without the
    per-dataset rows."""
    return evaluate_all(inputs, only, bootstrap_seed)[0]


def readme_table() -> str:
    """The README's claims table (Markdown), generated from the registry: one row per claim in
    the lesson's order with its statistic, the rule that supports it and its figure."""
    _register_sections()

    rows = ["| claim | statistic (95% interval) | supported when | figure |", "|---|---|---|---|"]
    for c in CLAIMS:
        under = (
            "; decided under each tuning protocol"
            if c.protocol == EACH_PROTOCOL
            else f"; the `{c.protocol}` protocol's tables"
            if c.protocol
            else ""
        )
        rows.append(
            f"| `{c.claim_id}`: {c.claim} | {c.statistic}{under} | interval {c.direction} "
            f"{c.threshold:g} | {c.figure} |"
        )
    return "\n".join(rows) + "\n"


def claims_table(inputs: Mapping[str, Any], bootstrap_seed: int = BOOTSTRAP_SEED) -> pd.DataFrame:
    """:func:`evaluate` as a DataFrame with the columns :data:`COLUMNS`."""
    return claims_tables(inputs, bootstrap_seed)[0]


def claims_tables(
    inputs: Mapping[str, Any], bootstrap_seed: int = BOOTSTRAP_SEED
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """claims.csv (:data:`COLUMNS`) and claims_by_dataset.csv (:data:`DATASET_COLUMNS`)."""
    verdicts, rows = evaluate_all(inputs, bootstrap_seed=bootstrap_seed)
    return (
        pd.DataFrame([asdict(v) for v in verdicts], columns=COLUMNS),
        pd.DataFrame(rows, columns=DATASET_COLUMNS),
    )


def load_inputs(
    runs: str | Path | None,
    summary: str | Path | None,
    experiments: Sequence[str | Path],
    histories: str | Path | None = None,
) -> dict[str, Any]:
    """Read the tables and the experiment results named by their file stems; of the learning
    curves (``histories``), the tuning runs' first epochs that the speed claims read."""
    from nngrid.study.experiments import load
    from nngrid.study.tables import EARLY_LOSS_COLUMNS, SPEED_EPOCHS

    inputs: dict[str, Any] = {Path(p).stem: load(p) for p in experiments}
    if summary is not None:
        inputs["grid"] = {
            "runs": pd.read_parquet(runs) if runs is not None else None,
            "summary": pd.read_parquet(summary),
            "histories": None
            if histories is None
            else pd.read_parquet(
                histories,
                columns=EARLY_LOSS_COLUMNS,
                filters=[("arm", "in", ["tune", "tuned"]), ("epoch", "<=", SPEED_EPOCHS)],
            ),
        }
    return inputs


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.study.claims --summary S.parquet --experiments E.npz ... --out C.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m nngrid.study.claims", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", help="runs.parquet (the collected tables)")
    parser.add_argument("--summary", help="summary.parquet (the collected tables)")
    parser.add_argument(
        "--histories", help="histories.parquet (the learning curves: the speed claims)"
    )
    parser.add_argument("--experiments", nargs="*", default=[], help="experiment .npz files")
    parser.add_argument("--out", required=True, help="claims.csv to write (atomically)")
    parser.add_argument(
        "--by-dataset", help="claims_by_dataset.csv to write: each pooled claim per dataset"
    )
    parser.add_argument(
        "--bootstrap-seed", type=int, default=BOOTSTRAP_SEED, help="seed of every bootstrap"
    )
    parser.add_argument("--tables-stamp", help="the tables' stamp: runs and summary verified")
    args = parser.parse_args(argv)
    try:
        from nngrid.io import write_text
        from nngrid.study.integrity import verify_tables, write_claims_stamp

        if args.tables_stamp:
            verify_tables(
                args.tables_stamp, [p for p in (args.runs, args.summary, args.histories) if p]
            )
        if args.bootstrap_seed < 0:
            raise NngridError(f"--bootstrap-seed must be >= 0, got {args.bootstrap_seed}")
        inputs = load_inputs(args.runs, args.summary, args.experiments, args.histories)
        table, by_dataset = claims_tables(inputs, args.bootstrap_seed)
        write_text(args.out, table.to_csv(index=False, float_format="%.6g"))
        if args.by_dataset:
            write_text(args.by_dataset, by_dataset.to_csv(index=False, float_format="%.6g"))
        # the stamp the report and figures verify both tables by (derived, never edited)
        stamped = [
            p for p in (args.runs, args.summary, args.histories, *args.experiments) if p is not None
        ]
        write_claims_stamp(args.out, stamped, args.by_dataset)
    except NngridError as exc:
        print(f"nngrid: error: {exc}", file=sys.stderr)
        return 2
    return 0
