# Collection: every job's JSON -> pandas tables (nngrid.tables). Runs locally.


rule tables:
    input:
        RUNS,
    output:
        runs_parquet="results/tables/runs.parquet",
        runs_csv="results/tables/runs.csv",
        summary_parquet="results/tables/summary.parquet",
        summary_csv=report(
            "results/tables/summary.csv",
            caption="../report/summary.rst",
            category="Tables",
        ),
        rankings=report(
            "results/tables/rankings.csv",
            caption="../report/rankings.rst",
            category="Tables",
        ),
        histories="results/tables/histories.parquet",
    log:
        "logs/tables.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    shell:
        "python -m nngrid.tables --runs {input} --out-dir results/tables 2> {log}"
