"""Figure 9: the grid, read from the pipeline's tables (``results/tables``).

Every function takes DataFrames as :mod:`nngrid.study.tables` writes them (``runs``, ``summary``,
``rankings``, ``histories``) and a path, and returns the path. Diverged runs are never dropped
silently: heatmaps mark cells with a diverged run, and the other panels say how many there were.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nngrid.study.figures import BAND_KWS, ordered, save, theme
from nngrid.study.tables import lr_tuning_rows, score, tasks

Q_HEATMAP = "Which activation x optimizer x regularizer reaches the best test accuracy?"
Q_CURVES = "How fast does each optimizer learn (tuned rate, 95% band over seeds)?"
Q_LR = "How sensitive is each optimizer to its learning rate?"
Q_TARGET = "Which optimizer reaches the target validation accuracy first?"
Q_GAP = "Which regularizer closes the train/test gap?"
Q_RANK = "Which optimizers, activations and regularizers rank best across datasets?"
Q_TUNING = "What did tuning the learning rate gain over each optimizer's default?"
#: Appended to a question when a regression dataset is in the figure (no accuracy there).
FOR_REGRESSION = " (loss for regression)"


def _any_regression(df: pd.DataFrame) -> bool:
    return bool((tasks(df) == "regression").any())


def with_score(df: pd.DataFrame, split: str = "val", diverged_accuracy: float | None = None):
    """A copy of ``df`` with ``task`` and ``score``: the ``split`` accuracy of a classification
    row, its loss for a regression row (:func:`nngrid.study.tables.score`); a diverged
    classification row scores ``diverged_accuracy`` when given."""
    out = df.copy()
    out["task"] = tasks(out)
    acc = out[f"{split}_accuracy"] if f"{split}_accuracy" in out else np.nan
    if diverged_accuracy is not None and f"{split}_accuracy" in out:
        acc = acc.where(~out["diverged"].astype(bool), diverged_accuracy).fillna(diverged_accuracy)
    out["score"] = np.where(out["task"] == "regression", out[f"{split}_loss"], acc)
    return out


def panel_label(df: pd.DataFrame) -> pd.Series:
    """``dataset`` (or ``study/dataset`` when a dataset appears in several studies): the panel
    names of the figures and the labels of their captions."""
    if "study" in df and df.groupby("dataset")["study"].nunique().max() > 1:
        return df["study"].astype(str) + "/" + df["dataset"].astype(str)
    return df["dataset"].astype(str)


def one_protocol(*tables: pd.DataFrame) -> tuple:
    """``(protocol, *tables)``: each table's rows of the studies of one tuning protocol, the
    first of ``lr``, ``full``, ``default`` that ran (claims' order), and that protocol's name;
    ``""`` and the tables unchanged when they hold a single protocol (or none). The grid's
    figures show one protocol's studies, never two protocols' cells averaged together: the
    protocols meet in the claims, side by side, and in figure 14."""
    from nngrid.study.claims.core import PROTOCOL_ORDER

    summary = tables[1] if len(tables) > 1 else tables[0]
    if "protocol" not in summary or "study" not in summary:
        return ("", *tables)
    by_study = summary.groupby("study")["protocol"].first().fillna("lr")
    ran = set(by_study)
    if len(ran) < 2:
        return ("", *tables)
    protocol = next((p for p in PROTOCOL_ORDER if p in ran), sorted(ran)[0])
    studies = set(by_study.index[by_study == protocol])
    return (protocol, *(t[t["study"].isin(studies)] if "study" in t else t for t in tables))


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
    ``(activation, regularizer)``: what the learning curves and their caption show. Of a
    dataset's data draws only the first (smallest data seed) is shown: one panel per dataset,
    not per draw, so the figure stays readable."""
    from nngrid.study.seeds import first_draws

    act, reg = reference_cell(runs)
    h = histories[
        (histories["arm"] == "tuned")
        & (histories["activation"] == act)
        & (histories["regularizer"] == reg)
    ].copy()
    return h[h["dataset"].isin(first_draws(h["dataset"].unique()))], act, reg


def _ink(rgba) -> str:
    """Dark or white text for a cell of colour ``rgba``: by its relative luminance (WCAG's sRGB
    formula), dark on a light cell, white on a dark one."""
    c = np.asarray(rgba[:3], dtype=float)
    lin = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return ".15" if float(lin @ [0.2126, 0.7152, 0.0722]) > 0.408 else "white"


def heatmap_panel(
    ax, table: pd.DataFrame, norm, cmap: str, fmt: str, annotate: bool, fontsize: float
) -> None:
    """One heatmap panel: ``table``'s values as coloured cells (rows top to bottom, a white
    grid between cells, NaN left blank), each annotated with its value when ``annotate``, the
    row and column names as tick labels at the cells' centres.

    Drawn with matplotlib directly: seaborn's heatmap draws the whole figure once per panel
    (to see whether its tick labels overlap), which made a figure of n panels cost n full
    renders, minutes for the default study's hundred panels."""
    values = table.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    mesh = ax.pcolormesh(
        np.ma.masked_invalid(values),
        cmap=cmap,
        norm=norm,
        edgecolors="white",
        linewidth=0.5,
    )
    ax.set_xlim(0, n_cols)
    ax.set_ylim(n_rows, 0)
    ax.set_xticks(np.arange(n_cols) + 0.5, [str(c) for c in table.columns])
    ax.set_yticks(np.arange(n_rows) + 0.5, [str(i) for i in table.index])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if not annotate:
        return
    colours = mesh.to_rgba(values.ravel()).reshape(n_rows, n_cols, 4)
    for i in range(n_rows):
        for j in range(n_cols):
            if np.isfinite(values[i, j]):
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    format(values[i, j], fmt),
                    ha="center",
                    va="center",
                    color=_ink(colours[i, j]),
                    fontsize=fontsize,
                )


