"""Tests for nngrid.study.experiments.wilson: Wilson et al. 2017's construction and what the
paper derives from it, on the project's own optimizers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nngrid.errors import NngridError
from nngrid.study import experiments as E
from nngrid.study.experiments import wilson as W


def test_the_construction_is_the_papers():
    y = np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    X = W.wilson_features(y)
    assert X.shape == (5, 3 + 5 * 5)  # more features than points
    np.testing.assert_array_equal(X[:, 0], y)  # the label
    np.testing.assert_array_equal(X[:, 1:3], 1.0)  # two constants
    own = X[:, 3:]
    # one feature of its own for a positive point, five for a negative one, shared by no other
    np.testing.assert_array_equal(own.sum(axis=1), np.where(y > 0, 1, 5))
    assert (own.sum(axis=0) <= 1).all()
    for i in range(5):
        assert own[i, 5 * i] == 1 and own[i, : 5 * i].sum() == 0
    # with more positives than negatives (b > 0): X sign(X^T y) = 4 y, the lemma's condition
    np.testing.assert_array_equal(X @ np.sign(X.T @ y), 4 * y)
    # the first feature alone separates the classes
    assert (np.sign(X[:, 0]) == y).all()


def test_a_draw_has_more_positives_and_held_out_points_only_share_three_columns():
    data = W.draw(3, n_train=9, n_val=20, n_test=30, p=0.55)
    assert data["y_train"].sum() > 0
    d = data["X_train"].shape[1]
    assert d == 3 + 5 * 9
    for split in ("val", "test"):
        X = data[f"X_{split}"]
        assert X.shape[1] == d and not X[:, 3:].any()  # their own columns lie beyond d
        np.testing.assert_array_equal(X[:, 0], data[f"y_{split}"])


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "adam"])
def test_the_truncated_held_out_matrix_scores_as_the_full_one(optimizer):
    """Training on every point's columns (held-out points' own features included, never seen
    in training) leaves those weights at exactly 0: held-out scores are the same."""
    data = W.draw(1, n_train=8, n_val=4, n_test=6, p=0.6)
    y_all = np.concatenate([data["y_train"], data["y_val"], data["y_test"]])
    full = W.wilson_features(y_all)
    wide = {**data, "X_train": W.wilson_features(data["y_train"], 0, full.shape[1])}
    wide["X_test"] = full[12:]
    lrs = np.array([1e-2, 1e-1])
    w_wide, _ = W._train(wide, optimizer, lrs, 50, {50})
    w, _ = W._train(data, optimizer, lrs, 50, {50})
    d = data["X_train"].shape[1]
    assert not w_wide[:, d:].any()
    np.testing.assert_array_equal(w_wide[:, :d], w)
    np.testing.assert_allclose(full[12:] @ w_wide, data["X_test"] @ w, rtol=0, atol=1e-15)


def test_adaptive_methods_find_sign_xty_and_gradient_descent_the_minimum_norm_solution():
    kw = dict(n_train=40, n_val=50, n_test=300, p=0.55, steps=600)
    result = W.wilson_separable(
        optimizers=("sgd", "adam", "rmsprop"), lr_grid=(1e-3, 1e-2), data_seeds=(0, 1), **kw
    )
    df = pd.DataFrame(result["records"]).set_index(["data_seed", "optimizer"])
    assert list(df.index.get_level_values("data_seed").unique()) == [0, 1]
    for seed in (0, 1):
        data = W.draw(seed, 40, 50, 300, 0.55)
        negative = float(np.mean(data["y_test"] < 0))
        sgd, adam, rms = (df.loc[(seed, o)] for o in ("sgd", "adam", "rmsprop"))
        assert not sgd["adaptive"] and adam["adaptive"] and rms["adaptive"]
        for r in (sgd, adam, rms):
            assert r["fits"] and r["train_error"] == 0.0
            assert r["test_negative_share"] == negative
        # gradient descent from 0: the minimum-norm interpolant, every new point right
        assert sgd["cos_min_norm"] > 0.999 and sgd["test_error"] == 0.0
        # the adaptive methods from 0: w proportional to sign(X^T y), every new point positive
        for r in (adam, rms):
            assert r["cos_sign"] > 0.999 and r["cos_min_norm"] < 0.5
            assert r["test_error"] == negative
            assert r["w_label"] == pytest.approx(r["w_constant"], rel=1e-3)
    tuning = pd.DataFrame(result["tuning"])
    assert len(tuning) == 2 * 3 * 2 and set(tuning["lr"]) == {1e-3, 1e-2}
    curves = pd.DataFrame(result["curves"])
    assert curves["step"].min() == 0 and curves["step"].max() == 600


def test_the_tuned_rate_fits_the_training_set_before_it_scores_on_validation():
    result = W.wilson_separable(
        optimizers=("sgd",), n_train=20, n_val=40, n_test=40, steps=30,
        lr_grid=(1e-4, 1e-3, 0.3), data_seeds=(0,),
    )  # fmt: skip
    tuning = pd.DataFrame(result["tuning"])
    (rec,) = result["records"]
    # 30 steps at 1e-4 or 1e-3 leave the loss near its start: only 0.3 fits, and wins although
    # every rate labels the validation set alike (their w all point along X^T y)
    assert tuning.set_index("lr")["fits"].to_dict() == {1e-4: False, 1e-3: False, 0.3: True}
    assert rec["lr"] == 0.3 and rec["lr_on_edge"] and rec["fits"]


def test_settings_and_bad_p():
    kw = E.settings("wilson_separable", {"lr_grid": {"low": 1e-3, "high": 1e-1, "points": 3}})
    assert kw["lr_grid"] == pytest.approx([1e-3, 1e-2, 1e-1])
    assert "wilson_separable" in E.EXPERIMENTS
    with pytest.raises(NngridError, match=r"p must lie in \(0.5, 1\)"):
        W.wilson_separable(p=0.5, data_seeds=(0,), steps=1)
