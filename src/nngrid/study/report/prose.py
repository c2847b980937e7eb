"""Numbers and text for the report's prose: the formatting every caption and the landing page
share (no figure, table or claim is read here)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd


def rst(text) -> str:
    """Table text as literal rst: ``|w|`` would otherwise be read as a substitution, ``*`` as
    emphasis and a backquote as a role."""
    text = "" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text)
    for ch in "\\|*`":
        text = text.replace(ch, "\\" + ch)
    return text


def frame(records) -> pd.DataFrame:
    """Records (a list of dicts, as the experiments save them) as a DataFrame."""
    return records if isinstance(records, pd.DataFrame) else pd.DataFrame(records)


def fmt(x: float, digits: int = 3) -> str:
    """A number for prose: ``nan`` -> "n/a", infinities spelled out."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "never" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def pct(x: float) -> str:
    """A share as a whole percentage; ``nan`` -> "n/a"."""
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.0f}%"


def bullets(lines: Iterable[str]) -> str:
    """An rst bullet list, a line an item."""
    return "\n".join(f"- {line}" for line in lines)
