"""Claims from the literature on comparing optimizers fairly (issue 21; STUDY.md section 7).

:func:`adaptive_generalise_worse`: Wilson et al. 2017's separable problem
(:mod:`nngrid.study.experiments.wilson`, figure 13), where adaptive methods from zero converge
to a solution that labels every new point positive while gradient descent generalises.

:func:`adam_includes_momentum`: Choi et al. 2019's inclusion hierarchy, read from the grid's
``full`` protocol (learning rate, betas and eps searched together): Adam tuned that way is no
worse than Momentum tuned that way; the ``lr`` protocol's value of the same difference is given
beside it.

:func:`defaults_rival_tuning`: Schmidt, Schneider and Hennig 2021 ("Descending through a Crowded
Valley"): the best of several optimizers at their defaults (the ``default`` protocol, else an
``untuned`` arm) against one optimizer (Adam) tuned by the ``full`` protocol with as many trials
as there are optimizers.

Both grid claims take the cell (dataset draw x activation x regularizer) as the unit within a
dataset and the data draw above it (:func:`~nngrid.study.claims.core.hierarchical_interval`: a t
interval over the draws' means), decided per dataset and pooled by the hull of the datasets'
intervals. A claim whose protocol did not run comes out inconclusive, its evidence saying which.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from nngrid.study.claims.core import (
    OPTIMIZERS,
    _ci,
    _df,
    _f,
    applies,
    claim,
    grid_of,
    grid_protocols,
    mean_interval,
    pool,
)
from nngrid.study.claims.optimizers import _not_applicable, _per_dataset

#: The non-adaptive reference of :func:`adaptive_generalise_worse` (the paper's GD / SGD).
REFERENCE = "sgd"


@claim(
    "adaptive_generalise_worse",
    OPTIMIZERS,
    "fig13_wilson",
    0.1,
    ">",
    "mean over data draws of the lowest test error of the adaptive optimizers minus sgd's "
    "(full-batch gradient descent), each at its rate tuned on validation among the rates that "
    "fit the training set, on Wilson et al. 2017's separable problem; t interval over the draws",
    "On a linearly separable problem with more features than points, the adaptive methods "
    "(AdaGrad, RMSProp, Adam) generalise worse than gradient descent (Wilson et al. 2017).",
    needs=("wilson_separable",),
)
def adaptive_generalise_worse(inputs: Mapping[str, Any]):
    """Per data draw: the lowest test error of any adaptive optimizer (the one most favourable
    to them) minus sgd's; the mean over draws with a t interval over the draws."""
    df = _df(inputs["wilson_separable"]["records"])
    if df.empty or REFERENCE not in set(df["optimizer"]) or not df["adaptive"].any():
        return (
            math.nan,
            math.nan,
            math.nan,
            f"the experiment needs {REFERENCE} and at least one adaptive optimizer",
        )
    adaptive = df[df["adaptive"].astype(bool)]
    best = adaptive.groupby("data_seed")["test_error"].min()
    ref = df[df["optimizer"] == REFERENCE].set_index("data_seed")["test_error"]
    gap = (best - ref).dropna()
    value, lo, hi = mean_interval(gap)
    means = adaptive.groupby("optimizer", sort=False)["test_error"].mean()
    first = df.iloc[0]
    everyone_positive = _f(df["test_negative_share"].mean())
    return (
        value,
        lo,
        hi,
        (
            f"over {len(gap)} data draws ({int(first['n_train'])} training points, "
            f"{int(first['features'])} features, P(y = +1) = {_f(float(first['p']))}), test "
            f"error {_f(ref.mean())} with {REFERENCE} vs "
            + ", ".join(f"{o} {_f(v)}" for o, v in means.items())
            + f"; labelling every test point positive errs on {everyone_positive}"
            f"; the best adaptive method trails {REFERENCE} by {_f(value)} ({_ci(lo, hi)})"
        ),
    )


# --------------------------------------------------------------------------- grid protocols

#: The cell's axes shared across studies: the same cell tuned under two protocols.
CELL = ["dataset", "activation", "regularizer"]


