"""The fair-comparison protocol: tuning on validation, edge flags, tuned/untuned arms, jobs."""

from __future__ import annotations

import dataclasses
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from nngrid.datasets import build, save_dataset
from nngrid.errors import NngridError
from nngrid.study.protocol import ARMS, extend_grid, lr_grid, main, run_cell, run_job, select_lr


def rec(val_acc=0.5, val_loss=1.0, diverged=False, test_acc=0.5):
    return {
        "val_accuracy": val_acc,
        "val_loss": val_loss,
        "test_accuracy": test_acc,
        "diverged": diverged,
    }


class StubTrain:
    """Records every call; a replica at rate ``lr`` and seed ``s`` gets validation accuracy
    ``score(lr, s)`` (``scores[lr]`` when ``scores`` is a dict) and diverges when
    ``(lr, s)`` or ``lr`` is in ``diverged``."""

    def __init__(self, scores, diverged=(), test_scores=None):
        self.scores = scores
        self.diverged = set(diverged)
        self.test_scores = test_scores or {}
        self.calls = []

    def score(self, lr, seed):
        if callable(self.scores):
            return self.scores(lr, seed)
        return self.scores.get(lr, 0.1)

    def __call__(self, data, config):
        kw = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        opt_params, seeds = kw.pop("opt_params"), kw.pop("seeds")
        self.calls.append({"opt_params": opt_params, "seeds": list(seeds), **kw})
        lrs = opt_params["lr"]
        assert len(lrs) == len(seeds)
        out = []
        for lr, seed in zip(lrs, seeds, strict=True):
            acc = self.score(lr, seed)
            div = lr in self.diverged or (lr, seed) in self.diverged
            test = self.test_scores.get(lr, 0.8)
            out.append({**rec(acc, 1.0 - acc, div, test), "seed": seed, "lr_seen": lr})
        return SimpleNamespace(records=out)


# -- the grid ----------------------------------------------------------------------------------


def test_lr_grid_is_log_spaced_with_exact_endpoints():
    grid = lr_grid(1e-4, 1e-1, 7)
    assert grid[0] == 1e-4 and grid[-1] == 0.1 and len(grid) == 7
    ratios = np.diff(np.log10(grid))
    np.testing.assert_allclose(ratios, 0.5, rtol=1e-5)


@pytest.mark.parametrize("args", [(0, 1, 3), (-1, 1, 3), (1, 0.1, 3), (1e-3, 1, 0), (1e-3, 1, 2.5)])
def test_lr_grid_rejects_bad_bounds(args):
    with pytest.raises(NngridError):
        lr_grid(*args)


# -- selection ---------------------------------------------------------------------------------


def test_select_picks_best_validation_accuracy():
    assert select_lr([rec(0.7), rec(0.9), rec(0.8)]) == (1, False)


def test_select_breaks_accuracy_ties_by_lower_validation_loss_then_smaller_lr():
    assert select_lr([rec(0.9, 0.5), rec(0.9, 0.3), rec(0.9, 0.4)]) == (1, False)
    assert select_lr([rec(0.9, 0.3), rec(0.9, 0.3)]) == (0, False)


def test_select_diverged_candidates_lose_even_with_higher_accuracy():
    records = [rec(0.6), rec(0.99, diverged=True), rec(0.7)]
    assert select_lr(records) == (2, False)
    # a non-finite validation loss counts as diverged even without the flag
    assert select_lr([rec(0.6), rec(0.99, val_loss=math.inf)]) == (0, False)
    assert select_lr([rec(0.6), rec(0.99, val_loss=None)]) == (0, False)


def test_select_all_diverged_returns_smallest_rate_and_flag():
    assert select_lr([rec(diverged=True), rec(diverged=True)]) == (0, True)


def test_select_regression_minimises_validation_loss():
    records = [rec(None, 0.5), rec(None, 0.2), rec(None, 0.3)]
    assert select_lr(records) == (1, False)


def test_select_ignores_test_metrics():
    records = [rec(0.9, test_acc=0.1), rec(0.8, test_acc=1.0)]
    assert select_lr(records) == (0, False)


def test_select_scores_the_mean_over_seeds_not_one_seed():
    # seed 0 alone would pick candidate 1; the mean over three seeds picks candidate 0
    a = [rec(0.80), rec(0.82), rec(0.81)]
    b = [rec(0.90), rec(0.70), rec(0.70)]
    assert select_lr([a, b]) == (0, False)
    assert select_lr([a[0], b[0]]) == (1, False)


