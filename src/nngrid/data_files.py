"""The ``file`` dataset kind: a table the user brings, as CSV, Parquet or ``.npz``.

A config entry ``datasets: {mine: {kind: file, path: data/mine.csv, target: label}}`` becomes
:class:`FileDataset` (registered as ``file`` in :data:`nngrid.datasets.DATASETS`), and
:func:`nngrid.datasets.make` splits and standardises it like every other dataset. The options:

``path``
    The file, relative to the project folder (the workflow's working directory). ``.csv``,
    ``.tsv``, ``.parquet`` (``.pq``) or ``.npz``; an ``.npz`` holds either the ``nngrid data``
    format (``X_train, y_train, X_test, y_test`` and optionally ``X_val, y_val``: its own
    splits) or two arrays ``X`` and ``y`` (and optionally ``split``).
``target``
    The column to predict (tables; ``.npz`` files have ``y``).
``features``
    The feature columns, in order (default: every column but the target and the split column).
    Each must be numeric (booleans count as 0/1).
``task``
    ``auto`` (default), ``classification`` or ``regression``. ``auto``: a target of text,
    booleans, or whole numbers with at most :data:`MAX_AUTO_CLASSES` distinct values is
    classification; any other numeric target is regression.
``missing``
    What to do with empty cells: unset (default) refuses them, naming the column and the count;
    ``drop`` drops every row with one; ``mean`` drops the rows whose target is missing and fills
    missing features with the training split's mean (the value 0 after standardisation), so no
    statistic of the validation or test rows leaks into training.
``shape``
    ``[length, channels]`` for sequence data: the features are ``length * channels`` values per
    row, time-major (feature ``t * channels + c``); kept in the metadata.
``split_column``
    A column with ``train``, ``val`` (or ``validation``) and ``test`` per row: the file's own
    split, honoured as given (``val`` may be absent: it is then carved out of ``train``).

Classes given as text are mapped to ``0..C-1`` in sorted order; the names are kept in the
dataset's metadata (``classes``), so the report can name them. A regression target is
standardised with the training split's statistics (``target_mean``, ``target_std`` in the
metadata). The file's sha256 is part of the dataset's spec (:func:`file_params`), so editing
the file reruns exactly the jobs that read it, and a job refuses a file that changed after the
workflow was planned.

:func:`check_dataset_entry` is what the config check calls: it refuses, in one line naming the
key and the fix, a missing file, a path outside the project folder (directly or through a
symlink), an unknown or unreadable format, a file too large for memory (estimated from its
size or metadata before loading), a target column that does not exist, a single class,
non-numeric features, and missing values without a ``missing`` policy.

pandas (and pyarrow for Parquet) are imported inside the readers, never on the training path.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nngrid.datasets import DATASETS, Dataset
from nngrid.errors import NngridError, report_error

__all__ = [
    "FILE_KEYS",
    "FORMATS",
    "FileDataset",
    "check_dataset_entry",
    "entry_size",
    "estimate_bytes",
    "file_params",
    "file_sha256",
    "memory_limit",
    "read_file",
    "resolve_path",
]

#: File suffix -> format.
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}
#: Keys of a config entry of kind ``file`` (besides kind, val_fraction, test_fraction).
FILE_KEYS = ("path", "target", "features", "task", "missing", "shape", "split_column")
TASKS = ("auto", "classification", "regression")
MISSING = ("drop", "mean")
#: ``task: auto`` takes a target of whole numbers as classes up to this many distinct values.
MAX_AUTO_CLASSES = 50
#: Copies of the data held at once while it is read, converted, split and standardised.
COPIES = 4
#: Share of the machine's memory a data file may need once loaded (:func:`memory_limit`).
MEMORY_SHARE = 0.25
#: Split column values -> split.
SPLIT_VALUES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}
#: The fewest rows a table may have (every split needs some).
MIN_ROWS = 10

_FIX_OUTSIDE = "copy the file into the project folder (e.g. data/) and give that path"


# --------------------------------------------------------------------------- paths and sizes


def resolve_path(path: Any, root: str | os.PathLike[str] | None = None) -> Path:
    """The file ``path`` names, relative to ``root`` (default: the working directory), refused
    (``path = ...: ...``) when it does not exist, is not a regular file, has an unknown suffix,
    or lies outside ``root``, directly or through a symlink."""
    if not isinstance(path, str) or not path.strip():
        raise NngridError("path is missing; give the data file's path, e.g. path: data/mine.csv")
    base = Path(root if root is not None else os.getcwd())
    given = Path(path)
    full = given if given.is_absolute() else base / given
    real_root = base.resolve()
    if not full.exists():
        if full.is_symlink():
            raise NngridError(
                f"path = {path!r} is a symlink to {os.readlink(full)!r}, which does not exist; "
                "point it at the data file"
            )
        raise NngridError(
            f"path = {path!r}: no such file (looked for {full}); give the path relative to "
            f"the project folder {real_root}"
        )
    real = full.resolve()
    if not real.is_relative_to(real_root):
        links = [p for p in [full, *full.parents] if p.is_symlink()]
        if links:
            raise NngridError(
                f"path = {path!r} leads through the symlink {links[0]} to {real}, outside the "
                f"project folder {real_root}; {_FIX_OUTSIDE}"
            )
        raise NngridError(
            f"path = {path!r} is {real}, outside the project folder {real_root}; {_FIX_OUTSIDE}"
        )
    if not real.is_file():
        raise NngridError(f"path = {path!r} is not a regular file (a folder?); give a data file")
    if real.suffix.lower() not in FORMATS:
        raise NngridError(
            f"path = {path!r} has the unknown format {real.suffix or '(no suffix)'!r}; give a "
            f"{', '.join(sorted(set(FORMATS)))} file (export a spreadsheet as CSV)"
        )
    return full


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of the file's bytes (cached by path, size and modification time)."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def memory_limit() -> int:
    """Bytes a data file may need once loaded: :data:`MEMORY_SHARE` of physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 2**30
    return int(MEMORY_SHARE * total)


