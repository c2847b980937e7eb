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
    Every batch size trains ``ceil(steps / steps_per_epoch)`` epochs (so about ``steps`` steps;
    the records give the exact count). Tuning: every rate of ``lr_grid`` runs on every seed in
    one stack and the rate with the best mean *validation* result over the seeds wins
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

    data = build(dataset, int(seeds[0]), **(dataset_params or {}))
    n = int(data["X_train"].shape[0])
    seeds = [int(s) for s in seeds]
    S = len(seeds)
    records: list[dict] = []
    final: list[dict] = []
    tuning: list[dict] = []
    for bs in batch_sizes:
        full = not bs or int(bs) >= n
        per_epoch = 1 if full else math.ceil(n / int(bs))
        epochs = max(1, math.ceil(int(steps) / per_epoch))
        runs: dict[float, tuple] = {}

        def rates(values, full=full, epochs=epochs, bs=bs, runs=runs):
            run = fit(
                data,
                hidden=hidden,
                activation=activation,
                optimizer=optimizer,
                lr=[lr for lr in values for _ in seeds],
                batch_size=None if full else int(bs),
                epochs=epochs,
                seeds=seeds * len(values),
            )
            out = {}
            for k, lr in enumerate(values):
                runs[lr] = (run, k)
                out[lr] = [
                    {
                        "val_accuracy": run.final["val_accuracy"][k * S + i],
                        "val_loss": run.final["val_loss"][k * S + i],
                        "diverged": not math.isfinite(run.final["val_loss"][k * S + i]),
                    }
                    for i in range(S)
                ]
            return out

        results, best_k, on_edge, _, _ = tune(rates, lr_grid, extend)
        lrs = sorted(results)
        run, best = runs[lrs[best_k]]
        size = n if full else int(bs)
        label = f"full ({n})" if full else str(bs)
        for lr in lrs:
            acc = [r["val_accuracy"] for r in results[lr]]
            tuning.append({"batch_size": size, "lr": lr, "val_accuracy": float(np.nanmean(acc))})
        for rec in _long(run.history, batch_size=size, batch=label, full_batch=full):
            k, i = divmod(rec.pop("replica"), S)
            if k != best:
                continue
            rec |= {"seed": seeds[i], "lr": lrs[best_k], "lr_on_edge": on_edge}
            rec |= {"steps": rec["epoch"] * per_epoch, "examples": rec["epoch"] * n}
            records.append(rec)
        for i, seed in enumerate(seeds):
            r = best * S + i
            final.append(
                {
                    "batch_size": size,
                    "batch": label,
                    "full_batch": full,
                    "seed": seed,
                    "lr": lrs[best_k],
                    "lr_on_edge": on_edge,
                    "steps": epochs * per_epoch,
                    "epochs": epochs,
                    **{
                        f"{split}_accuracy": float(run.final[f"{split}_accuracy"][r])
                        for split in ("train", "val", "test")
                    },
                }
            )
    return {"records": records, "final": final, "tuning": tuning}
