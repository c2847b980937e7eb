"""Figures of the study: one module per family, each reads tables or experiment records.

Every figure answers one question, which its title asks. Files are deterministic: the same
data gives the same bytes, because :func:`save` drops the date from the metadata and salts
SVG ids with the file's own stem.

Modules: :mod:`~nngrid.figures.activations` (figure 1), :mod:`~nngrid.figures.boundaries`
(figures 2 and 6), :mod:`~nngrid.figures.gradients` (3), :mod:`~nngrid.figures.overfitting`
(4 and 5), :mod:`~nngrid.figures.batches` (7), :mod:`~nngrid.figures.paths` (8),
:mod:`~nngrid.figures.grid` (9) and :mod:`~nngrid.figures.cost` (10).
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


def save(fig: matplotlib.figure.Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path`` byte-for-byte reproducibly and close it.

    The format comes from the suffix (svg, png or pdf). SVG element ids are salted with
    the file's stem (``svg.hashsalt``) and no date is written into any format.
    """
    path = Path(path)
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
