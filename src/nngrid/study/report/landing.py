"""The report's first page (rst): the lesson's three questions, the claims table with a link to
each figure, and the protocol as configured; and the stand-alone claims table (HTML).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from nngrid.study.report.prose import fmt, pct
from nngrid.study.report.verdict_table import (
    TABLE_STYLE,
    VERDICT_STYLE,
    check_claims,
    claims_document,
    claims_html,
)

#: The report's layout, adjusted from its first page: a wider text column for the table, and the
#: content pane aligned to the top (centred, a tall page loses its beginning off-screen).
_REPORT_STYLE = """<style>
.prose.max-w-lg { max-width: 46rem; }
div.grow.flex.items-center.justify-center.h-screen { align-items: flex-start; }
</style>"""


def _grid_text(grid: dict) -> str:
    return f"{grid['points']} rates from {fmt(grid['low'])} to {fmt(grid['high'])}"


def _names(studies: list[str], verb: str) -> str:
    """``study ``a`` runs`` / ``studies ``a``, ``b`` run``."""
    one = len(studies) == 1
    names = ", ".join(f"``{s}``" for s in studies)
    return f"study {names} {verb}s" if one else f"studies {names} {verb}"


def protocols_text(config: dict) -> str:
    """The tuning protocols the config's studies run, in rst ("" when every study tunes the
    learning rate alone, the lesson's protocol the paragraph above describes)."""
    studies = config.get("studies") or {}
    by: dict[str, list[str]] = {}
    for name, spec in studies.items():
        tuning = {**config.get("tuning", {}), **((spec or {}).get("tuning") or {})}
        by.setdefault(tuning.get("protocol", "lr"), []).append(name)
    if set(by) <= {"lr"}:
        return ""
    parts = []
    if "lr" in by:
        parts.append(f"{_names(by['lr'], 'tune')} the learning rate alone (above)")
    if "full" in by:
        first = studies[by["full"][0]] or {}
        tuning = {**config.get("tuning", {}), **(first.get("tuning") or {})}
        parts.append(
            f"{_names(by['full'], 'run')} the full protocol: {tuning.get('budget', 8)} trials of a "
            f"scrambled Sobol sequence per cell (seeded by search seed "
            f"{tuning.get('search_seed', 0)} and the cell's names) over each optimizer's search "
            "space (the learning rate with momentum, betas, alpha, eps or "
            "weight decay), scored on validation like the rates, the winner and the untuned "
            "default rerun over the seeds"
        )
    if "default" in by:
        parts.append(
            f"{_names(by['default'], 'run')} the default protocol: every optimizer at its "
            "documented defaults, untuned"
        )
    return (
        "**Protocols.** "
        + "; ".join(parts)
        + ". The optimizer claims are decided under each protocol, side by side above."
    )


def protocol_summary(config: dict) -> str:
    """The fair-comparison protocol as run, in rst, with the numbers of ``config``."""
    splits = config.get("splits", {})
    val, test = splits.get("val_fraction"), splits.get("test_fraction")
    own = {
        name: spec
        for name, spec in config.get("datasets", {}).items()
        if "val_fraction" in (spec or {}) or "test_fraction" in (spec or {})
    }
    training = config.get("training", {})
    seeds = training.get("seeds", [])
    opts = config.get("optimizers", {})
    grids = [f"{o} {_grid_text(s['lr_grid'])}" for o, s in opts.items() if "lr_grid" in (s or {})]
    tuning = config.get("tuning", {})
    tune_seeds = min(len(seeds), tuning.get("seeds", 3)) if seeds else tuning.get("seeds", 3)
    extend = tuning.get("extend", 2)
    lines = [
        f"**Splits.** Every dataset is split once (data seed {config.get('data_seed')}) into "
        f"train, validation ({pct(val)}) and test ({pct(test)})"
        + (
            "; "
            + ", ".join(
                f"{n}: validation {pct(s.get('val_fraction', val))}, test "
                f"{pct(s.get('test_fraction', test))}"
                for n, s in own.items()
            )
            if own
            else ""
        )
        + ". Tuning looks at the validation split only; the test split is only reported.",
        "**Tuning.** Each optimizer gets its own learning rate in every cell, chosen on a "
        f"log-spaced grid by the mean validation result of {tune_seeds} seeds (fewer diverged "
        "seeds first, then higher validation accuracy, then lower validation loss, then the "
        "smaller rate): "
        + "; ".join(grids)
        + f". A winner on the grid's edge extends the grid past that edge by up to {extend} "
        "points and is tuned again; a winner still on the edge is flagged in the tables and "
        "figures. The overfitting cures tune each regularizer's strength on validation the "
        "same way.",
        *([protocols_text(config)] if protocols_text(config) else []),
        f"**Seeds.** The chosen rate is rerun with {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}), and beside it the optimizer's documented default rate "
        "with the same seeds (the untuned arm). Every per-seed row is kept in "
        "``results/tables/runs.csv``.",
        "**Intervals.** Figures and tables give means over seeds with 95% confidence intervals; "
        "each claim above states its own statistic, its 95% interval and the threshold it is "
        "judged against. Supported when the interval clears the threshold in the lesson's "
        "direction, contradicted when it clears it the other way, inconclusive when it "
        "straddles it.",
        "**Divergence.** A run whose loss becomes NaN or infinite is recorded as diverged, "
        "with the epoch it happened; tables count such runs and figures mark them, never "
        "silently dropping them. "
        + (
            "Time to target counts optimizer steps until "
            f"{fmt(training['target_accuracy'], 2)} validation accuracy (never, if not "
            "reached); seconds are reported as cost only."
            if training.get("target_accuracy") is not None
            else "Time to target is not measured (training.target_accuracy is null)."
            if "target_accuracy" in training
            else ""
        ),
    ]
    return "\n\n".join(lines)


