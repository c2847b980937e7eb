"""One entry point per figure rule: read the rule's inputs, draw, write the computed captions.

``make(name, inputs, outputs, params)`` is what ``workflow/scripts/figure.py`` calls with the
rule's name and its named inputs, outputs and params. Naming convention: every figure output
``<key>`` has a caption output ``<key>_caption`` (rst, rendered into the Snakemake report) and
may have an input ``<key>_description`` (the static rst text in ``workflow/report/``) that goes
before the numbers computed by the caption modules of :mod:`nngrid.study.report`. A rule with an
input ``claims`` (``claims.csv``) gets the verdicts of the claims each figure shows appended to
its caption.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nngrid.study.figures import (
    activations,
    architectures,
    batches,
    boundaries,
    cost,
    cures,
    gradients,
    grid,
    hyperparameters,
    overfitting,
    profiles,
    wilson,
)
from nngrid.study.figures import paths as paths_fig
from nngrid.study.profiles import METRIC as PROFILE_METRIC
from nngrid.study.report import experiment_captions, grid_captions
from nngrid.study.report.captions import verdicts_text, write_caption

Builder = Callable[[Mapping, Mapping, Mapping], dict[str, str]]
BUILDERS: dict[str, Builder] = {}


def builder(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return register


def _experiment(inputs: Mapping) -> dict:
    from nngrid.study.experiments import load

    return load(inputs["experiment"])


def _table(path: str) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def _experiment_figure(
    name: str, draw: Callable[[dict, Any], Any], caption: Callable[[list], str]
) -> None:
    """Register the builder of rule ``name``: one ``figure``, drawn by ``draw(result, path)``
    from the rule's experiment result and captioned by ``caption(records)``."""

    @builder(name)
    def build(i, o, p):
        r = _experiment(i)
        draw(r, o["figure"])
        return {"figure": caption(r["records"])}


_experiment_figure(
    "figure_activations",
    lambda r, path: activations.activation_gallery(r["records"], path),
    experiment_captions.activations_caption,
)
_experiment_figure(
    "figure_nonlinearity",
    boundaries.nonlinearity_boundaries,
    experiment_captions.nonlinearity_caption,
)


@builder("figure_gradient_flow")
def _gradient_flow(i, o, p):
    r = _experiment(i)
    gradients.gradient_flow(r, o["figure"])
    out = {"figure": experiment_captions.gradient_caption(r["records"])}
    if "depth" in o:
        gradients.depth_accuracy(r, o["depth"])
        out["depth"] = experiment_captions.depth_caption(r["accuracy"])
    return out


@builder("figure_overfitting")
def _overfitting(i, o, p):
    r = _experiment(i)
    overfitting.regression_fits(r, o["fits"])
    overfitting.regression_losses(r, o["losses"])
    text = experiment_captions.overfitting_caption(r["records"])
    return {"fits": text, "losses": text}


_experiment_figure(
    "figure_data_size",
    lambda r, path: overfitting.data_size(r["records"], path),
    experiment_captions.data_size_caption,
)


@builder("figure_regularizers")
def _regularizers(i, o, p):
    r = _experiment(i)
    plot = p.get("plot") or {}
    boundaries.regularizer_boundaries(r, o["boundaries"], plot.get("boundaries"))
    boundaries.weight_histograms(r, o["histograms"], plot.get("histograms"))
    text = experiment_captions.regularizers_caption(r["records"])
    return {"boundaries": text, "histograms": text}


@builder("figure_batch_size")
def _batch_size(i, o, p):
    r = _experiment(i)
    batches.batch_size_curves(r["records"], o["figure"])
    return {"figure": experiment_captions.batches_caption(r["records"], r.get("final"))}


_experiment_figure("figure_cures", cures.cures, experiment_captions.cures_caption)


@builder("figure_optimizer_paths")
def _paths(i, o, p):
    r = _experiment(i)
    paths_fig.optimizer_paths(r["records"], o["figure"], p.get("optimizers"))
    return {"figure": experiment_captions.paths_caption(r["records"])}


@builder("figure_wilson")
def _wilson(i, o, p):
    r = _experiment(i)
    wilson.wilson(r, o["figure"], p.get("optimizers"))
    return {"figure": wilson.wilson_caption(r)}


def _multi_cell(df: pd.DataFrame, studies: set) -> pd.DataFrame:
    return df[df["study"].isin(studies)] if "study" in df else df


