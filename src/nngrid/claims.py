"""The lesson's claims as data: one function per claim, tables and records in, a verdict out.

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
report read verdicts from it, never the other way round. A claim whose experiment is not in the
config comes out ``inconclusive`` with evidence saying what was not run.

Command line::

    python -m nngrid.claims --runs results/tables/runs.parquet \\
        --summary results/tables/summary.parquet --experiments results/experiments/*.npz \\
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

__all__ = [
    "CLAIMS",
    "COLUMNS",
    "Claim",
    "Verdict",
    "bootstrap_interval",
    "claims_table",
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
]
VERDICTS = ("supported", "contradicted", "inconclusive", "not applicable")
#: Evidence of a claim that does not apply to the data (e.g. an accuracy claim on regression
#: datasets only) starts with this; its verdict is ``not applicable``, never computed.
NOT_APPLICABLE = "not applicable"


def applies(task: str, needs: str = "classification") -> bool:
    """Whether a claim measured on ``needs`` data (accuracy: classification) applies to a
    dataset of ``task``."""
    return task == needs


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


@dataclass(frozen=True)
class Claim:
    """A claim of the lesson: its id, section, sentence, figure and deciding function.

    ``needs`` lists the inputs the function reads: experiment names or ``"grid"`` (the
    runs and summary tables). ``function(inputs)`` returns ``(statistic, value, ci_low, ci_high,
    evidence)``; threshold and direction are fixed here, so no data can move them."""

    claim_id: str
    section: str
    claim: str
    figure: str
    threshold: float
    direction: str
    statistic: str
    needs: tuple[str, ...]
    function: Callable[[Mapping[str, Any]], tuple[float, float, float, str]]


# --------------------------------------------------------------------------- statistics


def decide(ci_low: float, ci_high: float, threshold: float, direction: str) -> str:
    """``supported`` / ``contradicted`` / ``inconclusive`` (see the module docstring)."""
    if direction not in (">", "<"):
        raise NngridError(f"direction must be '>' or '<', got {direction!r}")
    lo, hi = float(ci_low), float(ci_high)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        return "inconclusive"
    above, below = lo > threshold, hi < threshold
    if direction == ">":
        return "supported" if above else "contradicted" if below else "inconclusive"
    return "supported" if below else "contradicted" if above else "inconclusive"


def mean_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and Student t interval of the finite ``values`` (``NaN`` bounds when fewer than 2;
    a zero-width interval when all are equal)."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    sem = float(stats.sem(x))
    if sem == 0.0:
        return mean, mean, mean
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
    fixed seed). ``data`` is one sample, or several samples resampled together when ``paired``.
    Degenerate data (every resample gives the same value) gives a zero-width interval."""
    import warnings

    from scipy import stats

    if paired:
        samples = tuple(np.asarray(d, dtype=float) for d in data)
    else:
        samples = (np.asarray(data, dtype=float),)
    if samples[0].size == 0:
        return math.nan, math.nan, math.nan
    value = float(statistic(*samples))
    if samples[0].size < 2:
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
            rng=np.random.default_rng(BOOTSTRAP_SEED),
        )
    return value, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _f(x: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a" if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}g}"


def _ci(lo: float, hi: float) -> str:
    return f"95% CI {_f(lo)} to {_f(hi)}"


def _df(records: Any) -> pd.DataFrame:
    return records if isinstance(records, pd.DataFrame) else pd.DataFrame(list(records))


# --------------------------------------------------------------------------- 1. activations


def _nonlinear_gap(inputs: Mapping[str, Any], rival: str) -> tuple[float, float, float, str]:
    """Best smooth nonlinear activation minus ``rival`` (identity or step), per (dataset, seed)."""
    df = _df(inputs["nonlinearity_boundaries"]["per_seed"])
    if "seed" not in df:
        df = df.assign(seed=0)
    smooth = df[~df["activation"].isin(["identity", "step"])]
    if smooth.empty or rival not in set(df["activation"]):
        return math.nan, math.nan, math.nan, f"no {rival} or no smooth nonlinear activation ran"
    diffs, parts = [], []
    for ds, sub in df.groupby("dataset", sort=False):
        means = smooth[smooth["dataset"] == ds].groupby("activation")["test_accuracy"].mean()
        best = means.idxmax()
        a = sub[sub["activation"] == best].set_index("seed")["test_accuracy"]
        b = sub[sub["activation"] == rival].set_index("seed")["test_accuracy"]
        d = (a - b).dropna()
        diffs += d.tolist()
        parts.append(f"{ds} {best} {_f(a.mean(), 2)} vs {rival} {_f(b.mean(), 2)}")
    value, lo, hi = mean_interval(diffs)
    return value, lo, hi, f"test accuracy, {'; '.join(parts)} (mean gap {_f(value)}, {_ci(lo, hi)})"


def nonlinearity_bends(inputs: Mapping[str, Any]):
    """Best smooth activation minus identity, test accuracy (datasets x seeds)."""
    return _nonlinear_gap(inputs, "identity")


def step_cannot_learn(inputs: Mapping[str, Any]):
    """Best smooth activation minus the step function, test accuracy (datasets x seeds)."""
    return _nonlinear_gap(inputs, "step")


def _depth_accuracy(inputs: Mapping[str, Any]) -> pd.DataFrame:
    df = _df(inputs["gradient_flow"]["accuracy"])
    if "careless_init" not in df:
        df = df.assign(careless_init=False)
    return df


def few_layers_anything(inputs: Mapping[str, Any]):
    """At the shallowest depth: best minus worst activation x initializer (the deliberately
    too-large initializers left out), per seed."""
    df = _depth_accuracy(inputs)
    shallow = df[(df["depth"] == df["depth"].min()) & ~df["careless_init"].astype(bool)]
    means = shallow.groupby(["activation", "init"])["test_accuracy"].mean()
    if len(means) < 2:
        return math.nan, math.nan, math.nan, "fewer than two activations at the shallowest depth"
    best, worst = means.idxmax(), means.idxmin()
    per = shallow.set_index(["activation", "init", "seed"])["test_accuracy"].sort_index()
    d = (per.loc[best] - per.loc[worst]).dropna()
    value, lo, hi = mean_interval(d)
    depth = int(df["depth"].min())
    return (
        value,
        lo,
        hi,
        (
            f"{depth} hidden layers: best {best[0]}/{best[1]} {_f(means[best], 2)}, worst "
            f"{worst[0]}/{worst[1]} {_f(means[worst], 2)} test accuracy (gap {_f(value)}, "
            f"{_ci(lo, hi)})"
        ),
    )


def many_layers_careless_fails(inputs: Mapping[str, Any]):
    """The largest accuracy drop from the shallowest to the deepest net of any activation x
    initializer, per seed."""
    df = _depth_accuracy(inputs)
    lo_d, hi_d = int(df["depth"].min()), int(df["depth"].max())
    if lo_d == hi_d:
        return math.nan, math.nan, math.nan, "only one depth was trained"
    per = df.set_index(["activation", "init", "seed", "depth"])["test_accuracy"].unstack("depth")
    drop = (per[lo_d] - per[hi_d]).dropna()
    mean_drop = drop.groupby(level=["activation", "init"]).mean()
    worst = mean_drop.idxmax()
    d = drop.loc[worst]
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"{worst[0]}/{worst[1]} falls from {_f(per[lo_d].loc[worst].mean(), 2)} at {lo_d} to "
            f"{_f(per[hi_d].loc[worst].mean(), 2)} at {hi_d} hidden layers (drop {_f(value)}, "
            f"{_ci(lo, hi)})"
        ),
    )


