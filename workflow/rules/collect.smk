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


# The lesson's claims (nngrid.study.claims): each decided once, from the tables and the experiment
# results, into results/tables/claims.csv; the figures' captions read their verdicts from it.
CLAIM_EXPERIMENTS = [
    f"results/experiments/{e}.npz" for e in config.get("experiments", {}) if e != "seed"
] + ([ARCH_RESULT] if ARCH_RUNS else [])
FINAL_TARGETS.append("results/tables/claims.csv")


rule claims:
    input:
        runs="results/tables/runs.parquet",
        summary="results/tables/summary.parquet",
        experiments=CLAIM_EXPERIMENTS,
    output:
        claims="results/tables/claims.csv",
        by_dataset="results/tables/claims_by_dataset.csv",
    log:
        "logs/report/claims.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        code=source_hash(
            sorted((Path(nngrid.__file__).parent / "study" / "claims").glob("*.py"))
            + [Path(nngrid.__file__).parent / "study" / "seeds.py"]
        ),
        bootstrap_seed=config.get("claims", {}).get("bootstrap_seed", 0),
    shell:
        "python -m nngrid.study.claims --runs {input.runs} --summary {input.summary} "
        "--experiments {input.experiments} --out {output.claims} "
        "--by-dataset {output.by_dataset} --bootstrap-seed {params.bootstrap_seed} 2> {log}"


# Replication mode (config/replicate.yaml): with `replicate_of` naming another run's claims.csv,
# rule `replication` compares it with this run's verdict by verdict (nngrid.study.replication)
# into results/tables/replication.csv; the landing page shows it.
REPLICATE_OF = config.get("replicate_of")
if REPLICATE_OF:
    FINAL_TARGETS.append("results/tables/replication.csv")


rule replication:
    input:
        ours="results/tables/claims.csv",
        theirs=REPLICATE_OF or "results/tables/claims.csv",
    output:
        "results/tables/replication.csv",
    log:
        "logs/report/replication.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "python -m nngrid.study.replication {input.theirs} {input.ours} --out {output} 2> {log}"
