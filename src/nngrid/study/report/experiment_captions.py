"""The computed captions of figures 1-8 and 11 (the side experiments of
:mod:`nngrid.study.experiments`): one function per figure, each taking the experiment's records and
returning rst text whose numbers come from them.

Descriptive thresholds (they label numbers, they decide no claim):

* a gradient *vanishes* when the first layer's norm is below 1/100 of the last layer's, and
  *explodes* when it is above 100 times (at the deepest depth, median over seeds);
* a network *overfits* when its final test loss exceeds 1.2 times its lowest test loss while its
  training loss at the end is below the training loss at that lowest point.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nngrid.study.report.prose import bullets, fmt, frame, pct

# --------------------------------------------------------------------------- figures 1-8


def activations_caption(records) -> str:
    """Figure 1: the largest slope of each activation on the plotted range."""
    df = frame(records)
    slope = df[df["curve"] == "f'(x)"].groupby("activation", sort=False)["value"]
    peak = slope.max()
    low = slope.min()
    small = [a for a, v in peak.items() if v <= 0.3]
    dead = [a for a, v in low.items() if abs(v) < 1e-12]
    lines = [
        f"{len(peak)} activations. Largest slope on [{fmt(df['x'].min())}, "
        f"{fmt(df['x'].max())}]: " + ", ".join(f"{a} {fmt(v, 2)}" for a, v in peak.items()) + ".",
    ]
    if dead:
        lines.append(
            f"{', '.join(dead)} have exactly zero slope on part of the range"
            " (a unit there passes back nothing)."
        )
    if small:
        lines.append(
            f"The slope of {', '.join(small)} never exceeds {fmt(max(peak[a] for a in small), 2)}:"
            " each such layer multiplies the backward signal by at most that, which is why deep"
            " stacks of them lose their gradient (figure 3)."
        )
    return "\n\n".join(lines)


def nonlinearity_caption(records) -> str:
    """Figure 2: identity vs the best nonlinear activation, per dataset."""
    df = frame(records)
    lines = []
    for ds, sub in df.groupby("dataset", sort=False):
        ident = sub[sub["activation"] == "identity"]["test_accuracy"]
        rest = sub[sub["activation"] != "identity"].sort_values("test_accuracy", ascending=False)
        if ident.empty or rest.empty:
            continue
        best = rest.iloc[0]
        lines.append(
            f"{ds}: identity {fmt(float(ident.iloc[0]), 2)} vs {best['activation']} "
            f"{fmt(float(best['test_accuracy']), 2)} test accuracy."
        )
        if "step" in set(sub["activation"]):
            step = float(sub[sub["activation"] == "step"]["test_accuracy"].mean())
            lines[-1] = lines[-1][:-1] + f"; step {fmt(step, 2)}."
    return (
        "Without a nonlinearity the network is one affine map and its boundary a straight line; "
        "the step function passes no gradient back. Mean test accuracy over seeds:\n\n"
        + bullets(lines)
    )


def gradient_caption(records) -> str:
    """Figure 3: first-layer / last-layer gradient norm at the deepest depth, at init."""
    df = frame(records)
    deepest = int(df["depth"].max())
    d = df[df["depth"] == deepest]
    lines = []
    for (stage, act, init), sub in d.groupby(["stage", "activation", "init"], sort=False):
        per_seed = sub.pivot_table(index="seed", columns="layer", values="grad_norm")
        ratio = float(np.median(per_seed.iloc[:, 0] / per_seed.iloc[:, -1]))
        kind = "vanishes" if ratio < 1e-2 else "explodes" if ratio > 1e2 else "flows"
        lines.append(
            f"{act}, {init}, {stage}: first/last layer norm ratio {fmt(ratio, 2)} ({kind})"
        )
    return (
        f"With {deepest} hidden layers (median over seeds; the ratio compares layers of one "
        "network, so a start that scales every layer alike shows as 'flows' here while its norms "
        "grow with depth, which the claims measure):\n\n" + bullets(lines)
    )


def depth_caption(records) -> str:
    """Figure 3b: mean test accuracy at the shallowest and the deepest depth per combination."""
    df = frame(records)
    lo, hi = int(df["depth"].min()), int(df["depth"].max())
    g = df.groupby(["activation", "init", "depth"], sort=False)["test_accuracy"].mean()
    lines = [
        f"{act}, {init}: {fmt(g[(act, init, lo)], 2)} at {lo} -> {fmt(g[(act, init, hi)], 2)} "
        f"at {hi} hidden layers"
        for act, init in dict.fromkeys((a, i) for a, i, _ in g.index)
    ]
    return "Mean test accuracy over seeds:\n\n" + bullets(lines)


def _overfit(sub: pd.DataFrame) -> tuple[bool, float, float, int]:
    sub = sub.groupby("epoch", as_index=False)[["train_loss", "test_loss"]].mean()
    i = int(sub["test_loss"].idxmin())
    best, final = float(sub["test_loss"].iloc[i]), float(sub["test_loss"].iloc[-1])
    overfits = final > 1.2 * best and sub["train_loss"].iloc[-1] < sub["train_loss"].iloc[i]
    return bool(overfits), best, final, int(sub["epoch"].iloc[i])


def overfitting_caption(records) -> str:
    """Figure 4: does the unregularised fit overfit, and does each cure lower the test loss?"""
    df = frame(records)
    cures = list(dict.fromkeys(df["cure"]))
    lines = []
    finals = {}
    for cure in cures:
        sub = df[df["cure"] == cure]
        overfits, best, final, epoch = _overfit(sub)
        finals[cure] = final
        last = sub[sub["epoch"] == sub["epoch"].max()]
        lines.append(
            f"{cure}: final train loss {fmt(float(last['train_loss'].mean()))}, test loss "
            f"{fmt(final)} (lowest {fmt(best)} at epoch {epoch}"
            + ("; overfits)" if overfits else ")")
        )
    text = "Half mean squared error; the test points lie on the noise-free curve.\n\n"
    text += bullets(lines)
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
    df = frame(records)
    g = df.groupby("n_train")[["train_loss", "test_loss", "gap"]].mean().sort_index()
    lines = [
        f"{n} points: train {fmt(r.train_loss)}, test {fmt(r.test_loss)}, gap {fmt(r.gap)}"
        for n, r in g.iterrows()
    ]
    return "Mean over seeds and data draws:\n\n" + bullets(lines)


def regularizers_caption(records) -> str:
    """Figure 6: accuracies and weight sparsity per regularizer."""
    df = frame(records).set_index("label")
    lines = [
        f"{lab}: train {fmt(r.train_accuracy, 2)} / test {fmt(r.test_accuracy, 2)}, "
        f"{pct(r.near_zero)} of weights below 1e-3, max abs weight "
        f"{fmt(r.max_abs_weight, 2)}"
        for lab, r in df.iterrows()
    ]
    text = bullets(lines)
    if "none" in df.index:
        gap0 = df.loc["none", "train_accuracy"] - df.loc["none", "test_accuracy"]
        smaller = [
            lab
            for lab in df.index
            if lab != "none" and df.loc[lab, "train_accuracy"] - df.loc[lab, "test_accuracy"] < gap0
        ]
        text += (
            f"\n\nUnregularised train/test gap {fmt(gap0, 2)}; smaller with: "
            f"{', '.join(smaller) or 'none of them'}."
        )
    l1 = [lab for lab in df.index if df.loc[lab, "regularizer"] == "l1"]
    l2 = [lab for lab in df.index if df.loc[lab, "regularizer"] == "l2"]
    if l1 and l2:
        a, b = df.loc[l1[0], "near_zero"], df.loc[l2[0], "near_zero"]
        text += f" Weights near zero: L1 {pct(a)}, L2 {pct(b)} (mean over seeds)."
    return text


def batches_caption(records, final=None) -> str:
    """Figure 7: per batch size, its tuned rate, steps, final loss and test accuracy."""
    df = frame(records)
    last = df[df["epoch"] == df.groupby("batch")["epoch"].transform("max")]
    agg = last.groupby("batch", sort=False).agg(
        loss=("train_loss", "mean"), steps=("steps", "max"), lr=("lr", "first")
    )
    acc = {}
    if final is not None:
        acc = frame(final).groupby("batch", sort=False)["test_accuracy"].mean().to_dict()
    lines = [
        f"batch {b}: lr {fmt(r.lr, 2)}, {int(r.steps)} steps, final training loss "
        f"{fmt(r.loss)}" + (f", test accuracy {fmt(acc[b])}" if b in acc else "")
        for b, r in agg.iterrows()
    ]
    return (
        "Each batch size at its own tuned learning rate, the same number of optimizer steps; "
        "mean over seeds.\n\n" + bullets(lines)
    )


def cures_caption(records) -> str:
    """Figure 11: each cure's tuned test accuracy against none's, per dataset."""
    df = frame(records)
    df = df[df["arm"] == "tuned"]
    lines = []
    for ds, sub in df.groupby("dataset", sort=False):
        g = sub.groupby("regularizer", sort=False).agg(
            train=("train_accuracy", "mean"), test=("test_accuracy", "mean")
        )
        lines.append(
            f"{ds}: "
            + ", ".join(f"{r} {fmt(v.test)} (train {fmt(v.train, 2)})" for r, v in g.iterrows())
        )
    return "Mean tuned test accuracy over seeds:\n\n" + bullets(lines)


def paths_caption(records, tuning=None) -> str:
    """Figure 8: each path's rate, its steps to the tolerance and its final value."""
    df = frame(records)
    last = df.groupby(["function", "optimizer"], sort=False).last()
    tol = float(df["tolerance"].iloc[0]) if "tolerance" in df else math.nan
    lines = []
    for fn, sub in last.groupby(level=0, sort=False):
        parts = []
        for (_, opt), r in sub.iterrows():
            steps = float(getattr(r, "steps_to_tolerance", math.inf))
            reach = f"{int(steps)} steps" if math.isfinite(steps) else "not within tolerance"
            parts.append(
                f"{opt} lr {fmt(r.lr, 2)}{' (grid edge)' if r.lr_on_edge else ''}: {reach}, "
                f"final {fmt(r.value, 2)}"
            )
        lines.append(f"{fn}: " + "; ".join(parts))
    text = (
        f"Each optimizer runs at the rate of its log grid that brings f - f_min within "
        f"{pct(tol)} of its value at the start in the fewest steps without leaving the frame "
        "(else the in-frame rate with the lowest final value).\n\n" + bullets(lines)
    )
    edge = last[last["lr_on_edge"]]
    if len(edge):
        text += f"\n\n{len(edge)} tuned rates sit on the grid's edge: widen the grid for them."
    text += (
        "\n\nPaths do not rank optimizers: one start and one function per row; the grid's "
        "figures compare them on data."
    )
    return text