def _gradient_growth(inputs: Mapping[str, Any]) -> tuple[pd.Series, int, int]:
    """log10 of the first layer's gradient norm at the deepest depth over that at the
    shallowest, at initialisation, per (activation, init, seed)."""
    df = _df(inputs["gradient_flow"]["records"])
    df = df[(df["stage"] == "init") & (df["layer"] == 1)]
    lo_d, hi_d = int(df["depth"].min()), int(df["depth"].max())
    per = df.set_index(["activation", "init", "seed", "depth"])["grad_norm"].unstack("depth")
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log10(per[hi_d].astype(float)) - np.log10(per[lo_d].astype(float))
    return growth.replace([np.inf, -np.inf], np.nan), lo_d, hi_d


def _gradient_claim(inputs: Mapping[str, Any], pick: str):
    growth, lo_d, hi_d = _gradient_growth(inputs)
    if lo_d == hi_d or growth.dropna().empty:
        return math.nan, math.nan, math.nan, "only one depth was measured"
    med = growth.groupby(level=["activation", "init"]).median()
    combo = med.idxmin() if pick == "min" else med.idxmax()
    value, lo, hi = mean_interval(growth.loc[combo])
    word = "shrinks" if value < 0 else "grows"
    return (
        value,
        lo,
        hi,
        (
            f"at initialisation the first layer's gradient norm of {combo[0]}/{combo[1]} {word} by "
            f"10^{_f(value, 2)} from {lo_d} to {hi_d} hidden layers ({_ci(lo, hi)} decades)"
        ),
    )


def gradients_vanish(inputs: Mapping[str, Any]):
    """The most-shrinking activation x initializer: log10 growth of the first layer's gradient."""
    return _gradient_claim(inputs, "min")


def gradients_explode(inputs: Mapping[str, Any]):
    """The most-growing activation x initializer: log10 growth of the first layer's gradient."""
    return _gradient_claim(inputs, "max")


# --------------------------------------------------------------------------- 2. overfitting


def _cures(inputs: Mapping[str, Any]) -> pd.DataFrame:
    df = _df(inputs["overfitting_cures"]["records"])
    return df[df["arm"] == "tuned"]


def unregularised_overfits(inputs: Mapping[str, Any]):
    """Train minus test accuracy of the unregularised net (datasets x seeds)."""
    df = _cures(inputs)
    none = df[df["regularizer"] == "none"]
    if none.empty:
        return math.nan, math.nan, math.nan, "no unregularised run"
    gap = none["train_accuracy"] - none["test_accuracy"]
    value, lo, hi = mean_interval(gap)
    parts = [
        f"{ds} train {_f(s['train_accuracy'].mean(), 2)} / test {_f(s['test_accuracy'].mean(), 2)}"
        for ds, s in none.groupby("dataset", sort=False)
    ]
    return value, lo, hi, f"unregularised: {'; '.join(parts)} (gap {_f(value)}, {_ci(lo, hi)})"


def _cure(label: str) -> Callable[[Mapping[str, Any]], tuple]:
    def cure(inputs: Mapping[str, Any]):
        df = _cures(inputs)
        if label not in set(df["regularizer"]) or "none" not in set(df["regularizer"]):
            return math.nan, math.nan, math.nan, f"{label} or none was not run"
        per = df.set_index(["dataset", "seed", "regularizer"])["test_accuracy"].unstack()
        d = (per[label] - per["none"]).dropna()
        value, lo, hi = mean_interval(d)
        sub = df[df["regularizer"] == label]
        chosen = ", ".join(
            f"{ds} {s['strength_name'].iloc[0]} {_f(float(s['strength'].iloc[0]), 2)}"
            + (" (grid edge)" if bool(s["strength_on_edge"].iloc[0]) else "")
            for ds, s in sub.groupby("dataset", sort=False)
            if isinstance(s["strength_name"].iloc[0], str)
        )
        return (
            value,
            lo,
            hi,
            (
                f"tuned test accuracy {_f(per[label].mean(), 3)} with {label} vs "
                f"{_f(per['none'].mean(), 3)} without (difference {_f(value)}, {_ci(lo, hi)}"
                + (f"; chosen on validation: {chosen}" if chosen else "")
                + ")"
            ),
        )

    cure.__name__ = f"cure_{label}"
    cure.__doc__ = f"Tuned test accuracy with {label} minus without, per (dataset, seed)."
    return cure