@builder("figure_grid")
def _grid(i, o, p):
    runs, summary = _table(i["runs"]), _table(i["summary"])
    rankings, histories = _table(i["rankings"]), _table(i["histories"])
    # a study of a single cell (the MNIST-1D check) is never pooled into grid-wide figures
    cells = summary.groupby("study")[["dataset", "activation", "regularizer", "optimizer"]]
    multi = {s for s, n in cells.apply(lambda g: len(g.drop_duplicates())).items() if n > 1}
    runs, summary, histories = (_multi_cell(t, multi) for t in (runs, summary, histories))
    # one tuning protocol's studies (lr's when it ran): the others' are in the claims, figure 14
    protocol, runs, summary, histories, rankings = grid.one_protocol(
        runs, summary, histories, rankings
    )
    order = p.get("order") or {}
    opts = order.get("optimizers")
    # the performance-profile scores have their own figure (figure_profile)
    rankings = rankings[rankings["metric"] != PROFILE_METRIC]
    grid.heatmaps(summary, o["heatmaps"], order)
    grid.learning_curves(histories, runs, o["curves"], opts)
    grid.lr_sensitivity(runs, o["lr"], opts)
    grid.time_to_target(runs, o["target"], opts)
    grid.generalization_gap(runs, o["gap"], order.get("regularizers"))
    grid.rankings(rankings, o["rankings"])
    grid.tuning_gain(summary, o["tuning"], opts)
    infos = {Path(f).stem: json.loads(Path(f).read_text()) for f in i.get("datasets", [])}
    datasets = grid_captions.datasets_caption(
        {k: v for k, v in infos.items() if k in set(runs["dataset"])}
    )
    captions = {
        "heatmaps": grid_captions.heatmap_caption(summary)
        + ("\n\n" + datasets if datasets else ""),
        "curves": grid_captions.curves_caption(histories, runs),
        "lr": grid_captions.lr_caption(runs),
        "target": grid_captions.time_to_target_caption(runs),
        "gap": grid_captions.gap_caption(runs),
        "rankings": grid_captions.rankings_caption(rankings),
        "tuning": grid_captions.tuning_caption(summary),
    }
    shown = grid_captions.protocol_note(protocol)
    return {key: text + shown for key, text in captions.items()}


@builder("figure_profile")
def _profile(i, o, p):
    runs, summary, rankings = _table(i["runs"]), _table(i["summary"]), _table(i["rankings"])
    protocol, runs, summary, rankings = grid.one_protocol(runs, summary, rankings)
    opts = (p.get("order") or {}).get("optimizers")
    profiles.performance_profile(runs, summary, rankings, o["figure"], opts)
    caption = profiles.profile_caption(runs, summary, rankings)
    return {"figure": caption + grid_captions.protocol_note(protocol)}


@builder("figure_hyperparameters")
def _hyperparameters(i, o, p):
    runs, summary = _table(i["runs"]), _table(i["summary"])
    order = p.get("order") or {}
    hyperparameters.hyperparameter_axes(
        runs, o["figure"], p.get("search"), order.get("optimizers"), order.get("activations")
    )
    return {"figure": hyperparameters.hyperparameter_caption(runs, summary)}


@builder("figure_architectures")
def _architectures(i, o, p):
    r = _experiment(i)
    acts = ((p.get("order") or {}).get("activations")) or None
    architectures.accuracy(r, o["accuracy"], acts)
    architectures.curves(r, o["curves"], acts)
    out = {
        "accuracy": architectures.accuracy_caption(r),
        "curves": architectures.curves_caption(r),
    }
    if "gradients" in o:
        architectures.gradient_time(r, o["gradients"], acts)
        out["gradients"] = architectures.gradient_caption(r)
    return out


@builder("figure_cost")
def _cost(i, o, p):
    runs = _table(i["runs"])
    jobs = p["jobs"]
    jobs = json.loads(jobs) if isinstance(jobs, str) else jobs
    bench = cost.read_benchmarks(list(i["benchmarks"]), jobs)
    cost.cost(bench, runs, o["figure"], (p.get("order") or {}).get("optimizers"))
    return {"figure": grid_captions.cost_caption(cost.job_costs(bench, runs))}


def make(
    name: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
) -> None:
    """Run figure rule ``name``: draw every figure output and write every caption output."""
    if "tables_stamp" in inputs:  # the tables are derived, never edited: verified first
        from nngrid.study.integrity import verify_tables

        tables = ("runs", "summary", "rankings", "histories")
        verify_tables(inputs["tables_stamp"], [inputs[k] for k in tables if k in inputs])
    claims = None
    if "claims" in inputs:  # derived, never trusted: verified against its stamp, before drawing
        from nngrid.study.integrity import read_claims

        claims = read_claims(inputs["claims"])
    captions = BUILDERS[name](inputs, outputs, params or {})
    for key, text in captions.items():
        if claims is not None:  # the verdicts of the claims this figure shows (nngrid.study.claims)
            verdicts = verdicts_text(claims, Path(outputs[key]).stem)
            text = text + ("\n\n" + verdicts if verdicts else "")
        desc_key = f"{key}_description"
        description = Path(inputs[desc_key]).read_text() if desc_key in inputs else ""
        write_caption(outputs[f"{key}_caption"], text, description)
