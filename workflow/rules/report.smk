# The report: `snakemake --report results/report.html` gathers every output wrapped in report()
# (figures from figures.smk, tables from collect.smk) with its caption. This file adds the claims
# table: for each claim of the lesson a figure tests, whether this run's data supports it.

import nngrid.report

CLAIM_CAPTIONS = [
    f.replace(".png", ".rst") for f in FIGURES if Path(f).stem in nngrid.report.CLAIMS
]
FINAL_TARGETS.append("results/tables/claims.csv")


rule claims:
    input:
        CLAIM_CAPTIONS,
    output:
        report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="0. The lesson's claims",
            labels={"table": "claims"},
        ),
    log:
        "logs/report/claims.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        code=FIGURE_CODE,
    shell:
        "python -m nngrid.report --captions {input} --out {output} 2> {log}"
