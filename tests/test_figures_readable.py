"""The figures answer their question at the size the report shows them: per-dataset scales, only
what was trained, no empty panels, one y-scale where values must compare (issue 10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic_tables import synthetic_tables

from nngrid.study import experiments as E
from nngrid.study.figures import activations, grid, paths


@pytest.fixture
def drawn(monkeypatch):
    """Figures drawn by a figure module are kept (not saved) for inspection."""
    figs = []

    def keep(fig, path):
        figs.append(fig)
        return path

    for module in (grid, paths, activations):
        monkeypatch.setattr(module, "save", keep)
    return figs


def _with_single_cell_study(t: dict) -> dict:
    """The synthetic study plus an MNIST-1D-like arm: one dataset, one cell, only adam."""
    runs = t["runs"]
    arm = runs[(runs["dataset"] == "moons") & (runs["optimizer"] == "adam")]
    arm = arm[(arm["activation"] == "relu") & (arm["regularizer"] == "none")].copy()
    arm["study"], arm["dataset"] = "mnist1d", "mnist1d"
    from nngrid.study import tables

    both = pd.concat([runs, arm], ignore_index=True)
    return {"runs": both, "summary": tables.summary_table(both)}


def _drawn_axes(fig):
    return [
        ax for ax in fig.axes if ax.get_visible() and ax.axison and ax.get_label() != "<colorbar>"
    ]


def test_heatmaps_give_each_dataset_its_own_colour_scale(drawn):
    t = synthetic_tables(boost={"sgd": 0.05})
    grid.heatmaps(t["summary"], "x.png")
    fig = drawn[-1]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    tuned = t["summary"][t["summary"]["arm"] == "tuned"]
    expected = tuned.groupby("dataset", sort=False)["test_accuracy_mean"].agg(["min", "max"])
    assert len(bars) == len(expected) == 2
    limits = sorted(tuple(np.round(b.get_ylim(), 6)) for b in bars)
    assert limits == sorted(tuple(np.round(r, 6)) for r in expected.to_numpy())
    # every cell carries its value, and the synthetic grid-edge winners (sgd) are marked
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert sum(1 for x in texts if x.replace(".", "").isdigit()) == len(tuned)
    triangles = sum(len(ax.patches) for ax in fig.axes)
    assert triangles == int(tuned["lr_on_edge"].sum())


def test_time_to_target_counts_steps_and_lists_only_trained_optimizers(drawn):
    t = _with_single_cell_study(synthetic_tables())
    runs = t["runs"]
    assert "steps_to_target" in runs  # the tables count optimizer steps ...
    grid.time_to_target(runs, "x.png")
    axes = _drawn_axes(drawn[-1])
    labels = {
        ax.get_title(): [tk.get_text().split(" ")[0] for tk in ax.get_yticklabels()] for ax in axes
    }
    assert labels["mnist1d"] == ["adam"]
    assert labels["moons"] == ["sgd", "momentum", "adam"]
    assert all(ax.get_xlabel().startswith("optimizer steps") for ax in axes)  # ... so does it
    # tables from before the step counts: epochs
    grid.time_to_target(runs.drop(columns="steps_to_target"), "x.png")
    assert all(ax.get_xlabel().startswith("epochs to target") for ax in _drawn_axes(drawn[-1]))


def test_tuning_gain_and_gap_draw_no_empty_panel_and_use_own_axes(drawn):
    t = _with_single_cell_study(synthetic_tables())
    gain = grid.tuning_gain_table(t["summary"])
    assert gain[["tuned", "untuned"]].notna().any(axis=1).all()
    assert len(gain) == len(
        t["summary"].groupby(["study", "dataset", "activation", "regularizer", "optimizer"])
    )
    grid.tuning_gain(t["summary"], "x.png")
    grid.generalization_gap(t["runs"], "y.png")
    for fig in drawn[-2:]:
        axes = _drawn_axes(fig)
        assert len(axes) == 3
        for ax in axes:
            assert ax.lines or ax.collections, f"empty panel {ax.get_title()}"
        # each panel its own axis: no x-axis shared between panels
        assert all(len(ax.get_shared_x_axes().get_siblings(ax)) == 1 for ax in axes)


def test_rankings_legend_sits_outside_the_panels(drawn):
    grid.rankings(synthetic_tables()["rankings"], "x.png")
    fig = drawn[-1]
    assert fig.legends and not any(ax.get_legend() for ax in fig.axes)


def test_learning_curves_use_a_log_loss_axis_and_split_many_optimizers(drawn):
    t = synthetic_tables()
    grid.learning_curves(t["histories"], t["runs"], "x.png")
    fig = drawn[-1]
    scales = {ax.get_yscale() for ax in fig.axes if ax.get_visible()}
    assert scales == {"linear", "log"}
    many = t["histories"].copy()
    extra = [many.assign(optimizer=f"opt{k}") for k in range(4)]
    runs = pd.concat([t["runs"]] + [t["runs"].assign(optimizer=f"opt{k}") for k in range(4)])
    grid.learning_curves(pd.concat([many, *extra]), runs, "x.png")
    for ax in drawn[-1].axes:
        drawn_lines = [line for line in ax.get_lines() if len(line.get_xdata())]
        assert 0 < len(drawn_lines) <= grid.MAX_COLOURS, ax.get_title()


def test_optimizer_paths_stay_in_their_frame(drawn):
    result = E.optimizer_paths(
        functions=("bowl", "rosenbrock"),
        optimizers=("sgd", "adam"),
        steps=40,
        lr_grid=[1e-3, 1e-2, 1e-1, 1.0, 3.0],
    )
    df = pd.DataFrame(result["records"])
    for (fname, _), sub in df.groupby(["function", "optimizer"]):
        (x0, x1), (y0, y1) = E.TEST_FUNCTIONS[fname].box
        if sub["in_frame"].iloc[0]:
            assert sub["x"].between(x0, x1).all() and sub["y"].between(y0, y1).all()
    # rate 3.0 makes sgd leave the bowl's frame; it is never chosen while another stays inside
    bowl = df[(df["function"] == "bowl") & (df["optimizer"] == "sgd")]
    assert bowl["in_frame"].all() and bowl["lr"].iloc[0] != 3.0
    paths.optimizer_paths(result["records"], "x.png")
    axes = _drawn_axes(drawn[-1])
    assert len(axes) == 4 and all(len(ax.lines) >= 3 for ax in axes)  # path, end, start, minimum


def test_activation_gallery_shares_one_slope_scale(drawn):
    records = E.activation_curves(points=41)["records"]
    activations.activation_gallery(records, "x.png")
    axes = _drawn_axes(drawn[-1])
    slopes = [ax for ax in axes if ax.get_title().startswith("slope")]
    assert len(slopes) == pd.DataFrame(records)["activation"].nunique()
    assert len({tuple(np.round(ax.get_ylim(), 9)) for ax in slopes}) == 1
    assert any("0.01 to 1" in ax.get_title() for ax in slopes)  # leaky_relu's slope is stated


def test_lr_sensitivity_keeps_six_lines_or_fewer_per_panel(drawn):
    t = synthetic_tables()
    runs = pd.concat([t["runs"]] + [t["runs"].assign(optimizer=f"opt{k}") for k in range(4)])
    grid.lr_sensitivity(runs, "x.png")
    axes = _drawn_axes(drawn[-1])
    assert len(axes) == 4  # two datasets x (plain, adaptive)
    for ax in axes:
        drawn_lines = [line for line in ax.get_lines() if len(line.get_xdata())]
        assert 0 < len(drawn_lines) <= grid.MAX_COLOURS, ax.get_title()
        assert ax.get_xscale() == "log"


def test_plain_is_read_from_the_optimizer_class():
    from nngrid.core.optim import OPTIMIZERS, SGD
    from nngrid.study.figures.grid import is_plain

    assert [n for n in ("sgd", "momentum", "nesterov", "adam", "rmsprop") if is_plain(n)] == [
        "sgd",
        "momentum",
        "nesterov",
    ]
    assert not is_plain("not_an_optimizer")

    @OPTIMIZERS.register("tmp_plain_sgd")
    class PlainSgd(SGD):  # a new plain method declares it; the figures need no edit
        pass

    try:
        assert is_plain("tmp_plain_sgd")
        PlainSgd.plain = False
        assert not is_plain("tmp_plain_sgd")
    finally:
        OPTIMIZERS._remove("tmp_plain_sgd")
