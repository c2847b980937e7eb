# Datasets: one .npz (train/val/test splits, standardized with training statistics) and one JSON
# (shapes, class counts, content hash) per dataset label of the config. Nothing is downloaded.


rule dataset:
    output:
        data="results/data/{dataset}.npz",
        info="results/data/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=dataset_spec_param,
        code=DATA_HASH,
    script:
        "../scripts/make_dataset.py"
