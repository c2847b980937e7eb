"""Section 3 of the lesson, optimizers: batch size and speed (fig07, fig09)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from nngrid.study.claims.core import (
    EACH_PROTOCOL,
    MIN_DRAWS,
    NOT_APPLICABLE,
    OPTIMIZERS,
    _ci,
    _df,
    _f,
    applies,
    claim,
    hierarchical_interval,
    mean_interval,
    pool,
    sign_interval,
)
from nngrid.study.seeds import split_draw
from nngrid.study.tables import SPEED_EPOCHS


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
    """The tuned arm of every cell of every study with more than one cell and a target, on the
    datasets the grid's claims apply to (classification: they measure accuracy)."""
    from nngrid.study.tables import tasks

    df = summary[summary["arm"] == "tuned"]
    df = df[[applies(t) for t in tasks(df)]]
    keys = ["study", "dataset", "activation", "regularizer"]
    sizes = df.groupby("study")["optimizer"].transform("size")
    return df[sizes > 1].set_index([*keys, "optimizer"])


def _not_applicable(inputs: Mapping[str, Any]) -> tuple | None:
    """The result of a grid claim on a grid without a classification dataset, else None."""
    if len(grid_cells(inputs["grid"]["summary"])):
        return None
    return (
        math.nan,
        math.nan,
        math.nan,
        f"{NOT_APPLICABLE}: the claim is measured in accuracy, and every dataset of the grid "
        "is a regression",
    )


def _early_loss(inputs: Mapping[str, Any]) -> pd.DataFrame:
    """Each optimizer's early validation loss at its own best rate for it, per cell (rows) and
    optimizer (columns): :func:`nngrid.study.tables.early_loss`."""
    from nngrid.study.tables import early_loss

    summary = inputs["grid"]["summary"]
    # the default protocol tunes nothing: each optimizer's one rate (its default) is its best
    arm = "tuned" if _untuned_protocol(summary) else "tune"
    return early_loss(inputs["grid"].get("histories"), summary, arm=arm)


NO_HISTORIES = "the grid's learning curves (histories.parquet) were not given to the claims"


def _rate_note(inputs: Mapping[str, Any]) -> str:
    if not _untuned_protocol(inputs["grid"]["summary"]):
        return ""
    return "; the default protocol tunes nothing: each optimizer's one rate is its default"


def _untuned_protocol(summary: pd.DataFrame) -> bool:
    """Whether every row of ``summary`` is of the ``default`` protocol (no tuning)."""
    if "protocol" not in summary or summary.empty:
        return False
    return bool((summary["protocol"] == "default").all())


def _by_dataset(scores: pd.Series) -> dict[str, list[np.ndarray]]:
    """Per-cell scores (index with a ``dataset`` level holding draw labels) grouped by dataset,
    then by draw: ``{dataset: [one array of cell scores per draw]}``."""
    out: dict[str, dict] = {}
    for label, sub in scores.groupby(level="dataset", sort=False):
        base, _ = split_draw(label)
        out.setdefault(base, {})[label] = sub.to_numpy(float)
    return {base: list(draws.values()) for base, draws in out.items()}


def _per_dataset(scores: pd.Series, describe: str) -> dict[str, tuple]:
    """The mean cell score on each dataset with its interval over the draws
    (:func:`~nngrid.study.claims.core.hierarchical_interval`). When the draws agree exactly
    (zero spread: every cell of every draw won, say) and the cell scores are wins, ties and
    losses, the interval is the exact sign interval over the cells
    (:func:`~nngrid.study.claims.core.sign_interval`), and the evidence says so.

    ``describe`` is the dataset's evidence as a ``str.format`` template: ``{ds}`` the dataset,
    ``{draws}`` its draws, ``{value}`` and ``{ci}`` the score and its interval, ``{wins}``,
    ``{losses}`` and ``{ahead}`` the cells scoring > 0, < 0 and >= 0."""
    per = {}
    for ds, draws in _by_dataset(scores).items():
        value, lo, hi = hierarchical_interval(draws)
        note = ""
        means = [float(np.mean(d)) for d in draws if len(d)]
        if math.isnan(lo) and len(means) >= MIN_DRAWS and max(means) == min(means):
            cells = np.concatenate(draws)
            _, slo, shi = sign_interval(cells)
            if not math.isnan(slo):
                lo, hi = slo, shi
                note = (
                    f"; the {len(draws)} draws agree exactly, so the interval is the exact sign "
                    f"interval over their {cells.size} cells"
                )
        flat = np.concatenate(draws)
        text = describe.format(
            ds=ds,
            draws=_draws(draws),
            value=_f(value),
            ci=_ci(lo, hi),
            wins=int((flat > 0).sum()),
            losses=int((flat < 0).sum()),
            ahead=int((flat >= 0).sum()),
        )
        per[ds] = (value, lo, hi, text + note)
    return per


def _draws(draws: list[np.ndarray]) -> str:
    return f"{len(draws)} draw{'s' if len(draws) != 1 else ''} x {min(map(len, draws))} cells"


def _win_score(mine: pd.Series, other: pd.Series) -> np.ndarray:
    """+1 where ``mine`` is smaller (faster), -1 where larger, 0 on ties (two nevers tie)."""
    a, b = mine.to_numpy(float), other.to_numpy(float)
    return np.where(a < b, 1.0, np.where(a > b, -1.0, 0.0))  # inf vs inf: neither is smaller