def more_data(inputs: Mapping[str, Any]):
    """Spearman rank correlation of training-set size and train/test gap over every
    (size, data seed, init seed) run, with a paired bootstrap interval."""
    from scipy import stats

    df = _df(inputs["data_size_sweep"]["records"])
    df = df[np.isfinite(df["gap"])]
    if df["n_train"].nunique() < 2:
        return math.nan, math.nan, math.nan, "fewer than two training-set sizes"

    def rho(n, g):
        return float(stats.spearmanr(n, g).statistic)

    value, lo, hi = bootstrap_interval(
        [df["n_train"].to_numpy(float), df["gap"].to_numpy(float)], rho, paired=True
    )
    g = df.groupby("n_train")["gap"].mean()
    seeds = df["data_seed"].nunique() if "data_seed" in df else 1
    return (
        value,
        lo,
        hi,
        (
            f"over {g.size} sizes from {int(g.index.min())} to {int(g.index.max())} points and "
            f"{seeds} data draws the mean gap goes {_f(g.iloc[0])} -> {_f(g.iloc[-1])}; Spearman "
            f"rho {_f(value)} ({_ci(lo, hi)})"
        ),
    )


def _weights(inputs: Mapping[str, Any]) -> pd.DataFrame:
    df = _df(inputs["regularizer_boundaries"]["per_seed"])
    if "seed" not in df:
        df = df.assign(seed=0)
    return df.set_index(["seed", "label" if "label" in df else "regularizer"])


def l1_sparse(inputs: Mapping[str, Any]):
    """Fraction of weights with ``|w| < NEAR_ZERO`` under L1 minus under L2, per seed."""
    df = _weights(inputs)["near_zero"].unstack()
    if not {"l1", "l2"} <= set(df.columns):
        return math.nan, math.nan, math.nan, "l1 or l2 was not run"
    value, lo, hi = mean_interval((df["l1"] - df["l2"]).dropna())
    return (
        value,
        lo,
        hi,
        (
            f"{_f(100 * df['l1'].mean(), 3)}% of weights below {NEAR_ZERO:g} with L1 vs "
            f"{_f(100 * df['l2'].mean(), 3)}% with L2 (difference {_f(value)}, {_ci(lo, hi)})"
        ),
    )


def l2_small(inputs: Mapping[str, Any]):
    """Mean ``|w|`` under L2 divided by the unregularised net's, per seed."""
    df = _weights(inputs)["mean_abs_weight"].unstack()
    if not {"l2", "none"} <= set(df.columns):
        return math.nan, math.nan, math.nan, "l2 or none was not run"
    value, lo, hi = mean_interval((df["l2"] / df["none"]).dropna())
    return (
        value,
        lo,
        hi,
        (
            f"mean |w| {_f(df['l2'].mean())} with L2 vs {_f(df['none'].mean())} without "
            f"(ratio {_f(value)}, {_ci(lo, hi)})"
        ),
    )


# --------------------------------------------------------------------------- 3. optimizers


def _batches(inputs: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    r = inputs["batch_size_curves"]
    return _df(r["records"]), _df(r["final"])


def minibatch_cheaper(inputs: Mapping[str, Any]):
    """Training loss of the full batch minus the smallest mini-batch at the same number of
    examples seen (the mini-batch's last epoch), per seed."""
    hist, _ = _batches(inputs)
    full = hist[hist["full_batch"]]
    mini = hist[~hist["full_batch"]]
    if full.empty or mini.empty:
        return math.nan, math.nan, math.nan, "no full batch or no mini-batch run"
    small = mini[mini["batch_size"] == mini["batch_size"].min()]
    examples = float(small["examples"].max())
    at = small[small["examples"] == examples].set_index("seed")["train_loss"]
    f = full[full["examples"] <= examples]
    f = f[f["examples"] == f["examples"].max()].set_index("seed")["train_loss"]
    value, lo, hi = mean_interval((f - at).dropna())
    return (
        value,
        lo,
        hi,
        (
            f"after {int(examples)} examples seen, training loss {_f(f.mean())} with the full "
            f"batch vs {_f(at.mean())} with batches of {int(small['batch_size'].iloc[0])} "
            f"(difference {_f(value)}, {_ci(lo, hi)})"
        ),
    )


def minibatch_little_loss(inputs: Mapping[str, Any]):
    """Final test accuracy of the full batch minus the smallest mini-batch, each at its own tuned
    rate and after the same number of optimizer steps, per seed."""
    _, final = _batches(inputs)
    full = final[final["full_batch"]]
    mini = final[~final["full_batch"]]
    if full.empty or mini.empty:
        return math.nan, math.nan, math.nan, "no full batch or no mini-batch run"
    small = mini[mini["batch_size"] == mini["batch_size"].min()]
    d = (
        full.set_index("seed")["test_accuracy"] - small.set_index("seed")["test_accuracy"]
    ).dropna()
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"after {int(small['steps'].iloc[0])} steps at tuned rates, test accuracy "
            f"{_f(full['test_accuracy'].mean())} with the full batch (lr "
            f"{_f(float(full['lr'].iloc[0]), 2)}) vs {_f(small['test_accuracy'].mean())} with "
            f"batches of {int(small['batch_size'].iloc[0])} "
            f"(lr {_f(float(small['lr'].iloc[0]), 2)}; "
            f"loss {_f(value)}, {_ci(lo, hi)})"
        ),
    )


def grid_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The tuned arm of every cell of every study with more than one cell and a target, on the
    datasets the grid's claims apply to (classification: they measure accuracy)."""
    from nngrid.study.tables import tasks

    df = summary[summary["arm"] == "tuned"]
    df = df[[applies(t) for t in tasks(df)]]
    keys = ["study", "dataset", "activation", "regularizer"]
    sizes = df.groupby("study")["optimizer"].transform("size")
    return df[sizes > 1].set_index([*keys, "optimizer"])


