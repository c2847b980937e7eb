"""Figure 12: the rules of thumb for convolutional and recurrent networks (the architectures arm).

``accuracy`` (fig12_architectures): tuned test accuracy by architecture x activation with 95%
t intervals over seeds, one panel per family, the shuffled control as hollow markers.
``gradient_time`` (fig12_gradient_time): ``‖dL/dh_t‖`` against t for the recurrent nets, log
axis, at initialisation and after training, vanishing/exploding marked.
``curves`` (fig12_curves): training accuracy against optimizer steps, one panel per
architecture, each activation at its tuned rate.

The ``*_caption`` functions give each figure's computed caption text (numbers from the result,
never seconds); the verdicts come from claims.csv (``nngrid.study.report.captions.verdicts_text``).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from nngrid.study.figures import ordered, save, theme

FAMILIES = ("mlp", "cnn", "rnn", "gated")
FAMILY_TITLES = {
    "mlp": "MLP",
    "cnn": "convolutional",
    "rnn": "Elman RNN",
    "gated": "gated (GRU, LSTM)",
}
#: log10 of ‖dL/dh_0‖ / ‖dL/dh_last‖ beyond which the gradient counts as vanishing or
#: exploding (the claims' GRADIENT_DECADES).
DECADES = 2.0
#: Smallest gradient norm drawn: dead relu units give exact zeros (and float32 underflows),
#: which a log axis cannot show; they are drawn at this floor.
FLOOR = 1e-20


def _interval(x: np.ndarray) -> tuple[float, float, float]:
    from scipy import stats

    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    m = float(x.mean())
    if x.size < 2 or float(stats.sem(x)) == 0.0:
        return m, m, m
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=m, scale=stats.sem(x))
    return m, float(lo), float(hi)


def _records(result: dict) -> pd.DataFrame:
    """The records on the data and its shuffled control (a dataset's extra draws, such as the
    MLP's MNIST-1D generations, are mlp_anything's evidence, not these figures')."""
    from nngrid.study.seeds import without_draws

    df = without_draws(pd.DataFrame(result["records"]))
    df["shuffled"] = df["shuffled"].astype(bool)
    return df


def accuracy(result: dict, path: str | Path, activations=None) -> Path:
    """One panel per family: tuned test accuracy (mean, 95% t interval over seeds) per activation,
    one colour per architecture; hollow markers are the same net on the shuffled positions."""
    theme()
    df = _records(result)
    fams = [f for f in FAMILIES if f in set(df["family"])]
    acts = ordered(df["activation"], activations)
    fig, axes = plt.subplots(
        1, len(fams), figsize=(3.4 * len(fams) + 1.5, 3.9), squeeze=False, sharey=True
    )
    for ax, fam in zip(axes[0], fams, strict=True):
        sub = df[df["family"] == fam]
        archs = ordered(sub["architecture"])
        here = [a for a in acts if a in set(sub["activation"])]
        x = {a: i for i, a in enumerate(here)}
        width = 0.7 / max(1, len(archs))
        for k, arch in enumerate(archs):
            for shuffled in (False, True):
                shift = (k - (len(archs) - 1) / 2) * width + (width / 3 if shuffled else 0)
                part = sub[(sub["architecture"] == arch) & (sub["shuffled"] == shuffled)]
                if part.empty:
                    continue
                xs, ms, lo, hi = [], [], [], []
                for act, g in part.groupby("activation", sort=False):
                    m, a, b = _interval(g["test_accuracy"].to_numpy(float))
                    xs.append(x[act] + shift)
                    ms.append(m)
                    lo.append(m - a)
                    hi.append(b - m)
                ax.errorbar(
                    xs,
                    ms,
                    yerr=[lo, hi],
                    fmt="o" if not shuffled else "s",
                    color=f"C{k}",
                    mfc=f"C{k}" if not shuffled else "white",
                    ms=5,
                    capsize=2,
                    lw=1,
                    label=arch + (" (shuffled)" if shuffled else ""),
                )
        ax.set_xticks(range(len(here)), here, rotation=45, ha="right")
        ax.set_xlim(-0.6, len(here) - 0.4)
        ax.set_title(FAMILY_TITLES[fam])
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.42), ncol=2)
    axes[0, 0].set_ylabel("tuned test accuracy")
    fig.suptitle("Which activation do convolutional and recurrent nets need on MNIST-1D?")
    fig.tight_layout()
    return save(fig, path)


