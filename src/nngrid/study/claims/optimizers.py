"""Section 3 of the lesson, optimizers: batch size and speed (fig07, fig09)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nngrid.study.claims.core import (
    OPTIMIZERS,
    _ci,
    _df,
    _f,
    bootstrap_interval,
    claim,
    mean_interval,
)


def _batches(inputs: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    r = inputs["batch_size_curves"]
    return _df(r["records"]), _df(r["final"])


@claim(
    "minibatch_cheaper",
    OPTIMIZERS,
    "fig07_batch_size",
    0.0,
    ">",
    "training loss of the full batch minus the smallest mini-batch after the same number of "
    "examples seen, per seed",
    "Mini-batch stochastic gradient descent is much cheaper per step than feeding the whole data "
    "set.",
    needs=("batch_size_curves",),
)
def minibatch_cheaper(inputs: Mapping[str, Any]):
    """Training loss of the full batch minus the smallest mini-batch at the same number of
    examples seen (the mini-batch's last epoch), per seed."""
    hist, _ = _batches(inputs)
    full = hist[hist["full_batch"]]
    mini = hist[~hist["full_batch"]]
    if full.empty or mini.empty:
        return math.nan, math.nan, math.nan, "no full batch or no mini-batch run"
    small = mini[mini["batch_size"] == mini["batch_size"].min()]
    examples = float(small["examples"].max())
    at = small[small["examples"] == examples].set_index("seed")["train_loss"]
    f = full[full["examples"] <= examples]
    f = f[f["examples"] == f["examples"].max()].set_index("seed")["train_loss"]
    value, lo, hi = mean_interval((f - at).dropna())
    return (
        value,
        lo,
        hi,
        (
            f"after {int(examples)} examples seen, training loss {_f(f.mean())} with the full "
            f"batch vs {_f(at.mean())} with batches of {int(small['batch_size'].iloc[0])} "
            f"(difference {_f(value)}, {_ci(lo, hi)})"
        ),
    )


@claim(
    "minibatch_little_loss",
    OPTIMIZERS,
    "fig07_batch_size",
    0.02,
    "<",
    "final test accuracy of the full batch minus the smallest mini-batch, each at its own tuned "
    "rate after the same number of optimizer steps, per seed",
    "Mini-batches lose little accuracy.",
    needs=("batch_size_curves",),
)
def minibatch_little_loss(inputs: Mapping[str, Any]):
    """Final test accuracy of the full batch minus the smallest mini-batch, each at its own tuned
    rate and after the same number of optimizer steps, per seed."""
    _, final = _batches(inputs)
    full = final[final["full_batch"]]
    mini = final[~final["full_batch"]]
    if full.empty or mini.empty:
        return math.nan, math.nan, math.nan, "no full batch or no mini-batch run"
    small = mini[mini["batch_size"] == mini["batch_size"].min()]
    d = (
        full.set_index("seed")["test_accuracy"] - small.set_index("seed")["test_accuracy"]
    ).dropna()
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"after {int(small['steps'].iloc[0])} steps at tuned rates, test accuracy "
            f"{_f(full['test_accuracy'].mean())} with the full batch (lr "
            f"{_f(float(full['lr'].iloc[0]), 2)}) vs {_f(small['test_accuracy'].mean())} with "
            f"batches of {int(small['batch_size'].iloc[0])} "
            f"(lr {_f(float(small['lr'].iloc[0]), 2)}; "
            f"loss {_f(value)}, {_ci(lo, hi)})"
        ),
    )


