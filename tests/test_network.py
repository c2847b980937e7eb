"""The replica-stacked MLP: finite-difference gradients, flat layout, replica independence."""

import numpy as np
import pytest

from nngrid.core.activations import ACTIVATIONS
from nngrid.core.losses import LOSSES
from nngrid.core.network import MLP
from nngrid.core.regularizers import REGULARIZERS
from nngrid.errors import NngridError

R = 2


def make_net(sizes, activation="tanh", R=R, dtype=np.float64, seed=0):
    rngs = [np.random.default_rng(seed + r) for r in range(R)]
    return MLP(sizes, activation, None, rngs, dtype=dtype)


def with_random_biases(net, seed=7):
    """Nonzero biases, so no pre-activation sits exactly on a kink (e.g. relu's 0) in the check."""
    rng = np.random.default_rng(seed)
    for b in net.biases():
        b[...] = rng.uniform(0.1, 0.5, b.shape) * rng.choice([-1, 1], b.shape)
    return net


def data(sizes, loss, n=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, sizes[0]))
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, sizes[-1], n)
    else:
        y = rng.standard_normal((n, sizes[-1]))
    return X, y


# the penalties with per-replica parameters; max_norm, dropout and early stopping add no gradient
PENALTIES = {
    "none": {},
    "l1": {"strength": np.array([1e-2, 3e-2])},
    "l2": {"strength": np.array([1e-2, 3e-2])},
    "lp": {"strength": np.array([1e-2, 3e-2]), "p": 3.0},
    "elastic_net": {"strength": np.array([1e-2, 3e-2]), "l1_ratio": 0.3},
}


def objective_and_grad(net, X, y, loss, reg, rates):
    """sum_r (data loss_r + penalty_r) and its gradient from backward + add_grad (float64)."""

    def fwd():
        dropout = None
        if rates is not None:  # the same masks in every evaluation: fresh Generators, same seeds
            dropout = (rates, [np.random.default_rng(100 + r) for r in range(net.R)])
        out = net.forward(X, train=True, dropout=dropout)
        value, grad = loss.value_and_grad(out, y)
        total = value.sum() + sum(reg.penalty(W).sum() for W in net.weights())
        return total, grad

    total, grad = fwd()
    net.backward(grad)
    G = net.flat_grad.copy()
    for W, GW in zip(net.weights(), net.views(G)[0::2], strict=True):
        reg.add_grad(W, GW)
    return total, G, lambda: fwd()[0]


