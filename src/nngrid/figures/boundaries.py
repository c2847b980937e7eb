"""Figures 2 and 6: decision boundaries (nonlinearity, regularizers) and weight histograms."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nngrid.figures import save, theme

Q_NONLINEAR = "Can a network without a nonlinearity separate data no straight line separates?"
Q_REGULARIZED = "What does each regularizer do to a boundary that bends around noise?"
Q_WEIGHTS = "How does each penalty shape the weights (L1 sparse, L2 small, Lp only the large)?"


def _panel(ax, gx, gy, proba, X, y, title: str) -> None:
    """Filled P(class 1) on the mesh, the 1/2 contour (the boundary) and the points."""
    ax.contourf(gx, gy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.55)
    ax.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1.2)
    palette = sns.color_palette("RdBu_r", 2)
    sns.scatterplot(
        x=X[:, 0],
        y=X[:, 1],
        hue=y,
        palette=palette,
        s=9,
        linewidth=0.2,
        edgecolor="k",
        legend=False,
        ax=ax,
    )
    ax.set(xticks=[], yticks=[], xlabel="", ylabel="", title=title)


def nonlinearity_boundaries(result: dict, path: str | Path) -> Path:
    """Rows: datasets; columns: activations. Each panel's title gives the test accuracy."""
    theme()
    df = pd.DataFrame(result["records"])
    datasets = list(dict.fromkeys(df["dataset"]))
    acts = list(dict.fromkeys(df["activation"]))
    fig, axes = plt.subplots(
        len(datasets), len(acts), figsize=(2.3 * len(acts), 2.3 * len(datasets)), squeeze=False
    )
    for i, ds in enumerate(datasets):
        for j, act in enumerate(acts):
            acc = df[(df["dataset"] == ds) & (df["activation"] == act)]["test_accuracy"].iloc[0]
            _panel(
                axes[i, j],
                result[f"gx__{ds}"],
                result[f"gy__{ds}"],
                result[f"proba__{ds}__{act}"],
                result[f"X__{ds}"],
                result[f"y__{ds}"],
                f"{act}: test acc {acc:.2f}",
            )
        axes[i, 0].set_ylabel(ds, fontsize=11)
    fig.suptitle(Q_NONLINEAR)
    fig.tight_layout()
    return save(fig, path)


def regularizer_boundaries(result: dict, path: str | Path, labels: list[str] | None = None) -> Path:
    """One panel per regularizer label (default: every label in the result)."""
    theme()
    df = pd.DataFrame(result["records"]).set_index("label")
    labels = [lab for lab in (labels or result["labels"]) if lab in df.index]
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 2.8), squeeze=False)
    for ax, lab in zip(axes[0], labels, strict=True):
        row = df.loc[lab]
        _panel(
            ax,
            result["gx"],
            result["gy"],
            result[f"proba__{lab}"],
            result["X"],
            result["y"],
            f"{lab}\ntrain {row['train_accuracy']:.2f} / test {row['test_accuracy']:.2f}",
        )
    fig.suptitle(Q_REGULARIZED)
    fig.tight_layout()
    return save(fig, path)


def weight_histograms(result: dict, path: str | Path, labels: list[str] | None = None) -> Path:
    """Histograms of all weights per regularizer label (shared bins, log count axis).

    Drawn as steps from a baseline of 0.5 (below one weight), not bars from 0: on a log axis a
    bar from 0 starts at minus infinity and is not drawn at all (the figure came out blank)."""
    theme()
    labels = labels or result["labels"]
    labels = [lab for lab in labels if f"weights__{lab}" in result]
    info = pd.DataFrame(result["records"]).set_index("label")
    weights = {lab: np.asarray(result[f"weights__{lab}"], dtype=float) for lab in labels}
    reach = max(float(np.abs(w).max()) for w in weights.values())
    edges = np.linspace(-reach, reach, 62)
    fig, axes = plt.subplots(
        1, len(labels), figsize=(2.4 * len(labels), 2.6), sharey=True, squeeze=False
    )
    for ax, lab in zip(axes.flat, labels, strict=True):
        counts, _ = np.histogram(weights[lab], bins=edges)
        ax.stairs(counts, edges, baseline=0.5, fill=True, color="C0", alpha=0.8)
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.5)
        ax.set_xlabel("weight")
        ax.set_title(
            f"{lab}\n{info.loc[lab, 'near_zero']:.0%} of |w| < 1e-3, "
            f"max |w| {info.loc[lab, 'max_abs_weight']:.2f}",
            fontsize=8,
        )
    axes.flat[0].set_ylabel("count (log)")
    fig.suptitle(Q_WEIGHTS, y=1.05)
    fig.tight_layout()
    return save(fig, path)