def _grad(result: dict) -> pd.DataFrame:
    g = pd.DataFrame(result.get("grad_time", []))
    if g.empty:
        return g
    g["shuffled"] = g["shuffled"].astype(bool)
    return g[~g["shuffled"] & (g["direction"] == 0)]


def _decades(g: pd.DataFrame) -> pd.Series:
    """Mean over seeds of log10 ‖dL/dh_0‖ / ‖dL/dh_last‖ per (architecture, activation,
    stage)."""
    keys = ["architecture", "activation", "stage", "seed"]
    first = g[g["t"] == 0].groupby(keys)["grad_norm"].mean()
    last = g[g["t"] == g["t"].max()].groupby(keys)["grad_norm"].mean()
    ratio = (first / last).clip(lower=1e-30)  # exactly 0 (dead relu units): 10^-30
    return np.log10(ratio).groupby(level=[0, 1, 2]).mean()


def _mark(v: float) -> str:
    return "vanishing" if v < -DECADES else "exploding" if v > DECADES else "flows"


def _panels(n: int, legend_width: float, height: float):
    """A figure of ``n`` panels (one per architecture), up to three a row, sharing the y axis:
    each panel 3.6 inches wide and ``height`` high, plus ``legend_width`` inches for the legend
    on the right; the spare panels of the last row are switched off. Returns (figure, axes)."""
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.6 * cols + legend_width, height * rows), squeeze=False, sharey=True
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def gradient_time(result: dict, path: str | Path, activations=None) -> Path:
    """One panel per recurrent architecture: geometric mean over seeds of ‖dL/dh_t‖ against t
    (log axis, floored at :data:`FLOOR`), solid after training, dashed at initialisation; each
    panel names every activation's gradient at t = 0 at initialisation vanishing, flowing or
    exploding. Colours are the activations', the same in every panel."""
    from matplotlib.lines import Line2D

    theme()
    g = _grad(result)
    archs = ordered(g["architecture"])
    dec = _decades(g)
    acts = ordered(g["activation"], activations)
    color = {a: f"C{k % 10}" for k, a in enumerate(acts)}
    fig, axes = _panels(len(archs), 1.4, 2.8)
    for ax, arch in zip(axes.flat, archs, strict=False):
        sub = g[g["architecture"] == arch]
        marks = []
        for act in ordered(sub["activation"], acts):
            for stage, ls in (("init", "--"), ("trained", "-")):
                part = sub[(sub["activation"] == act) & (sub["stage"] == stage)]
                if part.empty:
                    continue
                logs = np.log10(part["grad_norm"].clip(lower=FLOOR))
                curve = 10 ** logs.groupby(part["t"]).mean()
                ax.plot(curve.index, curve.to_numpy(), ls=ls, color=color[act], lw=1.2)
            if (arch, act, "init") in dec:
                marks.append(f"{act}: {_mark(dec[(arch, act, 'init')])}")
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_title(arch + "\n" + ", ".join(marks), fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("‖dL/dh_t‖")
    handles = [Line2D([], [], color=color[a], label=a) for a in acts]
    handles += [
        Line2D([], [], color="0.3", ls="--", label="at initialisation"),
        Line2D([], [], color="0.3", ls="-", label="after training"),
    ]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.suptitle("Does the gradient survive 40 steps back through time?")
    fig.tight_layout()
    return save(fig, path)


def curves(result: dict, path: str | Path, activations=None) -> Path:
    """One panel per architecture (unshuffled data): training accuracy against optimizer steps,
    mean over seeds, one line per activation at its tuned rate; dotted: the target."""
    theme()
    c = pd.DataFrame(result["curves"])
    c["shuffled"] = c["shuffled"].astype(bool)
    c = c[~c["shuffled"]]
    target = float(pd.DataFrame(result["records"])["target"].iloc[0])
    archs = ordered(c["architecture"])
    fig, axes = _panels(len(archs), 1.2, 2.7)
    acts = ordered(c["activation"], activations)
    color = {a: f"C{k % 10}" for k, a in enumerate(acts)}
    for ax, arch in zip(axes.flat, archs, strict=False):
        sub = c[c["architecture"] == arch]
        for act in ordered(sub["activation"], acts):
            part = sub[sub["activation"] == act]
            mean = part.groupby("step")["train_accuracy"].mean()
            ax.plot(mean.index, mean.to_numpy(), color=color[act], lw=1.2, label=act)
        ax.axhline(target, color="0.4", ls=":", lw=0.8)
        ax.set(title=arch, xlabel="optimizer steps", ylim=(0, 1.02))
    for ax in axes[:, 0]:
        ax.set_ylabel("training accuracy")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=color[a], label=a) for a in acts]
    handles.append(Line2D([], [], color="0.4", ls=":", label=f"target {target:.2f}"))
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)
    fig.suptitle("How fast does each activation train each architecture (in optimizer steps)?")
    fig.tight_layout()
    return save(fig, path)


