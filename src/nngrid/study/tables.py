"""Per-job JSON files -> pandas tables: every run, summaries with confidence intervals, rankings.

The core never imports this module (it needs pandas). Inputs are the JSON files the training jobs
write (``python -m nngrid.study.protocol``: ``{"spec", "seconds", "slurm_job_id", "rows"}``, one
row per
replica). Outputs, each written atomically (temporary name in the same folder, then rename):

``runs``
    One row per replica: the cell's axes, the arm (``tune``, ``tuned``, ``untuned``), seed, lr,
    the flags and every final and best metric. ``epochs_to_target`` and ``seconds_to_target`` are
    ``inf`` when the target validation accuracy was never reached; ``steps_to_target`` is
    ``epochs_to_target * batches_per_epoch`` (``ceil(n_train / batch_size)``, 1 for the full
    batch), the count of optimizer steps. Diverged runs stay, flagged. ``lr_on_edge`` flags a
    cell whose tuned rate is still on an edge of its (extended) grid. ``protocol`` names the
    tuning protocol (``lr``, ``full``, ``default``; one per study: a study tunes by one
    protocol), ``chosen_params`` the protocol's choice of every hyperparameter (JSON),
    ``params_on_edge`` the ranges whose winning value sits on an edge, ``trial`` and
    ``trial_params`` a search trial's number and values (tune rows of ``full``); under
    ``default`` the ``tuned`` arm is the defaults. The wall-clock columns
    (:data:`TIMING_COLUMNS`) are cost only: nothing ranks or decides on them.
``summary``
    Per cell and arm (``tuned`` and ``untuned``, with the cell's ``protocol``,
    ``chosen_params`` and ``params_on_edge``; the single-seed ``tune`` rows are the
    learning-rate sensitivity curve and stay in ``runs``): for each metric the mean, the sample
    standard deviation ``s`` (``ddof=1``), the count ``n`` of finite values and the 95% confidence
    interval ``mean -+ t_{0.975, n-1} * s / sqrt(n)`` (Student's t; ``NaN`` when ``n < 2``), plus
    ``steps_to_target_median`` (optimizer steps, the verdicts' measure of speed), the number
    of diverged runs, the earliest epoch at which one diverged (``diverged_epoch_min``,
    missing when none did) and the number of runs that reached the target.
``rankings``
    Per study and dataset, the levels of each factor (optimizer, activation, regularizer) ranked
    by the mean test accuracy of their tuned cells (each cell averaged over its seeds first, the
    interval a t interval over cells; test loss, smallest first, for regression). Studies of a
    single cell are left out. Beside them, metric ``profile_area``: each optimizer's
    performance-profile score (:mod:`nngrid.study.profiles`: the normalised area of the share
    of cells in which its steps to target are within a factor tau of the fastest optimizer's,
    tau from 1 to 4) per study and dataset and over all of a study's datasets (``dataset``
    ``all``), with a bootstrap interval over cells (``--bootstrap-seed``).
``histories``
    One row per replica per epoch (``run_id`` joins it to ``runs``).

Every job file is verified before a row of it is read: its checksum, and that it stands for
its job (``--expect-specs``: the spec digest the workflow expects of each file; no symbolic
link, no copy; :func:`nngrid.study.integrity.check_results`).

Command line::

    python -m nngrid.study.tables --runs results/runs/**/*.json --out-dir results/tables \\
        [--expect-specs SHA256 ...]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nngrid.core.train import METRIC_KEYS, RECORD_KEYS
from nngrid.errors import NngridError, report_error
from nngrid.io import atomic_write, read_json, verify_sha256

__all__ = [
    "AXES",
    "METRICS",
    "TIMING_COLUMNS",
    "batches_per_epoch",
    "collect",
    "confidence_interval",
    "histories_table",
    "fastest_steps",
    "load_rows",
    "main",
    "profile_rankings",
    "rankings_table",
    "runs_table",
    "score",
    "summary_table",
    "t_quantile",
    "lr_tuning_rows",
    "tasks",
    "write_tables",
]

#: Columns that identify a cell.
AXES = ["study", "dataset", "activation", "regularizer", "optimizer"]
#: Metrics summarised per cell and arm.
METRICS = [
    "test_accuracy",
    "val_accuracy",
    "train_accuracy",
    "best_val_accuracy",
    "test_loss",
    "val_loss",
    "train_loss",
    "epochs",
    "seconds",
]
#: Per-epoch fields of a history entry.
HISTORY_FIELDS = ["train_loss", "val_loss", "train_accuracy", "val_accuracy", "seconds"]
#: The record's scalar fields (:data:`nngrid.core.train.RECORD_KEYS` less the nested ``history`` and
#: ``config`` and the ``version`` string), the replica's identity first.
_RECORD_FIELDS = ["replica", "seed", "lr"]
_RECORD_FIELDS += [
    k for k in RECORD_KEYS if k not in {*_RECORD_FIELDS, "history", "config", "version"}
]
_CELL_FIELDS = [
    "regularizer_kind",
    "chosen_lr",
    "default_lr",
    "lr_on_edge",
    "lr_extended",
    "all_diverged",
    "selected",
    "n_train",
    "tune_seeds",
    "slurm_job_id",
]
#: Columns that measure wall-clock time: they change with the machine's load, so no verdict,
#: ranking or column a verdict reads uses them (``runs``, ``summary`` and ``histories``).
TIMING_COLUMNS = (
    "seconds",
    "seconds_per_epoch",
    "seconds_to_target",
    *(f"seconds_{s}" for s in ("mean", "std", "n", "ci_low", "ci_high")),
    "seconds_to_target_median",
)
_CONFIG_FIELDS = ["hidden", "init", "loss", "schedule", "batch_size", "dtype", "target_accuracy"]


# ----------------------------------------------------------------------------------------------
# Intervals (scipy.stats)
# ----------------------------------------------------------------------------------------------


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (e.g. 2.776 for 0.975, 4).

    ``scipy.stats.t.ppf``; ``NaN`` for ``df <= 0``.
    """
    from scipy import stats

    if not 0.0 < p < 1.0:
        raise NngridError(f"t_quantile needs 0 < p < 1, got {p!r}")
    if not df > 0:
        return math.nan
    return float(stats.t.ppf(p, df))


