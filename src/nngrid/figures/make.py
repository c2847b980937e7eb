"""One entry point per figure rule: read the rule's inputs, draw, write the computed captions.

``make(name, inputs, outputs, params)`` is what ``workflow/scripts/figure.py`` calls with the
rule's name and its named inputs, outputs and params. Naming convention: every figure output
``<key>`` has a caption output ``<key>_caption`` (rst, rendered into the Snakemake report) and
may have an input ``<key>_description`` (the static rst text in ``workflow/report/``) that goes
before the numbers computed by :mod:`nngrid.report`. A rule with an input ``claims``
(``claims.csv``) gets the verdicts of the claims each figure shows appended to its caption.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nngrid import report
from nngrid.figures import (
    activations,
    architectures,
    batches,
    boundaries,
    cost,
    cures,
    gradients,
    grid,
    overfitting,
)
from nngrid.figures import paths as paths_fig

Builder = Callable[[Mapping, Mapping, Mapping], dict[str, str]]
BUILDERS: dict[str, Builder] = {}


def builder(name: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return register


def _experiment(inputs: Mapping) -> dict:
    from nngrid.experiments import load

    return load(inputs["experiment"])


def _table(path: str) -> pd.DataFrame:
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


@builder("figure_activations")
def _activations(i, o, p):
    r = _experiment(i)
    activations.activation_gallery(r["records"], o["figure"])
    return {"figure": report.activations_caption(r["records"])}


@builder("figure_nonlinearity")
def _nonlinearity(i, o, p):
    r = _experiment(i)
    boundaries.nonlinearity_boundaries(r, o["figure"])
    return {"figure": report.nonlinearity_caption(r["records"])}


@builder("figure_gradient_flow")
def _gradient_flow(i, o, p):
    r = _experiment(i)
    gradients.gradient_flow(r, o["figure"])
    out = {"figure": report.gradient_caption(r["records"])}
    if "depth" in o:
        gradients.depth_accuracy(r, o["depth"])
        out["depth"] = report.depth_caption(r["accuracy"])
    return out


@builder("figure_overfitting")
def _overfitting(i, o, p):
    r = _experiment(i)
    overfitting.regression_fits(r, o["fits"])
    overfitting.regression_losses(r, o["losses"])
    text = report.overfitting_caption(r["records"])
    return {"fits": text, "losses": text}


@builder("figure_data_size")
def _data_size(i, o, p):
    r = _experiment(i)
    overfitting.data_size(r["records"], o["figure"])
    return {"figure": report.data_size_caption(r["records"])}


@builder("figure_regularizers")
def _regularizers(i, o, p):
    r = _experiment(i)
    plot = p.get("plot") or {}
    boundaries.regularizer_boundaries(r, o["boundaries"], plot.get("boundaries"))
    boundaries.weight_histograms(r, o["histograms"], plot.get("histograms"))
    text = report.regularizers_caption(r["records"])
    return {"boundaries": text, "histograms": text}


@builder("figure_batch_size")
def _batch_size(i, o, p):
    r = _experiment(i)
    batches.batch_size_curves(r["records"], o["figure"])
    return {"figure": report.batches_caption(r["records"], r.get("final"))}


@builder("figure_cures")
def _cures(i, o, p):
    r = _experiment(i)
    cures.cures(r, o["figure"])
    return {"figure": report.cures_caption(r["records"])}


@builder("figure_optimizer_paths")
def _paths(i, o, p):
    r = _experiment(i)
    paths_fig.optimizer_paths(r["records"], o["figure"], p.get("optimizers"))
    return {"figure": report.paths_caption(r["records"])}


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
    order = p.get("order") or {}
    opts = order.get("optimizers")
    grid.heatmaps(summary, o["heatmaps"], order)
    grid.learning_curves(histories, runs, o["curves"], opts)
    grid.lr_sensitivity(runs, o["lr"], opts)
    grid.time_to_target(runs, o["target"], opts)
    grid.generalization_gap(runs, o["gap"], order.get("regularizers"))
    grid.rankings(rankings, o["rankings"])
    grid.tuning_gain(summary, o["tuning"], opts)
    return {
        "heatmaps": report.heatmap_caption(summary),
        "curves": report.curves_caption(histories, runs),
        "lr": report.lr_caption(runs),
        "target": report.time_to_target_caption(runs),
        "gap": report.gap_caption(runs),
        "rankings": report.rankings_caption(rankings),
        "tuning": report.tuning_caption(summary),
    }


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
    return {"figure": report.cost_caption(cost.job_costs(bench, runs))}


def make(
    name: str,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
) -> None:
    """Run figure rule ``name``: draw every figure output and write every caption output."""
    captions = BUILDERS[name](inputs, outputs, params or {})
    claims = _table(inputs["claims"]) if "claims" in inputs else None
    for key, text in captions.items():
        if claims is not None:  # the verdicts of the claims this figure shows (nngrid.study.claims)
            verdicts = report.verdicts_text(claims, Path(outputs[key]).stem)
            text = text + ("\n\n" + verdicts if verdicts else "")
        desc_key = f"{key}_description"
        description = Path(inputs[desc_key]).read_text() if desc_key in inputs else ""
        report.write_caption(outputs[f"{key}_caption"], text, description)
