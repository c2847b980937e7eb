"""The architectures arm: config checks, the shuffled control, the gradient through time, the
job runner (nngrid.study.experiments.architectures) and its workflow helpers."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from nngrid.core.network import Network
from nngrid.core.train import replica_rngs
from nngrid.errors import NngridError
from nngrid.study import costs, jobs
from nngrid.study.config import check_config
from nngrid.study.experiments import load, save
from nngrid.study.experiments.architectures import (
    GATES,
    check_fit,
    family,
    grad_through_time,
    merge,
    run_architecture,
    steps_to_target,
    uses_activation,
)

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CNN = [{"conv1d": {"channels": 4, "kernel": 3, "stride": 2, "padding": 1}}, "flatten"]


def quick():
    return yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())


def sequences(n=60, L=8, seed=0):
    """Two classes of noisy sequences: a bump early or late (order matters)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(0, 0.3, (n, L))
    X[y == 0, 1] += 2.0
    X[y == 1, L - 2] += 2.0
    idx = rng.permutation(n)
    X, y = X[idx], y[idx].astype(np.int64)
    a, b = n // 2, 3 * n // 4
    return {
        "X_train": X[:a],
        "y_train": y[:a],
        "X_val": X[a:b],
        "y_val": y[a:b],
        "X_test": X[b:],
        "y_test": y[b:],
    }


# -- layer kinds and fit -----------------------------------------------------------------------


def test_family_and_activation_use_follow_the_layer_kinds():
    assert family([{"dense": {"units": 4}}]) == "mlp"
    assert family(CNN) == "cnn"
    assert family([{"rnn": {"hidden": 3}}]) == "rnn"
    assert family([{"gru": {"hidden": 3, "sequences": True}}, "flatten"]) == "gated"
    assert uses_activation(CNN) and uses_activation([{"rnn": {"hidden": 3}}])
    assert not uses_activation([{"lstm": {"hidden": 3}}])


def test_check_fit_refuses_sequence_layers_on_points_and_long_kernels():
    check_fit("mlp", [{"dense": {"units": 8}}], "moons", "moons")
    check_fit("mlp", [{"dense": {"units": 8}}], "mnist1d", "mnist1d")
    check_fit("cnn", CNN, "mnist1d", "mnist1d")
    with pytest.raises(NngridError) as err:
        check_fit("cnn", CNN, "moons", "moons")
    msg = str(err.value)
    assert "'cnn'" in msg and "'moons'" in msg and "conv1d" in msg and "\n" not in msg
    with pytest.raises(NngridError, match=r"'wide'.*'mnist1d'.*kernel"):
        check_fit("wide", [{"conv1d": {"channels": 2, "kernel": 50}}], "mnist1d", "mnist1d")
    with pytest.raises(NngridError, match=r"'odd'.*unknown kind 'conv2d'"):
        check_fit("odd", [{"conv2d": {"channels": 2}}], "mnist1d", "mnist1d")


# -- the shuffled control ----------------------------------------------------------------------


def test_mnist1d_shuffle_positions_is_one_fixed_permutation_of_train_and_test():
    from nngrid.datasets import DATASETS

    plain = DATASETS.create("mnist1d").generate_with_test(None)
    shuf = DATASETS.create("mnist1d", shuffle_positions=True).generate_with_test(None)
    X, _, Xt, yt = plain
    S, _, St, yst = shuf
    L = X.shape[1]
    # recover the permutation from one row, then it must explain every row of both splits
    perm = np.array([int(np.flatnonzero(np.isclose(X[0], S[0, j]))[0]) for j in range(L)])
    assert sorted(perm) == list(range(L)) and not np.array_equal(perm, np.arange(L))
    np.testing.assert_array_equal(S, X[:, perm])
    np.testing.assert_array_equal(St, Xt[:, perm])
    np.testing.assert_array_equal(yst, yt)
    again = DATASETS.create("mnist1d", shuffle_positions=True).generate_with_test(None)
    np.testing.assert_array_equal(again[0], S)
    other = DATASETS.create("mnist1d", shuffle_positions=True, permutation_seed=1)
    assert not np.array_equal(other.generate_with_test(None)[0], S)
    with pytest.raises(NngridError, match="shuffle_positions"):
        DATASETS.create("mnist1d", shuffle_positions="yes")


# -- gradient through time ---------------------------------------------------------------------


