"""Figure 14: hyperparameter-axis plots of the ``full`` protocol's search (the tuning playbook).

For each optimizer the ``full`` protocol tuned, one panel per hyperparameter its search space
draws: every trial's validation result (mean over the tuning seeds) against that
hyperparameter's value, one point per trial and cell (data draw x activation x regularizer), the
trial each cell chose marked. A log axis where the range is log (of ``1 - value`` for a decay
rate searched as ``one_minus``), the searched range as the axis limits and its outer sixteenths
(the edge rule of :mod:`nngrid.study.search`) shaded: a chosen trial there says the best value
may lie outside the range. The rows are the ``tune`` rows of the full protocol in runs.parquet
(``trial``, ``trial_params``, ``selected``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nngrid.study.figures import ordered, save, theme

QUESTION = "Where does the best trial sit along each hyperparameter the full protocol searched?"
#: The cell's axes (a trial's result is per cell).
CELL = ["study", "dataset", "activation", "regularizer"]
#: The order of the hyperparameters in a row (that of the Sobol dimensions).
ORDER = ("lr", "momentum", "b1", "b2", "alpha", "eps", "weight_decay")
#: How an axis names a hyperparameter searched as ``1 - value``.
LABELS = {"lr": "learning rate", "weight_decay": "weight decay"}


def trials(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per trial and cell of the full protocol: the trial's values (one column per
    hyperparameter), its mean validation result over the tuning seeds (``val``: accuracy, the
    loss when no row has one; ``attrs["metric"]`` says which), whether any seed diverged and
    whether the cell chose it (``selected``)."""
    if runs is None or runs.empty or "trial_params" not in runs:
        return pd.DataFrame()
    protocol = runs["protocol"] if "protocol" in runs else pd.Series("lr", index=runs.index)
    tune = runs[(runs["arm"] == "tune") & (protocol == "full") & runs["trial"].notna()]
    if tune.empty:
        return pd.DataFrame()
    accuracy = "val_accuracy" in tune and tune["val_accuracy"].notna().any()
    metric = "val_accuracy" if accuracy else "val_loss"
    keys = [*CELL, "optimizer", "trial"]
    grouped = tune.groupby(keys, sort=False, dropna=False)
    out = grouped.agg(
        val=(metric, "mean"),
        diverged=("diverged", "any"),
        selected=("selected", "any") if "selected" in tune else ("diverged", lambda _: False),
        trial_params=("trial_params", "first"),
    ).reset_index()
    params = pd.DataFrame(
        [json.loads(t) if isinstance(t, str) else {} for t in out["trial_params"]]
    )
    out = pd.concat([out.drop(columns="trial_params"), params], axis=1)
    out.attrs["metric"] = metric
    return out


def _range(space: Mapping | None, name: str) -> dict | None:
    """The searched range of ``name`` (``low``, ``high``, ``scale``, ``one_minus``), or None."""
    entry = (space or {}).get(name)
    if not isinstance(entry, Mapping):
        return None
    return {
        "low": float(entry["low"]),
        "high": float(entry["high"]),
        "scale": entry.get("scale", "log"),
        "one_minus": bool(entry.get("one_minus", False)),
    }


def _searched(df: pd.DataFrame, optimizer: str, spaces: Mapping) -> list[str]:
    """The hyperparameters of ``optimizer`` whose trials vary (a range of its search space)."""
    names = []
    for name in ORDER:
        if name not in df or df[name].isna().all():
            continue
        if _range(spaces.get(optimizer), name) or df[name].nunique() > 1:
            names.append(name)
    return names


def _axis(values: np.ndarray, rng: dict | None) -> tuple[np.ndarray, str, bool, tuple | None]:
    """What the x axis shows: the values (``1 - value`` for a one_minus range), its label
    suffix, whether it is logarithmic and its limits (the searched range)."""
    one_minus = bool(rng and rng["one_minus"])
    x = 1.0 - values if one_minus else values
    if rng:
        log = rng["scale"] == "log"
        limits = (rng["low"], rng["high"])
    else:  # no range given: log when the values are positive and span a decade
        finite = x[np.isfinite(x)]
        log = bool(finite.size and finite.min() > 0 and finite.max() / finite.min() > 10)
        limits = None
    return x, one_minus, log, limits


#: Panels per row of the figure (an optimizer's panels stay together in one row).
COLUMNS = 4


