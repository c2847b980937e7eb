"""Figure 13: Wilson et al. 2017's separable problem (:mod:`nngrid.study.experiments.wilson`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nngrid.study.figures import ordered, save, theme
from nngrid.study.report.prose import fmt

QUESTION = "Separable data, more features than points: which solution does each optimizer find?"
#: Plain (SGD family) and adaptive optimizers: two colour families, one shade per optimizer.
_PLAIN, _ADAPTIVE = plt.get_cmap("Blues"), plt.get_cmap("Oranges")
#: Training losses below this are drawn at it (rounding takes them to 1e-33 or exactly 0).
LOSS_FLOOR = 1e-12


def _colours(records: pd.DataFrame, order: list[str]) -> dict[str, tuple]:
    adaptive = records.groupby("optimizer")["adaptive"].first()
    plain = [o for o in order if not adaptive[o]]
    adapt = [o for o in order if adaptive[o]]
    out = {}
    for names, cmap in ((plain, _PLAIN), (adapt, _ADAPTIVE)):
        for i, name in enumerate(names):
            out[name] = cmap(0.85 - 0.45 * i / max(1, len(names) - 1))
    return out


def wilson(result: dict, path: str | Path, optimizers: list[str] | None = None) -> Path:
    """Left: training loss against full-batch steps (log axes, floored at :data:`LOSS_FLOOR`),
    the mean over data draws of each optimizer at its tuned rate: every one fits the training
    set. Right: each draw's final test
    error per optimizer (points) and their mean (bar), a dashed line at the test error of
    labelling every point positive (the adaptive methods' limit). Blues: the SGD family;
    oranges: the adaptive methods."""
    theme()
    records = pd.DataFrame(result["records"])
    curves = pd.DataFrame(result["curves"])
    order = ordered(records["optimizer"], optimizers)
    colours = _colours(records, order)
    everyone_positive = float(records["test_negative_share"].mean())
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10.5, 4.2), gridspec_kw={"width_ratios": [1.3, 1.0]}
    )
    mean = curves[curves["step"] > 0].groupby(["optimizer", "step"])["train_loss"].mean()
    rates = records.groupby("optimizer")["lr"].agg(lambda v: sorted(set(v)))
    for opt in order:
        sub = mean.loc[opt]
        lr = rates[opt]
        text = fmt(lr[0], 2) if len(lr) == 1 else f"{fmt(min(lr), 2)} to {fmt(max(lr), 2)}"
        y = np.maximum(sub.to_numpy(float), LOSS_FLOOR)
        left.plot(sub.index, y, color=colours[opt], lw=2, label=f"{opt} (lr {text})")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="full-batch steps",
        ylabel=f"training loss (mean over draws, floor {LOSS_FLOOR:g})",
        title="every optimizer fits the training set",
    )
    rng = np.random.default_rng(0)  # jitter only: the points' horizontal spread
    for i, opt in enumerate(order):
        err = records.loc[records["optimizer"] == opt, "test_error"].to_numpy(float)
        right.bar(i, err.mean(), width=0.6, color=colours[opt], alpha=0.45)
        x = i + rng.uniform(-0.18, 0.18, err.size)
        right.scatter(x, err, s=16, color=colours[opt], edgecolor="black", linewidth=0.4, zorder=3)
    right.axhline(everyone_positive, color="0.35", ls="--", lw=1)
    right.annotate(
        "every test point labelled positive",
        (-0.4, everyone_positive),
        xytext=(0, 4),
        textcoords="offset points",
        fontsize=8,
        color="0.3",
    )
    right.set_ylim(-0.02, max(0.55, everyone_positive + 0.1))
    right.set_xticks(range(len(order)), order, rotation=20)
    draws = records["data_seed"].nunique()
    right.set(
        ylabel="final test error",
        title=f"but not all generalise ({draws} data draws: points)",
    )
    handles, labels = left.get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        title="optimizer (tuned lr)",
        loc="lower center",
        ncol=min(5, len(labels)),
        fontsize=8,
        bbox_to_anchor=(0.5, -0.01),
    )
    fig.suptitle(QUESTION)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return save(fig, path)


def wilson_caption(result: dict) -> str:
    """Figure 13's numbers: the construction's size, each optimizer's tuned rates and mean test
    error, and any adaptive run whose weights left the direction ``sign(X^T y)``."""
    df = pd.DataFrame(result["records"])
    first = df.iloc[0]
    lines = [
        f"{df['data_seed'].nunique()} data draws of {int(first['n_train'])} training points "
        f"with {int(first['features'])} features, P(y = +1) = {fmt(float(first['p']))}, "
        f"{int(first['steps'])} full-batch steps from w = 0. Labelling every test point "
        f"positive would err on {fmt(float(df['test_negative_share'].mean()))} of them.",
    ]
    parts = []
    for opt, sub in df.groupby("optimizer", sort=False):
        kind = "adaptive" if bool(sub["adaptive"].iloc[0]) else "SGD family"
        edge = " (some on the grid's edge)" if sub["lr_on_edge"].any() else ""
        parts.append(
            f"{opt} ({kind}): test error {fmt(float(sub['test_error'].mean()))}, training "
            f"error {fmt(float(sub['train_error'].mean()))}, cosine of w with sign(X^T y) "
            f"{fmt(float(sub['cos_sign'].mean()))} and with the minimum-norm solution "
            f"{fmt(float(sub['cos_min_norm'].mean()))}; lr "
            + ", ".join(fmt(v, 2) for v in sorted(set(sub["lr"])))
            + edge
        )
    lines.append("Per optimizer (means over the draws): " + "; ".join(parts) + ".")
    off = df[df["adaptive"].astype(bool) & (df["cos_sign"] < 0.99)]
    if len(off):
        runs = ", ".join(
            f"{r.optimizer} at lr {fmt(r.lr, 2)} (draw {int(r.data_seed)}: cosine "
            f"{fmt(r.cos_sign)}, test error {fmt(r.test_error)})"
            for r in off.itertuples()
        )
        lines.append(
            f"Adaptive runs whose weights left the direction sign(X^T y) that the paper's lemma "
            f"predicts (cosine below 0.99): {runs}."
        )
    return "\n\n".join(lines)
