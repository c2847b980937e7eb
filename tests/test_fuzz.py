"""Hypothesis fuzzing of the two doors user input comes through.

- The config: random mutations of a valid study (keys dropped, renamed or added; values replaced
  by numbers out of range, NaN, text, code, nested containers ...) given to the workflow's
  load-time validation. Every input either validates, and then yields job paths inside the working
  directory, or raises ``NngridError`` with one line; never a traceback from inside jsonschema,
  pandas or NumPy.
- The command line: random flags and values given to ``nngrid.cli.main`` in-process. Every argv
  exits with status 0 or 2; status 2 prints exactly one ``nngrid: error:`` line; status 0 of
  ``train --output`` leaves a valid JSON file. Never another exception.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_bad_input import VALID, check_config

from nngrid.cli import main
from nngrid.errors import NngridError
from nngrid.study.jobs import data_targets, job_table, run_targets

FUZZ = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ------------------------------------------------------------------------------------------
# The config
# ------------------------------------------------------------------------------------------

NAMES = st.sampled_from(
    ["relu", "adam", "sgd", "none", "l2", "moons", "float64", "constant", "tiny", "points",
     "lr_grid", "kind", "params", "__import__('os').system('touch marker')", "../x", "", " ",
     "Relu", "relu ", "über", "a/b", "0", "null"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.0, 1.0, 1e308, -1e-308, 2**63, math.nan, math.inf]),
    NAMES,
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(NAMES, st.text(max_size=6)), inner, max_size=3),
    ),
    max_leaves=8,
)


def _children(node):
    if isinstance(node, dict):
        return list(node)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


@st.composite
def mutated_configs(draw):
    """The valid config with 1-3 random mutations at random places."""
    cfg = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        # walk down to a container, stopping at random
        parent, key = None, None
        node = cfg
        while _children(node) and (parent is None or draw(st.booleans())):
            parent, key = node, draw(st.sampled_from(_children(node)))
            node = parent[key]
        if parent is None:
            parent, key = cfg, draw(st.sampled_from(list(cfg)))
        action = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if action == "replace":
            parent[key] = draw(VALUES)
        elif action == "delete":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(NAMES, st.text(max_size=8)))] = parent.pop(key)
        elif isinstance(node, dict):
            node[draw(st.one_of(NAMES, st.text(max_size=8)))] = draw(VALUES)
        elif isinstance(node, list):
            node.append(draw(VALUES))
        else:
            parent[key] = draw(VALUES)
    return cfg


def job_paths(cfg) -> list[str]:
    """The result paths the workflow would write for a validated config."""
    return run_targets(job_table(cfg)) + data_targets(cfg)


@FUZZ
@given(cfg=mutated_configs())
def test_config_validation_accepts_or_refuses_in_one_line(cfg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        checked = check_config(cfg)
    except NngridError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert "Traceback" not in message
    else:
        root = Path(tmp_path).resolve()
        for path in job_paths(checked):
            assert (root / path).resolve().is_relative_to(root), path
        runnable(checked)
    assert not (tmp_path / "marker").exists()


def runnable(cfg) -> None:
    """What validated must also build: every component the jobs will construct, every rate."""
    from nngrid.core.optim import make_optimizer
    from nngrid.core.regularizers import REGULARIZERS
    from nngrid.datasets import DATASETS

    for label, spec in cfg["datasets"].items():
        DATASETS.create(spec.get("kind", label), **spec.get("params", {}))
    for label, spec in cfg["regularizers"].items():
        REGULARIZERS.create(spec.get("kind", label), **spec.get("params", {}))
    for name, spec in cfg["optimizers"].items():
        grid = spec["lr_grid"]
        for lr in (grid["low"], grid["high"], spec.get("default_lr", grid["low"])):
            assert math.isfinite(lr) and lr > 0, (name, lr)
            make_optimizer(name, lr=lr, **spec.get("params", {}))


@FUZZ
@given(text=st.text(max_size=40))
def test_any_name_in_an_axis_is_accepted_only_if_registered(text):
    cfg = copy.deepcopy(VALID)
    cfg["studies"]["tiny"]["activations"] = [text]
    try:
        check_config(cfg)
    except NngridError as exc:
        assert "\n" not in str(exc) and "valid choices" in str(exc)
    else:
        from nngrid.core.activations import ACTIVATIONS

        assert text in ACTIVATIONS.names()


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------

BASE = ["--dataset", "moons", "--dataset-params", "n_samples=40", "--hidden", "2",
        "--epochs", "1", "--batch-size", "full", "--quiet"]  # fmt: skip

# flag -> strategy of its values (small where a large value would only cost time)
NUMBER_TEXT = st.one_of(
    st.sampled_from(["0", "1", "-1", "0.5", "1e-3", "nan", "inf", "-inf", "1e400", "", "x",
                     "1,2", "0x10", "1_0", " 1", "Infinity"]),
    st.floats(allow_nan=True).map(repr),
    st.integers(-5, 5).map(str),
)  # fmt: skip
LIST_TEXT = st.one_of(
    st.sampled_from(["1", "2,2", "12,,4", ",", "", "0", "-1", "a", "1.5", "none", "3,0"]),
    st.lists(st.integers(-2, 3), max_size=3).map(lambda xs: ",".join(map(str, xs))),
)
NAME_TEXT = st.one_of(
    st.sampled_from(["relu", "tanh", "adam", "sgd", "momentum", "l2", "dropout", "lp",
                     "early_stopping", "max_norm", "elastic_net", "he_uniform", "cosine", "step",
                     "mse", "softmax_cross_entropy", "float32", "float64", "float16", "RELU",
                     "", "__import__('os')"]),
    st.text(max_size=10),
)  # fmt: skip
SMALL_DATASETS = st.sampled_from(["moons", "circles", "xor", "spirals", "gaussian", "moonz", ""])
KEY_VALUES = st.lists(
    st.tuples(
        st.sampled_from(["n_samples", "noise", "factor", "noize", "", "n-samples"]),
        st.sampled_from(["20", "40", "0.1", "-1", "x", "", "1e9", "nan", "true"]),
    ),
    max_size=3,
).map(lambda kv: ",".join(f"{k}={v}" for k, v in kv))

FLAGS = {
    "--activation": NAME_TEXT,
    "--optimizer": NAME_TEXT,
    "--regularizer": NAME_TEXT,
    "--init": NAME_TEXT,
    "--loss": NAME_TEXT,
    "--schedule": NAME_TEXT,
    "--dtype": NAME_TEXT,
    "--dataset": SMALL_DATASETS,
    "--dataset-params": KEY_VALUES,
    "--schedule-params": st.sampled_from(["step_size=1", "gamma=0.5", "x=1", "=1", "a", ""]),
    "--lr": st.one_of(NUMBER_TEXT, LIST_TEXT),
    "--seed": LIST_TEXT,
    "--hidden": LIST_TEXT,
    "--epochs": st.sampled_from(["0", "1", "2", "-1", "x", "1.5", ""]),
    "--batch-size": st.sampled_from(["0", "1", "7", "full", "-3", "x", ""]),
    "--strength": NUMBER_TEXT,
    "--rate": NUMBER_TEXT,
    "--p": NUMBER_TEXT,
    "--l1-ratio": NUMBER_TEXT,
    "--max-norm": NUMBER_TEXT,
    "--patience": NUMBER_TEXT,
    "--momentum": NUMBER_TEXT,
    "--dampening": NUMBER_TEXT,
    "--alpha": NUMBER_TEXT,
    "--eps": NUMBER_TEXT,
    "--betas": st.one_of(NUMBER_TEXT, st.sampled_from(["0.9,0.999", "0.9", "1,1", "0.5,-1"])),
    "--weight-decay": NUMBER_TEXT,
    "--target-accuracy": NUMBER_TEXT,
    "--data-seed": NUMBER_TEXT,
    "--data": st.sampled_from(["missing.npz", "", "."]),
    "--plugin": st.sampled_from(["no_such_plugin_module", "", "no.such.module"]),
}
BARE = ["--nesterov", "--quiet", "--bogus", "-x", "--", "--lr", "train", "list"]


@st.composite
def train_argvs(draw):
    argv = ["train", *BASE]
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.integers(0, 5)) == 0:
            argv.append(draw(st.sampled_from(BARE)))
        else:
            flag = draw(st.sampled_from(sorted(FLAGS)))
            argv += [flag, draw(FLAGS[flag])]
    return argv


def check_cli(argv, out: Path, capsys):
    try:
        status = main(argv)
    except SystemExit as exc:  # pragma: no cover - would be a bug: main returns its status
        pytest.fail(f"main raised SystemExit({exc.code}) for {argv}")
    stdout, stderr = capsys.readouterr()
    assert status in (0, 2), (argv, status, stderr)
    if status == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), (argv, stderr)
        assert not out.exists()
    return status, stdout


@FUZZ
@given(argv=train_argvs())
def test_cli_train_exits_0_or_2_with_one_line(argv, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("cli")
    out = folder / "run.json"
    status, stdout = check_cli([*argv, "--output", str(out)], out, capsys)
    if status == 0:
        record = json.loads(out.read_text())
        records = record if isinstance(record, list) else [record]
        assert records and all("diverged" in r and "history" in r for r in records)


@FUZZ
@given(
    argv=st.lists(
        st.one_of(
            st.sampled_from(["train", "list", "data", "--json", "--dataset", "moons", "--seed",
                             "--output", "--plugin", "-", "--", "--dataset-params", "n_samples=20",
                             "fly", ""]),
            st.text(max_size=8),
        ),
        max_size=6,
    )
)  # fmt: skip
def test_cli_any_argv_exits_0_or_2(argv, tmp_path_factory, capsys, monkeypatch):
    """Free-form argv (sub-commands, orphan flags, junk): never an exception, no stray files."""
    # help (-h, --help and its abbreviations) prints and exits by design: not fuzzed here
    argv = [a for a in argv if not (a.startswith("-") and "h" in a)]
    folder = tmp_path_factory.mktemp("cli_any")
    monkeypatch.chdir(folder)  # any file the argv names lands here
    if "data" in argv or "train" in argv:
        argv = [*argv, "--output", "out.npz" if "data" in argv else "out.json"]
    if "train" in argv:
        argv = [*argv, "--epochs", "1", "--hidden", "2", "--quiet"]
    check_cli(argv, folder / "never-written", capsys)


# ------------------------------------------------------------------------------------------
# Data files: random .npz archives given to `nngrid train --data`
# ------------------------------------------------------------------------------------------

X_DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex64", "U3"]
Y_KINDS = ["labels", "whole_floats", "fractional", "int_column", "float_column", "two_columns",
           "bool", "negative", "text", "one_class"]  # fmt: skip


def _y(kind: str, n: int, classes: int, rng):
    import numpy as np

    labels = np.arange(n) % classes
    rng.shuffle(labels)
    return {
        "labels": labels,
        "whole_floats": labels.astype(float),
        "fractional": rng.normal(size=n),
        "int_column": labels.reshape(-1, 1),
        "float_column": rng.normal(size=(n, 1)),
        "two_columns": rng.normal(size=(n, 2)),
        "bool": labels.astype(bool),
        "negative": labels - 1,
        "text": labels.astype(str),
        "one_class": np.zeros(n, dtype=np.int64),
    }[kind]


#: label kinds every split may share in a file that should train
GOOD_Y_KINDS = ["labels", "whole_floats", "fractional", "float_column", "two_columns", "bool"]


@st.composite
def npz_archives(draw):
    """A dict of arrays for an .npz: splits of random sizes, dtypes, shapes and label kinds.

    Half of the archives are plausible (float features, one label kind, enough rows) and should
    mostly train; the other half draw every choice freely (odd dtypes, mixed label kinds, NaN,
    huge values, wrong shapes, empty or missing arrays) and should mostly be refused."""
    import numpy as np

    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    free = draw(st.booleans())
    features = draw(st.integers(0, 3) if free else st.integers(1, 3))
    classes = draw(st.integers(1, 4) if free else st.integers(2, 4))
    x_dtype = draw(st.sampled_from(X_DTYPES if free else ["float64", "float32"]))
    one_y_kind = draw(st.booleans()) if free else True
    base_kind = draw(st.sampled_from(Y_KINDS if free else GOOD_Y_KINDS))
    arrays = {}
    for part in ("train", "val", "test"):
        if part == "val" and draw(st.booleans()):
            continue  # no validation split: nngrid carves one out of the training split
        sizes = (0, 24 if part == "train" else 8) if free else (8 if part == "train" else 1, 24)
        n = draw(st.integers(*sizes))
        scale = draw(st.sampled_from([1.0, 1e3, 1e300])) if free else 1.0
        X = rng.normal(size=(n, features)) * scale
        if free and draw(st.integers(0, 9)) == 0:
            X = X.reshape(-1)  # the wrong number of dimensions
        if free and X.size and draw(st.integers(0, 9)) == 0:
            X.flat[0] = draw(st.sampled_from([np.nan, np.inf]))
        with np.errstate(invalid="ignore", over="ignore"):  # nan/inf/1e300 to ints: junk, fine
            arrays[f"X_{part}"] = X.astype(x_dtype) if x_dtype != "U3" else X.astype(str)
        kind = base_kind if one_y_kind else draw(st.sampled_from(Y_KINDS))
        n_y = n + 1 if free and draw(st.integers(0, 9)) == 0 else n  # one label too many
        arrays[f"y_{part}"] = _y(kind, n_y, classes, rng)
    if free and draw(st.integers(0, 9)) == 0:
        arrays.pop(draw(st.sampled_from(sorted(arrays))))  # a required array missing
    return arrays


def expected_task(arrays) -> str | None:
    """The task the documented rule (nngrid.datasets.TASK_RULE) gives, or None if ambiguous:
    integer y must be 1-D labels; 2-D y is regression; 1-D float y is classification if it is
    whole-numbered in every split."""
    import numpy as np

    ys = [np.asarray(v) for k, v in arrays.items() if k.startswith("y_")]
    integer = [y for y in ys if y.dtype.kind in "biu"]
    if any(y.ndim != 1 for y in integer):
        return None
    floats = [y for y in ys if y.dtype.kind == "f"]
    fractional = [y for y in floats if not np.all(y == np.round(y))]
    if integer and fractional:
        return None
    if any(y.ndim == 2 for y in ys) or fractional:
        return "regression"
    return "classification"


@FUZZ
@given(arrays=npz_archives())
def test_random_npz_files_train_with_a_sensible_task_or_are_refused_in_one_line(
    arrays, tmp_path_factory, capsys
):
    import numpy as np

    folder = tmp_path_factory.mktemp("npz")
    path = folder / "d.npz"
    np.savez(path, **arrays)
    out = folder / "run.json"
    argv = ["train", "--data", str(path), "--hidden", "2", "--epochs", "1",
            "--batch-size", "4", "--output", str(out)]  # fmt: skip
    status = main(argv)
    stdout, stderr = capsys.readouterr()
    event(
        f"exit {status}"
        + (f" {json.loads(out.read_text())['config']['task']}" if status == 0 else "")
    )
    assert stdout == ""
    if status == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), stderr
        assert str(path) in lines[0], lines[0]
        assert not out.exists()
        return
    assert status == 0, stderr
    task = expected_task(arrays)
    assert task is not None, f"an ambiguous file was accepted: {stderr}"
    record = json.loads(out.read_text())
    assert record["config"]["task"] == task
    assert f"data {path} taken as {task}" in stderr
    if task == "classification":
        assert 0 <= record["test_accuracy"] <= 1
        assert record["config"]["hidden"] == [2]
    else:
        assert record["test_accuracy"] is None and record["test_loss"] is not None