def landing_page(
    claims: pd.DataFrame,
    description: str,
    config: dict,
    figures: dict[str, str] | None = None,
    by_dataset: pd.DataFrame | None = None,
    replication: pd.DataFrame | None = None,
) -> str:
    """The report's first page (rst): the static ``description`` (the lesson's three questions),
    the claims table inline with links to the figures, the optimizer verdicts side by side per
    tuning protocol when the grid ran several, the per-dataset verdicts and the replication
    status when given, and the protocol as run.

    Snakemake renders this text through Jinja2 before docutils, so the generated part is wrapped
    in ``{% raw %}``: no text from the tables can be read as a template.
    """
    counts = check_claims(claims)["verdict"].value_counts()
    tally = ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICT_STYLE)
    table = claims_html(claims, figures)
    parts = [
        description.strip(),
        "The verdicts\n------------\n\n"
        f"{len(claims)} claims of the lesson, checked against this run's data: {tally}. "
        "Each link opens the figure with its caption.",
        ".. raw:: html\n\n" + _indent(_REPORT_STYLE + TABLE_STYLE + "\n" + table),
        *_replication_sections(by_dataset, replication, claims),
        "The protocol\n------------\n\n" + protocol_summary(config),
    ]
    from nngrid.study.integrity import inert_template

    return inert_template("\n\n".join(parts) + "\n")


def _replication_sections(by_dataset, replication, claims=None) -> list[str]:
    """The optimizer verdicts side by side per tuning protocol (when the grid ran several),
    per-dataset verdicts and replication status (nngrid.study.verdict_pages), when present."""
    from nngrid.study.verdict_pages import (
        by_dataset_section,
        protocols_section,
        replication_section,
    )

    sections = (
        protocols_section(claims),
        by_dataset_section(by_dataset),
        replication_section(replication),
    )
    return [s for s in sections if s]


def _given(path) -> bool:
    return bool(path) and Path(path).exists()


def _indent(text: str) -> str:
    return "\n".join("   " + line if line else "" for line in text.splitlines())


def write_landing(
    claims_csv: str | Path,
    description: str | Path,
    config: dict,
    page: str | Path,
    table: str | Path,
    figures: Iterable[str] = (),
    by_dataset_csv: str | Path | None = None,
    replication_csv: str | Path | None = None,
) -> None:
    """Write the landing page (rst) and the stand-alone claims table (HTML); the per-dataset
    verdicts and the replication status join the page when their tables are given (and exist).
    Every table is derived, never trusted: each is verified against its stamp and its own
    numbers first (nngrid.study.integrity), and a refused one stops the page (NngridError)."""
    from nngrid.io import write_text
    from nngrid.study.integrity import read_claims, read_claims_by_dataset
    from nngrid.study.replication import read_replication

    claims = read_claims(claims_csv)
    links = {Path(f).stem: str(f) for f in figures}
    by_dataset = (  # its sha256 is in claims.csv's stamp, whose inputs read_claims just checked
        read_claims_by_dataset(by_dataset_csv, claims_csv, check_inputs=False)
        if _given(by_dataset_csv)
        else None
    )
    replication = (  # compared from this claims.csv, by its stamp
        read_replication(replication_csv, claims_csv, claims) if _given(replication_csv) else None
    )
    text = landing_page(
        claims, Path(description).read_text(), config, links, by_dataset, replication
    )
    write_text(page, text)
    write_text(table, claims_document(claims))
