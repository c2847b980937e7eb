# The small side experiments behind figures 1-8 (nngrid.study.experiments; NumPy and the core only).
# One job per key of the config's `experiments` section; its settings enter through params, so
# changing one experiment's settings reruns that experiment (and its figure) alone.

EXPERIMENTS = [k for k in config.get("experiments", {}) if k != "seed"]
# Experiments train with the core: they rerun when the core or nngrid/study/experiments/ changes.
EXPERIMENT_CODE = source_hash(
    core_files()
    + list((Path(nngrid.__file__).parent / "study" / "experiments").glob("*.py"))
    + source_closure("nngrid.study.integrity")
)


wildcard_constraints:
    experiment=alternatives(EXPERIMENTS or ["none"]),


# A result that is not its experiment's current one (another config's, a copy) is removed now,
# with the claims made from it, and remade (nngrid.study.integrity): rule all asks for every
# experiment's result, as for every training job's.
remove_stale_results(
    {
        f"results/experiments/{e}.npz": experiment_digest(
            e, experiment_settings(e), config["experiments"].get("seed", 0)
        )
        for e in EXPERIMENTS
    },
    [
        "results/tables/claims.csv",
        "results/tables/claims.stamp.json",
        "results/tables/claims_by_dataset.csv",
    ],
)
FINAL_TARGETS += [f"results/experiments/{e}.npz" for e in EXPERIMENTS]


rule experiment:
    output:
        "results/experiments/{experiment}.npz",
    log:
        "logs/experiments/{experiment}.log",
    benchmark:
        "benchmarks/experiments/{experiment}.tsv"
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=lambda wc: experiment_settings(wc.experiment),
        seed=config.get("experiments", {}).get("seed", 0),
        code=EXPERIMENT_CODE,
    script:
        "../scripts/experiment.py"
