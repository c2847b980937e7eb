# Figures: one rule per figure family (nngrid.figures.make). Each reads only experiment results
# or the collected tables, and writes its PNGs plus one caption (.rst) per PNG whose numbers
# come from the data (nngrid.report). The figure rules do not depend on the core's hash: a change
# to a plotting function (FIGURE_CODE) reruns figure jobs only, never training.

FIGURE_CODE = source_hash(
    list((Path(nngrid.__file__).parent / "figures").glob("*.py"))
    + [Path(nngrid.__file__).parent / "report.py"]
)
FIG = "results/figures/"
DESC = "workflow/report/"
# Captions are rule outputs; report() resolves their paths from this file's folder. One label
# per figure: with two labels, the report's table takes a category of two figures for a toggle
# and fails to open them (Snakemake 9.27).
CAP = "../../results/figures/"
# Config order of every axis, so panels and legends follow the config.
ORDER = {
    "activations": list(
        dict.fromkeys(a for s in config["studies"].values() for a in s["activations"])
    ),
    "optimizers": list(config["optimizers"]),
    "regularizers": list(config["regularizers"]),
}
EXPERIMENT_FIGURES = {
    "activation_curves": [FIG + "fig01_activations.png"],
    "nonlinearity_boundaries": [FIG + "fig02_nonlinearity.png"],
    "gradient_flow": [FIG + "fig03_gradient_flow.png"],
    "regression_overfitting": [
        FIG + "fig04_regression_fits.png",
        FIG + "fig04_regression_losses.png",
    ],
    "data_size_sweep": [FIG + "fig05_data_size.png"],
    "regularizer_boundaries": [
        FIG + "fig06_regularizer_boundaries.png",
        FIG + "fig06_weight_histograms.png",
    ],
    "batch_size_curves": [FIG + "fig07_batch_size.png"],
    "optimizer_paths": [FIG + "fig08_optimizer_paths.png"],
}
GRID_FIGURES = [
    FIG + f"fig09_{name}.png"
    for name in ("heatmaps", "curves", "lr", "target", "gap", "rankings", "tuning")
]
FIGURES = [f for e in EXPERIMENTS for f in EXPERIMENT_FIGURES.get(e, [])]
FIGURES += GRID_FIGURES + [FIG + "fig10_cost.png"]
FINAL_TARGETS += FIGURES


def plot_settings(experiment):
    """The figure-only `plot` settings of an experiment's config section."""
    return config.get("experiments", {}).get(experiment, {}).get("plot", {})


