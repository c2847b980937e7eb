"""Layers: finite-difference gradients in float64 for every kind and configuration, inside whole
networks; shapes, flatten orders, replica independence, specs and their one-line errors."""

import numpy as np
import pytest

from nngrid.core.activations import ACTIVATIONS
from nngrid.core.layers import LAYERS, parse_layers, spec_of
from nngrid.core.network import Network
from nngrid.errors import NngridError

R = 2


def make(layers, in_shape, n_out=3, activation="tanh", R=R, dtype=np.float64, seed=0):
    rngs = [np.random.default_rng(seed + r) for r in range(R)]
    return Network(layers, in_shape, n_out, activation, None, rngs, dtype)


def check_gradients(net, X, samples=25, eps=1e-6, seed=1):
    """Analytic d<G, out>/d params against central differences, on sampled entries of each
    parameter (biases moved off zero and weights perturbed, so that no unit sits at a kink)."""
    rng = np.random.default_rng(seed)
    net.flat += 0.1 * rng.standard_normal(net.flat.shape)
    out = net.forward(X, train=True)
    G = rng.standard_normal(out.shape)
    grad = net.backward(G).copy()
    worst = 0.0
    offset = 0
    for shape in net.shapes:
        n = int(np.prod(shape))
        idx = offset + rng.choice(n, size=min(samples, n), replace=False)
        offset += n
        for i in idx:
            old = net.flat[i]
            net.flat[i] = old + eps
            up = float(np.sum(net.forward(X, train=True, keep=False) * G))
            net.flat[i] = old - eps
            down = float(np.sum(net.forward(X, train=True, keep=False) * G))
            net.flat[i] = old
            numeric = (up - down) / (2 * eps)
            err = abs(numeric - grad[i]) / max(1.0, abs(numeric), abs(grad[i]))
            worst = max(worst, err)
    assert worst < 1e-6, worst
    return grad


def seq_input(B=4, L=11, C=3, seed=5):
    return np.random.default_rng(seed).standard_normal((B, L, C))


CONV = {"conv1d": {"channels": 4, "kernel": 3, "stride": 2, "padding": 1}}
CONV_CONFIGS = [
    {"channels": 3, "kernel": 3},
    {"channels": 3, "kernel": 2, "stride": 2},
    {"channels": 2, "kernel": 3, "stride": 1, "padding": 2, "dilation": 2},
    {"channels": 3, "kernel": 1, "padding": 1},
    {"channels": 2, "kernel": 4, "stride": 3, "padding": 1, "dilation": 1},
]


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_dense_and_conv_gradients_with_every_activation(activation):
    net = make([{"dense": {"units": 5}}, {"dense": {"units": 4}}], (6,), activation=activation)
    check_gradients(net, np.random.default_rng(0).standard_normal((7, 6)))
    net = make([CONV, {"conv1d": CONV_CONFIGS[2]}, "flatten"], (11, 3), activation=activation)
    check_gradients(net, seq_input())


@pytest.mark.parametrize("conv", CONV_CONFIGS)
@pytest.mark.parametrize("channels", [1, 3])
def test_conv1d_gradients_every_configuration(conv, channels):
    # the second conv's input gradient reaches the first conv's weights
    net = make([CONV, {"conv1d": conv}, "flatten"], (11, channels), activation="gelu")
    check_gradients(net, seq_input(C=channels))
    # first layer: shared inputs (broadcast over the replicas) and per-replica inputs
    net = make([{"conv1d": conv}, "flatten"], (11, channels), activation="silu")
    check_gradients(net, seq_input(C=channels))
    check_gradients(net, np.random.default_rng(3).standard_normal((R, 4, 11, channels)))


@pytest.mark.parametrize(
    "pool",
    [
        {"max_pool1d": {"kernel": 2}},
        {"max_pool1d": {"kernel": 3, "stride": 1}},
        {"avg_pool1d": {"kernel": 2}},
        {"avg_pool1d": {"kernel": 3, "stride": 2}},
        "global_avg_pool1d",
    ],
)
def test_pool_gradients(pool):
    tail = [] if pool == "global_avg_pool1d" else ["flatten"]
    net = make([CONV, pool, *tail], (11, 3), activation="elu")
    check_gradients(net, seq_input())
    net = make([pool, *tail, {"dense": {"units": 3}}], (11, 3))  # pool first: shared input
    check_gradients(net, seq_input())


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("sequences", [False, True])
def test_recurrent_gradients_every_configuration(kind, bidirectional, sequences):
    rec = {kind: {"hidden": 3, "bidirectional": bidirectional, "sequences": sequences}}
    tail = ["flatten"] if sequences else []
    net = make([{"conv1d": {"channels": 2, "kernel": 2}}, rec, *tail], (6, 3))
    check_gradients(net, seq_input(L=6))
    # stacked: a sequence-returning layer feeds another
    net = make(
        [{kind: {"hidden": 2, "sequences": True, "bidirectional": True}}, rec, *tail], (5, 2)
    )
    check_gradients(net, seq_input(L=5, C=2))


