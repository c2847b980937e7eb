"""Atomic writes and careful reads of nngrid's files (NumPy and the standard library only).

Writing. Every writer puts the bytes in a temporary file in the *same* folder as the target
(``.<name>.<random>.tmp``), flushes and ``fsync``\\ s it, then renames it over the target with
:func:`os.replace`, which is atomic on POSIX file systems. A reader (or a killed job, or a
Snakemake restart) therefore sees either the old complete file or the new complete file, never a
half-written one, and a failure removes the temporary file. Parent folders are created. An
``OSError`` (read-only folder, full disk, a parent that is a regular file) becomes an
:class:`~nngrid.errors.NngridError` naming the path and the reason.

JSON. :func:`write_json` writes strict JSON: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON,
so non-finite floats are written as ``null`` (a diverged run's loss reads back as ``None``).
NumPy scalars and arrays become Python numbers and (nested) lists; tuples become lists;
``pathlib`` paths become strings. Keys are sorted and the indent is one space, so the same object
always gives the same bytes.

Reading. :func:`read_json` and :func:`load_npz` turn a missing, unreadable, truncated or corrupted
file into an ``NngridError`` naming the file and the fix. ``.npz`` files are opened with
``allow_pickle=False``: an object array (which would need pickle, and so could run code) is refused,
never executed.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from nngrid.errors import NngridError

__all__ = [
    "atomic_write",
    "load_npz",
    "read_json",
    "safe_output_path",
    "to_jsonable",
    "write_json",
    "write_npz",
    "write_text",
]


def _reason(exc: BaseException) -> str:
    """A short human reason for an exception (``strerror`` for OS errors)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with threads.
_UMASK = _read_umask()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it over ``path``.

    ``f`` is a binary file handle (pandas' ``to_csv``/``to_parquet`` and ``np.savez`` take one).
    The temporary file is removed if anything fails; an ``OSError`` becomes an ``NngridError``.
    Other exceptions (a bug in ``write``) propagate unchanged, after the clean-up.
    """
    target = Path(path)
    tmp_name: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            mode="wb", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as f:
            tmp_name = f.name
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # NamedTemporaryFile creates mode 0600; give the result the usual 0666 & ~umask.
        os.chmod(tmp_name, 0o666 & ~_UMASK)
        os.replace(tmp_name, target)
        tmp_name = None
    except OSError as exc:
        raise NngridError(
            f"cannot write {path}: {_reason(exc)} (is the folder read-only or the disk full?)"
        ) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
    return target


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` as plain JSON types: non-finite floats -> ``None``, NumPy -> Python.

    Mappings become dicts with string keys, tuples/lists/sets/arrays become lists, NumPy scalars
    become ``int``/``float``/``bool``, paths become strings. Anything else raises ``TypeError``.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v) for v in sorted(obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as strict JSON (sorted keys, indent 1, NaN/inf -> null)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, indent=1, allow_nan=False) + "\n"
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def write_text(path: str | os.PathLike[str], s: str) -> Path:
    """Atomically write the string ``s`` (UTF-8)."""
    data = s.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def write_npz(path: str | os.PathLike[str], **arrays: Any) -> Path:
    """Atomically write arrays to an uncompressed ``.npz``; object arrays are refused.

    Write to a name ending in ``.npz``: the name is used exactly as given.
    """
    converted = {}
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise NngridError(
                f"cannot write {path}: array {name!r} has dtype object; "
                "only numeric arrays can be saved (pickle is never used)"
            )
        converted[name] = array
    return atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **converted))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a missing, unreadable or corrupted file raises ``NngridError``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NngridError(f"{path} does not exist; run the rule that makes it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NngridError(
            f"cannot read {path}: {_reason(exc)}; delete it and rerun its rule"
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NngridError(
            f"{path} is not valid JSON (truncated or corrupted?): {exc}; "
            "delete it and rerun its rule"
        ) from None


def load_npz(
    path: str | os.PathLike[str],
    required: Iterable[str] = (),
    optional: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """Load arrays from an ``.npz`` safely (``allow_pickle=False``), all into memory.

    With neither ``required`` nor ``optional`` given, every array in the file is returned.
    Otherwise the result holds the required arrays and those optional arrays present; a missing
    required array raises ``NngridError`` listing what is missing and what the file holds.
    """
    required = list(required)
    optional = list(optional)
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise NngridError(f"{path} does not exist; run the rule that makes it") from None
    except OSError as exc:
        raise NngridError(f"cannot read {path}: {_reason(exc)}") from exc
    except Exception as exc:  # not a zip, pickled data, truncated header ...
        raise NngridError(
            f"{path} is not a valid .npz archive (truncated, corrupted or pickled?): {exc}; "
            "delete it and recreate it"
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise NngridError(f"{path} holds a single .npy array, not an .npz archive of named arrays")
    with loaded:
        present = list(loaded.files)
        missing = [name for name in required if name not in present]
        if missing:
            raise NngridError(
                f"{path} lacks required array(s) {', '.join(missing)}; "
                f"it holds: {', '.join(present) or 'nothing'}"
            )
        wanted = present if not (required or optional) else required + optional
        out: dict[str, np.ndarray] = {}
        for name in wanted:
            if name not in present:
                continue
            try:
                out[name] = loaded[name]
            except ValueError as exc:
                if "pickle" in str(exc).lower():
                    raise NngridError(
                        f"{path}: array {name!r} is a pickled object array, which is refused "
                        "(loading it could run code); save numeric arrays only"
                    ) from None
                raise NngridError(f"{path}: array {name!r} cannot be read: {exc}") from None
            except Exception as exc:  # truncated member, bad CRC, zlib error ...
                raise NngridError(
                    f"{path}: array {name!r} is truncated or corrupted: {exc}; "
                    "delete the file and recreate it"
                ) from None
    return out


def safe_output_path(
    path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None
) -> Path:
    """Resolve ``path`` and refuse it unless it lies inside ``root`` (default: the working dir).

    A relative ``path`` is taken relative to the working directory; symbolic links and ``..``
    are resolved before the check. Returns the resolved absolute path.
    """
    base = Path(root if root is not None else os.getcwd()).resolve()
    resolved = Path(os.getcwd(), path).resolve()
    if not resolved.is_relative_to(base):
        raise NngridError(
            f"refusing to write {path}: it resolves to {resolved}, outside {base}; "
            "choose an output path inside the working directory"
        )
    return resolved
