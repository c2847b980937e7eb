# Collection: every job's JSON -> pandas tables (nngrid.tables). Runs locally.

# A result deleted while the tables exist (by hand, or by Snakemake after its job failed) is
# remade by a plain `snakemake`: rule all asks for every job's result, not only for the tables
# (with the default profile's rerun-triggers a missing input alone reruns nothing). A run that
# asks for the tables alone is told in one line which results are missing.
FINAL_TARGETS += RUNS
warn_missing_results(RUNS, "results/tables/runs.parquet")


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
