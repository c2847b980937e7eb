"""Tests for nngrid.study.figures: every figure function writes a file, the same bytes every
time."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from synthetic_tables import synthetic_tables, write_benchmarks

from nngrid.study import experiments as E
from nngrid.study.figures import (
    activations,
    batches,
    blank_panels,
    boundaries,
    cost,
    cures,
    gradients,
    grid,
    hyperparameters,
    make,
    overfitting,
    paths,
    profiles,
    save,
    wilson,
)


@pytest.fixture(scope="module")
def results():
    """Tiny runs of every experiment (about a second in all)."""
    reg = {
        "none": {},
        "l1": {"regularizer": "l1", "reg_params": {"strength": 1e-3}},
        "lp3": {"regularizer": "lp", "reg_params": {"strength": 1e-3, "p": 3}},
    }
    return {
        "activation_curves": E.activation_curves(names=("relu", "sigmoid", "tanh"), points=21),
        "optimizer_paths": E.optimizer_paths(
            functions=("bowl", "beale"), optimizers=("sgd", "adam"), lr_grid=[1e-2, 1e-1], steps=10
        ),
        "nonlinearity_boundaries": E.nonlinearity_boundaries(
            datasets=("xor",),
            activations=("identity", "step", "relu"),
            hidden=(8,),
            epochs=3,
            mesh=12,
            seeds=(0, 1),
        ),  # fmt: skip
        "gradient_flow": E.gradient_flow(
            depths=(2, 3),
            activations=("sigmoid", "relu"),
            initializers=("he_normal", "he_large"),
            width=8,
            dataset="moons",
            epochs=1,
            seeds=(0, 1),
        ),
        "regression_overfitting": E.regression_overfitting(
            cures={"none": {}, "more data": {"n_samples": 60}},
            hidden=(8,),
            epochs=20,
            eval_every=10,
        ),
        "data_size_sweep": E.data_size_sweep(sizes=(15, 40), hidden=(8,), epochs=10, seeds=(0, 1)),
        "regularizer_boundaries": E.regularizer_boundaries(
            regularizers=reg, hidden=(8,), epochs=5, mesh=12, seeds=(0, 1)
        ),
        "batch_size_curves": E.batch_size_curves(
            batch_sizes=(16, None),
            dataset="moons",
            hidden=(8,),
            steps=8,
            lr_grid=(0.1, 1.0),
            seeds=(0, 1),
        ),  # fmt: skip
        "overfitting_cures": E.overfitting_cures(
            datasets={"moons": {"params": {"n_samples": 120}, "n_train": 30}},
            cures={
                "none": {},
                "l2": {"regularizer": "l2", "sweep": {"strength": [1e-3, 1e-2]}},
                "early_stopping": {"regularizer": "early_stopping", "sweep": {"patience": [1, 2]}},
            },
            hidden=(8,),
            lr_grid=(1e-2, 3e-2),
            epochs=4,
            seeds=(0, 1),
            extend=1,
        ),  # fmt: skip
        "wilson_separable": E.wilson_separable(
            optimizers=("sgd", "adam"),
            n_train=12,
            n_val=20,
            n_test=20,
            steps=20,
            lr_grid=(1e-2, 0.3),
            data_seeds=(0, 1),
        ),  # fmt: skip
    }


@pytest.fixture(scope="module")
def tables():
    return synthetic_tables()


DRAW = {
    "gallery": lambda r, t, p: activations.activation_gallery(r["activation_curves"]["records"], p),
    "paths": lambda r, t, p: paths.optimizer_paths(r["optimizer_paths"]["records"], p),
    "nonlinearity": lambda r, t, p: boundaries.nonlinearity_boundaries(
        r["nonlinearity_boundaries"], p
    ),
    "regularizers": lambda r, t, p: boundaries.regularizer_boundaries(
        r["regularizer_boundaries"], p
    ),
    "weights": lambda r, t, p: boundaries.weight_histograms(r["regularizer_boundaries"], p),
    "gradients": lambda r, t, p: gradients.gradient_flow(r["gradient_flow"], p),
    "depth": lambda r, t, p: gradients.depth_accuracy(r["gradient_flow"], p),
    "cures": lambda r, t, p: cures.cures(r["overfitting_cures"], p),
    "fits": lambda r, t, p: overfitting.regression_fits(r["regression_overfitting"], p),
    "losses": lambda r, t, p: overfitting.regression_losses(r["regression_overfitting"], p),
    "size": lambda r, t, p: overfitting.data_size(r["data_size_sweep"]["records"], p),
    "batches": lambda r, t, p: batches.batch_size_curves(r["batch_size_curves"]["records"], p),
    "heatmaps": lambda r, t, p: grid.heatmaps(t["summary"], p),
    "curves": lambda r, t, p: grid.learning_curves(t["histories"], t["runs"], p),
    "lr": lambda r, t, p: grid.lr_sensitivity(t["runs"], p),
    "target": lambda r, t, p: grid.time_to_target(t["runs"], p),
    "gap": lambda r, t, p: grid.generalization_gap(t["runs"], p),
    "rankings": lambda r, t, p: grid.rankings(t["rankings"], p),
    "tuning": lambda r, t, p: grid.tuning_gain(t["summary"], p),
    "wilson": lambda r, t, p: wilson.wilson(r["wilson_separable"], p),
    "profile": lambda r, t, p: profiles.performance_profile(
        t["runs"], t["summary"], _with_profile(t), p
    ),
    "hyperparameters": lambda r, t, p: hyperparameters.hyperparameter_axes(
        _full_trials(), p, SPACES, ["sgd", "adam"]
    ),
}

#: The search spaces of :func:`_full_trials` (as config/protocols.yaml writes them).
SPACES = {
    "sgd": {"lr": {"low": 1e-2, "high": 10.0, "scale": "log"}},
    "adam": {
        "lr": {"low": 1e-4, "high": 10.0},
        "b1": {"low": 1e-2, "high": 0.5, "scale": "log", "one_minus": True},
        "eps": {"low": 1e-10, "high": 1e3, "scale": "log"},
        "weight_decay": 0.0,  # fixed: not an axis
    },
}


def _full_trials() -> pd.DataFrame:
    """Tune rows of the full protocol as runs.parquet holds them: 2 draws x 2 activations,
    sgd (lr) and adam (lr, b1, eps), 4 trials x 2 seeds; trial 1 of sgd diverges, the cell
    chooses trial 2 (adam) / 0 (sgd); a row of the lr protocol that must not be drawn."""
    rows = []
    for draw in (0, 1):
        for act in ("relu", "tanh"):
            for opt in ("sgd", "adam"):
                for trial in range(4):
                    params = {"lr": 10.0 ** (trial - 3)}
                    if opt == "adam":
                        params |= {
                            "b1": 1 - 10.0 ** (-trial / 2 - 0.5),
                            "eps": 10.0 ** (3 * trial - 8),
                        }
                    for seed in (0, 1):
                        rows.append(
                            {"study": "full", "protocol": "full", "arm": "tune",
                             "dataset": f"moons_draw{draw}", "activation": act,
                             "regularizer": "none", "optimizer": opt, "trial": trial,
                             "seed": seed, "trial_params": json.dumps(params),
                             "val_accuracy": 0.7 + 0.05 * trial + 0.01 * seed + 0.02 * draw,
                             "diverged": opt == "sgd" and trial == 1,
                             "selected": trial == (2 if opt == "adam" else 0)}
                        )  # fmt: skip
    lr_row = {**rows[0], "protocol": "lr", "study": "lr", "trial": None, "trial_params": None}
    return pd.DataFrame([*rows, lr_row])


def _with_profile(t) -> pd.DataFrame:
    """rankings.csv as the tables rule writes it: the profile scores' rows included."""
    from nngrid.study.tables import profile_rankings

    return pd.concat([t["rankings"], profile_rankings(t["runs"], t["summary"])])


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", list(DRAW))
def test_figure_files_are_deterministic(name, results, tables, tmp_path):
    first, second = tmp_path / "a" / f"{name}.png", tmp_path / "b" / f"{name}.png"
    assert DRAW[name](results, tables, first) == first
    DRAW[name](results, tables, second)
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert first.stat().st_size > 5000
    assert _digest(first) == _digest(second)


