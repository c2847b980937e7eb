"""Figure 1: every activation and its derivative (the gallery)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nngrid.study.figures import ordered, save, theme

QUESTION = "What does each activation look like, and what slope does it pass back?"


def activation_gallery(records: list[dict] | pd.DataFrame, path: str | Path) -> Path:
    """Per activation a column, ``f(x)`` above its slope ``f'(x)`` (what backpropagation
    multiplies by); every ``f`` panel shares one y-scale and every ``f'`` panel another, so
    shapes and slopes compare across activations. Each slope panel states the smallest and
    largest slope on the range (a leaky relu's 0.01 would otherwise be a hair above zero).

    ``records`` are :func:`nngrid.study.experiments.activation_curves` rows
    (``activation, x, curve, value``).
    """
    theme()
    df = pd.DataFrame(records)
    order = ordered(df["activation"])
    ncol = min(5, len(order))
    blocks = -(-len(order) // ncol)
    # a subfigure per row of activations keeps each f(x) next to its own f'(x)
    fig = plt.figure(figsize=(2.05 * ncol, 3.1 * blocks + 0.5), layout="constrained")
    subs = np.atleast_1d(fig.subfigures(blocks, 1, hspace=0.04))
    axes = np.vstack([sub.subplots(2, ncol, squeeze=False) for sub in subs])
    f_axes, d_axes = [], []
    for k, act in enumerate(order):
        b, j = divmod(k, ncol)
        top, bottom = axes[2 * b, j], axes[2 * b + 1, j]
        sub = df[df["activation"] == act]
        f = sub[sub["curve"] == "f(x)"]
        d = sub[sub["curve"] == "f'(x)"]
        top.plot(f["x"], f["value"], color="C0", lw=1.5)
        bottom.plot(d["x"], d["value"], color="C1", lw=1.5)
        lo, hi = float(d["value"].min()), float(d["value"].max())
        bottom.set_title(f"slope {lo:.2g} to {hi:.2g}", fontsize=8, color="C1")
        top.set_title(act, fontsize=9)
        for ax in (top, bottom):
            ax.axhline(0, color="0.6", lw=0.6, zorder=0)
            ax.axvline(0, color="0.6", lw=0.6, zorder=0)
            ax.tick_params(labelsize=7)
        top.set_xticklabels([])
        bottom.set_xlabel("x", fontsize=8)
        if j == 0:
            top.set_ylabel("f(x)", fontsize=9)
            bottom.set_ylabel("f'(x) (slope)", fontsize=9)
        f_axes.append(top)
        d_axes.append(bottom)
    for group in (f_axes, d_axes):
        lo = min(ax.get_ylim()[0] for ax in group)
        hi = max(ax.get_ylim()[1] for ax in group)
        for ax in group:
            ax.set_ylim(lo, hi)
            if ax not in (axes[r, 0] for r in range(2 * blocks)):
                ax.set_yticklabels([])
    for k in range(len(order), blocks * ncol):
        b, j = divmod(k, ncol)
        axes[2 * b, j].axis("off")
        axes[2 * b + 1, j].axis("off")
    fig.suptitle(QUESTION + "\n(one y-scale for every f, one for every slope)", fontsize=10)
    return save(fig, path)
