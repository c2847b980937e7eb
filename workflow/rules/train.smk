# Training: one job per study x dataset x optimizer runs the tuned/untuned protocol
# (nngrid.study.protocol) on every regularizer x activation cell of the study; one JSON, atomically.
# The job's spec is a small JSON file (rule train_spec), so the command line stays one short
# line that can be rerun by hand. The job's progress lines (one per cell) go to its log and,
# prefixed with the job's name, to the terminal.

SPEC = "results/specs/{study}/{dataset}/{optimizer}.json"
# A spec file that is not the config's (edited, truncated, another config's) is removed now, so
# rule train_spec writes it again and its job reruns (nngrid.study.integrity).
SPECS = expected_specs(SPEC, JOBS, lambda row: job_spec(config, **row))
remove_stale_specs(SPECS)


rule train_spec:
    output:
        SPEC,
    log:
        "logs/train_spec/{study}/{dataset}/{optimizer}.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    params:
        spec=spec_param,
    # a shell job, not `run:` (which re-parses the workflow in a new process, about 3 s each)
    shell:
        "printf '%s\\n' {params.spec:q} > {output} 2> {log}"


rule train:
    input:
        data="results/data/{dataset}.npz",
        # its sha256 and spec: the job checks the dataset against them
        info="results/data/{dataset}.json",
        spec=SPEC,
    output:
        RUN,
    log:
        "logs/train/{study}/{dataset}/{optimizer}.log",
    benchmark:
        "benchmarks/train/{study}/{dataset}/{optimizer}.tsv"
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=lambda wc: train_runtime(wc),
    params:
        # the spec's text: a changed spec reruns exactly its job (the file is rewritten too)
        spec=spec_param,
        spec_sha256=spec_sha256,
        core=CORE_HASH,
    shell:
        "python -m nngrid.study.protocol --data {input.data} --spec {input.spec} "
        "--spec-sha256 {params.spec_sha256} --output {output} 2>&1 | tee {log} "
        "| sed -u 's|^|{wildcards.study}/{wildcards.dataset}/{wildcards.optimizer}: |'"


# Writing a spec file takes milliseconds: never a Slurm job of its own.
localrules:
    train_spec,
