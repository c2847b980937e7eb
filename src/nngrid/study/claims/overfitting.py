"""Section 2 of the lesson, overfitting and its cures (fig05, fig06, fig11)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nngrid.study.claims.core import (
    NEAR_ZERO,
    OVERFITTING,
    _ci,
    _df,
    _f,
    bootstrap_interval,
    claim,
    mean_interval,
    nested_interval,
    pool,
)

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


def _cures(inputs: Mapping[str, Any]) -> pd.DataFrame:
    df = _df(inputs["overfitting_cures"]["records"])
    return df[df["arm"] == "tuned"]


@claim(
    "unregularised_overfits",
    OVERFITTING,
    "fig11_cures",
    0.1,
    ">",
    "train minus test accuracy of the unregularised network, per dataset and seed",
    "A network that fits the training points too well does worse on new points.",
    needs=("overfitting_cures",),
)
def unregularised_overfits(inputs: Mapping[str, Any]):
    """Train minus test accuracy of the unregularised net, per dataset (its data draws, or its
    seeds with a single draw, as units); pooled by the hull."""
    df = _cures(inputs)
    none = df[df["regularizer"] == "none"]
    if none.empty:
        return math.nan, math.nan, math.nan, "no unregularised run"
    none = none.assign(gap=none["train_accuracy"] - none["test_accuracy"])
    per = {}
    for ds, sub in none.groupby("dataset", sort=False):
        v, lo, hi, units = nested_interval(sub, "gap")
        per[ds] = (
            v,
            lo,
            hi,
            f"{ds} train {_f(sub['train_accuracy'].mean(), 2)} / test "
            f"{_f(sub['test_accuracy'].mean(), 2)} (gap {_f(v)}, {_ci(lo, hi)} over {units})",
        )
    value, lo, hi = pool(per)
    parts = "; ".join(p[3] for p in per.values())
    return value, lo, hi, f"unregularised: {parts}", per


def _cure(label: str) -> Callable[[Mapping[str, Any]], tuple]:
    def cure(inputs: Mapping[str, Any]):
        df = _cures(inputs)
        if label not in set(df["regularizer"]) or "none" not in set(df["regularizer"]):
            return math.nan, math.nan, math.nan, f"{label} or none was not run"
        if "data_seed" not in df:
            df = df.assign(data_seed=0)
        per_unit = df.set_index(["dataset", "data_seed", "seed", "regularizer"])["test_accuracy"]
        per_unit = per_unit.unstack()
        d = (per_unit[label] - per_unit["none"]).dropna().rename("diff").reset_index()
        sub = df[df["regularizer"] == label]
        per = {}
        for ds, part in d.groupby("dataset", sort=False):
            v, lo, hi, units = nested_interval(part, "diff")
            chosen = sub[sub["dataset"] == ds]
            picks = ", ".join(
                f"{s['strength_name'].iloc[0]} {_f(float(s['strength'].iloc[0]), 2)}"
                + (" (grid edge)" if bool(s["strength_on_edge"].iloc[0]) else "")
                for _, s in chosen.groupby("data_seed", sort=True)
                if isinstance(s["strength_name"].iloc[0], str)
            )
            per[ds] = (
                v,
                lo,
                hi,
                f"{ds}: {_f(per_unit.loc[ds, label].mean(), 3)} with {label} vs "
                f"{_f(per_unit.loc[ds, 'none'].mean(), 3)} without (difference {_f(v)}, "
                f"{_ci(lo, hi)} over {units}"
                + (f"; chosen on validation: {picks}" if picks else "")
                + ")",
            )
        value, lo, hi = pool(per)
        parts = "; ".join(p[3] for p in per.values())
        return value, lo, hi, f"tuned test accuracy, {parts}", per

    cure.__name__ = f"cure_{label}"
    cure.__doc__ = (
        f"Tuned test accuracy with {label} minus without, per dataset (data draws, or seeds with "
        "a single draw, as units); pooled by the hull."
    )
    return cure


for _label in _CURES:
    claim(
        f"cure_{_label}",
        OVERFITTING,
        "fig11_cures",
        0.0,
        ">",
        f"tuned test accuracy with {_label} (strength chosen on validation) minus without, "
        "per dataset and seed",
        f"{_CURE_NAMES[_label][0].upper() + _CURE_NAMES[_label][1:]} cures overfitting.",
        needs=("overfitting_cures",),
    )(_cure(_label))


@claim(
    "more_data",
    OVERFITTING,
    "fig05_data_size",
    0.0,
    "<",
    "Spearman rank correlation of training-set size and train/test loss gap over every size, data "
    "draw and seed",
    "More data cures overfitting: with thousands of points the wiggly curve straightens.",
    needs=("data_size_sweep",),
)
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


@claim(
    "l1_sparse",
    OVERFITTING,
    "fig06_weight_histograms",
    0.0,
    ">",
    "fraction of weights with |w| < 0.001 under L1 minus under L2, per seed",
    "L1 regularization makes weights sparse.",
    needs=("regularizer_boundaries",),
)
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


@claim(
    "l2_small",
    OVERFITTING,
    "fig06_weight_histograms",
    1.0,
    "<",
    "mean |w| under L2 divided by the unregularised network's, per seed",
    "L2 regularization keeps weights small.",
    needs=("regularizer_boundaries",),
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
