# The report: `snakemake --report results/report.html` gathers every output wrapped in report()
# (figures from figures.smk, tables from collect.smk) with its caption. This file adds the claims
# table and the report's first page: the lesson's three questions, every claim with its verdict,
# statistic and interval (linked to its figure), and the protocol as run.

import os

LANDING = "results/report/landing.rst"
FINAL_TARGETS.append(LANDING)

# The first page: the Snakefile names the static description (workflow/report/workflow.rst);
# once the run has written the landing page (description + claims + protocol), the report opens
# on that instead. Snakemake reads the file only when it builds the report.
if os.path.exists(LANDING):
    workflow.report(os.path.abspath(LANDING))


# The claims table itself is made by rule `claims` (collect.smk, nngrid.study.claims); rule landing
# renders it as the report's first page and as an HTML table.


rule landing:
    input:
        claims="results/tables/claims.csv",
        description="workflow/report/workflow.rst",
        by_dataset="results/tables/claims_by_dataset.csv",
        replication=["results/tables/replication.csv"] if REPLICATE_OF else [],
    output:
        page=LANDING,
        table=report(
            "results/report/claims.html",
            caption="../report/claims.rst",
            category="0. The lesson's claims",
            labels={"table": "claims and verdicts"},
        ),
    log:
        "logs/report/landing.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        figures=FIGURES,
        code=FIGURE_CODE,
    script:
        "../scripts/landing.py"


# Runs on the login node under Slurm, like the other report rules (the Snakefile lists those).
localrules:
    landing,
