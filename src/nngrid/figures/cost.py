"""Figure 10: what the study cost, from Snakemake's ``benchmark:`` files of the training jobs."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from nngrid.figures import ordered, save, theme

QUESTION = "What did each training job cost, and how much of it was training?"

#: ``benchmarks/train/{study}/{dataset}/{optimizer}/{regularizer}.tsv``
_PATTERN = re.compile(
    r"(?P<study>[^/]+)/(?P<dataset>[^/]+)/(?P<optimizer>[^/]+)/"
    r"(?P<regularizer>[^/]+)\.tsv$"
)


def read_benchmarks(paths) -> pd.DataFrame:
    """One row per benchmark file: its wall seconds ``s``, ``max_rss`` (MB) and the job's axes
    parsed from the path. Files with several repeats give their mean."""
    rows = []
    for p in paths:
        m = _PATTERN.search(Path(p).as_posix())
        if not m:
            continue
        bench = pd.read_csv(p, sep="\t")
        rows.append(
            {
                **m.groupdict(),
                "s": float(bench["s"].mean()),
                "max_rss": float(pd.to_numeric(bench["max_rss"], errors="coerce").mean()),
            }
        )
    return pd.DataFrame(
        rows, columns=["study", "dataset", "optimizer", "regularizer", "s", "max_rss"]
    )


def job_costs(bench: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per job: wall seconds, summed training seconds of its runs, and the overhead share
    ``1 - training / wall`` (process start, imports, data loading, evaluation, writing)."""
    keys = ["study", "dataset", "optimizer", "regularizer"]
    train = runs.groupby(keys, as_index=False).agg(
        training=("seconds", "sum"), runs=("seconds", "size")
    )
    out = bench.merge(train, on=keys, how="left")
    out["overhead"] = 1.0 - out["training"] / out["s"]
    return out


def cost(
    bench: pd.DataFrame, runs: pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """Left: wall seconds per training job by optimizer (a dot per job, hue dataset). Right:
    training seconds per replica per epoch of every run, by optimizer."""
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
    axes[0].set(xlabel="wall seconds per job (benchmark)", ylabel="")
    per_epoch = runs.assign(spe=runs["seconds"] / runs["epochs"].clip(lower=1))
    sns.boxplot(
        data=per_epoch, x="spe", y="optimizer", hue="dataset", order=opts, ax=axes[1], fliersize=1
    )
    axes[1].set(xlabel="training seconds per replica per epoch", ylabel="", xscale="log")
    total = jobs["s"].sum()
    share = 1 - jobs["training"].sum() / total if total else float("nan")
    fig.suptitle(
        f"{QUESTION}\n{len(jobs)} jobs, {total:.0f} s in all; "
        f"{share:.0%} outside the training loops"
    )
    fig.tight_layout()
    return save(fig, path)