def _pack(blocks: Mapping[str, list[str]], ncols: int) -> dict[tuple[str, str], tuple[int, int]]:
    """Each (optimizer, hyperparameter) panel's (row, column): an optimizer's panels side by
    side, the next optimizer after them in the same row when all of its panels fit there."""
    slots, row, col = {}, 0, 0
    for opt, names in blocks.items():
        if col and col + len(names) > ncols:
            row, col = row + 1, 0
        for name in names:
            slots[(opt, name)] = (row, col)
            col += 1
    return slots


#: More activations than this and the trials are drawn in grey (colours stop telling them apart).
MAX_COLOURS = 6


def _first_draws(df: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """The trials of the first data draw (smallest data seed) of each dataset, and whether any
    draw was left out: a figure of every draw's trials is a cloud no one can read (the caption
    counts them all)."""
    from nngrid.study.seeds import first_draws

    keep = first_draws(df["dataset"].unique())
    return df[df["dataset"].isin(keep)], len(keep) < df["dataset"].nunique()


def _shade_edges(ax, lo: float, hi: float, log: bool) -> None:
    """The searched range as the x limits (with a margin), its outer sixteenths shaded."""
    if log:
        span = math.log(hi / lo)
        edge = (lo * math.exp(span / 16), hi * math.exp(-span / 16))
        ax.set_xlim(lo / math.exp(span * 0.03), hi * math.exp(span * 0.03))
    else:
        edge = (lo + (hi - lo) / 16, hi - (hi - lo) / 16)
        ax.set_xlim(lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
    ax.axvspan(lo, edge[0], color="0.88", zorder=0, lw=0)
    ax.axvspan(edge[1], hi, color="0.88", zorder=0, lw=0)


def hyperparameter_axes(
    runs: pd.DataFrame,
    path: str | Path,
    spaces: Mapping[str, Mapping] | None = None,
    optimizers: list[str] | None = None,
    activations: list[str] | None = None,
) -> Path:
    """One row per optimizer the full protocol tuned, one panel per hyperparameter it searched:
    each trial's mean validation result over the tuning seeds in each cell of the first data
    draw of each dataset (colour: the cell's activation; grey past :data:`MAX_COLOURS`), the
    trial the cell chose as a star, diverged trials as crosses at the bottom;
    the x axis spans the searched range (log where the range is log; ``1 - value`` for a decay
    rate searched that way), its outer sixteenths shaded (the edge rule)."""
    theme()
    spaces = spaces or {}
    df = trials(runs)
    if df.empty:
        fig, ax = plt.subplots(figsize=(6.0, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "Not measured: no study ran the full protocol.", ha="center",
                va="center", fontsize=10)  # fmt: skip
        fig.suptitle(QUESTION, fontsize=10)
        return save(fig, path)
    metric = df.attrs.get("metric", "val_accuracy")
    df, drawn = _first_draws(df)
    opts = ordered(df["optimizer"], optimizers)
    blocks = {o: _searched(df[df["optimizer"] == o], o, spaces) for o in opts}
    blocks = {o: names for o, names in blocks.items() if names}
    ncols = max(COLUMNS, *(len(n) for n in blocks.values()))
    slots = _pack(blocks, ncols)
    nrows = 1 + max(r for r, _ in slots.values())
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.2 * ncols + 0.6, 2.5 * nrows + 1.0), squeeze=False
    )
    used = set()
    acts = ordered(df["activation"], activations)
    # past six activations colours no longer tell them apart: the trials in grey, and smaller
    many = len(acts) > MAX_COLOURS
    palette = ["0.55"] * len(acts) if many else sns.color_palette("colorblind", len(acts))
    colours = dict(zip(acts, palette, strict=True))
    finite = df.loc[np.isfinite(df["val"]), "val"]
    floor = float(finite.min()) if len(finite) else 0.0
    top = float(finite.max()) if len(finite) else 1.0
    pad = 0.06 * max(top - floor, 1e-3)
    for (opt, name), (r, c) in slots.items():
        ax = axes[r][c]
        used.add((r, c))
        sub = df[df["optimizer"] == opt]
        rng = _range(spaces.get(opt), name)
        x, one_minus, log, limits = _axis(sub[name].to_numpy(float), rng)
        y = sub["val"].to_numpy(float)
        ok = np.isfinite(y) & ~sub["diverged"].to_numpy(bool)
        for act in acts:
            mine = (sub["activation"] == act).to_numpy()
            ax.scatter(x[ok & mine], y[ok & mine], s=10 if many else 24, color=colours[act],
                       alpha=0.35 if many else 0.7, edgecolor="none",
                       label="a trial" if many else act)  # fmt: skip
        bad = ~ok
        if bad.any():  # diverged (or no result): a cross on the floor
            ax.scatter(x[bad], np.full(bad.sum(), floor - pad * 0.5), marker="x", s=26,
                       color="0.35", linewidths=1.0, label="diverged")  # fmt: skip
        chosen = sub["selected"].to_numpy(bool)
        ax.scatter(x[chosen], np.where(np.isfinite(y[chosen]), y[chosen], floor), marker="*",
                   s=_star_size(int(chosen.sum())), color="gold", edgecolor="black",
                   linewidths=0.6, zorder=5, label="the trial a cell chose")  # fmt: skip
        if log:
            ax.set_xscale("log")
        if limits:
            _shade_edges(ax, *limits, log)
        label = LABELS.get(name, name)
        ax.set_xlabel(f"1 − {label}" if one_minus else label, fontsize=10)
        ax.set_title(opt, loc="left", fontsize=11, fontweight="bold")
        ax.set_ylim(floor - pad, top + pad)
        if c == 0:
            ax.set_ylabel("validation accuracy" if metric == "val_accuracy" else "validation loss")
        else:
            ax.tick_params(labelleft=False)
    for r in range(nrows):
        for c in range(ncols):
            if (r, c) not in used:
                axes[r][c].axis("off")
    handles, labels = [], []
    for ax in np.ravel(axes):
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False,
               bbox_to_anchor=(0.5, 1.0 - 0.35 / fig.get_figheight()), fontsize=9,
               title="a point: one trial in one cell (activation x regularizer x data draw"
                     + (", the first draw of each dataset" if drawn else "")
                     + "), mean over the tuning seeds; shaded: the outer sixteenths of the "
                     "searched range (its edge)",
               title_fontsize=9)  # fmt: skip
    fig.suptitle(QUESTION, fontsize=12, y=1.0)
    fig.tight_layout(rect=(0, 0, 1, 1.0 - 0.75 / fig.get_figheight()))
    return save(fig, path)