def _cells(summary: pd.DataFrame | None, arm: str = "tuned") -> pd.DataFrame:
    """Mean test accuracy of ``arm`` per cell (rows: dataset, activation, regularizer) and
    optimizer (columns), over the studies of more than one cell on classification datasets
    (a cell two such studies share is averaged)."""
    from nngrid.study.tables import tasks

    if summary is None or summary.empty or "test_accuracy_mean" not in summary:
        return pd.DataFrame()
    df = summary[summary["arm"] == arm]
    df = df[[applies(t) for t in tasks(df)]]
    if "study" in df:
        df = df[df.groupby("study")["study"].transform("size") > 1]
    if df.empty:
        return pd.DataFrame()
    return df.groupby([*CELL, "optimizer"], sort=False)["test_accuracy_mean"].mean().unstack()


def _not_run(protocol: str, why: str = "") -> tuple[float, float, float, str]:
    return (
        math.nan,
        math.nan,
        math.nan,
        f"not measured: no study of several cells ran the {protocol} protocol "
        f"(a study's tuning: {{protocol: {protocol}}}){why}",
    )


def _adam_minus_momentum(grid: Mapping[str, Any]) -> pd.Series:
    acc = _cells(grid["summary"])
    if "adam" not in acc or "momentum" not in acc:
        return pd.Series(dtype=float)
    return (acc["adam"] - acc["momentum"]).dropna()


def _searched(runs: pd.DataFrame | None, optimizer: str, name: str) -> tuple[float, float] | None:
    """The smallest and largest value of ``name`` the full protocol's trials of ``optimizer``
    tried (``trial_params`` of its tune rows), or None."""
    if runs is None or "trial_params" not in runs:
        return None
    rows = runs[(runs["arm"] == "tune") & (runs["optimizer"] == optimizer)]
    values = [json.loads(t).get(name) for t in rows["trial_params"].dropna() if isinstance(t, str)]
    values = [float(v) for v in values if v is not None]
    return (min(values), max(values)) if values else None


@claim(
    "adam_includes_momentum",
    OPTIMIZERS,
    "fig14_hyperparameters",
    -0.01,
    ">",
    "mean over data draws and grid cells of Adam's tuned test accuracy minus Momentum's, both "
    "tuned by the full protocol (quasi-random search over the learning rate, momentum / betas "
    "and eps); t interval over the draws, decided per dataset, pooled by the hull of their "
    "intervals",
    "With the learning rate, momentum / betas and eps tuned together (eps searched up to 1e3), "
    "Adam's tuned test accuracy is no worse than Momentum's on every dataset: the inclusion "
    "hierarchy of Choi et al. 2019 (no worse: within 0.01, about one test point in a hundred).",
    needs=("grid",),
    protocol="full",
)
def adam_includes_momentum(inputs: Mapping[str, Any]):
    """Per cell of the full protocol: Adam's tuned mean test accuracy minus Momentum's; per
    dataset the mean over draws of the draws' mean over cells, a t interval over the draws. The
    evidence gives the lr protocol's value of the same difference and the eps range searched."""
    if (na := _not_applicable(inputs)) is not None:
        return na
    grid = inputs["grid"]
    protocols = grid_protocols(grid)
    lr = _adam_minus_momentum(grid_of(grid, "lr")) if "lr" in protocols else pd.Series(dtype=float)
    lr_text = (
        f"; under the lr protocol (learning rate alone) the same difference is {_f(lr.mean())} "
        f"over {len(lr)} cells (Adam ahead or level in {int((lr >= 0).sum())})"
        if len(lr)
        else "; the lr protocol did not run beside it"
    )
    if "full" not in protocols:
        return _not_run("full", lr_text)
    full = grid_of(grid, "full")
    d = _adam_minus_momentum(full)
    if d.empty:
        return (
            math.nan,
            math.nan,
            math.nan,
            "the full protocol's studies need adam and momentum on a classification dataset"
            + lr_text,
        )

    per = _per_dataset(
        d,
        "{ds} ({draws}): Adam minus Momentum {value} ({ci}; Adam ahead or level in {ahead} cells)",
    )
    value, lo, hi = pool(per)
    eps = _searched(full.get("runs"), "adam", "eps")
    eps_text = f"; Adam's trials searched eps from {_f(eps[0])} to {_f(eps[1])}" if eps else ""
    return (
        value,
        lo,
        hi,
        (
            f"under the full protocol Adam's tuned test accuracy minus Momentum's is {_f(value)} "
            f"over {len(d)} cells (Adam ahead or level in {int((d >= 0).sum())}){eps_text}"
            + lr_text
        ),
        per,
    )


