"""The landing page's sections after the claims table: protocols, datasets, replication.

Three rst sections the report's first page appends after the claims table (nngrid.study.report's
``landing_page``): :func:`protocols_section` shows the claims decided under more than one tuning
protocol side by side, one column per protocol ("does the verdict survive a fairer protocol?"),
:func:`by_dataset_section` shows ``claims_by_dataset.csv`` (each claim that
pools datasets, decided on each dataset alone), :func:`replication_section` shows
``replication.csv`` when replication mode ran (nngrid.study.replication). Every value from a
table is escaped; the sections are raw HTML blocks inside the page's ``{% raw %}``.
"""

from __future__ import annotations

import html
import math

import pandas as pd

__all__ = ["by_dataset_section", "protocols_section", "replication_section"]

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


def _protocol(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _claim_label(row: dict, several: bool) -> str:
    protocol = _protocol(row.get("protocol"))
    label = f"<code>{_esc(row['claim_id'])}</code>"
    return label + (f" ({_esc(protocol)})" if several and protocol else "")


def protocols_section(claims: pd.DataFrame | None) -> str:
    """The claims decided under more than one tuning protocol (claims.csv rows sharing a
    ``claim_id``), one row per claim and one column per protocol: verdict, value and interval;
    "" when every claim was decided once (a study that ran one protocol)."""
    if claims is None or claims.empty or "protocol" not in claims:
        return ""
    df = claims.assign(protocol=[_protocol(p) for p in claims["protocol"]])
    df = df[df["claim_id"].duplicated(keep=False) & (df["protocol"] != "")]
    if df.empty:
        return ""
    protocols = list(dict.fromkeys(df["protocol"]))
    rows = []
    for claim_id, sub in df.groupby("claim_id", sort=False):
        by = {r["protocol"]: r for r in sub.to_dict("records")}
        cells = [
            (
                _word(by[p]["verdict"], _COLOURS)
                + f"<br>{_num(by[p]['value'])} {_interval(by[p]['ci_low'], by[p]['ci_high'])}"
            )
            if p in by
            else "not run"
            for p in protocols
        ]
        rows.append([f"<code>{_esc(claim_id)}</code>", *cells])
    names = {"lr": "lr (the lesson's: the rate alone)", "full": "full (every hyperparameter)",
             "default": "default (no tuning)"}  # fmt: skip
    return _block(
        "Under each tuning protocol",
        "Does the verdict survive a fairer protocol? The optimizer claims decided once per "
        f"tuning protocol the grid ran ({', '.join(protocols)}): tuning the learning rate alone "
        "is the lesson's protocol, not the literature's (Choi et al. 2019 tune the rate, "
        "momentum / betas and eps together). Each cell: the verdict, the statistic and its 95% "
        "interval under that protocol.",
        ["claim", *(names.get(p, p) for p in protocols)],
        rows,
    )


def by_dataset_section(table: pd.DataFrame | None) -> str:
    """The per-dataset verdicts (claims_by_dataset.csv) as an rst section; "" without rows."""
    if table is None or table.empty:
        return ""
    several = (
        table.drop_duplicates(["claim_id", "protocol"])["claim_id"].duplicated().any()
        if "protocol" in table
        else False
    )
    rows = [
        [
            _claim_label(r, several),
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

    several = "protocol" in table and table["claim_id"].duplicated().any()
    rows = [
        [
            _claim_label(r, several),
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
