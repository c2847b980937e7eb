"""PyTorch as the oracle (float64): the same weights give the same outputs and gradients for
every layer kind, and one training step through the command line equals torch's step.

The twin of a spec is a torch module whose submodules sit in a ``ModuleList`` called ``layers``,
one per spec item and the output ``Linear`` last, so nngrid's ``state_dict`` names load into it
unchanged. Agreement is measured per array as ``max |a - b| / max |b|`` (<= 1e-10).
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from nngrid.core.network import Network  # noqa: E402

TOL = 1e-10


class Twin(nn.Module):
    """The torch module a spec means (see nngrid.core.layers for the conventions)."""

    def __init__(self, net: Network, activation: str):
        super().__init__()
        self.spec = [(layer.name, layer) for layer in net.layers]
        self.act = {"relu": torch.relu, "tanh": torch.tanh, "identity": lambda h: h}[activation]
        mods = []
        for (kind, layer), shape in zip(self.spec, net.layer_shapes, strict=False):
            dims = shape.dims
            declared = getattr(type(layer), "torch", None)  # a layer that names its twin
            if declared is not None:
                module, keys, _ = declared
                mods.append(getattr(nn, module)(dims[-1], **{k: getattr(layer, k) for k in keys}))
            elif kind == "dense":
                mods.append(nn.Linear(dims[0], layer.units))
            elif kind == "conv1d":
                mods.append(
                    nn.Conv1d(
                        dims[1],
                        layer.channels,
                        layer.kernel,
                        stride=layer.stride,
                        padding=layer.padding,
                        dilation=layer.dilation,
                    )
                )
            elif kind == "max_pool1d":
                mods.append(nn.MaxPool1d(layer.kernel, layer.stride))
            elif kind == "avg_pool1d":
                mods.append(nn.AvgPool1d(layer.kernel, layer.stride))
            elif kind == "global_avg_pool1d":
                mods.append(nn.AdaptiveAvgPool1d(1))
            elif kind == "flatten":
                mods.append(nn.Flatten())
            else:
                cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
                extra = {"nonlinearity": activation} if kind == "rnn" else {}
                mods.append(
                    cls(
                        dims[1],
                        layer.hidden,
                        batch_first=True,
                        bidirectional=layer.bidirectional,
                        **extra,
                    )
                )
        self.layers = nn.ModuleList(mods)

    def forward(self, x):  # x: (B, L, C) or (B, F)
        h, layout = (x.transpose(1, 2), "BCL") if x.ndim == 3 else (x, "flat")
        for (kind, layer), mod in zip(self.spec, self.layers, strict=True):
            declared = getattr(type(layer), "torch", None)
            if declared is not None:  # features last (layer_norm) or channels first (batch_norm)
                wrong = "BCL" if declared[2] == "last" else "BLC"
                if layout == wrong:
                    h, layout = h.transpose(1, 2), "BLC" if wrong == "BCL" else "BCL"
                h = mod(h)
            elif kind in ("conv1d", "max_pool1d", "avg_pool1d", "global_avg_pool1d"):
                if layout == "BLC":
                    h = h.transpose(1, 2)
                h, layout = mod(h), "BCL"
                if kind == "conv1d":
                    h = self.act(h)
                if kind == "global_avg_pool1d":
                    h, layout = h.squeeze(-1), "flat"
            elif kind == "flatten":
                h, layout = mod(h), "flat"
            elif kind == "dense":
                h = mod(h)
                if not layer.output:
                    h = self.act(h)
            else:
                if layout == "BCL":
                    h = h.transpose(1, 2)
                out, h_n = mod(h)
                if kind == "lstm":
                    h_n = h_n[0]
                if layer.sequences:
                    h, layout = out, "BLC"
                else:
                    h, layout = h_n.transpose(0, 1).reshape(h.shape[0], -1), "flat"
        return h


def twin_of(net, activation, r=0):
    """The twin with replica ``r``'s parameters (and running statistics, for batch norms)."""
    twin = Twin(net, activation).double()
    sd = {k: torch.from_numpy(v) for k, v in net.state_dict(r).items()}
    missing, unexpected = twin.load_state_dict(sd, strict=False)
    assert not unexpected
    for i, layer in enumerate(net.layers):
        if hasattr(layer, "running_mean"):
            mod = twin.layers[i]
            mod.running_mean.copy_(torch.from_numpy(layer.running_mean[r].astype(np.float64)))
            mod.running_var.copy_(torch.from_numpy(layer.running_var[r].astype(np.float64)))
            missing = [k for k in missing if not k.startswith(f"layers.{i}.")]
    assert not missing, missing  # every parameter came from nngrid
    return twin


