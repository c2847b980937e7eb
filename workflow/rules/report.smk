# The report: `snakemake --report results/report.html` gathers every output wrapped in report()
# (figures from figures.smk, tables from collect.smk) with its caption. This file adds the claims
# table: for each claim of the lesson a figure tests, whether this run's data supports it.

# The claims table itself is made by rule `claims` (collect.smk, nngrid.claims).
