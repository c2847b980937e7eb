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

import hashlib
import json
import math
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, NoReturn

import numpy as np

from nngrid.errors import NngridError

__all__ = [
    "CHECKSUM_KEY",
    "MAX_LOAD_BYTES",
    "atomic_write",
    "available_memory",
    "check_input_file",
    "check_output_target",
    "check_load_size",
    "human_bytes",
    "load_npz",
    "max_load_bytes",
    "npz_headers",
    "payload_sha256",
    "verify_sha256",
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


def _cannot_read(path: str | os.PathLike[str], exc: Exception, fix: str = "") -> NoReturn:
    """Raise the error of an input that could not be opened or read: a missing one names the
    rule to run; any other gives the reason (then ``fix``), chained to ``exc``."""
    if isinstance(exc, FileNotFoundError):
        raise NngridError(f"{path} does not exist; run the rule that makes it") from None
    raise NngridError(f"cannot read {path}: {_reason(exc)}{fix}") from exc


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it, which would race with threads.
_UMASK = _read_umask()


def check_output_target(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Refuse an output path that is not (or would not be) a regular file; return it as a Path.

    Refused, each in one line naming the path and the fix: the empty path, a path ending in
    ``/`` (a folder name), and an existing path that is not a regular file once symbolic links
    are followed (a folder, a device node such as ``/dev/null``, a FIFO, a socket). The rename of
    :func:`atomic_write` would otherwise *replace* that node by a regular file (as root, even a
    device in ``/dev``).
    """
    text = os.fspath(path)
    if text == "":
        raise NngridError(f"{what} path is empty; give a file name")
    if text.endswith(("/", os.sep)):
        raise NngridError(f"{what} {text} ends in '/' (a folder); give a file name")
    try:
        st = os.stat(text)
    except OSError:  # absent (or a parent is not a folder: the write reports that)
        return Path(text)
    if not stat.S_ISREG(st.st_mode):
        raise NngridError(
            f"{what} {text} is {_kind(st.st_mode)}, not a regular file; "
            "nngrid only replaces regular files: give a file name"
        )
    return Path(text)


def _kind(mode: int) -> str:
    """'a folder', 'a character device' ... for a file mode."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_input_file(path: str | os.PathLike[str], what: str = "input") -> os.stat_result:
    """``os.stat`` of an input that must be an existing regular file (checked before opening,
    so a FIFO is refused instead of blocking the reader forever)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        _cannot_read(path, exc)
    if not stat.S_ISREG(st.st_mode):
        raise NngridError(
            f"cannot read {path}: it is {_kind(st.st_mode)}, not a regular file; "
            f"give the {what} file itself"
        )
    return st


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file next to ``path``, then rename it over ``path``.

    ``f`` is a binary file handle (pandas' ``to_csv``/``to_parquet`` and ``np.savez`` take one).
    The temporary file is removed if anything fails; an ``OSError`` becomes an ``NngridError``.
    Other exceptions (a bug in ``write``) propagate unchanged, after the clean-up. A target that
    exists and is not a regular file (folder, device, FIFO ...) is refused before anything is
    written (:func:`check_output_target`), checked again just before the rename.
    """
    target = check_output_target(path)
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
        check_output_target(path)  # again: something may have appeared there meanwhile
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


#: The key under which :func:`write_json` stores a result's checksum (``checksum=True``).
CHECKSUM_KEY = "sha256"


def payload_sha256(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no spaces, NaN/inf -> null).

    Python writes every float so that it reads back to the same float, so a file's parsed
    content gives the digest it was written with until someone changes a value.
    """
    text = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_sha256(path: str | os.PathLike[str], doc: Any, fix: str) -> dict:
    """Check the checksum :func:`write_json` stored in ``doc`` (``checksum=True``); return the
    payload without it. A missing or mismatching checksum raises ``NngridError`` naming the
    file and ``fix``."""
    if not isinstance(doc, dict) or not isinstance(doc.get(CHECKSUM_KEY), str):
        raise NngridError(
            f"{path} has no {CHECKSUM_KEY} checksum (written by hand or by an older nngrid?); {fix}"
        )
    payload = {k: v for k, v in doc.items() if k != CHECKSUM_KEY}
    if payload_sha256(payload) != doc[CHECKSUM_KEY]:
        raise NngridError(
            f"{path} does not match its {CHECKSUM_KEY} checksum (changed after its job wrote "
            f"it: edited by hand or damaged); {fix}"
        )
    return payload


def write_json(path: str | os.PathLike[str], obj: Any, checksum: bool = False) -> Path:
    """Atomically write ``obj`` as strict JSON (sorted keys, indent 1, NaN/inf -> null).

    With ``checksum=True`` (``obj`` a mapping), the file also holds ``"sha256"``: the
    :func:`payload_sha256` of everything else, which :func:`verify_sha256` checks on reading.
    """
    obj = to_jsonable(obj)
    if checksum:
        if not isinstance(obj, dict) or CHECKSUM_KEY in obj:
            raise TypeError(f"a checksummed JSON file holds a mapping without {CHECKSUM_KEY!r}")
        obj = {**obj, CHECKSUM_KEY: payload_sha256(obj)}
    text = json.dumps(obj, sort_keys=True, indent=1, allow_nan=False) + "\n"
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
    check_input_file(path, "JSON")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        _cannot_read(path, exc, "; delete it and rerun its rule")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise NngridError(
            f"{path} is not valid JSON (truncated or corrupted?): {exc}; "
            "delete it and rerun its rule"
        ) from None


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable`` on Linux, else the physical RAM)."""
    return _memory_bytes()


def _memory_bytes() -> int:
    """The memory this process may count on: ``MemAvailable`` (Linux), else physical RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (OSError, ValueError, AttributeError):
        return 8 * 2**30


def max_load_bytes() -> tuple[int, str]:
    """The most bytes of arrays :func:`load_npz` loads, and where that limit comes from.

    ``NNGRID_MAX_DATA_BYTES`` if set, else a quarter of the memory available now (training
    converts the arrays to float64, standardises and batches them: a few copies).
    """
    env = os.environ.get("NNGRID_MAX_DATA_BYTES", "").strip()
    if env:
        try:
            value = int(float(env))
        except ValueError:
            raise NngridError(
                f"NNGRID_MAX_DATA_BYTES={env!r} is not a number of bytes; unset it or fix it"
            ) from None
        return value, "NNGRID_MAX_DATA_BYTES"
    return (
        _memory_bytes() // 4,
        "a quarter of the available memory; NNGRID_MAX_DATA_BYTES raises it",
    )


#: Default of :func:`max_load_bytes`, as measured at import (informative only).
MAX_LOAD_BYTES = _memory_bytes() // 4


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 kB'`` (powers of 1000, as disks and ``ls -h --si`` count)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover


def npz_headers(path: str | os.PathLike[str]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Read only the ``.npy`` headers inside an ``.npz``: ``{name: (shape, dtype)}``.

    Nothing but the few hundred header bytes of each member is read, so a file that declares a
    huge array is judged by its headers (:func:`check_load_size`) before any data is loaded. The
    file must be a regular file (checked before opening: a FIFO is refused, never read). A
    member whose declared size exceeds its stored (uncompressed) size is refused as truncated or
    corrupted; an object dtype is refused as pickle.
    """
    check_input_file(path, ".npz")
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        archive = zipfile.ZipFile(path)
    except OSError as exc:
        _cannot_read(path, exc)
    except Exception as exc:  # not a zip at all, or a zip whose directory is cut off
        try:
            with open(path, "rb") as f:
                magic = f.read(6)
        except OSError:
            magic = b""
        if magic == b"\x93NUMPY":
            raise NngridError(
                f"{path} holds a single .npy array, not an .npz archive of named arrays"
            ) from None
        raise NngridError(
            f"{path} is not a valid .npz archive (truncated, corrupted or pickled?): {exc}; "
            "delete it and recreate it"
        ) from None
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[: -len(".npy")]
            try:
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                    else:  # (2, 0) and (3, 0) share the 4-byte header length
                        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                    header_len = member.tell()
            except Exception as exc:
                raise NngridError(
                    f"{path}: array {name!r} has an unreadable header (truncated or corrupted?): "
                    f"{exc}; delete the file and recreate it"
                ) from None
            if dtype.hasobject:
                raise NngridError(
                    f"{path}: array {name!r} is a pickled object array, which is refused "
                    "(loading it could run code); save numeric arrays only"
                )
            declared = math.prod(shape) * dtype.itemsize
            if declared > info.file_size - header_len:
                raise NngridError(
                    f"{path}: array {name!r} declares shape {tuple(shape)} {dtype} "
                    f"({human_bytes(declared)}) but stores only "
                    f"{human_bytes(info.file_size - header_len)} (truncated or corrupted?); "
                    "delete the file and recreate it"
                )
            out[name] = (tuple(int(n) for n in shape), dtype)
    return out


def check_load_size(
    path: str | os.PathLike[str], headers: Mapping[str, tuple[tuple[int, ...], np.dtype]]
) -> int:
    """Refuse arrays whose declared sizes, converted to float64, exceed :func:`max_load_bytes`."""
    limit, source = max_load_bytes()
    sizes = {
        name: math.prod(shape) * max(8, dtype.itemsize) for name, (shape, dtype) in headers.items()
    }
    total = sum(sizes.values())
    if total > limit:
        big = max(sizes, key=sizes.__getitem__)
        shape, dtype = headers[big]
        raise NngridError(
            f"{path} declares {human_bytes(total)} of arrays as float64 (largest: {big!r}, shape "
            f"{shape} {dtype}), more than the limit of {human_bytes(limit)} ({source}); "
            "use a smaller dataset"
        )
    return total


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
    headers = npz_headers(path)
    wanted_names = set(headers) if not (required or optional) else set(required + optional)
    check_load_size(path, {k: v for k, v in headers.items() if k in wanted_names})
    try:
        loaded = np.load(path, allow_pickle=False)
    except OSError as exc:
        _cannot_read(path, exc)
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
