"""Tests for nngrid.datasets: every registered dataset, the splitter, standardisation, files."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nngrid import datasets, io
from nngrid.datasets import DATASETS, SPLIT_NAMES, build, describe, load_dataset, save_dataset
from nngrid.errors import NngridError

# Small sizes keep the module fast; datasets without a size parameter use their full data.
SMALL = {
    "moons": {"n_samples": 120},
    "circles": {"n_samples": 120},
    "spirals": {"n_samples": 150, "n_classes": 3},
    "xor": {"n_samples": 120},
    "gaussian": {"n_samples": 150, "n_features": 6, "n_informative": 3, "n_classes": 3},
    "regression1d": {"n_samples": 30, "n_test": 50},
    # the shipped example table (config/examples/make_example_data.py writes it)
    "file": {
        "path": str(Path(__file__).resolve().parents[1] / "config/examples/data/fruit.csv"),
        "target": "species",
    },
}
#: Tables that hold identical rows (digits has repeated images, iris two equal flowers).
DUPLICATES = {"digits", "iris"}


@functools.cache
def small(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    splits = build(name, seed=seed, **SMALL.get(name, {}))
    for a in splits.values():
        a.flags.writeable = False  # shared between tests: nobody may modify them
    return splits


def test_registry_lists_the_study_datasets():
    import nngrid.data_files  # noqa: F401  (registers the `file` kind, as the CLI and rules do)

    expected = {"moons", "circles", "spirals", "xor", "gaussian", "regression1d", "digits"}
    tables = {"iris", "wine", "breast_cancer", "diabetes", "file"}
    assert expected | tables | {"mnist1d"} == set(DATASETS.names())


def test_module_imports_numpy_and_stdlib_only():
    code = (
        "import sys, nngrid.datasets, nngrid.io\n"
        "bad = [m for m in ('sklearn', 'mnist1d', 'pandas', 'scipy', 'matplotlib')"
        " if m in sys.modules]\n"
        "assert not bad, bad\n"
        "nngrid.datasets.build('moons', n_samples=20)\n"
        "bad = [m for m in ('sklearn', 'mnist1d', 'scipy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_builds_with_the_right_types(name):
    splits = small(name)
    assert list(splits) == list(SPLIT_NAMES)
    info = describe(splits)
    task = DATASETS.create(name, **SMALL.get(name, {})).task
    assert info["task"] == task
    d = info["n_features"]
    for part in ("train", "val", "test"):
        X, y = splits[f"X_{part}"], splits[f"y_{part}"]
        assert X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == d
        assert len(X) == len(y) > 0
        assert np.all(np.isfinite(X)) and np.all(np.isfinite(y))
        if task == "classification":
            assert y.dtype == np.int64 and y.ndim == 1
        else:
            assert y.dtype == np.float64 and y.shape == (len(X), 1)
    if task == "classification":
        C = info["n_classes"]
        assert C >= 2 and set(np.unique(splits["y_train"])) == set(range(C))
        assert splits["y_test"].max() < C and splits["y_val"].max() < C


@pytest.mark.parametrize("name", DATASETS.names())
def test_deterministic_for_a_seed(name):
    first = small(name)
    again = build(name, seed=0, **SMALL.get(name, {}))
    assert describe(first)["sha256"] == describe(again)["sha256"]
    for k in SPLIT_NAMES:
        np.testing.assert_array_equal(first[k], again[k])
    assert describe(small(name, 1))["sha256"] != describe(first)["sha256"]


@pytest.mark.parametrize("name", DATASETS.names())
def test_standardised_with_training_statistics(name):
    splits = small(name)
    X = splits["X_train"]
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-10)
    std = X.std(axis=0)
    # constant training features (digits' blank border pixels) stay constant, divided by 1
    assert np.all(np.isclose(std, 1.0) | np.isclose(std, 0.0))
    assert np.isclose(std, 1.0).sum() >= 1
    # validation/test use the same affine map, so they are NOT exactly centred
    assert not np.allclose(splits["X_test"].mean(axis=0), 0.0, atol=1e-10)


@pytest.mark.parametrize("name", DATASETS.names())
def test_splits_do_not_overlap(name):
    splits = small(name)
    rows = {k: {r.tobytes() for r in splits[f"X_{k}"]} for k in ("train", "val", "test")}
    # a dataset may hold identical points (duplicates in digits); count them across splits
    sizes = {k: len(splits[f"X_{k}"]) for k in ("train", "val", "test")}
    assert rows["train"].isdisjoint(rows["val"]) or name in DUPLICATES
    assert rows["train"].isdisjoint(rows["test"]) or name in DUPLICATES
    assert rows["val"].isdisjoint(rows["test"]) or name in DUPLICATES
    if name not in DUPLICATES:
        assert all(len(rows[k]) == sizes[k] for k in sizes)


@pytest.mark.parametrize(
    "name", [n for n in DATASETS.names() if DATASETS.get(n).task == "classification" or n == "file"]
)
def test_stratified_splits_keep_class_proportions(name):
    splits = small(name)
    counts = describe(splits)["class_counts"]
    train, val = np.array(counts["train"]), np.array(counts["val"])
    carved = train + val  # mnist1d keeps its own test split; the others carve all three
    if name != "mnist1d":
        carved = carved + np.array(counts["test"])
        np.testing.assert_array_less(np.abs(np.array(counts["test"]) - 0.2 * carved), 1.0 + 1e-9)
    np.testing.assert_array_less(np.abs(val - 0.2 * carved), 1.0 + 1e-9)


def test_split_fractions_and_sizes():
    splits = build("moons", seed=3, val_fraction=0.1, test_fraction=0.3, n_samples=200)
    assert [len(splits[k]) for k in ("y_train", "y_val", "y_test")] == [120, 20, 60]


def test_changing_the_split_does_not_change_the_points(monkeypatch):
    monkeypatch.setattr(datasets, "standardize", lambda splits: splits)  # compare raw points

    def all_points(**fractions):
        s = build("moons", seed=5, n_samples=100, **fractions)
        X = np.concatenate([s["X_train"], s["X_val"], s["X_test"]])
        return X[np.lexsort(X.T)]

    a = all_points(val_fraction=0.1, test_fraction=0.1)
    b = all_points(val_fraction=0.3, test_fraction=0.3)
    np.testing.assert_array_equal(a, b)


def test_split_indices_partition_and_keep_a_training_point_per_class():
    y = np.array([0] * 50 + [1] * 7 + [2] * 1)
    rng = np.random.default_rng(0)
    test, val, train = datasets.split_indices(y, (0.2, 0.2), rng)
    together = np.concatenate([test, val, train])
    assert sorted(together.tolist()) == list(range(len(y)))
    assert set(y[train]) == {0, 1, 2}
    assert np.bincount(y[test], minlength=3).tolist() == [10, 1, 0]


def test_regression1d_has_a_dense_noise_free_test_grid():
    splits = small("regression1d")
    n_test = SMALL["regression1d"]["n_test"]
    x_grid = np.linspace(0.0, 1.0, n_test)
    np.testing.assert_allclose(splits["y_test"][:, 0], np.sin(2 * np.pi * x_grid), atol=1e-12)
    steps = np.diff(splits["X_test"][:, 0])
    np.testing.assert_allclose(steps, steps[0])
    assert len(splits["y_train"]) + len(splits["y_val"]) == 30
    # y keeps its units: the noisy sine lies mostly within [-2, 2] and is not standardised
    assert np.abs(splits["y_train"]).max() < 3 and abs(splits["y_train"].std() - 1) > 1e-3


def test_mnist1d_uses_the_package_defaults_and_keeps_its_test_split():
    from mnist1d.data import get_dataset_args, make_dataset

    splits = small("mnist1d")
    assert len(splits["y_train"]) + len(splits["y_val"]) == 4000
    assert splits["X_test"].shape == (1000, 40)
    reference = make_dataset(get_dataset_args())
    np.testing.assert_array_equal(splits["y_test"], reference["y_test"])


def test_mnist1d_restores_the_global_random_state():
    np.random.seed(1234)  # noqa: NPY002 - the point is to check the global state is untouched
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    datasets.Mnist1D().generate(np.random.default_rng(0))
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "nope"}, "unknown dataset 'nope'; valid choices: moons"),
        ({"name": "moons", "colour": 1}, "takes no parameter 'colour'"),
        ({"name": "moons", "n_samples": 0}, "n_samples=0"),
        ({"name": "moons", "noise": -1}, "noise=-1"),
        ({"name": "circles", "factor": 1.0}, "factor"),
        ({"name": "gaussian", "n_informative": 8, "n_features": 4}, "n_features=4"),
        ({"name": "gaussian", "n_classes": 20, "n_informative": 2}, "2\\*\\*n_informative"),
        ({"name": "moons", "val_fraction": 0.0}, "val_fraction"),
        ({"name": "moons", "val_fraction": 0.5, "test_fraction": 0.5}, "below 1"),
    ],
)
def test_bad_build_arguments(kwargs, match):
    with pytest.raises(NngridError, match=match):
        build(**kwargs)


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("name", ["moons", "regression1d", "spirals"])
def test_save_load_round_trip(tmp_path, name):
    splits = small(name)
    path = tmp_path / f"{name}.npz"
    save_dataset(path, splits)
    loaded = load_dataset(path)
    assert list(loaded) == list(SPLIT_NAMES)
    for k in SPLIT_NAMES:
        np.testing.assert_array_equal(loaded[k], splits[k])
        assert loaded[k].dtype == splits[k].dtype
    assert describe(loaded) == describe(splits)


def write(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    io.write_npz(path, **arrays)
    return path


def good(**overrides):
    rng = np.random.default_rng(0)
    arrays = {
        "X_train": rng.normal(size=(20, 3)),
        "y_train": np.arange(20) % 4,
        "X_val": rng.normal(size=(6, 3)),
        "y_val": np.arange(6) % 4,
        "X_test": rng.normal(size=(8, 3)),
        "y_test": np.arange(8) % 4,
    }
    arrays.update(overrides)
    return {k: v for k, v in arrays.items() if v is not None}


def test_load_valid_file_infers_classification(tmp_path):
    splits = load_dataset(write(tmp_path, **good()))
    assert describe(splits)["n_classes"] == 4
    assert splits["y_train"].dtype == np.int64


def test_whole_number_float_labels_are_classification(tmp_path):
    sizes = {"y_train": 20, "y_val": 6, "y_test": 8}
    arrays = good(**{k: (np.arange(n) % 4).astype(float) for k, n in sizes.items()})
    splits = load_dataset(write(tmp_path, **arrays))
    assert describe(splits)["task"] == "classification"
    assert splits["y_test"].dtype == np.int64


def test_float_targets_are_regression_reshaped(tmp_path):
    rng = np.random.default_rng(1)
    arrays = good(y_train=rng.normal(size=20), y_val=rng.normal(size=6), y_test=rng.normal(size=8))
    splits = load_dataset(write(tmp_path, **arrays))
    assert describe(splits)["task"] == "regression"
    assert splits["y_train"].shape == (20, 1) and splits["y_test"].shape == (8, 1)


def test_missing_validation_is_carved_from_train(tmp_path):
    path = write(
        tmp_path, **good(X_val=None, y_val=None, y_train=np.arange(20) % 2, y_test=np.arange(8) % 2)
    )
    splits = load_dataset(path)
    assert len(splits["y_val"]) == 4 and len(splits["y_train"]) == 16
    assert np.bincount(splits["y_val"]).tolist() == [2, 2]
    again = load_dataset(path)
    np.testing.assert_array_equal(splits["X_val"], again["X_val"])


def test_standardize_on_load(tmp_path):
    path = write(tmp_path, **good(X_train=np.arange(60.0).reshape(20, 3) * 5 + 3))
    X = load_dataset(path, standardize_x=True)["X_train"]
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1)


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"y_test": None}, r"lacks required array\(s\) y_test; it holds: "),
        ({"y_val": None}, "has X_val but no y_val"),
        ({"X_train": np.full((20, 3), np.nan)}, "X_train has 60 NaN or infinite"),
        ({"y_val": np.array([0, 1, np.inf, 3, 0, 1])}, "y_val has 1 NaN or infinite"),
        ({"y_test": np.array([0, 1, 2, 3, 7, 0, 1, 2])}, "y_test has label 7 but y_train only"),
        ({"y_train": np.arange(20) % 4 * 2}, "y_train has no example of class 1"),
        ({"y_train": np.arange(20) % 4 + 1}, "y_train has no example of class 0"),
        ({"y_train": np.array([0, 1, 2, 3, 10**15] * 4)}, "y_train has no example of class 4"),
        ({"y_val": np.array([0, -1, 2, 3, 0, 1])}, "y_val has negative label -1"),
        ({"X_test": np.zeros((8, 2))}, "X_test has 2 features but X_train has 3"),
        ({"X_train": np.zeros(20)}, r"X_train has shape \(20,\); it must be 2-D"),
        ({"y_val": np.zeros(5, dtype=int)}, "y_val has 5 entries but X_val has 6 rows"),
        ({"y_train": np.zeros((20, 1, 1))}, "y_train has shape"),
        ({"X_test": np.array(["a"] * 24).reshape(8, 3)}, "X_test has dtype <U1"),
    ],
)
def test_invalid_files_are_refused_naming_file_and_array(tmp_path, overrides, match):
    path = write(tmp_path, **good(**overrides))
    with pytest.raises(NngridError, match=match) as err:
        load_dataset(path)
    assert "data.npz" in str(err.value)


def test_regression_targets_must_agree_in_width(tmp_path):
    arrays = good(
        y_train=np.full((20, 2), 0.5), y_val=np.full((6, 1), 0.5), y_test=np.full((8, 2), 0.5)
    )
    with pytest.raises(NngridError, match="different numbers of columns"):
        load_dataset(write(tmp_path, **arrays))


def test_describe_is_json_ready(tmp_path):
    info = describe(small("spirals"))
    io.write_json(tmp_path / "d.json", info)
    assert io.read_json(tmp_path / "d.json") == info
    assert info["class_counts"]["train"] == [30, 30, 30]
