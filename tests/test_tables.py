"""Tables from job files: t quantiles, confidence intervals, row counts, diverged rows kept."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nngrid.errors import NngridError
from nngrid.io import write_json
from nngrid.study.integrity import spec_digest
from nngrid.study.tables import (
    collect,
    confidence_interval,
    histories_table,
    load_rows,
    main,
    rankings_table,
    runs_table,
    summary_table,
    t_quantile,
    write_tables,
)

# -- Student's t -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 4, 2.7764451051977934),  # the classic table value 2.776
        (0.975, 1, 12.706204736174694),
        (0.975, 2, 4.302652729749462),
        (0.975, 9, 2.2621571627409915),
        (0.975, 30, 2.0422724563012378),
        (0.95, 7, 1.8945786050900062),
        (0.999, 1, 318.30883898555015),
        (0.6, 3, 0.2766706623326898),
        (0.025, 5, -2.5705818356363155),
    ],
)
def test_t_quantile_matches_reference_values(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, rel=1e-9)


def test_t_quantile_tends_to_the_normal_quantile():
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959963984540054, rel=1e-6)


def test_t_quantile_median_and_bad_input():
    assert t_quantile(0.5, 3) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(t_quantile(0.975, 0))
    with pytest.raises(NngridError):
        t_quantile(1.0, 4)


def test_confidence_interval_by_hand():
    ci = confidence_interval([1, 2, 3, 4, 5])
    s = math.sqrt(2.5)
    half = 2.7764451051977934 * s / math.sqrt(5)
    assert ci["mean"] == 3 and ci["n"] == 5
    assert ci["std"] == pytest.approx(s)
    assert ci["ci_low"] == pytest.approx(3 - half) and ci["ci_high"] == pytest.approx(3 + half)


def test_confidence_interval_skips_non_finite_and_needs_two_values():
    ci = confidence_interval([1.0, None, math.inf, math.nan, 3.0])
    assert ci["n"] == 2 and ci["mean"] == 2.0
    one = confidence_interval([0.7])
    assert one["n"] == 1 and one["mean"] == 0.7 and math.isnan(one["ci_low"])
    none = confidence_interval([])
    assert none["n"] == 0 and math.isnan(none["mean"])


# -- synthetic job files -----------------------------------------------------------------------

EPOCHS = 4


def _record(seed, lr, acc, diverged=False):
    history = [
        {
            "epoch": e + 1,
            "train_loss": 1.0 / (e + 1),
            "val_loss": 1.1 / (e + 1),
            "train_accuracy": acc,
            "val_accuracy": acc,
            "seconds": 0.01 * (e + 1),
        }
        for e in range(EPOCHS)
    ]
    return {
        "seed": seed,
        "lr": lr,
        "replica": 0,
        "train_accuracy": acc,
        "val_accuracy": acc,
        "test_accuracy": acc,
        "train_loss": None if diverged else 0.3,
        "val_loss": None if diverged else 0.4,
        "test_loss": None if diverged else 0.5,
        "best_val_accuracy": acc,
        "best_val_loss": 0.4,
        "best_epoch": 2,
        "epochs": EPOCHS,
        "diverged": diverged,
        "diverged_epoch": 3 if diverged else None,
        "epochs_to_target": None if acc < 0.9 else 2,
        "seconds_to_target": None if acc < 0.9 else 0.02,
        "seconds": 0.04,
        "seconds_per_epoch": 0.01,
        "history": history,
        "config": {"hidden": [8, 8], "epochs": EPOCHS, "batch_size": 32, "dtype": "float32"},
    }


def _job(dataset, optimizer, activations, regularizers, seeds, accs, diverge=()):
    """Rows as nngrid.study.protocol writes them; accs[(act, reg)] is the tuned accuracy."""
    rows = []
    for reg in regularizers:
        for act in activations:
            cell = {
                "study": "s",
                "dataset": dataset,
                "activation": act,
                "regularizer": reg,
                "regularizer_kind": "l2" if reg == "l2" else "none",
                "reg_params": {"strength": 0.01} if reg == "l2" else {},
                "optimizer": optimizer,
                "opt_params": {},
                "lr_grid": [0.01, 0.1],
                "chosen_lr": 0.1,
                "default_lr": 0.01,
                "lr_on_edge": True,
                "all_diverged": False,
                "slurm_job_id": None,
            }
            acc = accs[(act, reg)]
            for lr in (0.01, 0.1):
                rows.append(
                    {**_record(seeds[0], lr, acc), **cell, "arm": "tune", "selected": lr == 0.1}
                )
            for arm, lr in (("tuned", 0.1), ("untuned", 0.01)):
                for seed in seeds:
                    bad = (act, reg, arm, seed) in diverge
                    rows.append(
                        {
                            **_record(seed, lr, acc - 0.01 * seed, bad),
                            **cell,
                            "arm": arm,
                            "selected": False,
                        }
                    )
    spec = {"axes": {"study": "s", "dataset": dataset}, "optimizer": optimizer}
    return {
        "spec": spec,
        "spec_sha256": spec_digest(spec),  # what the result stands for (nngrid.study.integrity)
        "seconds": 1.0,
        "slurm_job_id": None,
        "rows": rows,
    }


ACTS = ["relu", "tanh"]
REGS = ["none", "l2"]
SEEDS = [0, 1, 2]


@pytest.fixture
def job_files(tmp_path):
    paths = []
    for opt, base in (("adam", 0.9), ("sgd", 0.8)):
        accs = {
            (a, r): base + 0.05 * (a == "relu") - 0.02 * (r == "l2") for a in ACTS for r in REGS
        }
        diverge = {("tanh", "none", "tuned", 1)} if opt == "sgd" else set()
        path = tmp_path / "runs" / f"{opt}.json"
        write_json(path, _job("moons", opt, ACTS, REGS, SEEDS, accs, diverge), checksum=True)
        paths.append(path)
    return paths


CELLS = 2 * len(ACTS) * len(REGS)  # optimizers x activations x regularizers
PER_CELL = 2 + 2 * len(SEEDS)  # tune candidates + tuned and untuned over the seeds


def test_runs_table_has_one_row_per_replica_and_all_columns(job_files):
    runs = runs_table(load_rows(job_files))
    assert len(runs) == CELLS * PER_CELL
    assert runs["run_id"].tolist() == list(range(len(runs)))
    expected = {
        "study", "dataset", "activation", "regularizer", "regularizer_kind", "reg_strength",
        "optimizer", "arm", "seed", "lr", "lr_on_edge", "chosen_lr", "default_lr",
        "train_accuracy", "val_accuracy", "test_accuracy", "train_loss", "val_loss", "test_loss",
        "best_val_accuracy", "best_val_loss", "best_epoch", "epochs", "diverged",
        "diverged_epoch", "epochs_to_target", "seconds_to_target", "seconds", "slurm_job_id",
        "hidden", "batch_size", "max_epochs", "source",
    }  # fmt: skip
    assert expected <= set(runs.columns)
    counts = runs.groupby(["optimizer", "activation", "regularizer"]).size()
    assert len(counts) == CELLS and (counts == PER_CELL).all()
    assert runs["hidden"].iloc[0] == "8-8"


def test_never_reaching_the_target_is_infinite(job_files):
    runs = runs_table(load_rows(job_files))
    slow = runs[runs["test_accuracy"] < 0.9]
    assert len(slow) and np.isinf(slow["seconds_to_target"]).all()
    assert np.isinf(slow["epochs_to_target"]).all()
    fast = runs[runs["val_accuracy"] >= 0.9]
    assert np.isfinite(fast["seconds_to_target"]).all()


def test_diverged_rows_stay_in_every_table(job_files):
    tables = collect(job_files)
    runs = tables["runs"]
    bad = runs[runs["diverged"]]
    assert len(bad) == 1
    assert bad["diverged_epoch"].iloc[0] == 3 and math.isnan(bad["test_loss"].iloc[0])
    summary = tables["summary"]
    row = summary[
        (summary.optimizer == "sgd")
        & (summary.activation == "tanh")
        & (summary.regularizer == "none")
        & (summary.arm == "tuned")
    ]
    assert row["diverged"].item() == 1 and row["runs"].item() == len(SEEDS)
    assert row["test_loss_n"].item() == len(SEEDS) - 1  # the non-finite loss is not averaged
    hist = tables["histories"]
    assert hist[hist["diverged"]]["run_id"].nunique() == 1
    rankings = tables["rankings"]
    sgd = rankings[(rankings.factor == "optimizer") & (rankings.level == "sgd")]
    assert sgd["diverged"].item() == 1


def test_summary_statistics_per_cell_and_arm(job_files):
    runs = runs_table(load_rows(job_files))
    summary = summary_table(runs)
    assert len(summary) == CELLS * 2 and set(summary["arm"]) == {"tuned", "untuned"}
    row = summary[
        (summary.optimizer == "adam")
        & (summary.activation == "relu")
        & (summary.regularizer == "none")
        & (summary.arm == "tuned")
    ].iloc[0]
    accs = [0.95 - 0.01 * s for s in SEEDS]
    half = t_quantile(0.975, 2) * np.std(accs, ddof=1) / math.sqrt(3)
    assert row["test_accuracy_mean"] == pytest.approx(np.mean(accs))
    assert row["test_accuracy_ci_high"] == pytest.approx(np.mean(accs) + half)
    assert row["test_accuracy_n"] == 3 and row["lr"] == 0.1 and row["lr_on_edge"]


def test_rankings_order_levels_by_tuned_test_accuracy(job_files):
    rankings = rankings_table(runs_table(load_rows(job_files)))
    assert set(rankings["factor"]) == {"optimizer", "activation", "regularizer"}
    for factor, best in (("optimizer", "adam"), ("activation", "relu"), ("regularizer", "none")):
        part = rankings[rankings.factor == factor].sort_values("rank")
        assert part["level"].iloc[0] == best
        assert part["rank"].tolist() == [1, 2]
        assert (part["mean"].diff().dropna() <= 0).all()
        assert (part["ci_low"] <= part["mean"]).all() and (part["mean"] <= part["ci_high"]).all()


def test_rankings_use_test_loss_for_regression():
    runs = pd.DataFrame(
        {
            "study": "s",
            "dataset": "reg",
            "arm": "tuned",
            "optimizer": ["a", "a", "b", "b"],
            "activation": "relu",
            "regularizer": "none",
            "test_accuracy": [None] * 4,
            "test_loss": [0.5, 0.6, 0.1, 0.2],
            "diverged": False,
        }
    )
    part = rankings_table(runs).query("factor == 'optimizer'").sort_values("rank")
    assert part["metric"].iloc[0] == "test_loss" and part["level"].tolist() == ["b", "a"]


def test_histories_long_table(job_files):
    rows = load_rows(job_files)
    hist = histories_table(rows)
    assert len(hist) == len(rows) * EPOCHS
    assert hist.groupby("run_id")["epoch"].apply(list).map(lambda e: e == [1, 2, 3, 4]).all()
    assert {"train_loss", "val_loss", "val_accuracy", "arm", "optimizer"} <= set(hist.columns)


def test_write_tables_atomically_and_cli(job_files, tmp_path):
    out = tmp_path / "tables"
    written = write_tables(collect(job_files), out)
    names = sorted(p.name for p in out.iterdir())
    assert (
        names
        == sorted(p.name for p in written)
        == sorted(
            [
                "runs.parquet",
                "runs.csv",
                "summary.parquet",
                "summary.csv",
                "rankings.csv",
                "histories.parquet",
            ]
        )
    )
    back = pd.read_parquet(out / "runs.parquet")
    assert len(back) == CELLS * PER_CELL and back["diverged"].dtype == bool
    csv = pd.read_csv(out / "runs.csv")
    assert len(csv) == len(back)
    out2 = tmp_path / "cli"
    assert main(["--runs", str(tmp_path / "runs" / "*.json"), "--out-dir", str(out2)]) == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out2 / "summary.parquet"), pd.read_parquet(out / "summary.parquet")
    )


def test_bad_job_file_is_named(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"rows": [')
    assert main(["--runs", str(broken), "--out-dir", str(tmp_path / "t")]) == 2
    assert "broken.json" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(NngridError, match="other.json"):
        load_rows([other])
    with pytest.raises(NngridError, match="no training results"):
        collect([])


def test_lr_tuning_rows_are_the_lr_protocols_tune_rows():
    from nngrid.study.tables import lr_tuning_rows

    runs = pd.DataFrame(
        {
            "arm": ["tune", "tune", "tuned", "tune"],
            "protocol": ["lr", "full", "lr", None],  # None: a row from before protocols
            "lr": [0.1, 0.2, 0.1, 0.3],
        }
    )
    assert lr_tuning_rows(runs)["lr"].tolist() == [0.1, 0.3]
    assert lr_tuning_rows(runs.drop(columns="protocol"))["lr"].tolist() == [0.1, 0.2, 0.3]
