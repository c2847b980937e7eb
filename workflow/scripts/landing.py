"""Adapter: write the report's landing page and the claims table (nngrid.study.report.landing)."""

import sys

from nngrid.errors import NngridError
from nngrid.study.integrity import stop_on_signals
from nngrid.study.report.landing import write_landing

stop_on_signals()  # SIGTERM/SIGHUP: temporary files removed, no result written

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)


def _one(name):
    """The named input's path, or None when the rule gave it no file (an empty list)."""
    value = snakemake.input.get(name)  # noqa: F821
    if isinstance(value, list):
        return value[0] if value else None
    return value or None


try:
    write_landing(
        snakemake.input.claims,  # noqa: F821
        snakemake.input.description,  # noqa: F821
        snakemake.config,  # noqa: F821
        snakemake.output.page,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        snakemake.params.figures,  # noqa: F821
        _one("by_dataset"),
        _one("replication"),
    )
except NngridError as exc:  # a refused claims, per-dataset or replication table: one line
    print(f"nngrid: error: {exc}", file=sys.stderr)
    sys.exit(2)
