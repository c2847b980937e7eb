"""Figures 2 and 6: decision boundaries with and without a nonlinearity or a regularizer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result, _mesh, _proba, fit, regularizer_args


def _mean_over_seeds(records: list[dict], keys: list[str]) -> list[dict]:
    """One record per ``keys`` with every numeric field averaged over the seeds (``n_seeds``)."""
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        groups.setdefault(tuple(rec[k] for k in keys), []).append(rec)
    out = []
    for key, recs in groups.items():
        row = dict(zip(keys, key, strict=True))
        for field in recs[0]:
            if field not in keys and field != "seed":
                row[field] = float(np.mean([r[field] for r in recs]))
        row["n_seeds"] = len(recs)
        out.append(row)
    return out


def nonlinearity_boundaries(
    datasets: Sequence[str] = ("moons", "circles", "spirals", "xor"),
    activations: Sequence[str] = ("identity", "step", "relu", "tanh", "sigmoid"),
    hidden: Sequence[int] = (32, 32),
    epochs: int = 100,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 1e-2,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    mesh: int = 80,
    dataset_params: dict[str, dict] | None = None,
) -> Result:
    """The same network with each activation on 2-D data no straight line separates.

    With ``identity`` every layer is affine, so the whole network is one affine map
    ``x -> W x + b`` and its boundary ``{x : p(class 1 | x) = 1/2}`` is a straight line, however
    many layers; a nonlinear ``f`` lets the boundary bend. ``step`` (derivative 0) passes no
    gradient back, so only its output layer learns. ``seed`` draws the data; ``seeds`` (default
    ``[seed]``) are the replicas' initial weights. Records per (dataset, activation, seed):
    ``train_accuracy, test_accuracy`` averaged over the seeds (``per_seed``: one per seed).
    Arrays (the first seed's network): ``X__<ds>``,
    ``y__<ds>`` (training points), ``gx__<ds>``, ``gy__<ds>`` (mesh axes) and
    ``proba__<ds>__<act>`` (``P(class 1)`` on the mesh).
    """
    from nngrid.datasets import build

    replicas = [int(s) for s in (seeds if seeds is not None else [seed])]
    records: list[dict] = []
    arrays: dict[str, np.ndarray] = {}
    for ds in datasets:
        data = build(ds, seed, **(dataset_params or {}).get(ds, {}))
        gx, gy = _mesh(data["X_train"], mesh)
        arrays |= {f"X__{ds}": data["X_train"], f"y__{ds}": data["y_train"]}
        arrays |= {f"gx__{ds}": gx, f"gy__{ds}": gy}
        for act in activations:
            run = fit(
                data,
                hidden=hidden,
                activation=act,
                optimizer=optimizer,
                lr=lr,
                batch_size=batch_size,
                epochs=epochs,
                seeds=replicas,
            )
            for r, s in enumerate(replicas):
                records.append(
                    {
                        "dataset": ds,
                        "activation": act,
                        "seed": int(s),
                        **run.floats(r, "train_accuracy", "test_accuracy"),
                    }
                )
            arrays[f"proba__{ds}__{act}"] = _proba(run.model, gx, gy)
    return {"records": _mean_over_seeds(records, ["dataset", "activation"]), "per_seed": records,
            **arrays}  # fmt: skip


def regularizer_boundaries(
    regularizers: dict[str, dict] | None = None,
    dataset: str = "moons",
    dataset_params: dict | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    epochs: int = 300,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 5e-3,
    seed: int = 0,
    seeds: Sequence[int] | None = None,
    mesh: int = 80,
    near_zero: float = 1e-3,
) -> Result:
    """Decision boundaries and weight distributions under each regularizer.

    ``regularizers`` maps a label to ``{"regularizer": name, "reg_params": {...}}``; the default
    is none, l1, l2, lp (p = 3 and 4) and dropout on noisy moons with few points, where the
    unregularised boundary bends around noise. Penalties ``s sum |W|^p`` pull weights to zero
    with force ``s p |W|^(p-1)``: constant for p = 1 (small weights reach 0: sparse), linear for
    p = 2, and vanishing near 0 for p = 3, 4 (only the large weights are squeezed). ``seed``
    draws the data, ``seeds`` (default ``[seed]``) the replicas. Records per label (means over
    the seeds; ``per_seed``: one per (label, seed)):
    accuracies, the share of weights with ``|W| < near_zero``, ``mean |W|`` and ``max |W|``.
    Arrays (the first seed's network): ``X``, ``y``, ``gx``, ``gy``, ``proba__<label>``,
    ``weights__<label>`` (all weights, flattened).
    """
    from nngrid.datasets import build

    regularizers = regularizers or {
        "none": {},
        "l1": {"regularizer": "l1", "reg_params": {"strength": 1e-3}},
        "l2": {"regularizer": "l2", "reg_params": {"strength": 1e-3}},
        "lp3": {"regularizer": "lp", "reg_params": {"strength": 1e-3, "p": 3}},
        "lp4": {"regularizer": "lp", "reg_params": {"strength": 1e-3, "p": 4}},
        "dropout": {"regularizer": "dropout", "reg_params": {"rate": 0.3}},
    }
    data = build(dataset, seed, **(dataset_params or {"n_samples": 200, "noise": 0.35}))
    gx, gy = _mesh(data["X_train"], mesh)
    arrays = {"X": data["X_train"], "y": data["y_train"], "gx": gx, "gy": gy}
    replicas = [int(s) for s in (seeds if seeds is not None else [seed])]
    records = []
    for label, spec in regularizers.items():
        run = fit(
            data,
            hidden=hidden,
            activation=activation,
            optimizer=optimizer,
            lr=lr,
            **regularizer_args(spec),
            batch_size=batch_size,
            epochs=epochs,
            seeds=replicas,
        )
        for r, s in enumerate(replicas):
            w = np.concatenate([W[r].ravel() for W in run.model.weights()]).astype(np.float64)
            records.append(
                {
                    "label": label,
                    "regularizer": spec.get("regularizer", "none"),
                    "seed": s,
                    **run.floats(r, "train_accuracy", "test_accuracy"),
                    "near_zero": float(np.mean(np.abs(w) < near_zero)),
                    "near_zero_threshold": float(near_zero),
                    "mean_abs_weight": float(np.abs(w).mean()),
                    "max_abs_weight": float(np.abs(w).max()),
                }
            )
            if r == 0:
                arrays[f"weights__{label}"] = w
        arrays[f"proba__{label}"] = _proba(run.model, gx, gy)
    return {
        "records": _mean_over_seeds(records, ["label", "regularizer"]),
        "per_seed": records,
        "labels": list(regularizers),
        **arrays,
    }