@pytest.mark.parametrize("activation", ACTIVATIONS.names())
def test_rnn_gradients_with_every_activation(activation):
    rec = {"rnn": {"hidden": 3, "bidirectional": True, "sequences": True}}
    net = make([{"dense": {"units": 2}}] * 0 + [rec, "flatten"], (5, 2), activation=activation)
    check_gradients(net, seq_input(L=5, C=2))


# ------------------------------------------------------------------------- every kind


def around(kind, R=R, dtype=np.float64, seed=0):
    """A network with layer ``kind`` (built from its ``check_params``) inside, so that its
    input gradient reaches a layer before it: on a sequence after a conv1d (then flattened if
    its output is a sequence), else on flat features after a dense layer."""
    entry = {kind: dict(LAYERS.get(kind).check_params)}
    conv, dense = {"conv1d": {"channels": 2, "kernel": 1}}, {"dense": {"units": 4}}
    tries = (((7, 2), [conv, entry]), ((7, 2), [conv, entry, "flatten"]), ((5,), [dense, entry]))
    for in_shape, spec in tries:
        try:
            return make(spec, in_shape, R=R, dtype=dtype, seed=seed), in_shape
        except NngridError:
            continue
    raise AssertionError(f"{kind} builds in none of the test networks; fix its check_params")


