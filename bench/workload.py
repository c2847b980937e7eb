"""The core workload that bench_core.py, check_vs_torch.py, profile_core.py and lean_loop.py run.

make_classification data, 10,000 x 40, 10 classes, 20 informative features, 80/20 stratified
split, standardised with the training statistics, float32; net 40-128-128-10 relu, Adam lr 1e-3,
batch 128. Here: the data, nngrid's ``train_replicas`` arguments for it, and the torch network of
the same shape. Import it after the script has pinned the BLAS threads (the thread variables
must be set before NumPy is first imported).
"""

from __future__ import annotations

from typing import Any

import numpy as np

N_SAMPLES, N_FEATURES, N_INFORMATIVE, N_CLASSES = 10_000, 40, 20, 10
HIDDEN = (128, 128)
LR = 1e-3
BATCH = 128
DATA_SEED = 0
#: nngrid's initializer here: sklearn's MLPClassifier initialises with Glorot uniform too. nngrid's
#: default for relu (He uniform) ends 20 epochs ~2.5 points lower in test accuracy on this workload
#: (the speed does not depend on it); torch's default (U(+-1/sqrt(fan_in))) lands with Glorot.
NNGRID_INIT = "glorot_uniform"


def make_data(seed: int = DATA_SEED) -> dict[str, np.ndarray]:
    """The workload: make_classification, stratified 80/20 split, standardised, float32."""
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(
        n_samples=N_SAMPLES,
        n_features=N_FEATURES,
        n_informative=N_INFORMATIVE,
        n_redundant=10,
        n_classes=N_CLASSES,
        random_state=seed,
    )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
    X_tr = ((X_tr - mu) / sd).astype(np.float32)
    X_te = ((X_te - mu) / sd).astype(np.float32)
    return {
        "X_train": np.ascontiguousarray(X_tr),
        "y_train": y_tr.astype(np.int64),
        "X_test": np.ascontiguousarray(X_te),
        "y_test": y_te.astype(np.int64),
    }


def with_val(data: dict[str, np.ndarray], n_val: int | None = None) -> dict[str, np.ndarray]:
    """``data`` plus a validation split: the test split (only its first ``n_val`` rows if given).

    nngrid's trainer evaluates a validation split after every epoch; the workload has none."""
    return dict(data, X_val=data["X_test"][:n_val], y_val=data["y_test"][:n_val])


def nngrid_args() -> dict[str, Any]:
    """``TrainConfig`` keyword arguments for the workload (all but the epochs and seeds)."""
    return {
        "hidden": HIDDEN,
        "activation": "relu",
        "init": NNGRID_INIT,
        "optimizer": "adam",
        "opt_params": {"lr": LR},
        "batch_size": BATCH,
        "dtype": "float32",
    }


def torch_mlp(torch: Any) -> Any:
    """``nn.Sequential`` of the workload's net (Linear, ReLU, Linear, ReLU, Linear), initialised
    by torch's default from its global generator."""
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(N_FEATURES, HIDDEN[0]),
        nn.ReLU(),
        nn.Linear(HIDDEN[0], HIDDEN[1]),
        nn.ReLU(),
        nn.Linear(HIDDEN[1], N_CLASSES),
    )