def _faster_than_sgd(optimizer: str) -> Callable[[Mapping[str, Any]], tuple]:
    def faster(inputs: Mapping[str, Any]):
        if (na := _not_applicable(inputs)) is not None:
            return na
        early = _early_loss(inputs)
        if early.empty:
            return math.nan, math.nan, math.nan, NO_HISTORIES + _rate_note(inputs)
        if optimizer not in early or "sgd" not in early:
            return math.nan, math.nan, math.nan, f"{optimizer} or sgd is not in the grid's tuning"
        both = early[[optimizer, "sgd"]].dropna()
        score = pd.Series(_win_score(both[optimizer], both["sgd"]), index=both.index)

        per = _per_dataset(
            score,
            "{ds} ({draws}): " + optimizer + " faster in {wins}, slower in {losses} cells "
            "(score {value}, {ci})",
        )
        value, lo, hi = pool(per)
        return (
            value,
            lo,
            hi,
            (
                f"each at its own best rate, {optimizer} brought the validation loss down faster "
                f"than sgd (a lower mean over the first {SPEED_EPOCHS} epochs) in "
                f"{int((score > 0).sum())} of {len(score)} cells, slower in "
                f"{int((score < 0).sum())} (median {_f(both[optimizer].median())} vs "
                f"{_f(both['sgd'].median())}; the data draw is the unit)" + _rate_note(inputs)
            ),
            per,
        )

    faster.__name__ = f"{optimizer}_faster"
    faster.__doc__ = (
        f"Per dataset, the mean over draws and cells of +1 (a lower mean validation loss over the "
        f"first epochs than sgd, each at its own best rate for it), 0 (tie), -1 ({optimizer})."
    )
    return faster


#: How the speed claims measure speed (their statistic's text).
SPEED = (
    f"mean validation loss over the first {SPEED_EPOCHS} epochs (the area under the early "
    "learning curve; the same optimizer steps for all), each optimizer at its own best rate for "
    "it (median over tuning seeds)"
)

for _opt, _name in (
    ("momentum", "Momentum"),
    ("adagrad", "AdaGrad"),
    ("rmsprop", "RMSProp"),
    ("adam", "Adam"),
):
    claim(
        f"{_opt}_faster",
        OPTIMIZERS,
        "fig09_curves",
        0.0,
        ">",
        f"mean over data draws and grid cells of +1 / 0 / -1 as {_opt}'s {SPEED} is lower than / "
        "equal to / higher than sgd's; decided per dataset, pooled by the hull of their intervals",
        f"{_name} speeds training up over plain SGD.",
        needs=("grid",),
        protocol=EACH_PROTOCOL,
    )(_faster_than_sgd(_opt))


@claim(
    "adam_fast",
    OPTIMIZERS,
    "fig09_curves",
    0.0,
    ">",
    "mean over data draws and grid cells of the share of other optimizers Adam beats minus the "
    f"share that beat it, in {SPEED}; decided per dataset, pooled by the hull of their intervals",
    "Most of the time Adam gets there fast.",
    needs=("grid",),
    protocol=EACH_PROTOCOL,
)
def adam_fast(inputs: Mapping[str, Any]):
    """Per cell: the share of other optimizers Adam beats in early validation loss (each at its
    own best rate) minus the share that beat it; per dataset, the draw as the unit."""
    if (na := _not_applicable(inputs)) is not None:
        return na
    early = _early_loss(inputs)
    if early.empty:
        return math.nan, math.nan, math.nan, NO_HISTORIES + _rate_note(inputs)
    if "adam" not in early or early.shape[1] < 2:
        return math.nan, math.nan, math.nan, "adam and at least one other optimizer are needed"
    others = [c for c in early.columns if c != "adam"]
    score = pd.Series(
        np.mean([_win_score(early["adam"], early[o]) for o in others], axis=0), index=early.index
    ).dropna()

    per = _per_dataset(score, "{ds} ({draws}): score {value} ({ci})")
    value, lo, hi = pool(per)
    return (
        value,
        lo,
        hi,
        (
            f"over {len(score)} cells Adam's score in early validation loss (the first "
            f"{SPEED_EPOCHS} epochs), each optimizer at its own best rate, against "
            f"{len(others)} other optimizers is {_f(value)} (+1 = fastest everywhere)"
            + _rate_note(inputs)
        ),
        per,
    )


@claim(
    "adam_well",
    OPTIMIZERS,
    "fig09_heatmaps",
    -0.02,
    ">",
    "mean over data draws and grid cells of Adam's tuned test accuracy minus the best other "
    "optimizer's; decided per dataset, pooled by the hull of their intervals",
    "Most of the time Adam gets there well.",
    needs=("grid",),
    protocol=EACH_PROTOCOL,
)
def adam_well(inputs: Mapping[str, Any]):
    """Per cell: Adam's tuned mean test accuracy minus the best other optimizer's; per dataset,
    the draw as the unit."""
    if (na := _not_applicable(inputs)) is not None:
        return na
    cells = grid_cells(inputs["grid"]["summary"])
    acc = cells["test_accuracy_mean"].unstack("optimizer")
    if "adam" not in acc or acc.shape[1] < 2:
        return math.nan, math.nan, math.nan, "adam and at least one other optimizer are needed"
    best_other = acc.drop(columns="adam").max(axis=1)
    d = (acc["adam"] - best_other).dropna()

    per = _per_dataset(
        d, "{ds} ({draws}): Adam {value} from the best other ({ci}; best in {ahead} cells)"
    )
    value, lo, hi = pool(per)
    return (
        value,
        lo,
        hi,
        (
            f"over {len(d)} cells Adam's tuned test accuracy is {_f(value)} from the best other "
            f"optimizer's (Adam best in {int((d >= 0).sum())} cells)"
        ),
        per,
    )
