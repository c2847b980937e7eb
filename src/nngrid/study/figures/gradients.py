"""Figure 3: per-layer gradient norms by depth, activation and initializer."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from nngrid.study.figures import BAND_KWS, save, theme

QUESTION = "Where do gradients vanish or explode, by depth, activation and initializer?"


def gradient_flow(result: dict, path: str | Path) -> Path:
    """``||dL/dW_l||`` against layer ``l`` (1 = input side), a line per depth; columns are
    activations, rows ``initializer, stage`` (at initialisation / after training). Bands: 95%
    bootstrap intervals over seeds. Log scale: a straight falling line is geometric decay."""
    theme()
    df = pd.DataFrame(result["records"])
    df["panel"] = df["init"] + ", " + df["stage"]
    rows = [f"{i}, {s}" for i in dict.fromkeys(df["init"]) for s in ("init", "trained")]
    g = sns.relplot(
        data=df,
        x="layer",
        y="grad_norm",
        hue="depth",
        palette="viridis",
        col="activation",
        row="panel",
        row_order=rows,
        kind="line",
        marker="o",
        markersize=3,
        **BAND_KWS,
        height=2.2,
        aspect=1.3,
        facet_kws={"sharey": True, "margin_titles": True},
    )
    g.set(yscale="log")
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    g.set_axis_labels("layer (1 = next to the input)", "||dL/dW||")
    g.figure.suptitle(QUESTION, y=1.02)
    return save(g.figure, path)


Q_DEPTH = "Does depth break a careless choice once the shallow nets have converged?"


def depth_accuracy(result: dict, path: str | Path) -> Path:
    """Final test accuracy against depth, a line per activation, a panel per initializer
    (bands: 95% bootstrap intervals over seeds)."""
    theme()
    df = pd.DataFrame(result["accuracy"])
    g = sns.relplot(
        data=df,
        x="depth",
        y="test_accuracy",
        hue="activation",
        col="init",
        kind="line",
        marker="o",
        **BAND_KWS,
        height=2.6,
        aspect=1.1,
    )
    g.set(xscale="log", ylim=(0, 1.02))
    depths = sorted(df["depth"].unique())
    for ax in g.axes.flat:
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.minorticks_off()
    g.set_titles("{col_name}")
    g.set_axis_labels("hidden layers", "test accuracy")
    g.figure.suptitle(Q_DEPTH, y=1.04)
    return save(g.figure, path)
