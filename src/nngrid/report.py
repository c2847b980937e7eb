"""Captions whose numbers come from the data: one function per figure, each returning rst text.

A caption states what the figure shows, then what *this* run's data says, with the numbers
computed here from the experiment records or the pipeline's tables; no conclusion is written in
advance. Each lesson claim a figure tests is checked, and where the data disagrees the caption
says so in a sentence that starts with "Contrary to the lesson". :func:`write_caption` joins a
static description (``workflow/report/<figure>.rst``) with the computed text.

Thresholds used to phrase verdicts (documented so a reader can check them):

* a gradient *vanishes* when the first layer's norm is below 1/100 of the last layer's, and
  *explodes* when it is above 100 times (at the deepest depth, median over seeds);
* a network *overfits* when its final test loss exceeds 1.2 times its lowest test loss while its
  training loss at the end is below the training loss at that lowest point;
* "clearly below" means at least 0.05 accuracy lower.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

CONTRARY = "Contrary to the lesson"


def _df(records) -> pd.DataFrame:
    return records if isinstance(records, pd.DataFrame) else pd.DataFrame(records)


def _fmt(x: float, digits: int = 3) -> str:
    """A number for prose: ``nan`` -> "n/a", infinities spelled out."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "never" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def _secs(x: float) -> str:
    """Seconds for prose; an infinite time (target never reached) reads "never"."""
    return "never" if math.isinf(x) else f"{_fmt(x, 2)} s"


def _pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.0f}%"


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def panel_label(df: pd.DataFrame) -> pd.Series:
    """``dataset`` (or ``study/dataset`` when a dataset appears in several studies): the panel
    names of the figures and the labels of their captions."""
    if "study" in df and df.groupby("dataset")["study"].nunique().max() > 1:
        return df["study"].astype(str) + "/" + df["dataset"].astype(str)
    return df["dataset"].astype(str)


def write_caption(path: str | Path, computed: str, description: str = "") -> Path:
    """Write ``description`` (static rst) followed by the ``computed`` findings to ``path``."""
    from nngrid.io import write_text

    text = (description.strip() + "\n\n" if description.strip() else "") + computed.strip() + "\n"
    return write_text(path, text)


# --------------------------------------------------------------------------- figures 1-8


def activations_caption(records) -> str:
    """Figure 1: the largest slope of each activation on the plotted range."""
    df = _df(records)
    slope = df[df["curve"] == "f'(x)"].groupby("activation", sort=False)["value"]
    peak = slope.max()
    low = slope.min()
    small = [a for a, v in peak.items() if v <= 0.3]
    dead = [a for a, v in low.items() if abs(v) < 1e-12]
    lines = [
        f"{len(peak)} activations. Largest slope on [{_fmt(df['x'].min())}, "
        f"{_fmt(df['x'].max())}]: " + ", ".join(f"{a} {_fmt(v, 2)}" for a, v in peak.items()) + ".",
    ]
    if dead:
        lines.append(
            f"{', '.join(dead)} have exactly zero slope on part of the range"
            " (a unit there passes back nothing)."
        )
    if small:
        lines.append(
            f"The slope of {', '.join(small)} never exceeds {_fmt(max(peak[a] for a in small), 2)}:"
            " each such layer multiplies the backward signal by at most that, which is why deep"
            " stacks of them lose their gradient (figure 3)."
        )
    return "\n\n".join(lines)


def nonlinearity_caption(records) -> str:
    """Figure 2: identity vs the best nonlinear activation, per dataset."""
    df = _df(records)
    lines, contrary = [], []
    for ds, sub in df.groupby("dataset", sort=False):
        ident = sub[sub["activation"] == "identity"]["test_accuracy"]
        rest = sub[sub["activation"] != "identity"].sort_values("test_accuracy", ascending=False)
        if ident.empty or rest.empty:
            continue
        best = rest.iloc[0]
        lines.append(
            f"{ds}: identity {_fmt(float(ident.iloc[0]), 2)} vs {best['activation']} "
            f"{_fmt(float(best['test_accuracy']), 2)} test accuracy."
        )
        if float(ident.iloc[0]) > float(best["test_accuracy"]) - 0.05:
            contrary.append(ds)
    text = (
        "Without a nonlinearity the network is one affine map and its boundary a straight line. "
        "Measured:\n\n" + _bullets(lines)
    )
    if contrary:
        text += (
            f"\n\n{CONTRARY}, on {', '.join(contrary)} the linear network was not clearly worse"
            " (within 0.05 of the best nonlinear one)."
        )
    else:
        text += "\n\nOn every dataset the linear network is clearly worse, as the lesson says."
    return text


