"""Tests for nngrid.study.experiments: shapes of every result and the results the lesson
predicts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nngrid.core.activations import ACTIVATIONS
from nngrid.core.optim import OPTIMIZERS
from nngrid.errors import NngridError
from nngrid.study import experiments as E


def test_activation_curves_cover_every_activation():
    result = E.activation_curves(points=21)
    df = pd.DataFrame(result["records"])
    assert len(df) == len(ACTIVATIONS) * 21 * 2
    assert set(df["activation"]) == set(ACTIVATIONS.names())
    slope = df[df["curve"] == "f'(x)"].groupby("activation")["value"]
    assert slope.max()["sigmoid"] == pytest.approx(0.25)
    assert slope.min()["identity"] == slope.max()["identity"] == 1.0


@pytest.mark.parametrize("name", list(E.TEST_FUNCTIONS))
def test_test_function_gradients_match_finite_differences(name):
    fn = E.TEST_FUNCTIONS[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        x, y = rng.uniform(-1.5, 1.5, 2)
        gx, gy = fn.grad(x, y)
        h = 1e-6
        assert gx == pytest.approx(
            (fn.value(x + h, y) - fn.value(x - h, y)) / (2 * h), rel=1e-5, abs=1e-6
        )
        assert gy == pytest.approx(
            (fn.value(x, y + h) - fn.value(x, y - h)) / (2 * h), rel=1e-5, abs=1e-6
        )
    if fn.minimum is not None and name != "saddle":
        assert fn.grad(*fn.minimum) == pytest.approx((0.0, 0.0), abs=1e-12)


def _heavy_ball(lam: float, x0: float, lr: float, beta: float, steps: int) -> np.ndarray:
    """The closed form of sgd with momentum (PyTorch's convention, dampening 0, buffer
    ``b_1 = g_1``) on ``f = lam x^2 / 2``: with ``b_0 = 0`` every step is
    ``b_t = beta b_{t-1} + lam x_{t-1}``, ``x_t = x_{t-1} - lr b_t``, i.e.
    ``(b_t, x_t) = R (b_{t-1}, x_{t-1})`` with ``R = [[beta, lam], [-lr beta, 1 - lr lam]]``;
    ``beta = 0`` is gradient descent, ``x_t = (1 - lr lam)^t x_0``. Returns x_0 .. x_steps."""
    R = np.array([[beta, lam], [-lr * beta, 1.0 - lr * lam]])
    return np.array([(np.linalg.matrix_power(R, t) @ [0.0, x0])[1] for t in range(steps + 1)])


def test_d2l_momentum_bowl_iterates_match_the_closed_form():
    """Dive into Deep Learning's momentum section: f = 0.1 x1^2 + 2 x2^2 from (-5, -2), the
    project's own optimizers in float64, 20 steps, against the closed form to 1e-12."""
    from nngrid.study.experiments.paths import _descend

    fn = E.TEST_FUNCTIONS["momentum_bowl"]
    assert fn.start == (-5.0, -2.0)
    lam = (0.2, 4.0)  # the curvatures: f = lam_1 x1^2 / 2 + lam_2 x2^2 / 2
    steps = 20
    t = np.arange(steps + 1)

    def check(path, lr, beta):
        for axis in (0, 1):
            expect = _heavy_ball(lam[axis], fn.start[axis], lr, beta, steps)
            np.testing.assert_allclose(path[:, axis], expect, rtol=1e-12, atol=1e-12)

    # gradient descent, lr 0.4: x1 shrinks by 1 - 0.4 * 0.2 = 0.92 a step (slow), x2 by
    # 1 - 0.4 * 4 = -0.6 (fast, alternating sign)
    slow = _descend(fn, "sgd", 0.4, steps, {})
    check(slow, 0.4, 0.0)
    np.testing.assert_allclose(slow[:, 0], -5.0 * 0.92**t, rtol=1e-12)
    np.testing.assert_allclose(slow[:, 1], -2.0 * (-0.6) ** t, rtol=1e-12, atol=1e-300)
    assert abs(slow[-1, 0]) > 0.9 and abs(slow[-1, 1]) < 1e-4  # x1 still far, x2 home

    # lr 0.6: x2's factor is 1 - 0.6 * 4 = -1.4, |.| > 1: it diverges, alternating in sign
    wild = _descend(fn, "sgd", 0.6, steps, {})
    check(wild, 0.6, 0.0)
    np.testing.assert_allclose(wild[:, 1], -2.0 * (-1.4) ** t, rtol=1e-12)
    assert np.all(np.abs(np.diff(wild[:, 1] ** 2)) > 0) and abs(wild[-1, 1]) > 2.0 * 1.4**19

    # momentum 0.5 at lr 0.6 (torch.optim.SGD(momentum=0.5)): both axes contract, since every
    # eigenvalue of R lies inside the unit circle (|z| = sqrt(det R) = sqrt(beta) here)
    heavy = _descend(fn, "momentum", 0.6, steps, {"momentum": 0.5})
    check(heavy, 0.6, 0.5)
    for axis in (0, 1):
        R = np.array([[0.5, lam[axis]], [-0.6 * 0.5, 1.0 - 0.6 * lam[axis]]])
        assert np.abs(np.linalg.eigvals(R)).max() < 1.0
    assert np.hypot(*heavy[-1]) < 0.01 * np.hypot(*heavy[0])
    # and the same rate with momentum=0 is exactly the divergent path (buffer = gradient)
    np.testing.assert_array_equal(_descend(fn, "sgd", 0.6, steps, {"momentum": 0.0}), wild)


