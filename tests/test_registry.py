import pytest

from nngrid.errors import NngridError
from nngrid.registry import Registry


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
