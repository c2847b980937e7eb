"""The rules of thumb for convolutional and recurrent networks, from the architectures arm."""

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
)
from nngrid.study.seeds import without_draws

# The rules of thumb for convolutional and recurrent networks (README "The lesson's claims"),
# from the architectures arm (nngrid.study.experiments.architectures, merged into
# results/tables/architectures.npz and read here as the experiment ``architectures``). The unit
# of every interval is a seed, paired across the cells compared (the cells of one job share their
# seeds and data).

#: Activations the architecture claims leave out of "any activation": identity is no bend at all
#: (its own claim, nonlinearity_bends) and the step function cannot learn (step_cannot_learn).
NOT_NONLINEAR = ("identity", "step")
#: The paired units of the comparisons between activations (one job's cells share them).
#: Through time, ``‖dL/dh_0‖ / ‖dL/dh_{L-1}‖`` below ``10^-GRADIENT_DECADES`` is marked
#: vanishing, above ``10^GRADIENT_DECADES`` exploding.
ARCH_KEYS = ["architecture", "regularizer", "optimizer", "seed"]


def _arch(inputs: Mapping[str, Any], shuffled: bool = False, draws: bool = False) -> pd.DataFrame:
    """The architectures arm's records on the data (``shuffled``: on the shuffled control); a
    dataset's extra draws (MNIST-1D generations for mlp_anything) only with ``draws``."""
    df = _df(inputs["architectures"]["records"])
    if df.empty:
        return df
    if not draws:
        df = without_draws(df)
    return df[df["shuffled"].astype(bool) == shuffled]


