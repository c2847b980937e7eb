"""Adapter: draw the figures of one figure rule and write their captions
(nngrid.study.figures.make)."""

import sys

from nngrid.errors import NngridError
from nngrid.study.figures.make import make
from nngrid.study.integrity import stop_on_signals

stop_on_signals()  # SIGTERM/SIGHUP: temporary files removed, no result written


def named(items):
    """A Snakemake Namedlist as a dict of its named entries (lists stay lists)."""
    return {name: getattr(items, name) for name in items.keys()}


sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
try:
    make(
        snakemake.rule,  # noqa: F821
        named(snakemake.input),  # noqa: F821
        named(snakemake.output),  # noqa: F821
        named(snakemake.params),  # noqa: F821
    )
except NngridError as exc:  # a refused input (an edited table, claims.csv): one line
    print(f"nngrid: error: {exc}", file=sys.stderr)
    sys.exit(2)