def _target_not_measured(inputs: Mapping[str, Any]) -> bool:
    """True when the grid ran without a target accuracy (``training.target_accuracy: null``):
    every run "never" reached a target nobody set, which measures nothing."""
    runs = inputs["grid"].get("runs")
    return (
        runs is not None
        and "target_accuracy" in runs
        and bool(runs["target_accuracy"].isna().all())
        and not np.isfinite(runs["epochs_to_target"].astype(float)).any()
    )


NOT_MEASURED = "time to target not measured (training.target_accuracy is null)"


def _steps(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """Median steps to target per cell (rows) and optimizer (columns); inf = never."""
    cells = grid_cells(inputs["grid"]["summary"])
    return cells["steps_to_target_median"].unstack("optimizer")


def _win_score(mine: pd.Series, other: pd.Series) -> np.ndarray:
    """+1 where ``mine`` is smaller (faster), -1 where larger, 0 on ties (two nevers tie)."""
    a, b = mine.to_numpy(float), other.to_numpy(float)
    return np.where(a < b, 1.0, np.where(a > b, -1.0, 0.0))  # inf vs inf: neither is smaller


def _not_applicable(inputs: Mapping[str, Any]) -> tuple | None:
    """The result of a grid claim on a grid without a classification dataset, else None."""
    if len(grid_cells(inputs["grid"]["summary"])):
        return None
    return (
        math.nan,
        math.nan,
        math.nan,
        f"{NOT_APPLICABLE}: the claim is measured in accuracy, and every dataset of the grid "
        "is a regression",
    )


def _regression_note(summary: pd.DataFrame) -> str:
    """``; not applicable to the regression dataset(s) ...`` when the grid has any, else ""."""
    from nngrid.study.tables import tasks

    tuned = summary[summary["arm"] == "tuned"]
    names = list(dict.fromkeys(tuned.loc[tasks(tuned) == "regression", "dataset"]))
    if not names:
        return ""
    return f"; {NOT_APPLICABLE} to the regression dataset(s) {', '.join(names)} (left out)"


def _faster_than_sgd(optimizer: str) -> Callable[[Mapping[str, Any]], tuple]:
    def faster(inputs: Mapping[str, Any]):
        if (na := _not_applicable(inputs)) is not None:
            return na
        if _target_not_measured(inputs):
            return math.nan, math.nan, math.nan, NOT_MEASURED
        steps = _steps(inputs)
        if optimizer not in steps or "sgd" not in steps:
            return math.nan, math.nan, math.nan, f"{optimizer} or sgd is not in the grid"
        both = steps[[optimizer, "sgd"]].dropna()
        score = _win_score(both[optimizer], both["sgd"])
        value, lo, hi = bootstrap_interval(score, np.mean)
        wins, losses = int((score > 0).sum()), int((score < 0).sum())
        return (
            value,
            lo,
            hi,
            (
                f"in {len(score)} cells {optimizer} reached the target in fewer optimizer steps "
                f"than sgd in {wins}, in more in {losses} (median steps "
                f"{_f(both[optimizer].median())} vs {_f(both['sgd'].median())}; win score "
                f"{_f(value)}, {_ci(lo, hi)}, cells resampled)"
            ),
        )

    faster.__name__ = f"{optimizer}_faster"
    faster.__doc__ = (
        f"Mean over grid cells of +1 (fewer steps to target than sgd), 0 (tie), -1 ({optimizer})."
    )
    return faster


def adam_fast(inputs: Mapping[str, Any]):
    """Per cell: the share of other optimizers Adam beats in steps to target minus the share
    that beat it; mean over cells, cells resampled."""
    if (na := _not_applicable(inputs)) is not None:
        return na
    if _target_not_measured(inputs):
        return math.nan, math.nan, math.nan, NOT_MEASURED
    steps = _steps(inputs)
    if "adam" not in steps or steps.shape[1] < 2:
        return math.nan, math.nan, math.nan, "adam and at least one other optimizer are needed"
    others = [c for c in steps.columns if c != "adam"]
    score = np.mean([_win_score(steps["adam"], steps[o]) for o in others], axis=0)
    score = score[np.isfinite(score)]
    value, lo, hi = bootstrap_interval(score, np.mean)
    return (
        value,
        lo,
        hi,
        (
            f"over {len(score)} cells Adam's steps-to-target score against {len(others)} other "
            f"optimizers is {_f(value)} ({_ci(lo, hi)}; +1 = fastest everywhere)"
        ),
    )


def adam_well(inputs: Mapping[str, Any]):
    """Per cell: Adam's tuned mean test accuracy minus the best other optimizer's; mean over
    cells, cells resampled."""
    if (na := _not_applicable(inputs)) is not None:
        return na
    cells = grid_cells(inputs["grid"]["summary"])
    acc = cells["test_accuracy_mean"].unstack("optimizer")
    if "adam" not in acc or acc.shape[1] < 2:
        return math.nan, math.nan, math.nan, "adam and at least one other optimizer are needed"
    best_other = acc.drop(columns="adam").max(axis=1)
    d = (acc["adam"] - best_other).dropna()
    value, lo, hi = bootstrap_interval(d.to_numpy(), np.mean)
    return (
        value,
        lo,
        hi,
        (
            f"over {len(d)} cells Adam's tuned test accuracy is {_f(value)} from the best other "
            f"optimizer's ({_ci(lo, hi)}; Adam best in {int((d >= 0).sum())} cells)"
        ),
    )


# --------------------------------------------------------------------------- the claims

_ACT, _OVER, _OPT = "activations", "overfitting", "optimizers"
_CURES = ("l1", "l2", "lp3", "lp4", "elastic_net", "dropout", "early_stopping", "max_norm")
_CURE_NAMES = {
    "l1": "L1 regularization",
    "l2": "L2 regularization",
    "lp3": "an L3 penalty",
    "lp4": "an L4 penalty",
    "elastic_net": "elastic net",
    "dropout": "dropout",
    "early_stopping": "early stopping",
    "max_norm": "a max-norm constraint",
}

CLAIMS: list[Claim] = [
    Claim(
        "nonlinearity_bends",
        _ACT,
        "Without a nonlinearity a network stays linear and cannot separate classes that no "
        "straight line separates.",
        "fig02_nonlinearity",
        0.05,
        ">",
        "test accuracy of the best smooth nonlinear activation minus identity's, per dataset "
        "and seed",
        ("nonlinearity_boundaries",),
        nonlinearity_bends,
    ),
    Claim(
        "step_cannot_learn",
        _ACT,
        "An activation must be differentiable: a step function cannot learn.",
        "fig02_nonlinearity",
        0.05,
        ">",
        "test accuracy of the best smooth nonlinear activation minus the step function's, per "
        "dataset and seed",
        ("nonlinearity_boundaries",),
        step_cannot_learn,
    ),
    Claim(
        "few_layers_anything",
        _ACT,
        "With 2-3 layers almost any activation works.",
        "fig03_depth_accuracy",
        0.05,
        "<",
        "test accuracy of the best minus the worst activation x initializer at the shallowest "
        "depth (too-large initializers left out), per seed",
        ("gradient_flow",),
        few_layers_anything,
    ),
    Claim(
        "many_layers_careless_fails",
        _ACT,
        "With many layers a careless choice of activation or initialisation fails.",
        "fig03_depth_accuracy",
        0.1,
        ">",
        "largest drop in test accuracy from the shallowest to the deepest net of any "
        "activation x initializer, per seed",
        ("gradient_flow",),
        many_layers_careless_fails,
    ),
    Claim(
        "gradients_vanish",
        _ACT,
        "With many layers a careless choice makes gradients vanish.",
        "fig03_gradient_flow",
        -GRADIENT_DECADES,
        "<",
        "log10 growth of the first layer's gradient norm at initialisation from the shallowest "
        "to the deepest net, for the most-shrinking activation x initializer, per seed",
        ("gradient_flow",),
        gradients_vanish,
    ),
    Claim(
        "gradients_explode",
        _ACT,
        "With many layers a careless choice makes gradients explode.",
        "fig03_gradient_flow",
        GRADIENT_DECADES,
        ">",
        "log10 growth of the first layer's gradient norm at initialisation from the shallowest "
        "to the deepest net, for the most-growing activation x initializer, per seed",
        ("gradient_flow",),
        gradients_explode,
    ),
    Claim(
        "unregularised_overfits",
        _OVER,
        "A network that fits the training points too well does worse on new points.",
        "fig11_cures",
        0.1,
        ">",
        "train minus test accuracy of the unregularised network, per dataset and seed",
        ("overfitting_cures",),
        unregularised_overfits,
    ),
    *[
        Claim(
            f"cure_{label}",
            _OVER,
            f"{_CURE_NAMES[label][0].upper() + _CURE_NAMES[label][1:]} cures overfitting.",
            "fig11_cures",
            0.0,
            ">",
            f"tuned test accuracy with {label} (strength chosen on validation) minus without, "
            "per dataset and seed",
            ("overfitting_cures",),
            _cure(label),
        )
        for label in _CURES
    ],
    Claim(
        "more_data",
        _OVER,
        "More data cures overfitting: with thousands of points the wiggly curve straightens.",
        "fig05_data_size",
        0.0,
        "<",
        "Spearman rank correlation of training-set size and train/test loss gap over every "
        "size, data draw and seed",
        ("data_size_sweep",),
        more_data,
    ),
    Claim(
        "l1_sparse",
        _OVER,
        "L1 regularization makes weights sparse.",
        "fig06_weight_histograms",
        0.0,
        ">",
        f"fraction of weights with |w| < {NEAR_ZERO:g} under L1 minus under L2, per seed",
        ("regularizer_boundaries",),
        l1_sparse,
    ),
    Claim(
        "l2_small",
        _OVER,
        "L2 regularization keeps weights small.",
        "fig06_weight_histograms",
        1.0,
        "<",
        "mean |w| under L2 divided by the unregularised network's, per seed",
        ("regularizer_boundaries",),
        l2_small,
    ),
    Claim(
        "minibatch_cheaper",
        _OPT,
        "Mini-batch stochastic gradient descent is much cheaper per step than feeding the "
        "whole data set.",
        "fig07_batch_size",
        0.0,
        ">",
        "training loss of the full batch minus the smallest mini-batch after the same number "
        "of examples seen, per seed",
        ("batch_size_curves",),
        minibatch_cheaper,
    ),
    Claim(
        "minibatch_little_loss",
        _OPT,
        "Mini-batches lose little accuracy.",
        "fig07_batch_size",
        0.02,
        "<",
        "final test accuracy of the full batch minus the smallest mini-batch, each at its own "
        "tuned rate after the same number of optimizer steps, per seed",
        ("batch_size_curves",),
        minibatch_little_loss,
    ),
    *[
        Claim(
            f"{opt}_faster",
            _OPT,
            f"{name} speeds training up over plain SGD.",
            "fig09_target",
            0.0,
            ">",
            f"mean over grid cells of +1 / 0 / -1 as {opt} needs fewer / as many / more "
            "optimizer steps than sgd to reach the target validation accuracy (median over "
            "seeds; never = infinitely many)",
            ("grid",),
            _faster_than_sgd(opt),
        )
        for opt, name in (
            ("momentum", "Momentum"),
            ("adagrad", "AdaGrad"),
            ("rmsprop", "RMSProp"),
            ("adam", "Adam"),
        )
    ],
    Claim(
        "adam_fast",
        _OPT,
        "Most of the time Adam gets there fast.",
        "fig09_target",
        0.0,
        ">",
        "mean over grid cells of the share of other optimizers Adam beats in steps to target "
        "minus the share that beat it",
        ("grid",),
        adam_fast,
    ),
    Claim(
        "adam_well",
        _OPT,
        "Most of the time Adam gets there well.",
        "fig09_heatmaps",
        -0.02,
        ">",
        "mean over grid cells of Adam's tuned test accuracy minus the best other optimizer's",
        ("grid",),
        adam_well,
    ),
]


def evaluate(inputs: Mapping[str, Any], only: Sequence[str] | None = None) -> list[Verdict]:
    """Every claim's verdict (or those in ``only``), in :data:`CLAIMS` order.

    ``inputs`` maps experiment names to their results (``nngrid.study.experiments.load``) and
    ``"grid"`` to ``{"runs": DataFrame, "summary": DataFrame}``. A claim whose inputs are
    missing is ``inconclusive`` with evidence naming what was not run.
    """
    out = []
    for c in CLAIMS:
        if only is not None and c.claim_id not in only:
            continue
        missing = [n for n in c.needs if n not in inputs]
        if missing:
            value = lo = hi = math.nan
            evidence = f"not measured: {missing[0]} is not in this run's config"
        else:
            value, lo, hi, evidence = c.function(inputs)
        verdict = decide(lo, hi, c.threshold, c.direction)
        if evidence.startswith(NOT_APPLICABLE):
            verdict = NOT_APPLICABLE
        elif "grid" in c.needs and "grid" in inputs:
            evidence += _regression_note(inputs["grid"]["summary"])
        out.append(
            Verdict(
                claim_id=c.claim_id,
                section=c.section,
                claim=c.claim,
                verdict=verdict,
                statistic=c.statistic,
                value=float(value),
                ci_low=float(lo),
                ci_high=float(hi),
                threshold=float(c.threshold),
                direction=c.direction,
                evidence=evidence[0].upper() + evidence[1:].rstrip(".") + ".",
                figure=c.figure,
            )
        )
    return out


def claims_table(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`evaluate` as a DataFrame with the columns :data:`COLUMNS`."""
    return pd.DataFrame([asdict(v) for v in evaluate(inputs)], columns=COLUMNS)


def load_inputs(
    runs: str | Path | None, summary: str | Path | None, experiments: Sequence[str | Path]
) -> dict[str, Any]:
    """Read the tables and the experiment results named by their file stems."""
    from nngrid.study.experiments import load

    inputs: dict[str, Any] = {Path(p).stem: load(p) for p in experiments}
    if summary is not None:
        inputs["grid"] = {
            "runs": pd.read_parquet(runs) if runs is not None else None,
            "summary": pd.read_parquet(summary),
        }
    return inputs


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.claims --summary S.parquet --experiments E.npz ... --out claims.csv``."""
    parser = argparse.ArgumentParser(
        prog="python -m nngrid.claims", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", help="runs.parquet (the collected tables)")
    parser.add_argument("--summary", help="summary.parquet (the collected tables)")
    parser.add_argument("--experiments", nargs="*", default=[], help="experiment .npz files")
    parser.add_argument("--out", required=True, help="claims.csv to write (atomically)")
    parser.add_argument("--tables-stamp", help="the tables' stamp: runs and summary verified")
    args = parser.parse_args(argv)
    try:
        from nngrid.io import write_text
        from nngrid.study.integrity import verify_tables, write_claims_stamp

        if args.tables_stamp:
            verify_tables(args.tables_stamp, [p for p in (args.runs, args.summary) if p])

        table = claims_table(load_inputs(args.runs, args.summary, args.experiments))
        write_text(args.out, table.to_csv(index=False, float_format="%.6g"))
        # the stamp the report and figures verify it by (derived, never edited)
        inputs = [p for p in (args.runs, args.summary, *args.experiments) if p is not None]
        write_claims_stamp(args.out, inputs)
    except NngridError as exc:
        print(f"nngrid: error: {exc}", file=sys.stderr)
        return 2
    return 0


# --------------------------------------------------------------------------- architectures
# The rules of thumb for convolutional and recurrent networks (docs/STUDY.md section 5), from the
# architectures arm (nngrid.study.experiments.architectures, merged into
# results/tables/architectures.npz
# and read here as the experiment ``architectures``). The unit of every interval is a seed,
# paired across the cells compared (the cells of one job share their seeds and data).

#: Activations the architecture claims leave out of "any activation": identity is no bend at all
#: (its own claim, nonlinearity_bends) and the step function cannot learn (step_cannot_learn).
NOT_NONLINEAR = ("identity", "step")
#: The paired units of the comparisons between activations (one job's cells share them).
#: Through time, ``‖dL/dh_0‖ / ‖dL/dh_{L-1}‖`` below ``10^-GRADIENT_DECADES`` is marked
#: vanishing, above ``10^GRADIENT_DECADES`` exploding.
ARCH_KEYS = ["architecture", "regularizer", "optimizer", "seed"]


def _arch(inputs: Mapping[str, Any], shuffled: bool = False) -> pd.DataFrame:
    df = _df(inputs["architectures"]["records"])
    if df.empty:
        return df
    return df[df["shuffled"].astype(bool) == shuffled]


def _per_seed(df: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """``metric`` with one column per activation, one row per (architecture, regularizer,
    optimizer, seed): the paired units of the comparisons between activations."""
    return df.pivot_table(index=ARCH_KEYS, columns="activation", values=metric, aggfunc="mean")


def _arch_steps(df: pd.DataFrame) -> pd.Series:
    """Steps to the training-accuracy target, censored at the budget: a run that never got
    there counts as one epoch past its last (``(epochs + 1) * steps_per_epoch``)."""
    budget = (df["epochs"].astype(float) + 1) * df["steps_per_epoch"].astype(float)
    steps = pd.to_numeric(df["steps_to_target"], errors="coerce")
    return steps.where(steps.notna(), budget)


def _versus_relu(table: pd.DataFrame, larger: bool = True):
    """For each alternative to relu: the per-unit difference relu minus it (``larger``) or it
    minus relu; returns the alternative with the smallest mean difference and its values."""
    if "relu" not in table:
        return None, None, {}
    diffs = {}
    for alt in table.columns:
        if alt == "relu":
            continue
        d = (table["relu"] - table[alt]) if larger else (table[alt] - table["relu"])
        d = d.dropna()
        if len(d):
            diffs[alt] = d
    if not diffs:
        return None, None, {}
    rival = min(diffs, key=lambda a: diffs[a].mean())
    return rival, diffs[rival], {a: float(d.mean()) for a, d in diffs.items()}


def cnn_relu(inputs: Mapping[str, Any]):
    """CNNs: relu's tuned test accuracy minus its strongest rival's, paired by seed."""
    df = _arch(inputs)
    cnn = df[df["family"] == "cnn"] if not df.empty else df
    if cnn.empty:
        return math.nan, math.nan, math.nan, "no convolutional network was trained"
    table = _per_seed(cnn)
    rival, d, means = _versus_relu(table)
    if rival is None:
        return math.nan, math.nan, math.nan, "relu and an alternative were not both trained"
    value, lo, hi = mean_interval(d)
    acc = cnn.groupby("activation")["test_accuracy"].mean()
    return (
        value,
        lo,
        hi,
        (
            f"CNNs ({', '.join(sorted(cnn['architecture'].unique()))}): relu "
            f"{_f(acc['relu'], 2)} test accuracy; strongest rival {rival} {_f(acc[rival], 2)} "
            f"(relu minus {rival} {_f(value)}, {_ci(lo, hi)}); relu minus each: "
            + ", ".join(f"{a} {_f(v)}" for a, v in sorted(means.items(), key=lambda kv: kv[1]))
        ),
    )


def cnn_relu_fast(inputs: Mapping[str, Any]):
    """CNNs: log2 of the fastest rival's optimizer steps to the training target over relu's."""
    df = _arch(inputs)
    cnn = df[df["family"] == "cnn"] if not df.empty else df
    if cnn.empty:
        return math.nan, math.nan, math.nan, "no convolutional network was trained"
    cnn = cnn.assign(log2_steps=np.log2(_arch_steps(cnn)))
    rival, d, means = _versus_relu(_per_seed(cnn, "log2_steps"), larger=False)
    if rival is None:
        return math.nan, math.nan, math.nan, "relu and an alternative were not both trained"
    value, lo, hi = mean_interval(d)
    med = cnn.assign(steps=_arch_steps(cnn)).groupby("activation")["steps"].median()
    target = float(cnn["target"].iloc[0])
    return (
        value,
        lo,
        hi,
        (
            f"median steps to {_f(target, 2)} training accuracy: relu {med['relu']:.0f}, "
            f"fastest rival {rival} {med[rival]:.0f} (log2 ratio {_f(value)}, {_ci(lo, hi)}; "
            "a run that never got there counts as one epoch past the budget)"
        ),
    )


def _time_decades(inputs: Mapping[str, Any], stage: str = "init") -> pd.DataFrame:
    """log10 of ``‖dL/dh_0‖ / ‖dL/dh_{L-1}‖`` per Elman RNN cell and seed (forward
    direction), at ``stage``; a ratio of exactly 0 (dead relu units) counts as 10^-30."""
    g = _df(inputs["architectures"].get("grad_time", []))
    if g.empty:
        return g
    g = g[(g["stage"] == stage) & (g["direction"] == 0) & (g["family"] == "rnn")]
    g = g[~g["shuffled"].astype(bool)]
    keys = ["architecture", "activation", "regularizer", "optimizer", "seed"]
    first = g[g["t"] == 0].set_index(keys)["grad_norm"]
    last = g[g["t"] == g["t"].max()].set_index(keys)["grad_norm"]
    ratio = (first / last).clip(lower=1e-30)  # a gradient that reached exactly 0: 10^-30
    return np.log10(ratio).rename("decades").reset_index()


def _marks(dec: pd.DataFrame) -> dict[str, str]:
    means = dec.groupby("activation")["decades"].mean()
    return {
        a: "vanishing"
        if v < -GRADIENT_DECADES
        else "exploding"
        if v > GRADIENT_DECADES
        else "flows"
        for a, v in means.items()
    }


def rnn_relu_or_tanh(inputs: Mapping[str, Any]):
    """Elman RNNs: the best relu/tanh cell's tuned test accuracy minus the best other
    nonlinearity's (each the cell with the highest mean; identity left out), paired by seed."""
    df = _arch(inputs)
    rnn = df[df["family"] == "rnn"] if not df.empty else df
    rnn = rnn[~rnn["activation"].isin(NOT_NONLINEAR)] if not rnn.empty else rnn
    if rnn.empty:
        return math.nan, math.nan, math.nan, "no Elman RNN was trained"
    cells = rnn.groupby(["architecture", "activation"])["test_accuracy"].mean()
    ours = cells[cells.index.get_level_values("activation").isin(["relu", "tanh"])]
    others = cells[~cells.index.get_level_values("activation").isin(["relu", "tanh"])]
    if ours.empty or others.empty:
        return math.nan, math.nan, math.nan, "relu/tanh and another nonlinearity not both trained"
    best, rival = ours.idxmax(), others.idxmax()
    per = rnn.set_index(["architecture", "activation", "seed"])["test_accuracy"].groupby(
        level=[0, 1, 2]
    )
    per = per.mean()
    d = (per.loc[best] - per.loc[rival]).dropna()
    value, lo, hi = mean_interval(d)
    diverged = rnn.groupby("activation")["diverged"].mean()
    marks = (
        _marks(_time_decades(inputs)) if len(inputs["architectures"].get("grad_time", [])) else {}
    )
    gated = df[df["family"] == "gated"].groupby("architecture")["test_accuracy"].mean()
    return (
        value,
        lo,
        hi,
        (
            f"best relu/tanh RNN {best[0]}/{best[1]} {_f(ours[best], 2)}, best other "
            f"{rival[0]}/{rival[1]} {_f(others[rival], 2)} test accuracy (difference {_f(value)}, "
            f"{_ci(lo, hi)}); diverged: "
            + ", ".join(f"{a} {v:.0%}" for a, v in diverged.items())
            + (
                "; gradient through time at init: "
                + ", ".join(f"{a} {m}" for a, m in marks.items())
                if marks
                else ""
            )
            + (
                "; gated units: " + ", ".join(f"{a} {_f(v, 2)}" for a, v in gated.items())
                if len(gated)
                else ""
            )
        ),
    )


def rnn_gradient_vanishes(inputs: Mapping[str, Any]):
    """Elman RNNs at initialisation: log10 ``‖dL/dh_0‖ / ‖dL/dh_{L-1}‖`` of the activation
    whose gradient shrinks most through time, per seed."""
    dec = _time_decades(inputs)
    if dec.empty:
        return math.nan, math.nan, math.nan, "no gradient through time was measured"
    means = dec.groupby("activation")["decades"].mean()
    worst = means.idxmin()
    d = dec[dec["activation"] == worst].groupby("seed")["decades"].mean()
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"{worst}: ‖dL/dh_0‖ is 10^{_f(value, 2)} of ‖dL/dh_last‖ ({_ci(lo, hi)}); "
            + ", ".join(f"{a} 10^{_f(v, 2)}" for a, v in means.items())
        ),
    )


def mlp_anything(inputs: Mapping[str, Any]):
    """The MLP of the architectures arm: best minus worst nonlinear activation's tuned test
    accuracy (identity and step left out), paired by seed."""
    df = _arch(inputs)
    mlp = df[df["family"] == "mlp"] if not df.empty else df
    mlp = mlp[~mlp["activation"].isin(NOT_NONLINEAR)] if not mlp.empty else mlp
    if mlp.empty or mlp["activation"].nunique() < 2:
        return math.nan, math.nan, math.nan, "fewer than two nonlinear activations in the MLP row"
    table = _per_seed(mlp)
    means = table.mean()
    best, worst = means.idxmax(), means.idxmin()
    d = (table[best] - table[worst]).dropna()
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"MLP on MNIST-1D: best {best} {_f(means[best], 2)}, worst {worst} "
            f"{_f(means[worst], 2)} test accuracy (gap {_f(value)}, {_ci(lo, hi)})"
        ),
    )


