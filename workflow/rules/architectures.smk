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
)


ARCH_SPEC = (
    "results/specs/architectures/{study}/{dataset}/{architecture}/{optimizer}.json"
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
        code=EXPERIMENT_HASH_ARCH,
    shell:
        "python -m nngrid.study.experiments.architectures --data {input.data} "
        "--spec {input.spec} --output {output} 2>&1 | tee {log} | sed -u "
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
    shell:
        "python -m nngrid.study.experiments.architectures --merge {input} --output {output} 2> {log}"


# Writing a spec file takes milliseconds: never a Slurm job of its own.
localrules:
    architecture_spec,
