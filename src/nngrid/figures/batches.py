"""Figure 7: mini-batch vs full batch, loss against epochs and against wall-clock seconds."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nngrid.figures import BAND, BOOTSTRAP_SEED, N_BOOT, save, theme

QUESTION = "Mini-batches or the full batch: which lowers the loss faster, per epoch and per second?"


def batch_size_curves(records: list[dict] | pd.DataFrame, path: str | Path) -> Path:
    """Training loss against epochs (left) and seconds (right), a line per batch size."""
    theme()
    df = pd.DataFrame(records).sort_values(["batch_size", "epoch"])
    order = list(dict.fromkeys(df["batch"]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, x in zip(axes, ("epoch", "seconds"), strict=True):
        sns.lineplot(
            data=df,
            x=x,
            y="train_loss",
            hue="batch",
            hue_order=order,
            errorbar=BAND,
            seed=BOOTSTRAP_SEED,
            n_boot=N_BOOT,
            ax=ax,
            palette="flare",
        )
        ax.set(
            yscale="log",
            ylabel="training loss",
            xlabel="epochs" if x == "epoch" else "training seconds (validation pass included)",
        )
    axes[0].legend(title="batch size", fontsize=8)
    axes[1].get_legend().remove()
    fig.suptitle(QUESTION)
    fig.tight_layout()
    return save(fig, path)
