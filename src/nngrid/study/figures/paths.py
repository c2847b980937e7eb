"""Figure 8: optimizer paths on 2-D test functions, each at its tuned learning rate."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nngrid.study.figures import ordered, save, theme

QUESTION = "How does each optimizer move on a hard 2-D surface (each at its own tuned rate)?"
NOTE = (
    "Rate per optimizer and function: the one that gets within {tol:.0%} of the start's gap to "
    "the minimum\nin the fewest steps without leaving the frame. Paths do not rank optimizers: "
    "the grid (figure 9) compares them on data."
)


def _steps_label(r) -> str:
    steps = r.get("steps_to_tolerance", np.inf)
    reached = np.isfinite(steps)
    return f"{int(steps)} steps" if reached else "not within tol."


def optimizer_paths(
    records: list[dict] | pd.DataFrame, path: str | Path, optimizers: list[str] | None = None
) -> Path:
    """A row of panels per test function, a panel per optimizer: contours of
    ``log10(f - f_min + 1e-3)``, the start (black dot), the minimum (red star) and the
    optimizer's path at its tuned rate (:func:`nngrid.study.experiments.optimizer_paths`), the
    path's
    end as a ring. Each panel's title gives the rate (``*``: on the grid's edge) and the steps it
    took to get within the tolerance. One path per panel: no colours to tell apart.

    ``records`` are :func:`nngrid.study.experiments.optimizer_paths` rows.
    """
    from nngrid.study.experiments.paths import PATH_TOLERANCE, TEST_FUNCTIONS

    theme()
    df = pd.DataFrame(records)
    functions = ordered(df["function"])
    opts = ordered(df["optimizer"], optimizers)
    tol = float(df["tolerance"].iloc[0]) if "tolerance" in df else PATH_TOLERANCE
    fig, axes = plt.subplots(
        len(functions),
        len(opts),
        figsize=(1.95 * len(opts) + 0.4, 1.75 * len(functions) + 1.0),
        squeeze=False,
    )
    for i, fname in enumerate(functions):
        fn = TEST_FUNCTIONS[fname]
        (x0, x1), (y0, y1) = fn.box
        gx, gy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
        z = fn.value(gx, gy)
        fmin = fn.value(*fn.minimum) if fn.minimum is not None else z.min()
        levels = np.log10(z - min(fmin, z.min()) + 1e-3)
        for j, opt in enumerate(opts):
            ax = axes[i, j]
            ax.contour(gx, gy, levels, levels=14, cmap="Greys", linewidths=0.5, alpha=0.8)
            sub = df[(df["function"] == fname) & (df["optimizer"] == opt)]
            if len(sub):
                first = sub.iloc[0]
                ax.plot(sub["x"], sub["y"], color="C0", lw=1.3)
                ax.plot(sub["x"].iloc[-1], sub["y"].iloc[-1], "o", mfc="none", mec="C0", ms=6)
                edge = "*" if bool(first["lr_on_edge"]) else ""
                ax.set_title(
                    f"{opt}: lr {first['lr']:.3g}{edge}\n{_steps_label(first)}", fontsize=8
                )
            ax.plot(*fn.start, "ko", ms=4)
            if fn.minimum is not None:
                ax.plot(*fn.minimum, marker="*", color="crimson", ms=9, ls="")
            ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="", ylabel="")
            ax.tick_params(labelsize=6)
            if j:
                ax.set_yticklabels([])
            if j == 0:
                ax.set_ylabel(f"{fname}\ny", fontsize=9)
            if i == len(functions) - 1:
                ax.set_xlabel("x", fontsize=8)
    handles = [
        plt.Line2D([], [], color="k", marker="o", ls="", ms=4, label="start"),
        plt.Line2D([], [], color="crimson", marker="*", ls="", ms=9, label="minimum"),
        plt.Line2D([], [], color="C0", lw=1.3, label="path"),
        plt.Line2D([], [], color="C0", marker="o", mfc="none", ls="", ms=6, label="end"),
    ]
    fig.suptitle(QUESTION + "\n(* : rate on the grid's edge)", fontsize=10)
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.01), ncol=4)
    fig.text(0.5, -0.045, NOTE.format(tol=tol), ha="center", va="top", fontsize=8, style="italic")
    return save(fig, path)