# --------------------------------------------------------------------------- captions


def accuracy_caption(result: dict) -> str:
    df = _records(result)
    base = df[~df["shuffled"]]
    parts = []
    for arch, sub in base.groupby("architecture", sort=False):
        means = sub.groupby("activation")["test_accuracy"].mean()
        best = means.idxmax()
        parts.append(
            f"{arch}: best {best} {means[best]:.3f}, worst {means.idxmin()} {means.min():.3f}"
            f" ({int(sub['diverged'].sum())} of {len(sub)} runs diverged)"
        )
    text = "Tuned test accuracy on MNIST-1D (mean over seeds). " + "; ".join(parts) + "."
    shuf = df[df["shuffled"]]
    if not shuf.empty:
        pairs = []
        for (arch, act), sub in shuf.groupby(["architecture", "activation"], sort=False):
            plain = base[(base["architecture"] == arch) & (base["activation"] == act)]
            if len(plain):
                pairs.append(
                    f"{arch}/{act} {plain['test_accuracy'].mean():.3f} -> "
                    f"{sub['test_accuracy'].mean():.3f}"
                )
        text += " With the 40 positions shuffled: " + ", ".join(pairs) + "."
    return text


def gradient_caption(result: dict) -> str:
    g = _grad(result)
    if g.empty:
        return "No recurrent network was trained."
    dec = _decades(g)
    parts = [
        f"{arch}/{act} {stage} 10^{v:.1f} ({_mark(v)})" for (arch, act, stage), v in dec.items()
    ]
    return (
        "‖dL/dh_0‖ relative to ‖dL/dh_last‖ (mean over seeds of log10; beyond 10^-2 "
        "vanishing, beyond 10^2 exploding): " + ", ".join(parts) + "."
    )


def curves_caption(result: dict) -> str:
    df = _records(result)
    df = df[~df["shuffled"]]
    target = float(df["target"].iloc[0])
    parts = []
    for arch, sub in df.groupby("architecture", sort=False):
        med = sub.groupby("activation")["steps_to_target"].median()
        reached = med.dropna()
        if reached.empty:
            parts.append(f"{arch}: no activation reached it")
        else:
            parts.append(f"{arch}: {reached.idxmin()} first, {reached.min():.0f} steps")
    return (
        f"Median optimizer steps to {target:.2f} training accuracy (the dotted line): "
        + "; ".join(parts)
        + "."
    )