def gradient_caption(records) -> str:
    """Figure 3: first-layer / last-layer gradient norm at the deepest depth, at init."""
    df = _df(records)
    deepest = int(df["depth"].max())
    d = df[df["depth"] == deepest]
    lines, verdicts = [], {}
    for (stage, act, init), sub in d.groupby(["stage", "activation", "init"], sort=False):
        per_seed = sub.pivot_table(index="seed", columns="layer", values="grad_norm")
        ratio = float(np.median(per_seed.iloc[:, 0] / per_seed.iloc[:, -1]))
        kind = "vanishes" if ratio < 1e-2 else "explodes" if ratio > 1e2 else "flows"
        if stage == "init":
            verdicts[act] = verdicts.get(act, []) + [kind]
        lines.append(
            f"{act}, {init}, {stage}: first/last layer norm ratio {_fmt(ratio, 2)} ({kind})"
        )
    text = f"With {deepest} hidden layers (median over seeds):\n\n" + _bullets(lines)
    sig = verdicts.get("sigmoid")
    if sig is not None:
        if all(k == "vanishes" for k in sig):
            text += "\n\nDeep sigmoid networks lose their gradient, as the lesson says."
        else:
            text += (
                f"\n\n{CONTRARY}, the deep sigmoid network's gradient did not vanish for "
                "every initializer."
            )
    flows = [a for a, ks in verdicts.items() if all(k == "flows" for k in ks)]
    if flows:
        text += f" Gradients flowed through every depth with: {', '.join(flows)}."
    return text


def _overfit(sub: pd.DataFrame) -> tuple[bool, float, float, int]:
    sub = sub.groupby("epoch", as_index=False)[["train_loss", "test_loss"]].mean()
    i = int(sub["test_loss"].idxmin())
    best, final = float(sub["test_loss"].iloc[i]), float(sub["test_loss"].iloc[-1])
    overfits = final > 1.2 * best and sub["train_loss"].iloc[-1] < sub["train_loss"].iloc[i]
    return bool(overfits), best, final, int(sub["epoch"].iloc[i])


def overfitting_caption(records) -> str:
    """Figure 4: does the unregularised fit overfit, and does each cure lower the test loss?"""
    df = _df(records)
    cures = list(dict.fromkeys(df["cure"]))
    lines = []
    finals = {}
    for cure in cures:
        sub = df[df["cure"] == cure]
        overfits, best, final, epoch = _overfit(sub)
        finals[cure] = final
        last = sub[sub["epoch"] == sub["epoch"].max()]
        lines.append(
            f"{cure}: final train loss {_fmt(float(last['train_loss'].mean()))}, test loss "
            f"{_fmt(final)} (lowest {_fmt(best)} at epoch {epoch}"
            + ("; overfits)" if overfits else ")")
        )
    text = "Half mean squared error; the test points lie on the noise-free curve.\n\n"
    text += _bullets(lines)
    base = "none" if "none" in cures else cures[0]
    overfits = _overfit(df[df["cure"] == base])[0]
    if overfits:
        text += "\n\nUnregularised, the test loss rises while the training loss falls: it overfits."
    else:
        text += f"\n\n{CONTRARY}, the unregularised network did not overfit here."
    worse = [c for c in cures if c != base and finals[c] >= finals[base]]
    better = [c for c in cures if c != base and finals[c] < finals[base]]
    if better:
        text += f" Lower final test loss than {base}: {', '.join(better)}."
    if worse:
        text += f" {CONTRARY}, these did not lower it: {', '.join(worse)}."
    return text


