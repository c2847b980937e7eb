"""The command line: end-to-end runs, reproducible JSON, one-line errors, list, plugins, imports."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from nngrid import datasets
from nngrid.cli import main
from nngrid.core.registry import Registry
from nngrid.core.train import RECORD_KEYS, TIMING_KEYS

SMALL = ["--dataset", "moons", "--dataset-params", "n_samples=120", "--hidden", "8",
         "--epochs", "3", "--batch-size", "16", "--quiet"]  # fmt: skip


def run(argv, capsys):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def untimed(rec):
    rec = {k: v for k, v in rec.items() if k not in TIMING_KEYS}
    rec["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in rec["history"]]
    return rec


def test_train_writes_one_record(tmp_path, capsys):
    out = tmp_path / "run.json"
    status, _, err = run(["train", *SMALL, "--output", str(out)], capsys)
    assert status == 0, err
    rec = json.loads(out.read_text())
    assert set(rec) == set(RECORD_KEYS)
    assert rec["config"]["dataset"] == "moons" and rec["config"]["hidden"] == [8]
    assert rec["epochs"] == 3


def test_seeds_times_lrs_make_the_replicas(tmp_path, capsys):
    out = tmp_path / "runs.json"
    argv = ["train", *SMALL, "--seed", "0,1", "--lr", "0.1,0.01,0.001", "--output", str(out)]
    status, _, err = run(argv, capsys)
    assert status == 0, err
    recs = json.loads(out.read_text())
    assert isinstance(recs, list) and len(recs) == 6
    assert [(r["lr"], r["seed"]) for r in recs] == [
        (lr, s) for lr in (0.1, 0.01, 0.001) for s in (0, 1)
    ]
    assert [r["replica"] for r in recs] == list(range(6))


def test_same_command_twice_gives_the_same_json_apart_from_timing(tmp_path, capsys):
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    for out in outs:
        argv = ["train", *SMALL, "--seed", "0,1", "--regularizer", "dropout", "--rate", "0.2",
                "--output", str(out)]  # fmt: skip
        assert run(argv, capsys)[0] == 0
    a, b = (json.loads(o.read_text()) for o in outs)
    assert [untimed(r) for r in a] == [untimed(r) for r in b]


def test_npz_data_and_flags_reach_the_record(tmp_path, capsys):
    path = tmp_path / "d.npz"
    datasets.save_dataset(path, datasets.build("xor", seed=1, n_samples=100))
    out = tmp_path / "r.json"
    argv = ["train", "--data", str(path), "--hidden", "4,4", "--activation", "tanh",
            "--optimizer", "sgd", "--lr", "0.05", "--momentum", "0.5", "--nesterov",
            "--regularizer", "l2", "--strength", "0.001", "--epochs", "2", "--batch-size", "full",
            "--dtype", "float64", "--target-accuracy", "0.5", "--schedule", "step",
            "--schedule-params", "step_size=1,gamma=0.5", "--quiet",
            "--output", str(out)]  # fmt: skip
    status, _, err = run(argv, capsys)
    assert status == 0, err
    cfg = json.loads(out.read_text())["config"]
    assert cfg["opt_params"]["momentum"] == 0.5 and cfg["opt_params"]["nesterov"] is True
    assert cfg["reg_params"] == {"strength": 0.001}
    assert cfg["dtype"] == "float64" and cfg["batch_size"] == "full"
    assert cfg["schedule_params"] == {"step_size": 1, "gamma": 0.5}


def test_progress_goes_to_stderr_one_line_per_epoch(capsys):
    argv = [a for a in SMALL if a != "--quiet"]
    status, out, err = run(["train", *argv], capsys)
    assert status == 0
    assert sum(line.startswith("epoch ") for line in err.splitlines()) == 3
    assert json.loads(out)["epochs"] == 3  # without --output the JSON goes to stdout


def bad_npz(tmp_path, key, change):
    """Save moons with array ``key`` replaced by ``change(array)`` (dropped when None)."""
    d = datasets.build("moons", seed=0, n_samples=60)
    d[key] = change(d[key])
    d = {k: v for k, v in d.items() if v is not None}
    path = tmp_path / "bad.npz"
    np.savez(path, **d)
    return str(path)


BAD = [
    (["--dataset", "moonz"], "moons"),
    (["--activation", "swoosh"], "relu"),
    (["--init", "zeros"], "he_uniform"),
    (["--optimizer", "adamax"], "adam"),
    (["--regularizer", "l3"], "elastic_net"),
    (["--schedule", "warm"], "cosine"),
    (["--lr", "0"], "learning rates must be > 0"),
    (["--lr", "-0.1"], "learning rates must be > 0"),
    (["--lr", "abc"], "not a number"),
    (["--regularizer", "dropout", "--rate", "1.0"], "[0, 1)"),
    (["--regularizer", "dropout", "--rate", "-0.1"], "[0, 1)"),
    (["--regularizer", "l2", "--rate", "0.5"], "--strength"),
    (["--strength", "0.1"], "regularizer 'none' takes no --strength"),
    (["--optimizer", "adam", "--momentum", "0.9"], "--betas"),
    (["--optimizer", "sgd", "--betas", "0.9,0.99"], "--momentum"),
    (["--betas", "0.9"], "two numbers"),
    (["--batch-size", "0"], "batch size"),
    (["--batch-size", "some"], "'full'"),
    (["--epochs", "0"], ">= 1"),
    (["--hidden", "8,x"], "not an integer"),
    (["--seed", "-1"], "seeds"),
    (["--dtype", "float16"], "float32"),
    (["--plugin", "no_such_module_xyz"], "no_such_module_xyz"),
]


@pytest.mark.parametrize("extra, needle", BAD)
def test_bad_flags_exit_2_with_one_line_and_no_output(tmp_path, capsys, extra, needle):
    out = tmp_path / "out.json"
    base = [a for a in SMALL if a not in extra[:1]]
    if extra[0] == "--dataset":
        base = SMALL[2:]
    status, stdout, err = run(["train", *base, *extra, "--output", str(out)], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nngrid: error: "), err
    assert needle in lines[0]
    assert not out.exists() and stdout == ""
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: str(p / "missing.npz"), "does not exist"),
        (lambda p: (p / "text.npz").write_text("not a zip") and str(p / "text.npz"), "npz"),
        (lambda p: bad_npz(p, "y_test", lambda a: None), "y_test"),
        (lambda p: bad_npz(p, "X_train", lambda a: np.where(a > 1, np.nan, a)), "NaN"),
        (lambda p: bad_npz(p, "y_train", lambda a: a[:5]), "entries"),
        (lambda p: bad_npz(p, "X_val", lambda a: np.zeros((len(a), 3))), "features"),
        (lambda p: bad_npz(p, "y_val", lambda a: np.full(len(a), 7)), "label"),
        (lambda p: bad_npz(p, "X_test", lambda a: a[:, 0]), "2-D"),
    ],
)
def test_bad_data_files_exit_2(tmp_path, capsys, make, needle):
    path = make(tmp_path)
    out = tmp_path / "sub" / "out.json"
    status, _, err = run(["train", "--data", path, "--epochs", "1", "--output", str(out)], capsys)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("nngrid: error: ")
    assert needle in err
    assert not out.exists()


def test_missing_source_and_unknown_command_are_usage_errors(capsys):
    for argv in (["train"], ["fly"], []):
        status, _, err = run(argv, capsys)
        assert status == 2 and err.startswith("nngrid: error: ")
        assert len(err.strip().splitlines()) == 1


def all_registries() -> dict[str, Registry]:
    from nngrid.plugins import registries as _registries

    return _registries()


def test_list_shows_every_registered_name(capsys):
    status, out, _ = run(["list"], capsys)
    assert status == 0
    for kind, reg in all_registries().items():
        assert f"{kind}:" in out
        for name in reg.names():
            assert f"  {name}" in out
    assert "strength=0.0001" in out and "patience=10" in out
    status, out, _ = run(["list", "--json"], capsys)
    table = json.loads(out)
    assert table["optimizers"]["adam"]["betas"] == [0.9, 0.999]


def test_help_explains_the_flags(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--dataset", "--data", "--hidden", "--activation", "--init", "--regularizer",
                 "--strength", "--rate", "--p", "--l1-ratio", "--max-norm", "--patience",
                 "--optimizer", "--lr", "--momentum", "--dampening", "--alpha", "--eps",
                 "--betas", "--weight-decay", "--nesterov", "--schedule", "--batch-size",
                 "--epochs", "--seed", "--dtype", "--target-accuracy", "--output", "--quiet",
                 "--plugin"):  # fmt: skip
        assert flag in text


PLUGIN = textwrap.dedent(
    """
    import numpy as np
    from nngrid.core.activations import ACTIVATIONS, Activation

    @ACTIVATIONS.register("{name}")
    class Cube(Activation):
        def forward(self, z, out=None):
            return np.multiply(np.tanh(z), 1.0, out=out)
        def derivative(self, z):
            return 1.0 - np.tanh(z) ** 2
    """
)


def python(args, tmp_path, env_extra=None):
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])  # keeps plugins'
    env = dict(os.environ, PYTHONPATH=path, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=tmp_path, env=env
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_plugins_add_choices(tmp_path, how):
    name = f"plug_{how}"
    (tmp_path / f"{name}.py").write_text(PLUGIN.format(name=f"tanh_{how}"))
    args = ["-m", "nngrid", "train", *SMALL, "--activation", f"tanh_{how}", "--output", "o.json"]
    if how == "flag":
        proc = python([*args[:2], "--plugin", name, *args[2:]], tmp_path)
    else:
        proc = python(args, tmp_path, {"NNGRID_PLUGINS": name})
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "o.json").read_text())["config"]["activation"] == f"tanh_{how}"


def test_python_m_nngrid_trains_importing_numpy_only(tmp_path):
    probe = textwrap.dedent(
        """
        import sys
        from nngrid.cli import main
        status = main(sys.argv[1:])
        heavy = sorted({m.split('.')[0] for m in sys.modules}
                       & {'pandas', 'sklearn', 'scipy', 'matplotlib', 'seaborn', 'torch',
                          'mnist1d', 'snakemake', 'yaml'})
        print('HEAVY', ','.join(heavy), file=sys.stderr)
        sys.exit(status)
        """
    )
    (tmp_path / "probe.py").write_text(probe)
    proc = python(["probe.py", "train", *SMALL, "--output", "o.json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY \n" in proc.stderr  # nothing heavy imported
    proc = python(["-m", "nngrid", "train", *SMALL], tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["epochs"] == 3
    proc = python(["-m", "nngrid", "train", "--dataset", "moons", "--lr", "0"], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_data_command_writes_a_loadable_npz(tmp_path, capsys):
    out = tmp_path / "d.npz"
    status, _, err = run(
        ["data", "--dataset", "circles", "--seed", "2", "--output", str(out)], capsys
    )
    assert status == 0, err
    loaded = datasets.load_dataset(out)
    ref = datasets.build("circles", seed=2)
    for k, v in ref.items():
        np.testing.assert_array_equal(loaded[k], v)


@pytest.mark.parametrize(
    "y_kind, task",
    [("integer", "classification"), ("whole-floats", "classification"),
     ("fractional", "regression"), ("column", "regression")],
)  # fmt: skip
def test_the_task_the_data_was_taken_as_is_said_on_stderr_and_in_the_record(
    tmp_path, capsys, y_kind, task
):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    labels = np.arange(50) % 3
    y = {
        "integer": labels,
        "whole-floats": labels.astype(float),
        "fractional": X[:, 0] * 0.5,
        "column": (X[:, :1] * 0.5),
    }[y_kind]
    path = tmp_path / "d.npz"
    np.savez(path, X_train=X[:30], y_train=y[:30], X_test=X[30:], y_test=y[30:])
    out = tmp_path / "r.json"
    status, _, err = run(["train", "--data", str(path), "--hidden", "4", "--epochs", "1",
                          "--output", str(out)], capsys)  # fmt: skip
    assert status == 0, err
    said = [ln for ln in err.splitlines() if ln.startswith(f"data {path} taken as ")]
    assert len(said) == 1 and said[0].split(" taken as ")[1].startswith(task), err
    assert json.loads(out.read_text())["config"]["task"] == task


def test_output_onto_an_existing_regular_file_replaces_it(tmp_path, capsys):
    """The refusals of non-regular targets leave the ordinary case alone: a regular file (and a
    symbolic link to one) given as --output is replaced by the new record."""
    out = tmp_path / "run.json"
    out.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(out)
    for target in (out, link):
        status, _, err = run(["train", *SMALL, "--epochs", "1", "--output", str(target)], capsys)
        assert status == 0, err
        assert json.loads(target.read_text())["epochs"] == 1


# ------------------------------------------------------------------ layers and weight files
SEQ_LAYERS = "[{conv1d: {channels: 3, kernel: 3, stride: 2}}, {gru: {hidden: 2}}]"


def sequence_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 30), ("val", 10), ("test", 10)):
        arrays[f"X_{part}"] = rng.standard_normal((n, 9, 2))
        arrays[f"y_{part}"] = np.arange(n) % 3
    path = tmp_path / "seq.npz"
    np.savez(path, **arrays)
    return path


def test_layers_trains_a_sequence_net_and_weights_round_trip(tmp_path, capsys):
    data = sequence_npz(tmp_path)
    base = ["train", "--data", str(data), "--layers", SEQ_LAYERS, "--epochs", "2", "--quiet"]
    status, _, err = run(
        [*base, "--seed", "0,1", "--save-weights", str(tmp_path / "w.npz"), "--output",
         str(tmp_path / "two.json")],
        capsys,
    )  # fmt: skip
    assert status == 0, err
    two = json.loads((tmp_path / "two.json").read_text())
    assert two[0]["config"]["layers"][1] == {
        "gru": {"hidden": 2, "bidirectional": False, "sequences": False}
    }
    saved = dict(np.load(tmp_path / "w.npz"))
    assert {k.split(".", 1)[0] for k in saved} == {"replica_0", "replica_1"}
    assert saved["replica_1.layers.0.weight"].shape == (3, 2, 3)  # torch's (out, in, kernel)
    assert saved["replica_0.layers.2.weight"].shape == (3, 2)  # the output layer, last
    one = {k.split(".", 1)[1]: v for k, v in saved.items() if k.startswith("replica_1.")}
    np.savez(tmp_path / "one.npz", **one)
    # start from replica 1's trained weights and train one epoch with a negligible lr: the
    # weights stay those of the file (not seed 5's draws), so the file was read
    status, _, err = run(
        [*base, "--seed", "5", "--init-from", str(tmp_path / "one.npz"), "--save-weights",
         str(tmp_path / "again.npz"), "--output", str(tmp_path / "again.json"), "--lr", "1e-12"],
        capsys,
    )  # fmt: skip
    assert status == 0, err
    again = dict(np.load(tmp_path / "again.npz"))
    assert set(again) == set(one)
    for k, v in one.items():
        np.testing.assert_allclose(again[k], v, rtol=1e-6, atol=1e-9)
    rec = json.loads((tmp_path / "again.json").read_text())
    assert rec["config"]["init_from"] == str(tmp_path / "one.npz")


@pytest.mark.parametrize(
    ("layers", "needle"),
    [
        ("[conv3d]", "layer 0: unknown kind 'conv3d'; valid choices: dense, conv1d"),
        ("[{gru: {hiden: 2}}]", "layer 0 (gru): unknown key 'hiden'; valid keys: hidden"),
        ("[{conv1d: {channels: 2, kernel: 30}}, flatten]", "layer 0 (conv1d): kernel 30"),
        ("[{conv1d: {channels: 2, kernel: 3}}]", "layer 1 (dense, the output layer): its input"),
        ("[{dense: {units: 2}", "--layers: not YAML flow text"),
        ("{dense: 2}", "--layers: must be a non-empty list"),
    ],
)
def test_bad_layer_specs_exit_2_with_one_line(tmp_path, capsys, layers, needle):
    data = sequence_npz(tmp_path)
    argv = ["train", "--data", str(data), "--layers", layers, "--epochs", "1", "--quiet"]
    status, out, err = run(argv, capsys)
    assert status == 2 and out == ""
    assert needle in err and err.count("\n") == 1, err


def test_mismatching_weight_file_exits_2_naming_the_first_mismatch(tmp_path, capsys):
    data = sequence_npz(tmp_path)
    weights = {
        "layers.0.weight": np.zeros((3, 2, 4)),  # kernel 4, the spec says 3
        "layers.0.bias": np.zeros(3),
    }
    np.savez(tmp_path / "bad.npz", **weights)
    argv = ["train", "--data", str(data), "--layers", SEQ_LAYERS, "--epochs", "1", "--quiet"]
    status, _, err = run([*argv, "--init-from", str(tmp_path / "bad.npz")], capsys)
    assert status == 2
    assert (
        "init_from: layers.0.weight has shape (3, 2, 4) but layer 0 (conv1d) needs (3, 2, 3)" in err
    )


def test_help_says_how_several_replicas_are_saved(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "replica_<r>." in out and "--layers SPEC" in out and "--init-from FILE.npz" in out


def test_save_weights_may_not_overwrite_an_input_or_a_device(tmp_path, capsys):
    data = sequence_npz(tmp_path)
    before = data.read_bytes()
    base = ["train", "--data", str(data), "--layers", SEQ_LAYERS, "--epochs", "1", "--quiet"]
    status, out, err = run([*base, "--save-weights", str(data)], capsys)
    assert status == 2 and out == ""
    assert "--save-weights" in err and "--data input file" in err and len(err.splitlines()) == 1
    assert data.read_bytes() == before
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    status, _, err = run([*base, "--save-weights", str(folder)], capsys)
    assert status == 2 and "--save-weights" in err and len(err.splitlines()) == 1
    assert folder.is_dir() and not any(folder.iterdir())


def test_clip_norm_reaches_the_record_and_bad_values_are_refused(tmp_path, capsys):
    data = sequence_npz(tmp_path)
    base = ["train", "--data", str(data), "--layers", SEQ_LAYERS, "--epochs", "1", "--quiet"]
    status, out, err = run([*base, "--clip-norm", "0.5"], capsys)
    assert status == 0, err
    assert json.loads(out)["config"]["clip_norm"] == 0.5
    status, out, err = run([*base, "--clip-norm", "-1"], capsys)
    assert status == 2 and out == "" and "clip_norm" in err and len(err.splitlines()) == 1


def test_memory_estimate_covers_layered_networks(tmp_path, capsys):
    data = sequence_npz(tmp_path)
    huge = "[{conv1d: {channels: 100000000, kernel: 3}}, flatten]"
    argv = ["train", "--data", str(data), "--layers", huge, "--epochs", "1", "--quiet"]
    status, out, err = run(argv, capsys)
    assert status == 2 and out == ""
    assert "memory" in err and "--layers" in err and len(err.splitlines()) == 1
