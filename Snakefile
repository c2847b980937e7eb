# nngrid: every dataset x activation x regularizer x optimizer cell of config/config.yaml, trained
# with a tuned and an untuned learning rate over several seeds, collected into tables.
#   snakemake --cores 8                                   # the default study
#   snakemake --cores 2 --configfile config/quick.yaml    # a smoke run (times: README.md)
# Every config key is explained in config/README.md.

from snakemake.utils import min_version

min_version("9.0")


# The default study; a `--configfile` given on the command line replaces it (not merged into it).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


# Helpers; then the config is checked before anything else happens.
include: "workflow/rules/common.smk"


validate_config(config, "workflow/schemas/config.schema.yaml")
# a dataset's `data_seeds` become one dataset per draw (nngrid.study.seeds)
from nngrid.study.seeds import expand_draws

expand_draws(config)

# The grid: one training job per study x dataset x optimizer (all its cells inside).
JOBS = job_table(config)
RUNS = run_targets(JOBS)
CORE_HASH = source_hash(set(core_files() + source_closure("nngrid.study.protocol")))
DATA_HASH = source_hash(data_files())
# Everything `rule all` builds; later rule files append their figures and reports.
FINAL_TARGETS = list(TABLES)


wildcard_constraints:
    study=alternatives(config["studies"]),
    dataset=alternatives(config["datasets"]),
    optimizer=alternatives(config["optimizers"]),
    architecture=alternatives(config.get("architectures") or ["none"]),


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/architectures.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/experiments.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


localrules:
    all,
    dataset,
    tables,
    architectures_merge,
    figure_activations,
    figure_nonlinearity,
    figure_gradient_flow,
    figure_overfitting,
    figure_data_size,
    figure_regularizers,
    figure_batch_size,
    figure_cures,
    figure_optimizer_paths,
    figure_grid,
    figure_cost,
    figure_architectures,
    claims,


# SIGTERM and SIGHUP stop the whole run, its jobs included, as SIGINT does (a rerun resumes).
onstart:
    stop_run_on_signals()


rule all:
    default_target: True
    input:
        FINAL_TARGETS,
