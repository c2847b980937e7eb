"""nngrid's tuned relu MLP beside scikit-learn's MLPClassifier / MLPRegressor on the same splits.

Reads a finished run of config/examples/sklearn_tables.yaml (iris, wine, breast_cancer,
diabetes): the tuned relu x none x adam cell of results/tables/runs.parquet (5 seeds), and the
very splits it trained on (results/data/<dataset>.npz). scikit-learn's MLP gets the same network
(hidden 32, 32, relu), the same optimizer (adam, batch 32, 100 epochs, no L2: alpha 0, no early
stopping) and the same protocol: its learning_rate_init chosen from the same grid (the
config's adam lr_grid) on the mean validation result of the 3 tuning seeds, then 5 seeds on test.
Prints one line per dataset, both side by side (test accuracy; diabetes: test loss, i.e. half
the mean squared error of the standardised target, as nngrid's mse reports it, and R^2).

    snakemake --cores 2 --configfile config/examples/sklearn_tables.yaml
    python bench/bench_sklearn_tables.py --config config/examples/sklearn_tables.yaml
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from nngrid.datasets import load_dataset
from nngrid.study.protocol import lr_grid


def _sklearn(splits: dict, regression: bool, lr: float, seed: int, epochs: int, hidden):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    kind = MLPRegressor if regression else MLPClassifier
    model = kind(
        hidden_layer_sizes=tuple(hidden),
        activation="relu",
        solver="adam",
        alpha=0.0,
        batch_size=32,
        learning_rate_init=lr,
        max_iter=epochs,
        shuffle=True,
        random_state=seed,
        tol=0.0,
        n_iter_no_change=epochs + 1,  # run every epoch, as nngrid does
    )
    y = splits["y_train"].ravel() if regression else splits["y_train"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(splits["X_train"], y)
    return model


def _score(model, X, y, regression: bool) -> tuple[float, float]:
    """(accuracy or test loss, R^2 or NaN); loss = mean of (y - f)^2 / 2, nngrid's mse."""
    if not regression:
        return float(np.mean(model.predict(X) == y)), float("nan")
    err = model.predict(X) - y.ravel()
    loss = 0.5 * float(np.mean(err**2))
    return loss, 1.0 - float(np.mean(err**2)) / float(np.var(y))


def sklearn_protocol(splits, regression, grid, seeds, tune_seeds, epochs, hidden):
    """Tune learning_rate_init on validation (mean of the tuning seeds), then test 5 seeds."""
    best, best_score = None, None
    for lr in grid:
        vals = [
            _score(
                _sklearn(splits, regression, lr, s, epochs, hidden),
                splits["X_val"],
                splits["y_val"],
                regression,
            )[0]
            for s in seeds[:tune_seeds]
        ]
        score = -np.mean(vals) if regression else np.mean(vals)
        if best_score is None or score > best_score:
            best, best_score = lr, score
    tests = [
        _score(
            _sklearn(splits, regression, best, s, epochs, hidden),
            splits["X_test"],
            splits["y_test"],
            regression,
        )
        for s in seeds
    ]
    return best, np.array([t[0] for t in tests]), np.array([t[1] for t in tests])


def _ms(x: np.ndarray, digits: int = 3) -> str:
    sd = np.std(x, ddof=1) if len(x) > 1 else float("nan")
    return f"{np.mean(x):.{digits}f} +- {sd:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results", help="folder of the finished run")
    parser.add_argument("--config", default="config/examples/sklearn_tables.yaml")
    parser.add_argument("--optimizer", default="adam")
    args = parser.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    results = Path(args.results)
    runs = pd.read_parquet(results / "tables" / "runs.parquet")
    training, tuning = cfg["training"], cfg.get("tuning", {})
    grid = lr_grid(**cfg["optimizers"][args.optimizer]["lr_grid"])
    seeds = training["seeds"]
    print(
        f"relu MLP {training['hidden']}, {args.optimizer}, batch 32, {training['epochs']} epochs, "
        f"no regularizer; lr tuned on validation over {grid}; {len(seeds)} seeds on test "
        "(mean +- sd)"
    )
    print(f"{'dataset':<14} {'metric':<10} {'nngrid (lr)':<28} {'scikit-learn (lr)':<28}")
    for dataset in runs["dataset"].drop_duplicates():
        splits = load_dataset(results / "data" / f"{dataset}.npz")
        regression = splits["y_train"].ndim == 2
        cell = runs[
            (runs["dataset"] == dataset)
            & (runs["activation"] == "relu")
            & (runs["regularizer"] == "none")
            & (runs["optimizer"] == args.optimizer)
            & (runs["arm"] == "tuned")
        ]
        lr_ours = float(cell["lr"].iloc[0])
        lr_theirs, test, r2 = sklearn_protocol(
            splits,
            regression,
            grid,
            seeds,
            tuning.get("seeds", 3),
            training["epochs"],
            training["hidden"],
        )
        if regression:
            ours = cell["test_loss"].to_numpy()
            ours_r2 = 1.0 - 2.0 * ours / float(np.var(splits["y_test"]))
            print(_row(dataset, "test loss", ours, lr_ours, test, lr_theirs))
            print(_row("", "R^2", ours_r2, None, r2, None))
        else:
            ours = cell["test_accuracy"].to_numpy()
            print(_row(dataset, "accuracy", ours, lr_ours, test, lr_theirs))


def _row(dataset: str, metric: str, ours, lr_ours, theirs, lr_theirs) -> str:
    a = _ms(ours) + (f" ({lr_ours:.3g})" if lr_ours is not None else "")
    b = _ms(theirs) + (f" ({lr_theirs:.3g})" if lr_theirs is not None else "")
    return f"{dataset:<14} {metric:<10} {a:<28} {b:<28}"


if __name__ == "__main__":
    main()