def confidence_interval(values: Iterable[float], level: float = 0.95) -> dict[str, float]:
    """Mean, sample std, n and the t interval ``mean -+ t_{(1+level)/2, n-1} s / sqrt(n)``.

    Non-finite values (a diverged run's loss) are left out of every statistic.
    """
    x = np.asarray([v for v in values if v is not None], dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    half = t_quantile(0.5 + level / 2.0, n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return {"mean": mean, "std": std, "n": n, "ci_low": mean - half, "ci_high": mean + half}


# ----------------------------------------------------------------------------------------------
# Tasks: a regression dataset has losses only
# ----------------------------------------------------------------------------------------------

#: Columns of every table that hold an accuracy (absent from a table of regression rows only).
ACCURACY_PREFIXES = ("train_accuracy", "val_accuracy", "test_accuracy", "best_val_accuracy")


def tasks(df: pd.DataFrame) -> pd.Series:
    """Per row, ``classification`` or ``regression``: a dataset is regression when none of its
    rows has an accuracy (the core reports none for float targets; a diverged seed of a
    classification cell is outvoted by the other rows of its dataset)."""
    col = next(
        (c for c in ("test_accuracy", "test_accuracy_mean", "val_accuracy") if c in df), None
    )
    if col is None or df.empty:
        return pd.Series("regression", index=df.index, dtype=object)
    keys = [df[k] for k in ("study", "dataset") if k in df]
    has = df[col].notna().groupby(keys, sort=False).transform("any") if keys else df[col].notna()
    return has.map({True: "classification", False: "regression"}).astype(object)


def score(task: str, split: str = "test") -> tuple[str, str, bool]:
    """The metric a ``task`` is judged by on ``split``: ``(column, label, larger_is_better)``,
    accuracy for classification, the loss (mean squared error / 2) for regression."""
    if task == "regression":
        return f"{split}_loss", f"{split} loss", False
    return f"{split}_accuracy", f"{split} accuracy", True


def _drop_accuracy(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without its accuracy columns when every row is regression (no column of NaN)."""
    if df.empty or (tasks(df) != "regression").any():
        return df
    drop = [c for c in df.columns if c.startswith(ACCURACY_PREFIXES) and df[c].isna().all()]
    return df.drop(columns=drop)


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------


def _read(path: str | os.PathLike[str]) -> dict:
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise NngridError(
            f"{path}: not a training job result (no 'rows' list); delete it and rerun its job"
        )
    return doc


def _check_row(path: Any, i: int, row: Any) -> None:
    """A row must be what ``python -m nngrid.study.protocol`` writes: an object with the cell's
    axes,
    the arm, the record's fields (numbers, ``null`` or, for ``diverged``, a boolean) and a
    history list; anything else stops the collection naming the file."""
    fix = "delete it and rerun its job"
    if not isinstance(row, dict):
        raise NngridError(f"{path}: row {i} is not a JSON object; {fix}")
    missing = [k for k in (*AXES, "arm", *_RECORD_FIELDS, "history") if k not in row]
    if missing:
        raise NngridError(f"{path}: row {i} lacks {missing[0]!r}; {fix}")
    history = row["history"]
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise NngridError(f"{path}: row {i} has a history that is not a list of epochs; {fix}")
    for key in _RECORD_FIELDS:
        value = row[key]
        if key == "diverged":
            ok = isinstance(value, bool)
        else:
            ok = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
        if not ok:
            raise NngridError(f"{path}: row {i} has {key} = {value!r}, not a number; {fix}")


def load_rows(
    paths: Iterable[str | os.PathLike[str]], expected: Sequence[str] | None = None
) -> list[dict]:
    """Every replica row of every job file, each with ``source`` (its file).

    Each file must stand for its job (:func:`nngrid.study.integrity.check_results`): its own
    spec digest, the one ``expected`` gives for it (one per path, in order; the workflow passes
    the digests of its jobs' specs), no symbolic link and no result twice."""
    from nngrid.study.integrity import check_results

    paths = list(paths)
    rows: list[dict] = []
    docs = []
    for path in paths:
        doc = _read(path)
        for i, row in enumerate(doc["rows"]):
            _check_row(path, i, row)
        # the job's checksum: a value changed by hand after the job is refused, not collected
        verify_sha256(path, doc, f"remake it with: snakemake --forcerun {path}")
        docs.append(doc)
    check_results(paths, docs, expected)
    for path, doc in zip(paths, docs, strict=True):
        rows.extend({**row, "source": str(path)} for row in doc["rows"])
    return rows


def _inf_if_none(value: Any) -> float:
    return math.inf if value is None else float(value)


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def batches_per_epoch(n_train: Any, batch_size: Any) -> float:
    """Optimizer steps per epoch: ``ceil(n_train / batch_size)``, 1 for the full batch
    (``batch_size`` None or at least ``n_train``); ``NaN`` when ``n_train`` is unknown."""
    if n_train is None or (isinstance(n_train, float) and math.isnan(n_train)):
        return math.nan
    n = int(n_train)
    if batch_size in (None, "full") or int(batch_size) >= n:
        return 1.0
    return float(-(-n // int(batch_size)))


def runs_table(rows: Sequence[dict]) -> pd.DataFrame:
    """One row per replica (see the module docstring); ``run_id`` numbers them from 0."""
    records = []
    for i, row in enumerate(rows):
        config = row.get("config") or {}
        rec: dict[str, Any] = {"run_id": i}
        for key in AXES:
            rec[key] = row.get(key)
        rec["arm"] = row.get("arm")
        rec["protocol"] = row.get("protocol", "lr")  # rows written before protocols: lr
        for key in _CELL_FIELDS:
            rec[key] = row.get(key)
        for key in _RECORD_FIELDS:
            rec[key] = row.get(key)
        for key in ("epochs_to_target", "seconds_to_target"):  # never reached: infinitely far
            rec[key] = _inf_if_none(rec[key])
            if config.get("task") == "regression":  # the target is an accuracy: not measured
                rec[key] = math.nan
        rec["batches_per_epoch"] = batches_per_epoch(rec.get("n_train"), config.get("batch_size"))
        rec["steps_to_target"] = rec["epochs_to_target"] * rec["batches_per_epoch"]
        for name, value in sorted((row.get("reg_params") or {}).items()):
            rec[f"reg_{name}"] = value
        rec["reg_params"] = json.dumps(row.get("reg_params") or {}, sort_keys=True)
        rec["opt_params"] = json.dumps(row.get("opt_params") or {}, sort_keys=True)
        # what the protocol chose (every hyperparameter, resolved), which ranges' edges the
        # winner sits on, and a search trial's own values (tune rows of the full protocol)
        rec["chosen_params"] = json.dumps(_chosen_params(row), sort_keys=True)
        rec["params_on_edge"] = ",".join(_params_on_edge(row))
        rec["trial"] = row.get("trial")
        rec["trial_params"] = (
            json.dumps(row["trial_params"], sort_keys=True) if row.get("trial_params") else None
        )
        for key in _CONFIG_FIELDS:
            value = config.get(key)
            rec[key] = "-".join(map(str, value)) if isinstance(value, list | tuple) else value
        rec["max_epochs"] = config.get("epochs")
        rec["source"] = row.get("source")
        records.append(rec)
    df = pd.DataFrame.from_records(records)
    if df.empty:
        return df
    for key in (*METRIC_KEYS, "seconds", "seconds_per_epoch", "lr"):
        df[key] = [_num(v) for v in df[key]]
    df["diverged"] = df["diverged"].fillna(False).astype(bool)
    df["diverged_epoch"] = pd.array(df["diverged_epoch"], dtype="Int64")
    df["trial"] = pd.array(df["trial"], dtype="Int64")
    for key in ("lr_on_edge", "lr_extended", "all_diverged", "selected"):
        df[key] = df[key].fillna(False).astype(bool)
    df["slurm_job_id"] = df["slurm_job_id"].astype("string")
    return _drop_accuracy(df)


def _chosen_params(row: Mapping[str, Any]) -> dict:
    """The protocol's chosen setting of every hyperparameter (rows written before protocols:
    the chosen rate over the cell's params)."""
    if row.get("chosen_params") is not None:
        return dict(row["chosen_params"])
    return {**dict(row.get("opt_params") or {}), "lr": row.get("chosen_lr")}


def _params_on_edge(row: Mapping[str, Any]) -> list[str]:
    if row.get("params_on_edge") is not None:
        return list(row["params_on_edge"])
    return ["lr"] if row.get("lr_on_edge") else []


def lr_tuning_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The ``tune`` rows of the ``lr`` protocol: the learning-rate grid's runs, where only the
    rate varies (the ``full`` protocol's trials vary other hyperparameters too)."""
    tune = runs["arm"] == "tune"
    if "protocol" in runs:
        tune &= runs["protocol"].fillna("lr") == "lr"
    return runs[tune]


def histories_table(rows: Sequence[dict]) -> pd.DataFrame:
    """One row per replica per epoch; ``run_id`` matches :func:`runs_table`'s."""
    cols: dict[str, list] = {k: [] for k in ["run_id", "epoch", *HISTORY_FIELDS]}
    for i, row in enumerate(rows):
        for entry in row.get("history") or []:
            cols["run_id"].append(i)
            cols["epoch"].append(entry.get("epoch"))
            for key in HISTORY_FIELDS:
                cols[key].append(_num(entry.get(key)))
    hist = pd.DataFrame(cols)
    keys = pd.DataFrame(
        {
            "run_id": range(len(rows)),
            **{k: [r.get(k) for r in rows] for k in [*AXES, "arm", "seed", "lr", "diverged"]},
        }
    )
    return _drop_accuracy(keys.merge(hist, on="run_id", how="right"))


# ----------------------------------------------------------------------------------------------
# Summaries
# ----------------------------------------------------------------------------------------------


def summary_table(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per cell and arm (tuned, untuned): ``<metric>_{mean,std,n,ci_low,ci_high}`` and counts."""
    runs = runs[runs["arm"].isin(["tuned", "untuned"])]
    keys = [*AXES, "arm"]
    out = []
    for key, group in runs.groupby(keys, sort=False, dropna=False):
        rec = dict(zip(keys, key, strict=True))
        rec["protocol"] = group["protocol"].iloc[0]
        rec["chosen_params"] = group["chosen_params"].iloc[0]
        rec["params_on_edge"] = group["params_on_edge"].iloc[0]
        rec["lr"] = float(group["lr"].iloc[0])
        rec["lr_on_edge"] = bool(group["lr_on_edge"].any())
        rec["lr_extended"] = bool(group["lr_extended"].any())
        rec["runs"] = len(group)
        rec["diverged"] = int(group["diverged"].sum())
        first = group["diverged_epoch"].dropna()
        rec["diverged_epoch_min"] = int(first.min()) if len(first) else pd.NA
        rec["reached_target"] = int(np.isfinite(group["epochs_to_target"]).sum())
        for metric in METRICS:
            if metric not in group:  # a regression-only table has no accuracy
                continue
            stats = confidence_interval(group[metric], level)
            for name, value in stats.items():
                rec[f"{metric}_{name}"] = value
        rec["epochs_to_target_median"] = float(np.median(group["epochs_to_target"]))
        rec["steps_to_target_median"] = float(np.median(group["steps_to_target"]))
        rec["seconds_to_target_median"] = float(np.median(group["seconds_to_target"]))
        out.append(rec)
    df = pd.DataFrame(out)
    if not df.empty:
        df["diverged_epoch_min"] = df["diverged_epoch_min"].astype("Int64")
        regression = tasks(df) == "regression"
        if regression.any():  # the target is an accuracy: not measured (classification: kept)
            df["reached_target"] = df["reached_target"].astype("Int64").mask(regression)
    return _drop_accuracy(df)


def rankings_table(runs: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per study and dataset, each factor's levels ranked by tuned mean test accuracy.

    Seeds are nested in cells, so the unit is the cell: each cell's tuned runs are averaged
    over their seeds first, and a level's mean and t interval are taken over its cells (the
    cells of the other factors), never over the pooled runs. A study with a single cell has
    nothing to rank and is left out. Regression datasets (no accuracy) rank by test loss,
    smallest first. Columns: study, dataset, factor, level, rank, metric, mean, std, n (cells),
    ci_low, ci_high, diverged (runs).
    """
    tuned = runs[runs["arm"] == "tuned"]
    out = []
    for (study, dataset), data in tuned.groupby(["study", "dataset"], sort=False):
        has_accuracy = "test_accuracy" in data and data["test_accuracy"].notna().any()
        metric = "test_accuracy" if has_accuracy else "test_loss"
        cells = data.groupby(AXES[2:], sort=False).agg(
            value=(metric, lambda v: float(np.nanmean(v)) if np.isfinite(v).any() else math.nan),
            diverged=("diverged", "sum"),
        )
        if len(cells) < 2:
            continue
        cells = cells.reset_index()
        for factor in ("optimizer", "activation", "regularizer"):
            if cells[factor].nunique() < 2:
                continue
            recs = []
            for level_name, group in cells.groupby(factor, sort=False):
                stats = confidence_interval(group["value"], level)
                recs.append(
                    {
                        "study": study,
                        "dataset": dataset,
                        "factor": factor,
                        "level": level_name,
                        "metric": metric,
                        **stats,
                        "diverged": int(group["diverged"].sum()),
                    }
                )
            best_first = metric == "test_accuracy"
            recs.sort(
                key=lambda r: np.nan_to_num(r["mean"], nan=-np.inf if best_first else np.inf),
                reverse=best_first,
            )
            for rank, rec in enumerate(recs, start=1):
                rec["rank"] = rank
            out += recs
    return pd.DataFrame(out, columns=RANKING_COLUMNS)


RANKING_COLUMNS = [
    "study",
    "dataset",
    "factor",
    "level",
    "rank",
    "metric",
    "mean",
    "std",
    "n",
    "ci_low",
    "ci_high",
    "diverged",
]


#: The first epochs whose mean validation loss (the area under the early learning curve) the
#: speed claims compare (:func:`early_loss`).
SPEED_EPOCHS = 10
#: The columns of histories.parquet that :func:`early_loss` reads (and the claims load).
EARLY_LOSS_COLUMNS = ["study", "dataset", "activation", "regularizer", "optimizer", "arm", "lr",
                      "seed", "diverged", "epoch", "val_loss"]  # fmt: skip


def _grid_studies(summary: pd.DataFrame) -> set:
    """The studies the grid's claims take: more than one tuned classification cell."""
    tuned = summary[summary["arm"] == "tuned"]
    tuned = tuned[(tasks(tuned) == "classification").to_numpy()]
    sizes = tuned.groupby("study")["optimizer"].transform("size")
    return set(tuned.loc[sizes > 1, "study"])


def early_loss(
    histories: pd.DataFrame | None,
    summary: pd.DataFrame,
    epochs: int = SPEED_EPOCHS,
    arm: str = "tune",
) -> pd.DataFrame:
    """How fast each optimizer brings the loss down, per cell (rows: study, dataset, activation,
    regularizer) and optimizer (columns): a tuning run's mean validation loss over its first
    ``epochs`` epochs (the area under its early learning curve; the same optimizer steps for
    every optimizer of a cell), the median over the tuning seeds, and of every rate the tuning
    tried (arm ``tune``; ``arm="tuned"`` for the default protocol, which tries one rate) the
    smallest: each optimizer at its own best rate for speed. A run
    with a non-finite loss in those epochs, or that diverged before their end, counts ``inf``.
    Unlike steps to a target accuracy it has no floor: where every optimizer reaches the target
    in the first epoch, the loss still says which got further."""
    if histories is None or histories.empty or "arm" not in histories:
        return pd.DataFrame()
    h = histories[(histories["arm"] == arm) & histories["study"].isin(_grid_studies(summary))]
    if h.empty:
        return pd.DataFrame()
    e = min(int(epochs), int(h["epoch"].max()))
    h = h[h["epoch"] <= e]
    keys = ["study", "dataset", "activation", "regularizer", "optimizer"]
    loss = h["val_loss"].astype(float)
    g = h.assign(val_loss=loss, finite=np.isfinite(loss)).groupby([*keys, "lr", "seed"])
    area = g["val_loss"].mean()
    broken = ~g["finite"].all() | (g["diverged"].max().astype(bool) & (g["epoch"].max() < e))
    area[broken.to_numpy()] = np.inf
    per_rate = area.groupby(level=[*keys, "lr"]).median()
    return per_rate.groupby(level=keys).min().unstack("optimizer")


def fastest_steps(runs: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    """Steps to target at each optimizer's fastest rate, per cell (rows: study, dataset,
    activation, regularizer) and optimizer (columns): of every rate its tuning tried (arm
    ``tune``; under the full protocol every trial), the smallest median over the tuning
    seeds; ``inf`` = no rate got there. The cells are those the grid's claims take (studies
    with more than one tuned classification cell); the speed claims
    (``nngrid.study.claims.optimizers``) and the performance profiles both read it."""
    if runs is None or "arm" not in runs or not (runs["arm"] == "tune").any():
        return pd.DataFrame()
    studies = _grid_studies(summary)
    keys = ["study", "dataset", "activation", "regularizer", "optimizer"]
    tune = runs[(runs["arm"] == "tune") & runs["study"].isin(studies)]
    # a candidate: a rate of the lr protocol's grid, or a trial of the full protocol's search
    candidate = ["lr", "trial"] if "trial" in tune else ["lr"]
    per_rate = tune.groupby([*keys, *candidate], dropna=False)["steps_to_target"].median()
    return per_rate.groupby(level=keys).min().unstack("optimizer")


def profile_rankings(
    runs: pd.DataFrame, summary: pd.DataFrame, seed: int = 0, tau_max: float | None = None
) -> pd.DataFrame:
    """The performance-profile rows of rankings.csv (:data:`RANKING_COLUMNS`, metric
    :data:`nngrid.study.profiles.METRIC`): per study, for each dataset and for all of them
    (``dataset`` ``all``), each optimizer's profile area (``mean``; ``std`` and ``n`` over its
    cells) with the bootstrap interval of :func:`nngrid.study.profiles.bootstrap_area` seeded
    by ``seed``, ranked largest first; ``diverged`` counts its diverged tuning runs there."""
    from nngrid.study import profiles

    tau_max = profiles.TAU_MAX if tau_max is None else tau_max
    steps = fastest_steps(runs, summary)
    out: list[dict] = []
    if steps.empty:
        return pd.DataFrame(out, columns=RANKING_COLUMNS)
    tune = runs[runs["arm"] == "tune"]
    diverged = tune.groupby(["study", "dataset", "optimizer"])["diverged"].sum()
    for study, sub in steps.groupby(level="study", sort=False):
        r, _ = profiles.ratios(sub)
        if r.empty or r.shape[1] < 2:
            continue
        scores = profiles.area_scores(r, tau_max)
        datasets = list(dict.fromkeys(scores.index.get_level_values("dataset")))
        for dataset in [*datasets, "all"]:
            names = datasets if dataset == "all" else [dataset]
            recs = []
            for opt in scores.columns:
                groups = [scores.xs(d, level="dataset")[opt].to_numpy() for d in names]
                value, lo, hi, _ = profiles.bootstrap_area(groups, seed)
                cells = np.concatenate(groups)
                recs.append(
                    {
                        "study": study,
                        "dataset": dataset,
                        "factor": "optimizer",
                        "level": opt,
                        "metric": profiles.METRIC,
                        "mean": value,
                        "std": float(cells.std(ddof=1)) if cells.size > 1 else math.nan,
                        "n": int(cells.size),
                        "ci_low": lo,
                        "ci_high": hi,
                        "diverged": int(sum(diverged.get((study, d, opt), 0) for d in names)),
                    }
                )
            recs.sort(key=lambda rec: -rec["mean"])
            for rank, rec in enumerate(recs, start=1):
                rec["rank"] = rank
            out += recs
    return pd.DataFrame(out, columns=RANKING_COLUMNS)


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------


def collect(
    paths: Iterable[str | os.PathLike[str]],
    expected: Sequence[str] | None = None,
    bootstrap_seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """All four tables from job files: ``{"runs", "summary", "rankings", "histories"}``
    (``expected``: the spec digest of each file's job, see :func:`load_rows`;
    ``bootstrap_seed``: the performance-profile scores' bootstrap)."""
    rows = load_rows(paths, expected)
    if not rows:
        raise NngridError("no training results to collect; give at least one job JSON file")
    runs = runs_table(rows)
    summary = summary_table(runs)
    rankings = rankings_table(runs)
    profile = profile_rankings(runs, summary, bootstrap_seed) if not summary.empty else None
    if profile is not None and len(profile):
        rankings = pd.concat([rankings, profile], ignore_index=True)
    return {
        "runs": runs,
        "summary": summary,
        "rankings": rankings,
        "histories": histories_table(rows),
    }


def write_tables(tables: dict[str, pd.DataFrame], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write runs.{parquet,csv}, summary.{parquet,csv}, rankings.csv, histories.parquet."""
    out = Path(out_dir)
    plan = [
        ("runs", "parquet"),
        ("runs", "csv"),
        ("summary", "parquet"),
        ("summary", "csv"),
        ("rankings", "csv"),
        ("histories", "parquet"),
    ]
    written = []
    for name, ext in plan:
        df = tables[name]
        path = out / f"{name}.{ext}"
        if ext == "csv":
            atomic_write(path, lambda f, df=df: df.to_csv(f, index=False))
        else:
            atomic_write(path, lambda f, df=df: df.to_parquet(f, index=False))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.study.tables --runs FILE... --out-dir DIR``."""
    parser = argparse.ArgumentParser(
        prog="python -m nngrid.study.tables",
        description="Collect training job JSON files into tables.",
    )
    parser.add_argument("--runs", nargs="+", required=True, help="job JSON files (globs allowed)")
    parser.add_argument("--out-dir", required=True, help="folder for the tables")
    parser.add_argument(
        "--expect-specs",
        nargs="*",
        default=None,
        metavar="SHA256",
        help="the spec digest each result of --runs must carry, in order (the workflow's)",
    )
    parser.add_argument(
        "--bootstrap-seed",
        type=int,
        default=0,
        help="seed of the performance-profile scores' bootstrap (config claims.bootstrap_seed)",
    )
    args = parser.parse_args(argv)
    try:
        if args.bootstrap_seed < 0:
            raise NngridError(f"--bootstrap-seed must be >= 0, got {args.bootstrap_seed}")
        paths: list[str] = []
        for pattern in args.runs:
            matches = sorted(glob.glob(pattern, recursive=True))
            paths += matches if matches else [pattern]
        if args.expect_specs is not None and len(paths) != len(args.runs):
            raise NngridError("--expect-specs needs --runs as file names, not patterns")
        tables = collect(paths, args.expect_specs, args.bootstrap_seed)
        written = write_tables(tables, args.out_dir)
        from nngrid.study.integrity import TABLES_STAMP, write_tables_stamp

        # each table's sha256: the claims and the figures verify the tables by it
        write_tables_stamp(written, Path(args.out_dir) / TABLES_STAMP)
    except NngridError as exc:
        return report_error(exc)
    for path in written:
        print(path, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
