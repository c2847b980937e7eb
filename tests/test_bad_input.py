"""The catalogue of bad input: every case is refused before any work, in one line that names the
key or flag, the bad value, and the fix or the valid choices.

Three groups, one test id per case:

- ``CONFIG_CASES``: one mutation each of a small valid study config, checked by the workflow's own
  load-time validation (``nngrid.study.config.check_config``, called in-process);
  ``test_the_workflow_stops_while_loading`` proves on a few of them that ``snakemake`` itself
  stops before creating any job, log or result.
- ``CLI_CASES``: ``nngrid train`` flags (``nngrid.cli.main`` in-process): exit status 2, one
  ``nngrid: error:`` line, no epoch trained, no output file.
- ``FILE_CASES``: bad ``--data`` files (missing arrays, pickled, NaN, labels out of range,
  truncated, not a file ...): the same, and the message names the file.
"""

from __future__ import annotations

import copy
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from local_env import local_env

from nngrid.cli import main
from nngrid.errors import NngridError
from nngrid.study import config as study_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

# A small valid study in the config format of config/README.md (two studies, kinds, params).
VALID = {
    "data_seed": 0,
    "splits": {"val_fraction": 0.25, "test_fraction": 0.25},
    "datasets": {"moons": {"params": {"n_samples": 200, "noise": 0.2}}},
    "regularizers": {
        "none": {},
        "l2": {"params": {"strength": 1.0e-3}},
        "dropout": {"params": {"rate": 0.1}},
        "lp3": {"kind": "lp", "params": {"p": 3, "strength": 1.0e-3}},
    },
    "optimizers": {
        "sgd": {"lr_grid": {"low": 1.0e-2, "high": 1.0, "points": 3}},
        "adam": {"lr_grid": {"low": 1.0e-3, "high": 1.0e-1, "points": 3}},
    },
    "training": {
        "hidden": [8],
        "epochs": 3,
        "batch_size": 32,
        "seeds": [0, 1],
        "schedule": "constant",
        "dtype": "float32",
        "target_accuracy": 0.8,
    },
    "studies": {
        "tiny": {
            "datasets": ["moons"],
            "activations": ["relu", "tanh"],
            "regularizers": ["none", "l2", "dropout", "lp3"],
            "optimizers": ["sgd", "adam"],
        }
    },
}


def check_config(cfg):
    """The workflow's load-time validation of a config (``nngrid.study.config``)."""
    return study_config.check_config(cfg, SCHEMA)


def mutated(mutate):
    cfg = copy.deepcopy(VALID)
    mutate(cfg)
    return cfg


def _set(*path_and_value):
    """A mutation that sets cfg[k1][k2]...[kn] = value (and creates nothing on the way)."""
    *path, last, value = path_and_value

    def mutate(cfg):
        node = cfg
        for key in path:
            node = node[key]
        node[last] = value

    return mutate


def _delete(*path):
    def mutate(cfg):
        node = cfg
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _rename(*path_and_new):
    *path, new = path_and_new

    def mutate(cfg):
        node = cfg
        for key in path[:-1]:
            node = node[key]
        node[new] = node.pop(path[-1])

    return mutate


def _append(*path_and_value):
    *path, value = path_and_value

    def mutate(cfg):
        node = cfg
        for key in path:
            node = node[key]
        node.append(value)

    return mutate


ACTS = "identity, relu"  # the start of the registry's list, printed as the valid choices
EVIL = "__import__('os').system('touch marker')"

