"""Figure 7: mini-batch vs full batch, each at its tuned rate: loss against steps and examples."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nngrid.study.figures import BAND_KWS, save, theme

QUESTION = "Mini-batches or the full batch: loss per optimizer step and per example seen"


def batch_size_curves(records: list[dict] | pd.DataFrame, path: str | Path) -> Path:
    """Training loss against optimizer steps (left) and examples seen (right), a line per batch
    size (each at its own tuned rate; the legend gives it, and says "grid edge" when the rate
    sits on the grid's edge). Log axes: steps and examples span
    decades between batch sizes."""
    theme()
    df = pd.DataFrame(records).sort_values(["batch_size", "epoch"])
    rates = df.groupby("batch", sort=False)["lr"].first()
    edge = df.groupby("batch", sort=False)["lr_on_edge"].first() if "lr_on_edge" in df else {}
    names = {
        b: f"{b} (lr {rates[b]:.2g}{', grid edge' if edge.get(b) else ''})" for b in rates.index
    }
    df["batch size (lr)"] = df["batch"].map(names)
    order = list(dict.fromkeys(df["batch size (lr)"]))
    df = df[df["epoch"] > 0]  # epoch 0 (no step yet) has no place on a log axis
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, x in zip(axes, ("steps", "examples"), strict=True):
        sns.lineplot(
            data=df,
            x=x,
            y="train_loss",
            hue="batch size (lr)",
            hue_order=order,
            **BAND_KWS,
            ax=ax,
            palette="flare",
        )
        ax.set(
            xscale="log",
            yscale="log",
            ylabel="training loss",
            xlabel="optimizer steps" if x == "steps" else "examples seen",
        )
    axes[0].legend(title="batch size (tuned lr)", fontsize=8)
    axes[1].get_legend().remove()
    fig.suptitle(QUESTION)
    fig.tight_layout()
    return save(fig, path)
