"""Adapter: run one side experiment of nngrid.study.experiments and save its result (.npz)."""

import sys

from nngrid.study import experiments

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
name = snakemake.wildcards.experiment  # noqa: F821
result = experiments.run(name, snakemake.params.settings, snakemake.params.seed)  # noqa: F821
experiments.save(snakemake.output[0], result)  # noqa: F821