# id -> (mutation, substrings the one-line message must hold: the key, the value, the fix)
CONFIG_CASES = {
    "unknown-activation": (
        _append("studies", "tiny", "activations", "relux"),
        ["studies.tiny.activations[2]", "'relux'", "valid choices: " + ACTS],
    ),
    "unknown-optimizer": (
        _set("optimizers", "adamm", {"lr_grid": {"low": 1e-3, "high": 1e-2, "points": 2}}),
        ["optimizers", "'adamm'", "valid choices: sgd"],
    ),
    "unknown-regularizer-kind": (
        _set("regularizers", "l3", {"kind": "l3"}),
        ["regularizers.l3.kind", "'l3'", "valid choices: none"],
    ),
    "regularizer-label-not-declared": (
        _append("studies", "tiny", "regularizers", "l1"),
        ["studies.tiny.regularizers[4]", "'l1'", "valid choices: none, l2"],
    ),
    "unknown-dataset-kind": (
        _set("datasets", "moonz", {}),
        ["datasets.moonz", "'moonz'", "valid choices:", "moons"],
    ),
    "unknown-initializer": (
        _set("training", "init", "he_unifrom"),
        ["training.init", "'he_unifrom'", "valid choices:", "he_uniform"],
    ),
    "unknown-schedule": (
        _set("training", "schedule", "cosin"),
        ["training.schedule", "'cosin'", "valid choices:", "cosine"],
    ),
    "unknown-loss": (
        _set("training", "loss", "hinge"),
        ["training.loss", "'hinge'", "valid choices:"],
    ),
    "negative-lr": (
        _set("optimizers", "sgd", "lr_grid", "low", -0.1),
        ["optimizers.sgd.lr_grid.low", "-0.1", "> 0"],
    ),
    "zero-lr": (
        _set("optimizers", "adam", "default_lr", 0),
        ["optimizers.adam.default_lr", "0", "> 0"],
    ),
    "non-numeric-lr": (
        _set("optimizers", "sgd", "lr_grid", "high", "1e-2x"),
        ["optimizers.sgd.lr_grid.high", "'1e-2x'", "number"],
    ),
    "nan-lr": (
        _set("optimizers", "sgd", "default_lr", math.nan),
        ["optimizers.sgd.default_lr", "nan", "finite"],
    ),
    "lr-grid-without-points": (
        _set("optimizers", "sgd", "lr_grid", "points", 0),
        ["optimizers.sgd.lr_grid.points", "0", ">= 2"],
    ),
    "lr-grid-empty-range": (
        _set("optimizers", "sgd", "lr_grid", {"low": 1.0, "high": 0.01, "points": 3}),
        ["optimizers.sgd.lr_grid", "0.01", "1.0", "make high larger than low"],
    ),
    "lr-grid-missing": (
        _delete("optimizers", "adam", "lr_grid"),
        ["optimizers.adam", "'lr_grid'", "required"],
    ),
    "optimizer-param-out-of-range": (
        _set("optimizers", "sgd", "params", {"momentum": -0.5}),
        ["optimizers.sgd", "momentum", "-0.5", "[0, inf)"],
    ),
    "adam-beta-out-of-range": (
        _set("optimizers", "adam", "params", {"betas": [0.9, 1.5]}),
        ["optimizers.adam", "betas", "1.5", "[0, 1)"],
    ),
    "optimizer-param-unknown": (
        _set("optimizers", "adam", "params", {"momentum": 0.9}),
        ["optimizers.adam.params", "'momentum'", "valid choices:", "betas"],
    ),
    "dropout-rate-one": (
        _set("regularizers", "dropout", "params", "rate", 1.0),
        ["regularizers.dropout", "rate", "1.0", "[0, 1)"],
    ),
    "negative-strength": (
        _set("regularizers", "l2", "params", "strength", -1.0e-3),
        ["regularizers.l2.params.strength", "-0.001", ">= 0"],
    ),
    "lp-exponent-below-one": (
        _set("regularizers", "lp3", "params", "p", 0.5),
        ["regularizers.lp3", "p", "0.5", "[1, inf)"],
    ),
    "regularizer-param-unknown": (
        _set("regularizers", "l2", "params", {"strenght": 1e-3}),
        ["regularizers.l2.params", "'strenght'", "valid choices: strength"],
    ),
    "epochs-zero": (_set("training", "epochs", 0), ["training.epochs", "0", ">= 1"]),
    "epochs-string": (
        _set("training", "epochs", "ten"),
        ["training.epochs", "'ten'", "integer"],
    ),
    "epochs-float": (_set("training", "epochs", 2.5), ["training.epochs", "2.5", "integer"]),
    "seeds-empty": (_set("training", "seeds", []), ["training.seeds", "[]", "at least 1"]),
    "seeds-negative": (_set("training", "seeds", [0, -1]), ["training.seeds[1]", "-1", ">= 0"]),
    "seeds-repeated": (_set("training", "seeds", [1, 1]), ["training.seeds", "[1, 1]", "once"]),
    "batch-size-zero": (_set("training", "batch_size", 0), ["training.batch_size", "0", ">= 1"]),
    "hidden-as-text": (
        _set("training", "hidden", "12,,4"),
        ["training.hidden", "'12,,4'", "array"],
    ),
    "hidden-width-zero": (
        _set("training", "hidden", [12, 0, 4]),
        ["training.hidden[1]", "0", ">= 1"],
    ),
    "dtype-float16": (
        _set("training", "dtype", "float16"),
        ["training.dtype", "'float16'", "valid choices: float32, float64"],
    ),
    "target-accuracy-above-one": (
        _set("training", "target_accuracy", 1.5),
        ["training.target_accuracy", "1.5", "<= 1"],
    ),
    "misspelt-optional-key": (
        _rename("training", "batch_size", "batchsize"),
        ["training", "'batchsize'", "valid keys:", "batch_size"],
    ),
    "misspelt-required-key": (
        _rename("training", "epochs", "epoch"),
        ["training", "'epochs'"],
    ),
    "misspelt-top-level-key": (
        _rename("studies", "studys"),
        ["studys", "valid keys:", "studies"],
    ),
    "missing-required-section": (_delete("optimizers"), ["'optimizers'", "required"]),
    "empty-axis": (
        _set("studies", "tiny", "datasets", []),
        ["studies.tiny.datasets", "[]", "at least 1"],
    ),
    "study-label-escapes-the-folder": (
        _rename("studies", "tiny", "../../outside"),
        ["studies", "'../../outside'", "lower_snake_case"],
    ),
    "dataset-label-with-slash": (
        _rename("datasets", "moons", "moons/x"),
        ["datasets", "'moons/x'", "lower_snake_case"],
    ),
    "dataset-param-unknown": (
        _set("datasets", "moons", "params", "noize", 0.1),
        ["datasets.moons.params", "'noize'", "valid choices: n_samples, noise"],
    ),
    "dataset-param-out-of-range": (
        _set("datasets", "moons", "params", "n_samples", -5),
        ["datasets.moons", "n_samples", "-5", ">= 4"],
    ),
    "split-fractions-leave-no-training-data": (
        _set("splits", {"val_fraction": 0.6, "test_fraction": 0.5}),
        ["splits", "0.6", "0.5", "< 1"],
    ),
    "schedule-param-unknown": (
        _set("training", "schedule_params", {"gamma": 0.5}),
        ["training.schedule_params", "'gamma'", "constant"],
    ),
    "code-as-an-activation-name": (
        _append("studies", "tiny", "activations", EVIL),
        ["studies.tiny.activations[2]", "__import__", "valid choices: " + ACTS],
    ),
    "section-of-the-wrong-type": (
        _set("training", None),
        ["training", "null", "object"],
    ),
    # values that pass a schema check and cannot run (estimated at load, vs this machine)
    "hidden-too-wide-for-memory": (
        _set("training", "hidden", [100_000_000]),
        ["job tiny/moons/", "memory", "training.hidden = [100000000]", "this machine"],
    ),
    "lr-grid-with-a-billion-points": (
        _set("optimizers", "sgd", "lr_grid", "points", 1_000_000_000),
        ["job tiny/moons/sgd", "memory", "optimizers.sgd.lr_grid.points = 1000000000"],
    ),
    "a-billion-samples": (
        _set("datasets", "moons", "params", "n_samples", 1_000_000_000),
        ["memory", "datasets.moons.params.n_samples = 1000000000"],
    ),
    "epochs-beyond-any-time-limit": (
        _set("training", "epochs", 10**12),
        ["minutes of training", "training.epochs = 1000000000000", "limit of 10,080"],
    ),
    "seed-beyond-int64": (
        _set("training", "seeds", [0, 2**70]),
        ["training.seeds[1]", str(2**70), "<= 9223372036854775807"],
    ),
    "schedule-param-true": (
        lambda cfg: cfg["training"].update(schedule="step", schedule_params={"step_size": True}),
        ["training.schedule_params.step_size", "true", "boolean", "number"],
    ),
    # a YAML alias bomb (what yaml.safe_load gives: nested shared lists), refused by its size
    "alias-bomb": (
        _set(
            "training",
            "hidden",
            yaml.safe_load(
                "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
                + "".join(
                    f"{b}: &{b} [{', '.join(['*' + a] * 9)}]\n"
                    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
                )
            )["i"],
        ),
        ["expands to more than 100,000 values", "aliases"],
    ),  # fmt: skip
    # the experiments section gets the grid's checks
    "experiment-unknown-key": (
        _set("experiments", {"activation_curves": {"pts": 81}}),
        ["experiments.activation_curves", "'pts'", "valid keys: names, lo, hi, points"],
    ),
    "experiment-negative-points": (
        _set("experiments", {"activation_curves": {"points": -1}}),
        ["experiments.activation_curves.points", "-1", "integer >= 1"],
    ),
    "experiment-count-as-text": (
        _set("experiments", {"optimizer_paths": {"steps": "ten"}}),
        ["experiments.optimizer_paths.steps", "'ten'", "integer >= 1"],
    ),
    "experiment-bool-as-count": (
        _set("experiments", {"nonlinearity_boundaries": {"epochs": True}}),
        ["experiments.nonlinearity_boundaries.epochs", "true", "integer"],
    ),
    "experiment-unknown-activation": (
        _set("experiments", {"gradient_flow": {"activations": ["tanh", "relux"]}}),
        ["experiments.gradient_flow.activations[1]", "'relux'", "valid choices: " + ACTS],
    ),
    "experiment-lr-grid-points-zero": (
        _set("experiments", {"optimizer_paths": {"lr_grid": {"low": 1, "high": 2, "points": 0}}}),
        ["experiments.optimizer_paths.lr_grid.points", "0", ">= 1"],
    ),
    "experiment-nan-learning-rate": (
        _set("experiments", {"data_size_sweep": {"lr": float("nan")}}),
        ["experiments.data_size_sweep.lr", "finite"],
    ),
    # tuning protocols and search spaces (nngrid.study.search)
    "unknown-protocol": (
        _set("tuning", {"protocol": "bayes"}),
        ["tuning.protocol", "'bayes'", "lr", "full", "default"],
    ),
    "study-budget-zero": (
        _set("studies", "tiny", "tuning", {"protocol": "full", "budget": 0}),
        ["studies.tiny.tuning.budget", "0", ">= 1"],
    ),
    "full-without-search-space": (
        _set("studies", "tiny", "tuning", {"protocol": "full"}),
        ["study 'tiny'", "full protocol", "optimizers.sgd", "no search space"],
    ),
    "search-unknown-hyperparameter": (
        _set("optimizers", "adam", "search", {"momentum": {"low": 0.01, "high": 0.1}}),
        ["optimizers.adam.search.momentum", "no searchable hyperparameter", "b1, b2"],
    ),
    "search-name-not-searchable-anywhere": (
        _set("optimizers", "sgd", "search", {"dampening": 0.1}),
        ["optimizers.sgd.search", "'dampening'", "lr, momentum"],
    ),
    "search-low-above-high": (
        _set("optimizers", "sgd", "search", {"lr": {"low": 1.0, "high": 0.1}}),
        ["optimizers.sgd.search.lr", "low < high", "low=1.0", "high=0.1"],
    ),
    "search-log-from-zero": (
        _set("optimizers", "sgd", "search", {"lr": {"low": 0.0, "high": 0.1}}),
        ["optimizers.sgd.search.lr", "low > 0", "scale: linear"],
    ),
    "search-scale-unknown": (
        _set("optimizers", "sgd", "search", {"lr": {"low": 0.01, "high": 0.1, "scale": "cubic"}}),
        ["optimizers.sgd.search.lr.scale", "'cubic'", "log", "linear"],
    ),
    "search-range-outside-the-declared-bounds": (
        _set(
            "optimizers",
            "adam",
            "search",
            {"b2": {"low": 0.5, "high": 2.0, "scale": "linear", "one_minus": True}},
        ),
        ["optimizers.adam.search.b2", "not a valid b2", "[0, 1)"],
    ),
    "search-only-fixed-values": (
        _set("optimizers", "sgd", "search", {"lr": 0.1, "momentum": 0.9}),
        ["optimizers.sgd.search", "fixes every value", "{low, high}"],
    ),
}


