"""The two ways to install nngrid (pip and conda) ask for the same versions."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _split(req: str) -> tuple[str, str]:
    """'numpy==2.4.6' -> ('numpy', '==2.4.6'); conda's 'numpy=2.4.6' -> ('numpy', '==2.4.6')."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    name, spec = m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")
    if re.match(r"^=[^=]", spec):
        spec = "=" + spec
    return name, spec


def _pyproject_pins() -> dict[str, str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = meta["dependencies"] + meta["optional-dependencies"]["test"]
    return dict(_split(r) for r in reqs)


def _conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pins.update(_split(d) for d in dep["pip"] if not d.startswith("-e"))
        elif not dep.startswith(("python=", "pip")) or dep.startswith("pip:"):
            pins.update([_split(dep)])
    return pins


def test_every_pyproject_pin_is_in_environment_yml_with_the_same_version():
    conda = _conda_pins()
    for name, spec in _pyproject_pins().items():
        assert name in conda, f"{name} is in pyproject.toml but not in environment.yml"
        assert conda[name] == spec, f"{name}: pyproject {spec!r} vs environment.yml {conda[name]!r}"


def test_environment_yml_asks_for_nothing_pyproject_lacks():
    extra = set(_conda_pins()) - set(_pyproject_pins())
    assert not extra, f"only in environment.yml: {sorted(extra)}"


def test_environment_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e .[test]" in pip


def test_the_report_needs_no_test_extra():
    """`snakemake --report` imports pygments: it must come with the main dependencies."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    main = dict(_split(r) for r in meta["dependencies"])
    assert "pygments" in main, "pygments (for snakemake --report) must be a main dependency"