def _text_values(path: Path, sep: str) -> tuple[float, str]:
    """Estimated count of values in a text table, from its size and its first 64 KB."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    lines = head.count(b"\n") or 1
    fields = head.count(sep.encode()) + lines
    if len(head) < size:
        fields = fields * size / max(len(head), 1)
    return float(fields), f"{_human(size)} on disk"


def estimate_bytes(path: str | os.PathLike[str]) -> tuple[float, str]:
    """Memory the file needs once loaded (:data:`COPIES` float64 copies of its values),
    estimated without loading it, and what the estimate rests on (for the message)."""
    path = Path(path)
    fmt = FORMATS[path.suffix.lower()]
    if fmt in ("csv", "tsv"):
        values, basis = _text_values(path, "," if fmt == "csv" else "\t")
    elif fmt == "parquet":
        meta = _parquet_metadata(path)
        values = float(meta.num_rows) * float(meta.num_columns)
        basis = f"{meta.num_rows:,} rows x {meta.num_columns} columns in its metadata"
    else:
        from nngrid import io

        headers = _npz_call(io.npz_headers, path)
        values = float(sum(math.prod(shape) for shape, _ in headers.values()))
        basis = f"{values:,.0f} values in its array headers"
    return COPIES * 8.0 * values, basis


def _human(n: float) -> str:
    from nngrid.io import human_bytes

    return human_bytes(n)


def _parquet_metadata(path: Path) -> Any:
    try:
        import pyarrow.parquet as pq

        return pq.read_metadata(path)
    except ImportError:
        raise NngridError(
            "reading Parquet needs pyarrow; install it (pip install pyarrow) or give a CSV"
        ) from None
    except Exception as exc:  # pyarrow's ArrowInvalid and friends
        raise NngridError(
            f"path = {str(path)!r} cannot be read as Parquet ({_reason(exc)}); give a valid "
            "Parquet file or a CSV"
        ) from None


def _npz_call(fn: Any, path: Path, **kwargs: Any) -> Any:
    try:
        return fn(path, **kwargs)
    except NngridError as exc:
        raise NngridError(f"path = {str(path)!r} cannot be read as .npz: {exc}") from None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:120] + "...") if len(text) > 120 else text or type(exc).__name__


# --------------------------------------------------------------------------- reading


def _read_table(path: Path, fmt: str) -> Any:
    import pandas as pd

    try:
        if fmt == "parquet":
            _parquet_metadata(path)
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="," if fmt == "csv" else "\t")
    except NngridError:
        raise
    except UnicodeDecodeError:
        raise NngridError(
            f"path = {str(path)!r} cannot be read as {fmt.upper()}: it is not UTF-8 text; "
            "save it as UTF-8 CSV"
        ) from None
    except Exception as exc:  # pandas' ParserError, EmptyDataError, pyarrow's errors
        raise NngridError(
            f"path = {str(path)!r} cannot be read as {fmt.upper()} ({_reason(exc)}); "
            "check the file (one header line, one row per line)"
        ) from None


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _rows(mask: np.ndarray, limit: int = 3) -> str:
    """The first few 1-based data rows of ``mask`` (row 1 is the first row after the header)."""
    idx = np.flatnonzero(mask)[:limit] + 1
    return ", ".join(map(str, idx)) + (", ..." if mask.sum() > limit else "")


def _check_column(frame: Any, key: str, name: Any, what: str) -> None:
    if not isinstance(name, str) or name not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:12])) + (
            ", ..." if len(frame.columns) > 12 else ""
        )
        raise NngridError(
            f"{key} = {name!r} is not a column of the file; its columns: {cols}; "
            f"name the {what} column"
        )


def _table_arrays(frame: Any, opts: Mapping[str, Any]) -> dict[str, Any]:
    """A table's ``X`` (float64, NaN where a feature is missing), ``y`` (raw target values),
    ``split`` (or None), the feature names and the row count dropped."""
    frame = frame.reset_index(drop=True)
    target = opts.get("target")
    if target is None:
        raise NngridError("target is missing; name the column to predict, e.g. target: label")
    _check_column(frame, "target", target, "target")
    split_col = opts.get("split_column")
    if split_col is not None:
        _check_column(frame, "split_column", split_col, "split")
    features = opts.get("features")
    if features is None:
        features = [c for c in frame.columns if c not in (target, split_col)]
    else:
        for f in features:
            _check_column(frame, "features", f, "feature")
        if target in features:
            raise NngridError(f"features lists the target {target!r}; leave it out of features")
    if not features:
        raise NngridError("features: the file has no column besides the target; add some")
    for f in features:
        if not _is_numeric(frame[f]):
            col = frame[f]
            bad = col[col.notna() & ~col.map(_looks_numeric)]
            example = f" (e.g. {bad.iloc[0]!r} in row {int(bad.index[0]) + 1})" if len(bad) else ""
            raise NngridError(
                f"features: column {f!r} is not numeric{example}; encode it as numbers, or "
                "leave it out with `features: [...]`"
            )
    X = frame[list(features)].to_numpy(dtype=np.float64, na_value=np.nan)
    y = frame[target]
    missing = opts.get("missing")
    x_missing = ~np.isfinite(X)
    y_missing = np.array(y.isna().to_numpy(), dtype=bool)
    if _is_numeric(y):  # an infinite target is as unusable as an empty one
        y_missing |= ~np.isfinite(y.to_numpy(dtype=np.float64, na_value=np.nan))
    dropped = 0
    keep = np.ones(len(X), dtype=bool)
    if x_missing.any() or y_missing.any():
        if missing is None:
            counts = x_missing.sum(axis=0)
            col, n, mask = (
                (target, int(y_missing.sum()), y_missing)
                if y_missing.any()
                else (
                    features[int(np.argmax(counts))],
                    int(counts.max()),
                    x_missing[:, int(np.argmax(counts))],
                )
            )
            raise NngridError(
                f"missing: column {col!r} has {n} missing or non-finite value(s) (rows "
                f"{_rows(mask)}); "
                "fill them in, or add `missing: drop` (drop those rows) or `missing: mean` "
                "(fill features with the training mean)"
            )
        keep = ~y_missing if missing == "mean" else ~(y_missing | x_missing.any(axis=1))
        dropped = int((~keep).sum())
        X, y = X[keep], y[keep]
        if missing == "mean":
            X[~np.isfinite(X)] = np.nan
    split = None if split_col is None else frame[split_col].to_numpy()[keep]
    return {
        "X": X,
        "y": y.to_numpy(),
        "split": split,
        "features": [str(f) for f in features],
        "dropped": dropped,
    }


def _looks_numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _npz_arrays(path: Path, opts: Mapping[str, Any]) -> dict[str, Any]:
    from nngrid import io
    from nngrid.datasets import load_dataset

    for key in ("target", "features", "split_column"):
        if opts.get(key) is not None:
            raise NngridError(
                f"{key} is for tables; an .npz names its arrays (X, y or X_train, ...): "
                f"leave {key} out"
            )
    if opts.get("missing") is not None:
        raise NngridError("missing is for tables; an .npz must hold no NaN: leave missing out")
    headers = _npz_call(io.npz_headers, path)
    if "X_train" in headers:
        return {"splits": _npz_call(load_dataset, path)}
    if not {"X", "y"} <= set(headers):
        raise NngridError(
            f"path = {str(path)!r} holds {', '.join(sorted(headers)) or 'no arrays'}; an .npz "
            "dataset needs X and y (optionally split) or X_train, y_train, X_test, y_test"
        )
    arrays = _npz_call(io.load_npz, path, required=("X", "y"), optional=("split",))
    X = np.asarray(arrays["X"])
    if X.dtype.kind not in "biuf":
        raise NngridError(f"X has dtype {X.dtype}; features must be numeric: save X as numbers")
    if X.ndim != 2:
        raise NngridError(f"X has shape {X.shape}; save it 2-D (rows, features) and give shape")
    y = np.asarray(arrays["y"])
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != len(X):
        raise NngridError(f"y has shape {y.shape} but X has {len(X)} rows; save one y per row")
    if not np.all(np.isfinite(X)):
        raise NngridError("X has missing or non-finite values; an .npz must hold none")
    split = arrays.get("split")
    if split is not None:
        split = np.asarray(split).astype(str)
    return {
        "X": X.astype(np.float64),
        "y": y,
        "split": split,
        "features": [f"x{i}" for i in range(X.shape[1])],
        "dropped": 0,
    }


def _encode_target(y: np.ndarray, task: str) -> tuple[np.ndarray, str, list[str] | None]:
    """``(y, task, class names)``: classes as int64 ``0..C-1`` in sorted order, or float64
    ``(n, 1)`` targets."""
    numeric = y.dtype.kind in "iuf"
    if y.dtype.kind == "O":
        numeric = all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in y)
        if numeric:
            y = y.astype(np.float64)
    if task == "auto":
        whole = numeric and bool(np.all(np.asarray(y, dtype=np.float64) % 1 == 0))
        few = len(np.unique(y)) <= MAX_AUTO_CLASSES
        task = "classification" if (not numeric or (whole and few)) else "regression"
    if task == "regression":
        if not numeric:
            example = next(v for v in y if not _looks_numeric(v))
            raise NngridError(
                f"target has non-numeric values (e.g. {example!r}) but the task is regression; "
                "give a numeric target or `task: classification`"
            )
        values = np.asarray(y, dtype=np.float64).reshape(-1, 1)
        if np.ptp(values) == 0:
            raise NngridError("target is constant; a regression needs a target that varies")
        return values, task, None
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    names, codes = np.unique(y.astype(str) if not numeric else y, return_inverse=True)
    if len(names) < 2:
        raise NngridError(
            f"target has a single class ({str(names[0])!r}); classification needs >= 2 classes "
            "(give a file with several, or `task: regression` for a numeric target)"
        )
    labels = [_label(v) for v in names]
    return codes.astype(np.int64).ravel(), task, labels


def _label(value: Any) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def read_file(path: str | os.PathLike[str], **opts: Any) -> dict[str, Any]:
    """Read and check a data file (see the module docstring for ``opts``).

    Returns ``{"task", "X", "y", "split", "splits", "classes", "features", "dropped", "rows"}``:
    ``splits`` is the six-array dictionary of an ``nngrid data`` file (else None); ``split`` the
    per-row split names of a split column (else None). Refusals are ``NngridError`` messages
    that start with the option they concern (``target = ...``, ``path = ...``).
    """
    path = Path(path)
    fmt = FORMATS[path.suffix.lower()]
    task = opts.get("task") or "auto"
    if fmt == "npz":
        data = _npz_arrays(path, opts)
    else:
        data = _table_arrays(_read_table(path, fmt), opts)
    if "splits" in data:
        from nngrid.datasets import infer_task

        splits = data["splits"]
        found = infer_task(splits)
        if task != "auto" and task != found:
            raise NngridError(f"task = {task!r} but the file's targets are {found}; leave task out")
        return {
            "task": found,
            "splits": splits,
            "X": None,
            "y": None,
            "split": None,
            "classes": None,
            "features": None,
            "dropped": 0,
            "rows": int(sum(len(splits[k]) for k in ("y_train", "y_val", "y_test"))),
        }
    y, task, classes = _encode_target(data["y"], task)
    X = data["X"]
    if len(X) < MIN_ROWS:
        raise NngridError(
            f"path = {str(path)!r} has {len(X)} usable row(s); the splits need >= {MIN_ROWS}"
        )
    shape = opts.get("shape")
    if shape is not None:
        length, channels = (int(v) for v in shape)
        if length * channels != X.shape[1]:
            raise NngridError(
                f"shape = {list(shape)} means {length * channels} values per row, but the file "
                f"has {X.shape[1]} feature columns; give [length, channels] with "
                "length * channels = the number of features"
            )
    split = data["split"]
    if split is not None:
        names = np.array([SPLIT_VALUES.get(str(v).strip().lower(), "") for v in split])
        if (names == "").any():
            bad = split[names == ""][0]
            raise NngridError(
                f"split_column holds {bad!r}; its values must be train, val (or validation) "
                "and test"
            )
        for part in ("train", "test"):
            if not (names == part).any():
                raise NngridError(
                    f"split_column has no {part} rows; give some rows the value {part}"
                )
        split = names
        if classes is not None:
            absent = sorted(set(range(len(classes))) - set(np.unique(y[split == "train"])))
            if absent:
                raise NngridError(
                    f"split_column gives class {classes[absent[0]]!r} no train row; move some "
                    "of its rows to train"
                )
    return {
        "task": task,
        "X": X,
        "y": y,
        "split": split,
        "splits": None,
        "classes": classes,
        "features": data["features"],
        "dropped": data["dropped"],
        "rows": len(X),
    }


# --------------------------------------------------------------------------- the dataset kind


class FileDataset(Dataset):
    """A table the user brings: CSV, Parquet or ``.npz`` (see :mod:`nngrid.data_files`).

    ``sha256``, when given, must match the file's: a file changed after the workflow was
    planned is refused instead of silently giving results the spec does not describe.
    """

    standardize_target = True

    def __init__(
        self,
        path: str | None = None,
        target: str | None = None,
        features: Sequence[str] | None = None,
        task: str = "auto",
        missing: str | None = None,
        shape: Sequence[int] | None = None,
        split_column: str | None = None,
        sha256: str | None = None,
    ):
        if task not in TASKS:
            raise NngridError(f"task = {task!r} is not valid; valid choices: {', '.join(TASKS)}")
        if missing is not None and missing not in MISSING:
            raise NngridError(
                f"missing = {missing!r} is not valid; valid choices: {', '.join(MISSING)}"
            )
        if shape is not None and (
            len(shape) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1 for v in shape)
        ):
            raise NngridError(f"shape = {shape!r} must be [length, channels], two integers >= 1")
        self.given_path = path
        #: The folder a relative path is read from (None: the working directory).
        self.root: str | os.PathLike[str] | None = None
        self.sha256 = sha256
        self.opts = {
            "target": target,
            "features": None if features is None else list(features),
            "task": task,
            "missing": missing,
            "shape": None if shape is None else [int(v) for v in shape],
            "split_column": split_column,
        }
        self._data: dict[str, Any] | None = None

    def load(self) -> dict[str, Any]:
        """The checked contents (:func:`read_file`), read once."""
        if self._data is None:
            self.path = resolve_path(self.given_path, self.root)
            if self.sha256 is not None and file_sha256(self.path) != self.sha256:
                raise NngridError(
                    f"path = {self.given_path!r} changed after the workflow was planned (its "
                    "sha256 differs from the spec's); run snakemake again"
                )
            try:
                self._data = self._read()
            except NngridError as exc:  # name the file as the config gives it
                shown = str(exc).replace(repr(str(self.path)), repr(self.given_path))
                raise NngridError(shown) from None
        return self._data

    def _read(self) -> dict[str, Any]:
        """Refuse a file too large for memory (estimated first), then read it."""
        limit = memory_limit()
        need, basis = estimate_bytes(self.path)
        if need > limit:
            raise NngridError(
                f"path = {self.given_path!r} would need about {_human(need)} of memory once "
                f"loaded (estimated from {basis}), more than the {_human(limit)} allowed "
                f"({MEMORY_SHARE:.0%} of this machine's memory); give a sample of its rows "
                "or fewer columns"
            )
        return read_file(self.path, **self.opts)

    @property
    def task(self) -> str:  # type: ignore[override]
        return self.load()["task"]

    def generate(self, rng):
        data = self.load()
        return data["X"], data["y"]

    def generate_splits(self, rng):
        data = self.load()
        if data["splits"] is not None:
            return dict(data["splits"])
        if data["split"] is None:
            return None
        out = {}
        for part in ("train", "val", "test"):
            rows = data["split"] == part
            if rows.any():
                out[f"X_{part}"], out[f"y_{part}"] = data["X"][rows], data["y"][rows]
        return out

    def metadata(self) -> dict[str, Any]:
        data = self.load()
        info: dict[str, Any] = {
            "source": str(self.given_path),
            "file_sha256": file_sha256(self.path),
            "rows": data["rows"],
            "dropped_rows": data["dropped"],
        }
        if data["features"] is not None:
            info["features"] = data["features"]
        if self.opts["target"] is not None:
            info["target"] = self.opts["target"]
        if data["classes"] is not None:
            info["classes"] = data["classes"]
        if self.opts["shape"] is not None:
            info["shape"] = self.opts["shape"]
        if data["split"] is not None:
            info["split_column"] = self.opts["split_column"]
        return info


# `python -m nngrid.data_files` runs this file a second time as __main__; only the imported
# module (imported by nngrid.plugins.registries and the dataset rule) registers the kind.
if __name__ != "__main__":
    DATASETS.register("file")(FileDataset)


# --------------------------------------------------------------------------- the config side


def file_params(entry: Mapping[str, Any], root: str | os.PathLike[str] | None = None) -> dict:
    """The constructor parameters of a ``kind: file`` config entry, with the file's sha256:
    the dataset spec's ``params`` (a `params:` value of the dataset rule, so an edited file
    reruns its dataset and everything made from it)."""
    params = {k: entry[k] for k in FILE_KEYS if entry.get(k) is not None}
    params["sha256"] = file_sha256(resolve_path(entry.get("path"), root))
    return params


def check_dataset_entry(
    label: str, entry: Mapping[str, Any], root: str | os.PathLike[str] | None = None
) -> bool:
    """Check dataset ``label``'s config entry when it is of kind ``file``; return whether it is.

    Reads the file as the dataset job will (refusals are one line, ``config error:
    datasets.<label>.<key> ...``, naming the fix). An entry of another kind that uses a key of
    the file kind is refused; it returns False (its ``params`` are checked elsewhere).
    """
    kind = entry.get("kind", label)
    where = f"config error: datasets.{label}"
    if kind != "file":
        used = [k for k in FILE_KEYS if k in entry]
        if used:
            raise NngridError(
                f"{where}.{used[0]} is only for `kind: file`; add kind: file or remove {used[0]}"
            )
        return False
    if entry.get("params"):
        raise NngridError(
            f"{where}.params: a file dataset takes its options as keys of the entry "
            f"({', '.join(FILE_KEYS)}); move them out of params"
        )
    here = Path(root if root is not None else os.getcwd())
    try:
        params = {k: entry[k] for k in FILE_KEYS if entry.get(k) is not None}
        dataset = FileDataset(**params)
        dataset.root = here
        data = dataset.load()
    except NngridError as exc:
        raise NngridError(f"{where}.{exc}") from None
    _SIZES[_size_key(entry, here)] = _size_of(data)
    return True


#: (rows, features, outputs) of the entries check_dataset_entry read, by path, sha256 and options.
_SIZES: dict[tuple, tuple[int, int, int]] = {}


def _size_key(entry: Mapping[str, Any], root: Path) -> tuple:
    import json

    path = resolve_path(entry.get("path"), root)
    opts = json.dumps({k: entry.get(k) for k in FILE_KEYS}, sort_keys=True)
    return (str(path.resolve()), file_sha256(path), opts)


def _size_of(data: Mapping[str, Any]) -> tuple[int, int, int]:
    if data["splits"] is not None:
        splits = data["splits"]
        y = splits["y_train"]
        outputs = (
            int(y.shape[1])
            if y.ndim == 2
            else int(max(int(v.max()) for k, v in splits.items() if k[0] == "y" and v.size)) + 1
        )
        return data["rows"], int(np.prod(splits["X_train"].shape[1:])), outputs
    outputs = len(data["classes"]) if data["classes"] is not None else 1
    return data["rows"], int(data["X"].shape[1]), outputs


def entry_size(
    entry: Mapping[str, Any], root: str | os.PathLike[str] | None = None
) -> tuple[int, int, int]:
    """``(rows, features, outputs)`` of a ``kind: file`` entry (classes, or 1 for regression),
    as the workflow's cost estimate needs them; read once per file content."""
    here = Path(root if root is not None else os.getcwd())
    key = _size_key(entry, here)
    if key not in _SIZES:
        check_dataset_entry("file", {**entry, "kind": "file"}, here)
    return _SIZES[key]


