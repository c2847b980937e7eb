"""The landing page's replication sections: per-dataset verdicts and the replication status.

Two rst sections the report's first page appends after the claims table (nngrid.study.report's
``landing_page``): :func:`by_dataset_section` shows ``claims_by_dataset.csv`` (each claim that
pools datasets, decided on each dataset alone), :func:`replication_section` shows
``replication.csv`` when replication mode ran (nngrid.study.replication). Every value from a
table is escaped; the sections are raw HTML blocks inside the page's ``{% raw %}``.
"""

from __future__ import annotations

import html
import math

import pandas as pd

__all__ = ["by_dataset_section", "replication_section"]

_COLOURS = {"supported": "#1a7f37", "contradicted": "#b8321c", "inconclusive": "#6e6e6e"}
_AGREEMENT = {"agree": "#1a7f37", "differ": "#6e6e6e", "flip": "#b8321c", "missing": "#6e6e6e"}


def _esc(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else html.escape(str(x))


def _num(x) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else f"{v:.3g}"


def _interval(lo, hi) -> str:
    lo, hi = _num(lo), _num(hi)
    return f"[{lo}, {hi}]" if lo and hi else "no interval"


def _word(word, colours) -> str:
    colour = colours.get(str(word), "#6e6e6e")
    return f'<span style="color:{colour};font-weight:600">{_esc(word)}</span>'


def _block(title: str, intro: str, head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th>{_esc(h)}</th>" for h in head)
    # one row per line: docutils refuses a line past 10,000 characters
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    table = (
        f'<table class="nngrid-claims"><thead><tr>{cells}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table>"
    )
    underline = "-" * len(title)
    indented = "\n".join("   " + line for line in table.splitlines())
    return f"{title}\n{underline}\n\n{intro}\n\n.. raw:: html\n\n{indented}"


def by_dataset_section(table: pd.DataFrame | None) -> str:
    """The per-dataset verdicts (claims_by_dataset.csv) as an rst section; "" without rows."""
    if table is None or table.empty:
        return ""
    rows = [
        [
            f"<code>{_esc(r['claim_id'])}</code>",
            _esc(r["dataset"]),
            _word(r["verdict"], _COLOURS),
            f"{_num(r['value'])} {_interval(r['ci_low'], r['ci_high'])}",
        ]
        for r in table.to_dict("records")
    ]
    n = table["claim_id"].nunique()
    return _block(
        "Per dataset",
        f"{n} claims pool datasets: each is decided on every dataset alone first, and the pooled "
        "verdict above is supported only when every dataset supports it (contradicted only when "
        "every dataset contradicts it), so no dataset is averaged away.",
        ["claim", "dataset", "verdict", "value [95% interval]"],
        rows,
    )


def replication_section(table: pd.DataFrame | None) -> str:
    """The replication status (replication.csv) as an rst section; "" when it did not run."""
    if table is None or table.empty:
        return ""
    from nngrid.study.replication import summary

    rows = [
        [
            f"<code>{_esc(r['claim_id'])}</code>",
            _word(r["verdict_a"], _COLOURS),
            _word(r["verdict_b"], _COLOURS),
            _word(r["agreement"], _AGREEMENT),
            f"{_num(r['value_a'])} / {_num(r['value_b'])}",
        ]
        for r in table.to_dict("records")
    ]
    return _block(
        "Replication",
        f"This run against an independent draw of every seed (config/replicate.yaml): "
        f"{_esc(summary(table))} (a flip is supported in one run and contradicted in the other).",
        ["claim", "first run", "this run", "agreement", "values"],
        rows,
    )