def test_optimizer_paths_are_tuned_and_complete():
    grid = [1e-3, 1e-2, 1e-1]
    result = E.optimizer_paths(functions=("bowl", "saddle"), lr_grid=grid, steps=30)
    df = pd.DataFrame(result["records"])
    tuning = pd.DataFrame(result["tuning"])
    assert set(df["optimizer"]) == set(OPTIMIZERS.names())
    for (fn, opt), sub in df.groupby(["function", "optimizer"]):
        assert len(sub) == 31
        assert sub["lr"].iloc[0] in grid
        scores = tuning[(tuning["function"] == fn) & (tuning["optimizer"] == opt)]
        # the chosen rate reaches the tolerance in the fewest steps without leaving the frame;
        # without one that reaches it, the in-frame rate with the lowest final value
        framed = scores[scores["in_frame"]]
        chosen = scores[scores["lr"] == sub["lr"].iloc[0]].iloc[0]
        if np.isfinite(framed["steps_to_tolerance"]).any():
            assert chosen["steps_to_tolerance"] == framed["steps_to_tolerance"].min()
        elif len(framed):
            assert chosen["final_value"] == pytest.approx(framed["final_value"].min())
        assert sub["value"].iloc[-1] == pytest.approx(chosen["final_value"])
        assert result[f"path__{fn}__{opt}"].shape == (31, 2)
        assert sub["lr_on_edge"].iloc[0] == (sub["lr"].iloc[0] in (grid[0], grid[-1]))
    bowl = df[df["function"] == "bowl"].groupby("optimizer")["value"]
    assert (bowl.last() < bowl.first()).all()
    # the fewest-steps rule is live: on the bowl some rate gets within the tolerance
    assert np.isfinite(df[df["function"] == "bowl"]["steps_to_tolerance"]).any()


def test_fit_is_deterministic_and_keeps_the_model():
    from nngrid.datasets import build

    data = build("moons", 0, n_samples=120)
    a = E.fit(data, hidden=[8], epochs=3, seeds=(0, 1))
    b = E.fit(data, hidden=[8], epochs=3, seeds=(0, 1))
    assert a.model.R == 2 and len(a.history) == 4
    np.testing.assert_array_equal(a.model.flat, b.model.flat)
    assert a.history[-1]["train_loss"].shape == (2,)
    assert a.history[-1]["train_loss"].mean() < a.history[0]["train_loss"].mean()


