"""Figure 7: mini-batches against the full batch, each at its own tuned learning rate."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result, _long, fit


def batch_size_curves(
    batch_sizes: Sequence[int | None] = (8, 32, 128, None),
    dataset: str = "digits",
    dataset_params: dict | None = None,
    hidden: Sequence[int] = (64,),
    activation: str = "relu",
    steps: int = 400,
    optimizer: str = "sgd",
    lr_grid: Sequence[float] = (1e-2, 3e-2, 0.1, 0.3, 1.0),
    seeds: Sequence[int] = (0, 1, 2),
    extend: int = 2,
) -> Result:
    """Loss against optimizer steps and examples seen for several batch sizes, each at its own
    tuned rate, after the same number of optimizer steps.

    One epoch is one pass over the ``n`` training points: with batch size ``B`` that is
    ``ceil(n/B)`` steps of ``B`` examples each; the full batch (``None``) is one step of ``n``.
    Each seed is its own draw of the data (``build(dataset, seed)``: its own split) and its
    own initial weights. Every batch size trains ``ceil(steps / steps_per_epoch)`` epochs (so
    about ``steps`` steps; the records give the exact count). Tuning: every rate of ``lr_grid``
    runs on each draw (one stack of the rates per draw) and the rate with the best mean
    *validation* result over the draws wins
    (:func:`nngrid.study.protocol.select_lr`); a winner on an edge extends the grid past it by up to
    ``extend`` log-steps (:func:`nngrid.study.protocol.tune`, as the grid's cells do), and
    ``lr_on_edge`` flags a winner still on the edge.
    Records (the tuned rate's history) per (batch size, epoch, seed): ``batch_size`` (``n`` for
    full), ``batch``, ``full_batch``, ``epoch``, ``steps``, ``examples`` (seen so far),
    ``seconds`` (cost only, never a verdict), losses and accuracies (epoch 0: the initial
    weights). ``final`` per (batch size, seed): ``lr``, ``lr_on_edge``, ``steps``, the final
    train/validation/test accuracy. ``tuning`` per (batch size, lr): mean validation accuracy.
    """
    from nngrid.datasets import build
    from nngrid.study.protocol import tune

    seeds = [int(s) for s in seeds]
    # each seed is its own draw: its own split (for generated data, its own points) and its own
    # initial weights, so the seed is the unit of the claims' intervals with nothing shared
    data = {s: build(dataset, s, **(dataset_params or {})) for s in seeds}
    n = int(data[seeds[0]]["X_train"].shape[0])
    records: list[dict] = []
    final: list[dict] = []
    tuning: list[dict] = []
    for bs in batch_sizes:
        full = not bs or int(bs) >= n
        per_epoch = 1 if full else math.ceil(n / int(bs))
        epochs = max(1, math.ceil(int(steps) / per_epoch))
        runs: dict[float, list] = {}

        def rates(values, full=full, epochs=epochs, bs=bs, runs=runs):
            out: dict[float, list] = {lr: [] for lr in values}
            for s in seeds:  # one stack of every rate per draw
                run = fit(
                    data[s],
                    hidden=hidden,
                    activation=activation,
                    optimizer=optimizer,
                    lr=list(values),
                    batch_size=None if full else int(bs),
                    epochs=epochs,
                    seeds=[s] * len(values),
                )
                for k, lr in enumerate(values):
                    runs.setdefault(lr, []).append((run, k))
                    loss = run.final["val_loss"][k]
                    out[lr].append(
                        {
                            "val_accuracy": run.final["val_accuracy"][k],
                            "val_loss": loss,
                            "diverged": not math.isfinite(loss),
                        }
                    )
            return out

        results, best_k, on_edge, _, _ = tune(rates, lr_grid, extend)
        lrs = sorted(results)
        chosen = lrs[best_k]
        size = n if full else int(bs)
        label = f"full ({n})" if full else str(bs)
        for lr in lrs:
            acc = [r["val_accuracy"] for r in results[lr]]
            tuning.append({"batch_size": size, "lr": lr, "val_accuracy": float(np.nanmean(acc))})
        for seed, (run, k) in zip(seeds, runs[chosen], strict=True):
            for rec in _long(run.history, batch_size=size, batch=label, full_batch=full):
                if rec.pop("replica") != k:
                    continue
                rec |= {"seed": seed, "lr": chosen, "lr_on_edge": on_edge}
                rec |= {"steps": rec["epoch"] * per_epoch, "examples": rec["epoch"] * n}
                records.append(rec)
            final.append(
                {
                    "batch_size": size,
                    "batch": label,
                    "full_batch": full,
                    "seed": seed,
                    "lr": chosen,
                    "lr_on_edge": on_edge,
                    "steps": epochs * per_epoch,
                    "epochs": epochs,
                    **{
                        f"{split}_accuracy": float(run.final[f"{split}_accuracy"][k])
                        for split in ("train", "val", "test")
                    },
                }
            )
    return {"records": records, "final": final, "tuning": tuning}
