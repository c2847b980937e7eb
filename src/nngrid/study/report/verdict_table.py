"""The claims table of the report: every claim of ``claims.csv`` with its verdict, statistic,
interval and a link to its figure, grouped by the lesson's three questions (HTML). Verdicts are
never decided here: :mod:`nngrid.study.claims` decides each once, into ``claims.csv``.
"""

from __future__ import annotations

import math

import pandas as pd

from nngrid.study.claims import COLUMNS
from nngrid.study.claims import SECTIONS as CLAIM_SECTIONS
from nngrid.study.report.prose import fmt

#: The lesson's three questions, by the ``section`` of a claim.
SECTIONS = CLAIM_SECTIONS

#: How each verdict is shown: a label and its colour (colour-blind safe, with the word itself).
VERDICT_STYLE = {
    "supported": ("supported", "#1a7f37"),
    "contradicted": ("contradicted", "#b8321c"),
    "inconclusive": ("inconclusive", "#6e6e6e"),
    "not applicable": ("not applicable", "#3a5f8f"),
}


def _esc(x) -> str:
    import html

    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else html.escape(str(x))


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def statistic_text(row: dict) -> str:
    """``"<statistic> = v (95% CI lo to hi); supported when > t"``, or "" without a statistic."""
    stat = row.get("statistic")
    if stat is None or (isinstance(stat, float) and math.isnan(stat)) or not str(stat).strip():
        return ""
    value, lo, hi, thr = (_num(row.get(k)) for k in ("value", "ci_low", "ci_high", "threshold"))
    text = f"{stat} = {fmt(value)}"
    if not (math.isnan(lo) or math.isnan(hi)):
        text += f" (95% CI {fmt(lo)} to {fmt(hi)})"
    direction = str(row.get("direction") or "").strip()
    if direction in (">", "<") and not math.isnan(thr):
        text += f"; the lesson holds when the interval lies {direction} {fmt(thr)}"
    return text


def check_claims(claims: pd.DataFrame) -> pd.DataFrame:
    from nngrid.errors import NngridError

    missing = [c for c in ("claim", "verdict", "figure") if c not in claims]
    if missing:
        raise NngridError(
            f"claims table lacks the column(s) {', '.join(missing)}; it needs the columns "
            f"{', '.join(COLUMNS)}"
        )
    bad = sorted(set(claims["verdict"].astype(str)) - set(VERDICT_STYLE))
    if bad:
        raise NngridError(
            f"claims table has unknown verdict(s) {', '.join(bad)}; valid: "
            f"{', '.join(VERDICT_STYLE)}"
        )
    out = claims.copy()
    for column in COLUMNS:
        if column not in out:
            out[column] = math.nan if column in ("value", "ci_low", "ci_high", "threshold") else ""
    out["section"] = out["section"].where(out["section"].astype(str).isin(SECTIONS), "other")
    out["protocol"] = out["protocol"].fillna("").astype(str)
    return out


def claim_text(row: dict, several: bool) -> str:
    """The claim's sentence, followed by ``(tuning protocol: full)`` when ``several``: the claim
    is decided under more than one tuning protocol and this row is one of them."""
    protocol = str(row.get("protocol") or "")
    if several and protocol and protocol != "nan":
        return f"{row['claim']} (tuning protocol: {protocol})"
    return str(row["claim"])


def figure_link(figure: str, figures: dict[str, str] | None) -> str:
    """An HTML link that opens ``figure`` (a stem) with its caption in the Snakemake report, or
    the figure's name when it is not in the report (``figures``: stem -> the report's path)."""
    path = (figures or {}).get(str(figure))
    if not path:
        return _esc(figure)
    js = (
        f"app.setView({{content: 'img', contentPath: results['{path}'].data_uri, "
        f"resultPath: '{path}', navbarMode: 'resultinfo'}}); return false;"
    )
    return f'<a href="#" class="nngrid-figure" onclick="{_esc(js)}">{_esc(figure)}</a>'


def claims_html(claims: pd.DataFrame, figures: dict[str, str] | None = None) -> str:
    """The claims as an HTML table, grouped by the lesson's three questions: each claim with its
    evidence, its verdict with the statistic and interval, and a link to its figure."""
    claims = check_claims(claims)
    claims["_several"] = (
        claims["claim_id"].duplicated(keep=False) if "claim_id" in claims else False
    )
    head = "<tr><th>claim</th><th>verdict</th><th>figure</th></tr>"
    body = []
    for section in [*SECTIONS, "other"]:
        sub = claims[claims["section"] == section]
        if sub.empty:
            continue
        title = SECTIONS.get(section, "Other claims")
        body.append(f'<tr class="nngrid-section"><th colspan="3">{_esc(title)}</th></tr>')
        for row in sub.to_dict("records"):
            label, colour = VERDICT_STYLE[str(row["verdict"])]
            stat = statistic_text(row)
            evidence = _esc(row.get("evidence"))
            body.append(
                f'<tr class="nngrid-claim" data-verdict="{_esc(row["verdict"])}">'
                f"<td><b>{_esc(claim_text(row, bool(row['_several'])))}</b>"
                + (f'<br><span class="nngrid-evidence">{evidence}</span>' if evidence else "")
                + "</td>"
                f'<td><span class="nngrid-verdict" style="color:{colour};font-weight:bold">'
                f"{label}</span>"
                + (f'<br><span class="nngrid-statistic">{_esc(stat)}</span>' if stat else "")
                + "</td>"
                f"<td>{figure_link(row['figure'], figures)}</td></tr>"
            )
    return (
        '<table class="nngrid-claims"><thead>'
        + head
        + "</thead><tbody>\n"
        + "\n".join(body)  # a row a line: docutils refuses lines past 10,000 characters
        + "\n</tbody></table>"
    )


TABLE_STYLE = """<style>
table.nngrid-claims { border-collapse: collapse; font-size: 0.85rem; }
table.nngrid-claims td, table.nngrid-claims th { border-bottom: 1px solid #ddd;
  padding: 0.3rem 0.4rem; vertical-align: top; text-align: left; }
table.nngrid-claims tr.nngrid-section th { background: #eef2f7; }
.nngrid-evidence, .nngrid-statistic { font-size: 0.8rem; color: #444; }
</style>"""


def claims_document(claims: pd.DataFrame) -> str:
    """A stand-alone HTML page holding :func:`claims_html` (the report shows it in a frame)."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>The lesson\'s claims</title>'
        + TABLE_STYLE
        + '</head><body style="font-family: sans-serif; margin: 1rem">'
        + "<h1 style='font-size:1.2rem'>Does this run's data support each claim of the lesson?</h1>"
        + claims_html(claims)
        + "</body></html>\n"
    )