def grid_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The tuned arm of every cell of every study with more than one cell and a target."""
    df = summary[summary["arm"] == "tuned"]
    keys = ["study", "dataset", "activation", "regularizer"]
    sizes = df.groupby("study")["optimizer"].transform("size")
    return df[sizes > 1].set_index([*keys, "optimizer"])


def _steps(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """Median steps to target per cell (rows) and optimizer (columns); inf = never."""
    cells = grid_cells(inputs["grid"]["summary"])
    return cells["steps_to_target_median"].unstack("optimizer")


def _win_score(mine: pd.Series, other: pd.Series) -> np.ndarray:
    """+1 where ``mine`` is smaller (faster), -1 where larger, 0 on ties (two nevers tie)."""
    a, b = mine.to_numpy(float), other.to_numpy(float)
    return np.where(a < b, 1.0, np.where(a > b, -1.0, 0.0))  # inf vs inf: neither is smaller


def _faster_than_sgd(optimizer: str) -> Callable[[Mapping[str, Any]], tuple]:
    def faster(inputs: Mapping[str, Any]):
        steps = _steps(inputs)
        if optimizer not in steps or "sgd" not in steps:
            return math.nan, math.nan, math.nan, f"{optimizer} or sgd is not in the grid"
        both = steps[[optimizer, "sgd"]].dropna()
        score = _win_score(both[optimizer], both["sgd"])
        value, lo, hi = bootstrap_interval(score, np.mean)
        wins, losses = int((score > 0).sum()), int((score < 0).sum())
        return (
            value,
            lo,
            hi,
            (
                f"in {len(score)} cells {optimizer} reached the target in fewer optimizer steps "
                f"than sgd in {wins}, in more in {losses} (median steps "
                f"{_f(both[optimizer].median())} vs {_f(both['sgd'].median())}; win score "
                f"{_f(value)}, {_ci(lo, hi)}, cells resampled)"
            ),
        )

    faster.__name__ = f"{optimizer}_faster"
    faster.__doc__ = (
        f"Mean over grid cells of +1 (fewer steps to target than sgd), 0 (tie), -1 ({optimizer})."
    )
    return faster


for _opt, _name in (
    ("momentum", "Momentum"),
    ("adagrad", "AdaGrad"),
    ("rmsprop", "RMSProp"),
    ("adam", "Adam"),
):
    claim(
        f"{_opt}_faster",
        OPTIMIZERS,
        "fig09_target",
        0.0,
        ">",
        f"mean over grid cells of +1 / 0 / -1 as {_opt} needs fewer / as many / more "
        "optimizer steps than sgd to reach the target validation accuracy (median over "
        "seeds; never = infinitely many)",
        f"{_name} speeds training up over plain SGD.",
        needs=("grid",),
    )(_faster_than_sgd(_opt))


@claim(
    "adam_fast",
    OPTIMIZERS,
    "fig09_target",
    0.0,
    ">",
    "mean over grid cells of the share of other optimizers Adam beats in steps to target minus the"
    " share that beat it",
    "Most of the time Adam gets there fast.",
    needs=("grid",),
)
def adam_fast(inputs: Mapping[str, Any]):
    """Per cell: the share of other optimizers Adam beats in steps to target minus the share
    that beat it; mean over cells, cells resampled."""
    steps = _steps(inputs)
    if "adam" not in steps or steps.shape[1] < 2:
        return math.nan, math.nan, math.nan, "adam and at least one other optimizer are needed"
    others = [c for c in steps.columns if c != "adam"]
    score = np.mean([_win_score(steps["adam"], steps[o]) for o in others], axis=0)
    score = score[np.isfinite(score)]
    value, lo, hi = bootstrap_interval(score, np.mean)
    return (
        value,
        lo,
        hi,
        (
            f"over {len(score)} cells Adam's steps-to-target score against {len(others)} other "
            f"optimizers is {_f(value)} ({_ci(lo, hi)}; +1 = fastest everywhere)"
        ),
    )


@claim(
    "adam_well",
    OPTIMIZERS,
    "fig09_heatmaps",
    -0.02,
    ">",
    "mean over grid cells of Adam's tuned test accuracy minus the best other optimizer's",
    "Most of the time Adam gets there well.",
    needs=("grid",),
)
def adam_well(inputs: Mapping[str, Any]):
    """Per cell: Adam's tuned mean test accuracy minus the best other optimizer's; mean over
    cells, cells resampled."""
    cells = grid_cells(inputs["grid"]["summary"])
    acc = cells["test_accuracy_mean"].unstack("optimizer")
    if "adam" not in acc or acc.shape[1] < 2:
        return math.nan, math.nan, math.nan, "adam and at least one other optimizer are needed"
    best_other = acc.drop(columns="adam").max(axis=1)
    d = (acc["adam"] - best_other).dropna()
    value, lo, hi = bootstrap_interval(d.to_numpy(), np.mean)
    return (
        value,
        lo,
        hi,
        (
            f"over {len(d)} cells Adam's tuned test accuracy is {_f(value)} from the best other "
            f"optimizer's ({_ci(lo, hi)}; Adam best in {int((d >= 0).sum())} cells)"
        ),
    )