def data_size_caption(records) -> str:
    """Figure 5: the gap at the smallest and the largest training set."""
    df = _df(records)
    g = df.groupby("n_train")[["train_loss", "test_loss", "gap"]].mean().sort_index()
    lines = [
        f"{n} points: train {_fmt(r.train_loss)}, test {_fmt(r.test_loss)}, gap {_fmt(r.gap)}"
        for n, r in g.iterrows()
    ]
    text = "Mean over seeds:\n\n" + _bullets(lines)
    first, last = g["gap"].iloc[0], g["gap"].iloc[-1]
    if last < first:
        text += (
            f"\n\nFrom {g.index[0]} to {g.index[-1]} points the gap shrinks from "
            f"{_fmt(first)} to {_fmt(last)}: more data cures overfitting, as the lesson says."
        )
    else:
        text += (
            f"\n\n{CONTRARY}, the gap did not shrink with more data ({_fmt(first)} -> "
            f"{_fmt(last)})."
        )
    return text


def regularizers_caption(records) -> str:
    """Figure 6: accuracies and weight sparsity per regularizer."""
    df = _df(records).set_index("label")
    lines = [
        f"{lab}: train {_fmt(r.train_accuracy, 2)} / test {_fmt(r.test_accuracy, 2)}, "
        f"{_pct(r.near_zero)} of weights below 1e-3, max abs weight "
        f"{_fmt(r.max_abs_weight, 2)}"
        for lab, r in df.iterrows()
    ]
    text = _bullets(lines)
    if "none" in df.index:
        gap0 = df.loc["none", "train_accuracy"] - df.loc["none", "test_accuracy"]
        smaller = [
            lab
            for lab in df.index
            if lab != "none" and df.loc[lab, "train_accuracy"] - df.loc[lab, "test_accuracy"] < gap0
        ]
        text += (
            f"\n\nUnregularised train/test gap {_fmt(gap0, 2)}; smaller with: "
            f"{', '.join(smaller) or 'none of them'}."
        )
    l1 = [lab for lab in df.index if df.loc[lab, "regularizer"] == "l1"]
    l2 = [lab for lab in df.index if df.loc[lab, "regularizer"] == "l2"]
    if l1 and l2:
        a, b = df.loc[l1[0], "near_zero"], df.loc[l2[0], "near_zero"]
        if a > b:
            text += f" L1 leaves more weights near zero than L2 ({_pct(a)} vs {_pct(b)}): sparse."
        else:
            text += f" {CONTRARY}, L1 was not sparser than L2 here ({_pct(a)} vs {_pct(b)})."
    return text


def batches_caption(records) -> str:
    """Figure 7: loss after the last epoch, and at the full batch's training time."""
    df = _df(records)
    last = (
        df[df["epoch"] == df["epoch"].max()]
        .groupby("batch", sort=False)
        .agg(loss=("train_loss", "mean"), seconds=("seconds", "mean"), size=("batch_size", "first"))
    )
    budget = float(last["seconds"].min())
    at_budget = {}
    for batch, sub in df.groupby("batch", sort=False):
        mean = sub.groupby("epoch").agg(loss=("train_loss", "mean"), s=("seconds", "mean"))
        within = mean[mean["s"] <= budget]
        at_budget[batch] = float(within["loss"].iloc[-1]) if len(within) else math.nan
    lines = [
        f"batch {b}: training loss {_fmt(r.loss)} after {int(df['epoch'].max())} epochs "
        f"({_fmt(r.seconds, 2)} s); {_fmt(at_budget[b])} after {_fmt(budget, 2)} s"
        for b, r in last.iterrows()
    ]
    text = "Same learning rate for every batch size; mean over seeds.\n\n" + _bullets(lines)
    best_epoch = last["loss"].idxmin()
    finite = {b: v for b, v in at_budget.items() if not math.isnan(v)}
    best_time = min(finite, key=finite.get) if finite else None
    full = last.index[last["size"] == last["size"].max()][0]
    text += (
        f"\n\nLowest loss per epoch: batch {best_epoch}; within {_fmt(budget, 2)} s: "
        f"batch {best_time}."
    )
    if best_time == full:
        text += f" {CONTRARY}, the full batch was the fastest per second here."
    else:
        text += " Mini-batches beat the full batch per second, as the lesson says."
    return text


