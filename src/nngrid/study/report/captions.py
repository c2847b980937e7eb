"""Captions whose numbers come from the data, and what every caption gets.

A caption states what the figure shows, then what *this* run's data says, with the numbers
computed from the experiment records or the pipeline's tables (:mod:`experiment_captions`:
figures 1-8 and 11; :mod:`grid_captions`: figures 9 and 10; figures 9h, 12 and 13 have theirs
in :mod:`nngrid.study.figures.profiles`, :mod:`~nngrid.study.figures.architectures` and
:mod:`~nngrid.study.figures.wilson`); no conclusion is written in advance. Verdicts on the
lesson's claims are never decided here: :mod:`nngrid.study.claims` decides each once, into
``claims.csv``, and :func:`verdicts_text` renders the rows of a figure's claims (verdict,
statistic, interval, threshold, evidence) under its caption. :func:`write_caption` joins a static
description (``workflow/report/<figure>.rst``) with the computed text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nngrid.study.report.prose import fmt, rst

VERDICT_WORDS = {
    "supported": "supported",
    "contradicted": "contradicted",
    "inconclusive": "inconclusive (the interval straddles the threshold)",
    "not applicable": "not applicable (the claim does not measure this kind of data)",
}


def verdicts_text(claims: pd.DataFrame, figure: str) -> str:
    """The claims ``claims.csv`` ties to ``figure`` (a figure stem), one paragraph each:
    the claim, its verdict, the statistic with its value, 95% interval and threshold, and the
    evidence sentence. Empty when the figure shows no claim."""
    several = claims["claim_id"].duplicated(keep=False) if "claim_id" in claims else False
    rows = claims.assign(several_protocols=several)[claims["figure"] == figure]
    out = []
    for r in rows.itertuples():
        protocol = str(getattr(r, "protocol", "") or "")
        under = (
            f" (tuning protocol: {protocol})"
            if r.several_protocols and protocol and protocol != "nan"
            else ""
        )
        out.append(
            f"**Claim: {rst(r.claim + under)}** Verdict: "
            f"**{VERDICT_WORDS.get(r.verdict, r.verdict)}**. "
            f"Statistic: {rst(r.statistic)}; measured {fmt(float(r.value))} (95% CI "
            f"{fmt(float(r.ci_low))} to {fmt(float(r.ci_high))}), the claim predicts "
            f"{r.direction} {fmt(float(r.threshold))}. {rst(r.evidence)}"
        )
    return "\n\n".join(out)


def write_caption(path: str | Path, computed: str, description: str = "") -> Path:
    """Write ``description`` (static rst) followed by the ``computed`` findings to ``path``."""
    from nngrid.io import write_text
    from nngrid.study.integrity import safe_caption

    # Snakemake renders a caption as a Jinja template, then as rst: the computed part (which
    # holds labels and table text) is made inert for both
    text = (description.strip() + "\n\n" if description.strip() else "") + safe_caption(
        computed.strip()
    )
    return write_text(path, text)
