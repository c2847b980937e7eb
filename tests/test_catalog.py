"""The component catalog: config/README.md's tables are `nngrid list --markdown`, and every
listing reads the components' declarations."""

import re
from pathlib import Path

from nngrid.core.activations import ACTIVATIONS, Activation
from nngrid.core.catalog import MARKDOWN_KINDS, catalog, catalog_markdown, catalog_text
from nngrid.core.hyper import Hyper

README = Path(__file__).resolve().parents[1] / "config" / "README.md"


def test_config_readme_tables_equal_the_generated_text():
    text = README.read_text()
    found = re.search(r"<!-- components:begin -->\n(.*?)<!-- components:end -->", text, re.S)
    assert found, "config/README.md lost its component table markers"
    assert found.group(1) == catalog_markdown(), "run `nngrid list --markdown` and paste it"


def test_markdown_has_a_table_per_kind_and_a_row_per_declared_hyperparameter():
    md = catalog_markdown()
    for kind in MARKDOWN_KINDS:
        assert f"#### {kind}\n" in md
    assert "| `adam` | `betas` | pair or per-replica array | `[0.9, 0.999]` | [0, 1) |" in md
    assert "| `dropout` | `rate` | float or per-replica array | `0.5` | [0, 1) |" in md
    assert "| `relu` | - | - | - | - | - |" in md


def test_a_new_component_shows_in_the_text_and_json_but_not_in_the_readme_tables():
    @ACTIVATIONS.register("tmp_catalog_gain")
    class Gain(Activation):
        hypers = (Hyper("k", float, 2.0, low=0.5, high=4.0, high_open=True, help="slope"),)

        def forward(self, z, out=None):
            return z * self.k

        def derivative(self, z):
            return z * 0 + self.k

    Gain.__module__ = "someone_elses_plugin"
    try:
        assert "  tmp_catalog_gain  (k=2.0 (float in [0.5, 4)))" in catalog_text().splitlines()
        assert catalog()["activations"]["tmp_catalog_gain"] == {"k": 2.0}
        assert "tmp_catalog_gain" not in catalog_markdown()
        assert "tmp_catalog_gain" in catalog_markdown(in_tree=False)
    finally:
        ACTIVATIONS._remove("tmp_catalog_gain")
