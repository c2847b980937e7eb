"""The computed captions of figures 9 (the grid, from the collected tables) and 10 (the cost of
its jobs): one function per figure, each returning rst text whose numbers come from the tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nngrid.figures.grid import panel_label, reference_histories, tuning_gain_table
from nngrid.study.report.prose import bullets, fmt, pct

# --------------------------------------------------------------------------- figure 9


def heatmap_caption(summary: pd.DataFrame) -> str:
    """Best cell per dataset, and how many cells had a diverged seed."""
    df = summary[summary["arm"] == "tuned"].copy()
    df["label"] = panel_label(df)
    lines = []
    for label, sub in df.groupby("label", sort=False):
        best = sub.sort_values("test_accuracy_mean", ascending=False).iloc[0]
        lines.append(
            f"{label}: best {best['activation']} + {best['optimizer']} + {best['regularizer']}, "
            f"{fmt(best['test_accuracy_mean'])} (95% CI {fmt(best['test_accuracy_ci_low'])} to "
            f"{fmt(best['test_accuracy_ci_high'])}); worst "
            f"{fmt(sub['test_accuracy_mean'].min())}; {int((sub['diverged'] > 0).sum())} of "
            f"{len(sub)} cells with a diverged seed"
        )
    return "Mean test accuracy of the tuned arm over seeds.\n\n" + bullets(lines)


def curves_caption(histories: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Which optimizer ends highest in the reference cell, per dataset."""
    h, act, reg = reference_histories(histories, runs)
    h["label"] = panel_label(h)
    lines = []
    for label, sub in h.groupby("label", sort=False):
        last = sub[sub["epoch"] == sub["epoch"].max()]
        acc = last.groupby("optimizer")["val_accuracy"].mean().sort_values(ascending=False)
        lines.append(
            f"{label}: final validation accuracy "
            + ", ".join(f"{o} {fmt(v)}" for o, v in acc.items())
        )
    return f"Activation {act}, regularizer {reg}, tuned rates.\n\n" + bullets(lines)


def lr_caption(runs: pd.DataFrame) -> str:
    """Per optimizer: the range of rates within 0.05 of its best validation accuracy."""
    tune = runs[runs["arm"] == "tune"].copy()
    tune["acc"] = tune["val_accuracy"].where(~tune["diverged"], 0.0).fillna(0.0)
    lines = []
    for opt, sub in tune.groupby("optimizer", sort=False):
        curve = sub.groupby("lr")["acc"].mean()
        good = curve[curve >= curve.max() - 0.05].index
        n_div = int(sub["diverged"].sum())
        lines.append(
            f"{opt}: within 0.05 of its best from lr {fmt(good.min(), 2)} to "
            f"{fmt(good.max(), 2)} ({len(good)} of {len(curve)} grid points); "
            f"{n_div} diverged tuning runs"
        )
    edge = runs[(runs["arm"] == "tuned") & runs["lr_on_edge"]]
    text = "Mean over cells.\n\n" + bullets(lines)
    if len(edge):
        cells = edge.groupby(["dataset", "activation", "regularizer", "optimizer"]).ngroups
        text += f"\n\n{cells} cells chose a rate on the grid's edge (flagged in the tables)."
    return text


def time_to_target_caption(runs: pd.DataFrame) -> str:
    """Which optimizer reached the target in the fewest optimizer steps (median), per dataset."""
    tuned = runs[runs["arm"] == "tuned"].copy()
    tuned["label"] = panel_label(tuned)
    lines = []
    target = tuned["target_accuracy"].dropna()
    for label, sub in tuned.groupby("label", sort=False):
        med = sub.groupby("optimizer")["steps_to_target"].median().sort_values()
        share = sub.groupby("optimizer")["steps_to_target"].apply(
            lambda s: float(np.isfinite(s).mean())
        )
        first = med.index[0] if np.isfinite(med.iloc[0]) else None
        lines.append(
            f"{label}: fewest steps {first or 'none'} ({fmt(float(med.iloc[0]))}, "
            f"{pct(share[med.index[0]])} of its runs reached it); "
            + ", ".join(f"{o} {fmt(float(v))}" for o, v in med.items())
        )
    head = f"Target validation accuracy {fmt(float(target.iloc[0]), 2)}. " if len(target) else ""
    return (
        head + "Median optimizer steps over every tuned run (never = infinitely many; seconds "
        "are cost, figure 10).\n\n" + bullets(lines)
    )