def paths_caption(records, tuning=None) -> str:
    """Figure 8: each path's rate, its steps to the tolerance and its final value."""
    df = _df(records)
    last = df.groupby(["function", "optimizer"], sort=False).last()
    tol = float(df["tolerance"].iloc[0]) if "tolerance" in df else math.nan
    lines = []
    for fn, sub in last.groupby(level=0, sort=False):
        parts = []
        for (_, opt), r in sub.iterrows():
            steps = float(getattr(r, "steps_to_tolerance", math.inf))
            reach = f"{int(steps)} steps" if math.isfinite(steps) else "not within tolerance"
            parts.append(
                f"{opt} lr {_fmt(r.lr, 2)}{' (grid edge)' if r.lr_on_edge else ''}: {reach}, "
                f"final {_fmt(r.value, 2)}"
            )
        lines.append(f"{fn}: " + "; ".join(parts))
    text = (
        f"Each optimizer runs at the rate of its log grid that brings f - f_min within "
        f"{_pct(tol)} of its value at the start in the fewest steps without leaving the frame "
        "(else the in-frame rate with the lowest final value).\n\n" + _bullets(lines)
    )
    edge = last[last["lr_on_edge"]]
    if len(edge):
        text += f"\n\n{len(edge)} tuned rates sit on the grid's edge: widen the grid for them."
    text += (
        "\n\nPaths do not rank optimizers: one start and one function per row; the grid's "
        "figures compare them on data."
    )
    return text


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
            f"{_fmt(best['test_accuracy_mean'])} (95% CI {_fmt(best['test_accuracy_ci_low'])} to "
            f"{_fmt(best['test_accuracy_ci_high'])}); worst "
            f"{_fmt(sub['test_accuracy_mean'].min())}; {int((sub['diverged'] > 0).sum())} of "
            f"{len(sub)} cells with a diverged seed"
        )
    return "Mean test accuracy of the tuned arm over seeds.\n\n" + _bullets(lines)


def curves_caption(histories: pd.DataFrame, runs: pd.DataFrame) -> str:
    """Which optimizer ends highest in the reference cell, per dataset."""
    from nngrid.figures.grid import reference_histories

    h, act, reg = reference_histories(histories, runs)
    h["label"] = panel_label(h)
    lines = []
    for label, sub in h.groupby("label", sort=False):
        last = sub[sub["epoch"] == sub["epoch"].max()]
        acc = last.groupby("optimizer")["val_accuracy"].mean().sort_values(ascending=False)
        lines.append(
            f"{label}: final validation accuracy "
            + ", ".join(f"{o} {_fmt(v)}" for o, v in acc.items())
        )
    return f"Activation {act}, regularizer {reg}, tuned rates.\n\n" + _bullets(lines)


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
            f"{opt}: within 0.05 of its best from lr {_fmt(good.min(), 2)} to "
            f"{_fmt(good.max(), 2)} ({len(good)} of {len(curve)} grid points); "
            f"{n_div} diverged tuning runs"
        )
    edge = runs[(runs["arm"] == "tuned") & runs["lr_on_edge"]]
    text = "Mean over cells.\n\n" + _bullets(lines)
    if len(edge):
        cells = edge.groupby(["dataset", "activation", "regularizer", "optimizer"]).ngroups
        text += f"\n\n{cells} cells chose a rate on the grid's edge (flagged in the tables)."
    return text


