"""Figures 4 and 5: a noisy 1-D regression that overfits, its cures, and more data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result, _long, fit, regularizer_args


def regression_overfitting(
    cures: dict[str, dict] | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "tanh",
    epochs: int = 1500,
    optimizer: str = "adam",
    lr: float = 1e-2,
    seed: int = 0,
    eval_every: int = 20,
    dataset_params: dict | None = None,
) -> Result:
    """A noisy 1-D regression fitted without regularisation and with each cure.

    The data is ``regression1d`` (``y = sin(2 pi x) + eps``, a few training points; its test split
    is the noise-free curve on a dense grid, so the test loss measures the distance to the true
    curve). Each cure is ``{"regularizer": name, "reg_params": {...}}`` or
    ``{"n_samples": n}`` (more data). Full-batch training. Records: per (cure, epoch) for epoch 0
    (the initial weights), every ``eval_every``-th epoch and the last one trained,
    ``train_loss, val_loss, test_loss``. Arrays: ``x_train__<cure>``, ``y_train__<cure>``,
    ``x_test``, ``y_test``, ``fit__<cure>`` (the fitted curve on ``x_test``).
    """
    from nngrid.datasets import build

    cures = cures or {
        "none": {},
        "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-3}},
        "l1": {"regularizer": "l1", "reg_params": {"strength": 1e-3}},
        "dropout": {"regularizer": "dropout", "reg_params": {"rate": 0.2}},
        "early_stopping": {"regularizer": "early_stopping", "reg_params": {"patience": 100}},
        "more_data": {"n_samples": 300},
    }
    records: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    for cure, spec in cures.items():
        params = dict(dataset_params or {})
        if "n_samples" in spec:
            params["n_samples"] = spec["n_samples"]
        data = build("regression1d", seed, **params)
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            **regularizer_args(spec),
            batch_size=None,
            epochs=epochs,
            seeds=(seed,),
        )
        end = run.history[-1]["epoch"]
        kept = [h for h in run.history if h["epoch"] % eval_every == 0 or h["epoch"] == end]
        records += _long(kept, cure=cure)
        arrays[f"x_train__{cure}"] = data["X_train"][:, 0]
        arrays[f"y_train__{cure}"] = data["y_train"][:, 0]
        arrays[f"fit__{cure}"] = run.model.predict(data["X_test"])[0, :, 0]
        arrays["x_test"] = data["X_test"][:, 0]
        arrays["y_test"] = data["y_test"][:, 0]
    return {"records": records, "cures": list(cures), **arrays}


def data_size_sweep(
    sizes: Sequence[int] = (15, 30, 100, 300, 1000, 3000),
    hidden: Sequence[int] = (64, 64),
    activation: str = "tanh",
    epochs: int = 1000,
    optimizer: str = "adam",
    lr: float = 1e-2,
    seeds: Sequence[int] = (0, 1, 2),
    data_seeds: Sequence[int] = (0, 1, 2),
    noise: float = 0.3,
) -> Result:
    """Train/test loss of the same unregularised network against the training-set size.

    ``regression1d`` with ``n_samples = n`` (the validation split is carved out of it) and test
    targets with the *same* noise as training (``test_noise = noise``), so both losses share the
    noise floor ``noise^2 / 2`` and ``gap = test_loss - train_loss`` measures overfitting alone.
    Full batch for ``epochs`` epochs; one data draw per (size, data seed), one replica per seed
    (initial weights). Records per (n, data seed, seed): ``n_train, train_loss, test_loss,
    gap``. The claim reads the trend over every size and draw (a rank correlation), not the
    endpoints.
    """
    from nngrid.datasets import build

    records = []
    for n in sizes:
        for data_seed in data_seeds:
            data = build(
                "regression1d", int(data_seed), n_samples=int(n), noise=noise, test_noise=noise
            )
            run = fit(
                data,
                hidden=hidden,
                activation=activation,
                optimizer=optimizer,
                lr=lr,
                batch_size=None,
                epochs=epochs,
                seeds=seeds,
            )
            for r, seed in enumerate(seeds):
                train = float(run.final["train_loss"][r])
                test = float(run.final["test_loss"][r])
                records.append(
                    {
                        "n_samples": int(n),
                        "n_train": int(data["X_train"].shape[0]),
                        "data_seed": int(data_seed),
                        "seed": int(seed),
                        "train_loss": train,
                        "test_loss": test,
                        "gap": test - train,
                    }
                )
    return {"records": records}
