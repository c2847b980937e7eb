"""Figure 11: each cure at its tuned strength against no regularization, on data that overfits."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nngrid.study.figures import save, theme

QUESTION = "On data that overfits, does each cure (strength tuned on validation) beat none?"


def _t_interval(x: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    x = x[np.isfinite(x)]
    if x.size < 2 or float(stats.sem(x)) == 0.0:
        return float(x.mean()), float(x.mean())
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    return float(lo), float(hi)


def cures(result: dict, path: str | Path) -> Path:
    """A panel per dataset: tuned test accuracy per cure (mean and 95% t interval over seeds),
    train accuracy as a hollow marker; the dashed line is none's mean test accuracy."""
    theme()
    df = pd.DataFrame(result["records"])
    df = df[df["arm"] == "tuned"]
    datasets = list(dict.fromkeys(df["dataset"]))
    order = [c for c in result.get("cures", []) if c in set(df["regularizer"])]
    fig, axes = plt.subplots(
        len(datasets), 1, figsize=(10, 3.0 * len(datasets)), squeeze=False
    )  # not sharex: each dataset's panel names the strengths chosen for it
    for ax, ds in zip(axes[:, 0], datasets, strict=True):
        sub = df[df["dataset"] == ds]
        x = np.arange(len(order))
        means, lows, highs, train, ticks = [], [], [], [], []
        for cure in order:
            c = sub[sub["regularizer"] == cure]
            acc = c["test_accuracy"].to_numpy(float)
            lo, hi = _t_interval(acc)
            means.append(float(np.nanmean(acc)))
            lows.append(lo)
            highs.append(hi)
            train.append(float(c["train_accuracy"].mean()))
            first = c.iloc[0]
            tick = cure
            if isinstance(first["strength_name"], str):
                short = {"strength": "λ", "max_norm": "max"}
                name = short.get(first["strength_name"], first["strength_name"])
                tick += f"\n{name} {first['strength']:.2g}"
                tick += "\n(grid edge)" if bool(first["strength_on_edge"]) else ""
            ticks.append(tick)
        means, lows, highs = map(np.asarray, (means, lows, highs))
        colors = ["0.6" if c == "none" else "C0" for c in order]
        ax.bar(x, means, color=colors, width=0.6)
        ax.errorbar(x, means, yerr=[means - lows, highs - means], fmt="none", color="k", lw=1)
        ax.plot(x, train, "o", mfc="none", color="C3", label="train accuracy")
        if "none" in order:
            ax.axhline(means[order.index("none")], color="0.3", ls="--", lw=0.8)
        low = max(0.0, float(np.nanmin(lows)) - 0.1)
        ax.set(ylim=(low, 1.02), ylabel="test accuracy", title=ds)
        ax.set_xticks(x, ticks, fontsize=7.5)
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.suptitle(QUESTION)
    fig.tight_layout()
    return save(fig, path)