def test_the_valid_configs_pass():
    """The catalogue's base config and the repository's own configs all validate."""
    from snakemake.utils import update_config

    check_config(copy.deepcopy(VALID))
    for path in sorted((ROOT / "config").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        if path.name == "replicate.yaml":  # an overlay: layered over the default config
            cfg, overlay = yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), cfg
            update_config(cfg, overlay)
        check_config(cfg)


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_value_is_refused_in_one_line(case, tmp_path, monkeypatch):
    mutate, needles = CONFIG_CASES[case]
    monkeypatch.chdir(tmp_path)  # a value evaluated as code would leave `marker` here
    with pytest.raises(NngridError) as info:
        check_config(mutated(mutate))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("config error: ")
    missing = [n for n in needles if n not in message]
    assert not missing, f"message lacks {missing}: {message}"
    assert not (tmp_path / "marker").exists()
    assert not list(tmp_path.iterdir())


# A few cases through `snakemake` itself: the workflow stops while loading, before any job.
WORKFLOW_CASES = ["unknown-activation", "negative-lr", "epochs-string"]


def workflow_copy(dest: Path, cfg: dict) -> Path:
    """A runnable copy of the workflow in `dest` whose default config is `cfg`."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Snakefile", dest / "Snakefile")
    shutil.copytree(ROOT / "workflow", dest / "workflow")
    shutil.copytree(ROOT / "profiles", dest / "profiles")
    (dest / "config").mkdir()
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


@pytest.mark.parametrize("case", WORKFLOW_CASES)
def test_the_workflow_stops_while_loading(case, tmp_path):
    mutate, needles = CONFIG_CASES[case]
    wf = workflow_copy(tmp_path / "wf", mutated(mutate))
    before = sorted(p.name for p in wf.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1"],
        cwd=wf,
        env=local_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("config error: ")]
    assert len(lines) == 1, proc.stderr
    assert all(n in lines[0] for n in needles), lines[0]
    # nothing was made: no results, logs or benchmarks (Snakemake's own .snakemake/ aside)
    assert sorted(p.name for p in wf.iterdir() if p.name != ".snakemake") == before


def _config_text(edit) -> str:
    return edit(yaml.safe_dump(VALID, sort_keys=False))


# id -> (edit of the valid config's YAML text, substrings of the one-line message)
CONFIG_FILE_CASES = {
    "duplicate-nested-key": (
        lambda text: text.replace("  epochs: 3\n", "  epochs: 3\n  epochs: 300\n"),
        ["key training.epochs appears twice", "at lines"],
    ),
    "second-top-level-block": (
        lambda text: text + "training:\n  hidden: [4]\n  epochs: 1\n  seeds: [0]\n",
        ["key training appears twice", "at lines"],
    ),
    "alias-bomb": (
        lambda text: (
            text
            + "lol:\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"  {b}: &{b} [{', '.join(['*' + a] * 9)}]\n"
                for a, b in zip("abcdefgh", "bcdefghi", strict=True)
            )
        ),
        ["expands to more than 100,000 values"],
    ),
}


def _line_numbers(text, key):
    return [i + 1 for i, ln in enumerate(text.splitlines()) if ln.lstrip().startswith(key + ":")]


@pytest.mark.parametrize("case", ["duplicate-nested-key", "second-top-level-block"])
def test_duplicate_keys_in_a_config_file_are_refused_with_their_lines(case, tmp_path):
    edit, needles = CONFIG_FILE_CASES[case]
    text = _config_text(edit)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(NngridError) as info:
        study_config.check_config_file(path)
    message = str(info.value)
    assert all(n in message for n in needles) and "\n" not in message, message
    key = "epochs" if case == "duplicate-nested-key" else "training"
    first, second = _line_numbers(text, key)[-2:]  # the valid config has each key once
    assert f"lines {first} and {second}" in message, message
    (tmp_path / "ok.yaml").write_text(_config_text(lambda t: t))
    study_config.check_config_file(tmp_path / "ok.yaml")  # the valid text passes


@pytest.mark.parametrize("case", ["second-top-level-block", "alias-bomb"])
def test_the_workflow_refuses_a_bad_config_file_while_loading(case, tmp_path):
    """Through `snakemake` itself: duplicate keys and an alias bomb stop the workflow while
    loading (the bomb within the timeout: it is refused before anything walks it)."""
    edit, needles = CONFIG_FILE_CASES[case]
    wf = workflow_copy(tmp_path / "wf", VALID)
    (wf / "config" / "config.yaml").write_text(_config_text(edit))
    before = sorted(p.name for p in wf.iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1"],
        cwd=wf, env=local_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("config error: ")]
    assert len(lines) == 1, proc.stderr
    assert all(n in lines[0] for n in needles), lines[0]
    assert sorted(p.name for p in wf.iterdir() if p.name != ".snakemake") == before


# ------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------

SMALL = ["--dataset", "moons", "--dataset-params", "n_samples=100", "--hidden", "4",
         "--epochs", "2", "--batch-size", "16"]  # fmt: skip


def run_cli(argv, tmp_path, capsys):
    """Run `nngrid train SMALL argv --output out.json`; return status, stderr, the output."""
    out = tmp_path / "out" / "run.json"
    status = main(["train", *SMALL, *argv, "--output", str(out)])
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    return status, stderr, out


# id -> (extra flags (they come after SMALL, so they win), substrings of the one-line message)
CLI_CASES = {
    "unknown-activation": (["--activation", "relux"], ["--activation", "'relux'", "'relu'"]),
    "unknown-optimizer": (["--optimizer", "adamm"], ["--optimizer", "'adamm'", "'adam'"]),
    "unknown-regularizer": (["--regularizer", "l3"], ["--regularizer", "'l3'", "'l2'"]),
    "unknown-initializer": (["--init", "foo"], ["--init", "'foo'", "'he_uniform'"]),
    "unknown-schedule": (["--schedule", "cosin"], ["--schedule", "'cosin'", "'cosine'"]),
    "unknown-dataset": (["--dataset", "moonz"], ["--dataset", "'moonz'", "'moons'"]),
    "unknown-loss": (["--loss", "hinge"], ["--loss", "'hinge'", "choose from"]),
    "negative-lr": (["--lr", "-0.1"], ["--lr", "-0.1", "> 0"]),
    "zero-lr": (["--lr", "0.1,0"], ["--lr", "0.0", "> 0"]),
    "non-numeric-lr": (["--lr", "fast"], ["--lr", "'fast'", "not a number"]),
    "nan-lr": (["--lr", "nan"], ["--lr", "'nan'", "finite"]),
    "empty-lr-grid": (["--lr", ","], ["--lr", "','", "comma-separated"]),
    "dropout-rate-one": (
        ["--regularizer", "dropout", "--rate", "1.0"],
        ["dropout rate", "1.0", "[0, 1)"],
    ),
    "negative-strength": (
        ["--regularizer", "l2", "--strength", "-1"],
        ["l2 strength", "-1.0", "[0, inf)"],
    ),
    "flag-the-regularizer-does-not-take": (
        ["--regularizer", "l2", "--rate", "0.5"],
        ["'l2'", "--rate", "--strength"],
    ),
    "epochs-zero": (["--epochs", "0"], ["--epochs", "0", ">= 1"]),
    "epochs-not-an-integer": (["--epochs", "ten"], ["--epochs", "'ten'", "integer"]),
    "seeds-empty": (["--seed", ""], ["--seed", "''", "comma-separated"]),
    "seed-negative": (["--seed", "0,-3"], ["--seed", "'0,-3'", ">= 0"]),
    "data-seed-negative": (["--data-seed", "-1"], ["--data-seed", "-1", ">= 0"]),
    "batch-size-zero": (["--batch-size", "0"], ["--batch-size", "0", "'full'"]),
    "hidden-with-empty-width": (["--hidden", "12,,4"], ["--hidden", "'12,,4'", "comma-separated"]),
    "dtype-float16": (["--dtype", "float16"], ["--dtype", "'float16'", "'float32'"]),
    "target-accuracy-above-one": (["--target-accuracy", "2"], ["--target-accuracy", "2", "(0, 1]"]),
    "target-accuracy-zero": (["--target-accuracy", "0"], ["--target-accuracy", "(0, 1]"]),
    "betas-one-number": (["--betas", "0.9"], ["--betas", "'0.9'", "two numbers"]),
    "momentum-negative": (
        ["--optimizer", "momentum", "--momentum", "-1"],
        ["momentum", "-1.0", "(0, inf)"],
    ),
    "unknown-flag": (["--learning-rate", "0.1"], ["--learning-rate"]),
    "dataset-param-unknown": (
        ["--dataset-params", "noize=0.1"],
        ["noize", "noise"],
    ),
    "dataset-params-not-key-value": (
        ["--dataset-params", "n_samples"],
        ["--dataset-params", "'n_samples'", "key=value"],
    ),
    # a value that silently changed the network or the replicas
    "hidden-empty": (["--hidden", ""], ["--hidden", "''", "'none'"]),
    "hidden-zero": (["--hidden", "0"], ["--hidden", "'0'", "'none'"]),
    "seed-given-twice": (["--seed", "0", "--seed", "1"], ["--seed", "given twice"]),
    "lr-given-twice": (["--lr", "0.1", "--lr", "0.2"], ["--lr", "given twice"]),
    "seed-repeated": (["--seed", "0,0"], ["--seed", "seed 0 is repeated", "once"]),
    "seed-beyond-int64": (["--seed", str(2**63)], ["--seed", str(2**63), "2**63"]),
    # runs that cannot fit in memory: refused from an estimate, before anything is allocated
    "hidden-beyond-memory": (
        ["--hidden", str(10**12)],
        ["estimated", "of memory", "available", f"--hidden {10**12}"],
    ),
    "samples-beyond-memory": (
        ["--dataset-params", f"n_samples={10**12}"],
        ["estimated", "of memory", "available", f"n_samples': {10**12}"],
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_bad_flag_is_refused_in_one_line_before_training(case, tmp_path, capsys):
    extra, needles = CLI_CASES[case]
    status, err, out = run_cli(extra, tmp_path, capsys)
    assert status == 2
    lines = err.strip().splitlines()
    # one line, and no progress line: not a single epoch was trained
    assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), err
    missing = [n for n in needles if n not in lines[0]]
    assert not missing, f"message lacks {missing}: {lines[0]}"
    assert not out.exists() and not out.parent.exists()


def test_data_command_refuses_a_negative_seed(tmp_path, capsys):
    out = tmp_path / "d.npz"
    status = main(["data", "--dataset", "moons", "--seed", "-1", "--output", str(out)])
    _, err = capsys.readouterr()
    assert status == 2 and not out.exists()
    assert err.count("\n") == 1 and "--seed" in err and "-1" in err and ">= 0" in err


class Payload:
    """An object whose unpickling would create the file `marker` (it must never run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def good_arrays():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    y = np.arange(60) % 2
    return {"X_train": X[:40], "y_train": y[:40], "X_val": X[40:50], "y_val": y[40:50],
            "X_test": X[50:], "y_test": y[50:]}  # fmt: skip


def npz_with(path, **changes):
    arrays = good_arrays()
    for key, value in changes.items():
        if value is None:
            arrays.pop(key)
        else:
            arrays[key] = value(arrays[key]) if callable(value) else value
    np.savez(path, **arrays)
    return path


def pickled_npz(path):
    arrays = good_arrays()
    arrays["y_train"] = np.array([Payload(path.parent / "marker")] * 40, dtype=object)
    np.savez(path, allow_pickle=True, **arrays)
    return path


def truncated_npz(path):
    npz_with(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def npy_header(shape, dtype="<f8") -> bytes:
    """A version 1.0 .npy header declaring `shape` (written by NumPy's own header writer)."""
    import io as _io

    buf = _io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)}
    )
    return buf.getvalue()