def _per_seed(df: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """``metric`` with one column per activation, one row per (architecture, regularizer,
    optimizer, seed): the paired units of the comparisons between activations."""
    return df.pivot_table(index=ARCH_KEYS, columns="activation", values=metric, aggfunc="mean")


def _arch_steps(df: pd.DataFrame) -> pd.Series:
    """Steps to the training-accuracy target, censored at the budget: a run that never got
    there counts as one epoch past its last (``(epochs + 1) * steps_per_epoch``)."""
    budget = (df["epochs"].astype(float) + 1) * df["steps_per_epoch"].astype(float)
    steps = pd.to_numeric(df["steps_to_target"], errors="coerce")
    return steps.where(steps.notna(), budget)


def _versus_relu(table: pd.DataFrame, larger: bool = True):
    """For each alternative to relu: the per-unit difference relu minus it (``larger``) or it
    minus relu; returns the alternative with the smallest mean difference and its values."""
    if "relu" not in table:
        return None, None, {}
    diffs = {}
    for alt in table.columns:
        if alt == "relu":
            continue
        d = (table["relu"] - table[alt]) if larger else (table[alt] - table["relu"])
        d = d.dropna()
        if len(d):
            diffs[alt] = d
    if not diffs:
        return None, None, {}
    rival = min(diffs, key=lambda a: diffs[a].mean())
    return rival, diffs[rival], {a: float(d.mean()) for a, d in diffs.items()}


@claim(
    "cnn_relu",
    ACTIVATIONS,
    "fig12_architectures",
    -0.01,
    ">",
    "CNNs' tuned test accuracy with relu minus the strongest alternative activation's, paired by "
    "seed (relu holds when no alternative beats it by more than a point)",
    "Convolutional networks: use relu.",
    needs=("architectures",),
)
def cnn_relu(inputs: Mapping[str, Any]):
    """CNNs: relu's tuned test accuracy minus its strongest rival's, paired by seed."""
    df = _arch(inputs)
    cnn = df[df["family"] == "cnn"] if not df.empty else df
    if cnn.empty:
        return math.nan, math.nan, math.nan, "no convolutional network was trained"
    table = _per_seed(cnn)
    rival, d, means = _versus_relu(table)
    if rival is None:
        return math.nan, math.nan, math.nan, "relu and an alternative were not both trained"
    value, lo, hi = mean_interval(d)
    acc = cnn.groupby("activation")["test_accuracy"].mean()
    return (
        value,
        lo,
        hi,
        (
            f"CNNs ({', '.join(sorted(cnn['architecture'].unique()))}): relu "
            f"{_f(acc['relu'], 2)} test accuracy; strongest rival {rival} {_f(acc[rival], 2)} "
            f"(relu minus {rival} {_f(value)}, {_ci(lo, hi)}); relu minus each: "
            + ", ".join(f"{a} {_f(v)}" for a, v in sorted(means.items(), key=lambda kv: kv[1]))
        ),
    )


@claim(
    "cnn_relu_fast",
    ACTIVATIONS,
    "fig12_curves",
    0.0,
    ">",
    "log2 of the fastest alternative's optimizer steps to the training-accuracy target "
    "(interpolated between epoch-end evaluations) over relu's, CNNs, paired by seed",
    "Convolutional networks train fastest with relu.",
    needs=("architectures",),
)
def cnn_relu_fast(inputs: Mapping[str, Any]):
    """CNNs: log2 of the fastest rival's optimizer steps to the training target over relu's."""
    df = _arch(inputs)
    cnn = df[df["family"] == "cnn"] if not df.empty else df
    if cnn.empty:
        return math.nan, math.nan, math.nan, "no convolutional network was trained"
    cnn = cnn.assign(log2_steps=np.log2(_arch_steps(cnn)))
    rival, d, means = _versus_relu(_per_seed(cnn, "log2_steps"), larger=False)
    if rival is None:
        return math.nan, math.nan, math.nan, "relu and an alternative were not both trained"
    value, lo, hi = mean_interval(d)
    med = cnn.assign(steps=_arch_steps(cnn)).groupby("activation")["steps"].median()
    target = float(cnn["target"].iloc[0])
    return (
        value,
        lo,
        hi,
        (
            f"median steps to {_f(target, 2)} training accuracy: relu {med['relu']:.0f}, "
            f"fastest rival {rival} {med[rival]:.0f} (log2 ratio {_f(value)}, {_ci(lo, hi)}; "
            "a run that never got there counts as one epoch past the budget)"
        ),
    )


def _time_decades(inputs: Mapping[str, Any], stage: str = "init") -> pd.DataFrame:
    """log10 of ``‖dL/dh_0‖ / ‖dL/dh_{L-1}‖`` per Elman RNN cell and seed (forward
    direction), at ``stage``; a ratio of exactly 0 (dead relu units) counts as 10^-30."""
    g = _df(inputs["architectures"].get("grad_time", []))
    if g.empty:
        return g
    g = g[(g["stage"] == stage) & (g["direction"] == 0) & (g["family"] == "rnn")]
    g = g[~g["shuffled"].astype(bool)]
    keys = ["architecture", "activation", "regularizer", "optimizer", "seed"]
    first = g[g["t"] == 0].set_index(keys)["grad_norm"]
    last = g[g["t"] == g["t"].max()].set_index(keys)["grad_norm"]
    ratio = (first / last).clip(lower=1e-30)  # a gradient that reached exactly 0: 10^-30
    return np.log10(ratio).rename("decades").reset_index()


def _marks(dec: pd.DataFrame) -> dict[str, str]:
    means = dec.groupby("activation")["decades"].mean()
    return {
        a: "vanishing"
        if v < -GRADIENT_DECADES
        else "exploding"
        if v > GRADIENT_DECADES
        else "flows"
        for a, v in means.items()
    }


@claim(
    "rnn_relu_or_tanh",
    ACTIVATIONS,
    "fig12_architectures",
    -0.01,
    ">",
    "Elman RNNs' tuned test accuracy of the best relu or tanh cell minus the best other "
    "nonlinearity's, paired by seed",
    "Recurrent networks: use relu or tanh.",
    needs=("architectures",),
)
def rnn_relu_or_tanh(inputs: Mapping[str, Any]):
    """Elman RNNs: the best relu/tanh cell's tuned test accuracy minus the best other
    nonlinearity's (each the cell with the highest mean; identity left out), paired by seed."""
    df = _arch(inputs)
    rnn = df[df["family"] == "rnn"] if not df.empty else df
    rnn = rnn[~rnn["activation"].isin(NOT_NONLINEAR)] if not rnn.empty else rnn
    if rnn.empty:
        return math.nan, math.nan, math.nan, "no Elman RNN was trained"
    cells = rnn.groupby(["architecture", "activation"])["test_accuracy"].mean()
    ours = cells[cells.index.get_level_values("activation").isin(["relu", "tanh"])]
    others = cells[~cells.index.get_level_values("activation").isin(["relu", "tanh"])]
    if ours.empty or others.empty:
        return math.nan, math.nan, math.nan, "relu/tanh and another nonlinearity not both trained"
    best, rival = ours.idxmax(), others.idxmax()
    per = rnn.set_index(["architecture", "activation", "seed"])["test_accuracy"].groupby(
        level=[0, 1, 2]
    )
    per = per.mean()
    d = (per.loc[best] - per.loc[rival]).dropna()
    value, lo, hi = mean_interval(d)
    diverged = rnn.groupby("activation")["diverged"].mean()
    marks = (
        _marks(_time_decades(inputs)) if len(inputs["architectures"].get("grad_time", [])) else {}
    )
    gated = df[df["family"] == "gated"].groupby("architecture")["test_accuracy"].mean()
    return (
        value,
        lo,
        hi,
        (
            f"best relu/tanh RNN {best[0]}/{best[1]} {_f(ours[best], 2)}, best other "
            f"{rival[0]}/{rival[1]} {_f(others[rival], 2)} test accuracy (difference {_f(value)}, "
            f"{_ci(lo, hi)}); diverged: "
            + ", ".join(f"{a} {v:.0%}" for a, v in diverged.items())
            + (
                "; gradient through time at init: "
                + ", ".join(f"{a} {m}" for a, m in marks.items())
                if marks
                else ""
            )
            + (
                "; gated units: " + ", ".join(f"{a} {_f(v, 2)}" for a, v in gated.items())
                if len(gated)
                else ""
            )
        ),
    )


@claim(
    "rnn_gradient_vanishes",
    ACTIVATIONS,
    "fig12_gradient_time",
    -GRADIENT_DECADES,
    "<",
    "log10 of ‖dL/dh_0‖ / ‖dL/dh_last‖ at initialisation for the Elman RNN activation whose "
    "gradient shrinks most, per seed",
    "Through time, a careless nonlinearity makes a recurrent net's gradient vanish.",
    needs=("architectures",),
)
def rnn_gradient_vanishes(inputs: Mapping[str, Any]):
    """Elman RNNs at initialisation: log10 ``‖dL/dh_0‖ / ‖dL/dh_{L-1}‖`` of the activation
    whose gradient shrinks most through time, per seed."""
    dec = _time_decades(inputs)
    if dec.empty:
        return math.nan, math.nan, math.nan, "no gradient through time was measured"
    means = dec.groupby("activation")["decades"].mean()
    worst = means.idxmin()
    d = dec[dec["activation"] == worst].groupby("seed")["decades"].mean()
    value, lo, hi = mean_interval(d)
    return (
        value,
        lo,
        hi,
        (
            f"{worst}: ‖dL/dh_0‖ is 10^{_f(value, 2)} of ‖dL/dh_last‖ ({_ci(lo, hi)}); "
            + ", ".join(f"{a} 10^{_f(v, 2)}" for a, v in means.items())
        ),
    )


@claim(
    "mlp_anything",
    ACTIVATIONS,
    "fig12_architectures",
    0.05,
    "<",
    "the MLP's tuned test accuracy of the best minus the worst nonlinear activation, per "
    "MNIST-1D generation (seeds paired and averaged within it; t interval over generations)",
    "Few layers: anything works (the MLP on MNIST-1D).",
    needs=("architectures",),
)
def mlp_anything(inputs: Mapping[str, Any]):
    """The MLP of the architectures arm: best minus worst nonlinear activation's tuned test
    accuracy (identity and step left out; best and worst by the mean over every run), paired
    by seed within each MNIST-1D generation (the data and each of its draws); the generation is
    the unit, since the gap moves with the generated data by more than with the seeds."""
    df = _arch(inputs, draws=True)
    mlp = df[df["family"] == "mlp"] if not df.empty else df
    mlp = mlp[~mlp["activation"].isin(NOT_NONLINEAR)] if not mlp.empty else mlp
    if mlp.empty or mlp["activation"].nunique() < 2:
        return math.nan, math.nan, math.nan, "fewer than two nonlinear activations in the MLP row"
    keys = ["dataset", *ARCH_KEYS]
    table = mlp.pivot_table(index=keys, columns="activation", values="test_accuracy")
    means = table.mean()
    best, worst = means.idxmax(), means.idxmin()
    d = (table[best] - table[worst]).dropna().rename("gap").reset_index()
    value, lo, hi, units = nested_interval(d, "gap", top="dataset")  # a generation each
    per = d.groupby("dataset", sort=False)["gap"].mean()
    return (
        value,
        lo,
        hi,
        (
            f"MLP on MNIST-1D: best {best} {_f(means[best], 2)}, worst {worst} "
            f"{_f(means[worst], 2)} test accuracy (gap {_f(value)}, {_ci(lo, hi)} over "
            f"{units}; per generation {', '.join(_f(v) for v in per)})"
        ),
    )


@claim(
    "shuffle_control",
    ACTIVATIONS,
    "fig12_architectures",
    0.05,
    ">",
    "test accuracy lost to a fixed permutation of the 40 positions, CNNs and recurrent nets minus "
    "the MLP, paired by seed",
    "Architecture matters through structure: shuffling the positions hurts CNNs and recurrent "
    "nets, not the MLP.",
    needs=("architectures",),
)
def shuffle_control(inputs: Mapping[str, Any]):
    """Accuracy lost to shuffling the positions: the CNNs' and gated/recurrent nets' mean drop
    minus the MLP's, paired by seed (same activation on both datasets)."""
    df = _df(inputs["architectures"]["records"])
    if df.empty or df["shuffled"].astype(bool).nunique() < 2:
        return math.nan, math.nan, math.nan, "the shuffled control was not trained"
    keys = ["architecture", "family", "activation", "regularizer", "optimizer", "seed"]
    acc = df.pivot_table(index=keys, columns="shuffled", values="test_accuracy", aggfunc="mean")
    acc = acc.dropna()
    if acc.empty:
        return math.nan, math.nan, math.nan, "no architecture ran on both the data and its control"
    drop = (acc[False] - acc[True]).rename("drop").reset_index()
    structured = drop[drop["family"] != "mlp"].groupby("seed")["drop"].mean()
    flat = drop[drop["family"] == "mlp"].groupby("seed")["drop"].mean()
    d = (structured - flat).dropna()
    if d.empty:
        return math.nan, math.nan, math.nan, "the control needs the MLP and a CNN or recurrent net"
    value, lo, hi = mean_interval(d)
    per = drop.groupby("architecture")["drop"].mean()
    return (
        value,
        lo,
        hi,
        (
            "test accuracy lost to shuffling the 40 positions: "
            + ", ".join(f"{a} {_f(v)}" for a, v in per.items())
            + f" (structured minus MLP {_f(value)}, {_ci(lo, hi)})"
        ),
    )
