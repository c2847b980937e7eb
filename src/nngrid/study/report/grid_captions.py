"""The computed captions of figures 9 (the grid, from the collected tables) and 10 (the cost of
its jobs): one function per figure, each returning rst text whose numbers come from the tables.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from nngrid.study.figures.grid import panel_label, reference_histories, tuning_gain_table
from nngrid.study.report.prose import bullets, fmt, pct

# --------------------------------------------------------------------------- figure 9


def protocol_note(protocol: str) -> str:
    """The sentence a grid figure's caption ends with when the config ran several tuning
    protocols and the figure shows one (:func:`nngrid.study.figures.grid.one_protocol`); "" when
    it ran one."""
    if not protocol:
        return ""
    return (
        f"\n\nThis figure shows the studies tuned by the {protocol} protocol. The config ran "
        "other tuning protocols too; their verdicts stand beside these in the claims table, "
        "and figure 14 shows the full protocol's trials."
    )


def heatmap_caption(summary: pd.DataFrame) -> str:
    """Best cell per dataset, and how many cells had a diverged seed."""
    from nngrid.study.tables import score, tasks

    df = summary[summary["arm"] == "tuned"].copy()
    df["label"] = panel_label(df)
    df["task"] = tasks(df)
    lines = []
    for label, sub in df.groupby("label", sort=False):
        m, what, larger = score(sub["task"].iloc[0])
        best = sub.sort_values(f"{m}_mean", ascending=not larger).iloc[0]
        worst = sub[f"{m}_mean"].min() if larger else sub[f"{m}_mean"].max()
        lines.append(
            f"{label}: best {best['activation']} + {best['optimizer']} + {best['regularizer']}, "
            f"{what} {fmt(best[f'{m}_mean'])} (95% CI {fmt(best[f'{m}_ci_low'])} to "
            f"{fmt(best[f'{m}_ci_high'])}); worst {fmt(worst)}; "
            f"{int((sub['diverged'] > 0).sum())} of {len(sub)} cells with a diverged seed"
        )
    what = "test accuracy" + (
        " (test loss for regression)" if (df["task"] == "regression").any() else ""
    )
    return f"Mean {what} of the tuned arm over seeds.\n\n" + bullets(lines)


def curves_caption(histories: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Which optimizer ends highest in the reference cell, per dataset."""

    from nngrid.study.figures.grid import with_score

    h, act, reg = reference_histories(histories, runs)
    h = with_score(h)
    h["label"] = panel_label(h)
    lines = []
    for label, sub in h.groupby("label", sort=False):
        last = sub[sub["epoch"] == sub["epoch"].max()]
        regression = sub["task"].iloc[0] == "regression"
        acc = last.groupby("optimizer")["score"].mean().sort_values(ascending=regression)
        lines.append(
            f"{label}: final validation {'loss' if regression else 'accuracy'} "
            + ", ".join(f"{o} {fmt(v)}" for o, v in acc.items())
        )
    return f"Activation {act}, regularizer {reg}, tuned rates.\n\n" + bullets(lines)


def lr_caption(runs: pd.DataFrame) -> str:
    """Per optimizer: the range of rates within 0.05 of its best validation accuracy."""
    from nngrid.study.tables import lr_tuning_rows, tasks

    tune = lr_tuning_rows(runs).copy()
    regression = tasks(tune) == "regression"
    skipped = ordered_unique(tune.loc[regression, "dataset"])
    tune = tune[~regression]  # regression rates: the figure's loss panels
    if tune.empty:
        return "Every dataset is a regression: the figure shows validation loss against rate."
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
    if skipped:
        text = (
            f"Mean over the cells of {', '.join(ordered_unique(tune['dataset']))} (accuracy); "
            f"the regression {', '.join(skipped)} is drawn in validation loss.\n\n" + bullets(lines)
        )
    if len(edge):
        cells = edge.groupby(["dataset", "activation", "regularizer", "optimizer"]).ngroups
        text += f"\n\n{cells} cells chose a rate on the grid's edge (flagged in the tables)."
    return text