def lying_npz(path, rows=300_000_000):
    """An .npz of a few kB whose X_train header declares (rows, 2) float64 (4.8 GB for 3e8)."""
    import zipfile

    arrays = good_arrays()
    with zipfile.ZipFile(path, "w") as z:
        for name, a in arrays.items():
            if name == "X_train":
                z.writestr(name + ".npy", npy_header((rows, 2)) + np.zeros(64).tobytes())
            else:
                with z.open(name + ".npy", "w") as f:
                    np.lib.format.write_array(f, a)
    return path


# id -> (make the file in a folder -> its path, substrings of the message besides the file name)
FILE_CASES = {
    "missing-file": (lambda d: d / "nothing.npz", ["does not exist"]),
    "missing-array": (lambda d: npz_with(d / "d.npz", y_test=None), ["y_test", "lacks"]),
    "half-a-split": (lambda d: npz_with(d / "d.npz", y_val=None), ["X_val", "y_val"]),
    "pickled-object-array": (lambda d: pickled_npz(d / "d.npz"), ["pickle", "refused"]),
    "nan-in-features": (
        lambda d: npz_with(d / "d.npz", X_train=lambda a: np.where(a > 1, np.nan, a)),
        ["X_train", "NaN"],
    ),
    "inf-in-targets": (
        lambda d: npz_with(d / "d.npz", y_test=lambda a: np.where(a > 0, np.inf, a)),
        ["y_test", "infinite"],
    ),
    "label-out-of-range": (
        lambda d: npz_with(d / "d.npz", y_test=lambda a: np.full_like(a, 7)),
        ["y_test", "label 7", "0..1"],
    ),
    "negative-label": (
        lambda d: npz_with(d / "d.npz", y_val=lambda a: -a),
        ["y_val", "negative label -1", "0..C-1"],
    ),
    "text-instead-of-npz": (
        lambda d: (d / "d.npz").write_text("X_train,y_train\n1,2\n") and d / "d.npz",
        ["not a valid .npz"],
    ),
    "truncated-npz": (lambda d: truncated_npz(d / "d.npz"), ["truncated"]),
    "folder-instead-of-file": (
        lambda d: (d / "d.npz").mkdir() or d / "d.npz",
        ["cannot read"],
    ),
    "string-features": (
        lambda d: npz_with(d / "d.npz", X_test=lambda a: a.astype(str)),
        ["X_test", "numeric"],
    ),
    # files that are not what they seem
    "header-declares-a-huge-array": (
        lambda d: lying_npz(d / "d.npz"),
        ["X_train", "(300000000, 2)", "4.8 GB", "truncated or corrupted"],
    ),
    "fifo-instead-of-file": (
        lambda d: os.mkfifo(d / "d.npz") or d / "d.npz",
        ["FIFO", "not a regular file"],
    ),
    # data whose meaning would silently change
    "integer-train-labels-fractional-test-labels": (
        lambda d: npz_with(d / "d.npz", y_test=lambda a: a + 0.5),
        ["y_train", "integer class labels", "y_test", "fractional"],
    ),
    "integer-column-of-shape-n-1": (
        lambda d: npz_with(d / "d.npz", y_train=lambda a: a.reshape(-1, 1)),
        ["y_train", "(40, 1)", "ambiguous", "1-D"],
    ),
    "one-class-only": (
        lambda d: npz_with(
            d / "d.npz",
            y_train=np.zeros(40, int),
            y_val=np.zeros(10, int),
            y_test=np.zeros(10, int),
        ),
        ["y_train", "only class 0", ">= 2 classes"],
    ),
    "empty-test-split": (
        lambda d: npz_with(d / "d.npz", X_test=np.zeros((0, 2)), y_test=np.zeros(0, int)),
        ["X_test", "0 rows", "null"],
    ),
    "beyond-float32": (
        lambda d: npz_with(d / "d.npz", X_val=lambda a: a * 1e300),
        ["X_val", "float32 range", "--dtype float64"],
    ),
}


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_bad_data_file_is_refused_naming_the_file(case, tmp_path, capsys):
    make, needles = FILE_CASES[case]
    (tmp_path / "in").mkdir()
    path = make(tmp_path / "in")
    before = snapshot(tmp_path)
    out = tmp_path / "out" / "run.json"
    status = main(["train", "--data", str(path), "--epochs", "1", "--output", str(out)])
    _, err = capsys.readouterr()
    assert snapshot(tmp_path) == before  # nothing written, nothing damaged
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), err
    assert str(path) in lines[0]
    missing = [n for n in needles if n not in lines[0]]
    assert not missing, f"message lacks {missing}: {lines[0]}"
    assert not out.exists()
    assert not (tmp_path / "in" / "marker").exists()  # the pickle payload never ran