def shuffle_control(inputs: Mapping[str, Any]):
    """Accuracy lost to shuffling the positions: the CNNs' and gated/recurrent nets' mean drop
    minus the MLP's, paired by seed (same activation on both datasets)."""
    df = _df(inputs["architectures"]["records"])
    if df.empty or df["shuffled"].astype(bool).nunique() < 2:
        return math.nan, math.nan, math.nan, "the shuffled control was not trained"
    keys = ["architecture", "family", "activation", "regularizer", "optimizer", "seed"]
    acc = df.pivot_table(index=keys, columns="shuffled", values="test_accuracy", aggfunc="mean")
    acc = acc.dropna()
    if acc.empty:
        return math.nan, math.nan, math.nan, "no architecture ran on both the data and its control"
    drop = (acc[False] - acc[True]).rename("drop").reset_index()
    structured = drop[drop["family"] != "mlp"].groupby("seed")["drop"].mean()
    flat = drop[drop["family"] == "mlp"].groupby("seed")["drop"].mean()
    d = (structured - flat).dropna()
    if d.empty:
        return math.nan, math.nan, math.nan, "the control needs the MLP and a CNN or recurrent net"
    value, lo, hi = mean_interval(d)
    per = drop.groupby("architecture")["drop"].mean()
    return (
        value,
        lo,
        hi,
        (
            "test accuracy lost to shuffling the 40 positions: "
            + ", ".join(f"{a} {_f(v)}" for a, v in per.items())
            + f" (structured minus MLP {_f(value)}, {_ci(lo, hi)})"
        ),
    )