def _torch_dh_norms(net, X, y, act, sequences):
    """||dL/dh_t|| of an unrolled torch Elman RNN with the same weights (float64)."""
    torch = pytest.importorskip("torch")
    sd = {k: torch.from_numpy(v).requires_grad_() for k, v in net.state_dict(0).items()}
    x = torch.from_numpy(X)
    f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[act]
    h = torch.zeros(X.shape[0], sd["layers.0.weight_hh_l0"].shape[0], dtype=torch.float64)
    hs = []
    for t in range(X.shape[1]):
        h = f(
            x[:, t, None] @ sd["layers.0.weight_ih_l0"].T
            + sd["layers.0.bias_ih_l0"]
            + h @ sd["layers.0.weight_hh_l0"].T
            + sd["layers.0.bias_hh_l0"]
        )
        h.retain_grad()
        hs.append(h)
    feats = torch.cat(hs, 1) if sequences else hs[-1]
    out = feats @ sd["layers.2.weight" if sequences else "layers.1.weight"].T
    out = out + sd["layers.2.bias" if sequences else "layers.1.bias"]
    torch.nn.functional.cross_entropy(out, torch.from_numpy(y)).backward()
    return np.array([float(h.grad.norm()) for h in hs])


@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
def test_dh_norms_equal_torch_autograd_through_time(act, seq):
    data = sequences()
    layers = [{"rnn": {"hidden": 5, "sequences": seq}}] + (["flatten"] if seq else [])
    net = Network(layers, (8, 1), 2, act, rngs=replica_rngs([3, 4])[0], dtype=np.float64)
    X, y = data["X_train"][:16], data["y_train"][:16]
    g = grad_through_time(net, X, y)
    assert g.shape == (2, 1, 8)
    want = _torch_dh_norms(net, X, y, act, seq)
    np.testing.assert_allclose(g[0, 0], want, rtol=1e-10, atol=1e-14)
    assert not net.layers[0].keep_dh_norms  # switched off again


def test_keeping_dh_norms_changes_no_gradient_and_is_off_by_default():
    data = sequences()
    layers = [{"rnn": {"hidden": 4, "bidirectional": True}}]
    net = Network(layers, (8, 1), 2, "tanh", rngs=replica_rngs([0])[0], dtype=np.float64)
    from nngrid.core.losses import LOSSES

    loss = LOSSES.create("softmax_cross_entropy")
    X, y = data["X_train"], data["y_train"]
    _, grad = loss.value_and_grad(net.forward(X, train=True), y)
    plain = net.backward(grad).copy()
    assert net.layers[0].dh_norms is None
    g = grad_through_time(net, X, y)
    np.testing.assert_array_equal(net.flat_grad, plain)
    assert g.shape == (1, 2, 8) and np.all(g > 0)


# -- the job runner ----------------------------------------------------------------------------


def test_run_architecture_tunes_each_activation_and_records_curves_and_gradients():
    data = sequences()
    res = run_architecture(
        data,
        layers=[{"rnn": {"hidden": 4}}],
        activations=["tanh", "relu"],
        lrs=[1e-3, 1e-2, 1e-1],
        seeds=[0, 1],
        tune_seeds=2,
        extend=1,
        epochs=3,
        batch_size=10,
        target=0.6,
        probe=12,
        axes={"study": "s", "dataset": "d", "architecture": "rnn", "shuffled": False},
    )
    recs = res["records"]
    assert [(r["activation"], r["seed"]) for r in recs] == [
        ("tanh", 0),
        ("tanh", 1),
        ("relu", 0),
        ("relu", 1),
    ]
    assert {r["family"] for r in recs} == {"rnn"}
    for r in recs:
        assert r["lr"] in (1e-4, 1e-3, 1e-2, 1e-1, 1.0) and r["steps_per_epoch"] == 3
        curve = [c for c in res["curves"] if c["activation"] == r["activation"]]
        curve = [c for c in curve if c["seed"] == r["seed"]]
        assert [c["epoch"] for c in curve] == [0, 1, 2, 3]
        i = next((i for i, c in enumerate(curve) if c["train_accuracy"] >= 0.6), None)
        if i is None:
            assert r["steps_to_target"] is None
        elif i == 0:
            assert r["steps_to_target"] == 0
        else:  # between the two evaluations that straddle the target, linearly
            (s0, a0), (s1, a1) = (
                (curve[j]["step"], curve[j]["train_accuracy"]) for j in (i - 1, i)
            )
            want = s0 + (0.6 - a0) / (a1 - a0) * (s1 - s0)
            assert s0 < r["steps_to_target"] <= s1
            assert r["steps_to_target"] == pytest.approx(want, rel=1e-12)
    g = res["grad_time"]
    assert len(g) == 2 * 2 * 2 * 8  # activations x stages x seeds x steps
    assert {x["stage"] for x in g} == {"init", "trained"}


