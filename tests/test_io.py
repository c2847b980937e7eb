"""Tests for nngrid.io: atomic writes, strict JSON, safe loads, output-path checks."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from nngrid import io
from nngrid.errors import NngridError


def leftovers(folder: Path) -> list[str]:
    """Names of temporary files an atomic write could leave behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- JSON


def test_write_json_round_trip_is_strict_and_sorted(tmp_path):
    obj = {
        "b": np.float32(1.5),
        "a": np.arange(3),
        "nan": float("nan"),
        "inf": np.float64(np.inf),
        "neg": [-np.inf, np.int64(7), np.bool_(True)],
        "nested": {"t": (1, 2.0), "path": Path("x/y")},
    }
    target = tmp_path / "sub" / "r.json"
    io.write_json(target, obj)
    text = target.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "a": [0, 1, 2],
        "b": 1.5,
        "inf": None,
        "nan": None,
        "neg": [None, 7, True],
        "nested": {"path": "x/y", "t": [1, 2.0]},
    }
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert io.read_json(target) == json.loads(text)
    assert leftovers(target.parent) == []


def test_write_json_is_byte_deterministic(tmp_path):
    io.write_json(tmp_path / "a.json", {"z": 1, "a": [np.float64(0.1)]})
    io.write_json(tmp_path / "b.json", {"a": [0.1], "z": np.int32(1)})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_written_file_gets_normal_permissions(tmp_path):
    io.write_text(tmp_path / "t.txt", "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "t.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "t.txt").read_text() == "hello"


def test_unserialisable_object_is_a_type_error_and_leaves_old_file(tmp_path):
    target = tmp_path / "r.json"
    io.write_json(target, {"ok": 1})
    with pytest.raises(TypeError, match="object"):
        io.write_json(target, {"bad": object()})
    assert io.read_json(target) == {"ok": 1}
    assert leftovers(tmp_path) == []


def test_failed_rename_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    io.write_json(target, {"version": "old"})

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "replace", broken_replace)
    with pytest.raises(NngridError, match=r"cannot write .*r\.json: No space left on device"):
        io.write_json(target, {"version": "new"})
    monkeypatch.undo()
    assert io.read_json(target) == {"version": "old"}
    assert leftovers(tmp_path) == []


def test_failure_mid_write_never_exposes_half_file(tmp_path, monkeypatch):
    target = tmp_path / "d.npz"
    io.write_npz(target, a=np.arange(5))

    def half_savez(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(io.np, "savez", half_savez)
    with pytest.raises(RuntimeError, match="killed"):
        io.write_npz(target, a=np.arange(10))
    monkeypatch.undo()
    np.testing.assert_array_equal(io.load_npz(target)["a"], np.arange(5))
    assert leftovers(tmp_path) == []


def test_failed_fsync_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    def broken_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(io.os, "fsync", broken_fsync)
    with pytest.raises(NngridError, match="Input/output error"):
        io.write_text(tmp_path / "t.txt", "x")
    assert not (tmp_path / "t.txt").exists()
    assert leftovers(tmp_path) == []


def test_parent_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("I am a file")
    with pytest.raises(NngridError, match=r"cannot write .*results/x\.json: .*read-only"):
        io.write_json(blocker / "x.json", {})
    assert blocker.read_text() == "I am a file"


def test_read_only_folder_is_a_clear_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("root: chmod 0o555 does not stop writes (see the parent-is-a-file test)")
        with pytest.raises(NngridError, match="Permission denied"):
            io.write_json(folder / "x.json", {"a": 1})
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_read_json_missing(tmp_path):
    with pytest.raises(NngridError, match=r"nope\.json does not exist"):
        io.read_json(tmp_path / "nope.json")


@pytest.mark.parametrize("content", [b'{"a": [1, 2', b"", b"\xff\xfe\x00garbage"])
def test_read_json_truncated_or_corrupted(tmp_path, content):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(NngridError, match=r"x\.json.*delete it and rerun its rule"):
        io.read_json(path)


def test_read_json_of_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(NngridError, match="cannot read"):
        io.read_json(tmp_path)


# --------------------------------------------------------------------------- npz


def test_npz_round_trip_required_and_optional(tmp_path):
    path = tmp_path / "a.npz"
    io.write_npz(path, x=np.eye(2), y=np.arange(2), extra=np.zeros(1))
    assert set(io.load_npz(path)) == {"x", "y", "extra"}
    got = io.load_npz(path, required=("x",), optional=("y", "absent"))
    assert set(got) == {"x", "y"}
    np.testing.assert_array_equal(got["x"], np.eye(2))
    assert leftovers(tmp_path) == []


def test_npz_missing_required_lists_missing_and_present(tmp_path):
    path = tmp_path / "a.npz"
    io.write_npz(path, x=np.eye(2), z=np.ones(1))
    with pytest.raises(NngridError, match=r"a\.npz lacks required array\(s\) y, w; it holds: x, z"):
        io.load_npz(path, required=("x", "y", "w"))


class _Trap:
    """Unpickling this creates a marker file: proof that pickle would have run code."""

    marker: str = ""

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_array_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    _Trap.marker = str(marker)
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.ones(2), evil=np.array([_Trap(), 1], dtype=object))
    assert not marker.exists()
    with pytest.raises(NngridError, match=r"evil\.npz: array 'evil' is a pickled object array"):
        io.load_npz(path)
    assert not marker.exists()


