"""Figures 2 and 6: decision boundaries (nonlinearity, regularizers) and weight histograms."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nngrid.study.figures import save, theme

Q_NONLINEAR = "Can a network without a nonlinearity separate data no straight line separates?"
Q_REGULARIZED = "What does each regularizer do to a boundary that bends around noise?"
Q_WEIGHTS = "How does each penalty shape the weights (L1 sparse, L2 small, Lp only the large)?"


#: Background: P(class 1) in light tints; points: saturated colours with distinct markers.
_BACKGROUND = "RdBu_r"
_CLASS_STYLE = {0: ("#08306b", "o"), 1: ("#a50f15", "^")}


def _panel(ax, gx, gy, proba, X, y, title: str):
    """Filled P(class 1) on the mesh (light), the 1/2 contour (the boundary, black) and the
    training points (dark blue circles: class 0, dark red triangles: class 1, white edges)."""
    filled = ax.contourf(
        gx, gy, proba, levels=np.linspace(0, 1, 11), cmap=_BACKGROUND, alpha=0.3, vmin=0, vmax=1
    )
    ax.contour(gx, gy, proba, levels=[0.5], colors="k", linewidths=1.4)
    for cls, (colour, marker) in _CLASS_STYLE.items():
        pts = X[np.asarray(y) == cls]
        ax.scatter(
            pts[:, 0],
            pts[:, 1],
            s=13,
            c=colour,
            marker=marker,
            edgecolors="white",
            linewidths=0.4,
            label=f"class {cls}",
        )
    ax.set(xticks=[], yticks=[], xlabel="", ylabel="", title=title)
    return filled


def _legend_and_colourbar(fig, axes, filled) -> None:
    """One colour bar for P(class 1) and one legend for the point markers, outside the panels."""
    cbar = fig.colorbar(filled, ax=list(np.ravel(axes)), fraction=0.025, pad=0.02)
    cbar.set_label("P(class 1) (black line: 0.5, the boundary)")
    handles = [
        plt.Line2D([], [], color=c, marker=m, ls="", mec="white", ms=6, label=f"class {k}")
        for k, (c, m) in _CLASS_STYLE.items()
    ]
    fig.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.45, 0.0),
        ncol=2,
        title="training points",
    )


def nonlinearity_boundaries(result: dict, path: str | Path) -> Path:
    """Rows: datasets; columns: activations. Each panel's title gives the test accuracy."""
    theme()
    df = pd.DataFrame(result["records"])
    datasets = list(dict.fromkeys(df["dataset"]))
    acts = list(dict.fromkeys(df["activation"]))
    fig, axes = plt.subplots(
        len(datasets), len(acts), figsize=(2.3 * len(acts), 2.3 * len(datasets)), squeeze=False
    )
    filled = None
    for i, ds in enumerate(datasets):
        for j, act in enumerate(acts):
            acc = df[(df["dataset"] == ds) & (df["activation"] == act)]["test_accuracy"].iloc[0]
            filled = _panel(
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
    _legend_and_colourbar(fig, axes, filled)
    return save(fig, path)


def regularizer_boundaries(result: dict, path: str | Path, labels: list[str] | None = None) -> Path:
    """One panel per regularizer label (default: every label in the result)."""
    theme()
    df = pd.DataFrame(result["records"]).set_index("label")
    labels = [lab for lab in (labels or result["labels"]) if lab in df.index]
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels), 2.8), squeeze=False)
    filled = None
    for ax, lab in zip(axes[0], labels, strict=True):
        row = df.loc[lab]
        filled = _panel(
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
    _legend_and_colourbar(fig, axes, filled)
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