def _star_size(n: int) -> float:
    """The chosen trials' star area: large for a dozen cells, shrinking with the square root of
    their number beyond, so seventy stars do not hide the trials under them."""
    return float(np.clip(170.0 * math.sqrt(12.0 / max(n, 1)), 50.0, 170.0))


def hyperparameter_caption(runs: pd.DataFrame, summary: pd.DataFrame | None = None) -> str:
    """Figure 14's numbers: per optimizer the trials and cells, the range of each chosen value,
    and how many cells' winners sit on an edge of a range (``params_on_edge``)."""
    df = trials(runs)
    if df.empty:
        return "No study ran the full protocol: there are no trials to show."
    lines = []
    for opt, sub in df.groupby("optimizer", sort=False):
        chosen = sub[sub["selected"]]
        cells = sub.groupby(CELL).ngroups
        parts = []
        for name in ORDER:
            if name in chosen and chosen[name].notna().any() and sub[name].nunique() > 1:
                v = chosen[name].astype(float)
                parts.append(f"{name} {v.min():.4g} to {v.max():.4g}")
        edge = ""
        if summary is not None and "params_on_edge" in summary:
            tuned = summary[
                (summary["arm"] == "tuned")
                & (summary["optimizer"] == opt)
                & (summary.get("protocol", "full") == "full")
            ]
            on = tuned["params_on_edge"].fillna("").astype(str)
            n_on = int((on != "").sum())
            if n_on:
                names = sorted({n for s in on for n in s.split(",") if n})
                edge = f"; the winner sits on an edge in {n_on} cells ({', '.join(names)})"
        lines.append(
            f"{opt}: {sub['trial'].nunique()} trials in {cells} cells, "
            f"{int(sub['diverged'].sum())} of the {len(sub)} (trial, cell) pairs diverged; chosen "
            + (", ".join(parts) if parts else "values")
            + edge
        )
    return "Per optimizer: " + "; ".join(lines) + "."