@pytest.mark.parametrize("name", list(DRAW))
def test_no_panel_of_any_figure_is_blank(name, results, tables, tmp_path, monkeypatch):
    import matplotlib.figure

    blank = []
    real = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        blank.extend(blank_panels(fig))
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    DRAW[name](results, tables, tmp_path / f"{name}.png")
    assert not blank, f"{name}: panels without data: {blank}"


def test_blank_panels_catches_bars_from_zero_on_a_log_axis():
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3)
    a.bar([0, 1], [10, 100])
    a.set_yscale("log")  # the old weight histogram: every bar starts at 0, none is drawn
    b.bar([0, 1], [10, 100], bottom=0.5)
    b.set_yscale("log")
    c.plot([0, 1], [float("nan")] * 2)
    c.set_title("all nan")
    assert blank_panels(fig) == ["axes 0", "all nan"]
    plt.close(fig)


@pytest.mark.parametrize("name", ["gallery", "heatmaps"])
def test_svg_files_are_deterministic_and_undated(name, results, tables, tmp_path):
    first, second = tmp_path / "a" / f"{name}.svg", tmp_path / "b" / f"{name}.svg"
    DRAW[name](results, tables, first)
    DRAW[name](results, tables, second)
    text = first.read_text()
    assert "<dc:date>" not in text
    assert _digest(first) == _digest(second)


