# Collection: every job's JSON -> pandas tables (nngrid.study.tables). Runs locally.

# A result deleted while the tables exist (by hand, or by Snakemake after its job failed) is
# remade by a plain `snakemake`: rule all asks for every job's result, not only for the tables
# (with the default profile's rerun-triggers a missing input alone reruns nothing). A run that
# asks for the tables alone is told in one line which results are missing.
FINAL_TARGETS += RUNS
# A result that is not its job's (another config's, an orphan's, a copy) is removed now and
# remade, and the tables with it (nngrid.study.integrity: results trusted by their content).
remove_stale_results(dict(zip(RUNS, map(spec_sha256_of, SPECS.values()))), TABLES)
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
        # each table's sha256: the claims and the figures verify the tables by it
        stamp="results/tables/tables.stamp.json",
    log:
        "logs/tables.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        # each result must carry its job's spec digest (no copy, no orphan, no other config's)
        expected=[spec_sha256_of(t) for t in SPECS.values()],
        # the performance-profile scores' bootstrap in rankings.csv (nngrid.study.profiles)
        bootstrap_seed=config.get("claims", {}).get("bootstrap_seed", 0),
        code=source_hash(source_closure("nngrid.study.tables")),
    shell:
        "python -m nngrid.study.tables --runs {input} --expect-specs {params.expected} "
        "--bootstrap-seed {params.bootstrap_seed} --out-dir results/tables 2> {log}"


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
        histories="results/tables/histories.parquet",
        tables_stamp="results/tables/tables.stamp.json",
        experiments=CLAIM_EXPERIMENTS,
    output:
        claims="results/tables/claims.csv",
        # the sha256 of claims.csv, of claims_by_dataset.csv and of every input: the report and
        # the figures verify both tables by it
        stamp="results/tables/claims.stamp.json",
        by_dataset="results/tables/claims_by_dataset.csv",
    log:
        "logs/report/claims.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        code=source_hash(source_closure("nngrid.study.claims")),
        bootstrap_seed=config.get("claims", {}).get("bootstrap_seed", 0),
    shell:
        "python -m nngrid.study.claims --runs {input.runs} --summary {input.summary} "
        "--histories {input.histories} "
        "--tables-stamp {input.tables_stamp} --experiments {input.experiments} "
        "--out {output.claims} "
        "--by-dataset {output.by_dataset} --bootstrap-seed {params.bootstrap_seed} 2> {log}"


# Replication mode (config/replicate.yaml): with `replicate_of` naming another run's claims.csv,
# rule `replication` compares it with this run's verdict by verdict (nngrid.study.replication)
# into results/tables/replication.csv, with its stamp (its sha256 and the two claims tables'); the
# landing page shows it once verified against the stamp and this run's claims.csv.
REPLICATE_OF = config.get("replicate_of")
if REPLICATE_OF:
    FINAL_TARGETS.append("results/tables/replication.csv")


rule replication:
    input:
        ours="results/tables/claims.csv",
        theirs=REPLICATE_OF or "results/tables/claims.csv",
    output:
        table="results/tables/replication.csv",
        # its sha256 and the compared claims tables': the landing page verifies it by it
        stamp="results/tables/replication.stamp.json",
    log:
        "logs/report/replication.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=source_hash(source_closure("nngrid.study.replication")),
    shell:
        "python -m nngrid.study.replication {input.theirs} {input.ours} --out {output.table} "
        "2> {log}"