def snapshot(folder: Path) -> dict:
    """Every path under `folder` with its type, mtime and (for regular files) its bytes."""
    import stat as _stat

    out = {}
    for p in sorted(folder.rglob("*")):
        st = os.lstat(p)
        data = p.read_bytes() if _stat.S_ISREG(st.st_mode) else None
        out[str(p.relative_to(folder))] = (_stat.S_IFMT(st.st_mode), st.st_mtime_ns, data)
    return out


def test_a_huge_declared_size_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    """Arrays whose declared size (as float64) exceeds the limit are refused from the headers,
    with the size and the limit; the limit is the memory (or NNGRID_MAX_DATA_BYTES)."""
    path = npz_with(tmp_path / "d.npz")
    monkeypatch.setenv("NNGRID_MAX_DATA_BYTES", "1000")
    loads = []
    monkeypatch.setattr(np, "load", lambda *a, **k: loads.append(a))  # must never be reached
    out = tmp_path / "run.json"
    status = main(["train", "--data", str(path), "--epochs", "1", "--output", str(out)])
    _, err = capsys.readouterr()
    assert status == 2 and not out.exists() and loads == []
    assert err.count("\n") == 1 and str(path) in err, err
    from nngrid.io import human_bytes

    declared = human_bytes(8 * sum(a.size for a in good_arrays().values()))
    assert f"declares {declared}" in err and "limit of 1.0 kB" in err, err
    assert "NNGRID_MAX_DATA_BYTES" in err, err