# --------------------------------------------------------------------------- a config for a file

#: The study :func:`study_config` writes around a user's dataset (config/README.md explains every
#: key): 2 activations x 2 regularizers x 2 optimizers, each rate tuned, 3 seeds.
STUDY_TEMPLATE: dict[str, Any] = {
    "data_seed": 0,
    "splits": {"val_fraction": 0.2, "test_fraction": 0.2},
    "regularizers": {"none": {}, "l2": {"params": {"strength": 1.0e-3}}},
    "optimizers": {
        "sgd": {"lr_grid": {"low": 1.0e-2, "high": 1.0, "points": 5}},
        "adam": {"lr_grid": {"low": 3.0e-4, "high": 3.0e-2, "points": 5}},
    },
    "tuning": {"seeds": 3, "extend": 2},
    "training": {
        "hidden": [32, 32],
        "epochs": 60,
        "batch_size": 32,
        "seeds": [0, 1, 2],
        "dtype": "float32",
        "target_accuracy": 0.9,
    },
}


def study_config(label: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """A complete study config around one dataset entry (``{kind: file, path, target, ...}``)."""
    import copy

    cfg = copy.deepcopy(STUDY_TEMPLATE)
    cfg["datasets"] = {label: dict(entry)}
    cfg["studies"] = {
        "mine": {
            "datasets": [label],
            "activations": ["relu", "tanh"],
            "regularizers": list(cfg["regularizers"]),
            "optimizers": list(cfg["optimizers"]),
        }
    }
    return cfg


def _label_of(path: str) -> str:
    import re

    stem = re.sub(r"[^a-z0-9_]+", "_", Path(path).stem.lower()).strip("_")
    return stem if stem[:1].isalpha() else f"data_{stem}" if stem else "mine"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.data_files FILE --target COLUMN --output config/mine.yaml``: check a
    data file as the workflow will, and write a study config that runs the grid on it."""
    import argparse

    import yaml

    from nngrid import io

    parser = argparse.ArgumentParser(
        prog="python -m nngrid.data_files",
        description="Check a CSV, Parquet or .npz data file and write a study config for it.",
    )
    parser.add_argument("path", help="the data file, relative to the project folder")
    parser.add_argument("--target", help="the column to predict (tables)")
    parser.add_argument("--label", help="the dataset's label (default: from the file name)")
    parser.add_argument("--task", choices=TASKS, default=None)
    parser.add_argument("--missing", choices=MISSING, default=None)
    parser.add_argument("--split-column", default=None)
    parser.add_argument("--output", required=True, help="the config file to write (.yaml)")
    args = parser.parse_args(argv)
    label = args.label or _label_of(args.path)
    entry: dict[str, Any] = {"kind": "file", "path": args.path}
    for key, value in (
        ("target", args.target),
        ("task", args.task),
        ("missing", args.missing),
        ("split_column", args.split_column),
    ):
        if value is not None:
            entry[key] = value
    try:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_]*", label):
            raise NngridError(
                f"--label {label!r} is not valid; use lower_snake_case letters, digits and "
                "underscores, starting with a letter"
            )
        check_dataset_entry(label, entry)
        head = (
            f"# The grid on {args.path} (written by python -m nngrid.data_files; keys: "
            "config/README.md).\n# snakemake --cores 2 --configfile <this file>\n\n"
        )
        text = head + yaml.safe_dump(study_config(label, entry), sort_keys=False)
        io.write_text(args.output, text)
    except NngridError as exc:
        return report_error(exc)
    print(f"{args.output}: dataset {label!r} ({args.path}) in study 'mine'", file=sys.stderr)
    return 0


if __name__ == "__main__":
    from nngrid import data_files as _module  # the registered copy

    raise SystemExit(_module.main())
