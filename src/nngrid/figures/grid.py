"""Figure 9: the grid, read from the pipeline's tables (``results/tables``).

Every function takes DataFrames as :mod:`nngrid.tables` writes them (``runs``, ``summary``,
``rankings``, ``histories``) and a path, and returns the path. Diverged runs are never dropped
silently: heatmaps mark cells with a diverged run, and the other panels say how many there were.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nngrid.figures import BAND, BOOTSTRAP_SEED, N_BOOT, ordered, save, theme
from nngrid.report import panel_label

Q_HEATMAP = "Which activation x optimizer x regularizer reaches the best test accuracy?"
Q_CURVES = "How fast does each optimizer learn (tuned rate, 95% band over seeds)?"
Q_LR = "How sensitive is each optimizer to its learning rate?"
Q_TARGET = "Which optimizer reaches the target validation accuracy first?"
Q_GAP = "Which regularizer closes the train/test gap?"
Q_RANK = "Which optimizers, activations and regularizers rank best across datasets?"
Q_TUNING = "What did tuning the learning rate gain over each optimizer's default?"


def reference_cell(runs: pd.DataFrame, activation: str = "relu", regularizer: str = "none"):
    """The (activation, regularizer) the learning-curve panels show: the requested one when
    present in every dataset, else the most common pair."""
    tuned = runs[runs["arm"] == "tuned"]
    pairs = tuned.groupby(["activation", "regularizer"])["dataset"].nunique()
    if (activation, regularizer) in pairs.index:
        return activation, regularizer
    return tuple(pairs.sort_values(ascending=False).index[0])


def reference_histories(histories: pd.DataFrame, runs: pd.DataFrame):
    """The tuned arm's histories in the reference cell (a copy), and that cell's
    ``(activation, regularizer)``: what the learning curves and their caption show."""
    act, reg = reference_cell(runs)
    h = histories[
        (histories["arm"] == "tuned")
        & (histories["activation"] == act)
        & (histories["regularizer"] == reg)
    ].copy()
    return h, act, reg


def heatmaps(summary: pd.DataFrame, path: str | Path, axes_order: dict | None = None) -> Path:
    """Mean tuned test accuracy, activation (rows) x optimizer (columns); a panel per
    regularizer (columns of the figure) and dataset (rows); one colour scale for all.
    ``x`` marks a cell with at least one diverged seed, grey a trained cell without a finite
    result (every seed diverged); white cells were not part of the study. A dataset trained on a
    single activation x optimizer cell (the MNIST-1D arm) has nothing to compare and is left out.
    """
    theme()
    order = axes_order or {}
    df = summary[summary["arm"] == "tuned"].copy()
    df["panel_row"] = panel_label(df)
    cells = df.groupby("panel_row")[["activation", "optimizer"]].nunique()
    df = df[df["panel_row"].isin(cells.index[(cells > 1).any(axis=1)])]
    if df.empty:  # nothing to compare anywhere: draw what there is
        df = summary[summary["arm"] == "tuned"].copy()
        df["panel_row"] = panel_label(df)
    rows = ordered(df["panel_row"])
    regs = ordered(df["regularizer"], order.get("regularizers"))
    acts = ordered(df["activation"], order.get("activations"))
    opts = ordered(df["optimizer"], order.get("optimizers"))
    vals = df["test_accuracy_mean"].to_numpy(dtype=float)
    vmin = float(np.nanmin(vals)) if np.isfinite(vals).any() else 0.0
    vmax = float(np.nanmax(vals)) if np.isfinite(vals).any() else 1.0
    w = 0.42 * len(opts) + 0.6
    h = 0.32 * len(acts) + 0.7
    fig, axes = plt.subplots(
        len(rows),
        len(regs),
        figsize=(max(w * len(regs) + 1.2, 7.0), h * len(rows) + 0.8),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    for i, row in enumerate(rows):
        for j, reg in enumerate(regs):
            ax = axes[i, j]
            cell = df[(df["panel_row"] == row) & (df["regularizer"] == reg)]
            acc = cell.pivot_table(
                index="activation", columns="optimizer", values="test_accuracy_mean", dropna=False
            )
            acc = acc.reindex(index=acts, columns=opts)
            div = cell.pivot_table(
                index="activation", columns="optimizer", values="diverged", aggfunc="sum"
            ).reindex(index=acts, columns=opts)
            sns.heatmap(
                acc,
                ax=ax,
                vmin=vmin,
                vmax=vmax,
                cmap="viridis",
                cbar=False,
                linewidths=0.3,
                linecolor="white",
                square=False,
            )
            ax.set_facecolor("white")
            for (a, o), n in div.stack().items():
                if np.isnan(acc.loc[a, o]):  # trained, but no seed gave a finite result
                    ax.add_patch(
                        plt.Rectangle((opts.index(o), acts.index(a)), 1, 1, color="0.8", lw=0)
                    )
                if n and n > 0:
                    ax.text(
                        opts.index(o) + 0.5,
                        acts.index(a) + 0.5,
                        "x",
                        ha="center",
                        va="center",
                        color="red",
                        fontsize=9,
                        fontweight="bold",
                    )
            ax.set(xlabel="", ylabel=row if j == 0 else "", title=reg if i == 0 else "")
            ax.tick_params(axis="x", rotation=90, labelsize=7)
            ax.tick_params(axis="y", labelsize=7)
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(vmin, vmax))
    fig.colorbar(sm, ax=axes, fraction=0.02, pad=0.01, label="mean test accuracy (tuned)")
    fig.suptitle(
        Q_HEATMAP + "\n(x: a seed diverged; grey: every seed diverged; white: not in the study)",
        y=1.0 + 0.55 / fig.get_figheight(),
    )
    return save(fig, path)


def learning_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    path: str | Path,
    optimizers: list[str] | None = None,
) -> Path:
    """Validation accuracy (and training loss) against epochs for the tuned arm of the
    reference cell (:func:`reference_cell`), a line per optimizer, 95% bootstrap bands over
    seeds; a column per dataset."""
    theme()
    h, act, reg = reference_histories(histories, runs)
    h["panel"] = panel_label(h)
    long = h.melt(
        id_vars=["panel", "optimizer", "seed", "epoch"],
        value_vars=["val_accuracy", "train_loss"],
        var_name="measure",
    )
    g = sns.relplot(
        data=long,
        x="epoch",
        y="value",
        hue="optimizer",
        hue_order=ordered(long["optimizer"], optimizers),
        col="panel",
        row="measure",
        kind="line",
        errorbar=BAND,
        seed=BOOTSTRAP_SEED,
        n_boot=N_BOOT,
        height=2.4,
        aspect=1.3,
        facet_kws={"sharey": "row", "margin_titles": True},
    )
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    g.figure.suptitle(f"{Q_CURVES}\n(activation {act}, regularizer {reg})", y=1.06)
    return save(g.figure, path)


def lr_sensitivity(
    runs: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Validation accuracy of the tuning runs against the learning rate, a line per optimizer,
    mean and 95% band over the cells (activations x regularizers); a column per dataset.
    Diverged tuning runs count as accuracy 0 here (and are counted in the caption)."""
    theme()
    tune = runs[runs["arm"] == "tune"].copy()
    tune["panel"] = panel_label(tune)
    tune["val_accuracy"] = tune["val_accuracy"].where(~tune["diverged"], 0.0).fillna(0.0)
    g = sns.relplot(
        data=tune,
        x="lr",
        y="val_accuracy",
        hue="optimizer",
        hue_order=ordered(tune["optimizer"], optimizers),
        col="panel",
        kind="line",
        marker="o",
        errorbar=BAND,
        seed=BOOTSTRAP_SEED,
        n_boot=N_BOOT,
        height=2.8,
        aspect=1.2,
    )
    g.set(xscale="log")
    g.set_titles("{col_name}")
    g.set_axis_labels("learning rate", "validation accuracy")
    g.figure.suptitle(Q_LR + "  (diverged = 0)", y=1.04)
    return save(g.figure, path)


