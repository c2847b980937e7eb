# Helpers only: the workflow's calls into the package (nngrid.study.config checks the config,
# nngrid.study.jobs builds the job tables, specs, paths and code hashes, nngrid.study.costs
# estimates each job's runtime) and the input functions of the rules. No rules live here.

# Path and nngrid: the rule files name the modules their code hashes cover with them.
from pathlib import Path

import nngrid
from nngrid.study import costs
from nngrid.study import config as config_checks
from nngrid.study.integrity import (
    experiment_digest,
    remove_stale_results,
    remove_stale_specs,
    source_closure,
    spec_digest,
    stop_run_on_signals,
)
from nngrid.study.jobs import (
    ARCH_RESULT,
    ARCH_RUN,
    RUN,
    TABLES,
    alternatives,
    architecture_jobs,
    architecture_spec,
    architecture_targets,
    canonical,
    core_files,
    data_targets,
    data_files,
    dataset_spec,
    expected_specs,
    figure_files,
    job_spec,
    job_table,
    run_targets,
    search_spaces,
    source_hash,
    spec_sha256_of,
    warn_missing_results,
)


def validate_config(cfg, schema):
    """Check `cfg` (nngrid.study.config.validate) with the schema path taken relative to the
    Snakefile, after every config file Snakemake loaded has been re-read for duplicate keys.
    """
    return config_checks.validate(
        cfg, Path(workflow.basedir) / schema, workflow.configfiles
    )


# ---------------------------------------------------------------------------------------------
# Input functions: each rule's params and resources from its wildcards and the config.
# ---------------------------------------------------------------------------------------------


def spec_param(wildcards):
    """The job spec as canonical JSON text (a `params:` value: a change reruns the job)."""
    return canonical(
        job_spec(config, wildcards.study, wildcards.dataset, wildcards.optimizer)
    )


def dataset_spec_param(wildcards):
    """How to build one dataset, as canonical JSON text (a change rebuilds it)."""
    return canonical(dataset_spec(config, wildcards.dataset))


def architecture_spec_param(wildcards):
    """An architectures job's spec as canonical JSON text."""
    return canonical(
        architecture_spec(
            config,
            wildcards.study,
            wildcards.dataset,
            wildcards.architecture,
            wildcards.optimizer,
        )
    )


def train_runtime(wildcards):
    """Wall-time limit in minutes of one training job (for cluster executors)."""
    return costs.train_runtime(
        config, wildcards.study, wildcards.dataset, wildcards.optimizer
    )


def architecture_runtime(wildcards):
    """Wall-time limit in minutes of one architectures job (for cluster executors)."""
    return costs.architecture_runtime(
        config,
        wildcards.study,
        wildcards.dataset,
        wildcards.architecture,
        wildcards.optimizer,
    )


def spec_sha256(wildcards):
    """The first 16 hex digits of the training job's spec digest: the job refuses a spec file
    without it (the collection compares the whole digest)."""
    spec = job_spec(config, wildcards.study, wildcards.dataset, wildcards.optimizer)
    return spec_digest(spec)[:16]


def architecture_spec_sha256(wildcards):
    """The first 16 hex digits of an architectures job's spec digest."""
    return spec_sha256_of(architecture_spec_param(wildcards))[:16]


def experiment_settings(name):
    """The settings of side experiment `name` (its config section without `plot`)."""
    return {k: v for k, v in config["experiments"][name].items() if k != "plot"}
