"""Adapter: write the report's landing page and the claims table (nngrid.study.report.landing)."""

import sys

from nngrid.errors import NngridError
from nngrid.study.report.landing import write_landing

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
try:
    write_landing(
        snakemake.input.claims,  # noqa: F821
        snakemake.input.description,  # noqa: F821
        snakemake.config,  # noqa: F821
        snakemake.output.page,  # noqa: F821
        snakemake.output.table,  # noqa: F821
        snakemake.params.figures,  # noqa: F821
    )
except NngridError as exc:  # a refused claims.csv: one line
    print(f"nngrid: error: {exc}", file=sys.stderr)
    sys.exit(2)