def time_to_target(
    runs: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Seconds to the target validation accuracy of every tuned run (all cells, all seeds), per
    optimizer; runs that never reached it sit on the 'never' line at the right, and the share
    that did is in the tick label."""
    theme()
    tuned = runs[runs["arm"] == "tuned"].copy()
    tuned["panel"] = panel_label(tuned)
    finite = tuned["seconds_to_target"].replace(np.inf, np.nan)
    never = float(np.nanmax(finite)) * 1.15 if finite.notna().any() else 1.0
    tuned["seconds to target"] = finite.fillna(never)
    opts = ordered(tuned["optimizer"], optimizers)
    panels = ordered(tuned["panel"])
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(4.2 * len(panels), 0.45 * len(opts) + 1.5),
        squeeze=False,
        sharex=True,
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        sub = tuned[tuned["panel"] == panel]
        sns.boxplot(
            data=sub,
            x="seconds to target",
            y="optimizer",
            order=opts,
            ax=ax,
            color="0.85",
            fliersize=0,
        )
        sns.stripplot(
            data=sub,
            x="seconds to target",
            y="optimizer",
            order=opts,
            ax=ax,
            size=2.5,
            alpha=0.6,
            jitter=False,
        )
        share = sub.groupby("optimizer")["seconds_to_target"].apply(
            lambda s: float(np.isfinite(s).mean())
        )
        ax.set_yticks(range(len(opts)), [f"{o} ({share.get(o, 0):.0%})" for o in opts])
        ax.axvline(never, color="red", lw=0.8, ls="--")
        ax.text(never, -0.6, "never", color="red", fontsize=7, ha="center")
        ax.set(title=panel, ylabel="")
    fig.suptitle(Q_TARGET + "  (share of runs that reached it)")
    fig.tight_layout()
    return save(fig, path)


def _differences(
    data: pd.DataFrame,
    x: str,
    y: str,
    order: list[str] | None,
    xlabel: str,
    title: str,
    path: str | Path,
) -> Path:
    """The difference ``x`` per level of ``y`` (mean and 95% band), a column per ``panel``, with
    a line at zero."""
    g = sns.catplot(
        data=data,
        x=x,
        y=y,
        order=ordered(data[y], order),
        col="panel",
        kind="point",
        errorbar=BAND,
        seed=BOOTSTRAP_SEED,
        n_boot=N_BOOT,
        linestyle="none",
        height=2.8,
        aspect=1.2,
    )
    for ax in g.axes.flat:
        ax.axvline(0, color="0.5", lw=0.7)
    g.set_titles("{col_name}")
    g.set_axis_labels(xlabel, "")
    g.figure.suptitle(title, y=1.04)
    return save(g.figure, path)


def generalization_gap(
    runs: pd.DataFrame, path: str | Path, regularizers: list[str] | None = None
) -> Path:
    """Train minus test accuracy of the tuned runs per regularizer (mean, 95% interval over
    every cell and seed), a column per dataset; diverged runs are left out and counted."""
    theme()
    tuned = runs[(runs["arm"] == "tuned") & ~runs["diverged"]].copy()
    tuned["panel"] = panel_label(tuned)
    tuned["gap"] = tuned["train_accuracy"] - tuned["test_accuracy"]
    return _differences(
        tuned, "gap", "regularizer", regularizers, "train - test accuracy", Q_GAP, path
    )


def rankings(table: pd.DataFrame, path: str | Path) -> Path:
    """Mean tuned test accuracy with its 95% t interval for each level of each factor, a
    marker per dataset; levels sorted by their mean rank across datasets."""
    theme()
    df = table.copy()
    df["panel"] = panel_label(df)
    factors = ordered(df["factor"], ["optimizer", "activation", "regularizer"])
    fig, axes = plt.subplots(1, len(factors), figsize=(4.2 * len(factors), 3.6), squeeze=False)
    panels = ordered(df["panel"])
    colors = dict(zip(panels, sns.color_palette("tab10", len(panels)), strict=True))
    for ax, factor in zip(axes[0], factors, strict=True):
        sub = df[df["factor"] == factor]
        levels = sub.groupby("level")["rank"].mean().sort_values().index.tolist()
        offsets = np.linspace(-0.2, 0.2, len(panels)) if len(panels) > 1 else [0.0]
        for off, panel in zip(offsets, panels, strict=True):
            p = sub[sub["panel"] == panel].set_index("level").reindex(levels)
            y = np.arange(len(levels)) + off
            err = np.vstack([p["mean"] - p["ci_low"], p["ci_high"] - p["mean"]])
            ax.errorbar(
                p["mean"],
                y,
                xerr=np.nan_to_num(err),
                fmt="o",
                ms=4,
                capsize=2,
                color=colors[panel],
                label=panel,
            )
        mean_rank = sub.groupby("level")["rank"].mean()
        ax.set_yticks(range(len(levels)), [f"{lv} (rank {mean_rank[lv]:.1f})" for lv in levels])
        ax.invert_yaxis()
        ax.set(title=factor, xlabel=str(sub["metric"].iloc[0]).replace("_", " "))
    axes[0, -1].legend(fontsize=7, loc="lower right")
    fig.suptitle(Q_RANK)
    fig.tight_layout()
    return save(fig, path)


def tuning_gain_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per cell: tuned minus untuned mean test accuracy (``gain``), with both means."""
    keys = ["study", "dataset", "activation", "regularizer", "optimizer"]
    wide = summary.pivot_table(
        index=keys, columns="arm", values="test_accuracy_mean", dropna=False
    ).reset_index()
    for arm in ("tuned", "untuned"):
        if arm not in wide:
            wide[arm] = np.nan
    wide["gain"] = wide["tuned"] - wide["untuned"]
    return wide


def tuning_gain(
    summary: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Tuned minus untuned mean test accuracy per cell, per optimizer (mean and 95% band over
    cells), a column per dataset."""
    theme()
    gain = tuning_gain_table(summary)
    gain["panel"] = panel_label(gain)
    return _differences(
        gain, "gain", "optimizer", optimizers, "tuned - untuned test accuracy", Q_TUNING, path
    )