def test_save_salts_svg_ids_with_the_stem(tmp_path):
    import matplotlib.pyplot as plt

    ids = []
    for stem in ("one", "two"):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        save(fig, tmp_path / f"{stem}.svg")
        ids.append(
            {
                line.split('id="')[1].split('"')[0]
                for line in (tmp_path / f"{stem}.svg").read_text().splitlines()
                if 'id="' in line
            }
        )
    assert ids[0] and ids[0] != ids[1]


def test_cost_figure_reads_benchmark_files(tables, tmp_path):
    paths_, jobs = write_benchmarks(tables["runs"], tmp_path)
    bench = cost.read_benchmarks(paths_, jobs)
    assert len(bench) == len(jobs) and (bench["s"] > 0).all()
    costs = cost.job_costs(bench, tables["runs"])
    assert costs["training"].notna().all()
    assert ((costs["overhead"] > 0) & (costs["overhead"] < 1)).all()
    out = cost.cost(bench, tables["runs"], tmp_path / "cost.png")
    assert out.stat().st_size > 5000


def test_make_writes_every_grid_figure_and_caption_deterministically(tables, tmp_path):
    inputs = {}
    for name in ("runs", "summary", "histories"):
        inputs[name] = tmp_path / f"{name}.parquet"
        tables[name].to_parquet(inputs[name])
    inputs["rankings"] = tmp_path / "rankings.csv"
    tables["rankings"].to_csv(inputs["rankings"], index=False)
    keys = ["heatmaps", "curves", "lr", "target", "gap", "rankings", "tuning"]
    inputs["target_description"] = tmp_path / "desc.rst"
    inputs["target_description"].write_text("**Static question?** Static text.")
    outputs = {k: tmp_path / f"{k}.png" for k in keys}
    outputs |= {f"{k}_caption": tmp_path / f"{k}.rst" for k in keys}
    again = {k: tmp_path / "again" / v.name for k, v in outputs.items()}
    for out in (outputs, again):
        make.make("figure_grid", inputs, out, {"order": {"optimizers": ["adam", "sgd"]}})
    for k in keys:
        assert outputs[k].stat().st_size > 5000
        assert outputs[f"{k}_caption"].read_text().strip()
        # same data, same bytes: figures and captions
        assert _digest(outputs[k]) == _digest(again[k])
        assert _digest(outputs[f"{k}_caption"]) == _digest(again[f"{k}_caption"])
    target = outputs["target_caption"].read_text()
    assert target.startswith("**Static question?** Static text.")
    assert "fewest steps adam" in target


