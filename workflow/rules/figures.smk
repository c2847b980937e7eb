# Figures: one rule per figure family (nngrid.study.figures.make). Each reads only experiment results
# or the collected tables, and writes its PNGs plus one caption (.rst) per PNG whose numbers
# come from the data (nngrid.study.report). The figure rules do not depend on the core's hash: a
# change to a plotting function or a caption (FIGURE_CODE) reruns figure jobs only, never
# training.

FIGURE_CODE = source_hash(
    figure_files()
    + source_closure("nngrid.study.figures.make", "nngrid.study.report.landing")
)
# Captions are rule outputs (results/figures/*.rst); report() resolves a caption's path from
# this file's folder, hence "../../results/figures/". One label
# per figure: with two labels, the report's table takes a category of two figures for a toggle
# and fails to open them (Snakemake 9.27).
# Config order of every axis, so panels and legends follow the config.
ORDER = {
    "activations": list(
        dict.fromkeys(a for s in config["studies"].values() for a in s["activations"])
    ),
    "optimizers": list(config["optimizers"]),
    "regularizers": list(config["regularizers"]),
}
EXPERIMENT_FIGURES = {
    "activation_curves": ["results/figures/fig01_activations.png"],
    "nonlinearity_boundaries": ["results/figures/fig02_nonlinearity.png"],
    "gradient_flow": [
        "results/figures/fig03_gradient_flow.png",
        "results/figures/fig03_depth_accuracy.png",
    ],
    "regression_overfitting": [
        "results/figures/fig04_regression_fits.png",
        "results/figures/fig04_regression_losses.png",
    ],
    "data_size_sweep": ["results/figures/fig05_data_size.png"],
    "regularizer_boundaries": [
        "results/figures/fig06_regularizer_boundaries.png",
        "results/figures/fig06_weight_histograms.png",
    ],
    "batch_size_curves": ["results/figures/fig07_batch_size.png"],
    "overfitting_cures": ["results/figures/fig11_cures.png"],
    "optimizer_paths": ["results/figures/fig08_optimizer_paths.png"],
    "wilson_separable": ["results/figures/fig13_wilson.png"],
}
GRID_FIGURES = [
    f"results/figures/fig09_{name}.png"
    for name in (
        "heatmaps",
        "curves",
        "lr",
        "target",
        "gap",
        "rankings",
        "tuning",
        "profile",
    )
]
FIGURES = [f for e in EXPERIMENTS for f in EXPERIMENT_FIGURES.get(e, [])]
FIGURES += GRID_FIGURES + ["results/figures/fig10_cost.png"]
# The search spaces of the optimizers a `full`-protocol study tunes (empty without one): figure
# 14 draws the trials against them.
SEARCH_SPACES = search_spaces(config)
if SEARCH_SPACES:
    FIGURES.append("results/figures/fig14_hyperparameters.png")
FINAL_TARGETS += FIGURES


