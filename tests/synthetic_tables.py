"""A small synthetic study in the pipeline's table layout, for the figure and report tests.

Rows are built like ``nngrid.study.protocol``'s output and passed through ``nngrid.study.tables``,
so the
columns are exactly those of ``results/tables``. ``boost`` shifts one optimizer's accuracy so a
test can check that captions follow the data.
"""

from __future__ import annotations

import numpy as np


def synthetic_rows(
    seed: int = 0, boost: dict | None = None, epochs: int = 6, speed: dict | None = None
) -> list[dict]:
    """Rows for 2 datasets x 2 activations x 2 regularizers x 3 optimizers, 3 lrs, 3 seeds."""
    rng = np.random.default_rng(seed)
    boost = boost or {}
    rows = []
    base = {"sgd": 0.80, "momentum": 0.85, "adam": 0.90}
    speed = {"sgd": 4, "momentum": 3, "adam": 2, **(speed or {})}
    for dataset in ("moons", "circles"):
        for activation in ("relu", "sigmoid"):
            for regularizer in ("none", "l2"):
                for optimizer, acc in base.items():
                    acc = acc + boost.get(optimizer, 0.0) - (0.1 if activation == "sigmoid" else 0)
                    lrs = [1e-3, 1e-2, 1e-1]
                    cell = {
                        "study": "grid",
                        "dataset": dataset,
                        "activation": activation,
                        "regularizer": regularizer,
                        "optimizer": optimizer,
                        "regularizer_kind": regularizer,
                        "chosen_lr": 1e-2,
                        "default_lr": 1e-3,
                        "lr_on_edge": optimizer == "sgd",
                        "all_diverged": False,
                        "n_train": 64,
                        "config": {"epochs": epochs, "hidden": [8], "batch_size": 16},
                        "reg_params": {"strength": 1e-3} if regularizer == "l2" else {},
                    }
                    arms = [("tune", lr, 0, acc - (0.1 if lr != 1e-2 else 0)) for lr in lrs]
                    arms += [("tuned", 1e-2, s, acc) for s in range(3)]
                    arms += [("untuned", 1e-3, s, acc - 0.07) for s in range(3)]
                    for arm, lr, s, a in arms:
                        diverged = optimizer == "sgd" and lr == 1e-1 and dataset == "circles"
                        test = float(np.clip(a + rng.normal(0, 0.01), 0, 1))
                        train = float(
                            np.clip(test + (0.05 if regularizer == "none" else 0.01), 0, 1)
                        )
                        reach = speed[optimizer] if a > 0.75 and not diverged else None
                        hist = [
                            {
                                "epoch": e,
                                "train_loss": 1.0 / (1 + e),
                                "val_loss": 1.1 / (1 + e),
                                "train_accuracy": train * e / epochs,
                                "val_accuracy": test * e / epochs,
                                "seconds": 0.01 * e,
                            }
                            for e in range(1, epochs + 1)
                        ]
                        rows.append(
                            {
                                **cell,
                                "arm": arm,
                                "seed": s,
                                "lr": lr,
                                "replica": s,
                                "train_accuracy": None if diverged else train,
                                "val_accuracy": None if diverged else test,
                                "test_accuracy": None if diverged else test,
                                "train_loss": None if diverged else 1 - train,
                                "val_loss": None if diverged else 1 - test,
                                "test_loss": None if diverged else 1 - test,
                                "best_val_accuracy": test,
                                "best_val_loss": 1 - test,
                                "best_epoch": epochs,
                                "epochs": epochs,
                                "diverged": diverged,
                                "diverged_epoch": 2 if diverged else None,
                                "epochs_to_target": reach,
                                "seconds_to_target": None if reach is None else 0.01 * reach,
                                "seconds": 0.01 * epochs * (1 + 0.5 * (optimizer == "adam")),
                                "seconds_per_epoch": 0.01,
                                "history": hist,
                            }
                        )
    return rows


def synthetic_tables(seed: int = 0, boost: dict | None = None, speed: dict | None = None) -> dict:
    """``runs``, ``summary``, ``rankings``, ``histories`` DataFrames of a synthetic study."""
    from nngrid.study import tables

    rows = synthetic_rows(seed, boost, speed=speed)
    runs = tables.runs_table(rows)
    return {
        "runs": runs,
        "summary": tables.summary_table(runs),
        "rankings": tables.rankings_table(runs),
        "histories": tables.histories_table(rows),
    }


def synthetic_benchmarks(runs) -> object:
    """A benchmark table like Snakemake's ``benchmark:`` TSVs, one row per training job."""
    import pandas as pd

    jobs = runs.groupby(["study", "dataset", "optimizer", "regularizer"], as_index=False)[
        "seconds"
    ].sum()
    jobs["s"] = jobs["seconds"] * 1.05 + 0.5
    jobs["max_rss"] = 100.0
    return pd.DataFrame(jobs.drop(columns="seconds"))


def write_benchmarks(runs, folder) -> tuple[list[str], list[dict]]:
    """Benchmark TSVs (Snakemake's columns) of the synthetic jobs; returns (paths, jobs)."""
    from pathlib import Path

    bench = synthetic_benchmarks(runs)
    paths, jobs = [], []
    for i, row in enumerate(bench.to_dict("records")):
        path = Path(folder) / f"job{i}.tsv"
        path.write_text(
            "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
            f"{row['s']:.4f}\t0:00:01\t{row['max_rss']}\t1\t1\t1\t0\t0\t0\t{row['s']:.2f}\n"
        )
        paths.append(str(path))
        jobs.append({k: row[k] for k in ("study", "dataset", "optimizer", "regularizer")})
    return paths, jobs


def landing_text(tmp_path, claims, by_dataset=None, replication=None) -> str:
    """The landing page write_landing makes of these tables in ``tmp_path`` (refusals raise)."""
    from nngrid.study.report.landing import write_landing

    desc, page = tmp_path / "workflow.rst", tmp_path / "landing.rst"
    desc.write_text("x\n")
    page.unlink(missing_ok=True)
    write_landing(claims, desc, {}, page, tmp_path / "claims.html", [], by_dataset, replication)
    return page.read_text()


def landing_refused(tmp_path, claims, by_dataset=None, replication=None) -> str:
    """The one-line message with which write_landing refuses these tables; asserts the page was
    not written."""
    import pytest

    from nngrid.errors import NngridError

    with pytest.raises(NngridError) as exc:
        landing_text(tmp_path, claims, by_dataset, replication)
    message = str(exc.value)
    assert "\n" not in message and not (tmp_path / "landing.rst").exists()
    return message