def test_fit_is_train_replicas_with_test_history_and_the_model():
    from nngrid.core.train import TrainConfig, train_replicas
    from nngrid.datasets import build

    data = build("moons", 0, n_samples=120)
    run = E.fit(data, hidden=[8], epochs=3, seeds=(0, 1))
    plain = train_replicas(
        data,
        TrainConfig(
            hidden=[8],
            activation="relu",
            opt_params={"lr": 1e-2},
            batch_size=32,
            epochs=3,
            seeds=(0, 1),
            dtype="float64",
        ),
    ).records
    assert [h["epoch"] for h in run.history] == [0, 1, 2, 3]
    assert run.history[0]["seconds"] == 0.0
    for r, rec in enumerate(plain):
        assert rec["epochs"] == 3 and "test_loss" not in rec["history"][-1]
        assert [h["val_loss"] for h in rec["history"]] == [
            float(h["val_loss"][r]) for h in run.history[1:]
        ]
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            assert rec[key] == run.final[key][r]
    # no early stopping: the last epoch's test metrics are the final ones
    np.testing.assert_array_equal(run.history[-1]["test_loss"], run.final["test_loss"])
    np.testing.assert_array_equal(run.history[-1]["test_accuracy"], run.final["test_accuracy"])


def test_early_stopped_replica_history_ends_and_best_weights_come_back():
    from nngrid.datasets import build

    data = build("moons", 0, n_samples=120)
    run = E.fit(
        data,
        hidden=[8],
        epochs=40,
        lr=0.5,
        regularizer="early_stopping",
        reg_params={"patience": 2, "monitor": "loss"},
        seeds=(0, 1),
    )
    assert len(run.history) < 41
    best = np.nanmin(np.stack([h["val_loss"] for h in run.history[1:]]), axis=0)
    np.testing.assert_allclose(run.final["val_loss"], best)
    rows = E._long(run.history)
    assert all(np.isfinite(row["val_loss"]) for row in rows)


def test_nonlinearity_separates_what_identity_cannot():
    result = E.nonlinearity_boundaries(
        datasets=("xor", "circles"),
        activations=("identity", "relu"),
        hidden=(16,),
        epochs=40,
        lr=3e-2,
        mesh=20,
    )
    df = pd.DataFrame(result["records"]).set_index(["dataset", "activation"])
    for ds in ("xor", "circles"):
        assert df.loc[(ds, "identity"), "test_accuracy"] < 0.7
        assert df.loc[(ds, "relu"), "test_accuracy"] > 0.9
        assert result[f"proba__{ds}__relu"].shape == (20, 20)
        assert ((result[f"proba__{ds}__relu"] >= 0) & (result[f"proba__{ds}__relu"] <= 1)).all()


def test_gradients_vanish_in_deep_sigmoid_networks_only():
    result = E.gradient_flow(
        depths=(2, 12),
        activations=("sigmoid", "relu"),
        initializers=("he_normal",),
        width=16,
        dataset="moons",
        epochs=1,
        seeds=(0, 1),
    )
    df = pd.DataFrame(result["records"])
    assert len(df) == 2 * 2 * 1 * 2 * (3 + 13)  # stages x seeds x layers per depth
    init = df[(df["stage"] == "init") & (df["depth"] == 12)]
    ratio = {}
    for act, sub in init.groupby("activation"):
        norms = sub.groupby("layer")["grad_norm"].median()
        ratio[act] = norms.iloc[0] / norms.iloc[-1]
    assert ratio["sigmoid"] < 1e-3
    assert 1e-2 < ratio["relu"] < 1e2


def test_gradients_explode_with_depth_under_a_too_large_initialisation():
    result = E.gradient_flow(
        depths=(2, 8),
        activations=("relu",),
        initializers=("he_normal", "he_large"),
        width=16,
        dataset="moons",
        epochs=1,
        seeds=(0, 1),
    )
    df = pd.DataFrame(result["records"])
    first = df[(df["stage"] == "init") & (df["layer"] == 1)]
    g = first.groupby(["init", "depth"])["grad_norm"].median()
    assert g[("he_large", 8)] / g[("he_large", 2)] > 1e2  # grows ~gain^2 per added layer
    assert 1e-1 < g[("he_normal", 8)] / g[("he_normal", 2)] < 1e1
    acc = pd.DataFrame(result["accuracy"])
    assert acc.groupby("init")["careless_init"].first().to_dict() == {
        "he_large": True,
        "he_normal": False,
    }


