"""Section 1 of the lesson, activations: nonlinearity, depth and gradients (fig02, fig03)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from nngrid.study.claims.core import (
    ACTIVATIONS,
    GRADIENT_DECADES,
    _ci,
    _df,
    _f,
    claim,
    mean_interval,
    nested_interval,
    pool,
)


def _nonlinear_gap(inputs: Mapping[str, Any], rival: str):
    """Best smooth nonlinear activation minus ``rival`` (identity or step), per dataset: the
    seeds (or data draws) of each dataset are its units; pooled by the hull."""
    df = _df(inputs["nonlinearity_boundaries"]["per_seed"])
    if "seed" not in df:
        df = df.assign(seed=0)
    smooth = df[~df["activation"].isin(["identity", "step"])]
    if smooth.empty or rival not in set(df["activation"]):
        return math.nan, math.nan, math.nan, f"no {rival} or no smooth nonlinear activation ran"
    keys = ["seed", "data_seed"] if "data_seed" in df else ["seed"]
    per = {}
    for ds, sub in df.groupby("dataset", sort=False):
        means = smooth[smooth["dataset"] == ds].groupby("activation")["test_accuracy"].mean()
        best = means.idxmax()
        a = sub[sub["activation"] == best].groupby(keys)["test_accuracy"].mean()
        b = sub[sub["activation"] == rival].groupby(keys)["test_accuracy"].mean()
        d = (a - b).dropna().rename("gap").reset_index()
        v, lo, hi, units = nested_interval(d, "gap")
        per[ds] = (
            v,
            lo,
            hi,
            f"{ds}: {best} {_f(a.mean(), 2)} vs {rival} {_f(b.mean(), 2)} (gap {_f(v)}, "
            f"{_ci(lo, hi)} over {units})",
        )
    value, lo, hi = pool(per)
    parts = "; ".join(p[3] for p in per.values())
    return value, lo, hi, f"test accuracy, {parts} (mean gap {_f(value)})", per


@claim(
    "nonlinearity_bends",
    ACTIVATIONS,
    "fig02_nonlinearity",
    0.05,
    ">",
    "test accuracy of the best smooth nonlinear activation minus identity's, per dataset and seed",
    "Without a nonlinearity a network stays linear and cannot separate classes that no straight "
    "line separates.",
    needs=("nonlinearity_boundaries",),
)
def nonlinearity_bends(inputs: Mapping[str, Any]):
    """Best smooth activation minus identity, test accuracy (datasets x seeds)."""
    return _nonlinear_gap(inputs, "identity")


@claim(
    "step_cannot_learn",
    ACTIVATIONS,
    "fig02_nonlinearity",
    0.05,
    ">",
    "test accuracy of the best smooth nonlinear activation minus the step function's, per dataset "
    "and seed",
    "An activation must be differentiable: a step function cannot learn.",
    needs=("nonlinearity_boundaries",),
)
def step_cannot_learn(inputs: Mapping[str, Any]):
    """Best smooth activation minus the step function, test accuracy (datasets x seeds)."""
    return _nonlinear_gap(inputs, "step")


def _depth_accuracy(inputs: Mapping[str, Any]) -> pd.DataFrame:
    df = _df(inputs["gradient_flow"]["accuracy"])
    if "careless_init" not in df:
        df = df.assign(careless_init=False)
    return df


@claim(
    "few_layers_anything",
    ACTIVATIONS,
    "fig03_depth_accuracy",
    0.05,
    "<",
    "test accuracy of the best minus the worst activation x initializer at the shallowest depth "
    "(too-large initializers left out), picked on half of the seeds and measured on the other "
    "half, then the halves swapped (cross-fitted), per seed",
    "With 2-3 layers almost any activation works.",
    needs=("gradient_flow",),
)
def few_layers_anything(inputs: Mapping[str, Any]):
    """At the shallowest depth: best minus worst activation x initializer (the deliberately
    too-large initializers left out), cross-fitted: best and worst are picked on one half of the
    seeds and their gap is measured on the other half, then the halves swap, so every seed is
    measured once by a pick it did not take part in (paired by seed, t over all seeds). With
    fewer than 4 seeds there is no held-out half and no interval."""
    df = _depth_accuracy(inputs)
    shallow = df[(df["depth"] == df["depth"].min()) & ~df["careless_init"].astype(bool)]
    if shallow.groupby(["activation", "init"]).ngroups < 2:
        return math.nan, math.nan, math.nan, "fewer than two activations at the shallowest depth"
    seeds = sorted(int(x) for x in shallow["seed"].unique())
    per = shallow.set_index(["activation", "init", "seed"])["test_accuracy"].sort_index()
    halves = [seeds[: len(seeds) // 2], seeds[len(seeds) // 2 :]]

    def pick(on):
        means = shallow[shallow["seed"].isin(on)].groupby(["activation", "init"])["test_accuracy"]
        means = means.mean()
        return means.idxmax(), means.idxmin(), means

    best, worst, means = pick(seeds)
    depth = int(df["depth"].min())
    if len(halves[0]) < 2:
        d = (per.loc[best] - per.loc[worst]).dropna()
        value, lo, hi = float(d.mean()), math.nan, math.nan
        note = f"; only {len(seeds)} seeds: best and worst cannot be picked on held-out seeds"
    else:
        parts, picks = [], []
        for on, held in ((halves[0], halves[1]), (halves[1], halves[0])):
            b, w, _ = pick(on)
            d = (per.loc[b] - per.loc[w]).dropna()
            parts.append(d[d.index.isin(held)])
            picks.append(f"{b[0]}/{b[1]} over {w[0]}/{w[1]} picked on seeds {on}")
        value, lo, hi = mean_interval(pd.concat(parts))
        note = f"; cross-fitted, {'; '.join(picks)}, each measured on the other seeds"
    return (
        value,
        lo,
        hi,
        (
            f"{depth} hidden layers: best {best[0]}/{best[1]} {_f(means[best], 2)}, worst "
            f"{worst[0]}/{worst[1]} {_f(means[worst], 2)} test accuracy over all seeds (held-out "
            f"gap {_f(value)}, {_ci(lo, hi)}{note})"
        ),
    )


@claim(
    "many_layers_careless_fails",
    ACTIVATIONS,
    "fig03_depth_accuracy",
    0.1,
    ">",
    "largest drop in test accuracy from the shallowest to the deepest net of any activation x "
    "initializer, per seed",
    "With many layers a careless choice of activation or initialisation fails.",
    needs=("gradient_flow",),
)
def many_layers_careless_fails(inputs: Mapping[str, Any]):
    """The largest accuracy drop from the shallowest to the deepest net of any activation x
    initializer, per seed."""
    df = _depth_accuracy(inputs)
    lo_d, hi_d = int(df["depth"].min()), int(df["depth"].max())
    if lo_d == hi_d:
        return math.nan, math.nan, math.nan, "only one depth was trained"
    per = df.set_index(["activation", "init", "seed", "depth"])["test_accuracy"].unstack("depth")
    drop = (per[lo_d] - per[hi_d]).dropna()
    mean_drop = drop.groupby(level=["activation", "init"]).mean()
    worst = mean_drop.idxmax()
    d = drop.loc[worst]
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"{worst[0]}/{worst[1]} falls from {_f(per[lo_d].loc[worst].mean(), 2)} at {lo_d} to "
            f"{_f(per[hi_d].loc[worst].mean(), 2)} at {hi_d} hidden layers (drop {_f(value)}, "
            f"{_ci(lo, hi)})"
        ),
    )


def _gradient_growth(inputs: Mapping[str, Any]) -> tuple[pd.Series, int, int]:
    """log10 of the first layer's gradient norm at the deepest depth over that at the
    shallowest, at initialisation, per (activation, init, seed)."""
    df = _df(inputs["gradient_flow"]["records"])
    df = df[(df["stage"] == "init") & (df["layer"] == 1)]
    lo_d, hi_d = int(df["depth"].min()), int(df["depth"].max())
    per = df.set_index(["activation", "init", "seed", "depth"])["grad_norm"].unstack("depth")
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.log10(per[hi_d].astype(float)) - np.log10(per[lo_d].astype(float))
    return growth.replace([np.inf, -np.inf], np.nan), lo_d, hi_d


def _gradient_claim(inputs: Mapping[str, Any], pick: str):
    growth, lo_d, hi_d = _gradient_growth(inputs)
    if lo_d == hi_d or growth.dropna().empty:
        return math.nan, math.nan, math.nan, "only one depth was measured"
    med = growth.groupby(level=["activation", "init"]).median()
    combo = med.idxmin() if pick == "min" else med.idxmax()
    value, lo, hi = mean_interval(growth.loc[combo])
    word = "shrinks" if value < 0 else "grows"
    return (
        value,
        lo,
        hi,
        (
            f"at initialisation the first layer's gradient norm of {combo[0]}/{combo[1]} {word} by "
            f"10^{_f(value, 2)} from {lo_d} to {hi_d} hidden layers ({_ci(lo, hi)} decades)"
        ),
    )


@claim(
    "gradients_vanish",
    ACTIVATIONS,
    "fig03_gradient_flow",
    -GRADIENT_DECADES,
    "<",
    "log10 growth of the first layer's gradient norm at initialisation from the shallowest to the "
    "deepest net, for the most-shrinking activation x initializer, per seed",
    "With many layers a careless choice makes gradients vanish.",
    needs=("gradient_flow",),
)
def gradients_vanish(inputs: Mapping[str, Any]):
    """The most-shrinking activation x initializer: log10 growth of the first layer's gradient."""
    return _gradient_claim(inputs, "min")


@claim(
    "gradients_explode",
    ACTIVATIONS,
    "fig03_gradient_flow",
    GRADIENT_DECADES,
    ">",
    "log10 growth of the first layer's gradient norm at initialisation from the shallowest to the "
    "deepest net, for the most-growing activation x initializer, per seed",
    "With many layers a careless choice makes gradients explode.",
    needs=("gradient_flow",),
)
def gradients_explode(inputs: Mapping[str, Any]):
    """The most-growing activation x initializer: log10 growth of the first layer's gradient."""
    return _gradient_claim(inputs, "max")