def test_select_a_rate_diverging_on_any_seed_loses_to_one_that_never_does():
    safe = [rec(0.7), rec(0.7), rec(0.7)]
    risky = [rec(0.99), rec(0.99), rec(0.9, diverged=True)]
    assert select_lr([risky, safe]) == (1, False)
    assert select_lr([risky, [rec(diverged=True)] * 3]) == (0, False)


def test_select_mean_ties_go_to_lower_mean_loss_then_smaller_candidate():
    a = [rec(0.8, 0.5), rec(0.8, 0.5)]
    b = [rec(0.9, 0.4), rec(0.7, 0.4)]  # same mean accuracy, lower mean loss
    assert select_lr([a, b]) == (1, False)
    assert select_lr([b, b]) == (0, False)


def test_extend_grid_steps_one_log_ratio_past_each_edge():
    assert extend_grid([0.01, 0.1, 1.0], 0) == pytest.approx(0.001)
    assert extend_grid([0.01, 0.1, 1.0], -1) == pytest.approx(10.0)
    with pytest.raises(NngridError, match="one rate"):
        extend_grid([0.1], 0)


# -- one cell ----------------------------------------------------------------------------------


def test_run_cell_tunes_on_three_seeds_and_reruns_the_winner_and_the_default():
    lrs = [0.001, 0.01, 0.1]
    stub = StubTrain({0.001: 0.5, 0.01: 0.9, 0.1: 0.6})
    rows = run_cell(
        None,
        activation="relu",
        optimizer="adam",
        lrs=lrs,
        default_lr=0.003,
        seeds=[7, 8, 9, 10],
        axes={"dataset": "moons"},
        train=stub,
        epochs=3,
    )
    # tuning stack: every rate on each of the first three seeds
    assert stub.calls[0]["opt_params"]["lr"] == [lr for lr in lrs for _ in range(3)]
    assert stub.calls[0]["seeds"] == [7, 8, 9] * 3
    assert len(stub.calls) == 2  # an inner winner: no extension
    # rerun stack: the chosen rate on the seed the tuning did not train (7, 8 and 9 tuned it
    # already), then the default rate over every seed
    assert stub.calls[1]["opt_params"]["lr"] == [0.01] + [0.003] * 4
    assert stub.calls[1]["seeds"] == [10, 7, 8, 9, 10]
    assert stub.calls[1]["epochs"] == 3
    assert [r["seed"] for r in rows[9:]] == [7, 8, 9, 10] * 2
    assert [r["replica"] for r in rows[9:]] == list(range(8))
    arms = [r["arm"] for r in rows]
    assert arms == ["tune"] * 9 + ["tuned"] * 4 + ["untuned"] * 4
    assert set(arms) == set(ARMS)
    assert not any(r["lr_on_edge"] or r["lr_extended"] for r in rows)
    assert all(r["chosen_lr"] == 0.01 and r["dataset"] == "moons" for r in rows)
    assert [r["selected"] for r in rows[:9]] == [lr == 0.01 for lr in lrs for _ in range(3)]
    assert [r["lr"] for r in rows[9:]] == [0.01] * 4 + [0.003] * 4
    assert all(r["lr_seen"] == r["lr"] for r in rows)
    assert rows[0]["tune_seeds"] == [7, 8, 9]


def test_run_cell_reuses_the_tuning_runs_of_the_chosen_rate_bit_for_bit():
    """The tuned arm's seeds that also tuned the chosen rate are not trained again: their
    records equal those of a rerun in a stack of their own, bit for bit, timing aside."""
    from nngrid.core.train import TrainConfig, train_replicas
    from nngrid.datasets import build

    data = build("moons", 3, n_samples=120, noise=0.2)
    kw = dict(activation="tanh", optimizer="adam", hidden=[8], epochs=4, batch_size=16)
    rows = run_cell(data, lrs=[1e-3, 1e-2, 1e-1], default_lr=1e-3, seeds=[5, 6, 7],
                    tune_seeds=2, **kw)  # fmt: skip
    tuned = [r for r in rows if r["arm"] == "tuned"]
    chosen = tuned[0]["chosen_lr"]
    alone = train_replicas(
        data,
        TrainConfig(opt_params={"lr": chosen}, seeds=[5, 6, 7], **kw),
    ).records
    timing = {"seconds", "seconds_per_epoch", "seconds_to_target", "history", "replica"}
    for got, want in zip(tuned, alone, strict=True):
        assert {k: got[k] for k in want if k not in timing} == {
            k: v for k, v in want.items() if k not in timing
        }
        drop = {"seconds"}
        assert [{k: v for k, v in h.items() if k not in drop} for h in got["history"]] == [
            {k: v for k, v in h.items() if k not in drop} for h in want["history"]
        ]