rule figure_activations:
    input:
        experiment="results/experiments/activation_curves.npz",
        figure_description="workflow/report/fig01_activations.rst",
    output:
        figure=report(
            "results/figures/fig01_activations.png",
            caption="../../results/figures/fig01_activations.rst",
            category="1. Why activation functions",
            labels={"figure": "1: activations and their derivatives"},
        ),
        figure_caption="results/figures/fig01_activations.rst",
    log:
        "logs/figures/fig01_activations.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_nonlinearity:
    input:
        claims="results/tables/claims.csv",
        experiment="results/experiments/nonlinearity_boundaries.npz",
        figure_description="workflow/report/fig02_nonlinearity.rst",
    output:
        figure=report(
            "results/figures/fig02_nonlinearity.png",
            caption="../../results/figures/fig02_nonlinearity.rst",
            category="1. Why activation functions",
            labels={
                "figure": "2",
                "shows": "decision boundaries, identity vs nonlinear",
            },
        ),
        figure_caption="results/figures/fig02_nonlinearity.rst",
    log:
        "logs/figures/fig02_nonlinearity.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_gradient_flow:
    input:
        claims="results/tables/claims.csv",
        experiment="results/experiments/gradient_flow.npz",
        figure_description="workflow/report/fig03_gradient_flow.rst",
        depth_description="workflow/report/fig03_depth_accuracy.rst",
    output:
        figure=report(
            "results/figures/fig03_gradient_flow.png",
            caption="../../results/figures/fig03_gradient_flow.rst",
            category="1. Why activation functions",
            labels={"figure": "3a: per-layer gradient norms by depth"},
        ),
        depth=report(
            "results/figures/fig03_depth_accuracy.png",
            caption="../../results/figures/fig03_depth_accuracy.rst",
            category="1. Why activation functions",
            labels={"figure": "3b: trained accuracy against depth"},
        ),
        figure_caption="results/figures/fig03_gradient_flow.rst",
        depth_caption="results/figures/fig03_depth_accuracy.rst",
    log:
        "logs/figures/fig03_gradient_flow.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_overfitting:
    input:
        experiment="results/experiments/regression_overfitting.npz",
        fits_description="workflow/report/fig04_regression_fits.rst",
        losses_description="workflow/report/fig04_regression_losses.rst",
    output:
        fits=report(
            "results/figures/fig04_regression_fits.png",
            caption="../../results/figures/fig04_regression_fits.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "4a: fitted curves with each cure"},
        ),
        losses=report(
            "results/figures/fig04_regression_losses.png",
            caption="../../results/figures/fig04_regression_losses.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "4b: train and test loss over epochs"},
        ),
        fits_caption="results/figures/fig04_regression_fits.rst",
        losses_caption="results/figures/fig04_regression_losses.rst",
    log:
        "logs/figures/fig04_overfitting.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_data_size:
    input:
        claims="results/tables/claims.csv",
        experiment="results/experiments/data_size_sweep.npz",
        figure_description="workflow/report/fig05_data_size.rst",
    output:
        figure=report(
            "results/figures/fig05_data_size.png",
            caption="../../results/figures/fig05_data_size.rst",
            category="2. Overfitting and its cures",
            labels={
                "figure": "5",
                "shows": "train/test gap against training-set size",
            },
        ),
        figure_caption="results/figures/fig05_data_size.rst",
    log:
        "logs/figures/fig05_data_size.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_regularizers:
    input:
        claims="results/tables/claims.csv",
        experiment="results/experiments/regularizer_boundaries.npz",
        boundaries_description="workflow/report/fig06_regularizer_boundaries.rst",
        histograms_description="workflow/report/fig06_weight_histograms.rst",
    output:
        boundaries=report(
            "results/figures/fig06_regularizer_boundaries.png",
            caption="../../results/figures/fig06_regularizer_boundaries.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "6a: decision boundaries per regularizer"},
        ),
        histograms=report(
            "results/figures/fig06_weight_histograms.png",
            caption="../../results/figures/fig06_weight_histograms.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "6b: weight histograms per penalty"},
        ),
        boundaries_caption="results/figures/fig06_regularizer_boundaries.rst",
        histograms_caption="results/figures/fig06_weight_histograms.rst",
    log:
        "logs/figures/fig06_regularizers.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plot=config.get("experiments", {})
        .get("regularizer_boundaries", {})
        .get("plot", {}),
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_batch_size:
    input:
        claims="results/tables/claims.csv",
        experiment="results/experiments/batch_size_curves.npz",
        figure_description="workflow/report/fig07_batch_size.rst",
    output:
        figure=report(
            "results/figures/fig07_batch_size.png",
            caption="../../results/figures/fig07_batch_size.rst",
            category="3. Speeding training up",
            labels={
                "figure": "7",
                "shows": "loss against steps and examples seen per batch size",
            },
        ),
        figure_caption="results/figures/fig07_batch_size.rst",
    log:
        "logs/figures/fig07_batch_size.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_cures:
    input:
        experiment="results/experiments/overfitting_cures.npz",
        claims="results/tables/claims.csv",
        figure_description="workflow/report/fig11_cures.rst",
    output:
        figure=report(
            "results/figures/fig11_cures.png",
            caption="../../results/figures/fig11_cures.rst",
            category="2. Overfitting and its cures",
            labels={
                "figure": "11: each tuned cure against none, on data that overfits"
            },
        ),
        figure_caption="results/figures/fig11_cures.rst",
    log:
        "logs/figures/fig11_cures.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_optimizer_paths:
    input:
        experiment="results/experiments/optimizer_paths.npz",
        figure_description="workflow/report/fig08_optimizer_paths.rst",
    output:
        figure=report(
            "results/figures/fig08_optimizer_paths.png",
            caption="../../results/figures/fig08_optimizer_paths.rst",
            category="3. Speeding training up",
            labels={"figure": "8: optimizer paths on 2-D functions"},
        ),
        figure_caption="results/figures/fig08_optimizer_paths.rst",
    log:
        "logs/figures/fig08_optimizer_paths.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        optimizers=ORDER["optimizers"],
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_wilson:
    input:
        experiment="results/experiments/wilson_separable.npz",
        claims="results/tables/claims.csv",
        figure_description="workflow/report/fig13_wilson.rst",
    output:
        figure=report(
            "results/figures/fig13_wilson.png",
            caption="../../results/figures/fig13_wilson.rst",
            category="3. Speeding training up",
            labels={"figure": "13: adaptive methods on a separable problem"},
        ),
        figure_caption="results/figures/fig13_wilson.rst",
    log:
        "logs/figures/fig13_wilson.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        optimizers=ORDER["optimizers"],
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_grid:
    input:
        claims="results/tables/claims.csv",
        runs="results/tables/runs.parquet",
        summary="results/tables/summary.parquet",
        rankings="results/tables/rankings.csv",
        histories="results/tables/histories.parquet",
        # each dataset's source, size and class names (the heatmaps' caption lists them)
        datasets=[p.replace(".npz", ".json") for p in data_targets(config)],
        tables_stamp="results/tables/tables.stamp.json",
        heatmaps_description="workflow/report/fig09_heatmaps.rst",
        curves_description="workflow/report/fig09_curves.rst",
        lr_description="workflow/report/fig09_lr.rst",
        target_description="workflow/report/fig09_target.rst",
        gap_description="workflow/report/fig09_gap.rst",
        rankings_description="workflow/report/fig09_rankings.rst",
        tuning_description="workflow/report/fig09_tuning.rst",
    output:
        heatmaps=report(
            "results/figures/fig09_heatmaps.png",
            caption="../../results/figures/fig09_heatmaps.rst",
            category="4. The grid",
            labels={"figure": "9a: test accuracy of every cell"},
        ),
        curves=report(
            "results/figures/fig09_curves.png",
            caption="../../results/figures/fig09_curves.rst",
            category="4. The grid",
            labels={"figure": "9b: learning curves per optimizer"},
        ),
        lr=report(
            "results/figures/fig09_lr.png",
            caption="../../results/figures/fig09_lr.rst",
            category="4. The grid",
            labels={"figure": "9c: learning-rate sensitivity"},
        ),
        target=report(
            "results/figures/fig09_target.png",
            caption="../../results/figures/fig09_target.rst",
            category="4. The grid",
            labels={"figure": "9d: time to target accuracy"},
        ),
        gap=report(
            "results/figures/fig09_gap.png",
            caption="../../results/figures/fig09_gap.rst",
            category="4. The grid",
            labels={"figure": "9e: train/test gap per regularizer"},
        ),
        rankings=report(
            "results/figures/fig09_rankings.png",
            caption="../../results/figures/fig09_rankings.rst",
            category="4. The grid",
            labels={"figure": "9f: rankings across datasets"},
        ),
        tuning=report(
            "results/figures/fig09_tuning.png",
            caption="../../results/figures/fig09_tuning.rst",
            category="4. The grid",
            labels={"figure": "9g: what tuning gained"},
        ),
        heatmaps_caption="results/figures/fig09_heatmaps.rst",
        curves_caption="results/figures/fig09_curves.rst",
        lr_caption="results/figures/fig09_lr.rst",
        target_caption="results/figures/fig09_target.rst",
        gap_caption="results/figures/fig09_gap.rst",
        rankings_caption="results/figures/fig09_rankings.rst",
        tuning_caption="results/figures/fig09_tuning.rst",
    log:
        "logs/figures/fig09_grid.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        order=ORDER,
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_profile:
    input:
        runs="results/tables/runs.parquet",
        summary="results/tables/summary.parquet",
        rankings="results/tables/rankings.csv",
        tables_stamp="results/tables/tables.stamp.json",
        figure_description="workflow/report/fig09_profile.rst",
    output:
        figure=report(
            "results/figures/fig09_profile.png",
            caption="../../results/figures/fig09_profile.rst",
            category="4. The grid",
            labels={"figure": "9h: performance profiles of steps to target"},
        ),
        figure_caption="results/figures/fig09_profile.rst",
    log:
        "logs/figures/fig09_profile.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        order=ORDER,
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


