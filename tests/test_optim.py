"""Optimizers: PyTorch reference values, literal re-implementations, inclusions, replicas."""

import math

import numpy as np
import pytest

from nngrid.core.optim import OPTIMIZERS, make_optimizer
from nngrid.errors import NngridError

# ---- reference values declared on the classes (the lesson's table): theta0 = 1, f = theta^2 / 2

REFERENCED = [n for n in OPTIMIZERS.names() if OPTIMIZERS.get(n).reference is not None]
STUDY = [(n, *OPTIMIZERS.get(n).reference) for n in REFERENCED]
IN_TREE = [n for n in OPTIMIZERS.names() if OPTIMIZERS.get(n).__module__ == "nngrid.core.optim"]


def test_every_in_tree_optimizer_declares_its_reference_values():
    assert set(IN_TREE) <= set(REFERENCED)  # plugins may leave them out


@pytest.mark.parametrize(("name", "hp", "expected"), STUDY, ids=[r[0] for r in STUDY])
def test_study_reference_values(name, hp, expected):
    opt = make_optimizer(name, **hp)
    theta = np.array([1.0])
    got = []
    for _ in range(3):
        opt.step([theta], [theta.copy()])
        got.append(theta[0])
    # the table gives 10 significant digits
    np.testing.assert_allclose(got, expected, rtol=1e-9)


# ---- literal transcriptions of the torch.optim pseudo-code --------------------------------


