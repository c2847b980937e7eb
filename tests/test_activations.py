"""Activations: finite-difference gradients, dtype, in-place contract, extreme inputs."""

import math
import warnings

import numpy as np
import pytest

from nngrid.core.activations import ACTIVATIONS, Activation, erf, normal_cdf
from nngrid.core.initializers import INITIALIZERS

NAMES = ACTIVATIONS.names()
KINKED = {"relu": 0.0, "leaky_relu": 0.0, "elu": 0.0}


def points(name: str) -> np.ndarray:
    """float64 test points, kept 1e-3 away from any kink."""
    z = np.random.default_rng(0).uniform(-4, 4, size=(3, 5, 7))
    if name in KINKED:
        z[np.abs(z - KINKED[name]) < 1e-3] += 1e-2
    return z


def check_gradient(act: Activation, z: np.ndarray) -> None:
    h = 1e-6
    numeric = (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z), numeric, rtol=1e-6, atol=1e-8)
    grad = np.random.default_rng(1).standard_normal(z.shape)
    np.testing.assert_allclose(
        act.backward(z, act.forward(z), grad), grad * numeric, rtol=1e-6, atol=1e-8
    )


def test_at_least_the_study_activations_are_registered():
    expected = {
        "identity",
        "relu",
        "leaky_relu",
        "elu",
        "sigmoid",
        "tanh",
        "softplus",
        "gelu",
        "silu",
        "atan",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_differences(name):
    check_gradient(ACTIVATIONS.create(name), points(name))


@pytest.mark.parametrize("name", NAMES)
def test_default_init_is_a_registered_initializer(name):
    assert ACTIVATIONS.get(name).default_init in INITIALIZERS


@pytest.mark.parametrize(
    ("name", "init"),
    [
        ("relu", "he_uniform"),
        ("leaky_relu", "he_uniform"),
        ("elu", "he_uniform"),
        ("gelu", "he_uniform"),
        ("silu", "he_uniform"),
        ("identity", "glorot_uniform"),
        ("sigmoid", "glorot_uniform"),
        ("tanh", "glorot_uniform"),
        ("softplus", "glorot_uniform"),
        ("atan", "glorot_uniform"),
    ],
)
def test_default_inits(name, init):
    assert ACTIVATIONS.get(name).default_init == init


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved_and_no_warnings_at_large_inputs(name, dtype):
    act = ACTIVATIONS.create(name)
    z = np.array([-1e4, -50.0, -1.0, 0.0, 0.5, 50.0, 1e4], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            a = act.forward(z)
            d = act.derivative(z)
            b = act.backward(z, a, np.ones_like(z))
    for arr in (a, d, b):
        assert arr.dtype == dtype
        assert np.all(np.isfinite(arr))


@pytest.mark.parametrize("name", NAMES)
def test_backward_in_place_into_grad_leaves_z_and_a_alone(name):
    act = ACTIVATIONS.create(name)
    z = points(name).astype(np.float32)
    a = act.forward(z)
    z0, a0 = z.copy(), a.copy()
    grad = np.random.default_rng(2).standard_normal(z.shape).astype(np.float32)
    expected = act.backward(z, a, grad.copy())
    result = act.backward(z, a, grad, out=grad)
    assert result is grad
    np.testing.assert_allclose(grad, expected, rtol=1e-6)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_training_path_equals_forward_and_backward(name, dtype):
    """forward_train / backward_train (the network's path) give forward's and backward's values."""
    act = ACTIVATIONS.create(name)
    z = points(name).astype(dtype)
    z0 = z.copy()
    a, saved = np.empty_like(z), np.empty_like(z)
    assert act.forward_train(z, a, saved) is a
    np.testing.assert_array_equal(a, act.forward(z))
    grad = np.random.default_rng(3).standard_normal(z.shape).astype(dtype)
    expected = act.backward(z, a, grad.copy())
    a0 = a.copy()
    assert act.backward_train(z, a, saved, grad, grad) is grad
    np.testing.assert_array_equal(grad, expected)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(a, a0)


@pytest.mark.parametrize("name", NAMES)
def test_forward_out_and_no_aliasing(name):
    act = ACTIVATIONS.create(name)
    z = points(name)
    z0 = z.copy()
    out = np.empty_like(z)
    assert act.forward(z, out=out) is out
    np.testing.assert_array_equal(out, act.forward(z))
    fresh = act.forward(z)
    fresh += 1.0  # writing into the result must not touch z
    np.testing.assert_array_equal(z, z0)


def test_known_values():
    z = np.array([-2.0, 0.0, 3.0])
    f = {n: ACTIVATIONS.create(n).forward(z) for n in NAMES}
    np.testing.assert_allclose(f["relu"], [0, 0, 3])
    np.testing.assert_allclose(f["leaky_relu"], [-0.02, 0, 3])
    np.testing.assert_allclose(f["elu"], [math.expm1(-2), 0, 3])
    np.testing.assert_allclose(f["sigmoid"], 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(f["softplus"], np.log1p(np.exp(z)))
    np.testing.assert_allclose(f["silu"], z / (1 + np.exp(-z)))
    np.testing.assert_allclose(f["atan"], np.arctan(z) / (np.pi / 2))
    gelu = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in z]
    np.testing.assert_allclose(f["gelu"], gelu, rtol=1e-14, atol=1e-15)
    # parameters reach the computation
    np.testing.assert_allclose(
        ACTIVATIONS.create("leaky_relu", negative_slope=0.2).forward(z), [-0.4, 0, 3]
    )
    np.testing.assert_allclose(
        ACTIVATIONS.create("elu", alpha=2.0).forward(z), [2 * math.expm1(-2), 0, 3]
    )


def test_erf_matches_the_c_library():
    x = np.linspace(-7, 7, 4001)
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], rtol=0, atol=1e-14)
    np.testing.assert_allclose(
        normal_cdf(x), [0.5 * math.erfc(-v / math.sqrt(2)) for v in x], rtol=1e-13, atol=1e-16
    )
    assert erf(np.float32(1.0)).dtype == np.float32
    x32 = x.astype(np.float32)
    ref32 = [math.erf(v) for v in x32.astype(np.float64)]
    np.testing.assert_allclose(erf(x32), ref32, rtol=0, atol=1e-6)  # float32 resolution