# Figure 14 (the tuning playbook's hyperparameter-axis plots): the full protocol's trials,
# validation result against each searched hyperparameter; only when a study runs that protocol.
rule figure_hyperparameters:
    input:
        runs="results/tables/runs.parquet",
        summary="results/tables/summary.parquet",
        tables_stamp="results/tables/tables.stamp.json",
        claims="results/tables/claims.csv",
        figure_description="workflow/report/fig14_hyperparameters.rst",
    output:
        figure=report(
            "results/figures/fig14_hyperparameters.png",
            caption="../../results/figures/fig14_hyperparameters.rst",
            category="4. The grid",
            labels={"figure": "14: hyperparameter axes of the full protocol's search"},
        ),
        figure_caption="results/figures/fig14_hyperparameters.rst",
    log:
        "logs/figures/fig14_hyperparameters.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        order=ORDER,
        search=SEARCH_SPACES,
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_cost:
    input:
        runs="results/tables/runs.parquet",
        tables_stamp="results/tables/tables.stamp.json",
        benchmarks=[
            rules.train.benchmark.format(**job) for job in JOBS.to_dict("records")
        ],
        figure_description="workflow/report/fig10_cost.rst",
    output:
        figure=report(
            "results/figures/fig10_cost.png",
            caption="../../results/figures/fig10_cost.rst",
            category="5. Cost",
            labels={"figure": "10: seconds per training job"},
        ),
        figure_caption="results/figures/fig10_cost.rst",
    log:
        "logs/figures/fig10_cost.log",
    conda:
        "../envs/nngrid.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        jobs=JOBS.to_json(orient="records"),
        order=ORDER,
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