def ref_sgd(p, grad_fn, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    b = None
    for t in range(1, steps + 1):
        g = grad_fn(p)
        if weight_decay != 0:
            g = g + weight_decay * p
        if momentum != 0:
            if t > 1:
                b = momentum * b + (1 - dampening) * g
            else:
                b = g
            if nesterov:
                g = g + momentum * b
            else:
                g = b
        p = p - lr * g
    return p


def ref_adagrad(
    p, grad_fn, steps, lr, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10
):
    state_sum = np.full_like(p, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = grad_fn(p)
        if weight_decay != 0:
            g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        state_sum = state_sum + g * g
        p = p - clr * g / (np.sqrt(state_sum) + eps)
    return p


def ref_rmsprop(
    p, grad_fn, steps, lr, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False
):
    v = np.zeros_like(p)
    b = np.zeros_like(p)
    g_ave = np.zeros_like(p)
    for _ in range(steps):
        g = grad_fn(p)
        if weight_decay != 0:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v - g_ave * g_ave
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
    return p


def ref_adam(
    p,
    grad_fn,
    steps,
    lr,
    betas=(0.9, 0.999),
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    decoupled=False,
):
    b1, b2 = betas
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    v_max = np.zeros_like(p)
    for t in range(1, steps + 1):
        g = grad_fn(p)
        if decoupled:
            p = p * (1 - lr * weight_decay)
        elif weight_decay != 0:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def ref_adamw(
    p, grad_fn, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False
):
    return ref_adam(p, grad_fn, steps, lr, betas, eps, weight_decay, amsgrad, decoupled=True)


REFERENCE = {
    "sgd": ref_sgd,
    "adagrad": ref_adagrad,
    "rmsprop": ref_rmsprop,
    "adam": ref_adam,
    "adamw": ref_adamw,
}

LITERAL = [
    ("sgd", "sgd", {"lr": 0.05}),
    ("sgd", "sgd", {"lr": 0.05, "weight_decay": 0.01}),
    ("sgd", "sgd", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3, "weight_decay": 0.02}),
    ("sgd", "sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.02}),
    ("momentum", "sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.02}),
    ("momentum", "sgd", {"lr": 0.05, "momentum": 0.7, "dampening": 0.5}),
    ("nesterov", "sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.02}),
    ("adagrad", "adagrad", {"lr": 0.1, "weight_decay": 0.02}),
    (
        "adagrad",
        "adagrad",
        {
            "lr": 0.1,
            "lr_decay": 0.05,
            "initial_accumulator_value": 0.1,
            "eps": 1e-6,
            "weight_decay": 0.01,
        },
    ),
    ("rmsprop", "rmsprop", {"lr": 0.01, "weight_decay": 0.02}),
    ("rmsprop", "rmsprop", {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.02}),
    ("rmsprop", "rmsprop", {"lr": 0.01, "centered": True, "weight_decay": 0.02}),
    ("rmsprop", "rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.9, "eps": 1e-5}),
    ("adam", "adam", {"lr": 0.01, "weight_decay": 0.02}),
    (
        "adam",
        "adam",
        {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True, "weight_decay": 0.02},
    ),
    ("adamw", "adamw", {"lr": 0.01}),
    ("adamw", "adamw", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "betas": [0.5, 0.9]}),
]


def quadratic(seed=0, shape=(4, 6)):
    """f(p) = sum(a p^2 / 2 + c p), a > 0: grad = a p + c (changes with p), random start."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.2, 3.0, shape)
    c = rng.standard_normal(shape)
    p0 = rng.standard_normal(shape)
    return p0, (lambda p: a * p + c)


def run(name, hp, p0, grad_fn, steps, dtype=np.float64):
    opt = make_optimizer(name, **hp)
    p = p0.astype(dtype)
    for _ in range(steps):
        g = grad_fn(p).astype(dtype)
        opt.step([p], [g])
    return p


@pytest.mark.parametrize(
    ("name", "ref", "hp"), LITERAL, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LITERAL)]
)
def test_matches_literal_torch_algorithm_over_20_steps(name, ref, hp):
    p0, grad_fn = quadratic()
    got = run(name, hp, p0, grad_fn, 20)
    ref_hp = dict(hp, nesterov=True) if name == "nesterov" else hp
    expected = REFERENCE[ref](p0.copy(), grad_fn, 20, **ref_hp)
    assert not np.allclose(got, p0)  # it moved
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_every_in_tree_optimizer_is_checked_against_a_literal_transcription():
    assert set(IN_TREE) <= {n for n, _, _ in LITERAL}


# ---- inclusions (bitwise) ------------------------------------------------------------------


def same(a_name, a_hp, b_name, b_hp, steps=15):
    p0, grad_fn = quadratic(3)
    return np.array_equal(
        run(a_name, a_hp, p0, grad_fn, steps), run(b_name, b_hp, p0, grad_fn, steps)
    )


def test_inclusions_are_bitwise():
    assert same("sgd", {"lr": 0.1, "momentum": 0.0}, "sgd", {"lr": 0.1})
    assert same("momentum", {"lr": 0.1}, "sgd", {"lr": 0.1, "momentum": 0.9})
    assert same("nesterov", {"lr": 0.1}, "sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True})
    assert same("adamw", {"lr": 0.1, "weight_decay": 0.0}, "adam", {"lr": 0.1})
    assert not same("adamw", {"lr": 0.1}, "adam", {"lr": 0.1})  # the default decay acts
    assert same("rmsprop", {"lr": 0.01, "momentum": 0.0}, "rmsprop", {"lr": 0.01})


def test_sgd_weight_decay_is_l2_gradient_added():
    p0, grad_fn = quadratic(4)
    wd = 0.05
    a = run("sgd", {"lr": 0.1, "weight_decay": wd}, p0, grad_fn, 10)
    b = run("sgd", {"lr": 0.1}, p0, lambda p: p * wd + grad_fn(p), 10)
    np.testing.assert_array_equal(a, b)


def test_amsgrad_equals_adam_while_second_moment_grows():
    # |g| grows every step, so v never decreases and max(v_max, v) = v
    p_a = np.zeros(5)
    p_b = np.zeros(5)
    a = make_optimizer("adam", lr=0.01, amsgrad=True)
    b = make_optimizer("adam", lr=0.01)
    for t in range(1, 20):
        g = np.linspace(1, 2, 5) * t
        a.step([p_a], [g])
        b.step([p_b], [g])
    np.testing.assert_array_equal(p_a, p_b)


def test_momentum_is_the_lessons_velocity_form():
    """Lesson: m = b1 m - lr g; W += m. Same trajectory as torch's SGD momentum (constant lr)."""
    p0, grad_fn = quadratic(5)
    got = run("momentum", {"lr": 0.05}, p0, grad_fn, 20)
    w, m = p0.copy(), np.zeros_like(p0)
    for _ in range(20):
        m = 0.9 * m - 0.05 * grad_fn(w)
        w = w + m
    np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-14)


# ---- replicas, lr, state, dtype ------------------------------------------------------------

ALL_HP = {
    "sgd": {"weight_decay": 0.01},
    "momentum": {"dampening": 0.1, "weight_decay": 0.01},
    "nesterov": {"weight_decay": 0.01},
    "adagrad": {"lr_decay": 0.01, "weight_decay": 0.01},
    "rmsprop": {"momentum": 0.5, "centered": True, "weight_decay": 0.01},
    "adam": {"weight_decay": 0.01, "amsgrad": True},
    "adamw": {},
}


@pytest.mark.parametrize("name", OPTIMIZERS.names())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lr_layout", ["per_replica", "per_element"])
def test_per_replica_lr_is_bitwise_separate_optimizers(name, dtype, lr_layout):
    rng = np.random.default_rng(7)
    R, shape = 3, (4, 5)
    lrs = np.array([0.003, 0.02, 0.1])
    hp = ALL_HP.get(name, {})
    p0 = rng.standard_normal((R, *shape)).astype(dtype)
    grads = [rng.standard_normal((R, *shape)).astype(dtype) for _ in range(8)]
    lr = lrs.reshape(-1, 1, 1)
    if lr_layout == "per_element":
        lr = np.broadcast_to(lr, p0.shape).ravel()
    stacked = make_optimizer(name, lr=lrs[0], **hp)
    stacked.lr = lr  # reassigned after construction, as the trainer does
    p = p0.copy()
    if lr_layout == "per_element":  # one flat buffer, one lr per element
        flat = p.reshape(-1)
        for g in grads:
            stacked.step([flat], [g.reshape(-1)])
    else:
        for g in grads:
            stacked.step([p], [g])
    for r in range(R):
        alone = make_optimizer(name, lr=float(lrs[r]), **hp)
        q = p0[r].copy()
        for g in grads:
            alone.step([q], [g[r]])
        np.testing.assert_array_equal(p[r], q)
    assert p.dtype == dtype


#: Per-replica values of every per-replica hyperparameter but lr (3 replicas), some mixing 0
#: with positive values (the nonzero branch then serves every replica).
PER_REPLICA = {
    "sgd": {"momentum": [0.0, 0.5, 0.9], "weight_decay": [0.0, 0.01, 0.1]},
    "momentum": {"momentum": [0.5, 0.9, 0.99], "weight_decay": [0.01, 0.0, 0.1]},
    "nesterov": {"momentum": [0.5, 0.9, 0.99], "weight_decay": [0.01, 0.1, 0.0]},
    "adagrad": {"eps": [1e-10, 1e-3, 0.1], "weight_decay": [0.0, 0.01, 0.1]},
    "rmsprop": {
        "alpha": [0.9, 0.99, 0.5],
        "eps": [1e-8, 1e-3, 1.0],
        "momentum": [0.0, 0.5, 0.9],
        "weight_decay": [0.0, 0.01, 0.1],
    },
    "adam": {
        "betas": ([0.8, 0.9, 0.95], [0.99, 0.999, 0.9]),
        "eps": [1e-8, 1e-3, 10.0],
        "weight_decay": [0.0, 0.01, 0.1],
    },
    "adamw": {
        "betas": ([0.8, 0.9, 0.9], [0.99, 0.999, 0.9]),
        "eps": [1e-8, 1e-8, 1e3],
        "weight_decay": [0.0, 0.01, 0.1],
    },
}
VARIANTS = [
    (name, keys) for name, hps in PER_REPLICA.items() for keys in [*[(k,) for k in hps], tuple(hps)]
]


def test_per_replica_table_covers_every_declared_per_replica_hyperparameter():
    for name in IN_TREE:
        declared = {h.name for h in OPTIMIZERS.hypers(name) if h.per_replica} - {"lr"}
        assert declared == set(PER_REPLICA[name]), name
        assert declared  # every in-tree optimizer has one besides lr


def _replica_value(key, values, r):
    return (values[0][r], values[1][r]) if key == "betas" else values[r]


def _layout(key, values, layout, shape):
    def one(v):
        v = np.asarray(v, np.float64).reshape(-1, 1, 1)
        return np.broadcast_to(v, shape).ravel().copy() if layout == "per_element" else v

    return tuple(one(v) for v in values) if key == "betas" else one(values)


@pytest.mark.parametrize(
    ("name", "keys"), VARIANTS, ids=[f"{n}-{'+'.join(k)}" for n, k in VARIANTS]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["per_replica", "per_element"])
def test_per_replica_hyperparameters_are_bitwise_separate_optimizers(name, keys, dtype, layout):
    """Replica r of a stack whose momentum / betas / eps / alpha / weight decay (and lr) differ
    per replica == a separate optimizer with replica r's scalars, bit for bit."""
    rng = np.random.default_rng(11)
    R, shape = 3, (4, 5)
    lrs = np.array([0.003, 0.02, 0.1])
    base = {k: v for k, v in ALL_HP.get(name, {}).items() if k not in keys}
    p0 = rng.standard_normal((R, *shape)).astype(dtype)
    grads = [rng.standard_normal((R, *shape)).astype(dtype) for _ in range(8)]
    per = {k: PER_REPLICA[name][k] for k in keys}
    stacked = make_optimizer(name, lr=lrs[0], **base)
    stacked.lr = _layout("lr", lrs, layout, p0.shape)
    for k, v in per.items():
        setattr(stacked, k, _layout(k, v, layout, p0.shape))
    p = p0.copy()
    for g in grads:
        if layout == "per_element":
            stacked.step([p.reshape(-1)], [g.reshape(-1)])
        else:
            stacked.step([p], [g])
    for r in range(R):
        alone = make_optimizer(
            name,
            lr=float(lrs[r]),
            **base,
            **{k: _replica_value(k, v, r) for k, v in per.items()},
        )
        q = p0[r].copy()
        for g in grads:
            alone.step([q], [g[r]])
        np.testing.assert_array_equal(p[r], q)
    assert p.dtype == dtype
    assert not np.array_equal(p[0], p[1])


@pytest.mark.parametrize("name", sorted(PER_REPLICA))
def test_per_replica_values_pass_the_declared_checks(name):
    hp = {
        k: (np.array(v[0]), np.array(v[1])) if k == "betas" else np.array(v)
        for k, v in PER_REPLICA[name].items()
    }
    opt = make_optimizer(name, **hp)  # arrays are accepted at construction ...
    record = opt.hyperparams()
    for k, v in PER_REPLICA[name].items():
        assert record[k] == ([list(v[0]), list(v[1])] if k == "betas" else list(v))
    key = sorted(hp)[0]
    bad = (np.array([0.9, 1.5, 0.9]), hp[key][1]) if key == "betas" else np.array([0.1, -1.0, 0.1])
    with pytest.raises(NngridError, match=f"{name} {key}"):  # ... and checked entry by entry
        make_optimizer(name, **{key: bad})


def test_nesterov_refuses_a_zero_momentum_in_a_per_replica_array():
    with pytest.raises(NngridError, match="nesterov"):
        make_optimizer("sgd", nesterov=True, momentum=np.array([0.9, 0.0]))


def test_a_reassigned_per_replica_array_is_recast():
    p = np.array([1.0, 1.0])
    opt = make_optimizer("rmsprop", lr=0.1, eps=np.array([1.0, 1.0]))
    opt.step([p], [np.array([1.0, 1.0])])
    first = p.copy()
    opt.eps = np.array([1.0, 100.0])
    opt.step([p], [np.array([1.0, 1.0])])
    step0, step1 = first - p
    assert step1 < step0 / 10  # the new eps acts on the second element


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_state_is_lazy_and_grads_untouched(name):
    opt = make_optimizer(name, **ALL_HP.get(name, {}))
    assert opt.state is None and opt.t == 0
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 1, 4))]
    grads = [rng.standard_normal(p.shape) for p in params]
    before = [g.copy() for g in grads]
    p_before = [p.copy() for p in params]
    opt.step(params, grads)
    assert len(opt.state) == 2 and opt.t == 1
    for g, g0 in zip(grads, before, strict=True):
        np.testing.assert_array_equal(g, g0)
    for p, p0 in zip(params, p_before, strict=True):
        assert not np.array_equal(p, p0)
    with pytest.raises(NngridError):
        opt.step(params[:1], grads[:1])


