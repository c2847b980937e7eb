"""nngrid.study.jobs and nngrid.study.costs: the workflow's job tables, specs, paths, code hashes
and cost estimates, called directly with a config (no Snakemake)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

import nngrid
from nngrid.study import costs, jobs
from nngrid.study.config import check_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture(scope="module")
def quick() -> dict:
    return check_config(yaml.safe_load((ROOT / "config" / "quick.yaml").read_text()), SCHEMA)


def test_dataset_spec_takes_the_datasets_own_splits_over_the_shared_ones(quick):
    cfg = copy.deepcopy(quick)
    cfg["data_seed"] = 7
    moons = jobs.dataset_spec(cfg, "moons")
    assert moons["kind"] == "moons" and moons["seed"] == 7
    assert moons["val_fraction"] == cfg["splits"]["val_fraction"]
    shuffled = jobs.dataset_spec(cfg, "mnist1d_shuffled")
    assert shuffled["kind"] == "mnist1d" and shuffled["val_fraction"] == 0.1
    assert shuffled["params"] == {"shuffle_positions": True}


def test_regularizer_specs_default_the_kind_to_the_label(quick):
    cfg = copy.deepcopy(quick)
    cfg["regularizers"]["l2_big"] = {"kind": "l2", "params": {"strength": 0.1}}
    specs = jobs.regularizer_specs(cfg, ["none", "l2_big"])
    assert specs == [
        {"label": "none", "kind": "none", "params": {}},
        {"label": "l2_big", "kind": "l2", "params": {"strength": 0.1}},
    ]


def test_the_architectures_arm_has_no_grid_jobs_and_the_grid_no_arm_jobs(quick):
    grid = set(jobs.job_table(quick)["study"])
    arm = set(jobs.architecture_jobs(quick)["study"])
    assert grid and arm and not grid & arm
    assert all("architectures" in quick["studies"][s] for s in arm)
    assert set(jobs.cell_table(quick)["study"]) == grid
    paths = jobs.run_targets(jobs.job_table(quick))
    assert len(paths) == len(set(paths)) == len(jobs.job_table(quick))


def test_data_targets_are_the_used_datasets_only(quick):
    cfg = copy.deepcopy(quick)
    cfg["datasets"]["unused"] = {"kind": "moons"}
    assert "results/data/unused.npz" not in jobs.data_targets(cfg)
    assert "results/data/moons.npz" in jobs.data_targets(cfg)


def test_each_hash_covers_its_code_and_nothing_of_the_study_side():
    root = Path(nngrid.__file__).parent
    core = {p.relative_to(root).as_posix() for p in jobs.core_files()}
    assert {"core/train.py", "core/layers.py", "study/protocol.py", "datasets.py"} <= core
    assert not {name.rpartition("/")[2] for name in core} & jobs.NOT_CORE
    # nothing of the study side but the training job itself and its search spaces
    assert sorted(n for n in core if n.startswith("study/")) == [
        "study/protocol.py",
        "study/search.py",
    ]
    figures = {p.relative_to(root).as_posix() for p in jobs.figure_files()}
    assert "study/figures/grid.py" in figures and "study/figures/make.py" in figures
    assert set(jobs.data_files()) <= set(jobs.core_files())


def test_warn_missing_results_names_them_in_one_line(tmp_path, capsys):
    tables = tmp_path / "runs.parquet"
    runs = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    (tmp_path / "a.json").write_text("{}")
    assert jobs.warn_missing_results(runs, tables) == []  # no tables yet: nothing to say
    tables.write_text("")
    assert jobs.warn_missing_results(runs, tables) == [runs[1]]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 job result(s) missing" in err and "b.json" in err


def test_runtimes_are_at_least_ten_minutes_and_grow_with_the_work(quick):
    cfg = copy.deepcopy(quick)
    job = ("quick", "moons", "sgd")
    assert costs.train_runtime(cfg, *job) == 10  # the quick study is far below the floor
    memory, minutes, factors = costs.job_cost(cfg, *job)
    cfg["training"]["epochs"] *= 1000
    more_memory, more_minutes, _ = costs.job_cost(cfg, *job)
    assert more_memory == memory and more_minutes == pytest.approx(1000 * minutes)
    assert costs.train_runtime(cfg, *job) > 10
    cfg["datasets"]["moons"]["params"]["n_samples"] *= 10
    assert costs.job_cost(cfg, *job)[0] > memory
    assert set(factors) >= {"training.hidden", "training.epochs", "training.seeds"}


def test_search_spaces_are_those_of_the_optimizers_a_full_study_tunes():
    cfg = yaml.safe_load((ROOT / "config" / "protocols.yaml").read_text())
    spaces = jobs.search_spaces(cfg)
    assert list(spaces) == list(cfg["optimizers"])  # the full study tunes all seven
    assert spaces["adam"]["eps"] == {"low": 1e-10, "high": 1e3, "scale": "log"}
    cfg["studies"]["full"]["optimizers"] = ["adam"]
    assert list(jobs.search_spaces(cfg)) == ["adam"]
    del cfg["studies"]["full"]  # no full study: no figure 14
    assert jobs.search_spaces(cfg) == {}