def gap_caption(runs: pd.DataFrame) -> str:
    """The regularizer with the smallest train - test accuracy gap, per dataset."""
    tuned = runs[(runs["arm"] == "tuned") & ~runs["diverged"]].copy()
    tuned["label"] = panel_label(tuned)
    tuned["gap"] = tuned["train_accuracy"] - tuned["test_accuracy"]
    lines = []
    for label, sub in tuned.groupby("label", sort=False):
        gap = sub.groupby("regularizer")["gap"].mean().sort_values()
        lines.append(
            f"{label}: smallest gap {gap.index[0]} ({fmt(gap.iloc[0], 2)}); "
            + ", ".join(f"{r} {fmt(v, 2)}" for r, v in gap.items())
        )
    n_div = int(
        (runs["arm"] == "tuned").sum() - ((runs["arm"] == "tuned") & ~runs["diverged"]).sum()
    )
    return (
        "Mean train minus test accuracy of the tuned runs.\n\n"
        + bullets(lines)
        + f"\n\n{n_div} diverged tuned runs are left out of this figure."
    )


def rankings_caption(rankings: pd.DataFrame) -> str:
    """The best level of each factor by mean rank across datasets."""
    lines = []
    for factor, sub in rankings.groupby("factor", sort=False):
        mean_rank = sub.groupby("level")["rank"].mean().sort_values()
        spread = sub.groupby("level")["rank"].agg(["min", "max"])
        best = mean_rank.index[0]
        lines.append(
            f"{factor}: {best} has the best mean rank {fmt(mean_rank.iloc[0], 2)} over "
            f"{sub['dataset'].nunique()} datasets (ranks {int(spread.loc[best, 'min'])} "
            f"to {int(spread.loc[best, 'max'])}); order " + " > ".join(mean_rank.index.astype(str))
        )
    overlap = 0
    for _, sub in rankings.groupby(["study", "dataset", "factor"]):
        s = sub.sort_values("rank")
        if len(s) > 1 and s["ci_low"].iloc[0] <= s["ci_high"].iloc[1]:
            overlap += 1
    groups = rankings.groupby(["study", "dataset", "factor"]).ngroups
    return (
        bullets(lines) + f"\n\nIn {overlap} of {groups} dataset x factor rankings the first "
        "and second place have overlapping 95% intervals: those first places are not "
        "decided by this data."
    )


def tuning_caption(summary: pd.DataFrame) -> str:
    """What tuning gained per optimizer (median over cells), and where it lost."""
    gain = tuning_gain_table(summary)
    per = gain.groupby("optimizer")["gain"].median().sort_values(ascending=False)
    lines = [f"{o}: median gain {fmt(v, 2)}" for o, v in per.items()]
    lost = int((gain["gain"] < 0).sum())
    text = (
        "Tuned minus untuned mean test accuracy per cell.\n\n"
        + bullets(lines)
        + f"\n\nLargest median gain: {per.index[0]}. In {lost} of {gain['gain'].notna().sum()}"
        " cells the tuned arm scored below the default on test data (tuning looks at the"
        " validation split only)."
    )
    return text


def cost_caption(jobs: pd.DataFrame) -> str:
    """Figure 10: total and per-optimizer wall time, and the share outside training loops."""
    total = float(jobs["s"].sum())
    training = float(jobs["training"].sum())
    per = jobs.groupby("optimizer")["s"].sum().sort_values(ascending=False)
    share = 1 - training / total if total else math.nan
    return (
        f"{len(jobs)} training jobs took {fmt(total, 3)} s of wall time in all (max "
        f"{fmt(float(jobs['s'].max()), 3)} s); {pct(share)} of it was spent outside the "
        "training loops (process start, imports, loading, evaluation, writing). By optimizer: "
        + ", ".join(f"{o} {fmt(v, 3)} s" for o, v in per.items())
        + "."
    )