def test_a_fifo_as_data_never_blocks(tmp_path):
    """`--data` naming a FIFO is refused from its file type; nothing ever opens it (opening a
    FIFO for reading blocks until a writer comes)."""
    fifo = tmp_path / "d.npz"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "nngrid", "train", "--data", str(fifo), "--epochs", "1"],
        capture_output=True, text=True, timeout=60, env=local_env(),
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "FIFO" in proc.stderr, proc.stderr


def _device_like_dev_null(path: Path) -> Path:
    """A character device with /dev/null's numbers, made in the test folder (root only)."""
    import stat as _stat

    rdev = os.stat("/dev/null").st_rdev
    os.mknod(path, 0o666 | _stat.S_IFCHR, rdev)
    return path


# id -> (make the --output target in a folder -> its path (as text), substrings of the message)
OUTPUT_CASES = {
    "device-node": (lambda d: str(_device_like_dev_null(d / "null")), ["character device"]),
    "symlink-to-a-device": (
        lambda d: (d / "link").symlink_to(_device_like_dev_null(d / "null")) or str(d / "link"),
        ["character device"],
    ),
    "fifo": (lambda d: os.mkfifo(d / "pipe") or str(d / "pipe"), ["FIFO"]),
    "folder": (lambda d: (d / "sub").mkdir() or str(d / "sub"), ["a folder"]),
    "trailing-slash": (lambda d: str(d / "o.json") + "/", ["ends in '/'"]),
    "empty-path": (lambda d: "", ["empty"]),
    "the-data-file-itself": (lambda d: str(d / "d.npz"), ["--data", "destroy"]),
    "the-data-file-through-a-symlink": (
        lambda d: (d / "alias.npz").symlink_to(d / "d.npz") or str(d / "alias.npz"),
        ["--data", "destroy"],
    ),
}


@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_output_that_is_not_a_regular_file_is_refused(case, tmp_path, capsys):
    """`--output` onto a device, FIFO, folder, '', 'x/' or an input file: exit 2, one line, and
    every file around untouched (the device node stays a device: as root the rename would
    replace it)."""
    if case in ("device-node", "symlink-to-a-device") and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    make, needles = OUTPUT_CASES[case]
    data = npz_with(tmp_path / "d.npz")
    target = make(tmp_path)
    before = snapshot(tmp_path)
    status = main(["train", "--data", str(data), "--epochs", "1", "--hidden", "2",
                   "--output", target])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 2 and out == "", err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nngrid: error: --output"), err
    missing = [n for n in needles if n not in lines[0]]
    assert not missing, f"message lacks {missing}: {lines[0]}"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["device-node", "fifo", "trailing-slash", "empty-path"])
