"""The side experiments behind the figures (NumPy and the nngrid core only), one module each.

Each experiment is a function that returns a *result*: a dict with ``"records"``, a list of
flat dicts (one tidy row per measured thing, ready for ``pandas.DataFrame``), and optionally
NumPy arrays or further record lists under other keys. :func:`save` writes a result to one
``.npz`` (record lists as JSON strings, so no pickle) and :func:`load` reads it. The modules
mirror ``nngrid.study.figures``:

=============  ===============================  ========================================
module         function                         claims it feeds (:mod:`nngrid.study.claims`)
=============  ===============================  ========================================
activations    :func:`activation_curves`        - (figure 1: every activation, derivative)
boundaries     :func:`nonlinearity_boundaries`  nonlinearity_bends, step_cannot_learn
gradients      :func:`gradient_flow`            few_layers_anything,
                                                many_layers_careless_fails,
                                                gradients_vanish, gradients_explode
overfitting    :func:`regression_overfitting`   - (figure 4: fitted curves, loss curves)
overfitting    :func:`data_size_sweep`          more_data
cures          :func:`overfitting_cures`        unregularised_overfits, cure_*
boundaries     :func:`regularizer_boundaries`   l1_sparse, l2_small
batches        :func:`batch_size_curves`        minibatch_cheaper, minibatch_little_loss
paths          :func:`optimizer_paths`          - (figure 8: paths on 2-D functions)
wilson         :func:`wilson_separable`         adaptive_generalise_worse (figure 13)
architectures  ``run_architecture`` (one job    cnn_relu, cnn_relu_fast, rnn_relu_or_tanh,
               per architecture of a study;     rnn_gradient_vanishes, mlp_anything,
               not an ``experiments:`` key)     shuffle_control (figure 12)
=============  ===============================  ========================================

Randomness: every function takes a ``seed`` (or ``seeds``) and draws only from Generators
derived from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nngrid.io import load_npz, to_jsonable, write_npz
from nngrid.study.experiments.activations import activation_curves
from nngrid.study.experiments.batches import batch_size_curves
from nngrid.study.experiments.boundaries import nonlinearity_boundaries, regularizer_boundaries
from nngrid.study.experiments.common import Fit, Result, _long, fit
from nngrid.study.experiments.cures import overfitting_cures
from nngrid.study.experiments.gradients import gradient_flow
from nngrid.study.experiments.overfitting import data_size_sweep, regression_overfitting
from nngrid.study.experiments.paths import TEST_FUNCTIONS, TestFunction, optimizer_paths
from nngrid.study.experiments.wilson import wilson_separable

__all__ = [
    "EXPERIMENTS",
    "PLOT_KEYS",
    "TEST_FUNCTIONS",
    "Fit",
    "Result",
    "TestFunction",
    "activation_curves",
    "batch_size_curves",
    "data_size_sweep",
    "fit",
    "gradient_flow",
    "load",
    "nonlinearity_boundaries",
    "optimizer_paths",
    "overfitting_cures",
    "regression_overfitting",
    "regularizer_boundaries",
    "run",
    "save",
    "settings",
    "wilson_separable",
]

_long = _long  # re-exported for the tests


def save(path: str | Path, result: Result) -> Path:
    """Write ``result`` to ``path`` (.npz): arrays as they are, lists (of records) as JSON text."""
    arrays = {}
    for key, value in result.items():
        if isinstance(value, list):
            arrays[key] = np.array(json.dumps(to_jsonable(value), sort_keys=True))
        else:
            arrays[key] = np.asarray(value)
    return write_npz(path, **arrays)


def load(path: str | Path) -> Result:
    """Read a result written by :func:`save`; a side experiment's result stamped by its job
    (``job``: nngrid.study.integrity.stamp_experiment_result) is verified, then unstamped."""
    data = load_npz(path)
    out: Result = {}
    for key in data:
        value = np.asarray(data[key])
        out[key] = json.loads(str(value)) if value.dtype.kind == "U" else value
    job = out.get("job")
    if isinstance(job, list) and job and isinstance(job[0], dict) and "experiment" in job[0]:
        from nngrid.study.integrity import check_experiment_result

        check_experiment_result(path, out)
        del out["job"]
    return out


EXPERIMENTS = {
    "activation_curves": activation_curves,
    "optimizer_paths": optimizer_paths,
    "nonlinearity_boundaries": nonlinearity_boundaries,
    "gradient_flow": gradient_flow,
    "regression_overfitting": regression_overfitting,
    "data_size_sweep": data_size_sweep,
    "overfitting_cures": overfitting_cures,
    "regularizer_boundaries": regularizer_boundaries,
    "batch_size_curves": batch_size_curves,
    "wilson_separable": wilson_separable,
}


PLOT_KEYS = ("plot",)


def settings(name: str, section: dict, seed: int = 0) -> dict:
    """Keyword arguments for experiment ``name`` from its config ``section``.

    ``lr_grid: {low, high, points}`` becomes ``points`` log-spaced rates from ``low`` to
    ``high``; a batch size ``"full"`` becomes ``None`` (the full batch); ``seed`` comes from the
    section or the ``experiments.seed`` default; the figure-only ``plot`` key is dropped. An
    unknown key raises :class:`~nngrid.errors.NngridError` naming it and the valid ones.
    """
    import inspect

    from nngrid.errors import NngridError, choices_message

    if name not in EXPERIMENTS:
        raise NngridError(choices_message("experiment", name, list(EXPERIMENTS)))
    accepted = inspect.signature(EXPERIMENTS[name]).parameters
    kwargs = {k: v for k, v in (section or {}).items() if k not in PLOT_KEYS}
    for key in kwargs:
        if key not in accepted:
            raise NngridError(
                f"experiments.{name} has no key {key!r}; valid keys: "
                + ", ".join([*accepted, *PLOT_KEYS])
            )
    grid = kwargs.get("lr_grid")
    if isinstance(grid, dict):
        kwargs["lr_grid"] = np.geomspace(grid["low"], grid["high"], int(grid["points"])).tolist()
    if "batch_sizes" in kwargs:
        kwargs["batch_sizes"] = [
            None if b in ("full", None) else int(b) for b in kwargs["batch_sizes"]
        ]
    if "seed" in accepted and "seed" not in kwargs:
        kwargs["seed"] = int(seed)
    return kwargs


def run(name: str, section: dict, seed: int = 0) -> Result:
    """Run experiment ``name`` with the settings of its config ``section``."""
    return EXPERIMENTS[name](**settings(name, section, seed))