def time_to_target_caption(runs: pd.DataFrame) -> str:
    """Which optimizer reached the target first on each dataset (median optimizer steps, or
    epochs when the tables have no steps: the measure of figure 9d)."""
    from nngrid.figures.grid import target_measure

    column, measure = target_measure(runs)
    unit = "steps" if column == "steps_to_target" else "epochs"

    def _n(x: float) -> str:
        return "never" if math.isinf(x) else f"{_fmt(x, 3)} {unit}"

    tuned = runs[runs["arm"] == "tuned"].copy()
    tuned["label"] = panel_label(tuned)
    lines, firsts = [], {}
    target = tuned["target_accuracy"].dropna()
    for label, sub in tuned.groupby("label", sort=False):
        times = sub[column].astype(float)
        med = times.groupby(sub["optimizer"]).median().sort_values()
        share = times.groupby(sub["optimizer"]).apply(lambda s: float(np.isfinite(s).mean()))
        first = med.index[0] if np.isfinite(med.iloc[0]) else None
        firsts[label] = first
        lines.append(
            f"{label}: first {first or 'none'} (median {_n(float(med.iloc[0]))}, "
            f"{_pct(share[med.index[0]])} of its runs reached it); "
            + ", ".join(f"{o} {_n(float(v))}" for o, v in med.items())
        )
    head = f"Target validation accuracy {_fmt(float(target.iloc[0]), 2)}. " if len(target) else ""
    text = (
        head + f"Median {measure} over every tuned run (never = not reached).\n\n" + _bullets(lines)
    )
    if "adam" in set(tuned["optimizer"]):
        not_adam = [lab for lab, f in firsts.items() if f != "adam"]
        if not_adam:
            text += (
                f'\n\n{CONTRARY} ("Adam gets there fast"), Adam was not first on '
                f"{', '.join(not_adam)}."
            )
        else:
            text += "\n\nAdam was first on every dataset, as the lesson says."
    return text


def gap_caption(runs: pd.DataFrame) -> str:
    """The regularizer with the smallest train - test accuracy gap, per dataset."""
    tuned = runs[(runs["arm"] == "tuned") & ~runs["diverged"]].copy()
    tuned["label"] = panel_label(tuned)
    tuned["gap"] = tuned["train_accuracy"] - tuned["test_accuracy"]
    lines = []
    for label, sub in tuned.groupby("label", sort=False):
        gap = sub.groupby("regularizer")["gap"].mean().sort_values()
        lines.append(
            f"{label}: smallest gap {gap.index[0]} ({_fmt(gap.iloc[0], 2)}); "
            + ", ".join(f"{r} {_fmt(v, 2)}" for r, v in gap.items())
        )
    n_div = int(
        (runs["arm"] == "tuned").sum() - ((runs["arm"] == "tuned") & ~runs["diverged"]).sum()
    )
    return (
        "Mean train minus test accuracy of the tuned runs.\n\n"
        + _bullets(lines)
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
            f"{factor}: {best} has the best mean rank {_fmt(mean_rank.iloc[0], 2)} over "
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
        _bullets(lines) + f"\n\nIn {overlap} of {groups} dataset x factor rankings the first "
        "and second place have overlapping 95% intervals: those first places are not "
        "decided by this data."
    )


def tuning_caption(summary: pd.DataFrame) -> str:
    """What tuning gained per optimizer (median over cells), and where it lost."""
    from nngrid.figures.grid import tuning_gain_table

    gain = tuning_gain_table(summary)
    per = gain.groupby("optimizer")["gain"].median().sort_values(ascending=False)
    lines = [f"{o}: median gain {_fmt(v, 2)}" for o, v in per.items()]
    lost = int((gain["gain"] < 0).sum())
    text = (
        "Tuned minus untuned mean test accuracy per cell.\n\n"
        + _bullets(lines)
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
        f"{len(jobs)} training jobs took {_fmt(total, 3)} s of wall time in all (max "
        f"{_fmt(float(jobs['s'].max()), 3)} s); {_pct(share)} of it was spent outside the "
        "training loops (process start, imports, loading, evaluation, writing). By optimizer: "
        + ", ".join(f"{o} {_fmt(v, 3)} s" for o, v in per.items())
        + "."
    )


# --------------------------------------------------------------------------- the claims table

#: Figure stem -> the lesson's claim that figure tests (figures that only illustrate: none).
CLAIMS = {
    "fig01_activations": "an activation must be differentiable; sigmoid's slope is small",
    "fig02_nonlinearity": "without a nonlinearity a network cannot separate non-linear classes",
    "fig03_gradient_flow": "with many layers a careless activation makes gradients vanish",
    "fig04_regression_losses": "an unregularised net overfits; L1/L2, dropout, early stopping "
    "and more data cure it",
    "fig05_data_size": "more data closes the train/test gap",
    "fig06_weight_histograms": "L1 makes weights sparse, L2 small; regularizers straighten "
    "boundaries",
    "fig07_batch_size": "mini-batches are much cheaper per step and get there faster",
    "fig09_target": "most of the time Adam gets there fast and well",
}


