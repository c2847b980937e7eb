"""Figure 7: mini-batches against the full batch."""

from __future__ import annotations

from collections.abc import Sequence

from nngrid.experiments.common import Result, _long, fit


def batch_size_curves(
    batch_sizes: Sequence[int | None] = (8, 32, 128, None),
    dataset: str = "digits",
    hidden: Sequence[int] = (64,),
    activation: str = "relu",
    epochs: int = 20,
    optimizer: str = "sgd",
    lr: float = 5e-2,
    seeds: Sequence[int] = (0, 1, 2),
) -> Result:
    """Loss against epochs and against wall-clock seconds for several batch sizes.

    One epoch is one pass over the training set: with batch size ``B`` that is ``ceil(n/B)``
    updates, each costing ``O(B)``. Full batch (``None``) is one update per epoch. Same rate for
    all sizes. Records per (batch size, epoch, replica): ``batch_size`` (``n`` for full),
    ``full_batch``, ``seconds`` (training time so far, the validation pass included), losses and
    accuracies (epoch 0: the initial weights, at 0 seconds).
    """
    from nngrid.datasets import build

    data = build(dataset, int(seeds[0]))
    n = data["X_train"].shape[0]
    records = []
    for bs in batch_sizes:
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            batch_size=bs,
            epochs=epochs,
            seeds=seeds,
        )
        label = f"full ({n})" if not bs else str(bs)
        records += _long(run.history, batch_size=int(bs or n), batch=label, full_batch=not bs)
    return {"records": records}
