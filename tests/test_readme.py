"""The README's examples run as written."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from local_env import local_env

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _plugin_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    plugin = [b for b in blocks if "ACTIVATIONS.register" in b]
    assert plugin, "the README lost its plugin example"
    return plugin[0]


def test_readme_plugin_activation_trains_from_the_command_line(tmp_path):
    (tmp_path / "my_plugin.py").write_text(_plugin_source())
    env = dict(os.environ, PYTHONPATH=str(tmp_path), NNGRID_PLUGINS="my_plugin")
    out = tmp_path / "out.json"
    cmd = [sys.executable, "-m", "nngrid", "train", "--dataset", "spirals", "--activation"]
    cmd += ["mish", "--epochs", "2", "--quiet", "--output", str(out)]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    record = json.loads(out.read_text())
    assert record["config"]["activation"] == "mish"
    assert record["epochs"] == 2


def test_readme_plugin_derivative_matches_finite_differences(tmp_path):
    namespace: dict = {}
    from nngrid.activations import ACTIVATIONS

    try:
        exec(compile(_plugin_source(), "my_plugin.py", "exec"), namespace)  # noqa: S102
        mish = ACTIVATIONS.get("mish")()
        z = np.linspace(-4, 4, 41)
        h = 1e-6
        numeric = (mish.forward(z + h) - mish.forward(z - h)) / (2 * h)
        analytic = mish.backward(z, mish.forward(z), np.ones_like(z))
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    finally:
        ACTIVATIONS._entries.pop("mish", None)


@pytest.mark.slow
def test_readme_plugin_activation_runs_through_the_workflow(tmp_path):
    """NNGRID_PLUGINS reaches the config check and the training jobs, not only the CLI."""
    wf = tmp_path / "wf"
    wf.mkdir()
    for name in ("Snakefile", "workflow", "config", "profiles"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, wf / name)
    (tmp_path / "my_plugin.py").write_text(_plugin_source())
    cfg = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    cfg["datasets"] = {"moons": cfg["datasets"]["moons"]}
    cfg["regularizers"] = {"none": {}}
    cfg["optimizers"] = {"adam": cfg["optimizers"]["adam"]}
    cfg["training"]["epochs"] = 2
    cfg["studies"] = {
        "plugin": {
            "datasets": ["moons"],
            "activations": ["mish"],
            "regularizers": ["none"],
            "optimizers": ["adam"],
        }
    }
    (wf / "config" / "plugin.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "tables", "--cores", "1", "--configfile", "config/plugin.yaml"]
    without = subprocess.run(cmd + ["-n"], cwd=wf, env=local_env(), capture_output=True, text=True)
    assert without.returncode != 0 and "'mish' is not valid" in without.stdout + without.stderr
    env = local_env(PYTHONPATH=str(tmp_path), NNGRID_PLUGINS="my_plugin")
    res = subprocess.run(cmd, cwd=wf, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = pd.read_csv(wf / "results" / "tables" / "runs.csv")
    assert set(runs["activation"]) == {"mish"} and len(runs) > 0