def test_lr_can_be_reassigned_between_steps():
    p = np.array([1.0])
    opt = make_optimizer("sgd", lr=0.1)
    opt.step([p], [np.array([1.0])])
    opt.lr = 0.5
    opt.step([p], [np.array([1.0])])
    np.testing.assert_allclose(p, [1.0 - 0.1 - 0.5])
    with pytest.raises(NngridError, match="lr"):
        opt.lr = 0.0
    arr = np.array([0.25])
    opt.lr = arr
    arr[0] = 100.0  # the optimizer keeps its own copy
    opt.step([p], [np.array([1.0])])
    np.testing.assert_allclose(p, [1.0 - 0.1 - 0.5 - 0.25])


TWINNED = [n for n in OPTIMIZERS.names() if OPTIMIZERS.get(n).torch is not None]


def test_every_in_tree_optimizer_declares_its_torch_twin():
    assert set(IN_TREE) <= set(TWINNED)


@pytest.mark.parametrize("name", TWINNED)
def test_declared_defaults_are_those_of_the_torch_twin(name):
    """Every declared hyperparameter is one of the twin's, with the twin's default (or the value
    the optimizer fixes on it, ``torch_kwargs``); the record lists exactly the declared ones."""
    import inspect

    torch = pytest.importorskip("torch")
    cls = OPTIMIZERS.get(name)
    sig = inspect.signature(getattr(torch.optim, cls.torch)).parameters
    for key, default in OPTIMIZERS.parameters(name).items():
        assert key in sig, f"{name}: torch.optim.{cls.torch} has no {key}"
        expected = cls.torch_kwargs.get(key, sig[key].default)
        if key == "lr":
            continue  # torch's own lr defaults are the same; the study always sets one
        assert default == (tuple(expected) if isinstance(expected, list) else expected), key
    hp = make_optimizer(name).hyperparams()
    assert list(hp) == list(OPTIMIZERS.parameters(name))


