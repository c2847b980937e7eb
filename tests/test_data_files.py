"""Tests for nngrid.data_files: the `file` dataset kind, its refusals at config load, and a
user's tables (CSV with text labels, Parquet regression) through the grid to figures whose
panels carry the user's labels; scikit-learn's bundled tables in `nngrid list`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nngrid import data_files
from nngrid.data_files import check_dataset_entry, file_params, read_file
from nngrid.datasets import make
from nngrid.errors import NngridError
from nngrid.study.config import check_config
from nngrid.study.costs import job_cost
from nngrid.study.jobs import dataset_spec

ROOT = Path(__file__).resolve().parents[1]


def _table(n: int = 60, seed: int = 0, labels=("cat", "dog", "emu")) -> pd.DataFrame:
    """A small table: two numeric features that separate text classes, and a float target."""
    rng = np.random.default_rng(seed)
    label = np.array(labels)[np.arange(n) % len(labels)]
    centre = {name: i for i, name in enumerate(labels)}
    a = np.array([centre[v] for v in label]) + rng.normal(0, 0.3, n)
    b = rng.normal(0, 1, n)
    return pd.DataFrame(
        {"a": a.round(4), "b": b.round(4), "label": label, "y": (2 * a + b**2).round(4)}
    )


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the working directory) with data/pets.csv and data/pets.parquet."""
    (tmp_path / "data").mkdir()
    _table().to_csv(tmp_path / "data" / "pets.csv", index=False)
    _table().drop(columns="label").to_parquet(tmp_path / "data" / "pets.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refusal(project, entry, label="mine"):
    """The one-line message check_dataset_entry refuses ``entry`` with."""
    with pytest.raises(NngridError) as err:
        check_dataset_entry(label, {"kind": "file", **entry}, project)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"config error: datasets.{label}."), text
    return text


# -- the refusals, each one line naming the key and the fix ----------------------------------


def test_missing_file_is_refused(project):
    text = refusal(project, {"path": "data/nope.csv", "target": "label"})
    assert "datasets.mine.path = 'data/nope.csv': no such file" in text
    assert "relative to the project folder" in text