@pytest.mark.parametrize("kind", LAYERS.names())
def test_every_kind_gradients_by_finite_differences(kind):
    net, in_shape = around(kind)
    X = np.random.default_rng(2).standard_normal((5, *in_shape))
    check_gradients(net, X)
    # shared inputs and one batch per replica give the same gradient per replica
    net.forward(X, train=True)
    G = np.random.default_rng(3).standard_normal((R, 5, 3))
    shared = net.backward(G.copy()).copy()
    net.forward(np.broadcast_to(X, (R, *X.shape)).copy(), train=True)
    np.testing.assert_allclose(net.backward(G.copy()), shared, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", LAYERS.names())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_kind_replica_alone_equals_replica_in_a_stack_and_keeps_dtype(kind, dtype):
    X = np.random.default_rng(0).standard_normal((3, 6, *around(kind)[1])).astype(dtype)
    G = np.random.default_rng(1).standard_normal((3, 6, 3)).astype(dtype)
    stack, _ = around(kind, R=3, dtype=dtype, seed=10)
    G_before = G.copy()
    out = stack.forward(X, train=True)
    assert out.dtype == dtype and out.shape == (3, 6, 3)
    out = out.copy()
    grad = stack.backward(G)
    assert grad.dtype == dtype
    np.testing.assert_array_equal(G, G_before)  # the upstream gradient is never written
    for r in range(3):
        alone, _ = around(kind, R=1, dtype=dtype, seed=10 + r)
        np.testing.assert_array_equal(alone.forward(X[r : r + 1], train=True)[0], out[r])
        alone.backward(G[r : r + 1])
        for a, b in zip(alone.grads, stack.views(grad), strict=True):
            np.testing.assert_array_equal(a[0], b[r])


@pytest.mark.parametrize("kind", LAYERS.names())
def test_every_kind_evaluation_gradients_by_finite_differences(kind):
    """In evaluation mode too (a batch norm then normalises by its running statistics)."""
    net, in_shape = around(kind)
    X = np.random.default_rng(4).standard_normal((5, *in_shape))
    for _ in range(3):  # move any running statistics away from their start
        net.forward(X + 0.5, train=True, keep=False)
    rng = np.random.default_rng(5)
    G = rng.standard_normal((R, 5, 3))
    net.forward(X, train=False)
    grad = net.backward(G).copy()
    picks = rng.choice(net.flat.size, size=min(40, net.flat.size), replace=False)
    for j in picks:
        keep = net.flat[j]
        net.flat[j] = keep + 1e-6
        up = float(np.sum(net.forward(X, keep=False) * G))
        net.flat[j] = keep - 1e-6
        down = float(np.sum(net.forward(X, keep=False) * G))
        net.flat[j] = keep
        numeric = (up - down) / 2e-6
        assert abs(numeric - grad[j]) <= 1e-6 * max(1.0, abs(numeric)), (j, numeric, grad[j])


# ------------------------------------------------------------------------- shapes and orders


def test_output_shapes_follow_the_formulas():
    net = make(
        [
            {"conv1d": {"channels": 5, "kernel": 5, "stride": 2, "padding": 1}},
            {"max_pool1d": {"kernel": 2}},
            {"gru": {"hidden": 4, "bidirectional": True, "sequences": True}},
            "flatten",
        ],
        (40, 1),
    )
    L1 = (40 + 2 - 4 - 1) // 2 + 1
    L2 = (L1 - 2) // 2 + 1
    dims = [s.dims for s in net.layer_shapes]
    assert dims == [(40, 1), (L1, 5), (L2, 5), (L2, 8), (L2 * 8,), (3,)]
    assert net.forward(np.zeros((6, 40))).shape == (R, 6, 3)  # (n, L): one channel


def test_flatten_orders_channel_major_after_conv_and_time_major_after_rnn():
    net = make([{"conv1d": {"channels": 2, "kernel": 1}}, "flatten"], (3, 1), n_out=6)
    conv, flat = net.layers[0], net.layers[1]
    X = np.arange(3.0).reshape(1, 3, 1)
    bufs = net._get_buffers(1, True, False)
    A = conv.forward(X, bufs[0], False)  # (R, 1, L=3, C=2)
    F = flat.forward(A, bufs[1], False)
    np.testing.assert_array_equal(F[0, 0], A[0, 0].T.ravel())  # c0 t0..t2, then c1 ...
    net = make([{"rnn": {"hidden": 2, "sequences": True}}, "flatten"], (3, 1))
    rnn, flat = net.layers[0], net.layers[1]
    bufs = net._get_buffers(1, True, False)
    H = rnn.forward(X, bufs[0], False)
    np.testing.assert_array_equal(flat.forward(H, bufs[1], False)[0, 0], H[0, 0].ravel())


def test_replica_in_a_stack_equals_replica_alone_bitwise_for_every_kind():
    spec = [
        {"conv1d": {"channels": 3, "kernel": 3, "padding": 1}},
        {"max_pool1d": {"kernel": 2}},
        {"lstm": {"hidden": 3, "bidirectional": True, "sequences": True}},
        {"gru": {"hidden": 2, "sequences": True}},
        {"rnn": {"hidden": 2, "bidirectional": True, "sequences": True}},
        {"avg_pool1d": {"kernel": 2}},
        "flatten",
        {"dense": {"units": 4}},
    ]
    for dtype in (np.float32, np.float64):
        X = np.random.default_rng(0).standard_normal((3, 5, 12, 2)).astype(dtype)
        G = np.random.default_rng(1).standard_normal((3, 5, 3)).astype(dtype)
        stack = make(spec, (12, 2), R=3, dtype=dtype, seed=10)
        out = stack.forward(X, train=True).copy()
        grad = stack.backward(G)
        for r in range(3):
            alone = make(spec, (12, 2), R=1, dtype=dtype, seed=10 + r)
            np.testing.assert_array_equal(alone.forward(X[r : r + 1], train=True)[0], out[r])
            alone.backward(G[r : r + 1])
            for a, b in zip(alone.grads, stack.views(grad), strict=True):
                np.testing.assert_array_equal(a[0], b[r])


def test_state_dict_round_trip_and_torch_shapes():
    spec = [
        {"conv1d": {"channels": 4, "kernel": 3}},
        {"gru": {"hidden": 2, "bidirectional": True}},
    ]
    net = make(spec, (7, 3), n_out=5)
    sd = net.state_dict(1)
    shapes = {k: v.shape for k, v in sd.items()}
    assert shapes == {
        "layers.0.weight": (4, 3, 3),
        "layers.0.bias": (4,),
        "layers.1.weight_ih_l0": (6, 4),
        "layers.1.weight_hh_l0": (6, 2),
        "layers.1.bias_ih_l0": (6,),
        "layers.1.bias_hh_l0": (6,),
        "layers.1.weight_ih_l0_reverse": (6, 4),
        "layers.1.weight_hh_l0_reverse": (6, 2),
        "layers.1.bias_ih_l0_reverse": (6,),
        "layers.1.bias_hh_l0_reverse": (6,),
        "layers.2.weight": (5, 4),
        "layers.2.bias": (5,),
    }
    # conv weight[o, c, k] multiplies input channel c at tap k
    W = net.params[0][1]
    assert sd["layers.0.weight"][2, 1, 0] == W[0 * 3 + 1, 2]
    other = make(spec, (7, 3), n_out=5, seed=50)
    other.load_state_dict(0, sd)
    for a, b in zip(other.get_replica(0), net.get_replica(1), strict=True):
        np.testing.assert_array_equal(a, b)
    bad = dict(sd, **{"layers.0.weight": np.zeros((4, 3, 2))})
    with pytest.raises(NngridError, match=r"layers\.0\.weight has shape \(4, 3, 2\).*layer 0"):
        other.load_state_dict(0, bad)
    missing = {k: v for k, v in sd.items() if k != "layers.1.bias_hh_l0"}
    with pytest.raises(NngridError, match="no 'layers.1.bias_hh_l0' for layer 1"):
        other.load_state_dict(0, missing)
    with pytest.raises(NngridError, match="unexpected key 'extra'"):
        other.load_state_dict(0, dict(sd, extra=np.zeros(1)))


# ------------------------------------------------------------------------- specs and errors


def test_spec_parsing_bare_names_and_round_trip():
    layers = parse_layers(
        [{"conv1d": {"channels": 2, "kernel": 3}}, "flatten", {"dense": {"units": 4}}]
    )
    assert [layer.name for layer in layers] == ["conv1d", "flatten", "dense"]
    net = make(layers, (9, 1))
    assert spec_of(net.layers[:-1]) == [
        {"conv1d": {"channels": 2, "kernel": 3, "stride": 1, "padding": 0, "dilation": 1}},
        "flatten",
        {"dense": {"units": 4}},
    ]


@pytest.mark.parametrize(
    ("spec", "in_shape", "match"),
    [
        (["conv2d"], (5, 1), r"layer 0: unknown kind 'conv2d'; valid choices: dense, conv1d"),
        (
            [{"conv1d": {"channels": 2, "kernal": 3}}],
            (5, 1),
            r"layer 0 \(conv1d\): unknown key 'kernal'; valid keys: channels, kernel",
        ),
        (
            ["flatten", {"conv1d": {"channels": 2}}],
            (5, 1),
            r"layer 1 \(conv1d\): needs key 'kernel'",
        ),
        (
            [{"conv1d": {"channels": 2, "kernel": 7}}],
            (5, 1),
            r"layer 0 \(conv1d\): kernel 7 .* longer than the sequence of length 5",
        ),
        (
            [{"max_pool1d": {"kernel": 2}}, {"dense": {"units": 3}}],
            (5, 2),
            r"layer 1 \(dense\): its input is a sequence.*flatten",
        ),
        ([{"gru": {"hidden": 0}}], (5, 1), r"layer 0 \(gru\): hidden must be an integer >= 1"),
        (
            [{"rnn": {"hidden": 2, "recurrent_init": "eye"}}],
            (5, 1),
            r"layer 0 \(rnn\): unknown recurrent_init 'eye'; valid choices:.*identity",
        ),
        (
            [{"lstm": {"hidden": 2, "sequences": "yes"}}],
            (5, 1),
            r"layer 0 \(lstm\): sequences must be true or false",
        ),
        (
            [{"conv1d": {"channels": 2, "kernel": 2}}],
            (5, 1),
            r"layer 1 \(dense, the output layer\): its input is a sequence",
        ),
        (["flatten", {"rnn": {"hidden": 2}}], (5, 1), r"layer 1 \(rnn\): needs a sequence input"),
    ],
)
def test_bad_specs_are_one_line_errors_naming_index_key_and_choices(spec, in_shape, match):
    with pytest.raises(NngridError, match=match) as info:
        make(spec, in_shape)
    assert "\n" not in str(info.value)


def test_identity_initialised_relu_rnn_starts_from_the_identity():
    net = make([{"rnn": {"hidden": 4, "recurrent_init": "identity"}}], (3, 2), activation="relu")
    np.testing.assert_array_equal(net.params[1][0], np.eye(4))
    gru = make([{"gru": {"hidden": 3}}], (3, 2))
    W_hh = gru.params[1][0]
    for g in range(3):  # each gate's block orthogonal
        block = W_hh[:, 3 * g : 3 * g + 3]
        np.testing.assert_allclose(block.T @ block, np.eye(3), atol=1e-12)
