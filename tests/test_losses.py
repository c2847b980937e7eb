"""Losses: finite-difference gradients, stability, conventions, shapes, errors."""

import math
import warnings

import numpy as np
import pytest

from nngrid.core.losses import LOSSES
from nngrid.errors import NngridError

R, B, C = 3, 5, 4


def make_case(name, seed=0, shared_targets=False, dtype=np.float64):
    rng = np.random.default_rng(seed)
    loss = LOSSES.create(name)
    out = rng.standard_normal((R, B, C)).astype(dtype)
    if loss.task == "classification":
        y = rng.integers(0, C, size=(B,) if shared_targets else (R, B))
    else:
        y = rng.standard_normal((B, C) if shared_targets else (R, B, C))
    return loss, out, y


@pytest.mark.parametrize("name", LOSSES.names())
@pytest.mark.parametrize("shared", [True, False])
def test_gradient_matches_central_differences(name, shared):
    loss, out, y = make_case(name, shared_targets=shared)
    value, grad = loss.value_and_grad(out, y)
    assert value.shape == (R,) and value.dtype == np.float64
    assert grad.shape == out.shape
    h = 1e-6
    numeric = np.empty_like(out)
    for idx in np.ndindex(out.shape):
        plus, minus = out.copy(), out.copy()
        plus[idx] += h
        minus[idx] -= h
        # replicas are independent: d(sum_r loss_r)/d out[r, ...] = d loss_r / d out[r, ...]
        numeric[idx] = (loss.value(plus, y).sum() - loss.value(minus, y).sum()) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(loss.value(out, y), value, rtol=1e-14)


@pytest.mark.parametrize("name", LOSSES.names())
def test_task_and_accuracy_contract(name):
    loss, out, y = make_case(name)
    assert loss.task in ("classification", "regression")
    acc = loss.accuracy(out, y)
    if loss.task == "regression":
        assert acc is None
    else:
        assert acc.shape == (R,) and np.all((acc >= 0) & (acc <= 1))


@pytest.mark.parametrize("name", LOSSES.names())
def test_float32_kept_and_replicas_independent(name):
    loss, out, y = make_case(name, dtype=np.float32)
    value, grad = loss.value_and_grad(out, y)
    assert grad.dtype == np.float32
    for r in range(R):
        v_r, g_r = loss.value_and_grad(out[r : r + 1], y[r : r + 1])
        np.testing.assert_array_equal(g_r[0], grad[r])
        np.testing.assert_allclose(v_r[0], value[r], rtol=1e-12)


def test_cross_entropy_known_values_and_conventions():
    loss = LOSSES.create("softmax_cross_entropy")
    out = np.zeros((2, 4, 3))
    y = np.array([0, 1, 2, 0])
    value, grad = loss.value_and_grad(out, y)
    np.testing.assert_allclose(value, [math.log(3)] * 2)
    expected = (np.full((4, 3), 1 / 3) - np.eye(3)[y]) / 4
    np.testing.assert_allclose(grad[0], expected)
    np.testing.assert_allclose(grad.sum(axis=-1), 0, atol=1e-15)
    logits = np.array([[[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]]])
    np.testing.assert_allclose(loss.accuracy(logits, np.array([0, 2])), [0.5])
    p = np.exp(logits[0, 0]) / np.exp(logits[0, 0]).sum()
    np.testing.assert_allclose(loss.value(logits[:, :1], np.array([1])), [-math.log(p[1])])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_stable_for_huge_logits(dtype):
    loss = LOSSES.create("softmax_cross_entropy")
    out = np.array([[[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]]], dtype=dtype)
    y = np.array([1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad = loss.value_and_grad(out, y)
    np.testing.assert_allclose(value, [(2e4 + 0.0) / 2], rtol=1e-6)
    assert np.all(np.isfinite(grad))


def test_mse_convention_half_sum_over_outputs_mean_over_batch():
    loss = LOSSES.create("mse")
    out = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    y = np.array([[0.0, 0.0], [1.0, 1.0]])
    value, grad = loss.value_and_grad(out, y)
    np.testing.assert_allclose(value, [0.5 * ((1 + 4) + (4 + 9)) / 2])
    np.testing.assert_allclose(grad, (out - y) / 2)
    # (B,) targets are read as (B, 1) when there is one output
    v1 = loss.value(np.ones((2, 3, 1)), np.zeros(3))
    np.testing.assert_allclose(v1, [0.5, 0.5])


def test_bad_targets_raise():
    xent = LOSSES.create("softmax_cross_entropy")
    out = np.zeros((1, 3, 2))
    with pytest.raises(NngridError, match=r"\[0, 2\)"):
        xent.value_and_grad(out, np.array([0, 1, 2]))
    with pytest.raises(NngridError, match="integers"):
        xent.value(out, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(NngridError, match="do not match"):
        xent.value(out, np.array([0, 1]))
    with pytest.raises(NngridError, match="do not match"):
        LOSSES.create("mse").value(np.zeros((1, 3, 2)), np.zeros(3))