def test_run_cell_extends_the_grid_past_an_edge_until_the_winner_is_inside():
    # accuracy peaks at lr 10: two steps past the top of the grid (0.1, 1 would be edges)
    peak = {0.001: 0.3, 0.01: 0.4, 0.1: 0.5, 1.0: 0.6, 10.0: 0.9, 100.0: 0.7}
    stub = StubTrain(peak)
    rows = run_cell(None, activation="relu", optimizer="sgd", lrs=[0.001, 0.01, 0.1],
                    default_lr=0.01, seeds=[0, 1, 2], train=stub, extend=3)  # fmt: skip
    assert rows[0]["chosen_lr"] == pytest.approx(10.0)
    assert rows[0]["lr_extended"] and not rows[0]["lr_on_edge"]
    assert rows[0]["lr_grid"] == pytest.approx([0.001, 0.01, 0.1, 1.0, 10.0, 100.0])
    assert [c["opt_params"]["lr"] for c in stub.calls[1:4]] == [[v] * 3 for v in (1.0, 10.0, 100.0)]


@pytest.mark.parametrize(("extend", "edge"), [(1, True), (0, True)])
def test_run_cell_flags_a_winner_still_on_the_edge_after_the_bound(extend, edge):
    stub = StubTrain(lambda lr, seed: 1.0 - lr)  # smaller is always better: runs off the bottom
    rows = run_cell(None, activation="relu", optimizer="sgd", lrs=[0.01, 0.1], default_lr=0.1,
                    seeds=[0], train=stub, extend=extend)  # fmt: skip
    assert len(rows[0]["lr_grid"]) == 2 + extend
    assert rows[0]["chosen_lr"] == pytest.approx(min(rows[0]["lr_grid"]))
    assert rows[0]["lr_on_edge"] is edge and rows[0]["lr_extended"] is (extend > 0)


def test_run_cell_keeps_optimizer_params_and_passes_regularizer():
    stub = StubTrain({0.1: 0.5, 1.0: 0.9})
    rows = run_cell(
        None,
        activation="tanh",
        optimizer="momentum",
        opt_params={"momentum": 0.5},
        regularizer="l2",
        reg_params={"strength": 0.01},
        lrs=[0.1, 1.0],
        default_lr=0.001,
        seeds=[0],
        train=stub,
    )
    for call in stub.calls:
        assert call["opt_params"]["momentum"] == 0.5
        assert call["regularizer"] == "l2" and call["reg_params"] == {"strength": 0.01}
    assert rows[0]["reg_params"] == {"strength": 0.01}
    assert rows[0]["regularizer_kind"] == "l2"


def test_run_cell_diverged_candidate_is_never_chosen():
    stub = StubTrain({0.1: 0.5, 1: 0.99, 10: 0.6}, diverged={1})
    rows = run_cell(
        None, activation="relu", optimizer="sgd", lrs=[0.1, 1, 10], default_lr=0.001,
        seeds=[0], train=stub, extend=0,
    )  # fmt: skip
    assert rows[0]["chosen_lr"] == 10 and rows[0]["lr_on_edge"]
    assert rows[1]["diverged"] and not rows[1]["selected"]


def test_run_cell_rejects_empty_grid_or_seeds():
    with pytest.raises(NngridError, match="grid"):
        run_cell(None, activation="relu", optimizer="adam", lrs=[], default_lr=1, seeds=[0],
                 train=StubTrain({}))  # fmt: skip
    with pytest.raises(NngridError, match="seeds"):
        run_cell(None, activation="relu", optimizer="adam", lrs=[1], default_lr=1, seeds=[],
                 train=StubTrain({}))  # fmt: skip


# -- on the real core --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moons():
    return build("moons", seed=0, n_samples=200, noise=0.2)


def _cell(data, **kw):
    args = dict(
        activation="relu",
        optimizer="adam",
        lrs=[1e-4, 1e-2, 1.0],
        default_lr=1e-3,
        seeds=[0, 1],
        hidden=[8],
        epochs=5,
        batch_size=32,
    )
    args.update(kw)
    return run_cell(data, **args)


def test_real_cell_rows_and_tuned_equals_tune_replica_of_first_seed(moons):
    rows = _cell(moons)
    assert len(rows) == 2 * len(rows[0]["lr_grid"]) + 2 + 2  # two tuning seeds per rate
    chosen = rows[0]["chosen_lr"]
    tune = next(r for r in rows if r["arm"] == "tune" and r["lr"] == chosen)
    tuned0 = next(r for r in rows if r["arm"] == "tuned" and r["seed"] == 0)
    # replica r of a stack equals replica r trained alone: same seed and rate, same numbers
    assert tuned0["val_loss"] == pytest.approx(tune["val_loss"], rel=1e-5)
    assert {r["seed"] for r in rows if r["arm"] == "untuned"} == {0, 1}


