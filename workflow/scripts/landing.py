"""Adapter: write the report's landing page and the claims table (nngrid.report.write_landing)."""

import sys

from nngrid.report import write_landing

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
write_landing(
    snakemake.input.claims,  # noqa: F821
    snakemake.input.description,  # noqa: F821
    snakemake.config,  # noqa: F821
    snakemake.output.page,  # noqa: F821
    snakemake.output.table,  # noqa: F821
    snakemake.params.figures,  # noqa: F821
    snakemake.input.get("by_dataset"),  # noqa: F821
    snakemake.input.get("replication"),  # noqa: F821
)
