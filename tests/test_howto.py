"""docs/ARCHITECTURE.md's "How to add a component" examples run: each is written out as a
throw-away plugin (public API only), and the generic test modules, parametrised over the
registries, run on them with NNGRID_PLUGINS set; the command line and `nngrid list` see them."""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from local_env import local_env

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
KINDS = ("optimizer", "activation", "initializer", "regularizer", "schedule", "loss", "layer")

#: The generic test modules: each parametrises its checks over a registry.
GENERIC = [
    "test_optim.py",
    "test_activations.py",
    "test_initializers.py",
    "test_regularizers.py",
    "test_schedules.py",
    "test_losses.py",
    "test_layers.py",
    "test_train.py",
]


def examples() -> dict[str, tuple[str, str]]:
    """kind -> (the registered name, the example's code), from the doc's ``# howto:`` blocks."""
    blocks = re.findall(r"```python\n# howto: (\w+)\n(.*?)```", DOC.read_text(), re.S)
    out = {}
    for kind, code in blocks:
        name = re.search(r'\.register\("(\w+)"\)', code).group(1)
        out[kind] = (name, code)
    return out


def test_the_doc_has_one_worked_example_per_kind():
    assert sorted(examples()) == sorted(KINDS)


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    where = tmp_path_factory.mktemp("howto")
    modules = []
    for kind, (_, code) in examples().items():
        (where / f"howto_{kind}.py").write_text(code)
        modules.append(f"howto_{kind}")
    path = os.pathsep.join([str(where), str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")])
    return local_env(PYTHONPATH=path, NNGRID_PLUGINS=",".join(modules)), where


def test_the_generic_checks_pass_on_every_example(plugin_env):
    env, where = plugin_env
    names = {kind: name for kind, (name, _) in examples().items()}
    report = where / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m",
         "not slow and not slurm and not browser", "-k", " or ".join(names.values()),
         f"--junitxml={report}", *[str(ROOT / "tests" / m) for m in GENERIC]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    cases = [c.get("name", "") for c in ET.parse(report).getroot().iter("testcase")]
    for kind, name in names.items():  # each example went through checks of its own
        ran = [c for c in cases if re.search(rf"\b{name}\b", c)]
        assert len(ran) >= 2, f"{kind} {name}: only {ran} ran"


def test_the_examples_appear_in_nngrid_list_with_their_declarations(plugin_env):
    env, _ = plugin_env
    proc = subprocess.run([sys.executable, "-m", "nngrid", "list", "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = json.loads(proc.stdout)
    assert table["optimizers"]["lion"] == {"lr": 1e-4, "betas": [0.9, 0.99], "weight_decay": 0.0}
    assert table["activations"]["softsign"] == {"scale": 1.0}
    assert table["layers"]["scale"] == {"start": 1.0}
    assert table["losses"]["huber"] == {"delta": 1.0}


def test_the_example_optimizer_trains_from_the_command_line_and_its_bounds_hold(plugin_env):
    env, where = plugin_env
    base = [sys.executable, "-m", "nngrid", "train", "--dataset", "moons", "--hidden", "4",
            "--epochs", "2", "--quiet", "--optimizer", "lion", "--regularizer", "cauchy",
            "--strength", "0.01", "--activation", "softsign", "--schedule", "linear_decay",
            "--layers", "[{dense: {units: 4}}, scale]"]  # fmt: skip
    ok = subprocess.run([*base, "--betas", "0.8,0.95", "--lr", "0.01"], cwd=where, env=env,
                        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    rec = json.loads(ok.stdout)
    assert rec["config"]["opt_params"]["betas"] == [0.8, 0.95]
    assert rec["config"]["layers"] == [{"dense": {"units": 4}}, "scale"]
    bad = subprocess.run([*base, "--betas", "1.5,0.9"], cwd=where, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip() == "nngrid: error: lion betas[0] must be in [0, 1), got 1.5"
