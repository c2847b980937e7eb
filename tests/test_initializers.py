"""Initializers: variance formulas, shapes, dtype, reproducibility, activation defaults."""

import numpy as np
import pytest

from nngrid.core.activations import ACTIVATIONS
from nngrid.core.initializers import INITIALIZERS, default_initializer
from nngrid.errors import NngridError

FORMULAS = {
    "glorot_uniform": lambda i, o: 2 / (i + o),
    "glorot_normal": lambda i, o: 2 / (i + o),
    "he_uniform": lambda i, o: 2 / i,
    "he_normal": lambda i, o: 2 / i,
    "lecun": lambda i, o: 1 / i,
    "normal": lambda i, o: 0.01**2,
}


def test_study_initializers_are_registered():
    assert set(FORMULAS) <= set(INITIALIZERS.names())


@pytest.mark.parametrize("name", INITIALIZERS.names())
@pytest.mark.parametrize(("fan_in", "fan_out"), [(400, 100), (100, 700)])
def test_variance_matches_formula(name, fan_in, fan_out):
    init = INITIALIZERS.create(name)
    W = init(np.random.default_rng(0), fan_in, fan_out, np.float64)
    assert W.shape == (fan_in, fan_out)
    var = init.variance(fan_in, fan_out)
    if name in FORMULAS:
        assert var == pytest.approx(FORMULAS[name](fan_in, fan_out))
    # 40 000+ draws: the sample variance is within ~1.5% (about 2 standard errors)
    assert W.var() == pytest.approx(var, rel=0.03)
    if name != "identity":  # deterministic: its mean is 1 / max(fans), not ~0
        assert abs(W.mean()) < 3 * np.sqrt(var / W.size)
    if name.endswith("uniform"):
        assert np.abs(W).max() <= np.sqrt(3 * var)


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_reproducible_and_dtype(name):
    init = INITIALIZERS.create(name)
    a = init(np.random.default_rng(42), 30, 20, np.float64)
    b = init(np.random.default_rng(42), 30, 20, np.float64)
    c = init(np.random.default_rng(43), 30, 20, np.float64)
    f = init(np.random.default_rng(42), 30, 20, np.float32)
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(a, c) == (name == "identity")  # identity draws nothing
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, a.astype(np.float32))


def test_normal_std_parameter_and_errors():
    W = INITIALIZERS.create("normal", std=0.5)(np.random.default_rng(0), 300, 300, np.float64)
    assert W.std() == pytest.approx(0.5, rel=0.02)
    with pytest.raises(NngridError, match="std"):
        INITIALIZERS.create("normal", std=0)
    with pytest.raises(NngridError, match="fan_in"):
        INITIALIZERS.create("he_normal")(np.random.default_rng(0), 0, 3, np.float64)


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_default_initializer_reads_the_activation(activation):
    name = default_initializer(activation)
    assert name in INITIALIZERS
    assert name == ACTIVATIONS.get(activation).default_init
    expected = (
        "he_uniform"
        if activation in {"relu", "leaky_relu", "elu", "gelu", "silu"}
        else ("glorot_uniform")
    )
    assert name == expected


def test_default_initializer_unknown_activation():
    with pytest.raises(NngridError, match="valid choices"):
        default_initializer("reluu")


@pytest.mark.parametrize(("fan_in", "fan_out"), [(6, 6), (9, 4), (4, 9)])
def test_orthogonal_is_orthogonal_and_identity_is_eye(fan_in, fan_out):
    W = INITIALIZERS.create("orthogonal", gain=2.0)(np.random.default_rng(0), fan_in, fan_out)
    W = W.astype(np.float64)
    small = min(fan_in, fan_out)
    gram = W.T @ W if fan_in >= fan_out else W @ W.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-5)
    rng = np.random.default_rng(1)
    eye = INITIALIZERS.create("identity")(rng, fan_in, fan_out, np.float64)
    np.testing.assert_array_equal(eye, np.eye(fan_in, fan_out))
    assert rng.random() == np.random.default_rng(1).random()  # nothing was drawn
    with pytest.raises(NngridError, match="gain"):
        INITIALIZERS.create("orthogonal", gain=0)