CLAIMS += [
    Claim(
        "cnn_relu",
        _ACT,
        "Convolutional networks: use relu.",
        "fig12_architectures",
        -0.01,
        ">",
        "CNNs' tuned test accuracy with relu minus the strongest alternative activation's, "
        "paired by seed (relu holds when no alternative beats it by more than a point)",
        ("architectures",),
        cnn_relu,
    ),
    Claim(
        "cnn_relu_fast",
        _ACT,
        "Convolutional networks train fastest with relu.",
        "fig12_curves",
        0.0,
        ">",
        "log2 of the fastest alternative's optimizer steps to the training-accuracy target "
        "(interpolated between epoch-end evaluations) over relu's, CNNs, paired by seed",
        ("architectures",),
        cnn_relu_fast,
    ),
    Claim(
        "rnn_relu_or_tanh",
        _ACT,
        "Recurrent networks: use relu or tanh.",
        "fig12_architectures",
        -0.01,
        ">",
        "Elman RNNs' tuned test accuracy of the best relu or tanh cell minus the best other "
        "nonlinearity's, paired by seed",
        ("architectures",),
        rnn_relu_or_tanh,
    ),
    Claim(
        "rnn_gradient_vanishes",
        _ACT,
        "Through time, a careless nonlinearity makes a recurrent net's gradient vanish.",
        "fig12_gradient_time",
        -GRADIENT_DECADES,
        "<",
        "log10 of ‖dL/dh_0‖ / ‖dL/dh_last‖ at initialisation for the Elman RNN activation "
        "whose gradient shrinks most, per seed",
        ("architectures",),
        rnn_gradient_vanishes,
    ),
    Claim(
        "mlp_anything",
        _ACT,
        "Few layers: anything works (the MLP on MNIST-1D).",
        "fig12_architectures",
        0.05,
        "<",
        "the MLP's tuned test accuracy of the best minus the worst nonlinear activation, "
        "paired by seed",
        ("architectures",),
        mlp_anything,
    ),
    Claim(
        "shuffle_control",
        _ACT,
        "Architecture matters through structure: shuffling the positions hurts CNNs and "
        "recurrent nets, not the MLP.",
        "fig12_architectures",
        0.05,
        ">",
        "test accuracy lost to a fixed permutation of the 40 positions, CNNs and recurrent nets "
        "minus the MLP, paired by seed",
        ("architectures",),
        shuffle_control,
    ),
]


if __name__ == "__main__":
    raise SystemExit(main())