@pytest.mark.parametrize("name", TWINNED)
def test_twenty_steps_equal_the_torch_twin(name):
    torch = pytest.importorskip("torch")
    cls = OPTIMIZERS.get(name)
    p0, grad_fn = quadratic(7)
    hp = {"lr": 0.05, "weight_decay": 0.01}
    got = run(name, hp, p0, grad_fn, 20)
    t = torch.tensor(p0.copy(), requires_grad=True)
    opt = getattr(torch.optim, cls.torch)([t], **{**cls.torch_kwargs, **hp})
    for _ in range(20):
        opt.zero_grad()
        t.grad = torch.from_numpy(grad_fn(t.detach().numpy()))
        opt.step()
    np.testing.assert_allclose(got, t.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert not np.allclose(got, p0)


BAD = [
    ("sgd", {"lr": 0}, "lr"),
    ("sgd", {"lr": -0.1}, "lr"),
    ("sgd", {"lr": math.inf}, "lr"),
    ("sgd", {"lr": math.nan}, "lr"),
    ("sgd", {"lr": np.array([0.1, -1.0])}, "lr"),
    ("sgd", {"momentum": -0.5}, "momentum"),
    ("sgd", {"nesterov": True}, "nesterov"),
    ("sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening"),
    ("sgd", {"weight_decay": -1}, "weight_decay"),
    ("momentum", {"momentum": 0}, "momentum"),
    ("adagrad", {"eps": -1e-10}, "eps"),
    ("adagrad", {"lr_decay": -1}, "lr_decay"),
    ("rmsprop", {"alpha": 1.0}, "alpha"),
    ("rmsprop", {"eps": -1}, "eps"),
    ("rmsprop", {"momentum": -1}, "momentum"),
    ("adam", {"betas": (1.0, 0.999)}, r"betas\[0\]"),
    ("adam", {"betas": (0.9, -0.1)}, r"betas\[1\]"),
    ("adam", {"betas": 0.9}, "betas"),
    ("adam", {"eps": -1e-8}, "eps"),
    ("adamw", {"lr": "fast"}, "lr"),
    ("adamw", {"weight_decay": -0.01}, "weight_decay"),
]


@pytest.mark.parametrize(("name", "hp", "param"), BAD)
def test_bad_hyperparameters_raise_naming_the_parameter(name, hp, param):
    with pytest.raises(NngridError, match=param) as info:
        make_optimizer(name, **hp)
    assert name in str(info.value)


def test_unknown_names_and_parameters():
    with pytest.raises(NngridError, match="valid choices"):
        make_optimizer("adamm")
    with pytest.raises(NngridError, match="momentum"):
        make_optimizer("adam", momentum=0.9)
