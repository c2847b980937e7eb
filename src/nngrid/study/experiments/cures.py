"""Figure 11: on data that overfits, does each regularizer (strength tuned) beat none?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nngrid.study.experiments.common import Result

#: The default cures: label -> {regularizer, params (fixed), sweep: {param: values}}.
DEFAULT_CURES: dict[str, dict] = {
    "none": {},
    "l1": {"regularizer": "l1", "sweep": {"strength": [1e-5, 1e-4, 1e-3]}},
    "l2": {"regularizer": "l2", "sweep": {"strength": [1e-4, 1e-3, 1e-2]}},
    "lp3": {"regularizer": "lp", "params": {"p": 3}, "sweep": {"strength": [1e-4, 1e-3, 1e-2]}},
    "lp4": {"regularizer": "lp", "params": {"p": 4}, "sweep": {"strength": [1e-4, 1e-3, 1e-2]}},
    "elastic_net": {"regularizer": "elastic_net", "sweep": {"strength": [1e-5, 1e-4, 1e-3]}},
    "dropout": {"regularizer": "dropout", "sweep": {"rate": [0.1, 0.3, 0.5]}},
    "early_stopping": {"regularizer": "early_stopping", "sweep": {"patience": [3, 10, 30]}},
    "max_norm": {"regularizer": "max_norm", "sweep": {"max_norm": [1.0, 2.0, 4.0]}},
}
#: Swept parameters whose grid may be extended geometrically past an edge (others are bounded
#: or integer: a winner on their edge is only flagged).
EXTENSIBLE = {"strength", "max_norm"}


def _subsample(data: dict, n_train: int | None, rng: np.random.Generator) -> dict:
    if n_train is None or n_train >= len(data["y_train"]):
        return data
    keep = np.sort(rng.permutation(len(data["y_train"]))[: int(n_train)])
    return {**data, "X_train": data["X_train"][keep], "y_train": data["y_train"][keep]}


def _ties_neighbour(results: Mapping[float, list[dict]], j: int) -> bool:
    """Whether the winner ``sorted(results)[j]`` (on an edge) scores exactly as its inner
    neighbour on validation: then no value beyond the edge is indicated."""
    grid = sorted(results)
    if len(grid) < 2:
        return False
    other = grid[1] if j == 0 else grid[-2]

    def score(v):
        recs = results[v]
        acc = [r.get("val_accuracy") for r in recs]
        loss = [r.get("val_loss") for r in recs]
        return (
            None if None in acc else float(np.mean(acc)),
            None if None in loss else float(np.mean(loss)),
        )

    return score(grid[j]) == score(other)


def overfitting_cures(
    datasets: Mapping[str, Mapping[str, Any]] | None = None,
    cures: Mapping[str, Mapping[str, Any]] | None = None,
    hidden: Sequence[int] = (128, 128),
    activation: str = "relu",
    optimizer: str = "adam",
    lr_grid: Sequence[float] = (3e-4, 1e-3, 3e-3),
    epochs: int = 60,
    batch_size: int | None = 64,
    seeds: Sequence[int] = (0, 1, 2),
    seed: int = 0,
    extend: int = 1,
    data_seeds: Sequence[int] | None = None,
) -> Result:
    """Each regularizer against none on data where an unregularised net overfits.

    ``datasets`` maps a label to ``{kind, params, n_train, epochs, batch_size}`` (default
    MNIST-1D with 1,000 training points, and 100 noisy moons); ``n_train`` keeps that many
    training points (drawn with ``seed``), so the net can memorise them; ``epochs`` and
    ``batch_size`` override the shared ones for that dataset (a tiny set needs smaller batches
    and more epochs to be fitted to the noise). ``data_seeds`` lists independent draws of every
    dataset (its sample, split and training subset; default: the one draw ``seed``): the whole
    protocol runs on each, and the claims take the draw as their unit. ``cures`` maps a label
    to ``{regularizer, params, sweep: {param: values}}`` (:data:`DEFAULT_CURES`).

    The protocol (the grid's, :func:`nngrid.study.protocol.tune`): every candidate runs on every
    seed
    and is scored on the mean *validation* result of the seeds. First the learning rate is tuned
    for ``none`` over ``lr_grid``; then, at that rate, each cure's swept parameter is tuned over
    its values. A winner on a grid edge extends the grid by up to ``extend`` points for
    ``strength`` and ``max_norm`` (geometric steps), and is flagged ``strength_on_edge`` if it
    stays there (and always for bounded or integer parameters); a winner that ties its inner
    neighbour exactly (mean validation accuracy and loss) is not on an edge. The winning
    candidate's runs are the reported ``tuned`` rows (the test split is never looked at while
    choosing).

    Records per (dataset, data draw, cure, seed, arm): ``data_seed``, ``arm`` (``tuned``, or
    ``tune`` for the other candidates), ``regularizer`` (the label), ``kind``, ``strength_name``,
    ``strength``, ``strength_on_edge``, ``lr``, ``lr_on_edge``, train/validation/test accuracy
    and loss.
    """
    from nngrid.core.train import TrainConfig, train_replicas
    from nngrid.datasets import build
    from nngrid.study.protocol import tune

    datasets = datasets or {
        "mnist1d": {"kind": "mnist1d", "n_train": 1000},
        "moons": {
            "kind": "moons",
            "params": {"n_samples": 400, "noise": 0.35},
            "n_train": 100,
            "epochs": 200,
            "batch_size": 16,
        },
    }
    cures = cures or DEFAULT_CURES
    seeds = [int(s) for s in seeds]
    S = len(seeds)
    records: list[dict] = []
    draws = [int(seed)] if data_seeds is None else [int(d) for d in data_seeds]
    for (label, spec), draw in ((item, d) for item in datasets.items() for d in draws):
        data = build(spec.get("kind", label), draw, **dict(spec.get("params") or {}))
        data = _subsample(data, spec.get("n_train"), np.random.default_rng(draw))

        budget = {
            "epochs": int(spec.get("epochs", epochs)),
            "batch_size": spec.get("batch_size", batch_size),
        }

        def train(kind: str, params: dict, lrs: list[float], data=data, budget=budget):
            return train_replicas(
                data,
                TrainConfig(
                    hidden=list(hidden),
                    activation=activation,
                    regularizer=kind,
                    reg_params=params,
                    optimizer=optimizer,
                    opt_params={"lr": lrs},
                    seeds=seeds * (len(lrs) // S),
                    **budget,
                ),
            ).records

        def rates(values: list[float]) -> dict[float, list[dict]]:
            recs = train("none", {}, [v for v in values for _ in seeds])
            return {v: recs[i * S : (i + 1) * S] for i, v in enumerate(values)}

        by_lr, k, lr_edge, _, _ = tune(rates, lr_grid, extend)
        lr = sorted(by_lr)[k]
        for cure, cspec in cures.items():
            kind = cspec.get("regularizer", "none")
            fixed = dict(cspec.get("params") or {})
            ((name, values),) = (cspec.get("sweep") or {None: [None]}).items()
            if name is None:
                results, j, edge = {None: by_lr[lr]}, 0, False
            else:

                def strengths(vals, kind=kind, fixed=fixed, name=name, lr=lr, train=train):
                    if kind == "early_stopping":  # one patience per stack (a loop setting)
                        return {v: train(kind, {**fixed, name: int(v)}, [lr] * S) for v in vals}
                    recs = train(kind, {**fixed, name: [v for v in vals for _ in seeds]},
                                 [lr] * (S * len(vals)))  # fmt: skip
                    return {v: recs[i * S : (i + 1) * S] for i, v in enumerate(vals)}

                valid = (lambda v: v > 0) if name in EXTENSIBLE else (lambda v: False)
                results, j, edge, _, _ = tune(strengths, values, extend, valid)
                edge = edge and not _ties_neighbour(results, j)
            order = sorted(results, key=lambda v: -1 if v is None else v)
            for v in order:
                for i, rec in enumerate(results[v]):
                    records.append(
                        {
                            "dataset": label,
                            "data_seed": draw,
                            "regularizer": cure,
                            "kind": kind,
                            "arm": "tuned" if v == order[j] else "tune",
                            "seed": seeds[i],
                            "strength_name": name,
                            "strength": float("nan") if v is None else float(v),
                            "strength_on_edge": bool(edge),
                            "lr": float(lr),
                            "lr_on_edge": bool(lr_edge),
                            **{
                                f"{split}_{m}": rec[f"{split}_{m}"]
                                for split in ("train", "val", "test")
                                for m in ("accuracy", "loss")
                            },
                            "diverged": bool(rec["diverged"]),
                        }
                    )
    return {"records": records, "cures": list(cures), "datasets": list(datasets)}