def test_regression_overfitting_and_cures():
    result = E.regression_overfitting(
        cures={"none": {}, "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-3}}},
        hidden=(32,),
        epochs=60,
        eval_every=20,
    )
    df = pd.DataFrame(result["records"])
    assert sorted(set(df["epoch"])) == [0, 20, 40, 60]
    assert result["cures"] == ["none", "l2"]
    assert result["fit__none"].shape == result["x_test"].shape
    assert np.isfinite(df[["train_loss", "test_loss"]].to_numpy()).all()


def test_data_size_sweep_records():
    result = E.data_size_sweep(
        sizes=(15, 60), hidden=(16,), epochs=50, seeds=(0, 1), data_seeds=(0, 1)
    )
    df = pd.DataFrame(result["records"])
    assert len(df) == 2 * 2 * 2  # sizes x data draws x seeds
    assert df.groupby("n_samples")["n_train"].first().is_monotonic_increasing
    # each data draw is its own dataset: the same size, other points, other losses
    a, b = (df[(df.n_samples == 15) & (df.data_seed == d) & (df.seed == 0)] for d in (0, 1))
    assert float(a["train_loss"].iloc[0]) != float(b["train_loss"].iloc[0])
    np.testing.assert_allclose(df["gap"], df["test_loss"] - df["train_loss"])


def test_l1_leaves_more_weights_near_zero_than_l2():
    result = E.regularizer_boundaries(
        regularizers={
            "l1": {"regularizer": "l1", "reg_params": {"strength": 1e-3}},
            "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-3}},
        },
        hidden=(32,),
        epochs=150,
        mesh=10,
    )
    df = pd.DataFrame(result["records"]).set_index("label")
    assert df.loc["l1", "near_zero"] > df.loc["l2", "near_zero"]
    assert result["weights__l1"].size == 2 * 32 + 32 * 2


def test_regularizer_boundaries_per_seed_records_average_into_records():
    result = E.regularizer_boundaries(
        regularizers={"none": {}, "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-2}}},
        hidden=(8,),
        epochs=5,
        mesh=6,
        seeds=(0, 1, 2),
    )
    per = pd.DataFrame(result["per_seed"])
    assert len(per) == 2 * 3 and set(per["seed"]) == {0, 1, 2}
    mean = pd.DataFrame(result["records"]).set_index("label")
    for lab, sub in per.groupby("label"):
        assert mean.loc[lab, "mean_abs_weight"] == pytest.approx(sub["mean_abs_weight"].mean())
        assert mean.loc[lab, "n_seeds"] == 3


def test_batch_size_curves_tune_each_size_and_count_steps_and_examples():
    result = E.batch_size_curves(
        batch_sizes=(16, None), dataset="moons", hidden=(8,), steps=20, lr_grid=(0.01, 0.3),
        seeds=(0, 1),
    )  # fmt: skip
    df = pd.DataFrame(result["records"])
    final = pd.DataFrame(result["final"])
    n = int(df[df["full_batch"]]["batch_size"].iloc[0])
    assert set(df["full_batch"]) == {True, False}
    # roughly the same number of optimizer steps for every batch size
    for _, sub in final.groupby("batch"):
        assert 20 <= sub["steps"].iloc[0] < 20 + n / 16 + 1
    full = df[df["full_batch"]]
    assert (full["steps"] == full["epoch"]).all()
    assert (df["examples"] == df["epoch"] * n).all()
    # the chosen rate is the one with the best mean validation accuracy over the seeds
    tuning = pd.DataFrame(result["tuning"])
    for size, sub in tuning.groupby("batch_size"):
        best = sub.loc[sub["val_accuracy"].idxmax(), "lr"]
        assert set(final[final["batch_size"] == size]["lr"]) == {best}
    assert len(final) == 2 * 2 and set(final["seed"]) == {0, 1}


def test_overfitting_cures_tune_each_strength_on_validation():
    result = E.overfitting_cures(
        datasets={"moons": {"params": {"n_samples": 120}, "n_train": 30}},
        cures={
            "none": {},
            "l2": {"regularizer": "l2", "sweep": {"strength": [1e-3, 1e-2]}},
            "early_stopping": {"regularizer": "early_stopping", "sweep": {"patience": [1, 3]}},
        },
        hidden=(8,), lr_grid=(1e-2, 3e-2), epochs=6, seeds=(0, 1, 2), extend=1,
    )  # fmt: skip
    df = pd.DataFrame(result["records"])
    tuned = df[df["arm"] == "tuned"]
    assert tuned.groupby("regularizer").size().to_dict() == {
        "none": 3,
        "l2": 3,
        "early_stopping": 3,
    }
    for reg in ("l2", "early_stopping"):
        sub = df[df["regularizer"] == reg]
        val = sub.groupby("strength")["val_accuracy"].mean()
        loss = sub.groupby("strength")["val_loss"].mean()
        best = max(val.index, key=lambda v: (val[v], -loss[v], -v))
        assert set(tuned[tuned["regularizer"] == reg]["strength"]) == {best}
    # the training split was cut to n_train points: an unregularised net can memorise it
    assert (df["train_accuracy"] <= 1).all() and len(set(df["lr"])) == 1
    assert not df[df["regularizer"] == "early_stopping"]["strength"].isin([2.0]).any()


def test_save_and_load_round_trip(tmp_path):
    result = {"records": [{"a": 1, "b": "x"}], "labels": ["p", "q"], "arr": np.arange(6.0)}
    E.save(tmp_path / "r.npz", result)
    back = E.load(tmp_path / "r.npz")
    assert back["records"] == [{"a": 1, "b": "x"}]
    assert back["labels"] == ["p", "q"]
    np.testing.assert_array_equal(back["arr"], np.arange(6.0))


def test_settings_from_config():
    kw = E.settings("optimizer_paths", {"lr_grid": {"low": 1e-3, "high": 1e-1, "points": 3}})
    assert kw["lr_grid"] == pytest.approx([1e-3, 1e-2, 1e-1])
    kw = E.settings("batch_size_curves", {"batch_sizes": [8, "full"]})
    assert kw["batch_sizes"] == [8, None]
    assert E.settings("nonlinearity_boundaries", {}, seed=7)["seed"] == 7
    assert "plot" not in E.settings("regularizer_boundaries", {"plot": {"boundaries": ["none"]}})
    with pytest.raises(NngridError, match="no key 'epoch'.*epochs"):
        E.settings("gradient_flow", {"epoch": 3})
    with pytest.raises(NngridError, match="unknown experiment 'nope'"):
        E.settings("nope", {})


def test_batch_size_curves_extend_the_rate_grid_past_an_edge():
    kw = dict(batch_sizes=(None,), dataset="moons", hidden=(8,), steps=15, seeds=(0, 1))
    # a grid far below any useful full-batch rate: the winner sits on its top edge
    result = E.batch_size_curves(lr_grid=(1e-4, 1e-3), extend=2, **kw)
    tuning = pd.DataFrame(result["tuning"])
    assert len(tuning) == 4 and tuning["lr"].max() == pytest.approx(1e-1, rel=1e-6)
    fixed = pd.DataFrame(E.batch_size_curves(lr_grid=(1e-4, 1e-3), extend=0, **kw)["tuning"])
    assert len(fixed) == 2 and pd.DataFrame(result["final"])["lr"].iloc[0] > 1e-3


def test_overfitting_cures_run_the_protocol_on_every_data_draw_and_ties_are_no_edge():
    result = E.overfitting_cures(
        datasets={"moons": {"params": {"n_samples": 120}, "n_train": 30}},
        cures={
            "none": {},
            # every patience ties: training runs 4 epochs, no patience ever stops it
            "early_stopping": {"regularizer": "early_stopping", "sweep": {"patience": [50, 90]}},
        },
        hidden=(8,), lr_grid=(1e-2,), epochs=4, seeds=(0,), data_seeds=(3, 4, 5),
    )  # fmt: skip
    df = pd.DataFrame(result["records"])
    assert sorted(df["data_seed"].unique()) == [3, 4, 5]
    tuned = df[df["arm"] == "tuned"]
    assert tuned.groupby("data_seed").size().tolist() == [2, 2, 2]
    early = df[df["regularizer"] == "early_stopping"]
    assert not early["strength_on_edge"].any()  # patience 50 ties 90: not a grid edge
    # the draws differ: not one data set seen three times
    none = tuned[tuned["regularizer"] == "none"]
    assert none["test_loss"].nunique() == 3