def test_gated_units_are_one_cell_and_results_merge(tmp_path):
    data = sequences()
    kw = dict(lrs=[1e-2], seeds=[0], tune_seeds=1, extend=0, epochs=1, batch_size=10)
    gru = run_architecture(
        data, layers=[{"gru": {"hidden": 2}}], activations=["relu", "tanh"], **kw
    )
    assert [r["activation"] for r in gru["records"]] == [GATES]
    mlp = run_architecture(
        data, layers=[{"dense": {"units": 4}}], activations=["relu", "tanh"], **kw
    )
    assert mlp["grad_time"] == [] and len(mlp["records"]) == 2
    save(tmp_path / "a.npz", gru)
    save(tmp_path / "b.npz", mlp)
    both = merge([load(tmp_path / "a.npz"), load(tmp_path / "b.npz")])
    assert len(both["records"]) == 3 and len(both["grad_time"]) == len(gru["grad_time"])


# -- workflow helpers --------------------------------------------------------------------------


def test_quick_config_has_an_architectures_study_kept_out_of_the_grid():
    cfg = check_config(quick(), SCHEMA)
    grid = jobs.job_table(cfg)
    assert not grid["study"].str.startswith("architectures").any()
    arch = jobs.architecture_jobs(cfg)
    assert set(arch["study"]) == {"architectures", "architectures_shuffled"}
    assert len(arch) == sum(
        len(s["datasets"]) * len(s["architectures"]) * len(s["optimizers"])
        for s in cfg["studies"].values()
        if "architectures" in s
    )
    spec = jobs.architecture_spec(cfg, "architectures_shuffled", "mnist1d_shuffled", "cnn", "adam")
    assert spec["shuffled"] is True and spec["layers"] == cfg["architectures"]["cnn"]["layers"]
    assert spec["training"]["n_train"] == 300 and spec["optimizer"]["lr_grid"]["points"] == 2


def _bad(edit):
    cfg = quick()
    edit(cfg)
    with pytest.raises(NngridError) as err:
        check_config(copy.deepcopy(cfg), SCHEMA)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_config_refuses_bad_architectures_in_one_line():
    def conv_on_moons(cfg):
        cfg["studies"]["architectures"]["datasets"] = ["moons"]

    msg = _bad(conv_on_moons)
    assert "'cnn'" in msg and "'moons'" in msg and "studies.architectures" in msg

    def unknown_kind(cfg):
        cfg["architectures"]["cnn"]["layers"][0] = {"conv3d": {"channels": 2}}

    assert "architectures.cnn.layers" in _bad(unknown_kind)

    def unknown_key(cfg):
        cfg["architectures"]["rnn"]["layers"] = [{"rnn": {"hidden": 4, "cells": 2}}]

    assert "unknown key 'cells'" in _bad(unknown_key)

    def unnamed(cfg):
        cfg["studies"]["architectures"]["architectures"] = ["cnn", "transformer"]

    assert "transformer" in _bad(unnamed)

    def bad_clip(cfg):
        cfg["architectures"]["rnn_clip"]["clip_norm"] = 0

    assert "clip_norm" in _bad(bad_clip)


# -- figure 12 ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def arm():
    """A tiny architectures result: MLP, CNN, RNN and GRU on sequences, and a shuffled MLP."""
    data = sequences(n=80)
    kw = dict(lrs=[1e-2, 3e-2], seeds=[0, 1], tune_seeds=2, extend=0, epochs=3, batch_size=20)
    kw["target"] = 0.6
    parts = []
    for name, layers in [
        ("mlp", [{"dense": {"units": 6}}]),
        ("cnn", CNN),
        ("rnn", [{"rnn": {"hidden": 4}}]),
        ("gru", [{"gru": {"hidden": 3}}]),
    ]:
        for shuffled in (False, True) if name in ("mlp", "cnn") else (False,):
            axes = {"study": "s", "dataset": "d", "architecture": name, "shuffled": shuffled}
            parts.append(
                run_architecture(data, layers=layers, activations=["relu", "tanh"], axes=axes, **kw)
            )
    return merge(parts)


