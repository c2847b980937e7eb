import pytest

from nngrid.core.registry import Registry
from nngrid.errors import NngridError


def make_registry():
    reg = Registry("widget")

    @reg.register("plain")
    class Plain:
        def __init__(self, size=3, *, colour="red"):
            self.size, self.colour = size, colour

    @reg.register("other")
    class Other:
        pass

    return reg


def test_register_sets_name_and_keeps_order():
    reg = make_registry()
    assert reg.names() == ["plain", "other"]
    assert reg.get("plain").name == "plain"
    assert "other" in reg and "missing" not in reg and len(reg) == 2


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(NngridError, match=r"unknown widget 'plian'; valid choices: plain, other"):
        make_registry().get("plian")


def test_create_passes_keywords_and_rejects_unknown_ones():
    reg = make_registry()
    w = reg.create("plain", size=5, colour="blue")
    assert (w.size, w.colour) == (5, "blue")
    assert reg.parameters("plain") == {"size": 3, "colour": "red"}
    with pytest.raises(
        NngridError, match="takes no parameter 'sise'; its parameters: size, colour"
    ):
        reg.create("plain", sise=5)
    with pytest.raises(NngridError, match="its parameters: none"):
        reg.create("other", size=1)


def test_double_registration_and_bad_names_are_programming_errors():
    reg = make_registry()
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("plain")(type("Again", (), {}))
    with pytest.raises(ValueError, match="lower_snake_case"):
        reg.register("Bad-Name")


# ------------------------------------------------------------------------------------------
# Plugins reach the test suite and the workflow's hashes
# ------------------------------------------------------------------------------------------

GOOD_PLUGIN = """
import numpy as np
from nngrid.core.activations import ACTIVATIONS, Activation

@ACTIVATIONS.register("{name}")
class Softsign(Activation):
    def forward(self, z, out=None):
        return np.divide(z, 1 + np.abs(z), out=out)
    def derivative(self, z):
        return 1 / (1 + np.abs(z)) ** 2
"""


def test_the_suite_parametrisation_includes_loaded_plugins(tmp_path):
    """tests/conftest.py loads NNGRID_PLUGINS before the test modules read the registries, so
    the finite-difference test of every activation collects the plugin's one too."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "suiteplug.py").write_text(GOOD_PLUGIN.format(name="suite_softsign"))
    tests = Path(__file__).parent
    env = dict(os.environ, NNGRID_PLUGINS="suiteplug")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(tests / "test_activations.py"), "-k", "central_differences and suite_softsign"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tests.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "1 passed" in proc.stdout, proc.stdout[-2000:]


def test_plugin_sources_enter_the_workflow_hashes(tmp_path, monkeypatch):
    """Editing a plugin changes CORE_HASH (nngrid.study.jobs.source_hash), so its jobs rerun."""
    from nngrid.study.jobs import core_files, source_hash

    monkeypatch.delenv("NNGRID_PLUGINS", raising=False)  # the suite may run with plugins set
    files = core_files()
    without = source_hash(files)
    plugin = tmp_path / "hashplug.py"
    plugin.write_text(GOOD_PLUGIN.format(name="hash_softsign"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NNGRID_PLUGINS", "hashplug")
    with_plugin = source_hash(files)
    plugin.write_text(plugin.read_text() + "# edited\n")
    edited = source_hash(files)
    assert len({without, with_plugin, edited}) == 3
    monkeypatch.delenv("NNGRID_PLUGINS")
    assert source_hash(files) == without  # no plugin: the core's hash alone


@pytest.fixture(autouse=True)
def _forget_test_plugins():
    """Take the plugins these tests load back out of the registries (other modules count the
    registered names)."""
    import sys

    from nngrid import plugins

    yield
    for reg in plugins.registries().values():
        for name in [n for n in reg.names() if n.endswith("_softsign")]:
            reg._remove(name)
    for module in ("hashplug", "suiteplug"):
        sys.modules.pop(module, None)
        plugins._OUTCOME.pop(module, None)
