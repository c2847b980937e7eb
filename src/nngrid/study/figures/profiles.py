"""Figure 9h: performance profiles of the grid's steps to target (:mod:`nngrid.study.profiles`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nngrid.study import profiles
from nngrid.study.figures import ordered, save, theme
from nngrid.study.report.prose import fmt, pct

QUESTION = "How often is each optimizer within a factor tau of the fastest one?"
#: The right end of the tau axis (ratios beyond it are drawn as never reached).
TAU_PLOT = 64.0


def _profiles(runs: pd.DataFrame, summary: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, int]]:
    """Per multi-cell study: the ratios to the fastest optimizer and the cells left out."""
    from nngrid.study.tables import fastest_steps

    steps = fastest_steps(runs, summary)
    out = {}
    if steps.empty:
        return out
    for study, sub in steps.groupby(level="study", sort=False):
        r, dropped = profiles.ratios(sub)
        if len(r) and r.shape[1] > 1:
            out[study] = (r, dropped)
    return out


def _datasets_text(summary: pd.DataFrame, studies: set) -> str:
    """Which datasets of the multi-cell ``studies`` the profiles cover (classification: a
    target accuracy to reach) and which they leave out (regression), by their base labels
    (draws folded)."""
    from nngrid.study.seeds import split_draw
    from nngrid.study.tables import tasks

    tuned = summary[summary["arm"] == "tuned"]
    cells = tuned.groupby("study")["optimizer"].transform("size")
    tuned = tuned[tuned["study"].isin(studies) & (cells > 1)]
    kinds: dict[str, str] = {}
    for label, task in zip(tuned["dataset"], tasks(tuned), strict=True):
        kinds.setdefault(split_draw(label)[0], task)
    used = [d for d, t in kinds.items() if t == "classification"]
    text = "Datasets: " + ", ".join(used) + "."
    left = [d for d, t in kinds.items() if t != "classification"]
    if left:
        text += f" Left out: {', '.join(left)} (regression: no target accuracy to reach)."
    return text


def _scores(rankings: pd.DataFrame, study: str) -> pd.DataFrame:
    rows = rankings[
        (rankings["metric"] == profiles.METRIC)
        & (rankings["study"] == study)
        & (rankings["dataset"] == "all")
    ]
    return rows.set_index("level")


def performance_profile(
    runs: pd.DataFrame,
    summary: pd.DataFrame,
    rankings: pd.DataFrame,
    path: str | Path,
    optimizers: list[str] | None = None,
) -> Path:
    """A panel per study of several cells: for each optimizer the share of the study's cells
    (every classification dataset and draw, activation and regularizer) whose steps to target at
    its fastest rate are within a factor tau of the fastest optimizer's in that cell, over tau
    (log axis, 1 to :data:`TAU_PLOT`). The legend gives each optimizer's score from
    rankings.csv (the area up to :data:`nngrid.study.profiles.TAU_MAX`, dotted line) with its
    95% bootstrap interval; a line's right end is the share of cells it reached the target in."""
    theme()
    found = _profiles(runs, summary)
    if not found:
        fig, ax = plt.subplots(figsize=(6.0, 1.6))
        ax.axis("off")
        ax.text(0.5, 0.5, "Not measured: no cell of a multi-cell study reached the target.",
                ha="center", va="center", fontsize=10)  # fmt: skip
        fig.suptitle(QUESTION, fontsize=10)
        return save(fig, path)
    fig, axes = plt.subplots(1, len(found), figsize=(6.8 * len(found), 4.4), squeeze=False)
    taus = np.geomspace(1.0, TAU_PLOT, 800)
    for ax, (study, (r, dropped)) in zip(axes[0], found.items(), strict=True):
        opts = ordered(r.columns, optimizers)
        colours = dict(zip(opts, sns.color_palette("colorblind", len(opts)), strict=True))
        exact = r.to_numpy(float)
        grid = np.union1d(taus, exact[np.isfinite(exact) & (exact <= TAU_PLOT)])
        rho = profiles.profile(r, grid)
        scores = _scores(rankings, study)
        styles = ["-", "--", "-.", ":"]
        for i, opt in enumerate(opts):
            label = opt
            if opt in scores.index:
                s = scores.loc[opt]
                ci = (
                    f", 95% CI {fmt(s['ci_low'], 2)} to {fmt(s['ci_high'], 2)}"
                    if np.isfinite(s["ci_low"])
                    else ""
                )
                label = f"{opt} (score {fmt(s['mean'], 2)}{ci})"
            ax.step(
                grid,
                rho[opt].to_numpy(),
                where="post",
                color=colours[opt],
                lw=1.8,
                ls=styles[i // 4 % len(styles)] if len(opts) > 4 else "-",
                label=label,
            )
        ax.axvline(profiles.TAU_MAX, color="0.4", ls=":", lw=1)
        ax.annotate(
            f"score: area up to tau = {fmt(profiles.TAU_MAX)}",
            (profiles.TAU_MAX, 0.02),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=8,
            color="0.3",
        )
        left_out = f"; {dropped} where none did, left out" if dropped else ""
        ax.set(
            xscale="log",
            xlim=(1.0, TAU_PLOT),
            ylim=(-0.02, 1.02),
            xlabel="tau: steps to target / the fastest optimizer's in the cell",
            ylabel="share of cells within tau of the fastest",
            title=f"{study}: {len(r)} cells with an optimizer at the target{left_out}",
        )
        ticks = [t for t in 2.0 ** np.arange(0, 7) if t <= TAU_PLOT]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.legend(
            title="optimizer (profile score)",
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
        )
    fig.suptitle(QUESTION)
    fig.tight_layout()
    return save(fig, path)


def profile_caption(runs: pd.DataFrame, summary: pd.DataFrame, rankings: pd.DataFrame) -> str:
    """Figure 9h's numbers: per study, how often each optimizer is the fastest, how often it
    gets there at all, and its score (the order of the scores, first place decided or not)."""
    found = _profiles(runs, summary)
    if not found:
        return "No cell of a study with several cells reached the target: nothing to profile."
    lines = [_datasets_text(summary, set(found))]
    for study, (r, dropped) in found.items():
        scores = _scores(rankings, study).sort_values("rank")
        first = (r <= 1.0).mean()
        ever = np.isfinite(r).mean()
        parts = [
            f"{opt} fastest in {pct(first[opt])} of cells, at the target in {pct(ever[opt])}"
            + (_score_text(scores.loc[opt]) if opt in scores.index else "")
            for opt in (scores.index if len(scores) else r.columns)
        ]
        text = (
            f"{study}: {len(r)} cells (dataset draws x activations x regularizers) in which some "
            f"optimizer reached the target"
            + (f"; {dropped} in which none did are left out" if dropped else "")
            + ". "
            + "; ".join(parts)
            + "."
        )
        if len(scores) > 1:
            a, b = scores.iloc[0], scores.iloc[1]
            if not (np.isfinite(a["ci_low"]) and np.isfinite(b["ci_high"])):
                why = "no interval: too few cells or datasets for the bootstrap"
                text += f" First place: {scores.index[0]}, not decided by this data ({why})."
            elif a["ci_low"] > b["ci_high"]:
                text += f" First place: {scores.index[0]}, its interval clear of the second's."
            else:
                text += (
                    f" First place: {scores.index[0]}, not decided by this data (its interval "
                    f"meets {scores.index[1]}'s)."
                )
        lines.append(text)
    return "\n\n".join(lines)


def _score_text(row: pd.Series) -> str:
    if np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"]):
        ci = f" (95% CI {fmt(row['ci_low'], 2)} to {fmt(row['ci_high'], 2)})"
    else:
        ci = " (no interval)"
    return f", score {fmt(row['mean'], 2)}{ci}"