def time_to_target_caption(runs: pd.DataFrame) -> str:
    """Which optimizer reached the target in the fewest optimizer steps (median), per dataset."""
    from nngrid.study.tables import tasks

    tuned = runs[runs["arm"] == "tuned"].copy()
    if (
        "target_accuracy" in tuned
        and tuned["target_accuracy"].isna().all()
        and not np.isfinite(tuned["steps_to_target"]).any()
    ):
        return (
            "Time to target was not measured: the study sets no target accuracy "
            "(training.target_accuracy is null)."
        )
    tuned["label"] = panel_label(tuned)
    regression = tasks(tuned) == "regression"
    skipped = list(dict.fromkeys(tuned.loc[regression, "label"]))
    tuned = tuned[~regression]
    note = (
        f"\n\nNot measured on {', '.join(skipped)} (regression: the target is an accuracy)."
        if skipped
        else ""
    )
    if tuned.empty:
        return note.strip()
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
        "are cost, figure 10).\n\n" + bullets(lines) + note
    )


def gap_caption(runs: pd.DataFrame) -> str:
    """The regularizer with the smallest train - test accuracy gap, per dataset."""
    from nngrid.study.figures.grid import generalization_gaps

    tuned = generalization_gaps(runs)
    tuned["label"] = panel_label(tuned)
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
    what = "train minus test accuracy"
    if (tuned["task"] == "regression").any():
        what += " (test minus train loss for regression)"
    return (
        f"Mean {what} of the tuned runs.\n\n"
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
    mixed = gain["task"].nunique() > 1  # accuracy and loss gains are never pooled
    lines, best = [], []
    for _task, sub in gain.groupby("task", sort=False):
        per = sub.groupby("optimizer")["gain"].median().sort_values(ascending=False)
        suffix = f" ({', '.join(ordered_unique(sub['dataset']))})" if mixed else ""
        lines += [f"{o}{suffix}: median gain {fmt(v, 2)}" for o, v in per.items()]
        best.append(f"{per.index[0]}{suffix}")
    lost = int((gain["gain"] < 0).sum())
    what = "Tuned minus untuned mean test accuracy"
    if (gain["task"] == "regression").any():
        what += " (untuned minus tuned test loss for regression)"
    text = (
        f"{what} per cell.\n\n"
        + bullets(lines)
        + f"\n\nLargest median gain: {', '.join(best)}. In {lost} of {gain['gain'].notna().sum()}"
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


def _literal(text: Any, limit: int = 40) -> str:
    """Text from a user's data file (a class or column name) as an rst inline literal: only
    letters, digits and ``space _ . , : ; + - ( ) /`` survive (others become ``?``), so nothing
    of it is read as markup or as a template."""
    import re

    clean = re.sub(r"[^\w .,:;+()/-]", "?", str(text), flags=re.ASCII)[:limit].strip() or "?"
    return f"``{clean}``"


def datasets_caption(infos: dict[str, dict]) -> str:
    """Where each dataset of the grid comes from, its size and task, and, for a classification,
    its class names by label (``<label>.json`` of rule ``dataset``)."""
    lines = []
    for label, info in infos.items():
        meta = info.get("metadata") or {}
        spec = info.get("spec") or {}
        n = sum(int(v[0]) for k, v in (info.get("shapes") or {}).items() if k.startswith("y_"))
        kind = spec.get("kind", label)
        if kind == "file":
            source = f"file {_literal(meta.get('source', '?'), 80)} (sha256 "
            source += f"{str(meta.get('file_sha256', '?'))[:12]}...)"
        else:
            source = meta.get("source") or f"generated ({kind})"
        text = f"{label}: {source}, {n} rows, {info.get('n_features')} features"
        if info.get("task") == "classification":
            names = meta.get("classes")
            text += f"; classification into {info.get('n_classes')} classes"
            if names:
                shown = ", ".join(f"{i} = {_literal(c)}" for i, c in enumerate(names[:12]))
                text += f" ({shown}{', ...' if len(names) > 12 else ''})"
        else:
            target = meta.get("target")
            text += "; regression" + (f" of {_literal(target)}" if target else "")
            if meta.get("target_std"):
                text += (
                    f" (standardised: mean {fmt(meta['target_mean'][0])}, sd "
                    f"{fmt(meta['target_std'][0])}, so a loss of 0.5 is the variance)"
                )
        if meta.get("dropped_rows"):
            text += f"; {meta['dropped_rows']} rows with missing values dropped"
        lines.append(text)
    return "Datasets:\n\n" + bullets(lines) if lines else ""


def ordered_unique(values) -> list[str]:
    """The distinct values in first-seen order, as text."""
    return [str(v) for v in dict.fromkeys(values)]