#: The one optimizer the Crowded Valley claim tunes (the paper's most used one).
TUNED = "adam"


def _defaults(grid: Mapping[str, Any], protocols: list[str]) -> tuple[pd.DataFrame, str]:
    """Each optimizer's test accuracy at its defaults per cell and where it came from: the
    default protocol's runs, else the lr protocol's untuned arm, else the full protocol's."""
    if "default" in protocols:
        acc = _cells(grid_of(grid, "default")["summary"])
        if len(acc):
            return acc, "the default protocol"
    for p in ("lr", "full"):
        if p in protocols:
            acc = _cells(grid_of(grid, p)["summary"], "untuned")
            if len(acc):
                return acc, f"the {p} protocol's untuned arm"
    return pd.DataFrame(), ""


def _trials(runs: pd.DataFrame | None, optimizer: str) -> int | None:
    """How many trials the full protocol's search gave ``optimizer`` (None: not recorded)."""
    if runs is None or "trial" not in runs:
        return None
    rows = runs[(runs["arm"] == "tune") & (runs["optimizer"] == optimizer)]
    n = rows["trial"].dropna().nunique()
    return int(n) if n else None


@claim(
    "defaults_rival_tuning",
    OPTIMIZERS,
    "fig09_tuning",
    -0.02,
    ">",
    "mean over data draws and grid cells of the best test accuracy of all the grid's optimizers "
    "at their defaults (the default protocol, else an untuned arm) minus Adam's tuned by the "
    "full protocol with as many trials as there are optimizers; t interval over the draws, "
    "decided per dataset, pooled by the hull of their intervals",
    "Trying several optimizers at their defaults is about as good as tuning one with the same "
    "number of trials (Schmidt, Schneider & Hennig 2021): the best default comes within 0.02 of "
    "tuned Adam (the margin adam_well allows a 'well').",
    needs=("grid",),
)
def defaults_rival_tuning(inputs: Mapping[str, Any]):
    """Per cell: the best of every optimizer at its defaults minus Adam tuned by the full
    protocol; inconclusive unless the search gave Adam as many trials as there are optimizers."""
    if (na := _not_applicable(inputs)) is not None:
        return na
    grid = inputs["grid"]
    protocols = grid_protocols(grid)
    if "full" not in protocols:
        return _not_run("full")
    defaults, source = _defaults(grid, protocols)
    if defaults.empty:
        return (
            math.nan,
            math.nan,
            math.nan,
            "not measured: no optimizer ran at its defaults (neither the default protocol nor an "
            "untuned arm)",
        )
    full = grid_of(grid, "full")
    tuned = _cells(full["summary"])
    if TUNED not in tuned:
        return math.nan, math.nan, math.nan, f"the full protocol's studies have no {TUNED}"
    n_opt = defaults.shape[1]
    trials = _trials(full.get("runs"), TUNED)
    if trials is not None and trials != n_opt:
        return (
            math.nan,
            math.nan,
            math.nan,
            f"not measured: the claim compares equal budgets, but the full protocol gave "
            f"{TUNED} {trials} trials against {n_opt} optimizers at their defaults (set "
            f"tuning.budget to {n_opt})",
        )
    best = defaults.max(axis=1)
    d = (best - tuned[TUNED]).dropna()
    if d.empty:
        return math.nan, math.nan, math.nan, "no cell ran both at the defaults and tuned"
    winner = defaults.loc[d.index].idxmax(axis=1).value_counts()

    per = _per_dataset(
        d,
        "{ds} ({draws}): best default minus tuned " + TUNED + " {value} ({ci}; the defaults "
        "ahead or level in {ahead} cells)",
    )
    value, lo, hi = pool(per)
    budget = f"{trials} trials" if trials is not None else "a budget not recorded in the runs"
    return (
        value,
        lo,
        hi,
        (
            f"over {len(d)} cells the best of {n_opt} optimizers at their defaults ({source}; "
            f"best most often: "
            + ", ".join(f"{o} {int(n)}" for o, n in winner.items())
            + f") minus {TUNED} tuned by the full protocol ({budget}) is {_f(value)}"
        ),
        per,
    )