rule figure_activations:
    input:
        experiment="results/experiments/activation_curves.npz",
        figure_description=DESC + "fig01_activations.rst",
    output:
        figure=report(
            FIG + "fig01_activations.png",
            caption=CAP + "fig01_activations.rst",
            category="1. Why activation functions",
            labels={"figure": "1: activations and their derivatives"},
        ),
        figure_caption=FIG + "fig01_activations.rst",
    log:
        "logs/figures/fig01_activations.log",
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
        experiment="results/experiments/nonlinearity_boundaries.npz",
        figure_description=DESC + "fig02_nonlinearity.rst",
    output:
        figure=report(
            FIG + "fig02_nonlinearity.png",
            caption=CAP + "fig02_nonlinearity.rst",
            category="1. Why activation functions",
            labels={
                "figure": "2",
                "shows": "decision boundaries, identity vs nonlinear",
            },
        ),
        figure_caption=FIG + "fig02_nonlinearity.rst",
    log:
        "logs/figures/fig02_nonlinearity.log",
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
        experiment="results/experiments/gradient_flow.npz",
        figure_description=DESC + "fig03_gradient_flow.rst",
    output:
        figure=report(
            FIG + "fig03_gradient_flow.png",
            caption=CAP + "fig03_gradient_flow.rst",
            category="1. Why activation functions",
            labels={"figure": "3: per-layer gradient norms by depth"},
        ),
        figure_caption=FIG + "fig03_gradient_flow.rst",
    log:
        "logs/figures/fig03_gradient_flow.log",
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
        fits_description=DESC + "fig04_regression_fits.rst",
        losses_description=DESC + "fig04_regression_losses.rst",
    output:
        fits=report(
            FIG + "fig04_regression_fits.png",
            caption=CAP + "fig04_regression_fits.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "4a: fitted curves with each cure"},
        ),
        losses=report(
            FIG + "fig04_regression_losses.png",
            caption=CAP + "fig04_regression_losses.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "4b: train and test loss over epochs"},
        ),
        fits_caption=FIG + "fig04_regression_fits.rst",
        losses_caption=FIG + "fig04_regression_losses.rst",
    log:
        "logs/figures/fig04_overfitting.log",
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
        experiment="results/experiments/data_size_sweep.npz",
        figure_description=DESC + "fig05_data_size.rst",
    output:
        figure=report(
            FIG + "fig05_data_size.png",
            caption=CAP + "fig05_data_size.rst",
            category="2. Overfitting and its cures",
            labels={
                "figure": "5",
                "shows": "train/test gap against training-set size",
            },
        ),
        figure_caption=FIG + "fig05_data_size.rst",
    log:
        "logs/figures/fig05_data_size.log",
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
        experiment="results/experiments/regularizer_boundaries.npz",
        boundaries_description=DESC + "fig06_regularizer_boundaries.rst",
        histograms_description=DESC + "fig06_weight_histograms.rst",
    output:
        boundaries=report(
            FIG + "fig06_regularizer_boundaries.png",
            caption=CAP + "fig06_regularizer_boundaries.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "6a: decision boundaries per regularizer"},
        ),
        histograms=report(
            FIG + "fig06_weight_histograms.png",
            caption=CAP + "fig06_weight_histograms.rst",
            category="2. Overfitting and its cures",
            labels={"figure": "6b: weight histograms per penalty"},
        ),
        boundaries_caption=FIG + "fig06_regularizer_boundaries.rst",
        histograms_caption=FIG + "fig06_weight_histograms.rst",
    log:
        "logs/figures/fig06_regularizers.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        plot=plot_settings("regularizer_boundaries"),
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_batch_size:
    input:
        experiment="results/experiments/batch_size_curves.npz",
        figure_description=DESC + "fig07_batch_size.rst",
    output:
        figure=report(
            FIG + "fig07_batch_size.png",
            caption=CAP + "fig07_batch_size.rst",
            category="3. Speeding training up",
            labels={
                "figure": "7",
                "shows": "loss against epochs and seconds per batch size",
            },
        ),
        figure_caption=FIG + "fig07_batch_size.rst",
    log:
        "logs/figures/fig07_batch_size.log",
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
        figure_description=DESC + "fig08_optimizer_paths.rst",
    output:
        figure=report(
            FIG + "fig08_optimizer_paths.png",
            caption=CAP + "fig08_optimizer_paths.rst",
            category="3. Speeding training up",
            labels={"figure": "8: optimizer paths on 2-D functions"},
        ),
        figure_caption=FIG + "fig08_optimizer_paths.rst",
    log:
        "logs/figures/fig08_optimizer_paths.log",
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
        runs="results/tables/runs.parquet",
        summary="results/tables/summary.parquet",
        rankings="results/tables/rankings.csv",
        histories="results/tables/histories.parquet",
        heatmaps_description=DESC + "fig09_heatmaps.rst",
        curves_description=DESC + "fig09_curves.rst",
        lr_description=DESC + "fig09_lr.rst",
        target_description=DESC + "fig09_target.rst",
        gap_description=DESC + "fig09_gap.rst",
        rankings_description=DESC + "fig09_rankings.rst",
        tuning_description=DESC + "fig09_tuning.rst",
    output:
        heatmaps=report(
            FIG + "fig09_heatmaps.png",
            caption=CAP + "fig09_heatmaps.rst",
            category="4. The grid",
            labels={"figure": "9a: test accuracy of every cell"},
        ),
        curves=report(
            FIG + "fig09_curves.png",
            caption=CAP + "fig09_curves.rst",
            category="4. The grid",
            labels={"figure": "9b: learning curves per optimizer"},
        ),
        lr=report(
            FIG + "fig09_lr.png",
            caption=CAP + "fig09_lr.rst",
            category="4. The grid",
            labels={"figure": "9c: learning-rate sensitivity"},
        ),
        target=report(
            FIG + "fig09_target.png",
            caption=CAP + "fig09_target.rst",
            category="4. The grid",
            labels={"figure": "9d: time to target accuracy"},
        ),
        gap=report(
            FIG + "fig09_gap.png",
            caption=CAP + "fig09_gap.rst",
            category="4. The grid",
            labels={"figure": "9e: train/test gap per regularizer"},
        ),
        rankings=report(
            FIG + "fig09_rankings.png",
            caption=CAP + "fig09_rankings.rst",
            category="4. The grid",
            labels={"figure": "9f: rankings across datasets"},
        ),
        tuning=report(
            FIG + "fig09_tuning.png",
            caption=CAP + "fig09_tuning.rst",
            category="4. The grid",
            labels={"figure": "9g: what tuning gained"},
        ),
        heatmaps_caption=FIG + "fig09_heatmaps.rst",
        curves_caption=FIG + "fig09_curves.rst",
        lr_caption=FIG + "fig09_lr.rst",
        target_caption=FIG + "fig09_target.rst",
        gap_caption=FIG + "fig09_gap.rst",
        rankings_caption=FIG + "fig09_rankings.rst",
        tuning_caption=FIG + "fig09_tuning.rst",
    log:
        "logs/figures/fig09_grid.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        order=ORDER,
        code=FIGURE_CODE,
    script:
        "../scripts/figure.py"


rule figure_cost:
    input:
        runs="results/tables/runs.parquet",
        benchmarks=[
            rules.train.benchmark.format(**job) for job in JOBS.to_dict("records")
        ],
        figure_description=DESC + "fig10_cost.rst",
    output:
        figure=report(
            FIG + "fig10_cost.png",
            caption=CAP + "fig10_cost.rst",
            category="5. Cost",
            labels={"figure": "10: seconds per training job"},
        ),
        figure_caption=FIG + "fig10_cost.rst",
    log:
        "logs/figures/fig10_cost.log",
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
