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
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        NNGRID_PLUGINS="my_plugin",
    )
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
    from nngrid.core.activations import ACTIVATIONS

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
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    env = local_env(PYTHONPATH=path, NNGRID_PLUGINS="my_plugin")
    res = subprocess.run(cmd, cwd=wf, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    runs = pd.read_csv(wf / "results" / "tables" / "runs.csv")
    assert set(runs["activation"]) == {"mish"} and len(runs) > 0


def _cli_examples() -> list[list[str]]:
    """The README's `nngrid ...` commands (continuation lines joined, comments dropped)."""
    import shlex

    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    block = next((b for b in blocks if "nngrid train" in b), None)
    assert block, "the README lost its `nngrid train` examples"
    joined = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line, comments=True) for line in joined.splitlines() if line.strip()]


def test_readme_cli_examples_run_and_give_sensible_results(tmp_path):
    """Every `nngrid` example of the README runs as written (in a scratch folder), and every
    replica it trains on moons ends well above chance (the full-batch default did not)."""
    commands = _cli_examples()
    assert sum(c[:2] == ["nngrid", "train"] for c in commands) >= 2
    outputs = []
    for cmd in commands:
        assert cmd[0] == "nngrid", cmd
        res = subprocess.run(
            [sys.executable, "-m", "nngrid", *cmd[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, f"{' '.join(cmd)}\n{res.stderr[-2000:]}"
        if cmd[1] == "train":
            outputs.append(tmp_path / cmd[cmd.index("--output") + 1])
    replicas = 0
    for out in outputs:
        records = json.loads(out.read_text())
        records = records if isinstance(records, list) else [records]
        replicas += len(records)
        for rec in records:
            assert rec["test_accuracy"] > 0.85, (out.name, rec["lr"], rec["test_accuracy"])
    assert replicas == 1 + 9  # the README's counts: one run, then 9 replicas as one stack


def test_train_help_states_no_empty_default():
    res = subprocess.run(
        [sys.executable, "-m", "nngrid", "train", "--help"], capture_output=True, text=True
    )
    assert res.returncode == 0 and "--batch-size" in res.stdout
    assert "(default: None)" not in res.stdout
    assert "(default: full)" in res.stdout  # real defaults are still stated


def test_readme_points_only_to_files_of_the_repository():
    for target in re.findall(r"\]\(([^)#]+)\)", README) + re.findall(r"`(\.\./[^`]+)`", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), f"README points to {target}, not in a clone"