def test_unknown_and_unreadable_formats_are_refused(project):
    (project / "data" / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    text = refusal(project, {"path": "data/sheet.xlsx", "target": "label"})
    assert "unknown format '.xlsx'" in text and "export a spreadsheet as CSV" in text
    (project / "data" / "broken.parquet").write_bytes(b"not parquet at all")
    text = refusal(project, {"path": "data/broken.parquet", "target": "label"})
    assert "cannot be read as Parquet" in text
    (project / "data" / "binary.csv").write_bytes(b"a,b\n\xff\xfe\x00\x01,2\n")
    text = refusal(project, {"path": "data/binary.csv", "target": "a"})
    assert "cannot be read as CSV" in text and "UTF-8" in text


def test_missing_target_column_is_refused_with_the_columns(project):
    text = refusal(project, {"path": "data/pets.csv", "target": "lable"})
    assert "datasets.mine.target = 'lable' is not a column" in text
    assert "its columns: a, b, label, y" in text


def test_single_class_is_refused(project):
    frame = _table()
    frame["label"] = "cat"
    frame.to_csv(project / "data" / "one.csv", index=False)
    text = refusal(project, {"path": "data/one.csv", "target": "label"})
    assert "datasets.mine.target has a single class ('cat')" in text and ">= 2 classes" in text


def test_non_numeric_features_are_refused_naming_the_column_and_row(project):
    frame = _table()
    frame["colour"] = "red"
    frame.to_csv(project / "data" / "colours.csv", index=False)
    text = refusal(project, {"path": "data/colours.csv", "target": "label"})
    assert "datasets.mine.features: column 'colour' is not numeric (e.g. 'red' in row 1)" in text
    assert "encode it as numbers" in text
    # leaving it out with `features:` is the fix the message names
    entry = {"kind": "file", "path": "data/colours.csv", "target": "label", "features": ["a"]}
    assert check_dataset_entry("mine", entry, project)


def test_missing_values_need_a_policy(project):
    frame = _table()
    frame.loc[[3, 7], "b"] = np.nan
    frame.to_csv(project / "data" / "gaps.csv", index=False)
    text = refusal(project, {"path": "data/gaps.csv", "target": "label"})
    assert "datasets.mine.missing: column 'b' has 2 missing or non-finite value(s)" in text
    assert "(rows 4, 8)" in text and "missing: drop" in text and "missing: mean" in text
    for policy in ("drop", "mean"):
        entry = {"kind": "file", "path": "data/gaps.csv", "target": "label", "missing": policy}
        assert check_dataset_entry("mine", entry, project)
    frame = _table()
    frame.loc[5, "y"] = np.inf  # an infinite target counts as missing
    frame.to_csv(project / "data" / "inf.csv", index=False)
    text = refusal(project, {"path": "data/inf.csv", "target": "y", "features": ["a", "b"]})
    assert "column 'y' has 1 missing or non-finite value(s) (rows 6)" in text


def test_missing_drop_drops_rows_and_mean_fills_with_the_training_mean(project):
    frame = _table(n=90)
    frame.loc[[3, 7, 11], "b"] = np.nan
    frame.to_csv(project / "data" / "gaps.csv", index=False)
    dropped, meta = make("file", path="data/gaps.csv", target="label", missing="drop")
    assert meta["dropped_rows"] == 3
    assert sum(len(dropped[k]) for k in ("y_train", "y_val", "y_test")) == 87
    filled, meta = make("file", path="data/gaps.csv", target="label", missing="mean")
    assert meta["dropped_rows"] == 0
    assert sum(len(filled[k]) for k in ("y_train", "y_val", "y_test")) == 90
    for k in ("X_train", "X_val", "X_test"):
        assert np.all(np.isfinite(filled[k]))
    # the training split of column b is centred by its own non-missing rows: filled rows are 0
    X = filled["X_train"][:, 1]
    assert np.isclose(X.mean(), 0.0, atol=1e-12)
    assert (X == 0.0).sum() >= 1


def test_a_file_too_large_is_refused_before_it_is_read(project, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the file was read although its estimate is over the limit")

    monkeypatch.setattr(data_files, "memory_limit", lambda: 1000)
    monkeypatch.setattr(data_files, "_read_table", never)
    for name in ("pets.csv", "pets.parquet"):
        text = refusal(project, {"path": f"data/{name}", "target": "y"})
        assert "would need about" in text and "more than the 1.0 kB allowed" in text, text
        assert "give a sample of its rows" in text


def test_estimates_follow_the_size_of_the_data(project):
    small, _ = data_files.estimate_bytes(project / "data" / "pets.csv")
    _table(n=600).to_csv(project / "data" / "big.csv", index=False)
    big, _ = data_files.estimate_bytes(project / "data" / "big.csv")
    assert 5 < big / small < 20
    parquet, basis = data_files.estimate_bytes(project / "data" / "pets.parquet")
    assert parquet == data_files.COPIES * 8 * 60 * 3 and "60 rows x 3 columns" in basis


def test_a_symlink_out_of_the_project_folder_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.csv"
    _table().to_csv(outside, index=False)
    os.symlink(outside, project / "data" / "link.csv")
    text = refusal(project, {"path": "data/link.csv", "target": "label"})
    assert "leads through the symlink" in text and "outside the project folder" in text
    assert "copy the file into the project folder" in text
    os.symlink(outside.parent, project / "linked_folder")
    text = refusal(project, {"path": "linked_folder/secret.csv", "target": "label"})
    assert "leads through the symlink" in text
    text = refusal(project, {"path": str(outside), "target": "label"})
    assert "outside the project folder" in text
    # a symlink that stays inside the project is fine
    os.symlink(project / "data" / "pets.csv", project / "inside.csv")
    assert check_dataset_entry("mine", {"kind": "file", "path": "inside.csv", "target": "label"})


def test_other_options_are_checked(project):
    text = refusal(project, {"path": "data/pets.csv", "target": "label", "shape": [2, 2]})
    assert "datasets.mine.shape = [2, 2] means 4 values per row" in text
    text = refusal(project, {"path": "data/pets.csv", "target": "label", "features": ["zz"]})
    assert "datasets.mine.features = 'zz' is not a column" in text
    text = refusal(project, {"path": "data/pets.csv", "target": "label", "task": "regression"})
    assert "non-numeric values (e.g. 'cat')" in text
    text = refusal(project, {"target": "label"})
    assert "datasets.mine.path is missing" in text
    with pytest.raises(NngridError, match=r"datasets\.moons\.path is only for `kind: file`"):
        check_dataset_entry("moons", {"path": "data/pets.csv"}, project)
    assert check_dataset_entry("moons", {"params": {"n_samples": 100}}, project) is False


# -- what a file becomes ----------------------------------------------------------------------


def test_text_labels_become_sorted_classes_kept_in_the_metadata(project):
    splits, meta = make("file", path="data/pets.csv", target="label")
    assert meta["classes"] == ["cat", "dog", "emu"] and meta["target"] == "label"
    assert meta["features"] == ["a", "b", "y"]
    assert splits["y_train"].dtype == np.int64
    assert set(np.unique(splits["y_train"])) == {0, 1, 2}
    # class 2 is 'emu': its rows have the largest feature a (the table's construction)
    raw = read_file(project / "data" / "pets.csv", target="label", features=["a"])
    emu = raw["y"] == 2
    assert raw["X"][emu, 0].mean() > raw["X"][~emu, 0].mean() + 1


def test_a_parquet_regression_is_inferred_and_its_target_standardised(project):
    splits, meta = make("file", path="data/pets.parquet", target="y")
    assert splits["y_train"].shape[1] == 1 and splits["y_train"].dtype == np.float64
    assert np.isclose(splits["y_train"].mean(), 0.0) and np.isclose(splits["y_train"].std(), 1.0)
    raw = pd.read_parquet(project / "data" / "pets.parquet")["y"].to_numpy()
    back = np.concatenate([splits[k][:, 0] for k in ("y_train", "y_val", "y_test")])
    back = back * meta["target_std"][0] + meta["target_mean"][0]
    np.testing.assert_allclose(np.sort(back), np.sort(raw), atol=1e-9)


def test_splits_are_stratified_seeded_and_a_split_column_is_honoured(project):
    one, _ = make("file", seed=0, path="data/pets.csv", target="label")
    again, _ = make("file", seed=0, path="data/pets.csv", target="label")
    other, _ = make("file", seed=1, path="data/pets.csv", target="label")
    np.testing.assert_array_equal(one["y_test"], again["y_test"])
    assert not np.array_equal(one["X_test"], other["X_test"])
    assert np.bincount(one["y_test"]).tolist() == [4, 4, 4]  # 20% of each class of 20
    frame = _table()
    frame["part"] = np.where(np.arange(60) < 45, "train", "test")
    frame.loc[40:44, "part"] = "validation"
    frame.to_csv(project / "data" / "split.csv", index=False)
    splits, meta = make("file", path="data/split.csv", target="label", split_column="part")
    assert [len(splits[k]) for k in ("y_train", "y_val", "y_test")] == [40, 5, 15]
    assert meta["features"] == ["a", "b", "y"]  # the split column is no feature
    test_b = np.sort(splits["X_test"][:, 1] * 0 + 1)  # 15 rows, as the file says
    assert len(test_b) == 15
    frame.loc[0, "part"] = "holdout"
    frame.to_csv(project / "data" / "split.csv", index=False)
    text = refusal(project, {"path": "data/split.csv", "target": "label", "split_column": "part"})
    assert "datasets.mine.split_column holds 'holdout'" in text


def test_npz_files_in_both_layouts(project):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.arange(40) % 2
    np.savez(project / "data" / "xy.npz", X=X, y=y)
    splits, _ = make("file", path="data/xy.npz")
    assert sum(len(splits[k]) for k in ("y_train", "y_val", "y_test")) == 40
    from nngrid.datasets import build, save_dataset

    save_dataset(project / "data" / "saved.npz", build("moons", n_samples=80))
    splits, _ = make("file", path="data/saved.npz")
    assert [len(splits[k]) for k in ("y_train", "y_val", "y_test")] == [48, 16, 16]
    text = refusal(project, {"path": "data/xy.npz", "target": "label"})
    assert "target is for tables" in text


def test_declared_sequences_feed_the_architectures_arm(project):
    from nngrid.study.experiments.architectures import check_fit, run_job

    rng = np.random.default_rng(0)
    n, length, channels = 60, 6, 2
    label = np.arange(n) % 2
    X = rng.normal(size=(n, length, channels)) + label[:, None, None]  # time-major columns
    frame = pd.DataFrame(X.reshape(n, -1), columns=[f"t{i}" for i in range(length * channels)])
    frame["label"] = np.where(label == 1, "up", "down")
    frame.to_csv(project / "data" / "seq.csv", index=False)
    conv = [{"conv1d": {"channels": 4, "kernel": 3}}, "flatten"]
    with pytest.raises(NngridError, match="needs sequences"):
        check_fit("cnn", conv, "seq", "file")
    check_fit("cnn", conv, "seq", "file", shape=[length, channels])
    with pytest.raises(NngridError, match="length 2"):
        check_fit(
            "cnn",
            [{"conv1d": {"channels": 4, "kernel": 5}}, "flatten"],
            "seq",
            "file",
            shape=[2, 6],
        )
    splits, meta = make("file", path="data/seq.csv", target="label", shape=[length, channels])
    assert meta["shape"] == [length, channels] and splits["X_train"].shape[1] == 12
    spec = {
        "axes": {"study": "arch", "dataset": "seq", "architecture": "cnn", "optimizer": "adam"},
        "shape": [length, channels],
        "layers": conv,
        "activations": ["relu"],
        "regularizers": [{"label": "none"}],
        "optimizer": {"name": "adam", "lr_grid": [0.01]},
        "seeds": [0],
        "tuning": {"seeds": 1, "extend": 0},
        "training": {"epochs": 2, "batch_size": 16, "target": 0.6, "probe": 8},
    }
    result = run_job(splits, spec)
    assert result["records"] and all(np.isfinite(r["test_accuracy"]) for r in result["records"])
    # the declared shape is what the network sees: 2 steps of 6 channels leave no room for a
    # kernel of 3, which the 12 flat columns read as one channel would have
    with pytest.raises(NngridError):
        run_job(splits, {**spec, "shape": [2, 6]})


def test_the_spec_carries_the_file_hash_and_a_changed_file_is_refused_by_the_job(project):
    entry = {"kind": "file", "path": "data/pets.csv", "target": "label"}
    before = file_params(entry, project)
    assert before["sha256"] == data_files.file_sha256(project / "data" / "pets.csv")
    _table(seed=1).to_csv(project / "data" / "pets.csv", index=False)
    after = file_params(entry, project)
    assert after["sha256"] != before["sha256"]
    with pytest.raises(NngridError, match="changed after the workflow was planned"):
        make("file", **before)
    make("file", **after)


def test_the_config_check_reads_file_entries(project):
    """nngrid.study.config's check_config calls check_dataset_entry for `kind: file`."""
    import yaml

    cfg = yaml.safe_load((ROOT / "config" / "examples" / "own_data.yaml").read_text())
    cfg["datasets"] = {"pets": {"kind": "file", "path": "data/pets.csv", "target": "label"}}
    cfg["studies"]["mine"]["datasets"] = ["pets"]
    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    good = check_config(cfg, schema)
    spec = dataset_spec(good, "pets")
    assert spec["kind"] == "file" and len(spec["params"]["sha256"]) == 64
    cfg["datasets"]["pets"]["target"] = "nope"
    with pytest.raises(NngridError, match=r"^config error: datasets\.pets\.target = 'nope'"):
        check_config(cfg, schema)
    cfg["datasets"]["pets"]["target"] = "label"
    cfg["datasets"]["pets"]["missing"] = "guess"
    with pytest.raises(NngridError, match=r"datasets\.pets\.missing = 'guess' is not valid"):
        check_config(cfg, schema)


def test_the_cost_estimate_counts_a_files_rows_and_columns(project):
    import yaml

    schema = ROOT / "workflow" / "schemas" / "config.schema.yaml"
    _table(n=600).to_csv(project / "data" / "big.csv", index=False)
    costs = {}
    for name in ("pets", "big"):
        cfg = yaml.safe_load((ROOT / "config" / "examples" / "own_data.yaml").read_text())
        cfg["datasets"] = {"d": {"kind": "file", "path": f"data/{name}.csv", "target": "label"}}
        cfg["studies"]["mine"]["datasets"] = ["d"]
        cfg = check_config(cfg, schema)
        costs[name] = job_cost(cfg, "mine", "d", "sgd")
    assert data_files.entry_size(cfg["datasets"]["d"], project) == (600, 3, 3)
    assert costs["big"][1] == pytest.approx(10 * costs["pets"][1])  # minutes ~ training rows
    assert costs["big"][2]["datasets.d.path (rows)"][0] == 600


def test_the_config_writer_checks_the_file_and_writes_a_valid_study(project, capsys):
    import yaml

    out = project / "config" / "mine.yaml"
    assert data_files.main(["data/pets.csv", "--target", "label", "--output", str(out)]) == 0
    cfg = yaml.safe_load(out.read_text())
    assert cfg["datasets"] == {"pets": {"kind": "file", "path": "data/pets.csv", "target": "label"}}
    check_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    bad = project / "config" / "bad.yaml"
    assert data_files.main(["data/pets.csv", "--target", "lbl", "--output", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("nngrid: error: config error: datasets.pets.target = 'lbl'")
    assert not bad.exists()


def test_the_shipped_example_tables_are_what_their_script_writes(tmp_path):
    script = ROOT / "config" / "examples" / "make_example_data.py"
    code = script.read_text().replace(
        'HERE = Path(__file__).resolve().parent / "data"', f"HERE = Path({str(tmp_path)!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    shipped = ROOT / "config" / "examples" / "data"
    assert (tmp_path / "fruit.csv").read_bytes() == (shipped / "fruit.csv").read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "houses.parquet"), pd.read_parquet(shipped / "houses.parquet")
    )


def test_nngrid_list_gives_the_sizes_of_the_bundled_tables():
    out = subprocess.run(
        [sys.executable, "-m", "nngrid", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert "iris  [150 samples x 4 features, 3 classes]" in out
    assert "wine  [178 samples x 13 features, 3 classes]" in out
    assert "breast_cancer  [569 samples x 30 features, 2 classes]" in out
    assert "diabetes  [442 samples x 10 features, 1 target]" in out
    for name in ("iris", "wine", "breast_cancer", "diabetes"):
        splits, meta = make(name)
        n = sum(len(splits[k]) for k in ("y_train", "y_val", "y_test"))
        assert f"{name}  [{n} samples x {splits['X_train'].shape[1]} features" in out
        assert meta["source"] == f"sklearn.datasets.load_{name}"


# -- a user's tables through the grid, quickly (the slow end-to-end run: test_workflow.py) ------

GRID_SPEC = {
    "activations": ["relu", "tanh"],
    "regularizers": [{"label": "none", "kind": "none"}],
    "optimizers": [
        {"name": "sgd", "lr_grid": [0.03, 0.3]},
        {"name": "adam", "lr_grid": [0.003, 0.03]},
    ],
    "seeds": [0, 1],
    "tuning": {"seeds": 1, "extend": 0},
    "training": {"hidden": [8], "epochs": 3, "batch_size": 16, "target_accuracy": 0.5},
}


def _grid(datasets: dict) -> dict:
    """Every table of a tiny grid (2 activations x 2 optimizers) on ``{label: file params}``."""
    from nngrid.study import tables
    from nngrid.study.protocol import run_job

    rows = []
    for label, params in datasets.items():
        splits, _ = make("file", **params)
        got, _ = run_job(splits, {**GRID_SPEC, "axes": {"study": "mine", "dataset": label}})
        rows += got
    runs = tables.runs_table(rows)
    return {
        "runs": runs,
        "summary": tables.summary_table(runs),
        "rankings": tables.rankings_table(runs),
        "histories": tables.histories_table(rows),
    }


def _texts(fig) -> list[str]:
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        out += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in ax.texts]
        if ax.get_legend():
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return out


def _draw_grid(t: dict, monkeypatch) -> dict:
    from nngrid.study.figures import grid

    figs = {}

    def keep(fig, path):
        figs[str(path)] = fig
        return path

    monkeypatch.setattr(grid, "save", keep)
    grid.heatmaps(t["summary"], "heatmaps")
    grid.learning_curves(t["histories"], t["runs"], "curves")
    grid.lr_sensitivity(t["runs"], "lr")
    grid.time_to_target(t["runs"], "target")
    grid.generalization_gap(t["runs"], "gap")
    grid.rankings(t["rankings"], "rankings")
    grid.tuning_gain(t["summary"], "tuning")
    return figs


PER_DATASET = ("heatmaps", "curves", "lr", "gap", "tuning")


def test_a_users_csv_and_parquet_run_through_the_grid_to_panels_named_by_their_labels(
    project, monkeypatch
):
    from nngrid.study.report import grid_captions as report

    t = _grid(
        {
            "pets": {"path": "data/pets.csv", "target": "label"},
            "prices": {"path": "data/pets.parquet", "target": "y"},
        }
    )
    figs = _draw_grid(t, monkeypatch)
    for name in PER_DATASET:  # every panel of these is one dataset: its title names it
        fig = figs[name]
        titles = [ax.get_title() for ax in fig.axes if ax.axison and ax.get_title()]
        titles += [t.get_text() for ax in fig.axes for t in ax.texts if "|" in t.get_text()]
        assert titles and all("pets" in x or "prices" in x for x in titles), (name, titles)
        joined = " ".join(_texts(fig))
        assert "pets" in joined and "prices" in joined, name
    assert "pets" in " ".join(_texts(figs["rankings"]))
    assert "prices" in " ".join(_texts(figs["rankings"]))
    # time to target is an accuracy: the regression says it was not measured
    assert "not measured on the regression prices" in " ".join(_texts(figs["target"]))
    # the regression panels are drawn in loss, never in an accuracy of NaN
    heat = " ".join(_texts(figs["heatmaps"]))
    assert "mean test loss (lower is better)" in heat and "mean test accuracy" in heat
    captions = [
        report.heatmap_caption(t["summary"]),
        report.curves_caption(t["histories"], t["runs"]),
        report.time_to_target_caption(t["runs"]),
        report.gap_caption(t["runs"]),
        report.tuning_caption(t["summary"]),
    ]
    for text in captions:
        assert "pets" in text and "nan" not in text.lower(), text
    assert "prices: best" in captions[0] and "test loss" in captions[0]
    assert "Not measured on prices" in captions[2]


def test_the_report_names_each_class_and_no_name_is_read_as_markup(project):
    from nngrid.study.report import grid_captions as report

    frame = _table(labels=("{{ 7*7 }}", "`evil`_", "plain one"))
    frame.to_csv(project / "data" / "odd.csv", index=False)
    splits, meta = make("file", path="data/odd.csv", target="label")
    from nngrid.datasets import describe

    info = {**describe(splits), "metadata": meta, "spec": {"kind": "file"}}
    text = report.datasets_caption({"odd": info})
    assert "odd: file ``data/odd.csv``" in text and "60 rows, 3 features" in text
    assert "1 = ``plain one``" in text  # sorted by code point: '`' < 'p' < '{'
    for bad in ("{", "}", "`evil`"):
        assert bad not in text.replace("``", ""), bad
    assert "0 = ``?evil?_``" in text and "2 = ``?? 7?7 ??``" in text


def test_a_regression_grid_has_no_accuracy_columns_and_its_accuracy_claims_do_not_apply(
    project, monkeypatch
):
    from nngrid.study import claims

    t = _grid({"prices": {"path": "data/pets.parquet", "target": "y"}})
    measured = ("train_accuracy", "val_accuracy", "test_accuracy", "best_val_accuracy")
    for name in ("runs", "summary", "histories"):
        frame = t[name]
        assert not [c for c in frame.columns if c.startswith(measured)], name
        assert not [c for c in frame.columns if "accuracy" in c and frame[c].isna().all()], name
    assert t["runs"]["steps_to_target"].isna().all()  # not measured, never "never"
    assert set(t["rankings"]["metric"]) == {"test_loss"}
    figs = _draw_grid(t, monkeypatch)
    assert "Not measured" in " ".join(_texts(figs["target"]))
    assert "untuned - tuned test loss" in " ".join(_texts(figs["tuning"]))
    grid_claims = [c.claim_id for c in claims.CLAIMS if c.needs == ("grid",)]
    verdicts = claims.evaluate({"grid": t}, only=grid_claims)
    assert len(verdicts) == len(grid_claims) >= 3
    for v in verdicts:
        assert v.verdict == "not applicable", v
        assert v.evidence.startswith("Not applicable: the claim is measured in accuracy")
    assert claims.applies("classification") and not claims.applies("regression")


# -- end to end (slow): snakemake on config/examples/own_data.yaml ------------------------------


def _snakemake(cwd, *args):
    from local_env import local_env

    return subprocess.run(
        ["snakemake", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        env=local_env(),
    )


def _planned(dry_run: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run lists."""
    import re

    jobs = []
    for block in re.split(r"\n(?:local)?rule ", "\n" + dry_run)[1:]:
        rule = block.split(":", 1)[0]
        wc = re.search(r"wildcards: (.*)", block)
        jobs.append((rule, wc.group(1).strip() if wc else ""))
    return sorted(jobs)


@pytest.mark.slow
def test_own_data_runs_to_a_report_and_an_edited_file_reruns_exactly_its_jobs(tmp_path):
    import shutil

    shutil.copy(ROOT / "Snakefile", tmp_path / "Snakefile")
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    cfg = ["--configfile", "config/examples/own_data.yaml"]
    res = _snakemake(tmp_path, "--cores", "2", *cfg)
    assert res.returncode == 0, res.stderr[-3000:]
    rep = _snakemake(tmp_path, *cfg, "--report", "results/report.html")
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert (tmp_path / "results" / "report.html").stat().st_size > 10_000
    results = tmp_path / "results"
    import json

    fruit = json.loads((results / "data" / "fruit.json").read_text())
    assert fruit["metadata"]["classes"] == ["apple", "lemon", "orange"]
    assert fruit["spec"]["params"]["sha256"] == fruit["metadata"]["file_sha256"]
    houses = json.loads((results / "data" / "houses.json").read_text())
    assert houses["task"] == "regression" and houses["metadata"]["target"] == "price_k"
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert set(summary["dataset"]) == {"fruit", "houses"}
    fruit_rows, house_rows = summary["dataset"] == "fruit", summary["dataset"] == "houses"
    assert summary.loc[fruit_rows, "test_accuracy_mean"].between(0.5, 1).all()
    assert summary.loc[house_rows, "test_loss_mean"].notna().all()
    for caption in (results / "figures").glob("fig09_*.rst"):
        text = caption.read_text()
        assert "nan" not in text.lower().replace("nan.", ""), caption.name
        if caption.stem != "fig09_rankings":
            assert "fruit" in text, caption.name
        if caption.stem != "fig09_rankings":
            assert "houses" in text, caption.name
    heatmaps = (results / "figures" / "fig09_heatmaps.rst").read_text()
    assert "0 = ``apple``, 1 = ``lemon``, 2 = ``orange``" in heatmaps
    assert "regression of ``price_k``" in heatmaps
    claims = pd.read_csv(results / "tables" / "claims.csv")
    grid = claims[claims["claim_id"].isin(["adam_fast", "adam_well", "adam_faster"])]
    assert grid["evidence"].str.contains("not applicable to the regression dataset").all()

    # the file's content decides: a touch reruns nothing; an edit reruns exactly its jobs
    data = tmp_path / "config" / "examples" / "data" / "houses.parquet"
    os.utime(data)
    again = _snakemake(tmp_path, "-n", *cfg)
    assert "Nothing to be done" in again.stdout + again.stderr
    frame = pd.read_parquet(data)
    frame.loc[0, "price_k"] += 1.0
    frame.to_parquet(data, index=False)
    dry = _snakemake(tmp_path, "-n", *cfg)
    assert dry.returncode == 0, dry.stderr
    jobs = _planned(dry.stdout + dry.stderr)
    per_dataset = [j for j in jobs if "dataset=" in j[1]]
    assert per_dataset and all("dataset=houses" in wc for _, wc in per_dataset), per_dataset
    assert ("dataset", "dataset=houses") in jobs
    trained = sorted(wc for rule, wc in jobs if rule == "train")
    assert trained == [
        "study=mine, dataset=houses, optimizer=adam",
        "study=mine, dataset=houses, optimizer=sgd",
    ]
    assert {r for r, _ in jobs} >= {"tables", "claims", "figure_grid", "all"}


@pytest.mark.slow
def test_the_readme_commands_run_a_users_parquet_regression_to_a_report(tmp_path):
    """README.md, "Your own data": the two commands, on a Parquet regression table."""
    import shutil

    shutil.copy(ROOT / "Snakefile", tmp_path / "Snakefile")
    for folder in ("workflow", "config", "profiles"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "config/examples/data/houses.parquet", tmp_path / "data" / "prices.parquet")
    from local_env import local_env

    write = subprocess.run(
        [
            sys.executable,
            "-m",
            "nngrid.data_files",
            "data/prices.parquet",
            "--target",
            "price_k",
            "--output",
            "config/mine.yaml",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=local_env(),
    )
    assert write.returncode == 0, write.stderr
    cfg = ["--configfile", "config/mine.yaml"]
    res = _snakemake(tmp_path, "--cores", "2", *cfg)
    assert res.returncode == 0, res.stderr[-3000:]
    rep = _snakemake(tmp_path, *cfg, "--report", "results/report.html")
    assert rep.returncode == 0, rep.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "results" / "tables" / "summary.csv")
    assert set(summary["dataset"]) == {"prices"}
    assert not [c for c in summary.columns if c.startswith("test_accuracy")]
    for caption in (tmp_path / "results" / "figures").glob("fig09_*.rst"):
        text = caption.read_text()
        assert "accuracy of" not in text.lower() or "regression" in text.lower(), caption.name
    claims = pd.read_csv(tmp_path / "results" / "tables" / "claims.csv")
    grid = claims[claims["claim_id"].isin(["adam_fast", "adam_well", "momentum_faster"])]
    assert len(grid) == 3 and (grid["verdict"] == "not applicable").all()


@pytest.mark.parametrize("name", ["own_data.yaml", "sklearn_tables.yaml"])
def test_the_example_configs_are_valid(name, monkeypatch):
    import yaml

    monkeypatch.chdir(ROOT)  # their paths are relative to the project folder
    cfg = yaml.safe_load((ROOT / "config" / "examples" / name).read_text())
    cfg = check_config(cfg, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    kinds = {dataset_spec(cfg, d)["kind"] for d in cfg["datasets"]}
    expected = (
        {"file"} if name == "own_data.yaml" else {"iris", "wine", "breast_cancer", "diabetes"}
    )
    assert kinds == expected