def test_plain_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "executed"
    _Trap.marker = str(marker)
    path = tmp_path / "p.npz"
    path.write_bytes(pickle.dumps(_Trap()))
    with pytest.raises(NngridError, match=r"p\.npz is not a valid \.npz archive"):
        io.load_npz(path)
    assert not marker.exists()


def test_write_npz_refuses_object_arrays(tmp_path):
    with pytest.raises(NngridError, match="dtype object"):
        io.write_npz(tmp_path / "o.npz", o=np.array([{}, 1], dtype=object))
    assert list(tmp_path.iterdir()) == []


def test_npz_missing_file(tmp_path):
    with pytest.raises(NngridError, match=r"gone\.npz does not exist"):
        io.load_npz(tmp_path / "gone.npz")


def test_npz_not_a_zip(tmp_path):
    path = tmp_path / "text.npz"
    path.write_text("hello, not a zip")
    with pytest.raises(NngridError, match=r"text\.npz is not a valid \.npz archive"):
        io.load_npz(path)


def test_npz_truncated(tmp_path):
    path = tmp_path / "t.npz"
    io.write_npz(path, a=np.arange(1000.0), b=np.arange(1000.0))
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 40):
        path.write_bytes(data[:cut])
        with pytest.raises(NngridError, match=r"t\.npz"):
            io.load_npz(path, required=("a", "b"))


def test_npz_corrupted_member(tmp_path):
    path = tmp_path / "c.npz"
    io.write_npz(path, a=np.arange(1000.0))
    data = bytearray(path.read_bytes())
    data[400:420] = b"\x00" * 20  # inside the array's bytes: the CRC check must catch it
    path.write_bytes(bytes(data))
    with pytest.raises(NngridError, match=r"c\.npz"):
        io.load_npz(path)


def test_single_npy_is_refused(tmp_path):
    path = tmp_path / "a.npz"
    with open(path, "wb") as f:
        np.save(f, np.arange(3))
    with pytest.raises(NngridError, match="single .npy array"):
        io.load_npz(path)


# --------------------------------------------------------------------------- output paths


def test_safe_output_path_inside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert io.safe_output_path("results/a.json") == tmp_path.resolve() / "results/a.json"
    assert io.safe_output_path(tmp_path / "b") == tmp_path.resolve() / "b"


@pytest.mark.parametrize("bad", ["../escape.json", "/etc/passwd", "a/../../x"])
def test_safe_output_path_outside_is_refused(tmp_path, monkeypatch, bad):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(NngridError, match="outside"):
        io.safe_output_path(bad)


def test_safe_output_path_symlink_escape_and_root(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "link").symlink_to(tmp_path)
    monkeypatch.chdir(work)
    with pytest.raises(NngridError, match="outside"):
        io.safe_output_path("link/x.json")
    assert io.safe_output_path("link/x.json", root=tmp_path) == tmp_path.resolve() / "x.json"
    with pytest.raises(NngridError, match="outside"):
        io.safe_output_path("x.json", root=tmp_path / "elsewhere")


@pytest.mark.parametrize("kind", ["fifo", "folder", "device", "symlink-to-device"])
def test_atomic_write_never_replaces_a_non_regular_file(tmp_path, kind):
    """Every writer (results, tables, npz) refuses a target that exists and is not a regular
    file: the rename would put a regular file in the place of a FIFO, a folder or (as root) a
    device node."""
    import stat

    target = tmp_path / "t"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        node = tmp_path / "null"
        os.mknod(node, 0o666 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
        if kind == "device":
            target = node
        else:
            target.symlink_to(node)
    mode = os.lstat(target).st_mode
    for write in (lambda: io.write_json(target, {}), lambda: io.write_npz(target, a=[1])):
        with pytest.raises(NngridError, match="not a regular file"):
            write()
    assert os.lstat(target).st_mode == mode
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("bad", ["", "x.json/"])
def test_atomic_write_refuses_an_empty_or_folder_name(tmp_path, monkeypatch, bad):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NngridError, match="empty|ends in '/'"):
        io.write_text(bad, "x")
    assert list(tmp_path.iterdir()) == []


def test_npz_headers_are_read_without_loading(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    np.savez(path, a=np.zeros((3, 4), np.float32), b=np.arange(5))
    monkeypatch.setattr(np, "load", None)  # the headers alone, never the arrays
    headers = io.npz_headers(path)
    assert headers == {"a": ((3, 4), np.dtype(np.float32)), "b": ((5,), np.arange(5).dtype)}


def test_reading_a_fifo_is_refused_without_opening_it(tmp_path):
    """A FIFO where a JSON or .npz file should be is refused from its type: opening it for
    reading would block until a writer comes."""
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    for read in (io.read_json, io.load_npz, io.npz_headers):
        with pytest.raises(NngridError, match="FIFO"):
            read(fifo)
