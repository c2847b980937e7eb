"""Datasets: generators, stratified splits, standardisation, and ``.npz`` save/load with checks.

Every dataset is a small class in :data:`DATASETS` with a ``task`` (``"classification"`` or
``"regression"``), keyword parameters with defaults (sizes and noise levels are config), and
``generate(rng) -> (X, y)``: ``X`` float64 of shape ``(n, d)``, ``y`` int64 labels ``0..C-1`` of
shape ``(n,)`` for classification or float64 of shape ``(n, 1)`` for regression. The random draws
all come from the ``numpy.random.Generator`` passed in.

:func:`build` turns a name into the six arrays ``X_train, y_train, X_val, y_val, X_test, y_test``:

1. ``SeedSequence(seed).spawn(2)`` gives one stream for the data and one for the split, so changing
   the split fractions never changes the points themselves;
2. the points are split at random, stratified by class for classification (each class is shuffled
   and divided in the proportions ``test_fraction : val_fraction : rest``, so every split keeps the
   class proportions up to rounding); datasets that bring their own test set (``regression1d``,
   ``mnist1d``) only carve the validation split out of their training points;
3. every ``X`` is standardised with the *training* split's statistics only,
   ``X' = (X - mean_train) / std_train`` per feature (a feature with ``std_train == 0`` is divided
   by 1), so nothing about the validation or test points leaks into training.
   Regression targets are left in their original units (``regression1d``'s figures plot the curve).

scikit-learn's shipped real tables (``digits``, ``iris``, ``wine``, ``breast_cancer``, and
``diabetes``, a regression whose target :func:`make` standardises with the training split's
statistics) are registered like the generators, with their fixed ``SIZE``; the ``file`` kind (a
CSV, Parquet or ``.npz`` the user brings) lives in :mod:`nngrid.data_files`. :func:`make` returns
the splits and the dataset's metadata (feature and class names, target statistics).

Only NumPy and the standard library are imported at module level; scikit-learn (``gaussian``,
the tables) and ``mnist1d`` are imported inside their generators, pandas inside the file
readers, so ``nngrid train`` on a saved ``.npz`` never imports them. Nothing here downloads
anything.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from nngrid import io
from nngrid.core.registry import Registry
from nngrid.errors import NngridError

__all__ = [
    "DATASETS",
    "SPLIT_NAMES",
    "Dataset",
    "build",
    "content_hash",
    "describe",
    "check_dtype_range",
    "infer_task",
    "task_summary",
    "load_dataset",
    "make",
    "save_dataset",
    "split_indices",
    "standardize",
]

DATASETS = Registry("dataset")

#: The arrays of a split dictionary, in a fixed order.
SPLIT_NAMES = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")

# --------------------------------------------------------------------------- parameter checks


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise NngridError(f"dataset parameter {name}={value!r} must be an integer >= {low}")
    return int(value)


def _check_float(name: str, value: Any, low: float = 0.0, high: float = np.inf) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise NngridError(f"dataset parameter {name}={value!r} must be a number") from None
    if isinstance(value, bool) or not (low <= x <= high):
        raise NngridError(f"dataset parameter {name}={value!r} must lie in [{low}, {high}]")
    return x


def _class_sizes(n: int, k: int) -> np.ndarray:
    """Split ``n`` points into ``k`` classes as evenly as possible (the first get one more)."""
    return np.full(k, n // k) + (np.arange(k) < n % k)


def _labels(sizes: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)


# --------------------------------------------------------------------------- the datasets


class Dataset:
    """Base class: ``task``, ``generate(rng) -> (X, y)``; optionally its own test set.

    A dataset whose test set is not a random part of the generated points overrides
    :meth:`generate_with_test` to return ``(X, y, X_test, y_test)``; :func:`build` then carves only
    the validation split out of ``(X, y)``.
    """

    task = "classification"
    #: Regression targets standardised with the training split's statistics (the real tables);
    #: the generators keep theirs in original units.
    standardize_target = False
    #: ``(n_samples, n_features, n_outputs)`` of a dataset whose size is fixed (``nngrid list``).
    SIZE: tuple[int, int, int] | None = None

    def generate(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def generate_splits(self, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """A dataset whose rows come with their own split (a file's split column) returns
        ``{X_train, y_train, X_test, y_test}`` and optionally ``X_val, y_val``; else ``None``."""
        return None

    def metadata(self) -> dict[str, Any]:
        """Facts about the data beyond its arrays (feature and class names, source); JSON-ready."""
        return {}

    def generate_with_test(
        self, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(X, y, X_test, y_test)`` for datasets that fix their own test set, else ``None``."""
        return None


@DATASETS.register("moons")
class Moons(Dataset):
    """Two interleaving half circles (NumPy re-derivation of the classic two-moons problem).

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 0.5 - sin t)``, with ``t ~ U(0, pi)``,
    plus isotropic Gaussian noise of standard deviation ``noise``. No line separates them.
    """

    task = "classification"

    def __init__(self, n_samples: int = 500, noise: float = 0.2):
        self.n_samples = _check_int("n_samples", n_samples, 4)
        self.noise = _check_float("noise", noise)

    def generate(self, rng):
        sizes = _class_sizes(self.n_samples, 2)
        t0 = rng.uniform(0.0, np.pi, sizes[0])
        t1 = rng.uniform(0.0, np.pi, sizes[1])
        outer = np.column_stack([np.cos(t0), np.sin(t0)])
        inner = np.column_stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)])
        X = np.concatenate([outer, inner]) + rng.normal(0.0, self.noise, (self.n_samples, 2))
        return X, _labels(sizes)