def test_data_command_output_is_checked_too(case, tmp_path, capsys):
    if case == "device-node" and os.geteuid() != 0:
        pytest.skip("mknod needs root")
    make, needles = OUTPUT_CASES[case]
    target = make(tmp_path)
    before = snapshot(tmp_path)
    status = main(["data", "--dataset", "moons", "--output", target])
    _, err = capsys.readouterr()
    assert status == 2 and err.count("\n") == 1 and all(n in err for n in needles), err
    assert snapshot(tmp_path) == before


def test_a_write_error_on_stdout_is_one_line(tmp_path):
    """`nngrid list > /dev/full`: exit 1 (an I/O error), one line, no traceback."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "nngrid", "list"],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=60, env=local_env(),
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("nngrid: error: cannot write to stdout: No space left")


# ------------------------------------------------------------------------------------------
# Plugins: checked when loaded (CLI, config check and training jobs share nngrid.plugins)
# ------------------------------------------------------------------------------------------

_ACT = "from nngrid.core.activations import ACTIVATIONS, Activation\nimport numpy as np\n"

# id -> (plugin module source, substrings of the one-line message besides the module's name)
PLUGIN_CASES = {
    "activation-derivative-sign-flipped": (
        _ACT + "@ACTIVATIONS.register('badtanh')\nclass T(Activation):\n"
        "    def forward(self, z, out=None):\n        return np.tanh(z, out=out)\n"
        "    def derivative(self, z):\n        return np.tanh(z) ** 2 - 1\n",
        ["activation 'badtanh'", "finite difference"],
    ),
    "activation-forward-ignores-out": (
        _ACT + "@ACTIVATIONS.register('outless')\nclass T(Activation):\n"
        "    def forward(self, z, out=None):\n        return np.tanh(z)\n"
        "    def derivative(self, z):\n        return 1 - np.tanh(z) ** 2\n",
        ["activation 'outless'", "written into out"],
    ),
    "activation-without-forward": (
        _ACT + "@ACTIVATIONS.register('noforward')\nclass T(Activation):\n"
        "    def derivative(self, z):\n        return np.ones_like(z)\n",
        ["activation 'noforward'", "no forward"],
    ),
    "built-in-replaced-behind-the-registry": (
        _ACT + "class Evil(Activation):\n    def forward(self, z, out=None):\n"
        "        return np.multiply(z, 0, out=out)\nACTIVATIONS._entries['relu'] = Evil\n",
        ["activation 'relu'", "replaced or changed"],
    ),
    "built-in-method-patched": (
        _ACT + "ACTIVATIONS.get('tanh').forward = lambda self, z, out=None: z\n",
        ["activation 'tanh'", "replaced or changed"],
    ),
    "built-in-name-registered-again": (
        _ACT + "@ACTIVATIONS.register('relu')\nclass R(Activation):\n"
        "    def forward(self, z, out=None):\n        return z\n",
        ["'relu' is registered twice"],
    ),
    "loss-gradient-halved": (
        "from nngrid.core.losses import LOSSES, Loss\nimport numpy as np\n"
        "@LOSSES.register('halfmse')\nclass L(Loss):\n    task = 'regression'\n"
        "    def value(self, out, y):\n        return 0.5 * ((out - y) ** 2).sum(-1).mean(-1)\n"
        "    def value_and_grad(self, out, y):\n"
        "        return self.value(out, y), 0.5 * (out - y) / out.shape[1]\n",
        ["loss 'halfmse'", "gradient", "finite difference"],
    ),
    "regularizer-gradient-wrong": (
        "from nngrid.core.regularizers import REGULARIZERS, Regularizer\nimport numpy as np\n"
        "@REGULARIZERS.register('badl2')\nclass B(Regularizer):\n"
        "    def __init__(self, strength=0.1):\n        self.strength = strength\n"
        "    def penalty(self, W):\n        return self.strength * (W ** 2).sum(axis=(1, 2))\n"
        "    def add_grad(self, W, G):\n        G += self.strength * W\n        return G\n",
        ["regularizer 'badl2'", "add_grad", "finite difference"],
    ),
    "optimizer-that-ascends": (
        "from nngrid.core.optim import OPTIMIZERS, Optimizer\n"
        "@OPTIMIZERS.register('ascent')\nclass A(Optimizer):\n"
        "    def __init__(self, lr=0.1):\n        super().__init__(lr)\n"
        "    def _init_state(self, p):\n        return {}\n"
        "    def _update(self, p, g, state):\n        p += 0.1 * g\n",
        ["optimizer 'ascent'", "descend"],
    ),
    "layer-input-gradient-sign-flipped": (
        "from nngrid.core.layers import LAYERS, Layer\nimport numpy as np\n"
        "@LAYERS.register('cube')\nclass Cube(Layer):\n"
        "    def build(self, shape, net):\n        return shape\n"
        "    def forward(self, X, buf, keep):\n        self.X = X.copy()\n        return X ** 3\n"
        "    def backward(self, dY, buf, need_dx):\n"
        "        return -3 * self.X ** 2 * dY if need_dx else None\n",
        ["layer 'cube'", "gradient", "finite difference"],
    ),
    "import-error": ("raise RuntimeError('broken on purpose')\n", ["broken on purpose"]),
}


def plugin_env(tmp_path, source, name="plug"):
    (tmp_path / f"{name}.py").write_text(source)
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return local_env(PYTHONPATH=path, NNGRID_PLUGINS=name)


@pytest.mark.parametrize("case", list(PLUGIN_CASES))
def test_a_bad_plugin_is_refused_naming_it(case, tmp_path):
    """A plugin whose component fails its finite-difference (or descent) check, has no forward,
    or changes a built-in behind the registry's back: exit 2, one line naming the plugin and the
    component, nothing trained or written (a subprocess: a refused plugin has already run)."""
    source, needles = PLUGIN_CASES[case]
    env = plugin_env(tmp_path, source)
    proc = subprocess.run(
        [sys.executable, "-m", "nngrid", "train", *SMALL, "--output", "o.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), proc.stderr
    missing = [n for n in ["'plug'", *needles] if n not in lines[0]]
    assert not missing, f"message lacks {missing}: {lines[0]}"
    assert not (tmp_path / "o.json").exists()


def test_a_correct_plugin_passes_its_checks(tmp_path):
    """The checks do not refuse correct components (the negative cases above could pass by
    refusing everything): the sign-flip case with the sign fixed, the halved loss gradient
    doubled back, and a correct optimizer."""
    fixed = (
        PLUGIN_CASES["activation-derivative-sign-flipped"][0].replace(
            "** 2 - 1", "* 0 + 1 - np.tanh(z) ** 2"
        )
        + PLUGIN_CASES["loss-gradient-halved"][0].replace("0.5 * (out - y)", "(out - y)")
        + PLUGIN_CASES["optimizer-that-ascends"][0].replace("p += 0.1 * g", "p -= 0.1 * g")
        + PLUGIN_CASES["layer-input-gradient-sign-flipped"][0].replace("-3 * self", "3 * self")
        + "print('hello from the plugin')\n"
    )
    env = plugin_env(tmp_path, fixed)
    proc = subprocess.run(
        [sys.executable, "-m", "nngrid", "list", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)  # the plugin's print did not corrupt the JSON ...
    assert "hello from the plugin" in proc.stderr  # ... it went to stderr
    assert {"badtanh"} <= set(table["activations"]) and "halfmse" in table["losses"]
    assert "ascent" in table["optimizers"] and "cube" in table["layers"]


def test_the_config_check_refuses_a_bad_plugin(tmp_path, monkeypatch):
    """The workflow's config check loads plugins through the same checks."""
    source = PLUGIN_CASES["activation-derivative-sign-flipped"][0].replace("badtanh", "cfgtanh")
    (tmp_path / "cfgplug.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NNGRID_PLUGINS", "cfgplug")
    with pytest.raises(NngridError, match=r"plugin 'cfgplug': activation 'cfgtanh' fails"):
        check_config(copy.deepcopy(VALID))
    from nngrid.core.activations import ACTIVATIONS

    assert "cfgtanh" not in ACTIVATIONS  # the refused plugin's entry was taken back


