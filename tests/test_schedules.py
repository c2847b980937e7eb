"""Learning-rate schedules."""

import math

import numpy as np
import pytest

from nngrid.core.schedules import SCHEDULES
from nngrid.errors import NngridError


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_starts_at_one_and_stays_positive(name):
    sched = SCHEDULES.create(name)
    assert sched.factor(0, 50) == 1.0
    factors = [sched.factor(e, 50) for e in range(50)]
    assert all(0 <= f <= 1 for f in factors)
    assert all(b <= a for a, b in zip(factors, factors[1:], strict=False))  # non-increasing


def test_constant():
    assert [SCHEDULES.create("constant").factor(e, 5) for e in range(5)] == [1.0] * 5


def test_step():
    s = SCHEDULES.create("step", step_size=2, gamma=0.5)
    assert [s.factor(e, 10) for e in range(6)] == [1, 1, 0.5, 0.5, 0.25, 0.25]
    d = SCHEDULES.create("step")
    assert d.factor(29, 100) == 1.0 and d.factor(30, 100) == pytest.approx(0.1)


def test_cosine():
    c = SCHEDULES.create("cosine")
    assert c.factor(5, 10) == pytest.approx(0.5)
    assert c.factor(10, 10) == pytest.approx(0.0, abs=1e-15)
    m = SCHEDULES.create("cosine", eta_min_factor=0.1)
    e = np.arange(10)
    expected = 0.1 + 0.9 * 0.5 * (1 + np.cos(math.pi * e / 10))
    np.testing.assert_allclose([m.factor(int(i), 10) for i in e], expected)


@pytest.mark.parametrize(
    ("name", "params", "param"),
    [
        ("step", {"step_size": 0}, "step_size"),
        ("step", {"gamma": 0}, "gamma"),
        ("step", {"gamma": 1.5}, "gamma"),
        ("cosine", {"eta_min_factor": -0.1}, "eta_min_factor"),
    ],
)
def test_bad_values(name, params, param):
    with pytest.raises(NngridError, match=param):
        SCHEDULES.create(name, **params)


def test_bad_epochs():
    with pytest.raises(NngridError, match="epochs"):
        SCHEDULES.create("cosine").factor(0, 0)
