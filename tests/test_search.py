"""Quasi-random search (nngrid.study.search) and the full and default tuning protocols."""

from __future__ import annotations

import math

import pytest

from nngrid.core.train import RECORD_KEYS, TIMING_KEYS
from nngrid.datasets import build
from nngrid.errors import NngridError
from nngrid.study import search
from nngrid.study.protocol import (
    run_cell,
    run_default_cell,
    run_job,
    run_search_cell,
    select_lr,
)

ADAM_SPACE = {
    "lr": {"low": 1e-3, "high": 0.3, "scale": "log"},
    "b1": {"low": 0.01, "high": 0.5, "scale": "log", "one_minus": True},
    "b2": {"low": 1e-3, "high": 0.1, "scale": "log", "one_minus": True},
    "eps": 1e-8,
}


def untimed(record):
    r = {k: v for k, v in record.items() if k not in TIMING_KEYS and k != "replica"}
    r["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in r["history"]]
    return r


def trained(row):
    """The core's record in a row (untimed), without the cell's fields."""
    r = untimed(row)
    return {k: r[k] for k in RECORD_KEYS if k in r}


# -- search spaces and trials ------------------------------------------------------------------


def test_trials_are_reproducible_bit_for_bit_and_change_with_the_seed():
    ranges, fixed = search.parse_space("adam", ADAM_SPACE)
    a = search.draw_trials(ranges, fixed, 8, seed=3)
    b = search.draw_trials(ranges, fixed, 8, seed=3)
    c = search.draw_trials(ranges, fixed, 8, seed=4)
    assert a == b  # exact floats
    assert a != c
    assert len(a) == 8 and len({t["lr"] for t in a}) == 8
    assert list(a[0]) == ["lr", "b1", "b2", "eps"]  # search.ORDER


def test_trials_lie_in_their_ranges_and_cover_them_evenly():
    ranges, fixed = search.parse_space("adam", ADAM_SPACE)
    trials = search.draw_trials(ranges, fixed, 16, seed=0)
    for t in trials:
        assert 1e-3 <= t["lr"] <= 0.3
        assert 0.5 <= t["b1"] <= 0.99  # 1 - b1 in [0.01, 0.5]
        assert 0.9 <= t["b2"] <= 0.999
        assert t["eps"] == 1e-8
    # 16 points of a scrambled Sobol sequence: one in each sixteenth of every axis (log scale)
    for r in ranges:
        u = sorted(search.trial_positions(ranges, t)[r.name] for t in trials)
        assert [math.floor(x * 16 + 1e-6) for x in u] == list(range(16)), r.name


def test_each_cell_draws_its_own_trials_reproducibly():
    """The trials' seed is the study's search seed and the cell's names: the same cell gets the
    same trials bit for bit, another cell (or another search seed) other trials, so a small
    budget's luck does not repeat across cells and data draws."""
    ranges, fixed = search.parse_space("adam", ADAM_SPACE)
    cell = ("moons_draw0", "none", "relu", "adam")
    seed = search.cell_seed(0, cell)
    assert seed == search.cell_seed(0, list(cell))
    assert search.draw_trials(ranges, fixed, 7, seed) == search.draw_trials(ranges, fixed, 7, seed)
    others = [
        search.cell_seed(1, cell),
        search.cell_seed(0, ("moons_draw1", "none", "relu", "adam")),
        search.cell_seed(0, ("moons_draw0", "l2", "relu", "adam")),
        search.cell_seed(0, ("moons_draw0", "none", "tanh", "adam")),
    ]
    trials = search.draw_trials(ranges, fixed, 7, seed)
    for other in others:
        assert other != seed
        assert search.draw_trials(ranges, fixed, 7, other) != trials


def test_the_search_cell_seeds_its_trials_by_the_cell(moons):
    def trials_of(axes, activation="relu"):
        rows = run_search_cell(
            moons,
            activation=activation,
            optimizer="adam",
            space=ADAM_SPACE,
            budget=2,
            search_seed=0,
            default_lr=1e-3,
            seeds=[0],
            tune_seeds=1,
            axes=axes,
            hidden=[4],
            epochs=1,
            batch_size=64,
        )
        return [r["trial_params"] for r in rows if r["arm"] == "tune"]

    ranges, fixed = search.parse_space("adam", ADAM_SPACE)
    axes = {"dataset": "moons_draw0", "regularizer": "none"}
    expected = search.draw_trials(
        ranges, fixed, 2, search.cell_seed(0, ("moons_draw0", "none", "relu", "adam"))
    )
    assert trials_of(axes) == expected
    assert trials_of({**axes, "dataset": "moons_draw1"}) != expected
    assert trials_of(axes, activation="tanh") != expected


def test_range_values_and_positions():
    r = search.Range("momentum", 1e-3, 0.1, "log", one_minus=True)
    assert r.value(0.0) == 0.999 and r.value(1.0) == 0.9
    assert r.position(r.value(0.5)) == pytest.approx(0.5, abs=1e-5)
    lin = search.Range("weight_decay", 0.0, 0.1, "linear")
    assert lin.value(0.25) == 0.025


def test_on_edge_is_the_outer_sixteenth_of_a_range():
    ranges, _ = search.parse_space("sgd", {"lr": {"low": 1e-3, "high": 1.0}})
    assert search.on_edge(ranges, {"lr": 1e-3 * 1000**0.05}) == ["lr"]  # u = 0.05 < 1/16
    assert search.on_edge(ranges, {"lr": 1e-3 * 1000**0.07}) == []
    assert search.on_edge(ranges, {"lr": 1e-3 * 1000**0.95}) == ["lr"]


@pytest.mark.parametrize(
    ("optimizer", "space", "match"),
    [
        ("adam", {"momentum": 0.9}, "no searchable hyperparameter 'momentum'"),
        ("sgd", {"dampening": 0.1, "lr": {"low": 0.1, "high": 1}}, "dampening"),
        ("adam", {"lr": {"low": 0.1, "high": 0.01}}, "low < high"),
        ("adam", {"lr": {"low": 0.0, "high": 0.01}}, "log range needs low > 0"),
        ("adam", {"lr": {"low": 1e-3, "high": 0.1, "scale": "cubic"}}, "log or linear"),
        ("adam", {"lr": {"low": 1e-3}}, "needs low and high"),
        ("adam", {"b1": {"low": 0.5, "high": 2.0, "scale": "linear"}}, "not a valid b1"),
        ("adam", {"lr": 0.01}, "fixes every value"),
        ("adam", {}, "at least one"),
        ("adam", {"lr": "fast"}, "number or"),
    ],
)
def test_bad_search_spaces_are_one_line_errors(optimizer, space, match):
    with pytest.raises(NngridError, match=match) as err:
        search.parse_space(optimizer, space)
    assert "\n" not in str(err.value)
    assert f"optimizers.{optimizer}.search" in str(err.value)


def test_opt_params_of_gives_per_replica_lists_and_betas_pairs():
    trials = [{"lr": 0.1, "b1": 0.8}, {"lr": 0.2, "b1": 0.9}]
    params = search.opt_params_of("adam", trials, {"weight_decay": 0.01})
    assert params == {
        "weight_decay": 0.01,
        "lr": [0.1, 0.2],
        "betas": [[0.8, 0.999], [0.9, 0.999]],  # b2 from adam's default
    }


# -- the protocols on real training ----------------------------------------------------------


@pytest.fixture(scope="module")
def moons():
    return build("moons", seed=0, n_samples=200, noise=0.2)


TRAINING = dict(hidden=[8], epochs=5, batch_size=32)


def test_full_protocol_stacks_the_trials_and_reruns_the_winner(moons):
    rows = run_search_cell(
        moons,
        activation="relu",
        optimizer="adam",
        space=ADAM_SPACE,
        budget=8,
        search_seed=0,
        default_lr=1e-3,
        seeds=[0, 1],
        tune_seeds=2,
        **TRAINING,
    )
    tune = [r for r in rows if r["arm"] == "tune"]
    assert len(tune) == 16 and len(rows) == 16 + 4
    assert {r["protocol"] for r in rows} == {"full"}
    # the winner is select_lr's over the trials' seeds
    groups = [[r for r in tune if r["trial"] == i] for i in range(8)]
    k, _ = select_lr(groups)
    assert [r["trial"] for r in tune if r["selected"]] == [k, k]
    best = groups[k][0]["trial_params"]
    chosen = rows[0]["chosen_params"]
    assert chosen["lr"] == best["lr"] and chosen["betas"] == [best["b1"], best["b2"]]
    # the tuned arm's first seed is the winning trial's replica of that seed, bit for bit
    tuned0 = next(r for r in rows if r["arm"] == "tuned" and r["seed"] == 0)
    assert trained(tuned0) == trained(groups[k][0])
    # the untuned arm: adam's defaults
    untuned = [r for r in rows if r["arm"] == "untuned"]
    assert {(r["lr"], tuple(r["config"]["opt_params"]["betas"])) for r in untuned} == {
        (1e-3, (0.9, 0.999))
    }
    assert rows[0]["params_on_edge"] == search.on_edge(
        search.parse_space("adam", ADAM_SPACE)[0], best
    )


def test_the_rerun_reuses_the_winners_tuning_replicas_and_trains_the_other_seeds(moons):
    from nngrid.core.train import TrainConfig, train_replicas

    rows = run_search_cell(
        moons,
        activation="relu",
        optimizer="adam",
        space=ADAM_SPACE,
        budget=4,
        search_seed=2,
        default_lr=1e-3,
        seeds=[0, 1, 2],
        tune_seeds=2,
        **TRAINING,
    )
    tuned = [r for r in rows if r["arm"] == "tuned"]
    untuned = [r for r in rows if r["arm"] == "untuned"]
    assert [r["seed"] for r in tuned] == [0, 1, 2] and [r["seed"] for r in untuned] == [0, 1, 2]
    assert [r["replica"] for r in tuned + untuned] == list(range(6))
    best = next(r for r in rows if r["selected"])["trial_params"]
    # seed 2 trained in a stack with the untuned arm (every hyperparameter per replica) equals
    # the winner trained alone with its scalars
    params = {"lr": best["lr"], "betas": [best["b1"], best["b2"]], "eps": best["eps"]}
    alone = train_replicas(
        moons,
        TrainConfig(activation="relu", optimizer="adam", opt_params=params, seeds=[2], **TRAINING),
    ).records[0]
    assert trained(tuned[2]) == trained({**alone, "replica": 2})
    default = train_replicas(
        moons,
        TrainConfig(
            activation="relu", optimizer="adam", opt_params={"lr": 1e-3}, seeds=[1], **TRAINING
        ),
    ).records[0]
    assert trained(untuned[1]) == trained({**default, "replica": 4})


def test_full_protocol_is_reproducible(moons):
    kw = dict(
        activation="tanh",
        optimizer="momentum",
        space={
            "lr": {"low": 1e-3, "high": 1.0},
            "momentum": {"low": 1e-2, "high": 0.5, "one_minus": True},
        },
        budget=4,
        search_seed=1,
        default_lr=1e-3,
        seeds=[0],
        **TRAINING,
    )
    a, b = run_search_cell(moons, **kw), run_search_cell(moons, **kw)
    assert [untimed(r) for r in a] == [untimed(r) for r in b]
    assert len({r["trial_params"]["momentum"] for r in a if r["arm"] == "tune"}) == 4


def test_default_protocol_is_the_lr_protocols_untuned_arm(moons):
    common = dict(activation="relu", optimizer="sgd", default_lr=0.01, seeds=[0, 1], **TRAINING)
    default = run_default_cell(moons, **common)
    lr_rows = run_cell(moons, lrs=[0.01, 0.1], **common)
    untuned = [r for r in lr_rows if r["arm"] == "untuned"]
    assert [r["arm"] for r in default] == ["tuned", "tuned"]
    assert [trained(r) for r in default] == [trained(r) for r in untuned]
    assert default[0]["protocol"] == "default" and default[0]["chosen_params"]["lr"] == 0.01


def _spec(protocol, **tuning):
    return {
        "axes": {"study": "s", "dataset": "moons"},
        "activations": ["relu"],
        "regularizers": [{"label": "none", "kind": "none", "params": {}}],
        "optimizers": [
            {
                "name": "adam",
                "lr_grid": {"low": 1e-3, "high": 1e-1, "points": 2},
                "search": ADAM_SPACE,
            }
        ],
        "seeds": [0, 1],
        "training": {"hidden": [4], "epochs": 2, "batch_size": 50},
        "tuning": {"protocol": protocol, "seeds": 2, **tuning},
    }


@pytest.mark.parametrize("protocol", ["lr", "full", "default"])
def test_every_row_of_a_job_records_its_protocol_and_chosen_params(moons, protocol):
    rows, _ = run_job(moons, _spec(protocol, budget=4) if protocol == "full" else _spec(protocol))
    assert {r["protocol"] for r in rows} == {protocol}
    tuned = [r for r in rows if r["arm"] == "tuned"]
    assert tuned and all(r["chosen_params"] == tuned[0]["config"]["opt_params"] for r in rows)
    assert set(rows[0]["chosen_params"]) == {"lr", "betas", "eps", "weight_decay", "amsgrad"}
    n_tune = sum(r["arm"] == "tune" for r in rows)
    assert (
        n_tune == {"lr": 2 * len(rows[0].get("lr_grid") or []), "full": 8, "default": 0}[protocol]
    )


def test_lr_protocol_rows_are_run_cells_rows_plus_the_protocol_fields(moons):
    rows, _ = run_job(moons, _spec("lr"))
    spec = _spec("lr")
    plain = run_cell(
        moons,
        activation="relu",
        optimizer="adam",
        lrs=[1e-3, 1e-1],
        default_lr=1e-3,
        seeds=[0, 1],
        regularizer="none",
        reg_params={},
        axes={**spec["axes"], "regularizer": "none"},
        tune_seeds=2,
        **spec["training"],
    )
    added = {"protocol", "chosen_params", "params_on_edge"}
    assert [{k: v for k, v in untimed(r).items() if k not in added} for r in rows] == [
        untimed(r) for r in plain
    ]


@pytest.mark.parametrize(
    ("tuning", "match"),
    [
        ({"protocol": "bayes"}, "not a protocol"),
        ({"protocol": "full", "budgett": 3}, "budgett"),
    ],
)
def test_run_job_refuses_bad_tuning(moons, tuning, match):
    spec = _spec("lr")
    spec["tuning"] = tuning
    with pytest.raises(NngridError, match=match):
        run_job(moons, spec)


def test_full_protocol_needs_a_search_space(moons):
    spec = _spec("full")
    del spec["optimizers"][0]["search"]
    with pytest.raises(NngridError, match="no search space"):
        run_job(moons, spec)


def test_trials_stack_in_one_training_call(moons):
    calls = []

    def train(data, config):
        from nngrid.core.train import train_replicas

        calls.append(len(config.seeds))
        return train_replicas(data, config)

    run_search_cell(
        moons,
        activation="relu",
        optimizer="adam",
        space=ADAM_SPACE,
        budget=8,
        search_seed=0,
        default_lr=1e-3,
        seeds=[0, 1, 2],
        tune_seeds=2,
        train=train,
        **TRAINING,
    )
    # 8 trials x 2 tuning seeds in one stack; then the tuned arm's third seed (the first two
    # are the winner's tuning replicas) and the untuned arm's 3 seeds
    assert calls == [16, 4]


def test_job_cost_counts_the_protocols_stacks():
    """config/protocols.yaml: the full study's job costs more than the lr study's when its
    budget outgrows the grid, and the default study's least."""
    import copy
    from pathlib import Path

    import yaml

    from nngrid.study.config import check_config
    from nngrid.study.costs import job_cost

    root = Path(__file__).resolve().parents[1]
    cfg = check_config(
        yaml.safe_load((root / "config" / "protocols.yaml").read_text()),
        root / "workflow" / "schemas" / "config.schema.yaml",
    )
    minutes = {s: job_cost(cfg, s, "moons", "adam")[1] for s in ("lr", "full", "default")}
    assert minutes["default"] < minutes["lr"]
    big = copy.deepcopy(cfg)
    big["studies"]["full"]["tuning"]["budget"] = 64
    _, more, factors = job_cost(big, "full", "moons", "adam")
    assert more > minutes["full"] and more > minutes["lr"]
    assert factors["tuning.budget"][0] == 64
