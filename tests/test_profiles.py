"""Tests for nngrid.study.profiles and the performance-profile rows of rankings.csv."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from synthetic_tables import synthetic_tables

from nngrid.study import profiles as P
from nngrid.study.tables import fastest_steps, profile_rankings

INF = math.inf


def _steps(rows: dict[str, list[float]]) -> pd.DataFrame:
    n = len(next(iter(rows.values())))
    index = pd.MultiIndex.from_tuples(
        [("grid", f"d{i % 2}", "relu", f"r{i}") for i in range(n)],
        names=["study", "dataset", "activation", "regularizer"],
    )
    return pd.DataFrame(rows, index=index)


def test_ratios_profile_and_area_by_hand():
    steps = _steps({"a": [10, 20, INF, INF, 5], "b": [20, 10, 40, INF, np.nan]})
    r, dropped = P.ratios(steps)
    # the cell nobody finished is left out (and counted); the one b never ran in is dropped
    assert dropped == 1 and len(r) == 3
    np.testing.assert_array_equal(r["a"], [1.0, 2.0, INF])
    np.testing.assert_array_equal(r["b"], [2.0, 1.0, 1.0])
    rho = P.profile(r, [1.0, 1.99, 2.0, 100.0])
    np.testing.assert_allclose(rho["a"], [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(rho["b"], [2 / 3, 2 / 3, 1.0, 1.0])
    area = P.area_scores(r, tau_max=4.0)
    np.testing.assert_allclose(area["a"], [1.0, 0.5, 0.0])  # 1 - ln 2 / ln 4 = 0.5
    np.testing.assert_allclose(area.mean(), [0.5, 2.5 / 3])


def test_the_area_is_the_profiles_integral_over_log_tau():
    rng = np.random.default_rng(7)
    steps = _steps({o: list(rng.choice([50, 80, 120, 300, 900, INF], 40)) for o in "abc"})
    r, _ = P.ratios(steps)
    tau_max = 4.0
    u = np.linspace(0.0, math.log(tau_max), 200_001)  # ln tau
    rho = P.profile(r, np.exp(u)).to_numpy()
    integral = ((rho[1:] + rho[:-1]) / 2 * np.diff(u)[:, None]).sum(axis=0) / math.log(tau_max)
    np.testing.assert_allclose(P.area_scores(r, tau_max).mean().to_numpy(), integral, atol=1e-4)


def test_zero_steps_do_not_divide_zero_by_zero():
    r, _ = P.ratios(_steps({"a": [0.0, 10.0], "b": [3.0, 10.0]}))
    np.testing.assert_array_equal(r.to_numpy(), [[1.0, INF], [1.0, 1.0]])


def test_bootstrap_area_is_seeded_and_no_narrower_than_the_data_allow():
    rng = np.random.default_rng(0)
    cells = rng.uniform(0, 1, 40)
    a = P.bootstrap_area([cells], seed=0)
    assert a == P.bootstrap_area([cells], seed=0)
    assert a[1:3] != P.bootstrap_area([cells], seed=1)[1:3]
    assert a[1] < cells.mean() < a[2] and a[0] == pytest.approx(cells.mean())
    assert math.isnan(P.bootstrap_area([cells[:9]], seed=0)[1])  # too few cells
    assert math.isnan(P.bootstrap_area([cells[:20], cells[20:]], seed=0)[1])  # 2 datasets
    assert math.isnan(P.bootstrap_area([np.ones(30)], seed=0)[1])  # no spread, no interval
    # three datasets: the datasets resampled first, so the interval is wider than over cells
    groups = [cells[:13] + 0.0, cells[13:26] * 0.2, cells[26:] * 0.2 + 0.8]
    two_level = P.bootstrap_area(groups, seed=0)
    flat = P.bootstrap_area([np.concatenate(groups)], seed=0)
    assert two_level[2] - two_level[1] > flat[2] - flat[1]


def test_fastest_steps_takes_each_optimizers_fastest_rate_over_the_grids_cells():
    t = synthetic_tables()
    ours = fastest_steps(t["runs"], t["summary"])
    assert len(ours) == 8 and ours.shape[1] == 3
    tune = t["runs"][t["runs"]["arm"] == "tune"]
    cell = ours.index[0]
    rows = tune.set_index(["study", "dataset", "activation", "regularizer"]).loc[cell]
    for opt in ours.columns:  # the smallest per-rate median over the tuning seeds
        per_rate = rows[rows["optimizer"] == opt].groupby("lr")["steps_to_target"].median()
        assert ours.loc[cell, opt] == per_rate.min()
    assert fastest_steps(t["runs"][t["runs"]["arm"] != "tune"], t["summary"]).empty


def test_profile_rankings_rank_each_dataset_and_all_of_them():
    t = synthetic_tables()
    rows = profile_rankings(t["runs"], t["summary"], seed=0)
    assert set(rows["metric"]) == {P.METRIC} and set(rows["factor"]) == {"optimizer"}
    assert set(rows["dataset"]) == {"moons", "circles", "all"}
    steps = fastest_steps(t["runs"], t["summary"])
    r, _ = P.ratios(steps)
    expect = P.area_scores(r).mean()
    every = rows[rows["dataset"] == "all"].set_index("level")
    # the pooled score is the mean over datasets of their means (equal cell counts here)
    np.testing.assert_allclose(every.loc[expect.index, "mean"], expect.to_numpy())
    assert (every["n"] == len(r)).all()
    for _, sub in rows.groupby("dataset"):
        assert sorted(sub["rank"]) == [1, 2, 3]
        assert sub.sort_values("rank")["mean"].is_monotonic_decreasing
    # 4 cells per dataset: too few for an interval, none is given
    assert rows["ci_low"].isna().all()
