"""Claims from the literature on comparing optimizers fairly (issue 21; STUDY.md section 7).

:func:`adaptive_generalise_worse`: Wilson et al. 2017's separable problem
(:mod:`nngrid.study.experiments.wilson`, figure 13), where adaptive methods from zero converge
to a solution that labels every new point positive while gradient descent generalises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nngrid.study.claims.core import OPTIMIZERS, _ci, _df, _f, claim, mean_interval

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
