"""Figures 4 and 5: overfitting in a 1-D regression, its cures, and more data."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nngrid.study.figures import BAND_KWS, save, theme

Q_FITS = "Does an unregularised network chase the noise, and does each cure straighten it?"
Q_LOSSES = "Does the test loss rise while the training loss keeps falling (and with each cure)?"
Q_SIZE = "Does more data close the gap between training and test loss?"


def regression_fits(result: dict, path: str | Path) -> Path:
    """A panel per cure: training points, the true curve and the fitted curve."""
    theme()
    cures = result["cures"]
    ncols = min(3, len(cures))
    nrows = -(-len(cures) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.3 * ncols, 2.7 * nrows), squeeze=False, sharey=True
    )
    df = pd.DataFrame(result["records"])
    for ax, cure in zip(axes.flat, cures, strict=False):
        last = df[df["cure"] == cure].iloc[-1]
        ax.plot(result["x_test"], result["y_test"], color="0.5", lw=1, ls="--", label="true")
        ax.plot(result["x_test"], result[f"fit__{cure}"], color="C3", lw=1.6, label="fitted")
        ax.scatter(
            result[f"x_train__{cure}"],
            result[f"y_train__{cure}"],
            s=8,
            color="C0",
            label="training points",
            zorder=3,
        )
        ax.set(
            title=f"{cure}: train {last['train_loss']:.3f} / test {last['test_loss']:.3f}",
            ylim=(-2.2, 2.2),
            xlabel="x (standardised)",
        )
    for ax in axes.flat[len(cures) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(Q_FITS)
    fig.tight_layout()
    return save(fig, path)


def regression_losses(result: dict, path: str | Path) -> Path:
    """Train and test loss against epochs, a panel per cure (log scale)."""
    theme()
    df = pd.DataFrame(result["records"])
    long = df.melt(
        id_vars=["cure", "epoch"],
        value_vars=["train_loss", "test_loss"],
        var_name="split",
        value_name="loss",
    )
    long["split"] = long["split"].str.replace("_loss", "")
    g = sns.relplot(
        data=long,
        x="epoch",
        y="loss",
        hue="split",
        col="cure",
        col_order=result["cures"],
        col_wrap=3,
        kind="line",
        height=2.3,
        aspect=1.3,
    )
    g.set(yscale="log")
    g.set_titles("{col_name}")
    g.figure.suptitle(Q_LOSSES, y=1.03)
    return save(g.figure, path)


def data_size(records: list[dict] | pd.DataFrame, path: str | Path) -> Path:
    """Train loss, test loss and their gap against the training-set size (95% bands over seeds)."""
    theme()
    df = pd.DataFrame(records)
    long = df.melt(
        id_vars=["n_train", "seed"],
        value_vars=["train_loss", "test_loss", "gap"],
        var_name="measure",
        value_name="value",
    )
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sns.lineplot(
        data=long,
        x="n_train",
        y="value",
        hue="measure",
        marker="o",
        **BAND_KWS,
        ax=ax,
    )
    ax.set(xscale="log", xlabel="training points", ylabel="loss (MSE / 2)")
    ax.axhline(0, color="0.5", lw=0.7)
    ax.set_title(Q_SIZE)
    fig.tight_layout()
    return save(fig, path)