def test_figure12_is_deterministic_draws_every_panel_and_captions_numbers(arm, tmp_path):
    import matplotlib.figure

    from nngrid.study.claims import claims_table
    from nngrid.study.figures import blank_panels
    from nngrid.study.figures.make import make

    save(tmp_path / "arm.npz", arm)
    claims_table({"architectures": arm}).to_csv(tmp_path / "claims.csv", index=False)
    from nngrid.study.integrity import write_claims_stamp

    write_claims_stamp(tmp_path / "claims.csv", [tmp_path / "arm.npz"])
    blank = []
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        blank.extend(blank_panels(fig))
        return real(fig, *args, **kwargs)

    matplotlib.figure.Figure.savefig = spy
    try:
        digests = []
        for run in ("a", "b"):
            out = {
                key: str(tmp_path / run / f"fig12_{key}.png")
                for key in ("accuracy", "gradients", "curves")
            }
            out |= {f"{k}_caption": v.replace(".png", ".rst") for k, v in list(out.items())}
            make(
                "figure_architectures",
                {"experiment": str(tmp_path / "arm.npz"), "claims": str(tmp_path / "claims.csv")},
                out,
                {"order": {"activations": ["relu", "tanh"]}},
            )
            digests.append([Path(out[k]).read_bytes() for k in ("accuracy", "gradients", "curves")])
    finally:
        matplotlib.figure.Figure.savefig = real
    assert digests[0] == digests[1]
    assert not blank, blank
    acc = (tmp_path / "a" / "fig12_accuracy.rst").read_text()
    mlp = [r for r in arm["records"] if r["architecture"] == "mlp" and not r["shuffled"]]
    best = max(
        ("relu", "tanh"),
        key=lambda a: np.mean([r["test_accuracy"] for r in mlp if r["activation"] == a]),
    )
    assert f"mlp: best {best}" in acc and "shuffled" in acc
    assert "seconds" not in acc
    grad = (tmp_path / "a" / "fig12_gradients.rst").read_text()
    assert "rnn/relu init 10^" in grad and "gru/gates" in grad


def test_architecture_runtime_grows_with_the_work():
    cfg = check_config(quick(), SCHEMA)
    job = ("architectures", "mnist1d", "cnn", "adam")
    small = costs.architecture_runtime(cfg, *job)
    cfg["studies"]["architectures"]["training"]["epochs"] = 3000
    cfg["studies"]["architectures"]["architecture_options"].pop("n_train")
    big = costs.architecture_runtime(cfg, *job)
    assert small == 10 and big > 10 * small


def test_on_slurm_the_architecture_jobs_group_like_the_training_jobs():
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    groups = dict(g.split("=") for g in profile["groups"])
    assert groups["architecture"] == groups["train"]
    sizes = dict(g.split("=") for g in profile["group-components"])
    assert groups["architecture"] in sizes
    rules = (ROOT / "workflow" / "rules" / "architectures.smk").read_text()
    assert "rule architecture:" in rules  # the name the profile groups


def _curve(*accs):
    return [{"epoch": e, "train_accuracy": a} for e, a in enumerate(accs)]


def test_steps_to_target_interpolates_between_the_evaluations_that_straddle_it():
    # 10 steps per epoch; 0.5 after epoch 1, 0.7 after epoch 2: 0.6 is halfway, at step 15
    assert steps_to_target(_curve(0.1, 0.5, 0.7), 0.6, 10) == pytest.approx(15.0)
    assert steps_to_target(_curve(0.1, 0.58, 0.9), 0.6, 10) == pytest.approx(10 + 10 * 0.02 / 0.32)
    # two runs that both get there during epoch 2 no longer tie
    fast, slow = (
        steps_to_target(_curve(0.1, 0.2, 0.95), 0.6, 40),
        steps_to_target(_curve(0.1, 0.2, 0.61), 0.6, 40),
    )
    assert 40 < fast < slow <= 80
    assert steps_to_target(_curve(0.1, 0.6), 0.6, 10) == pytest.approx(10.0)  # exactly there
    assert steps_to_target(_curve(0.7, 0.8), 0.6, 10) == 0  # there from the start
    assert steps_to_target(_curve(0.1, 0.5, 0.59), 0.6, 10) is None  # never
    # an epoch without an evaluation: no neighbour to interpolate with, the epoch's end counts
    gap = [{"epoch": 0, "train_accuracy": 0.1}, {"epoch": 2, "train_accuracy": 0.9}]
    assert steps_to_target(gap, 0.6, 10) == 20.0
    assert steps_to_target([{"epoch": 1, "train_accuracy": None}], 0.6, 10) is None