def check_against_finite_differences(depth, activation, loss_name, penalty, dropout):
    sizes = [3, *([5] * depth), 3]
    net = with_random_biases(make_net(sizes, activation))
    X, y = data(sizes, loss_name)
    loss = LOSSES.create(loss_name)
    reg = REGULARIZERS.create(penalty, **PENALTIES[penalty])
    rates = np.array([0.0, 0.4]) if dropout else None
    _, G, f = objective_and_grad(net, X, y, loss, reg, rates)
    h = 1e-6
    numeric = np.empty_like(G)
    for i in range(net.flat.size):
        old = net.flat[i]
        net.flat[i] = old + h
        up = f()
        net.flat[i] = old - h
        down = f()
        net.flat[i] = old
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(G, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("depth", [1, 2, 4])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "gelu", "silu", "atan"])
@pytest.mark.parametrize("loss_name", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("dropout", [False, True])
def test_gradient_of_whole_networks(depth, activation, loss_name, dropout):
    """float64 central differences of the data loss over every parameter (dropout masks fixed)."""
    check_against_finite_differences(depth, activation, loss_name, "none", dropout)


@pytest.mark.parametrize("depth", [1, 4])
@pytest.mark.parametrize("loss_name", ["softmax_cross_entropy", "mse"])
@pytest.mark.parametrize("penalty", sorted(PENALTIES))
@pytest.mark.parametrize("dropout", [False, True])
def test_gradient_with_each_penalty(depth, loss_name, penalty, dropout):
    """The same check of data loss + penalty (per-replica strengths) through add_grad."""
    check_against_finite_differences(depth, "tanh", loss_name, penalty, dropout)


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_every_registered_activation_backpropagates(activation):
    """Whole-network check (one hidden layer) over the registry, away from kinks."""
    sizes = [2, 4, 2]
    net = with_random_biases(make_net(sizes, activation))
    X, y = data(sizes, "mse", seed=3)
    loss = LOSSES.create("mse")
    _, G, f = objective_and_grad(net, X, y, loss, REGULARIZERS.create("none"), None)
    h = 1e-6
    for i in range(net.flat.size):
        old = net.flat[i]
        net.flat[i] = old + h
        up = f()
        net.flat[i] = old - h
        down = f()
        net.flat[i] = old
        assert abs((up - down) / (2 * h) - G[i]) <= 1e-5 * max(1.0, abs(G[i]))


def test_flat_buffer_layout():
    net = make_net([4, 6, 3], R=3, dtype=np.float32)
    shapes = [(3, 4, 6), (3, 1, 6), (3, 6, 3), (3, 1, 3)]
    assert [p.shape for p in net.params] == shapes
    assert [g.shape for g in net.grads] == shapes
    assert net.flat.ndim == 1 and net.flat.size == sum(int(np.prod(s)) for s in shapes)
    assert net.flat.dtype == np.float32
    for p, g in zip(net.params, net.grads, strict=True):
        assert np.shares_memory(p, net.flat) and np.shares_memory(g, net.flat_grad)
        assert p.flags.c_contiguous and g.flags.c_contiguous
    net.flat[:] = 7.0
    assert all(np.all(p == 7.0) for p in net.params)
    assert [w.shape for w in net.weights()] == [(3, 4, 6), (3, 6, 3)]
    assert all(np.all(b == 7.0) for b in net.biases())


def test_biases_start_at_zero_and_replicas_differ():
    net = make_net([4, 6, 3], R=3)
    assert all(np.all(b == 0) for b in net.biases())
    W = net.weights()[0]
    assert not np.array_equal(W[0], W[1])


def test_per_replica_values_fill_each_replicas_elements():
    net = make_net([2, 3, 2], R=3)
    lr = net.per_replica([0.1, 0.2, 0.3])
    for view in net.views(lr):
        np.testing.assert_array_equal(view[:, 0, 0], np.array([0.1, 0.2, 0.3]))
        assert np.all(view == view[:, :1, :1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_replica_in_stack_equals_replica_alone_bitwise(dtype):
    """Forward and backward of replica r inside a stack of 4 equal it alone (np.array_equal)."""
    sizes = [3, 8, 8, 2]
    R4 = 4
    stack = MLP(sizes, "tanh", None, [np.random.default_rng(s) for s in range(R4)], dtype=dtype)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((R4, 9, 3)).astype(dtype)
    y = rng.integers(0, 2, (R4, 9))
    rates = np.array([0.0, 0.3, 0.5, 0.1])
    loss = LOSSES.create("softmax_cross_entropy")
    out = stack.forward(
        X, train=True, dropout=(rates, [np.random.default_rng(50 + r) for r in range(R4)])
    )
    out = out.copy()
    _, g = loss.value_and_grad(out, y)
    stack.backward(g)
    for r in range(R4):
        alone = MLP(sizes, "tanh", None, [np.random.default_rng(r)], dtype=dtype)
        np.testing.assert_array_equal(
            alone.flat, np.concatenate([p[r].ravel() for p in stack.params])
        )
        o = alone.forward(
            X[r : r + 1], train=True, dropout=(rates[r : r + 1], [np.random.default_rng(50 + r)])
        )
        np.testing.assert_array_equal(o[0], out[r])
        _, gr = loss.value_and_grad(o, y[r : r + 1])
        alone.backward(gr)
        for ga, gs in zip(alone.grads, stack.grads, strict=True):
            np.testing.assert_array_equal(ga[0], gs[r])


def test_backward_leaves_the_callers_gradient_alone():
    net = make_net([3, 5, 5, 2])
    X, y = data([3, 5, 5, 2], "mse")
    out = net.forward(X, train=True)
    grad = out - y
    before = grad.copy()
    net.backward(grad)
    np.testing.assert_array_equal(grad, before)


def test_shared_inputs_equal_stacked_inputs():
    net = make_net([3, 5, 2], R=3)
    X = np.random.default_rng(1).standard_normal((7, 3))
    shared = net.forward(X).copy()
    net.backward(np.ones_like(shared))
    g_shared = net.flat_grad.copy()
    stacked = net.forward(np.broadcast_to(X, (3, 7, 3)).copy())
    np.testing.assert_allclose(shared, stacked, rtol=1e-12)
    net.backward(np.ones_like(stacked))
    np.testing.assert_allclose(g_shared, net.flat_grad, rtol=1e-12)


def test_dropout_masks_are_inverted_and_only_in_training():
    net = make_net([4, 50, 2], R=2, activation="identity")
    X = np.ones((20, 4))
    plain = net.forward(X).copy()
    rates = np.array([0.0, 0.5])
    gens = [np.random.default_rng(0), np.random.default_rng(1)]
    dropped = net.forward(X, train=True, dropout=(rates, gens)).copy()
    np.testing.assert_array_equal(dropped[0], plain[0])  # rate 0: untouched
    assert not np.allclose(dropped[1], plain[1])
    bufs, masks = net._last  # (per-layer buffers, dropout masks) of the last forward
    H = masks[0][0][1]  # layer 0's dropped-out output, replica 1
    A = bufs[0]["A"][1]
    kept = H != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(H[kept], 2.0 * A[kept])  # scaled by 1 / (1 - 0.5)
    np.testing.assert_array_equal(net.forward(X, train=False, dropout=(rates, gens)), plain)


def test_dropout_rate_outside_unit_interval_is_refused():
    net = make_net([2, 3, 2])
    with pytest.raises(NngridError, match="dropout rate"):
        net.forward(np.ones((2, 2)), train=True, dropout=(1.0, [np.random.default_rng(0)] * R))


def test_predict_in_chunks_equals_one_forward():
    net = make_net([3, 6, 2], R=2)
    X = np.random.default_rng(2).standard_normal((25, 3))
    np.testing.assert_array_equal(net.predict(X, chunk=7), net.forward(X))


def test_bad_shapes_and_sizes_are_user_errors():
    net = make_net([3, 4, 2])
    with pytest.raises(NngridError, match="features"):
        net.forward(np.ones((5, 4)))
    with pytest.raises(NngridError, match="inputs must be"):
        net.forward(np.ones((3, 5, 3)))
    with pytest.raises(NngridError):
        MLP([3], "relu", None, [np.random.default_rng(0)])
    with pytest.raises(NngridError, match="Generator"):
        MLP([3, 2], "relu", None, [])


def test_state_arrays_are_the_layers_declared_non_parameter_state():
    """A batch norm's running statistics, the live (R, F) arrays under torch's names; none for
    a network without such layers; declared state without the replica axis is refused."""
    from nngrid.core.layers import Layer
    from nngrid.core.network import Network

    rngs = [np.random.default_rng(s) for s in range(3)]
    net = Network([{"dense": {"units": 4}}, "batch_norm", "layer_norm"], (5,), 2, "relu", rngs=rngs)
    state = net.state_arrays()
    assert list(state) == ["layers.1.running_mean", "layers.1.running_var"]
    assert state["layers.1.running_mean"] is net.layers[1].running_mean
    assert state["layers.1.running_var"] is net.layers[1].running_var
    assert all(a.shape == (3, 4) for a in state.values())
    assert not any(np.shares_memory(a, net.flat) for a in state.values())
    assert make_net([3, 4, 2]).state_arrays() == {}

    class Counter(Layer):
        name = "counter"

        def build(self, shape, net):
            self.count = np.zeros(4)  # one array for the stack: not per replica
            return shape

        def state(self):
            return {"count": self.count}

        def forward(self, X, buf, keep):
            return X

    with pytest.raises(NngridError, match=r"^layer 0 \(counter\): state 'count' .*\(3, \.\.\.\)"):
        Network([Counter()], (5,), 2, "relu", rngs=rngs)


# ---------------------------------------------------------------- the MLP before layers existed
#: The last commit whose network.py was the hand-written MLP (before the layer list).
PRE_LAYERS = "7f6b113"
#: The modules of then that now live in nngrid.core.
CORE_MODULES = ("registry", "activations", "initializers", "losses", "regularizers", "optim")
CORE_MODULES += ("schedules", "layers", "network", "train")


def _old_module(path: str, name: str, swap: dict | None = None):
    """Load ``path`` as it was at :data:`PRE_LAYERS` (skip when git or the commit is absent)."""
    import subprocess
    import sys
    import types
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    try:
        source = subprocess.run(
            ["git", "-C", str(repo), "show", f"{PRE_LAYERS}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {PRE_LAYERS} is not in this checkout")
    module = types.ModuleType(name)
    # the old code imports the core's modules by their names of then (nngrid.<name>)
    import importlib

    for old_name in CORE_MODULES:
        sys.modules.setdefault(
            f"nngrid.{old_name}", importlib.import_module(f"nngrid.core.{old_name}")
        )
    saved = {k: sys.modules.get(k) for k in (swap or {})}
    sys.modules.update(swap or {})
    try:
        exec(compile(source, f"{PRE_LAYERS}:{path}", "exec"), module.__dict__)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return module


@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_is_bitwise_the_pre_layers_mlp(activation, dtype):
    old = _old_module("src/nngrid/network.py", "old_network")
    sizes, R = [5, 16, 8, 3], 3
    new_net = MLP(sizes, activation, None, [np.random.default_rng(s) for s in range(R)], dtype)
    old_net = old.MLP(sizes, activation, None, [np.random.default_rng(s) for s in range(R)], dtype)
    np.testing.assert_array_equal(new_net.flat, old_net.flat)
    rng = np.random.default_rng(7)
    for step in range(3):
        X = rng.standard_normal((R, 11, 5)).astype(dtype)
        g = rng.standard_normal((R, 11, 3)).astype(dtype)
        drop = (np.array([0.0, 0.3, 0.5]), None)
        outs = []
        for net in (new_net, old_net):
            gens = [np.random.default_rng(100 + step + r) for r in range(R)]
            out = net.forward(X, train=True, dropout=(drop[0], gens)).copy()
            outs.append((out, net.backward(g).copy(), net.predict(X[0]).copy()))
        for a, b in zip(*outs, strict=True):
            np.testing.assert_array_equal(a, b)
        new_net.flat -= 0.1 * new_net.flat_grad
        old_net.flat -= 0.1 * old_net.flat_grad
