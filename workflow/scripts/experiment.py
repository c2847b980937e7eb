"""Adapter: run one side experiment of nngrid.study.experiments and save its result (.npz)."""

import sys

from nngrid.study import experiments
from nngrid.study.integrity import stamp_experiment_result, stop_on_signals

stop_on_signals()  # SIGTERM/SIGHUP: temporary files removed, no result written

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)
name = snakemake.wildcards.experiment  # noqa: F821
settings, seed = snakemake.params.settings, snakemake.params.seed  # noqa: F821
result = experiments.run(name, settings, seed)
# the result names its experiment and settings (nngrid.study.integrity): no copy is taken for it
experiments.save(snakemake.output[0], stamp_experiment_result(result, name, settings, seed))  # noqa: F821
