"""Captions whose numbers come from the data: one function per figure, each returning rst text.

A caption states what the figure shows, then what *this* run's data says, with the numbers
computed here from the experiment records or the pipeline's tables; no conclusion is written in
advance. Verdicts on the lesson's claims are never decided here: :mod:`nngrid.study.claims` decides
each once, into ``claims.csv``, and :func:`verdicts_text` renders the rows of a figure's claims
(verdict, statistic, interval, threshold, evidence) under its caption. :func:`write_caption`
joins a static description (``workflow/report/<figure>.rst``) with the computed text.

Descriptive thresholds (they label numbers, they decide no claim):

* a gradient *vanishes* when the first layer's norm is below 1/100 of the last layer's, and
  *explodes* when it is above 100 times (at the deepest depth, median over seeds);
* a network *overfits* when its final test loss exceeds 1.2 times its lowest test loss while its
  training loss at the end is below the training loss at that lowest point.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from nngrid.study.claims import COLUMNS
from nngrid.study.claims import SECTIONS as CLAIM_SECTIONS

VERDICT_WORDS = {
    "supported": "supported",
    "contradicted": "contradicted",
    "inconclusive": "inconclusive (the interval straddles the threshold)",
}


def verdicts_text(claims: pd.DataFrame, figure: str) -> str:
    """The claims ``claims.csv`` ties to ``figure`` (a figure stem), one paragraph each:
    the claim, its verdict, the statistic with its value, 95% interval and threshold, and the
    evidence sentence. Empty when the figure shows no claim."""
    rows = claims[claims["figure"] == figure]
    out = []
    for r in rows.itertuples():
        out.append(
            f"**Claim: {_rst(r.claim)}** Verdict: "
            f"**{VERDICT_WORDS.get(r.verdict, r.verdict)}**. "
            f"Statistic: {_rst(r.statistic)}; measured {_fmt(float(r.value))} (95% CI "
            f"{_fmt(float(r.ci_low))} to {_fmt(float(r.ci_high))}), the lesson predicts "
            f"{r.direction} {_fmt(float(r.threshold))}. {_rst(r.evidence)}"
        )
    return "\n\n".join(out)


def _rst(text) -> str:
    """Table text as literal rst: ``|w|`` would otherwise be read as a substitution, ``*`` as
    emphasis and a backquote as a role."""
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    for ch in "\\|*`":
        text = text.replace(ch, "\\" + ch)
    return text


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
    lines = []
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
        if "step" in set(sub["activation"]):
            step = float(sub[sub["activation"] == "step"]["test_accuracy"].mean())
            lines[-1] = lines[-1][:-1] + f"; step {_fmt(step, 2)}."
    return (
        "Without a nonlinearity the network is one affine map and its boundary a straight line; "
        "the step function passes no gradient back. Mean test accuracy over seeds:\n\n"
        + _bullets(lines)
    )


def gradient_caption(records) -> str:
    """Figure 3: first-layer / last-layer gradient norm at the deepest depth, at init."""
    df = _df(records)
    deepest = int(df["depth"].max())
    d = df[df["depth"] == deepest]
    lines = []
    for (stage, act, init), sub in d.groupby(["stage", "activation", "init"], sort=False):
        per_seed = sub.pivot_table(index="seed", columns="layer", values="grad_norm")
        ratio = float(np.median(per_seed.iloc[:, 0] / per_seed.iloc[:, -1]))
        kind = "vanishes" if ratio < 1e-2 else "explodes" if ratio > 1e2 else "flows"
        lines.append(
            f"{act}, {init}, {stage}: first/last layer norm ratio {_fmt(ratio, 2)} ({kind})"
        )
    return (
        f"With {deepest} hidden layers (median over seeds; the ratio compares layers of one "
        "network, so a start that scales every layer alike shows as 'flows' here while its norms "
        "grow with depth, which the claims measure):\n\n" + _bullets(lines)
    )


def depth_caption(records) -> str:
    """Figure 3b: mean test accuracy at the shallowest and the deepest depth per combination."""
    df = _df(records)
    lo, hi = int(df["depth"].min()), int(df["depth"].max())
    g = df.groupby(["activation", "init", "depth"], sort=False)["test_accuracy"].mean()
    lines = [
        f"{act}, {init}: {_fmt(g[(act, init, lo)], 2)} at {lo} -> {_fmt(g[(act, init, hi)], 2)} "
        f"at {hi} hidden layers"
        for act, init in dict.fromkeys((a, i) for a, i, _ in g.index)
    ]
    return "Mean test accuracy over seeds:\n\n" + _bullets(lines)


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
        text += "\n\nUnregularised, the test loss did not rise at the end here."
    worse = [c for c in cures if c != base and finals[c] >= finals[base]]
    better = [c for c in cures if c != base and finals[c] < finals[base]]
    if better:
        text += f" Lower final test loss than {base}: {', '.join(better)}."
    if worse:
        text += f" Not lower: {', '.join(worse)}."
    text += " (One seed, one fixed strength: an illustration; figure 11 judges the cures.)"
    return text


def data_size_caption(records) -> str:
    """Figure 5: the gap at the smallest and the largest training set."""
    df = _df(records)
    g = df.groupby("n_train")[["train_loss", "test_loss", "gap"]].mean().sort_index()
    lines = [
        f"{n} points: train {_fmt(r.train_loss)}, test {_fmt(r.test_loss)}, gap {_fmt(r.gap)}"
        for n, r in g.iterrows()
    ]
    return "Mean over seeds and data draws:\n\n" + _bullets(lines)


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
        text += f" Weights near zero: L1 {_pct(a)}, L2 {_pct(b)} (mean over seeds)."
    return text


def batches_caption(records, final=None) -> str:
    """Figure 7: per batch size, its tuned rate, steps, final loss and test accuracy."""
    df = _df(records)
    last = df[df["epoch"] == df.groupby("batch")["epoch"].transform("max")]
    agg = last.groupby("batch", sort=False).agg(
        loss=("train_loss", "mean"), steps=("steps", "max"), lr=("lr", "first")
    )
    acc = {}
    if final is not None:
        acc = _df(final).groupby("batch", sort=False)["test_accuracy"].mean().to_dict()
    lines = [
        f"batch {b}: lr {_fmt(r.lr, 2)}, {int(r.steps)} steps, final training loss "
        f"{_fmt(r.loss)}" + (f", test accuracy {_fmt(acc[b])}" if b in acc else "")
        for b, r in agg.iterrows()
    ]
    return (
        "Each batch size at its own tuned learning rate, the same number of optimizer steps; "
        "mean over seeds.\n\n" + _bullets(lines)
    )


def cures_caption(records) -> str:
    """Figure 11: each cure's tuned test accuracy against none's, per dataset."""
    df = _df(records)
    df = df[df["arm"] == "tuned"]
    lines = []
    for ds, sub in df.groupby("dataset", sort=False):
        g = sub.groupby("regularizer", sort=False).agg(
            train=("train_accuracy", "mean"), test=("test_accuracy", "mean")
        )
        lines.append(
            f"{ds}: "
            + ", ".join(f"{r} {_fmt(v.test)} (train {_fmt(v.train, 2)})" for r, v in g.iterrows())
        )
    return "Mean tuned test accuracy over seeds:\n\n" + _bullets(lines)


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
            f"{label}: fewest steps {first or 'none'} ({_fmt(float(med.iloc[0]))}, "
            f"{_pct(share[med.index[0]])} of its runs reached it); "
            + ", ".join(f"{o} {_fmt(float(v))}" for o, v in med.items())
        )
    head = f"Target validation accuracy {_fmt(float(target.iloc[0]), 2)}. " if len(target) else ""
    return (
        head + "Median optimizer steps over every tuned run (never = infinitely many; seconds "
        "are cost, figure 10).\n\n" + _bullets(lines)
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

#: The lesson's three questions, by the ``section`` of a claim (the claim registry's).
SECTIONS = CLAIM_SECTIONS

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
            f"{', '.join(COLUMNS)}"
        )
    bad = sorted(set(claims["verdict"].astype(str)) - set(VERDICT_STYLE))
    if bad:
        raise NngridError(
            f"claims table has unknown verdict(s) {', '.join(bad)}; valid: "
            f"{', '.join(VERDICT_STYLE)}"
        )
    out = claims.copy()
    for column in COLUMNS:
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
        + "</thead><tbody>\n"
        + "\n".join(body)  # a row a line: docutils refuses lines past 10,000 characters
        + "\n</tbody></table>"
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
    tuning = config.get("tuning", {})
    tune_seeds = min(len(seeds), tuning.get("seeds", 3)) if seeds else tuning.get("seeds", 3)
    extend = tuning.get("extend", 2)
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
        f"log-spaced grid by the mean validation result of {tune_seeds} seeds (fewer diverged "
        "seeds first, then higher validation accuracy, then lower validation loss, then the "
        "smaller rate): "
        + "; ".join(grids)
        + f". A winner on the grid's edge extends the grid past that edge by up to {extend} "
        "points and is tuned again; a winner still on the edge is flagged in the tables and "
        "figures. The overfitting cures tune each regularizer's strength on validation the "
        "same way.",
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
            "Time to target counts optimizer steps until "
            f"{_fmt(training['target_accuracy'], 2)} validation accuracy (never, if not "
            "reached); seconds are reported as cost only."
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
    by_dataset: pd.DataFrame | None = None,
    replication: pd.DataFrame | None = None,
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
        *_replication_sections(by_dataset, replication),
        "The protocol\n------------\n\n" + protocol_summary(config),
    ]
    return "{% raw %}\n" + "\n\n".join(parts) + "\n\n{% endraw %}\n"


def _replication_sections(by_dataset, replication) -> list[str]:
    """Per-dataset verdicts and replication status (nngrid.study.verdict_pages), when present."""
    from nngrid.study.verdict_pages import by_dataset_section, replication_section

    return [s for s in (by_dataset_section(by_dataset), replication_section(replication)) if s]


def _read_optional(path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path and Path(path).exists() else None


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else "" for line in text.splitlines())


def write_landing(
    claims_csv: str | Path,
    description: str | Path,
    config: dict,
    page: str | Path,
    table: str | Path,
    figures: Iterable[str] = (),
    by_dataset_csv: str | Path | None = None,
    replication_csv: str | Path | None = None,
) -> None:
    """Write the landing page (rst) and the stand-alone claims table (HTML); the per-dataset
    verdicts and the replication status join the page when their tables are given."""
    from nngrid.io import write_text

    claims = pd.read_csv(claims_csv)
    links = {Path(f).stem: str(f) for f in figures}
    extra = _read_optional(by_dataset_csv), _read_optional(replication_csv)
    text = landing_page(claims, Path(description).read_text(), config, links, *extra)
    write_text(page, text)
    write_text(table, claims_document(claims))