# ------------------------------------------------------------------------------------------
# Result files read by the collection (python -m nngrid.study.tables)
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def job_result(tmp_path_factory) -> dict:
    """One real training job result (python -m nngrid.study.protocol on a tiny dataset)."""
    from nngrid.study import protocol

    folder = tmp_path_factory.mktemp("job")
    data = npz_with(folder / "d.npz")
    spec = {
        "axes": {"study": "s", "dataset": "d"},
        "activations": ["relu"],
        "regularizers": [{"label": "none", "kind": "none", "params": {}}],
        "optimizers": [{"name": "sgd", "lr_grid": [0.1, 0.2], "default_lr": 0.1, "params": {}}],
        "seeds": [0],
        "training": {"hidden": [2], "epochs": 1},
    }
    out = folder / "r.json"
    args = ["--data", str(data), "--spec", json.dumps(spec), "--output", str(out), "--quiet"]
    assert protocol.main(args) == 0
    return json.loads(out.read_text())


def _row_edit(edit):
    def make(doc):
        doc = copy.deepcopy(doc)
        edit(doc["rows"][0])
        return json.dumps(doc)

    return make


# id -> the file's text made from a real result, substrings of the message besides the file
RESULT_CASES = {
    "truncated": (lambda doc: json.dumps(doc)[:500], ["not valid JSON", "delete it"]),
    "binary-junk": (lambda doc: "\x00\x01\x02", ["not valid JSON"]),
    "not-an-object": (lambda doc: "[]", ["not a training job result"]),
    "no-rows": (lambda doc: json.dumps({"spec": doc["spec"]}), ["not a training job result"]),
    "row-not-an-object": (lambda doc: json.dumps({**doc, "rows": [1, 2]}), ["row 0"]),
    "empty-row": (lambda doc: json.dumps({**doc, "rows": [{}]}), ["row 0"]),
    "row-without-a-metric": (_row_edit(lambda r: r.pop("test_accuracy")), ["test_accuracy"]),
    "history-not-a-list": (_row_edit(lambda r: r.update(history=5)), ["history"]),
    "epoch-as-text": (_row_edit(lambda r: r.update(diverged_epoch="x")), ["diverged_epoch"]),
    # still a valid result, but not what the job wrote: the job's checksum tells
    "metric-edited-by-hand": (
        _row_edit(lambda r: r.update(test_accuracy=0.999)),
        ["does not match its sha256 checksum", "snakemake --forcerun"],
    ),
    "checksum-removed": (
        lambda doc: json.dumps({k: v for k, v in doc.items() if k != "sha256"}),
        ["has no sha256 checksum", "snakemake --forcerun"],
    ),
}


def test_a_real_result_is_collected(job_result, tmp_path, capsys):
    from nngrid.study import tables

    path = tmp_path / "r.json"
    path.write_text(json.dumps(job_result))
    assert tables.main(["--runs", str(path), "--out-dir", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "runs.parquet").exists()


@pytest.mark.parametrize("case", list(RESULT_CASES))
def test_bad_result_file_is_refused_naming_the_file(case, job_result, tmp_path, capsys):
    """A result file that is not what a training job writes stops the collection, in one line
    naming the file, before any table is written."""
    from nngrid.study import tables

    make, needles = RESULT_CASES[case]
    path = tmp_path / "runs" / "r.json"
    path.parent.mkdir()
    path.write_text(make(job_result))
    out = tmp_path / "tables"
    status = tables.main(["--runs", str(path), "--out-dir", str(out)])
    _, err = capsys.readouterr()
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), err
    assert str(path) in lines[0]
    missing = [n for n in needles if n not in lines[0]]
    assert not missing, f"message lacks {missing}: {lines[0]}"
    assert not out.exists()


def test_the_catalogue_is_large_enough():
    """The issue asks for at least 20 distinct bad config values and command-line arguments."""
    assert len(CONFIG_CASES) >= 20 and len(CLI_CASES) + len(FILE_CASES) >= 20
    assert len(RESULT_CASES) >= 5