# Figure 12: the architectures arm (nngrid.study.figures.architectures), only when a study names
# `architectures`; its captions carry the verdicts of the CNN/RNN claims from claims.csv.
if ARCH_RUNS:
    ARCH_FIGURES = {
        "accuracy": "results/figures/fig12_architectures.png",
        "gradients": "results/figures/fig12_gradient_time.png",
        "curves": "results/figures/fig12_curves.png",
    }
    FIGURES += list(ARCH_FIGURES.values())  # the landing page links them too
    FINAL_TARGETS += list(ARCH_FIGURES.values())

    rule figure_architectures:
        input:
            experiment=ARCH_RESULT,
            claims="results/tables/claims.csv",
            accuracy_description="workflow/report/fig12_architectures.rst",
            gradients_description="workflow/report/fig12_gradient_time.rst",
            curves_description="workflow/report/fig12_curves.rst",
        output:
            accuracy=report(
                ARCH_FIGURES["accuracy"],
                caption="../../results/figures/fig12_architectures.rst",
                category="1. Why activation functions",
                labels={"figure": "12: accuracy by architecture x activation"},
            ),
            accuracy_caption="results/figures/fig12_architectures.rst",
            gradients=report(
                ARCH_FIGURES["gradients"],
                caption="../../results/figures/fig12_gradient_time.rst",
                category="1. Why activation functions",
                labels={"figure": "12: gradient norm through time"},
            ),
            gradients_caption="results/figures/fig12_gradient_time.rst",
            curves=report(
                ARCH_FIGURES["curves"],
                caption="../../results/figures/fig12_curves.rst",
                category="1. Why activation functions",
                labels={"figure": "12: learning curves in optimizer steps"},
            ),
            curves_caption="results/figures/fig12_curves.rst",
        log:
            "logs/figures/fig12_architectures.log",
        conda:
            "../envs/nngrid.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            code=FIGURE_CODE,
            order=ORDER,
        script:
            "../scripts/figure.py"
