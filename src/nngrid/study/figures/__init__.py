"""Figures of the study: one module per family, each reads tables or experiment records.

Every figure answers one question, which its title asks. Files are deterministic: the same
data gives the same bytes, because :func:`save` drops the date from the metadata and salts
SVG ids with the file's own stem.

Modules: :mod:`~nngrid.study.figures.activations` (figure 1),
:mod:`~nngrid.study.figures.boundaries`
(figures 2 and 6), :mod:`~nngrid.study.figures.gradients` (3),
:mod:`~nngrid.study.figures.overfitting`
(4 and 5), :mod:`~nngrid.study.figures.batches` (7), :mod:`~nngrid.study.figures.paths` (8),
:mod:`~nngrid.study.figures.grid` (9), :mod:`~nngrid.study.figures.profiles` (9h),
:mod:`~nngrid.study.figures.cost` (10), :mod:`~nngrid.study.figures.cures` (11),
:mod:`~nngrid.study.figures.wilson` (13) and :mod:`~nngrid.study.figures.hyperparameters` (14).
:func:`blank_panels` finds panels that draw no data;
:func:`save` warns about them and the figure tests fail on them.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

#: Seed of every bootstrap confidence band, so bands are the same bytes on every run.
BOOTSTRAP_SEED = 0
#: The 95% bootstrap band over seeds that every learning curve draws.
BAND = ("ci", 95)
#: Bootstrap resamples per band (seaborn's default is 1000; 300 keeps the figure jobs quick
#: while the band's edges move by well under a line width).
N_BOOT = 300
#: The keyword arguments every seaborn call draws its confidence band with.
BAND_KWS = {"errorbar": BAND, "seed": BOOTSTRAP_SEED, "n_boot": N_BOOT}

_METADATA = {
    ".svg": {"Date": None},
    ".pdf": {"CreationDate": None, "ModDate": None},
    ".png": {"Software": None},
}


def theme() -> None:
    """Apply the one look every figure shares (seaborn's whitegrid, small fonts)."""
    sns.set_theme(style="whitegrid", context="paper", font_scale=1.0)
    plt.rcParams["figure.dpi"] = 100
    plt.rcParams["savefig.dpi"] = 110
    plt.rcParams["savefig.bbox"] = "tight"


def _finite_points(xy, ax) -> bool:
    """Whether any (x, y) point is finite and, on a log axis, positive (so it is drawn)."""
    import numpy as np

    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    ok = np.isfinite(xy).all(axis=1)
    if ax.get_xscale() == "log":
        ok &= xy[:, 0] > 0
    if ax.get_yscale() == "log":
        ok &= xy[:, 1] > 0
    return bool(ok.any())


def panel_draws_data(ax) -> bool:
    """Whether the axes ``ax`` draws any data: a line or a patch with a drawable point (finite,
    and positive on a log axis: a bar from 0 on a log axis is not drawn), a non-empty
    collection (scatter, band, mesh with a finite value) or an image with a finite pixel."""
    import numpy as np
    from matplotlib.patches import Rectangle

    for line in ax.lines:
        if _finite_points(line.get_xydata(), ax):
            return True
    for patch in ax.patches:
        if isinstance(patch, Rectangle):
            x, y = patch.get_xy()
            w, h = patch.get_width(), patch.get_height()
            if w == 0 or h == 0:
                continue
            corners = [(x, y), (x + w, y + h)]
            if all(_finite_points([c], ax) for c in corners):
                return True
        elif _finite_points(patch.get_path().vertices, ax):
            return True
    for coll in ax.collections:
        array = coll.get_array()
        if (
            array is not None
            and np.size(array)
            and not np.isfinite(np.ma.filled(array, np.nan)).any()
        ):
            continue
        offsets = coll.get_offsets()
        if len(offsets) and _finite_points(offsets, ax) and len(coll.get_paths()):
            return True
        if any(_finite_points(p.vertices, ax) for p in coll.get_paths() if len(p.vertices)):
            return True
    for image in ax.images:
        if np.isfinite(np.ma.filled(np.asarray(image.get_array(), float), np.nan)).any():
            return True
    return False


def blank_panels(fig: matplotlib.figure.Figure) -> list[str]:
    """Titles (or positions) of the visible data panels of ``fig`` that draw no data.

    Colorbars and axes switched off (``ax.axis("off")``, hidden facets) are not panels."""
    out = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison or ax.get_label() == "<colorbar>":
            continue
        if not panel_draws_data(ax):
            out.append(ax.get_title() or ax.get_title(loc="left") or f"axes {i}")
    return out


def save(fig: matplotlib.figure.Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` byte-for-byte reproducibly and close it.

    The format comes from the suffix (svg, png or pdf). SVG element ids are salted with
    the file's stem (``svg.hashsalt``) and no date is written into any format.
    """
    import sys

    path = Path(path)
    for title in blank_panels(fig):  # said in the job's log; tests/test_figures.py fails on it
        print(f"nngrid: warning: {path.name}: panel {title!r} draws no data", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    with plt.rc_context({"svg.hashsalt": path.stem, "svg.fonttype": "path"}):
        fig.savefig(path, metadata=_METADATA.get(suffix, {}))
    plt.close(fig)
    return path


def ordered(values, order=None) -> list:
    """Unique ``values`` in ``order`` (config order) first, then in first-seen order."""
    seen = list(dict.fromkeys(values))
    if not order:
        return seen
    head = [v for v in order if v in seen]
    return head + [v for v in seen if v not in head]
