# The small side experiments behind figures 1-8 (nngrid.study.experiments; NumPy and the core only).
# One job per key of the config's `experiments` section; its settings enter through params, so
# changing one experiment's settings reruns that experiment (and its figure) alone.

EXPERIMENTS = [k for k in config.get("experiments", {}) if k != "seed"]
# Experiments train with the core: they rerun when the core or nngrid/study/experiments/ changes.
EXPERIMENT_CODE = source_hash(
    core_files()
    + list((Path(nngrid.__file__).parent / "study" / "experiments").glob("*.py"))
)


wildcard_constraints:
    experiment=alternatives(EXPERIMENTS or ["none"]),


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
        settings=lambda wc: {
            k: v
            for k, v in config["experiments"][wc.experiment].items()
            if k != "plot"
        },
        seed=config.get("experiments", {}).get("seed", 0),
        code=EXPERIMENT_CODE,
    script:
        "../scripts/experiment.py"
