"""Declared hyperparameters: checks, messages, ranges, parsing; components built from them;
the registry's view of declared and undeclared entries; the config check."""

import numpy as np
import pytest

from nngrid.core.hyper import Component, Hyper, declared
from nngrid.core.registry import Registry, check_params
from nngrid.errors import NngridError
from nngrid.plugins import registries


def test_a_number_is_checked_against_its_bounds_and_converted():
    h = Hyper("rate", float, 0.5, low=0.0, high=1.0, high_open=True)
    assert h.check("drop", 0) == 0.0 and isinstance(h.check("drop", 0), float)
    assert h.range_text() == "[0, 1)"
    with pytest.raises(NngridError, match=r"^drop rate must be in \[0, 1\), got 1.0$"):
        h.check("drop", 1.0)
    for bad in (True, "0.5", None, float("nan")):
        with pytest.raises(NngridError, match="drop rate must be"):
            h.check("drop", bad)


def test_integers_pairs_booleans_and_arrays():
    n = Hyper("patience", int, 10, low=1)
    assert n.check("es", 3.0) == 3 and isinstance(n.check("es", 3.0), int)
    with pytest.raises(NngridError, match=r"integer in \[1, inf\), got 2.5"):
        n.check("es", 2.5)
    pair = Hyper("betas", tuple, (0.9, 0.999), low=0.0, high=1.0, high_open=True)
    assert pair.check("adam", [0.5, 0.6]) == (0.5, 0.6)
    with pytest.raises(NngridError, match=r"betas\[1\] must be in \[0, 1\), got 1"):
        pair.check("adam", (0.5, 1))
    with pytest.raises(NngridError, match="must be a pair"):
        pair.check("adam", 0.9)
    flag = Hyper("nesterov", bool, False)
    assert flag.check("sgd", np.bool_(True)) is True
    with pytest.raises(NngridError, match="true or false"):
        flag.check("sgd", 1)
    lr = Hyper("lr", float, 1e-3, low=0.0, low_open=True, per_replica=True)
    given = [0.1, 0.2]
    arr = lr.check("sgd", given)
    given[0] = 5.0
    np.testing.assert_array_equal(arr, [0.1, 0.2])  # a copy
    with pytest.raises(NngridError, match=r"everywhere, got -1.0 in the array"):
        lr.check("sgd", [0.1, -1.0])


def test_parse_reads_command_line_text_by_type():
    assert Hyper("x", tuple, (0, 0)).parse("0.9,0.99") == (0.9, 0.99)
    assert Hyper("x", bool, False).parse("yes") is True
    assert Hyper("x", int, 1).parse("7") == 7
    with pytest.raises(ValueError):
        Hyper("x", tuple, (0, 0)).parse("1")


class Thing(Component):
    name = "thing"
    hypers = (Hyper("a", float, 1.0, low=0.0), Hyper("b", float, 2.0, low=0.0))

    def validate(self):
        if self.a > self.b:
            raise NngridError(f"thing needs a <= b, got a={self.a}, b={self.b}")


def test_a_component_checks_sets_and_validates_its_declarations():
    t = Thing(a=0.5)
    assert (t.a, t.b) == (0.5, 2.0) and t.hyperparams() == {"a": 0.5, "b": 2.0}
    assert repr(t) == "Thing(a=0.5, b=2.0)"
    with pytest.raises(NngridError, match="thing needs a <= b"):
        Thing(a=3.0)
    with pytest.raises(NngridError, match="thing takes no parameter 'c'; its parameters: a, b"):
        Thing(c=1)


def test_the_registry_reads_declarations_and_falls_back_to_signatures():
    reg = Registry("thing")
    reg.register("declared")(Thing)

    @reg.register("legacy")
    class Legacy(Component):  # an own constructor: its signature is the truth
        def __init__(self, size: int = 3):
            self.size = size

    assert declared(Thing) and not declared(Legacy)
    assert reg.parameters("declared") == {"a": 1.0, "b": 2.0}
    assert reg.parameters("legacy") == {"size": 3}
    assert [h.type for h in reg.hypers("legacy")] == [int]


def test_check_params_is_the_config_check_of_a_component():
    assert check_params(registries()["regularizers"], "l2", {"strength": 0.1})["strength"] == 0.1
    with pytest.raises(NngridError, match=r"^at key 'strenght' is not a parameter of regularizer"):
        check_params(registries()["regularizers"], "l2", {"strenght": 0.1}, where="at")
    with pytest.raises(NngridError, match=r"at.strength = true is a boolean"):
        check_params(registries()["regularizers"], "l2", {"strength": True}, where="at")
    with pytest.raises(NngridError, match=r"l2 strength must be in \[0, inf\), got -1"):
        check_params(registries()["regularizers"], "l2", {"strength": -1})
    with pytest.raises(NngridError, match="'lr' is not a parameter"):
        check_params(registries()["optimizers"], "adam", {"lr": 0.1}, skip=("lr",))
