"""Regularizers: penalty gradients by finite differences, per-replica values, projections."""

import numpy as np
import pytest

from nngrid.core.regularizers import REGULARIZERS, Regularizer
from nngrid.errors import NngridError

R, FAN_IN, FAN_OUT = 3, 4, 5

# parameters that make each penalty non-trivial (others use their defaults)
PARAMS = {
    "l1": {"strength": 0.3},
    "l2": {"strength": 0.3},
    "lp": {"strength": 0.3},
    "elastic_net": {"strength": 0.3, "l1_ratio": 0.3},
}
CASES = [(n, PARAMS.get(n, {})) for n in REGULARIZERS.names()] + [
    ("lp", {"strength": 0.3, "p": 4}),
    ("lp", {"strength": 0.2, "p": 2.5}),
    ("l1", {"strength": np.array([0.1, 0.5, 0.0])}),
    ("l2", {"strength": [0.1, 0.5, 2.0]}),
    ("elastic_net", {"strength": np.array([0.1, 0.5, 1.0]), "l1_ratio": [0.0, 0.5, 1.0]}),
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CASES)]


def weights(seed=0, dtype=np.float64):
    w = np.random.default_rng(seed).standard_normal((R, FAN_IN, FAN_OUT))
    w[np.abs(w) < 1e-3] = 0.1  # away from the kink of |w|
    return w.astype(dtype)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_penalty_gradient_matches_central_differences(name, params):
    reg = REGULARIZERS.create(name, **params)
    W = weights()
    W0 = W.copy()
    G = np.zeros_like(W)
    reg.add_grad(W, G)
    np.testing.assert_array_equal(W, W0)  # add_grad writes only G
    h = 1e-6
    numeric = np.empty_like(W)
    for idx in np.ndindex(W.shape):
        plus, minus = W.copy(), W.copy()
        plus[idx] += h
        minus[idx] -= h
        numeric[idx] = (reg.penalty(plus).sum() - reg.penalty(minus).sum()) / (2 * h)
    np.testing.assert_allclose(G, numeric, rtol=1e-6, atol=1e-8)
    # add_grad adds: starting from G0 gives G0 + dP/dW
    G0 = np.ones_like(W)
    reg.add_grad(W, G0)
    np.testing.assert_allclose(G0, 1 + G)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_penalty_shape_and_replica_independence(name, params):
    reg = REGULARIZERS.create(name, **params)
    W = weights(1, np.float32)
    P = reg.penalty(W)
    assert P.shape == (R,) and P.dtype == np.float64
    G = np.zeros_like(W)
    reg.add_grad(W, G)
    assert G.dtype == np.float32
    for r in range(R):
        one = {k: (np.asarray(v)[r] if np.ndim(v) == 1 else v) for k, v in params.items()}
        alone = REGULARIZERS.create(name, **one)
        Wr = W[r : r + 1].copy()
        Gr = np.zeros_like(Wr)
        alone.add_grad(Wr, Gr)
        np.testing.assert_array_equal(Gr[0], G[r])
        np.testing.assert_allclose(alone.penalty(Wr)[0], P[r], rtol=1e-12)


def test_penalty_formulas():
    W = np.array([[[1.0, -2.0], [0.5, 0.0]]])
    s = 0.1
    np.testing.assert_allclose(REGULARIZERS.create("l1", strength=s).penalty(W), [s * 3.5])
    np.testing.assert_allclose(REGULARIZERS.create("l2", strength=s).penalty(W), [s * 5.25])
    np.testing.assert_allclose(
        REGULARIZERS.create("lp", strength=s, p=3).penalty(W), [s * (1 + 8 + 0.125)]
    )
    np.testing.assert_allclose(
        REGULARIZERS.create("lp", strength=s, p=4).penalty(W), [s * (1 + 16 + 0.0625)]
    )
    np.testing.assert_allclose(
        REGULARIZERS.create("elastic_net", strength=s, l1_ratio=0.25).penalty(W),
        [s * (0.25 * 3.5 + 0.75 * 5.25)],
    )
    for name in ("none", "max_norm", "dropout", "early_stopping"):
        np.testing.assert_array_equal(REGULARIZERS.create(name).penalty(W), [0.0])


def test_max_norm_projects_columns():
    reg = REGULARIZERS.create("max_norm", max_norm=np.array([1.0, 10.0]))
    W = np.zeros((2, 3, 2))
    W[:, :, 0] = [3.0, 4.0, 0.0]  # norm 5
    W[:, :, 1] = [0.3, 0.4, 0.0]  # norm 0.5
    reg.project(W)
    norms = np.linalg.norm(W, axis=1)
    np.testing.assert_allclose(norms, [[1.0, 0.5], [5.0, 0.5]])
    np.testing.assert_allclose(W[0, :, 0], [0.6, 0.8, 0.0])
    Z = np.zeros((1, 2, 2))
    REGULARIZERS.create("max_norm").project(Z)  # zero columns stay zero, no warning
    np.testing.assert_array_equal(Z, 0)


def test_project_is_a_no_op_for_penalties():
    W = weights()
    W0 = W.copy()
    for name in ("none", "l1", "l2", "lp", "elastic_net", "dropout", "early_stopping"):
        REGULARIZERS.create(name).project(W)
    np.testing.assert_array_equal(W, W0)


def test_dropout_and_early_stopping_attributes():
    assert REGULARIZERS.create("none").dropout_rate == 0.0
    assert REGULARIZERS.create("none").patience is None
    assert REGULARIZERS.create("dropout").dropout_rate == 0.5
    assert REGULARIZERS.create("dropout", rate=0.2).dropout_rate == 0.2
    np.testing.assert_array_equal(
        REGULARIZERS.create("dropout", rate=[0.0, 0.3]).dropout_rate, [0.0, 0.3]
    )
    assert REGULARIZERS.create("early_stopping").patience == 10
    assert REGULARIZERS.create("early_stopping", patience=3).patience == 3
    assert REGULARIZERS.create("early_stopping").dropout_rate == 0.0


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_sweep_names_a_constructor_parameter(name):
    cls = REGULARIZERS.get(name)
    assert issubclass(cls, Regularizer)
    if cls.sweep is not None:
        assert cls.sweep in REGULARIZERS.parameters(name)
    expected = {
        "none": None,
        "l1": "strength",
        "l2": "strength",
        "lp": "strength",
        "elastic_net": "strength",
        "max_norm": "max_norm",
        "dropout": "rate",
        "early_stopping": "patience",
    }
    if name in expected:
        assert cls.sweep == expected[name]


BAD = [
    ("l1", {"strength": -0.1}, "strength"),
    ("l2", {"strength": [0.1, -1.0]}, "strength"),
    ("lp", {"strength": float("nan")}, "strength"),
    ("lp", {"p": 0.5}, "p"),
    ("elastic_net", {"l1_ratio": 1.5}, "l1_ratio"),
    ("elastic_net", {"strength": -1}, "strength"),
    ("max_norm", {"max_norm": 0.0}, "max_norm"),
    ("dropout", {"rate": 1.0}, "rate"),
    ("dropout", {"rate": -0.1}, "rate"),
    ("dropout", {"rate": [0.2, 1.0]}, "rate"),
    ("early_stopping", {"patience": 0}, "patience"),
    ("early_stopping", {"patience": 2.5}, "patience"),
]


@pytest.mark.parametrize(("name", "params", "param"), BAD)
def test_bad_values_raise_naming_the_parameter(name, params, param):
    with pytest.raises(NngridError, match=param):
        REGULARIZERS.create(name, **params)
