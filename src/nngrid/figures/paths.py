"""Figure 8: optimizer paths on 2-D test functions, each at its tuned learning rate."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from nngrid.figures import ordered, save, theme

QUESTION = "How does each optimizer move on a hard 2-D surface (each at its own tuned rate)?"
NOTE = (
    "Paths do not rank optimizers: each rate is tuned for this one function and start; "
    "the grid (figure 9) compares them on real data."
)


def optimizer_paths(
    records: list[dict] | pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """A panel per test function: contours of ``log10(f - f_min + 1e-3)`` and every optimizer's
    path from the common start; the legend gives each optimizer's tuned rate for that function
    (``*`` marks a rate on the grid's edge).

    ``records`` are :func:`nngrid.experiments.optimizer_paths` rows.
    """
    from nngrid.experiments import TEST_FUNCTIONS

    theme()
    df = pd.DataFrame(records)
    functions = ordered(df["function"])
    opts = ordered(df["optimizer"], optimizers)
    palette = dict(zip(opts, sns.color_palette("tab10", len(opts)), strict=True))
    ncols = min(2, len(functions))
    nrows = -(-len(functions) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows), squeeze=False)
    for ax, fname in zip(axes.flat, functions, strict=False):
        fn = TEST_FUNCTIONS[fname]
        (x0, x1), (y0, y1) = fn.box
        gx, gy = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
        z = fn.value(gx, gy)
        fmin = fn.value(*fn.minimum) if fn.minimum is not None else z.min()
        ax.contour(
            gx, gy, np.log10(z - min(fmin, z.min()) + 1e-3), levels=25, cmap="Greys", linewidths=0.6
        )
        sub = df[df["function"] == fname].copy()
        lrs = sub.groupby("optimizer")["lr"].first()
        edge = sub.groupby("optimizer")["lr_on_edge"].first()
        sub["label"] = [f"{o} (lr {lrs[o]:.3g}{'*' if edge[o] else ''})" for o in sub["optimizer"]]
        labels = {o: f"{o} (lr {lrs[o]:.3g}{'*' if edge[o] else ''})" for o in opts if o in lrs}
        sns.lineplot(
            data=sub,
            x="x",
            y="y",
            hue="label",
            hue_order=list(labels.values()),
            palette={labels[o]: palette[o] for o in labels},
            sort=False,
            estimator=None,
            units="optimizer",
            lw=1.3,
            ax=ax,
        )
        ax.plot(*fn.start, "ko", ms=5)
        if fn.minimum is not None:
            ax.plot(*fn.minimum, marker="*", color="crimson", ms=12, ls="")
        ax.set(xlim=(x0, x1), ylim=(y0, y1), title=fname, xlabel="x", ylabel="y")
        ax.legend(fontsize=7, loc="best", title="tuned rate", title_fontsize=7)
    for ax in axes.flat[len(functions) :]:
        ax.set_visible(False)
    fig.suptitle(QUESTION)
    fig.text(0.5, -0.01, NOTE, ha="center", fontsize=9, style="italic")
    fig.tight_layout()
    return save(fig, path)
