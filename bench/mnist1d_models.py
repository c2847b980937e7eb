"""The MNIST-1D workloads of bench_layers.py and accuracy_mnist1d.py: data and the two models.

Data: ``mnist1d.data.make_dataset(get_dataset_args())`` with the package's default arguments
(4,000 training and 1,000 test sequences of length 40, its own seed; nothing is downloaded), raw
as the mnist1d notebooks use it (no standardisation), float32. mnist1d's training settings: Adam,
lr 1e-2, batch 100, the test split as validation, all 4,000 training rows trained.

The models are mnist1d's published ones (``mnist1d/models.py``): the CNN (three conv1d of 25
channels, kernel 5 then 3 and 3, stride 2, padding 1, relu, flatten, linear to 10) and the GRU
(hidden 6, bidirectional, all time steps, flatten, linear to 10). Import this module after the
script has pinned the BLAS threads.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

CNN = [
    {"conv1d": {"channels": 25, "kernel": 5, "stride": 2, "padding": 1}},
    {"conv1d": {"channels": 25, "kernel": 3, "stride": 2, "padding": 1}},
    {"conv1d": {"channels": 25, "kernel": 3, "stride": 2, "padding": 1}},
    "flatten",
]
GRU = [{"gru": {"hidden": 6, "bidirectional": True, "sequences": True}}, "flatten"]
MODELS = {"cnn": CNN, "gru": GRU}
LR, BATCH, EPOCHS = 1e-2, 100, 150


def make_data() -> dict[str, np.ndarray]:
    """MNIST-1D with mnist1d's defaults: X (n, 40) float32, test split doubling as validation."""
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)  # noqa: NPY002 (mnist1d seeds the global RNG)
        random.setstate(py_state)
    X_tr, X_te = (np.asarray(d[k], np.float32) for k in ("x", "x_test"))
    y_tr, y_te = (np.asarray(d[k], np.intp) for k in ("y", "y_test"))
    return {
        "X_train": X_tr,
        "y_train": y_tr,
        "X_val": X_te,
        "y_val": y_te,
        "X_test": X_te,
        "y_test": y_te,
    }


def nngrid_kwargs(model: str, epochs: int, seeds=(0,)) -> dict[str, Any]:
    """``TrainConfig`` keyword arguments for ``model`` ('cnn' or 'gru')."""
    return {
        "layers": MODELS[model],
        "activation": "relu",
        "optimizer": "adam",
        "opt_params": {"lr": LR},
        "batch_size": BATCH,
        "epochs": epochs,
        "seeds": list(seeds),
        "dtype": "float32",
    }


def torch_model(model: str):
    """The same net in torch (mnist1d's modules, written out)."""
    import torch
    from torch import nn

    if model == "cnn":

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(
                    [
                        nn.Conv1d(1, 25, 5, stride=2, padding=1),
                        nn.Conv1d(25, 25, 3, stride=2, padding=1),
                        nn.Conv1d(25, 25, 3, stride=2, padding=1),
                        nn.Flatten(),
                        nn.Linear(25 * 5, 10),
                    ]
                )

            def forward(self, x):  # x: (B, 40)
                h = x.unsqueeze(1)
                for conv in self.layers[:3]:
                    h = torch.relu(conv(h))
                return self.layers[4](h.flatten(1))

    else:

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = nn.ModuleList(
                    [
                        nn.GRU(1, 6, batch_first=True, bidirectional=True),
                        nn.Flatten(),
                        nn.Linear(40 * 12, 10),
                    ]
                )

            def forward(self, x):  # x: (B, 40)
                out, _ = self.layers[0](x.unsqueeze(-1))
                return self.layers[2](out.flatten(1))

    return Net()