def test_saturated_derivatives_keep_relative_precision():
    """Vanishing gradients must be measured, not rounded to zero."""
    z = np.array([-30.0, 30.0])
    d = ACTIVATIONS.create("sigmoid").derivative(z)
    np.testing.assert_allclose(d, np.exp(-30.0) / (1 + np.exp(-30.0)) ** 2, rtol=1e-12)
    t = ACTIVATIONS.create("atan").derivative(np.array([1e3]))
    np.testing.assert_allclose(t, 2 / np.pi / (1 + 1e6), rtol=1e-12)


def test_large_inputs_saturate_correctly():
    z = np.array([-1e4, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS.create("sigmoid").forward(z), [0.0, 1.0])
    np.testing.assert_array_equal(ACTIVATIONS.create("softplus").forward(z), [0.0, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS.create("gelu").forward(z), [0.0, 1e4])
    np.testing.assert_array_equal(ACTIVATIONS.create("silu").forward(z), [0.0, 1e4])


def test_bad_parameters_raise():
    from nngrid.errors import NngridError

    with pytest.raises(NngridError, match="negative_slope"):
        ACTIVATIONS.create("leaky_relu", negative_slope=-1)
    with pytest.raises(NngridError, match="alpha"):
        ACTIVATIONS.create("elu", alpha=float("nan"))


def test_a_new_activation_is_one_decorated_class():
    """Registering a class is all it takes to be listed and gradient-checked."""
    name = "test_square_tmp"
    try:

        @ACTIVATIONS.register(name)
        class Square(Activation):
            """f(z) = z^2 / 2, f'(z) = z."""

            def forward(self, z, out=None):
                out = np.square(z, out=out)
                out *= 0.5
                return out

            def derivative(self, z):
                return z.copy()

        assert name in ACTIVATIONS.names()
        act = ACTIVATIONS.create(name)
        assert act.default_init == "glorot_uniform"
        check_gradient(act, points(name))
    finally:
        ACTIVATIONS._entries.pop(name, None)
    assert name not in ACTIVATIONS.names()