def test_make_cost_takes_jobs_as_json(tables, tmp_path):
    paths_, jobs = write_benchmarks(tables["runs"], tmp_path)
    runs = tmp_path / "runs.parquet"
    tables["runs"].to_parquet(runs)
    out = {"figure": tmp_path / "cost.png", "figure_caption": tmp_path / "cost.rst"}
    make.make("figure_cost", {"runs": runs, "benchmarks": paths_}, out, {"jobs": json.dumps(jobs)})
    assert f"{len(jobs)} training jobs" in out["figure_caption"].read_text()


def test_heatmaps_mark_cells_with_a_diverged_seed(tables, monkeypatch, tmp_path):
    summary = tables["summary"].copy()
    tuned = summary.index[summary["arm"] == "tuned"]
    summary.loc[tuned[:3], "diverged"] = 1
    summary.loc[tuned[3], "test_accuracy_mean"] = float("nan")
    figures = []
    monkeypatch.setattr(grid, "save", lambda fig, path: figures.append(fig) or path)
    grid.heatmaps(summary, tmp_path / "h.png")
    marks = [t for ax in figures[0].axes for t in ax.texts if t.get_text() == "x"]
    assert len(marks) == 3


def test_a_single_cell_study_is_left_out_of_the_grid_figures(tables, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(
        grid, "heatmaps", lambda summary, path, order=None: seen.append(set(summary["study"]))
    )
    summary = tables["summary"]
    one = summary[summary["study"] == "grid"].iloc[[0]].assign(study="mnist1d", dataset="mnist1d")
    inputs = {}
    for name, df in (("runs", tables["runs"]), ("summary", pd.concat([summary, one])),
                     ("histories", tables["histories"])):  # fmt: skip
        inputs[name] = tmp_path / f"{name}.parquet"
        df.to_parquet(inputs[name])
    inputs["rankings"] = tmp_path / "rankings.csv"
    tables["rankings"].to_csv(inputs["rankings"], index=False)
    keys = ["heatmaps", "curves", "lr", "target", "gap", "rankings", "tuning"]
    outputs = {k: tmp_path / f"{k}.png" for k in keys}
    outputs |= {f"{k}_caption": tmp_path / f"{k}.rst" for k in keys}
    make.make("figure_grid", inputs, outputs, {})
    assert seen == [{"grid"}]


def test_make_draws_the_wilson_figure_with_its_caption(results, tmp_path):
    exp = tmp_path / "wilson_separable.npz"
    E.save(exp, results["wilson_separable"])
    outputs = {"figure": tmp_path / "fig13_wilson.png", "figure_caption": tmp_path / "c.rst"}
    make.make("figure_wilson", {"experiment": exp}, outputs, {"optimizers": ["adam", "sgd"]})
    assert outputs["figure"].stat().st_size > 5000
    caption = outputs["figure_caption"].read_text()
    assert "2 data draws of 12 training points" in caption and "sgd (SGD family)" in caption


def test_make_draws_the_profile_and_leaves_its_rows_out_of_the_rankings_figure(tables, tmp_path):
    inputs = {}
    for name in ("runs", "summary"):
        inputs[name] = tmp_path / f"{name}.parquet"
        tables[name].to_parquet(inputs[name])
    inputs["rankings"] = tmp_path / "rankings.csv"
    _with_profile(tables).to_csv(inputs["rankings"], index=False)
    outputs = {"figure": tmp_path / "profile.png", "figure_caption": tmp_path / "profile.rst"}
    make.make("figure_profile", inputs, outputs, {"order": {"optimizers": ["adam", "sgd"]}})
    assert outputs["figure"].stat().st_size > 5000
    caption = outputs["figure_caption"].read_text()
    assert "grid: 8 cells" in caption and "adam fastest in" in caption
    # the grid's rankings figure and caption are those of the accuracy rows alone
    inputs["histories"] = tmp_path / "histories.parquet"
    tables["histories"].to_parquet(inputs["histories"])
    keys = ["heatmaps", "curves", "lr", "target", "gap", "rankings", "tuning"]
    outputs = {k: tmp_path / "g" / f"{k}.png" for k in keys}
    outputs |= {f"{k}_caption": tmp_path / "g" / f"{k}.rst" for k in keys}
    make.make("figure_grid", inputs, outputs, {})
    plain = tmp_path / "plain.csv"
    tables["rankings"].to_csv(plain, index=False)
    again = {k: tmp_path / "h" / v.name for k, v in outputs.items()}
    make.make("figure_grid", {**inputs, "rankings": plain}, again, {})
    assert _digest(outputs["rankings"]) == _digest(again["rankings"])
    assert outputs["rankings_caption"].read_text() == again["rankings_caption"].read_text()


def test_hyperparameter_axes_draw_every_searched_hyperparameter_and_mark_the_choice(tmp_path):
    import matplotlib.pyplot as plt

    runs = _full_trials()
    df = hyperparameters.trials(runs)
    assert set(df["study"]) == {"full"}  # the lr protocol's rows are not trials
    assert len(df) == 2 * 2 * 2 * 4 and df["val"].iloc[0] == pytest.approx(0.705)
    captured = {}
    real_save = hyperparameters.save
    hyperparameters.save = lambda fig, path: captured.setdefault("fig", fig) and path
    try:
        hyperparameters.hyperparameter_axes(runs, tmp_path / "h.png", SPACES, ["sgd", "adam"])
    finally:
        hyperparameters.save = real_save
    fig = captured["fig"]
    drawn = [ax for ax in fig.axes if ax.axison]
    labels = [(ax.get_title(loc="left"), ax.get_xlabel()) for ax in drawn]
    assert labels == [("sgd", "learning rate"), ("adam", "learning rate"),
                      ("adam", "1 − b1"), ("adam", "eps")]  # fmt: skip
    assert all(ax.get_xscale() == "log" for ax in drawn)
    eps = drawn[3]
    assert eps.get_xlim()[0] < 1e-10 and eps.get_xlim()[1] > 1e3  # the searched range
    stars = [c for c in eps.collections if c.get_label() == "the trial a cell chose"]
    # trial 2 in each cell of the first data draw (2 cells; moons_draw1's are left out)
    assert list(stars[0].get_offsets().data[:, 0]) == pytest.approx([1e-2] * 2)
    crosses = [c for c in drawn[0].collections if c.get_label() == "diverged"]
    assert len(crosses[0].get_offsets()) == 2  # sgd's diverged trial, in each cell
    assert "the first draw of each dataset" in fig.legends[0].get_title().get_text()
    assert not blank_panels(fig)
    plt.close(fig)


def test_make_draws_the_hyperparameter_figure_with_its_caption(tmp_path):
    runs = _full_trials()
    summary = pd.DataFrame(
        [{"study": "full", "protocol": "full", "arm": "tuned", "optimizer": "adam",
          "params_on_edge": "eps"},
         {"study": "full", "protocol": "full", "arm": "tuned", "optimizer": "sgd",
          "params_on_edge": ""}]
    )  # fmt: skip
    inputs = {"runs": tmp_path / "runs.parquet", "summary": tmp_path / "summary.parquet"}
    runs.to_parquet(inputs["runs"])
    summary.to_parquet(inputs["summary"])
    outputs = {"figure": tmp_path / "fig14.png", "figure_caption": tmp_path / "fig14.rst"}
    params = {"order": {"optimizers": ["sgd", "adam"]}, "search": SPACES}
    make.make("figure_hyperparameters", inputs, outputs, params)
    assert outputs["figure"].stat().st_size > 5000
    caption = outputs["figure_caption"].read_text()
    assert "sgd: 4 trials in 4 cells, 4 of the 16 (trial, cell) pairs diverged" in caption
    assert "chosen lr 0.001 to 0.001" in caption
    assert "adam: 4 trials in 4 cells" in caption and "on an edge in 1 cells (eps)" in caption


def test_the_hyperparameter_figure_says_when_no_study_ran_the_full_protocol(tmp_path):
    out = hyperparameters.hyperparameter_axes(pd.DataFrame(), tmp_path / "none.png")
    assert out.stat().st_size > 1000
    assert "No study ran the full protocol" in hyperparameters.hyperparameter_caption(None)


def test_one_protocol_keeps_the_lr_studies_rows_and_says_so():
    from nngrid.study.figures.grid import one_protocol
    from nngrid.study.report.grid_captions import protocol_note

    summary = pd.DataFrame(
        {
            "study": ["grid", "grid", "grid_full", "grid_default"],
            "protocol": ["lr", "lr", "full", "default"],
            "x": [1, 2, 3, 4],
        }
    )
    runs = summary.assign(y=0)
    protocol, r, s = one_protocol(runs, summary)
    assert protocol == "lr" and list(s["x"]) == [1, 2] and list(r["x"]) == [1, 2]
    assert "lr protocol" in protocol_note(protocol)
    # without lr, the full protocol's; a single protocol: unchanged and no note
    protocol, s = one_protocol(summary[summary["study"] != "grid"])[:2]
    assert protocol == "full" and list(s["x"]) == [3]
    protocol, s = one_protocol(summary[summary["protocol"] == "lr"])[:2]
    assert protocol == "" and len(s) == 2 and protocol_note(protocol) == ""


def test_heatmap_panel_colours_annotates_and_leaves_nan_blank():
    import matplotlib.pyplot as plt

    from nngrid.study.figures.grid import heatmap_panel

    table = pd.DataFrame(
        [[0.5, np.nan], [0.9, 0.1]], index=["relu", "tanh"], columns=["sgd", "adam"]
    )
    fig, ax = plt.subplots()
    heatmap_panel(
        ax,
        table,
        norm=plt.Normalize(0, 1),
        cmap="viridis",
        fmt=".2f",
        annotate=True,
        fontsize=6,
    )
    texts = {t.get_text(): t for t in ax.texts}
    assert set(texts) == {"0.50", "0.90", "0.10"}  # NaN: no annotation
    # each value at its cell's centre, rows top to bottom
    assert texts["0.10"].get_position() == (1.5, 1.5)
    assert ax.get_ylim() == (2, 0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["sgd", "adam"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["relu", "tanh"]
    # dark ink on viridis's bright end (0.9), white on its dark end (0.1)
    assert texts["0.90"].get_color() == ".15" and texts["0.10"].get_color() == "white"
    mesh = ax.collections[0]
    assert np.ma.is_masked(mesh.get_array()) and mesh.get_array().mask.sum() == 1
    plt.close(fig)


def test_the_hyperparameter_figure_draws_the_first_data_draw_of_each_dataset():
    from nngrid.study.figures.hyperparameters import _first_draws

    df = pd.DataFrame(
        {"dataset": ["moons_draw2", "moons_draw0", "spirals_draw1", "spirals_draw3", "digits"]}
    )
    kept, left_out = _first_draws(df)
    assert sorted(kept["dataset"]) == ["digits", "moons_draw0", "spirals_draw1"] and left_out
    kept, left_out = _first_draws(df[df["dataset"] == "digits"])
    assert list(kept["dataset"]) == ["digits"] and not left_out