def test_real_cell_selection_ignores_the_test_split(moons):
    flipped = dict(moons)
    flipped["y_test"] = (moons["y_test"] + 1) % 2
    a, b = _cell(moons), _cell(flipped)
    assert a[0]["chosen_lr"] == b[0]["chosen_lr"]
    assert [r["val_accuracy"] for r in a] == [r["val_accuracy"] for r in b]
    assert [r["test_accuracy"] for r in a] != [r["test_accuracy"] for r in b]


def test_real_cell_diverging_rate_loses(moons):
    rows = _cell(moons, optimizer="sgd", lrs=[0.1, 1e3], default_lr=0.1, extend=0)
    blown = next(r for r in rows if r["arm"] == "tune" and r["lr"] == 1e3)
    assert blown["diverged"]
    assert rows[0]["chosen_lr"] == 0.1


# -- jobs and the command line -----------------------------------------------------------------


def _spec(**over):
    spec = {
        "axes": {"study": "s", "dataset": "moons"},
        "activations": ["relu", "tanh"],
        "regularizers": [
            {"label": "none", "kind": "none", "params": {}},
            {"label": "l2_big", "kind": "l2", "params": {"strength": 0.01}},
        ],
        "optimizers": [
            {"name": "adam", "lr_grid": {"low": 1e-3, "high": 1e-1, "points": 2}},
        ],
        "seeds": [0, 1],
        "training": {"hidden": [4], "epochs": 2, "batch_size": 50},
    }
    spec.update(over)
    return spec


def test_run_job_crosses_regularizers_and_activations(moons):
    rows, seconds = run_job(moons, _spec())
    assert seconds > 0
    cells = {(r["regularizer"], r["activation"]) for r in rows}
    assert cells == {(g, a) for g in ("none", "l2_big") for a in ("relu", "tanh")}
    per_cell = {(r["regularizer"], r["activation"]): 2 * len(r["lr_grid"]) + 4 for r in rows}
    assert len(rows) == sum(per_cell.values())
    assert {r["n_train"] for r in rows} == {moons["X_train"].shape[0]}
    assert {r["study"] for r in rows} == {"s"}
    l2 = [r for r in rows if r["regularizer"] == "l2_big"]
    assert all(r["regularizer_kind"] == "l2" for r in l2)
    # the untuned arm uses the optimizer's registered default when the spec gives none
    assert {r["lr"] for r in rows if r["arm"] == "untuned"} == {0.001}


@pytest.mark.parametrize(
    ("change", "match"),
    [({"training": {"epochz": 3}}, "epochz"), ({"seeds": None}, "seeds")],
)
def test_run_job_rejects_bad_specs(moons, change, match):
    spec = _spec(**change)
    if spec["seeds"] is None:
        del spec["seeds"]
    with pytest.raises(NngridError, match=match):
        run_job(moons, spec)


def test_main_writes_rows_with_slurm_job_id(tmp_path, moons, monkeypatch):
    data = tmp_path / "moons.npz"
    save_dataset(data, moons)
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(_spec(activations=["relu"], regularizers=_spec()["regularizers"][:1]))
    )
    out = tmp_path / "out" / "job.json"
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    assert main(["--data", str(data), "--spec", str(spec), "--output", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["rows"]) == 2 * len(doc["rows"][0]["lr_grid"]) + 4
    assert {r["slurm_job_id"] for r in doc["rows"]} == {"4242"}
    assert doc["spec"]["axes"]["dataset"] == "moons"
    assert not [p for p in out.parent.iterdir() if p.name != "job.json"]  # no temporary left


def test_main_reports_bad_spec_in_one_line(tmp_path, capsys):
    code = main(["--data", "x.npz", "--spec", "{not json", "--output", str(tmp_path / "o.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("nngrid: error: cannot read job spec") and err.count("\n") == 1


def test_run_job_reports_one_line_per_finished_cell(moons):
    lines = []
    rows, _ = run_job(moons, _spec(tuning={"seeds": 1, "extend": 0}), lines.append)
    assert len(lines) == 4
    assert lines[0].startswith("cell 1/4 done: relu x none x adam, lr ")
    assert all("test accuracy" in line and "diverged" in line for line in lines)
    assert {len(r["tune_seeds"]) for r in rows} == {1}
    with pytest.raises(NngridError, match="tuning has unknown key 'seedz'"):
        run_job(moons, _spec(tuning={"seedz": 1}))