#: The columns of ``results/tables/claims.csv`` (the contract between the claims and the report).
CLAIM_COLUMNS = [
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

#: The lesson's three questions, by the ``section`` of a claim.
SECTIONS = {
    "activations": "Why do we need activation functions?",
    "overfitting": "What is overfitting, and how do more data, L1/L2 penalties and dropout "
    "cure it?",
    "optimizers": "How do mini-batch SGD, Momentum, AdaGrad, RMSProp and Adam speed training up?",
}

#: The section of each figure's claim (for claims read from captions).
_FIGURE_SECTION = {
    "fig01": "activations",
    "fig02": "activations",
    "fig03": "activations",
    "fig04": "overfitting",
    "fig05": "overfitting",
    "fig06": "overfitting",
    "fig07": "optimizers",
    "fig08": "optimizers",
    "fig09": "optimizers",
}


def claims_table(captions: Iterable[str | Path]) -> pd.DataFrame:
    """One row per claim the figures test, in the columns of :data:`CLAIM_COLUMNS`.

    The verdict is read from the figure's computed caption: ``contradicted`` when it holds a
    "Contrary to the lesson" sentence (which is then the evidence), else ``supported`` with
    the caption's last sentence as evidence. A caption carries no statistic with an interval,
    so ``statistic, value, ci_low, ci_high, threshold, direction`` stay empty.
    """
    rows = []
    for path in captions:
        stem = Path(path).stem
        if stem not in CLAIMS:
            continue
        paragraphs = [" ".join(p.split()) for p in Path(path).read_text().split("\n\n")]
        prose = [p for p in paragraphs if p and not p.startswith("- ")]
        sentences = [s.strip() for p in prose for s in p.split(". ") if s.strip()]
        contrary = [s for s in sentences if CONTRARY in s]
        evidence = contrary[0] if contrary else (prose[-1] if prose else "")
        rows.append(
            {
                "claim_id": stem,
                "section": _FIGURE_SECTION.get(stem[:5], "activations"),
                "claim": CLAIMS[stem],
                "verdict": "contradicted" if contrary else "supported",
                "evidence": evidence.rstrip(".") + ".",
                "figure": stem,
            }
        )
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


# --------------------------------------------------------------------------- the landing page

#: How each verdict is shown: a label and its colour (colour-blind safe, with the word itself).
VERDICT_STYLE = {
    "supported": ("supported", "#1a7f37"),
    "contradicted": ("contradicted", "#b8321c"),
    "inconclusive": ("inconclusive", "#6e6e6e"),
}


def _esc(x) -> str:
    import html

    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else html.escape(str(x))


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def statistic_text(row: dict) -> str:
    """``"<statistic> = v (95% CI lo to hi); supported when > t"``, or "" without a statistic."""
    stat = row.get("statistic")
    if stat is None or (isinstance(stat, float) and math.isnan(stat)) or not str(stat).strip():
        return ""
    value, lo, hi, thr = (_num(row.get(k)) for k in ("value", "ci_low", "ci_high", "threshold"))
    text = f"{stat} = {_fmt(value)}"
    if not (math.isnan(lo) or math.isnan(hi)):
        text += f" (95% CI {_fmt(lo)} to {_fmt(hi)})"
    direction = str(row.get("direction") or "").strip()
    if direction in (">", "<") and not math.isnan(thr):
        text += f"; the lesson holds when the interval lies {direction} {_fmt(thr)}"
    return text


def _check_claims(claims: pd.DataFrame) -> pd.DataFrame:
    from nngrid.errors import NngridError

    missing = [c for c in ("claim", "verdict", "figure") if c not in claims]
    if missing:
        raise NngridError(
            f"claims table lacks the column(s) {', '.join(missing)}; it needs the columns "
            f"{', '.join(CLAIM_COLUMNS)}"
        )
    bad = sorted(set(claims["verdict"].astype(str)) - set(VERDICT_STYLE))
    if bad:
        raise NngridError(
            f"claims table has unknown verdict(s) {', '.join(bad)}; valid: "
            f"{', '.join(VERDICT_STYLE)}"
        )
    out = claims.copy()
    for column in CLAIM_COLUMNS:
        if column not in out:
            out[column] = math.nan if column in ("value", "ci_low", "ci_high", "threshold") else ""
    out["section"] = out["section"].where(out["section"].astype(str).isin(SECTIONS), "other")
    return out


def figure_link(figure: str, figures: dict[str, str] | None) -> str:
    """An HTML link that opens ``figure`` (a stem) with its caption in the Snakemake report, or
    the figure's name when it is not in the report (``figures``: stem -> the report's path)."""
    path = (figures or {}).get(str(figure))
    if not path:
        return _esc(figure)
    js = (
        f"app.setView({{content: 'img', contentPath: results['{path}'].data_uri, "
        f"resultPath: '{path}', navbarMode: 'resultinfo'}}); return false;"
    )
    return f'<a href="#" class="nngrid-figure" onclick="{_esc(js)}">{_esc(figure)}</a>'


def claims_html(claims: pd.DataFrame, figures: dict[str, str] | None = None) -> str:
    """The claims as an HTML table, grouped by the lesson's three questions: each claim with its
    evidence, its verdict with the statistic and interval, and a link to its figure."""
    claims = _check_claims(claims)
    head = "<tr><th>claim</th><th>verdict</th><th>figure</th></tr>"
    body = []
    for section in [*SECTIONS, "other"]:
        sub = claims[claims["section"] == section]
        if sub.empty:
            continue
        title = SECTIONS.get(section, "Other claims")
        body.append(f'<tr class="nngrid-section"><th colspan="3">{_esc(title)}</th></tr>')
        for row in sub.to_dict("records"):
            label, colour = VERDICT_STYLE[str(row["verdict"])]
            stat = statistic_text(row)
            evidence = _esc(row.get("evidence"))
            body.append(
                f'<tr class="nngrid-claim" data-verdict="{_esc(row["verdict"])}">'
                f"<td><b>{_esc(row['claim'])}</b>"
                + (f'<br><span class="nngrid-evidence">{evidence}</span>' if evidence else "")
                + "</td>"
                f'<td><span class="nngrid-verdict" style="color:{colour};font-weight:bold">'
                f"{label}</span>"
                + (f'<br><span class="nngrid-statistic">{_esc(stat)}</span>' if stat else "")
                + "</td>"
                f"<td>{figure_link(row['figure'], figures)}</td></tr>"
            )
    return (
        '<table class="nngrid-claims"><thead>'
        + head
        + "</thead><tbody>"
        + "".join(body)
        + "</tbody></table>"
    )


#: The report's layout, adjusted from its first page: a wider text column for the table, and the
#: content pane aligned to the top (centred, a tall page loses its beginning off-screen).
_REPORT_STYLE = """<style>
.prose.max-w-lg { max-width: 46rem; }
div.grow.flex.items-center.justify-center.h-screen { align-items: flex-start; }
</style>"""

_TABLE_STYLE = """<style>
table.nngrid-claims { border-collapse: collapse; font-size: 0.85rem; }
table.nngrid-claims td, table.nngrid-claims th { border-bottom: 1px solid #ddd;
  padding: 0.3rem 0.4rem; vertical-align: top; text-align: left; }
table.nngrid-claims tr.nngrid-section th { background: #eef2f7; }
.nngrid-evidence, .nngrid-statistic { font-size: 0.8rem; color: #444; }
</style>"""


def claims_document(claims: pd.DataFrame) -> str:
    """A stand-alone HTML page holding :func:`claims_html` (the report shows it in a frame)."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>The lesson\'s claims</title>'
        + _TABLE_STYLE
        + '</head><body style="font-family: sans-serif; margin: 1rem">'
        + "<h1 style='font-size:1.2rem'>Does this run's data support each claim of the lesson?</h1>"
        + claims_html(claims)
        + "</body></html>\n"
    )


def _grid_text(grid: dict) -> str:
    return f"{grid['points']} rates from {_fmt(grid['low'])} to {_fmt(grid['high'])}"


def protocol_summary(config: dict) -> str:
    """The fair-comparison protocol as run, in rst, with the numbers of ``config``."""
    splits = config.get("splits", {})
    val, test = splits.get("val_fraction"), splits.get("test_fraction")
    own = {
        name: spec
        for name, spec in config.get("datasets", {}).items()
        if "val_fraction" in (spec or {}) or "test_fraction" in (spec or {})
    }
    training = config.get("training", {})
    seeds = training.get("seeds", [])
    opts = config.get("optimizers", {})
    grids = [f"{o} {_grid_text(s['lr_grid'])}" for o, s in opts.items() if "lr_grid" in (s or {})]
    lines = [
        f"**Splits.** Every dataset is split once (data seed {config.get('data_seed')}) into "
        f"train, validation ({_pct(val)}) and test ({_pct(test)})"
        + (
            "; "
            + ", ".join(
                f"{n}: validation {_pct(s.get('val_fraction', val))}, test "
                f"{_pct(s.get('test_fraction', test))}"
                for n, s in own.items()
            )
            if own
            else ""
        )
        + ". Tuning looks at the validation split only; the test split is only reported.",
        "**Tuning.** Each optimizer gets its own learning rate in every cell, chosen on a "
        "log-spaced grid by validation accuracy (ties: lower validation loss): "
        + "; ".join(grids)
        + ". A rate chosen on the grid's edge is flagged (the best rate may lie beyond it).",
        f"**Seeds.** The chosen rate is rerun with {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}), and beside it the optimizer's documented default rate "
        "with the same seeds (the untuned arm). Every per-seed row is kept in "
        "``results/tables/runs.csv``.",
        "**Intervals.** Figures and tables give means over seeds with 95% confidence intervals; "
        "each claim above states its own statistic, its 95% interval and the threshold it is "
        "judged against. Supported when the interval clears the threshold in the lesson's "
        "direction, contradicted when it clears it the other way, inconclusive when it "
        "straddles it.",
        "**Divergence.** A run whose loss becomes NaN or infinite is recorded as diverged, "
        "with the epoch it happened; tables count such runs and figures mark them, never "
        "silently dropping them. "
        + (
            f"Time to target counts optimizer steps (epochs where the tables have no step "
            f"counts) until {_fmt(training['target_accuracy'], 2)} validation accuracy (never, "
            "if not reached); seconds are reported as cost only."
            if "target_accuracy" in training
            else ""
        ),
    ]
    return "\n\n".join(lines)


def landing_page(
    claims: pd.DataFrame,
    description: str,
    config: dict,
    figures: dict[str, str] | None = None,
) -> str:
    """The report's first page (rst): the static ``description`` (the lesson's three questions),
    the claims table inline with links to the figures, and the protocol as run.

    Snakemake renders this text through Jinja2 before docutils, so the generated part is wrapped
    in ``{% raw %}``: no text from the tables can be read as a template.
    """
    counts = _check_claims(claims)["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICT_STYLE)
    table = claims_html(claims, figures)
    parts = [
        description.strip(),
        "The verdicts\n------------\n\n"
        f"{len(claims)} claims of the lesson, checked against this run's data: {tally}. "
        "Each link opens the figure with its caption.",
        ".. raw:: html\n\n" + _indent(_REPORT_STYLE + _TABLE_STYLE + "\n" + table),
        "The protocol\n------------\n\n" + protocol_summary(config),
    ]
    return "{% raw %}\n" + "\n\n".join(parts) + "\n\n{% endraw %}\n"


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else "" for line in text.splitlines())


def write_landing(
    claims_csv: str | Path,
    description: str | Path,
    config: dict,
    page: str | Path,
    table: str | Path,
    figures: Iterable[str] = (),
) -> None:
    """Write the landing page (rst) and the stand-alone claims table (HTML)."""
    from nngrid.io import write_text

    claims = pd.read_csv(claims_csv)
    links = {Path(f).stem: str(f) for f in figures}
    text = landing_page(claims, Path(description).read_text(), config, links)
    write_text(page, text)
    write_text(table, claims_document(claims))


def main(argv=None) -> int:
    """``python -m nngrid.report --captions A.rst B.rst ... --out claims.csv``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m nngrid.report", description=main.__doc__)
    parser.add_argument("--captions", nargs="+", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from nngrid.io import write_text

    write_text(args.out, claims_table(args.captions).to_csv(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
