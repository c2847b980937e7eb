"""Figure 1: every activation and its derivative (the gallery)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from nngrid.figures import ordered, save, theme

QUESTION = "What does each activation look like, and what slope does it pass back?"


def activation_gallery(records: list[dict] | pd.DataFrame, path: str | Path) -> Path:
    """One panel per activation: ``f(x)`` and ``f'(x)`` (the slope backpropagation multiplies by).

    ``records`` are :func:`nngrid.experiments.activation_curves` rows
    (``activation, x, curve, value``).
    """
    theme()
    df = pd.DataFrame(records)
    order = ordered(df["activation"])
    g = sns.relplot(
        data=df,
        x="x",
        y="value",
        hue="curve",
        hue_order=["f(x)", "f'(x)"],
        col="activation",
        col_order=order,
        col_wrap=min(5, len(order)),
        kind="line",
        height=1.9,
        aspect=1.1,
        facet_kws={"sharey": False},
    )
    g.set_titles("{col_name}")
    g.set_axis_labels("x", "")
    for ax in g.axes.flat:
        ax.axhline(0, color="0.6", lw=0.6, zorder=0)
        ax.axvline(0, color="0.6", lw=0.6, zorder=0)
    g.figure.suptitle(QUESTION, y=1.03)
    return save(g.figure, path)