@DATASETS.register("circles")
class Circles(Dataset):
    """A small circle inside a large one: class 0 on radius 1, class 1 on radius ``factor``.

    Points ``r (cos t, sin t)`` with ``t ~ U(0, 2 pi)`` plus Gaussian noise of std ``noise``.
    """

    task = "classification"

    def __init__(self, n_samples: int = 500, noise: float = 0.1, factor: float = 0.5):
        self.n_samples = _check_int("n_samples", n_samples, 4)
        self.noise = _check_float("noise", noise)
        self.factor = _check_float("factor", factor, 0.0, 1.0)
        if self.factor >= 1.0:
            raise NngridError(f"dataset parameter factor={factor!r} must lie in [0, 1)")

    def generate(self, rng):
        sizes = _class_sizes(self.n_samples, 2)
        radius = np.repeat([1.0, self.factor], sizes)
        t = rng.uniform(0.0, 2.0 * np.pi, self.n_samples)
        X = radius[:, None] * np.column_stack([np.cos(t), np.sin(t)])
        X += rng.normal(0.0, self.noise, X.shape)
        return X, _labels(sizes)


@DATASETS.register("spirals")
class Spirals(Dataset):
    """``n_classes`` interleaved spiral arms.

    Arm ``k`` holds points at ``r = t`` and angle ``2 pi k / K + 2 pi turns t`` with
    ``t ~ U(0.05, 1)``, i.e. ``X = t (cos angle, sin angle)``, plus Gaussian noise of std ``noise``.
    """

    task = "classification"

    def __init__(
        self, n_samples: int = 500, noise: float = 0.05, n_classes: int = 2, turns: float = 1.0
    ):
        self.n_samples = _check_int("n_samples", n_samples, 2 * n_classes)
        self.noise = _check_float("noise", noise)
        self.n_classes = _check_int("n_classes", n_classes, 2)
        self.turns = _check_float("turns", turns, 0.0)

    def generate(self, rng):
        sizes = _class_sizes(self.n_samples, self.n_classes)
        y = _labels(sizes)
        t = rng.uniform(0.05, 1.0, self.n_samples)
        angle = 2.0 * np.pi * (y / self.n_classes + self.turns * t)
        X = t[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
        X += rng.normal(0.0, self.noise, X.shape)
        return X, y


@DATASETS.register("xor")
class Xor(Dataset):
    """Four Gaussian blobs at ``(+-1, +-1)`` with standard deviation ``noise``.

    Label ``1`` when the blob's centre has coordinates of opposite sign (``(1, -1)``, ``(-1, 1)``),
    ``0`` otherwise: the exclusive-or of the two signs, which no line separates.
    """

    task = "classification"

    def __init__(self, n_samples: int = 500, noise: float = 0.35):
        self.n_samples = _check_int("n_samples", n_samples, 4)
        self.noise = _check_float("noise", noise)

    def generate(self, rng):
        centres = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
        blob_labels = np.array([0, 0, 1, 1], dtype=np.int64)
        blob = np.repeat(np.arange(4), _class_sizes(self.n_samples, 4))
        X = centres[blob] + rng.normal(0.0, self.noise, (self.n_samples, 2))
        return X, blob_labels[blob]


@DATASETS.register("gaussian")
class Gaussian(Dataset):
    """scikit-learn's ``make_classification``: Gaussian clusters on the vertices of a hypercube.

    ``n_informative`` informative features, ``n_redundant`` linear combinations of them, the rest
    noise; ``class_sep`` scales the hypercube, ``flip_y`` is the fraction of labels flipped at
    random. The ``random_state`` is drawn from the Generator passed in.
    """

    task = "classification"

    def __init__(
        self,
        n_samples: int = 500,
        n_features: int = 10,
        n_informative: int = 5,
        n_redundant: int = 2,
        n_classes: int = 3,
        n_clusters_per_class: int = 2,
        class_sep: float = 1.0,
        flip_y: float = 0.01,
    ):
        self.n_samples = _check_int("n_samples", n_samples, 2 * n_classes)
        self.n_features = _check_int("n_features", n_features, 1)
        self.n_informative = _check_int("n_informative", n_informative, 1)
        self.n_redundant = _check_int("n_redundant", n_redundant, 0)
        self.n_classes = _check_int("n_classes", n_classes, 2)
        self.n_clusters_per_class = _check_int("n_clusters_per_class", n_clusters_per_class, 1)
        self.class_sep = _check_float("class_sep", class_sep)
        self.flip_y = _check_float("flip_y", flip_y, 0.0, 1.0)
        if n_informative + n_redundant > n_features:
            raise NngridError(
                f"dataset parameters n_informative={n_informative} + n_redundant={n_redundant} "
                f"must not exceed n_features={n_features}"
            )
        if n_classes * n_clusters_per_class > 2**n_informative:
            raise NngridError(
                f"dataset parameters n_classes * n_clusters_per_class = "
                f"{n_classes * n_clusters_per_class} must be <= 2**n_informative = "
                f"{2**n_informative}"
            )

    def generate(self, rng):
        from sklearn.datasets import make_classification

        X, y = make_classification(
            n_samples=self.n_samples,
            n_features=self.n_features,
            n_informative=self.n_informative,
            n_redundant=self.n_redundant,
            n_classes=self.n_classes,
            n_clusters_per_class=self.n_clusters_per_class,
            class_sep=self.class_sep,
            flip_y=self.flip_y,
            random_state=int(rng.integers(2**31 - 1)),
        )
        return X.astype(np.float64), y.astype(np.int64)


@DATASETS.register("regression1d")
class Regression1D(Dataset):
    """A small noisy 1-D regression that an unregularised network overfits.

    ``x ~ U(0, 1)``, ``y = sin(2 pi x) + eps``, ``eps ~ N(0, noise^2)``: ``n_samples`` points
    (30 by default), from which :func:`build` carves the validation split. The *test* set is a
    dense, evenly spaced grid of ``n_test`` points on ``[0, 1]`` with targets ``sin(2 pi x)`` plus
    noise of std ``test_noise`` (0 by default): with noise-free targets the test loss is exactly the
    mean squared distance between the fitted and the true curve, so overfitting shows without the
    irreducible noise floor, and the figures can draw the true curve from the test split.
    ``y`` stays in its original units (not standardised); ``X`` is standardised as usual.
    """

    task = "regression"

    def __init__(
        self, n_samples: int = 30, noise: float = 0.3, n_test: int = 200, test_noise: float = 0.0
    ):
        self.n_samples = _check_int("n_samples", n_samples, 3)
        self.noise = _check_float("noise", noise)
        self.n_test = _check_int("n_test", n_test, 2)
        self.test_noise = _check_float("test_noise", test_noise)

    @staticmethod
    def curve(x: np.ndarray) -> np.ndarray:
        """The noise-free target ``sin(2 pi x)``."""
        return np.sin(2.0 * np.pi * x)

    def generate(self, rng):
        x = rng.uniform(0.0, 1.0, (self.n_samples, 1))
        return x, self.curve(x) + rng.normal(0.0, self.noise, x.shape)

    def generate_with_test(self, rng):
        X, y = self.generate(rng)
        x_test = np.linspace(0.0, 1.0, self.n_test)[:, None]
        y_test = self.curve(x_test) + rng.normal(0.0, self.test_noise, x_test.shape)
        return X, y, x_test, y_test


class SklearnTable(Dataset):
    """A real table shipped inside scikit-learn (``sklearn.datasets.load_<name>``; no download).

    The Generator is unused: the data is fixed; only the split depends on the seed.
    :meth:`metadata` gives the table's feature names and, for classification, its class names
    (label ``i`` is ``classes[i]``). A regression table's target is standardised with the
    training split's statistics (:attr:`Dataset.standardize_target`).
    """

    loader = ""

    def _bunch(self) -> Any:
        import sklearn.datasets

        return getattr(sklearn.datasets, self.loader)()

    def generate(self, rng):
        bunch = self._bunch()
        X = np.asarray(bunch.data, dtype=np.float64)
        if self.task == "classification":
            return X, np.asarray(bunch.target, dtype=np.int64)
        return X, np.asarray(bunch.target, dtype=np.float64).reshape(-1, 1)

    def metadata(self) -> dict[str, Any]:
        bunch = self._bunch()
        info: dict[str, Any] = {
            "source": f"sklearn.datasets.{self.loader}",
            "features": [str(f) for f in bunch.feature_names],
        }
        if self.task == "classification":
            info["classes"] = [str(c) for c in bunch.target_names]
        else:
            info["target"] = "target"
        return info


@DATASETS.register("digits")
class Digits(SklearnTable):
    """scikit-learn's shipped 8x8 handwritten digits: 1797 images, 64 features 0..16, 10 classes."""

    task = "classification"
    loader = "load_digits"
    SIZE = (1797, 64, 10)


@DATASETS.register("iris")
class Iris(SklearnTable):
    """Fisher's iris: 150 flowers, 4 measurements (cm), 3 species (50 each)."""

    task = "classification"
    loader = "load_iris"
    SIZE = (150, 4, 3)


@DATASETS.register("wine")
class Wine(SklearnTable):
    """UCI wine recognition: 178 wines, 13 chemical measurements, 3 cultivars (59/71/48)."""

    task = "classification"
    loader = "load_wine"
    SIZE = (178, 13, 3)


@DATASETS.register("breast_cancer")
class BreastCancer(SklearnTable):
    """Wisconsin diagnostic breast cancer: 569 tumours, 30 features, malignant (212) / benign."""

    task = "classification"
    loader = "load_breast_cancer"
    SIZE = (569, 30, 2)


@DATASETS.register("diabetes")
class Diabetes(SklearnTable):
    """Efron et al.'s diabetes progression: 442 patients, 10 baseline variables, one target
    (disease progression after a year, 25..346), a regression; the target is standardised with
    the training split's mean and standard deviation (kept in the dataset's metadata), so the
    test loss is in units of the target's variance (1 - test loss ~ R^2)."""

    task = "regression"
    loader = "load_diabetes"
    standardize_target = True
    SIZE = (442, 10, 1)


@DATASETS.register("mnist1d")
class Mnist1D(Dataset):
    """MNIST-1D (Greydanus & Kobak): 10 classes of 1-D signals of length 40.

    Made procedurally by ``mnist1d.data.make_dataset(get_dataset_args())`` with the package's
    default arguments (5000 samples, its own 4000/1000 train/test split) and its generation seed
    ``generation_seed`` (the package's 42 by default: the published benchmark's data; another
    value is an independent draw of the same distribution); ``generation_per_draw=True`` draws
    the generation seed from the dataset's data seed instead, so that each of a dataset's
    ``data_seeds`` is its own generation; ``get_dataset``, which downloads, is
    never called. Its test split is kept as the test set and the validation split is carved out of
    its training split. ``make_dataset`` seeds NumPy's and Python's global generators; their states
    are saved and restored around the call so nothing else is affected.

    ``shuffle_positions=True`` gives mnist1d's "shuffled" control: the 40 positions of every
    sequence (train and test alike) reordered by one fixed permutation, drawn from
    ``np.random.default_rng(permutation_seed)`` (independent of the data seed), so a model that
    uses the order of the positions (a CNN, a GRU) loses it and one that does not (an MLP) keeps it.
    """

    task = "classification"
    SIZE = (5000, 40, 10)

    def __init__(
        self,
        shuffle_positions: bool = False,
        permutation_seed: int = 0,
        generation_seed: int = 42,
        generation_per_draw: bool = False,
    ):
        for name, flag in (
            ("shuffle_positions", shuffle_positions),
            ("generation_per_draw", generation_per_draw),
        ):
            if not isinstance(flag, bool):
                raise NngridError(f"{name} must be true or false, got {flag!r}")
        self.shuffle_positions = shuffle_positions
        self.generation_per_draw = generation_per_draw
        self.permutation_seed = _check_int("permutation_seed", permutation_seed, 0)
        self.generation_seed = _check_int("generation_seed", generation_seed, 0)

    def _make(self, rng: np.random.Generator) -> dict[str, Any]:
        from mnist1d.data import get_dataset_args, make_dataset

        seed = self.generation_seed
        if self.generation_per_draw:  # a generation of its own for each data seed
            seed = int(rng.integers(0, 2**31 - 1))
        np_state = np.random.get_state()  # noqa: NPY002 (mnist1d seeds the global RNG)
        py_state = random.getstate()
        try:
            args = get_dataset_args()
            args.seed = seed
            data = make_dataset(args)
        finally:
            np.random.set_state(np_state)  # noqa: NPY002
            random.setstate(py_state)
        if self.shuffle_positions:
            perm = np.random.default_rng(self.permutation_seed).permutation(data["x"].shape[1])
            data = {**data, "x": data["x"][:, perm], "x_test": data["x_test"][:, perm]}
        return data

    def generate(self, rng):
        data = self._make(rng)
        X = np.concatenate([data["x"], data["x_test"]])
        y = np.concatenate([data["y"], data["y_test"]])
        return X.astype(np.float64), y.astype(np.int64)

    def generate_with_test(self, rng):
        data = self._make(rng)
        return (
            np.asarray(data["x"], dtype=np.float64),
            np.asarray(data["y"], dtype=np.int64),
            np.asarray(data["x_test"], dtype=np.float64),
            np.asarray(data["y_test"], dtype=np.int64),
        )


# --------------------------------------------------------------------------- splits


def split_indices(
    y: np.ndarray,
    fractions: tuple[float, ...],
    rng: np.random.Generator,
    stratify: bool = True,
) -> list[np.ndarray]:
    """Split ``range(len(y))`` at random into parts of the given fractions plus the remainder.

    Returns ``len(fractions) + 1`` index arrays: part ``i`` gets ``round(fractions[i] * n_c)``
    points of each class ``c`` (when ``stratify``; else of all ``n`` points) and the last part
    gets the rest, which always keeps at least one point per class. Each part is shuffled.
    """
    n = len(y)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(n)]
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for group in groups:
        group = rng.permutation(group)
        start = 0
        for i, fraction in enumerate(fractions):
            take = int(np.round(fraction * len(group)))
            take = min(take, len(group) - start - 1)  # leave one for the remainder
            take = max(take, 0)
            parts[i].append(group[start : start + take])
            start += take
        parts[-1].append(group[start:])
    return [rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts]