#: Heatmap panels per row of the figure (regularizers wrap onto further rows).
HEATMAP_WRAP = 3


def heatmaps(summary: pd.DataFrame, path: str | Path, axes_order: dict | None = None) -> Path:
    """Mean tuned test accuracy, activation (rows) x optimizer (columns), a panel per
    regularizer (wrapped, :data:`HEATMAP_WRAP` to a row) and a block of panels per dataset, each
    dataset with its own colour scale and colour bar (datasets differ in how hard they are).
    In each cell: its accuracy; ``x`` marks a cell with at least one diverged seed, a black
    triangle in the corner a cell whose tuned rate sits on the grid's edge, grey a trained cell
    without a finite result (every seed diverged); white cells were not part of the study. A
    dataset trained on a single activation x optimizer cell (the MNIST-1D arm) has nothing to
    compare and is left out.
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
    blocks = ordered(df["panel_row"])
    regs = ordered(df["regularizer"], order.get("regularizers"))
    acts = ordered(df["activation"], order.get("activations"))
    opts = ordered(df["optimizer"], order.get("optimizers"))
    ncol = min(HEATMAP_WRAP, len(regs))
    nrow_per = -(-len(regs) // ncol)
    cw, ch = 0.36, 0.3  # inches per cell
    pw, ph = cw * len(opts) + 0.9, ch * len(acts) + 0.75
    fig, axes = plt.subplots(
        nrow_per * len(blocks),
        ncol,
        figsize=(pw * ncol + 1.4, ph * nrow_per * len(blocks) + 0.9),
        squeeze=False,
        layout="constrained",
    )
    annotate = len(opts) <= 8
    regression = _any_regression(df)
    for b, block in enumerate(blocks):
        sub = df[df["panel_row"] == block]
        column, what, larger = score(tasks(sub).iloc[0])
        column += "_mean"
        vals = sub[column].to_numpy(dtype=float)
        finite = vals[np.isfinite(vals)]
        vmin = float(finite.min()) if finite.size else 0.0
        vmax = float(finite.max()) if finite.size else 1.0
        if vmax - vmin < 0.02 and larger:
            vmin, vmax = vmin - 0.01, vmax + 0.01
        cmap = "viridis" if larger else "viridis_r"  # bright = good for accuracy and loss
        norm = plt.Normalize(vmin, vmax)
        block_axes = axes[b * nrow_per : (b + 1) * nrow_per].ravel()
        for k, ax in enumerate(block_axes):
            if k >= len(regs):
                ax.axis("off")
                continue
            reg = regs[k]
            cell = sub[sub["regularizer"] == reg]
            acc = cell.pivot_table(
                index="activation", columns="optimizer", values=column, dropna=False
            ).reindex(index=acts, columns=opts)
            div = cell.pivot_table(
                index="activation", columns="optimizer", values="diverged", aggfunc="sum"
            ).reindex(index=acts, columns=opts)
            edge = (
                cell.assign(edge=cell["lr_on_edge"].astype(float))
                .pivot_table(index="activation", columns="optimizer", values="edge", aggfunc="max")
                .reindex(index=acts, columns=opts)
            )
            heatmap_panel(
                ax,
                acc,
                norm=norm,
                cmap=cmap,
                fmt=".2f" if larger else ".3g",
                annotate=annotate,
                fontsize=6.5,
            )
            ax.set_facecolor("white")
            for (a, o), n in div.stack().items():
                i, j = acts.index(a), opts.index(o)
                if np.isnan(acc.loc[a, o]):  # trained, but no seed gave a finite result
                    ax.add_patch(plt.Rectangle((j, i), 1, 1, color="0.8", lw=0))
                if n and n > 0:
                    ax.text(
                        j + 0.97,
                        i + 0.03,
                        "x",
                        ha="right",
                        va="top",
                        color="red",
                        fontsize=7,
                        fontweight="bold",
                    )
            for (a, o), on_edge in edge.stack().items():
                if on_edge > 0:
                    i, j = acts.index(a), opts.index(o)
                    ax.add_patch(
                        plt.Polygon(
                            [(j, i + 1), (j + 0.22, i + 1), (j, i + 0.72)],
                            closed=True,
                            color="black",
                            lw=0,
                        )
                    )
            ax.set_title(f"{block}: {reg}", fontsize=9)
            ax.set(xlabel="", ylabel="")
            ax.tick_params(axis="x", rotation=60, labelsize=8)
            ax.tick_params(axis="y", rotation=0, labelsize=8)
            if k % ncol:
                ax.set_yticklabels([])
            for t in ax.get_xticklabels():
                t.set_ha("right")
                t.set_rotation_mode("anchor")
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
        fig.colorbar(
            sm,
            ax=list(block_axes),
            fraction=0.03,
            pad=0.02,
            label=f"mean {what}" + ("" if larger else " (lower is better)"),
        )
    fig.suptitle(
        Q_HEATMAP.rstrip("?")
        + (FOR_REGRESSION if regression else "")
        + "?\n(rows: activation, columns: optimizer; x: a seed diverged; "
        "black corner: tuned rate on the grid's edge;\ngrey: every seed diverged; "
        "white: not in the study; a colour scale per dataset)",
        fontsize=10,
    )
    return save(fig, path)


#: With more optimizers than the eye separates by colour (about six), the learning curves split
#: them into two groups: plain (no per-parameter step size; the class attribute ``plain`` of
#: the optimizer, :func:`is_plain`) and adaptive.
MAX_COLOURS = 6


def is_plain(optimizer: str) -> bool:
    """Whether ``optimizer`` declares itself plain (``plain = True`` on its class); a name that
    is not a registered optimizer counts as adaptive."""
    from nngrid.core.optim import OPTIMIZERS

    return optimizer in OPTIMIZERS and bool(getattr(OPTIMIZERS.get(optimizer), "plain", False))


def learning_curves(
    histories: pd.DataFrame,
    runs: pd.DataFrame,
    path: str | Path,
    optimizers: list[str] | None = None,
) -> Path:
    """Validation accuracy and training loss (log axis) against epochs for the tuned arm of the
    reference cell (:func:`reference_cell`), a line per optimizer (colour and dash), 95%
    bootstrap bands over seeds; a column per dataset. With more than :data:`MAX_COLOURS`
    optimizers, each dataset gets two columns: plain (SGD, momentum, Nesterov: :func:`is_plain`)
    and adaptive."""
    theme()
    h, act, reg = reference_histories(histories, runs)
    h = with_score(h)
    regression = h["task"] == "regression"
    h["panel"] = panel_label(h)
    mixed = regression.any() and not regression.all()
    if mixed:
        h["panel"] = h["panel"].where(~regression, h["panel"] + " (regression)")
    opts = ordered(h["optimizer"], optimizers)
    h = _split_families(h, opts)
    first = (
        "validation loss (log)"
        if regression.all()
        else "validation accuracy" + (" / loss (log)" if mixed else "")
    )
    names = {"score": first, "train_loss": "training loss (log)"}
    long = h.melt(
        id_vars=["panel", "optimizer", "seed", "epoch"],
        value_vars=list(names),
        var_name="measure",
    )
    long["measure"] = long["measure"].map(names)
    g = sns.relplot(
        **_optimizer_panels(long, opts),
        x="epoch",
        y="value",
        row="measure",
        row_order=list(names.values()),
        kind="line",
        **BAND_KWS,
        height=2.3,
        aspect=1.15,
        facet_kws={"sharey": False if mixed else "row", "margin_titles": True},
    )
    for ax in g.axes[1]:
        ax.set_yscale("log")
    log_panels = set(h.loc[regression, "panel"])
    for ax, panel in zip(g.axes[0], g.col_names, strict=True):
        if panel in log_panels:
            ax.set_yscale("log")
    g.set_titles(row_template="{row_name}", col_template="{col_name}")
    g.set_axis_labels("epoch", "")
    g.figure.suptitle(f"{Q_CURVES}\n(activation {act}, regularizer {reg})", y=1.06)
    return save(g.figure, path)


def _optimizer_panels(df: pd.DataFrame, opts: list[str]) -> dict:
    """``relplot`` arguments for ``df`` drawn as a column per ``panel`` (in the panels' order)
    and a line per optimizer in ``opts``: its own colour (colorblind palette) and dash, in that
    order (the learning curves and the learning-rate figure)."""
    palette = dict(zip(opts, sns.color_palette("colorblind", len(opts)), strict=True))
    return {
        "data": df,
        "col": "panel",
        "col_order": ordered(df["panel"]),
        "hue": "optimizer",
        "hue_order": opts,
        "style": "optimizer",
        "style_order": opts,
        "palette": palette,
    }


def _split_families(df: pd.DataFrame, opts: list[str]) -> pd.DataFrame:
    """With more optimizers than :data:`MAX_COLOURS`, each panel becomes two: plain and
    adaptive (``panel`` gets a suffix), so no panel holds more lines than the eye separates."""
    if len(opts) > MAX_COLOURS:
        plain = [name for name in df["optimizer"].unique() if is_plain(name)]
        family = np.where(df["optimizer"].isin(plain), "plain", "adaptive")
        df["panel"] = df["panel"] + ": " + family
    return df


def lr_sensitivity(
    runs: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Validation accuracy of the tuning runs against the learning rate (log axis), a line per
    optimizer (colour and dash), mean and 95% band over the cells (activations x
    regularizers); a column per dataset, split into plain and adaptive optimizers when there
    are more than :data:`MAX_COLOURS`. Diverged tuning runs count as accuracy 0 here (and are
    counted in the caption)."""
    theme()
    tune = with_score(lr_tuning_rows(runs), diverged_accuracy=0.0)
    regression = tune["task"] == "regression"
    tune["panel"] = panel_label(tune)
    opts = ordered(tune["optimizer"], optimizers)
    tune = _split_families(tune, opts)
    g = sns.relplot(
        **_optimizer_panels(tune, opts),
        x="lr",
        y="score",
        col_wrap=min(4, tune["panel"].nunique()),
        kind="line",
        marker="o",
        **BAND_KWS,
        height=2.6,
        aspect=1.15,
        facet_kws={"sharex": False, "sharey": not regression.any()},
    )
    g.set(xscale="log")
    g.set_titles("{col_name}")
    g.set_axis_labels("learning rate (log)", "validation accuracy")
    for panel, ax in g.axes_dict.items():
        if panel in set(tune.loc[regression, "panel"]):
            ax.set(yscale="log", ylabel="validation loss (log)")
    note = "  (accuracy: diverged = 0; loss: diverged left out)" if regression.any() else ""
    g.figure.suptitle(Q_LR + (note or "  (diverged = 0)"), y=1.04)
    return save(g.figure, path)


def target_measure(runs: pd.DataFrame) -> tuple[str, str]:
    """The column time to target is measured in, and its axis label: optimizer steps
    (``steps_to_target``) when the tables have it, else epochs."""
    if "steps_to_target" in runs:
        return "steps_to_target", "optimizer steps to target"
    return "epochs_to_target", "epochs to target"


def time_to_target(
    runs: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Optimizer steps (epochs when the tables lack steps) to the target validation accuracy of
    every tuned run (all cells, all seeds), per optimizer, a panel per dataset with its own axis
    (log when the times span more than a decade) and only the optimizers that dataset trained.
    Runs that never reached the target sit on the red 'never' line at the right; the share that
    did is in the tick label."""
    theme()
    column, label = target_measure(runs)
    tuned = runs[runs["arm"] == "tuned"].copy()
    tuned["panel"] = panel_label(tuned)
    skipped = ordered(tuned.loc[tasks(tuned) == "regression", "panel"])
    tuned = tuned[tasks(tuned) == "classification"]  # the target is an accuracy
    if tuned.empty:
        return _not_measured(
            path,
            Q_TARGET,
            f"Not measured: the target is a validation accuracy, and {', '.join(skipped)} "
            f"{'is a regression' if len(skipped) == 1 else 'are regressions'}.",
        )
    panels = ordered(tuned["panel"])
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(3.6 * len(panels) + 0.6, 0.42 * tuned["optimizer"].nunique() + 1.6),
        squeeze=False,
    )
    for ax, panel in zip(axes[0], panels, strict=True):
        sub = tuned[tuned["panel"] == panel].copy()
        opts = ordered(sub["optimizer"], optimizers)
        finite = sub[column].astype(float).replace([np.inf, -np.inf], np.nan)
        lo = float(finite.min()) if finite.notna().any() else 1.0
        hi = float(finite.max()) if finite.notna().any() else 1.0
        log = lo > 0 and hi / lo > 10
        never = hi * (1.6 if log else 1.15) if hi > 0 else 1.0
        sub["x"] = finite.fillna(never)
        # the boxes and the points over them: the same data, axes and optimizer order
        both = {"data": sub, "x": "x", "y": "optimizer", "order": opts, "ax": ax}
        sns.boxplot(**both, color="0.88", fliersize=0, log_scale=log)
        sns.stripplot(
            **both,
            size=3,
            alpha=0.6,
            jitter=False,
            color="C0",
        )
        share = sub.groupby("optimizer")[column].apply(lambda v: float(np.isfinite(v).mean()))
        ax.set_yticks(range(len(opts)), [f"{o} ({share.get(o, 0):.0%})" for o in opts])
        ax.axvline(never, color="red", lw=0.9, ls="--")
        ax.text(never, -0.55, "never", color="red", fontsize=8, ha="center", va="bottom")
        ax.set(title=panel, ylabel="", xlabel=label + (" (log)" if log else ""))
    note = f"; not measured on the regression {', '.join(skipped)}" if skipped else ""
    fig.suptitle(Q_TARGET + f"\n(tick label: share of runs that reached it{note})", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def _not_measured(path: str | Path, question: str, text: str) -> Path:
    """A figure that says, in words, why its measure does not exist for this data."""
    fig, ax = plt.subplots(figsize=(6.0, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10)
    fig.suptitle(question, fontsize=10)
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
        **BAND_KWS,
        linestyle="none",
        height=2.8,
        aspect=1.2,
        sharex=False,
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
    tuned = generalization_gaps(runs)
    tuned["panel"] = panel_label(tuned)
    return _differences(tuned, "gap", "regularizer", regularizers, _gap_label(tuned), Q_GAP, path)


def generalization_gaps(runs: pd.DataFrame) -> pd.DataFrame:
    """The tuned runs that did not diverge, with ``gap``: train minus test accuracy
    (classification), test minus train loss (regression); larger is more overfit in both."""
    tuned = runs[(runs["arm"] == "tuned") & ~runs["diverged"]].copy()
    regression = tasks(tuned) == "regression"
    loss_gap = tuned["test_loss"] - tuned["train_loss"]
    if "train_accuracy" in tuned:
        tuned["gap"] = (tuned["train_accuracy"] - tuned["test_accuracy"]).where(
            ~regression, loss_gap
        )
    else:
        tuned["gap"] = loss_gap
    tuned["task"] = np.where(regression, "regression", "classification")
    return tuned


def _gap_label(df: pd.DataFrame) -> str:
    kinds = set(df["task"])
    if kinds == {"regression"}:
        return "test - train loss"
    if "regression" in kinds:
        return "train - test accuracy; test - train loss (regression)"
    return "train - test accuracy"


def rankings(table: pd.DataFrame, path: str | Path) -> Path:
    """Mean tuned test accuracy with its 95% t interval for each level of each factor, a
    marker per dataset; levels sorted by their mean rank across datasets."""
    theme()
    df = table.copy()
    df["panel"] = panel_label(df)
    factors = ordered(df["factor"], ["optimizer", "activation", "regularizer"])
    metrics = ordered(df["metric"], ["test_accuracy", "test_loss"])  # a row per metric
    fig, axes = plt.subplots(
        len(metrics), len(factors), figsize=(4.2 * len(factors), 3.6 * len(metrics)), squeeze=False
    )
    panels = ordered(df["panel"])
    colors = dict(zip(panels, sns.color_palette("tab10", len(panels)), strict=True))
    for ax, (metric, factor) in zip(
        axes.ravel(), [(m, f) for m in metrics for f in factors], strict=True
    ):
        sub = df[(df["factor"] == factor) & (df["metric"] == metric)]
        if sub.empty:
            ax.axis("off")
            continue
        levels = sub.groupby("level")["rank"].mean().sort_values().index.tolist()
        offsets = np.linspace(-0.2, 0.2, len(panels)) if len(panels) > 1 else [0.0]
        for off, panel in zip(offsets, panels, strict=True):
            if not (sub["panel"] == panel).any():
                continue
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
        lower = " (lower is better)" if metric.endswith("loss") else ""
        ax.set(title=factor, xlabel=metric.replace("_", " ") + lower)
    handles, labels = [], []
    for ax in axes.ravel():
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.suptitle(Q_RANK)
    fig.tight_layout()
    fig.legend(handles, labels, title="dataset", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(fig, path)


def tuning_gain_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per cell: tuned minus untuned mean test accuracy (``gain``), with both means; for a
    regression dataset untuned minus tuned mean test loss (``task`` says which)."""
    keys = ["study", "dataset", "activation", "regularizer", "optimizer"]
    parts = []
    for task, sub in summary.groupby(tasks(summary), sort=False):
        column, _, larger = score(task)
        wide = sub.pivot_table(
            index=keys, columns="arm", values=f"{column}_mean", dropna=False
        ).reset_index()
        for arm in ("tuned", "untuned"):
            if arm not in wide:
                wide[arm] = np.nan
        wide["gain"] = (wide["tuned"] - wide["untuned"]) * (1 if larger else -1)
        wide["task"] = task
        # pivot_table(dropna=False) crosses every level with every other: keep trained cells
        parts.append(wide[wide[["tuned", "untuned"]].notna().any(axis=1)])
    if not parts:
        return pd.DataFrame(columns=[*keys, "tuned", "untuned", "gain", "task"])
    return pd.concat(parts).reset_index(drop=True)


def tuning_gain(
    summary: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Tuned minus untuned mean test accuracy per cell, per optimizer (mean and 95% band over
    cells), a column per dataset."""
    theme()
    gain = tuning_gain_table(summary)
    gain["panel"] = panel_label(gain)
    kinds = set(gain["task"])
    label = {
        frozenset({"classification"}): "tuned - untuned test accuracy",
        frozenset({"regression"}): "untuned - tuned test loss",
    }.get(frozenset(kinds), "tuned - untuned test accuracy; untuned - tuned loss (regression)")
    return _differences(gain, "gain", "optimizer", optimizers, label, Q_TUNING, path)
