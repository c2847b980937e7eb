"""Figure 1: every activation and its derivative."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result


def activation_curves(
    names: Sequence[str] | None = None, lo: float = -4.0, hi: float = 4.0, points: int = 161
) -> Result:
    """Every activation ``f`` and its derivative ``f'`` on ``points`` values of ``[lo, hi]``.

    Records: ``activation, x, curve ("f(x)" or "f'(x)"), value``. The derivative is the
    activation's own :meth:`derivative` (the one backpropagation uses), evaluated in float64.
    """
    from nngrid.core.activations import ACTIVATIONS

    names = list(names) if names else ACTIVATIONS.names()
    x = np.linspace(lo, hi, points)
    records = []
    for name in names:
        act = ACTIVATIONS.create(name)
        f = np.asarray(act.forward(x.copy()), dtype=float)
        d = np.asarray(act.derivative(x.copy()), dtype=float)
        for curve, values in (("f(x)", f), ("f'(x)", d)):
            records += [
                {"activation": name, "x": float(a), "curve": curve, "value": float(v)}
                for a, v in zip(x, values, strict=True)
            ]
    return {"records": records}
