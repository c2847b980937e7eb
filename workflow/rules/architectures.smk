# The architectures arm (nngrid.study.experiments.architectures): one job per study x dataset x
# architecture x optimizer of the studies that name `architectures`; every activation (and
# regularizer) of the study a cell inside it, its learning rate tuned on validation like the
# grid's. The jobs' results merge into one file the claims and figures read.

ARCH_RUNS = architecture_targets(config)
# The jobs rerun when the core or the arm's module changes.
EXPERIMENT_HASH_ARCH = source_hash(
    core_files()
    + [
        Path(nngrid.__file__).parent / "study" / "experiments" / name
        for name in ("architectures.py", "common.py")
    ]
    + source_closure("nngrid.study.integrity")
)


ARCH_SPEC = (
    "results/specs/architectures/{study}/{dataset}/{architecture}/{optimizer}.json"
)
ARCH_SPECS = expected_specs(
    ARCH_SPEC, architecture_jobs(config), lambda row: architecture_spec(config, **row)
)
remove_stale_specs(ARCH_SPECS)
remove_stale_results(
    dict(zip(ARCH_RUNS, map(spec_sha256_of, ARCH_SPECS.values()))), [ARCH_RESULT]
)


rule architecture_spec:
    output:
        ARCH_SPEC,
    log:
        "logs/architecture_spec/{study}/{dataset}/{architecture}/{optimizer}.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=200,
        runtime=1,
    params:
        spec=architecture_spec_param,
    shell:
        "printf '%s\\n' {params.spec:q} > {output} 2> {log}"


rule architecture:
    input:
        data="results/data/{dataset}.npz",
        # its sha256 and spec: the job checks the dataset against them
        info="results/data/{dataset}.json",
        spec=ARCH_SPEC,
    output:
        ARCH_RUN,
    log:
        "logs/architectures/{study}/{dataset}/{architecture}/{optimizer}.log",
    benchmark:
        "benchmarks/architectures/{study}/{dataset}/{architecture}/{optimizer}.tsv"
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=lambda wc: architecture_runtime(wc),
    params:
        spec=architecture_spec_param,
        spec_sha256=architecture_spec_sha256,
        code=EXPERIMENT_HASH_ARCH,
    shell:
        "python -m nngrid.study.experiments.architectures --data {input.data} "
        "--spec {input.spec} --spec-sha256 {params.spec_sha256} --output {output} "
        "2>&1 | tee {log} | sed -u "
        "'s|^|{wildcards.dataset}/{wildcards.architecture}/{wildcards.optimizer}: |'"


rule architectures_merge:
    input:
        ARCH_RUNS,
    output:
        ARCH_RESULT,
    log:
        "logs/architectures/merge.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        # each job's result must carry its job's spec digest (no copy, no orphan)
        expected=[spec_sha256_of(t) for t in ARCH_SPECS.values()],
        code=source_hash(source_closure("nngrid.study.experiments.architectures")),
    shell:
        "python -m nngrid.study.experiments.architectures --merge {input} "
        "--expect-specs {params.expected} --output {output} 2> {log}"


# Writing a spec file takes milliseconds: never a Slurm job of its own.
localrules:
    architecture_spec,
