"""Figure 10: what the study cost, from Snakemake's ``benchmark:`` files of the training jobs."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from nngrid.study.figures import ordered, save, theme

QUESTION = "What did each training job cost, and how much of it was training?"


def read_benchmarks(paths, jobs: list[dict]) -> pd.DataFrame:
    """One row per training job: its axes (``jobs[i]`` for ``paths[i]``), wall seconds ``s``
    and ``max_rss`` (MB) from Snakemake's benchmark TSV (the mean if it holds repeats)."""
    rows = []
    for path, job in zip(paths, jobs, strict=True):
        bench = pd.read_csv(path, sep="\t")
        rss = pd.to_numeric(bench["max_rss"], errors="coerce").mean()
        rows.append({**job, "s": float(bench["s"].mean()), "max_rss": float(rss)})
    return pd.DataFrame(rows)


def job_costs(bench: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per job: wall seconds, summed training seconds of its runs, and the overhead share
    ``1 - training / wall`` (process start, imports, data loading, evaluation, writing).
    Jobs are matched to runs on the axes both tables have (study, dataset, optimizer, ...)."""
    keys = [k for k in bench.columns if k in runs.columns and k not in ("s", "max_rss")]
    train = runs.groupby(keys, as_index=False).agg(
        training=("seconds", "sum"), runs=("seconds", "size")
    )
    out = bench.merge(train, on=keys, how="left")
    out["overhead"] = 1.0 - out["training"] / out["s"]
    return out


def cost(
    bench: pd.DataFrame, runs: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Left: wall seconds per training job by optimizer (a dot per job, hue dataset; log axis
    when the jobs span more than a decade). Right: training seconds per replica per epoch of
    every run, by optimizer (log axis). One legend, outside the panels."""
    theme()
    jobs = job_costs(bench, runs)
    opts = ordered(runs["optimizer"], optimizers)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.4 * len(opts) + 2.2), sharey=True)
    sns.stripplot(
        data=jobs,
        x="s",
        y="optimizer",
        hue="dataset",
        order=opts,
        ax=axes[0],
        dodge=True,
        size=4,
        jitter=False,
    )
    spread = jobs["s"].max() / max(jobs["s"].min(), 1e-9) if len(jobs) else 1.0
    axes[0].set(
        xlabel="wall seconds per job (benchmark)" + (", log" if spread > 10 else ""),
        ylabel="",
        xscale="log" if spread > 10 else "linear",
    )
    per_epoch = runs.assign(spe=runs["seconds"] / runs["epochs"].clip(lower=1))
    sns.boxplot(
        data=per_epoch, x="spe", y="optimizer", hue="dataset", order=opts, ax=axes[1], fliersize=1
    )
    axes[1].set(xlabel="training seconds per replica per epoch (log)", ylabel="", xscale="log")
    axes[1].xaxis.set_minor_formatter(NullFormatter())
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    total = jobs["s"].sum()
    share = 1 - jobs["training"].sum() / total if total else float("nan")
    fig.suptitle(
        f"{QUESTION}\n{len(jobs)} jobs, {total:.0f} s in all; "
        f"{share:.0%} outside the training loops"
    )
    fig.tight_layout()
    fig.legend(handles, labels, title="dataset", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(fig, path)