def close(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(np.abs(b).max(), 1e-300)
    assert np.abs(a - b).max() / scale <= TOL, np.abs(a - b).max() / scale


SPECS = {
    "mlp": ([{"dense": {"units": 7}}, {"dense": {"units": 5}}], (6,)),
    "cnn": (
        [
            {"conv1d": {"channels": 4, "kernel": 5, "stride": 2, "padding": 1}},
            {"conv1d": {"channels": 3, "kernel": 3, "padding": 2, "dilation": 2}},
            {"max_pool1d": {"kernel": 2}},
            {"avg_pool1d": {"kernel": 3, "stride": 1}},
            "flatten",
            {"dense": {"units": 6}},
        ],
        (23, 2),
    ),
    "gap": (
        [
            {"conv1d": {"channels": 5, "kernel": 3}},
            {"max_pool1d": {"kernel": 3, "stride": 2}},
            "global_avg_pool1d",
        ],
        (12, 3),
    ),
    "rnn": (
        [{"rnn": {"hidden": 4, "bidirectional": True, "sequences": True}}, {"rnn": {"hidden": 3}}],
        (7, 2),
    ),
    "gru": (
        [
            {"conv1d": {"channels": 3, "kernel": 2}},
            {"gru": {"hidden": 4, "bidirectional": True, "sequences": True}},
            "flatten",
        ],
        (9, 2),
    ),
    "gru_last": ([{"gru": {"hidden": 5, "bidirectional": True}}], (8, 3)),
    "lstm": (
        [
            {"lstm": {"hidden": 3, "bidirectional": True, "sequences": True}},
            {"lstm": {"hidden": 4, "sequences": False}},
        ],
        (6, 2),
    ),
    "lstm_seq": ([{"lstm": {"hidden": 3, "sequences": True}}, "flatten"], (5, 1)),
    "norms_mlp": (
        [{"dense": {"units": 7}}, "batch_norm", {"dense": {"units": 5}}, "layer_norm"],
        (6,),
    ),
    "norms_seq": (
        [
            {"conv1d": {"channels": 3, "kernel": 2}},
            {"batch_norm": {"momentum": 0.3, "eps": 1e-3}},
            "layer_norm",
            {"rnn": {"hidden": 3, "sequences": True}},
            "batch_norm",
            {"layer_norm": {"eps": 1e-4}},
            "flatten",
        ],
        (8, 2),
    ),
}


@pytest.mark.parametrize("name", ["norms_mlp", "norms_seq"])
def test_norm_layers_equal_torch_over_a_training_step_then_in_evaluation(name):
    """Per replica of a stack of 2: a training pass (batch statistics), its gradients, one Adam
    step and the running statistics it leaves equal torch's; then an evaluation pass (running
    statistics) and its gradients equal torch's in eval mode."""
    from nngrid.core.optim import make_optimizer

    spec, in_shape = SPECS[name]
    R = 2
    net = Network(spec, in_shape, 4, "tanh", None, [np.random.default_rng(r) for r in range(R)],
                  np.float64)  # fmt: skip
    rng = np.random.default_rng(7)
    net.flat += 0.1 * rng.standard_normal(net.flat.shape)  # gains off 1, biases off 0
    X = rng.standard_normal((R, 6, *in_shape)) + 0.5
    X2 = rng.standard_normal((R, 5, *in_shape))
    G = rng.standard_normal((R, 6, 4))
    G2 = rng.standard_normal((R, 5, 4))
    twins = [twin_of(net, "tanh", r) for r in range(R)]
    out = net.forward(X, train=True).copy()
    net.backward(G)
    make_optimizer("adam", lr=0.01).step([net.flat], [net.flat_grad])
    out_eval = net.forward(X2, train=False).copy()
    net.backward(G2)
    for r, twin in enumerate(twins):
        opt = torch.optim.Adam(twin.parameters(), lr=0.01)
        twin.train()
        y = twin(torch.from_numpy(X[r]))
        close(out[r], y.detach().numpy())
        (y * torch.from_numpy(G[r])).sum().backward()
        opt.step()
        after = {k: v.detach().numpy() for k, v in twin.state_dict().items()}
        for key, value in net.state_dict(r).items():
            close(value, after[key])
        for i, layer in enumerate(net.layers):
            if layer.name == "batch_norm":
                close(layer.running_mean[r], after[f"layers.{i}.running_mean"])
                close(layer.running_var[r], after[f"layers.{i}.running_var"])
        assert not np.allclose(net.layers[1].running_mean[r], 0)  # the statistics moved
        twin.eval()
        twin.zero_grad()
        y = twin(torch.from_numpy(X2[r]))
        close(out_eval[r], y.detach().numpy())
        (y * torch.from_numpy(G2[r])).sum().backward()
        grads = {
            f"layers.{i}.{n}": net.layers[i].to_torch(n, net.grads[j][r])
            for j, (i, n, _) in enumerate(net.param_specs)
        }
        for key, p in twin.named_parameters():
            close(grads[key], p.grad.numpy())


@pytest.mark.parametrize("name", SPECS)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_same_weights_same_outputs_and_gradients(name, activation):
    spec, in_shape = SPECS[name]
    R = 2
    rngs = [np.random.default_rng(10 + r) for r in range(R)]
    net = Network(spec, in_shape, 4, activation, None, rngs, np.float64)
    rng = np.random.default_rng(0)
    net.flat += 0.1 * rng.standard_normal(net.flat.shape)  # nonzero biases
    X = rng.standard_normal((R, 6, *in_shape))
    G = rng.standard_normal((R, 6, 4))
    out = net.forward(X, train=True).copy()
    net.backward(G)
    for r in range(R):
        twin = twin_of(net, activation, r)
        xt = torch.from_numpy(X[r])
        yt = twin(xt)
        close(out[r], yt.detach().numpy())
        (yt * torch.from_numpy(G[r])).sum().backward()
        grads = {
            f"layers.{i}.{n}": net.layers[i].to_torch(n, net.grads[j][r])
            for j, (i, n, _) in enumerate(net.param_specs)
        }
        for key, p in twin.named_parameters():
            close(grads[key], p.grad.numpy())


@pytest.mark.parametrize(
    ("spec", "activation"),
    [
        (
            "[{conv1d: {channels: 3, kernel: 3, padding: 1, stride: 2}}, {max_pool1d: {kernel: 2}},"
            " {lstm: {hidden: 3, bidirectional: true, sequences: true}}, flatten,"
            " {dense: {units: 4}}]",
            "tanh",
        ),
        ("[{rnn: {hidden: 4, bidirectional: true}}, {dense: {units: 5}}]", "relu"),
        ("[{gru: {hidden: 3, sequences: true}}, global_avg_pool1d]", "relu"),
    ],
)
def test_one_training_step_through_the_cli_equals_torch(tmp_path, spec, activation):
    import yaml

    from nngrid import io
    from nngrid.cli import main

    rng = np.random.default_rng(3)
    L, C, n = 10, 2, 12
    data = {f"X_{p}": rng.standard_normal((n, L, C)) for p in ("train", "val", "test")}
    data.update({f"y_{p}": rng.permutation(np.arange(n) % 3) for p in ("train", "val", "test")})
    io.write_npz(tmp_path / "data.npz", **data)
    start = Network(yaml.safe_load(spec), (L, C), 3, activation, None, [rng], np.float64)
    start.flat += 0.1 * rng.standard_normal(start.flat.shape)
    io.write_npz(tmp_path / "init.npz", **start.state_dict(0))
    argv = ["train", "--data", str(tmp_path / "data.npz"), "--layers", spec]
    argv += ["--activation", activation, "--init-from", str(tmp_path / "init.npz")]
    argv += ["--save-weights", str(tmp_path / "out.npz"), "--epochs", "1", "--batch-size"]
    argv += ["full", "--optimizer", "adam", "--lr", "0.01", "--dtype", "float64", "--quiet"]
    argv += ["--output", str(tmp_path / "run.json")]
    assert main(argv) == 0
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["config"]["layers"] == start_spec(start)

    twin = twin_of(start, activation)
    opt = torch.optim.Adam(twin.parameters(), lr=0.01)
    loss = nn.functional.cross_entropy(
        twin(torch.from_numpy(data["X_train"])), torch.from_numpy(data["y_train"])
    )
    opt.zero_grad()
    loss.backward()
    opt.step()
    saved = dict(np.load(tmp_path / "out.npz"))
    expected = {k: v.detach().numpy() for k, v in twin.state_dict().items()}
    assert set(saved) == set(expected)
    for key, value in expected.items():
        close(saved[key], value)
    # the weights moved: the comparison is not of the starting point with itself
    first = next(iter(expected))
    assert not np.allclose(saved[first], start.state_dict(0)[first])


def start_spec(net):
    from nngrid.core.layers import spec_of

    return spec_of(net.layers[:-1])


def test_nngrid_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys, nngrid.cli, nngrid.core.train, nngrid.core.layers, nngrid.core.network; "
        "nngrid.cli.build_parser(); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_clip_norm_equals_torch_clip_grad_norm_per_replica():
    from nngrid.core.train import clip_gradients

    spec, in_shape = SPECS["gru"]
    R = 3
    rngs = [np.random.default_rng(r) for r in range(R)]
    net = Network(spec, in_shape, 4, "tanh", None, rngs, np.float64)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((R, 5, *in_shape))
    G = rng.standard_normal((R, 5, 4)) * np.array([1.0, 50.0, 0.01]).reshape(-1, 1, 1)
    net.forward(X, train=True)
    net.backward(G)
    limit = 1.0
    norms = clip_gradients(net.grads, limit)
    assert norms[1] > limit > norms[2]  # one replica clipped, one left alone
    for r in range(R):
        twin = twin_of(net, "tanh", r)
        (twin(torch.from_numpy(X[r])) * torch.from_numpy(G[r])).sum().backward()
        total = torch.nn.utils.clip_grad_norm_(twin.parameters(), limit)
        assert float(total) == pytest.approx(norms[r], rel=1e-12)
        grads = {
            f"layers.{i}.{n}": net.layers[i].to_torch(n, net.grads[j][r])
            for j, (i, n, _) in enumerate(net.param_specs)
        }
        for key, p in twin.named_parameters():
            close(grads[key], p.grad.numpy())


def _twinned_activations():
    from nngrid.core.activations import ACTIVATIONS

    return [n for n in ACTIVATIONS.names() if ACTIVATIONS.get(n).torch is not None]


@pytest.mark.parametrize("name", _twinned_activations())
def test_activations_equal_their_declared_torch_function_and_its_gradient(name):
    """``f`` and ``f'`` against ``torch.nn.functional.<torch>`` (with the activation's declared
    hyperparameters as its keywords) and autograd, float64, away from any kink."""
    from nngrid.core.activations import ACTIVATIONS

    cls = ACTIVATIONS.get(name)
    act = cls()
    z = np.linspace(-6, 6, 301) + 1e-3  # no point exactly at 0
    zt = torch.tensor(z, requires_grad=True)
    yt = getattr(nn.functional, cls.torch)(zt, **act.hyperparams())
    yt.sum().backward()
    close(act.forward(z), yt.detach().numpy())
    close(act.derivative(z), zt.grad.numpy())