def _check_fractions(val_fraction: float, test_fraction: float | None) -> None:
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if f is not None and not (0.0 < float(f) < 1.0):
            raise NngridError(f"{name}={f!r} must lie strictly between 0 and 1")
    total = val_fraction + (test_fraction or 0.0)
    if total >= 1.0:
        raise NngridError(
            f"val_fraction + test_fraction = {total} must be below 1 (something must be left "
            "for training)"
        )


def standardize(splits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Return a copy with every ``X_*`` mapped to ``(X - mean) / std`` using ``X_train``'s stats.

    Per feature; a constant training feature (``std == 0``) is divided by 1 instead of 0.
    Missing values (NaN, a file dataset's ``missing: mean``) are left out of the statistics and
    become 0, the training mean.
    """
    X = splits["X_train"]
    gaps = any(np.isnan(v).any() for k, v in splits.items() if k.startswith("X_"))
    mean = np.nanmean(X, axis=0) if gaps else X.mean(axis=0)
    std = np.nanstd(X, axis=0) if gaps else X.std(axis=0)
    if gaps:  # a feature missing from every training row has no statistics: 0 and 1
        mean, std = np.nan_to_num(mean), np.nan_to_num(std)
    std = np.where(std > 0, std, 1.0)
    out = dict(splits)
    for name in splits:
        if name.startswith("X_"):
            out[name] = (splits[name] - mean) / std
            if gaps:
                out[name] = np.nan_to_num(out[name], nan=0.0)
    return out


def build(
    name: str,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    **params: Any,
) -> dict[str, np.ndarray]:
    """Generate dataset ``name`` and split it into train / validation / test.

    Returns ``{X_train, y_train, X_val, y_val, X_test, y_test}`` (float64 ``X``, already
    standardised with the training split's statistics; int64 ``y`` for classification, float64
    ``(n, 1)`` for regression, in original units unless the dataset standardises its target).
    ``params`` go to the dataset's constructor. Datasets with their own test set ignore
    ``test_fraction``. Same arguments, same arrays. :func:`make` also returns the metadata.
    """
    return make(name, seed, val_fraction, test_fraction, **params)[0]


def make(
    name: str,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    **params: Any,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """:func:`build`'s splits and the dataset's metadata (:meth:`Dataset.metadata`, plus
    ``target_mean`` and ``target_std`` when the target was standardised: a loss in original
    units is the loss times ``target_std ** 2``)."""
    dataset = DATASETS.create(name, **params)
    _check_fractions(val_fraction, test_fraction)
    data_seq, split_seq = np.random.SeedSequence(seed).spawn(2)
    data_rng, split_rng = np.random.default_rng(data_seq), np.random.default_rng(split_seq)
    own = dataset.generate_splits(data_rng)
    stratify = dataset.task == "classification"
    if own is not None:
        splits = dict(own)
        if "X_val" not in splits:
            val, train = split_indices(splits["y_train"], (val_fraction,), split_rng, stratify)
            X, y = splits["X_train"], splits["y_train"]
            splits.update(X_train=X[train], y_train=y[train], X_val=X[val], y_val=y[val])
    else:
        fixed = dataset.generate_with_test(data_rng)
        if fixed is None:
            X, y = dataset.generate(data_rng)
            test, val, train = split_indices(y, (test_fraction, val_fraction), split_rng, stratify)
            X_test, y_test = X[test], y[test]
        else:
            X, y, X_test, y_test = fixed
            val, train = split_indices(y, (val_fraction,), split_rng, stratify)
        splits = {
            "X_train": X[train],
            "y_train": y[train],
            "X_val": X[val],
            "y_val": y[val],
            "X_test": X_test,
            "y_test": y_test,
        }
    with np.errstate(all="ignore"):  # huge values overflow here: refused just below
        splits = standardize(splits)
    meta = dict(dataset.metadata())
    if not stratify and dataset.standardize_target:
        mean = splits["y_train"].mean(axis=0)
        std = splits["y_train"].std(axis=0)
        std = np.where(std > 0, std, 1.0)
        for k in ("y_train", "y_val", "y_test"):
            splits[k] = (splits[k] - mean) / std
        meta["target_mean"] = [float(v) for v in np.ravel(mean)]
        meta["target_std"] = [float(v) for v in np.ravel(std)]
    ydtype = np.int64 if stratify else np.float64
    splits = {
        k: np.ascontiguousarray(splits[k], dtype=np.float64 if k[0] == "X" else ydtype)
        for k in SPLIT_NAMES
    }
    if not all(np.all(np.isfinite(v)) for v in splits.values()):
        raise NonFiniteData(_non_finite(name, seed, val_fraction, test_fraction, params))
    return splits, meta


class NonFiniteData(NngridError):
    """Dataset parameters that make the data NaN or infinite."""


def _non_finite(name: str, seed: int, val: float, test: float, params: dict) -> str:
    """The message for parameters that make dataset ``name`` non-finite, naming the parameter
    that does it (the first whose default makes the data finite again), else all of them."""
    culprits = []
    for key in params:
        trial = {k: v for k, v in params.items() if k != key}
        try:
            with np.errstate(all="ignore"):
                build(name, seed=seed, val_fraction=val, test_fraction=test, **trial)
        except NngridError:
            continue
        culprits.append(key)
    keys = culprits[:1] or list(params)
    shown = ", ".join(f"{k} = {params[k]!r}" for k in keys) or "its default parameters"
    return f"dataset {name!r} with {shown} has NaN or infinite values; give " + (
        f"a smaller {keys[0]}" if len(keys) == 1 else "smaller parameters"
    )


# --------------------------------------------------------------------------- metadata


#: The rule by which a loaded file's targets decide the task (also in load_dataset's docstring).
TASK_RULE = (
    "integer-dtype y must be 1-D class labels (classification); 2-D y must be float "
    "(regression); 1-D float y is classification if every split holds whole numbers only, "
    "regression otherwise"
)


def _whole(y: np.ndarray) -> bool:
    return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))


def infer_task(splits: dict[str, np.ndarray], source: Any = None) -> str:
    """The task the targets ``y_*`` mean, by :data:`TASK_RULE`.

    Without ``source`` the rule is applied leniently (``"regression"`` for anything that is not
    1-D whole-number labels everywhere). With ``source`` (a file name, for the message) the
    ambiguous cases are refused with an ``NngridError``: an integer-dtype ``y`` that is 2-D
    (an ``(n, 1)`` column could be labels or targets), and integer labels in one split with
    fractional values in another (which used to turn the whole run into regression silently).
    """
    ys = {k: np.asarray(v) for k, v in splits.items() if k.startswith("y_")}
    if source is not None:
        for name, y in ys.items():
            if y.dtype.kind in "iub" and y.ndim != 1:
                raise NngridError(
                    f"{source}: {name} is integer with shape {y.shape}, which is ambiguous; "
                    "save class labels 1-D (y.ravel()) or regression targets as float"
                )
        integer = [k for k, y in ys.items() if y.dtype.kind in "iub"]
        fractional = [k for k, y in ys.items() if y.dtype.kind == "f" and not _whole(y)]
        if integer and fractional:
            raise NngridError(
                f"{source}: {integer[0]} holds integer class labels but {fractional[0]} has "
                "fractional values; save every split's y as integer labels (classification) "
                "or all as float targets of shape (n, 1) (regression)"
            )
    for y in ys.values():
        if y.ndim != 1:
            return "regression"
        if y.dtype.kind in "iub":
            continue
        if y.dtype.kind != "f" or not _whole(y):
            return "regression"
    return "classification"


def task_summary(splits: dict[str, np.ndarray]) -> str:
    """One phrase saying what the data was taken as, e.g. ``classification (3 classes)``."""
    task = infer_task(splits)
    if task == "classification":
        n = int(max(int(np.max(v)) for k, v in splits.items() if k[0] == "y" and v.size)) + 1
        return f"classification ({n} classes, integer labels)"
    width = int(np.reshape(splits["y_train"], (len(splits["y_train"]), -1)).shape[1])
    return f"regression ({width} float target column{'s' if width > 1 else ''})"


def check_dtype_range(splits: dict[str, np.ndarray], dtype: str, source: Any) -> None:
    """Refuse values that are finite in float64 but overflow ``dtype`` (they would become inf
    and the run would be reported as diverged)."""
    dt = np.dtype(dtype)
    if dt.kind != "f":
        return
    top = float(np.finfo(dt).max)
    for name in sorted(splits):
        a = np.asarray(splits[name])
        if a.dtype.kind != "f" or a.size == 0 or float(np.finfo(a.dtype).max) <= top:
            continue
        biggest = float(np.max(np.abs(a)))
        if biggest > top:
            raise NngridError(
                f"{source}: {name} holds {biggest:.3g}, beyond the {dtype} range "
                f"(+-{top:.3g}); rescale the data or train with --dtype float64"
            )


def content_hash(splits: dict[str, np.ndarray]) -> str:
    """SHA-256 over the arrays' names, dtypes, shapes and bytes (in sorted name order)."""
    h = hashlib.sha256()
    for name in sorted(splits):
        a = np.ascontiguousarray(splits[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def describe(splits: dict[str, np.ndarray]) -> dict[str, Any]:
    """Metadata of a split dictionary (JSON-ready).

    ``task``, ``n_features``, ``n_classes`` (``None`` for regression), ``n_outputs`` (classes, or
    target columns), ``shapes`` per array, ``class_counts`` per split (classification) and
    ``sha256`` (:func:`content_hash`).
    """
    task = infer_task(splits)
    info: dict[str, Any] = {
        "task": task,
        "n_features": int(splits["X_train"].shape[1]),
        "shapes": {k: list(np.shape(v)) for k, v in splits.items()},
        "sha256": content_hash(splits),
    }
    if task == "classification":
        n_classes = int(max(int(np.max(v)) for k, v in splits.items() if k[0] == "y" and v.size))
        n_classes += 1
        info["n_classes"] = n_classes
        info["n_outputs"] = n_classes
        info["class_counts"] = {
            k[2:]: np.bincount(np.asarray(v, dtype=np.int64), minlength=n_classes).tolist()
            for k, v in splits.items()
            if k[0] == "y"
        }
    else:
        info["n_classes"] = None
        info["n_outputs"] = int(
            np.reshape(splits["y_train"], (len(splits["y_train"]), -1)).shape[1]
        )
        info["class_counts"] = None
    return info


# --------------------------------------------------------------------------- files


def save_dataset(path: str | os.PathLike[str], splits: dict[str, np.ndarray]) -> Path:
    """Atomically write the split arrays to an ``.npz`` (see :func:`nngrid.io.write_npz`)."""
    return io.write_npz(path, **{k: splits[k] for k in SPLIT_NAMES if k in splits})


def load_dataset(
    path: str | os.PathLike[str], standardize_x: bool = False, dtype: str | None = None
) -> dict[str, np.ndarray]:
    """Load and check a dataset ``.npz``; return the six split arrays.

    Required arrays: ``X_train, y_train, X_test, y_test``; optional ``X_val, y_val`` (both or
    neither). Without them, 20% of the training points become the validation split (stratified
    for classification, seed 0). Checks, each failing with an ``NngridError`` naming the file and
    the array: ``X`` 2-D numeric with one feature count; ``y`` 1-D or 2-D with one entry per row of
    its ``X``; no NaN or inf. The task is inferred (:func:`infer_task`): 1-D integer-valued ``y``
    (integer dtype, or floats that are whole numbers) means classification, with labels in
    ``0..C-1`` where every class ``0..max(y_train)`` occurs in ``y_train`` and no other split has a
    larger label; anything else is regression, and a 1-D float ``y`` becomes ``(n, 1)``.
    The file's ``X`` is returned as stored (``save_dataset`` files are already standardised);
    ``standardize_x=True`` standardises with the training statistics.

    Before any array is read, the archive's ``.npy`` headers are checked
    (:func:`nngrid.io.npz_headers`): the declared shapes must agree (2-D ``X``, one ``y`` entry
    per row, one feature count) and their total size must fit the memory limit, so a small file
    declaring a huge array is refused at once. The task follows :data:`TASK_RULE`; ambiguous
    targets (an integer ``(n, 1)`` column, integer labels beside fractional ones) are refused,
    as are a single class, empty test or validation splits, and (with ``dtype``) values beyond
    that float type's range.
    """
    headers = io.npz_headers(path)
    _check_shapes(path, {k: v[0] for k, v in headers.items() if k in SPLIT_NAMES})
    arrays = io.load_npz(
        path, required=("X_train", "y_train", "X_test", "y_test"), optional=("X_val", "y_val")
    )
    if ("X_val" in arrays) != ("y_val" in arrays):
        have, lack = ("X_val", "y_val") if "X_val" in arrays else ("y_val", "X_val")
        raise NngridError(f"{path} has {have} but no {lack}; save both or neither")
    splits = {k: np.asarray(v) for k, v in arrays.items()}
    _check_arrays(path, splits)
    if dtype is not None:
        check_dtype_range(splits, dtype, path)
    task = infer_task(splits, source=path)
    if task == "classification":
        splits = {k: v.astype(np.int64) if k[0] == "y" else v for k, v in splits.items()}
        _check_labels(path, splits)
    else:
        splits = {
            k: (v.reshape(-1, 1) if v.ndim == 1 else v).astype(np.float64) if k[0] == "y" else v
            for k, v in splits.items()
        }
        widths = {k: v.shape[1] for k, v in splits.items() if k[0] == "y"}
        if len(set(widths.values())) > 1:
            raise NngridError(f"{path}: the targets have different numbers of columns: {widths}")
    splits = {k: v.astype(np.float64) if k[0] == "X" else v for k, v in splits.items()}
    if "X_val" not in splits:
        rng = np.random.default_rng(0)
        val, train = split_indices(
            splits["y_train"], (0.2,), rng, stratify=task == "classification"
        )
        if len(val) == 0:
            raise NngridError(
                f"{path}: X_train has {len(splits['X_train'])} rows, too few to carve a "
                "validation split (20%) out of it; add rows or save X_val and y_val"
            )
        X, y = splits["X_train"], splits["y_train"]
        splits.update(X_train=X[train], y_train=y[train], X_val=X[val], y_val=y[val])
    if standardize_x:
        splits = standardize(splits)
    return {k: np.ascontiguousarray(splits[k]) for k in SPLIT_NAMES}


def _check_shapes(path: Any, shapes: dict[str, tuple[int, ...]]) -> None:
    """The declared shapes (from the headers) agree; missing arrays are left to the loader."""
    n_features = None
    for part in ("train", "val", "test"):
        xs, ys = shapes.get(f"X_{part}"), shapes.get(f"y_{part}")
        if xs is None or ys is None:
            continue
        if len(xs) not in (2, 3):
            raise NngridError(
                f"{path}: X_{part} has shape {xs}; it must be 2-D (samples, features) or 3-D "
                "(samples, length, channels)"
            )
        if 0 in xs[1:]:
            raise NngridError(f"{path}: X_{part} has shape {xs}: no features; give >= 1 column")
        if n_features is None:
            n_features = xs[1:]
        elif xs[1:] != n_features:
            got, want = xs[1:], n_features
            if len(got) == len(want) == 1:
                got, want = f"{got[0]} features", want[0]
            else:
                got = f"per-sample shape {got}"
            raise NngridError(f"{path}: X_{part} has {got} but X_train has {want}")
        if len(ys) not in (1, 2):
            raise NngridError(f"{path}: y_{part} has shape {ys}; it must be 1-D or 2-D")
        if ys[0] != xs[0]:
            raise NngridError(f"{path}: y_{part} has {ys[0]} entries but X_{part} has {xs[0]} rows")
        if part != "train" and xs[0] == 0:
            raise NngridError(
                f"{path}: X_{part} has 0 rows, so its metrics would be null; "
                f"give the {part} split some rows"
            )


def _check_arrays(path: Any, splits: dict[str, np.ndarray]) -> None:
    n_features = None
    for part in ("train", "val", "test"):
        if f"X_{part}" not in splits:
            continue
        X, y = splits[f"X_{part}"], splits[f"y_{part}"]
        for name, a in ((f"X_{part}", X), (f"y_{part}", y)):
            if a.dtype.kind not in "biuf":
                raise NngridError(f"{path}: {name} has dtype {a.dtype}; it must be numeric")
        if X.ndim not in (2, 3):
            raise NngridError(
                f"{path}: X_{part} has shape {X.shape}; it must be 2-D (samples, features) or 3-D "
                "(samples, length, channels)"
            )
        if n_features is None:
            n_features = X.shape[1:]
        elif X.shape[1:] != n_features:
            got, want = X.shape[1:], n_features
            if len(got) == len(want) == 1:
                got, want = f"{got[0]} features", want[0]
            else:
                got = f"per-sample shape {got}"
            raise NngridError(f"{path}: X_{part} has {got} but X_train has {want}")
        if y.ndim not in (1, 2):
            raise NngridError(f"{path}: y_{part} has shape {y.shape}; it must be 1-D or 2-D")
        if len(y) != len(X):
            raise NngridError(
                f"{path}: y_{part} has {len(y)} entries but X_{part} has {len(X)} rows"
            )
        for name, a in ((f"X_{part}", X), (f"y_{part}", y)):
            bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
            if bad:
                raise NngridError(f"{path}: {name} has {bad} NaN or infinite value(s)")
    if len(splits["X_train"]) < 2:
        raise NngridError(f"{path}: X_train has {len(splits['X_train'])} rows; it needs >= 2")


def _check_labels(path: Any, splits: dict[str, np.ndarray]) -> None:
    y_train = splits["y_train"]
    for name, y in splits.items():
        if name[0] == "y" and y.size and y.min() < 0:
            raise NngridError(
                f"{path}: {name} has negative label {int(y.min())}; labels must be 0..C-1"
            )
    top = int(y_train.max())
    if top == 0:
        raise NngridError(
            f"{path}: y_train has only class 0; classification needs labels of >= 2 classes"
        )
    present = np.unique(y_train)  # sorted; labels 0..top all present iff present[i] == i
    if len(present) != top + 1:
        gaps = np.flatnonzero(present != np.arange(len(present)))
        first_missing = int(gaps[0]) if gaps.size else len(present)
        raise NngridError(
            f"{path}: y_train has no example of class {first_missing} (its labels run up to "
            f"{top}); labels must be 0..C-1 with every class present in training"
        )
    for name, y in splits.items():
        if name[0] == "y" and y.size and int(y.max()) > top:
            raise NngridError(
                f"{path}: {name} has label {int(y.max())} but y_train only has classes 0..{top}"
            )
