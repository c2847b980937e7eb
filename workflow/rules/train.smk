# Training: one job per study x dataset x optimizer runs the tuned/untuned protocol
# (nngrid.protocol) on every regularizer x activation cell of the study; one JSON, atomically.


rule train:
    input:
        data="results/data/{dataset}.npz",
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
        spec=spec_param,
        core=CORE_HASH,
    shell:
        "python -m nngrid.protocol --data {input.data} --spec {params.spec:q} "
        "--output {output} 2> {log}"
