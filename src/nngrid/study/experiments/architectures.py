"""The architectures arm: MLP, CNN and recurrent nets on MNIST-1D, crossed with activations.

One *job* is one study x dataset x architecture (a named layer list of the config's
``architectures`` section). Inside it every activation the architecture uses is a *cell*, and each
cell runs the grid's protocol (:func:`nngrid.study.protocol.tune`): the learning rate is chosen on
the
mean validation result of the tuning seeds, the grid extended past an edge (bounded) and a winner
still on it flagged; then the chosen rate is rerun over every seed. There is no untuned arm (the
claims of this arm compare architectures and activations, each at its tuned rate). An architecture
whose layers use no activation (``gru``, ``lstm``: their gates are fixed) is one cell, labelled
``gates``.

Result (saved with :func:`nngrid.study.experiments.save`):

``records``
    One row per seed of the rerun: the job's axes (``study, dataset, architecture, optimizer``),
    ``regularizer`` (its label), ``family``
    (``mlp``, ``cnn``, ``rnn``, ``gated``: see :func:`family`), ``activation``, ``shuffled``
    (the dataset's positions permuted), ``clip_norm``, ``seed``, ``lr`` (chosen), ``lr_on_edge``,
    ``lr_extended``, ``all_diverged``, the final ``train/val/test_accuracy``, ``diverged``,
    ``diverged_epoch``, ``epochs``, ``steps_per_epoch``, ``target`` (the training accuracy that
    counts as "there") and ``steps_to_target`` (optimizer steps until the training accuracy
    reached it, read off the learning curve: the first epoch-end evaluation at or above the
    target and the one before it, interpolated linearly between them; ``None`` when never).
``curves``
    The rerun's learning curves: per seed and epoch (0 is the initial weights) ``step``
    (optimizer steps so far), ``train_loss``, ``train_accuracy``, ``val_accuracy``.
``grad_time``
    For architectures with a recurrent layer (the first one): ``||dL/dh_t||`` for every step
    ``t`` of the sequence and direction, on a fixed probe batch (the first ``probe`` training
    points), per seed, at initialisation (``stage = "init"``) and after training
    (``stage = "trained"``), read through the layer's opt-in ``keep_dh_norms``. The loss is the
    mean cross-entropy of the probe batch; the gradient enters at the last step (``sequences:
    false``) or at every step (``sequences: true``).

Command line (one job; and the merge of every job into one result for the claims)::

    python -m nngrid.study.experiments.architectures --data D.npz --spec SPEC --output OUT.npz
    python -m nngrid.study.experiments.architectures --merge A.npz B.npz ... --output ALL.npz
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nngrid.errors import NngridError, report_error
from nngrid.study.experiments.common import Result

__all__ = [
    "ACTIVATION_LAYERS",
    "RECURRENT_LAYERS",
    "SEQUENCE_DATASETS",
    "SEQUENCE_LAYERS",
    "check_fit",
    "family",
    "kinds",
    "main",
    "merge",
    "run_architecture",
    "uses_activation",
]

#: Layer kinds that need a sequence input ``(length, channels)``.
SEQUENCE_LAYERS = frozenset(
    {"conv1d", "max_pool1d", "avg_pool1d", "global_avg_pool1d", "rnn", "gru", "lstm"}
)
#: Layer kinds the network's activation acts in (dense and conv1d after them, rnn as its f).
ACTIVATION_LAYERS = frozenset({"dense", "conv1d", "rnn"})
RECURRENT_LAYERS = frozenset({"rnn", "gru", "lstm"})
#: Dataset kinds whose examples are sequences: kind -> (length, channels). Every other kind
#: holds flat points (features), on which a sequence layer has nothing to slide along.
SEQUENCE_DATASETS = {"mnist1d": (40, 1)}
#: The label of the one cell of an architecture that uses no activation.
GATES = "gates"


def kinds(layers: Sequence[Any]) -> list[str]:
    """The kind of every item of a layer spec (bare names or ``{kind: {...}}``)."""
    from nngrid.core.layers import parse_layers

    return [layer.name for layer in parse_layers(layers)]


def uses_activation(layers: Sequence[Any]) -> bool:
    """Whether the network's activation acts anywhere in ``layers`` (the output layer is linear)."""
    return any(k in ACTIVATION_LAYERS for k in kinds(layers))


def family(layers: Sequence[Any]) -> str:
    """``rnn`` (an Elman layer), ``gated`` (gru/lstm), ``cnn`` (conv1d) or ``mlp`` (the rest)."""
    k = set(kinds(layers))
    if "rnn" in k:
        return "rnn"
    if k & {"gru", "lstm"}:
        return "gated"
    if "conv1d" in k:
        return "cnn"
    return "mlp"


def check_fit(
    architecture: str,
    layers: Sequence[Any],
    dataset: str,
    kind: str,
    n_classes: int = 10,
    shape: Sequence[int] | None = None,
) -> None:
    """Refuse (one line naming both) an architecture that does not fit a dataset of ``kind``.

    Sequence layers need a sequence dataset (:data:`SEQUENCE_DATASETS`, or a ``file`` dataset
    that declares ``shape = (length, channels)``); on a sequence the whole
    network is built once (small, float32) so a kernel longer than the sequence, or a ``dense``
    before a ``flatten``, fails here with the layer's own message.
    """
    from nngrid.core.network import Network

    shape = SEQUENCE_DATASETS.get(kind) or (tuple(int(v) for v in shape) if shape else None)
    where = f"architecture {architecture!r} does not fit dataset {dataset!r}"
    try:
        found = kinds(layers)
    except NngridError as exc:
        raise NngridError(f"architecture {architecture!r}: {exc}") from None
    if shape is None:
        seq = [k for k in found if k in SEQUENCE_LAYERS]
        if seq:
            raise NngridError(
                f"{where}: its {seq[0]} layer needs sequences, but {dataset!r} ({kind}) holds "
                f"flat points; use only dense layers there, or a sequence dataset "
                f"({', '.join(SEQUENCE_DATASETS)}, or a file with `shape: [length, channels]`)"
            )
        return
    if found[0] == "dense" and shape[1] == 1:  # a one-channel sequence read as flat features
        shape = (shape[0],)
    try:
        Network(layers, shape, n_classes, "relu", rngs=[np.random.default_rng(0)])
    except NngridError as exc:
        raise NngridError(f"{where} (length {shape[0]}): {exc}") from None


def _steps_per_epoch(n_train: int, batch_size: Any) -> int:
    return 1 if batch_size in (None, "full") else max(1, math.ceil(n_train / int(batch_size)))


def steps_to_target(history: Sequence[Mapping[str, Any]], target: float, spe: int) -> float | None:
    """Optimizer steps until the training accuracy of ``history`` (one entry per evaluated
    epoch, epoch 0 the initial weights) first reached ``target``, interpolated linearly between
    the two evaluations that straddle it (``spe`` steps per epoch); ``None`` when it never did.

    Epoch-end evaluations alone would count whole epochs, so two runs reaching the target
    within the same epoch would tie however far apart they got there."""
    prev = None
    for h in history:
        acc = h["train_accuracy"]
        if acc is None:
            continue
        if acc >= target:
            e = float(h["epoch"])
            if prev is None or prev[0] != e - 1:  # no evaluation just before: the epoch's end
                return e * spe
            # prev[1] < target <= acc: the crossing lies in (e - 1, e]
            return (e - 1 + (target - prev[1]) / (acc - prev[1])) * spe
        prev = (float(h["epoch"]), float(acc))
    return None


def _recurrent(model) -> Any:
    return next((layer for layer in model.layers if layer.name in RECURRENT_LAYERS), None)


def grad_through_time(model, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """``||dL/dh_t||`` of the first recurrent layer, ``(R, D, L)``, on the batch ``(X, y)``."""
    from nngrid.core.losses import LOSSES

    layer = _recurrent(model)
    if layer is None:
        return None
    loss = LOSSES.create("softmax_cross_entropy")
    layer.keep_dh_norms = True
    try:
        out = model.forward(X.astype(model.dtype), train=True)
        _, grad = loss.value_and_grad(out, y)
        model.backward(grad)
        return layer.dh_norms.copy()
    finally:
        layer.keep_dh_norms = False


def run_architecture(
    data: Mapping[str, np.ndarray],
    *,
    layers: Sequence[Any],
    activations: Sequence[str],
    lrs: Sequence[float],
    seeds: Sequence[int],
    optimizer: str = "adam",
    opt_params: Mapping[str, Any] | None = None,
    regularizers: Sequence[Mapping[str, Any]] = ({"label": "none"},),
    clip_norm: float | None = None,
    tune_seeds: int = 3,
    extend: int = 2,
    epochs: int = 20,
    batch_size: int | None = 100,
    dtype: str = "float32",
    n_train: int | None = None,
    target: float = 0.9,
    probe: int = 256,
    axes: Mapping[str, Any] | None = None,
    progress: Any = None,
) -> Result:
    """Every cell (regularizer x activation) of one architecture on ``data``: tune, rerun, measure.

    ``progress``, when given, is called with one line of text per finished cell.

    ``regularizers`` are ``{label, kind, params}`` (kind defaults to the label). ``n_train``
    keeps the first ``n_train`` training points (the splits are already shuffled), a budget cut;
    ``target`` is the training accuracy that "steps to target" counts to. See the
    module docstring for the result.
    """
    from nngrid.core.network import Network
    from nngrid.core.train import TrainConfig, replica_rngs, train_replicas
    from nngrid.study.protocol import tune

    seeds = [int(s) for s in seeds]
    if not seeds:
        raise NngridError("seeds is empty; give at least one seed")
    if not lrs:
        raise NngridError("the learning-rate grid is empty; give at least one rate")
    data = dict(data)
    if n_train is not None:
        if int(n_train) < 10:
            raise NngridError(f"n_train must be at least 10, got {n_train!r}")
        data["X_train"], data["y_train"] = data["X_train"][:n_train], data["y_train"][:n_train]
    n = int(len(data["y_train"]))
    spe = _steps_per_epoch(n, batch_size)
    fam = family(layers)
    cells = list(activations) if uses_activation(layers) else [GATES]
    tuning = seeds[: max(1, int(tune_seeds))]
    Xp, yp = data["X_train"][:probe], data["y_train"][:probe]
    base = {"optimizer": optimizer, "shuffled": False, **dict(axes or {})}
    base |= {"family": fam, "clip_norm": clip_norm}
    out: Result = {"records": [], "curves": [], "grad_time": []}
    todo = list(itertools.product(regularizers, cells))
    for i, (reg, label) in enumerate(todo, start=1):
        act = activations[0] if label == GATES else label
        common = dict(
            layers=list(layers),
            activation=act,
            regularizer=reg.get("kind", reg["label"]),
            reg_params=dict(reg.get("params") or {}),
            clip_norm=clip_norm,
            optimizer=optimizer,
            batch_size=batch_size,
            epochs=int(epochs),
            dtype=dtype,
        )

        def evaluate(rates, common=common):
            recs = train_replicas(
                data,
                TrainConfig(
                    opt_params={**dict(opt_params or {}), "lr": [r for r in rates for _ in tuning]},
                    seeds=tuning * len(rates),
                    **common,
                ),
            ).records
            S = len(tuning)
            return {r: recs[i * S : (i + 1) * S] for i, r in enumerate(rates)}

        tuned, k, on_edge, extended, all_diverged = tune(evaluate, lrs, extend)
        lr = sorted(tuned)[k]
        result = train_replicas(
            data,
            TrainConfig(
                opt_params={**dict(opt_params or {}), "lr": lr},
                seeds=seeds,
                history_initial=True,
                **common,
            ),
        )
        recs, model = result.records, result.model
        cell = {
            **base,
            "regularizer": reg["label"],
            "activation": label,
            "lr": lr,
            "lr_on_edge": bool(on_edge),
        }
        cell |= {"lr_extended": bool(extended), "all_diverged": bool(all_diverged)}
        for r, rec in enumerate(recs):
            out["records"].append(
                {
                    **cell,
                    "seed": seeds[r],
                    **{
                        key: rec[key]
                        for key in (
                            "train_accuracy",
                            "val_accuracy",
                            "test_accuracy",
                            "diverged",
                            "diverged_epoch",
                            "epochs",
                        )
                    },
                    "steps_per_epoch": spe,
                    "target": float(target),
                    "steps_to_target": steps_to_target(rec["history"], target, spe),
                }
            )
            for h in rec["history"]:
                out["curves"].append(
                    {
                        **cell,
                        "seed": seeds[r],
                        "epoch": h["epoch"],
                        "step": h["epoch"] * spe,
                        "train_loss": h["train_loss"],
                        "train_accuracy": h["train_accuracy"],
                        "val_accuracy": h["val_accuracy"],
                    }
                )
        if _recurrent(model) is not None:
            fresh = Network(
                list(layers),
                model.in_shape,
                model.layers[-1].units,
                act,
                rngs=replica_rngs(seeds)[0],
                dtype=model.dtype,
            )
            for stage, net in (("init", fresh), ("trained", model)):
                g = grad_through_time(net, Xp, yp)
                for r, d, t in np.ndindex(*g.shape):
                    out["grad_time"].append(
                        {
                            **cell,
                            "stage": stage,
                            "seed": seeds[r],
                            "direction": int(d),
                            "t": int(t),
                            "grad_norm": float(g[r, d, t]),
                        }
                    )
        if progress is not None:
            acc = [rec["test_accuracy"] for rec in recs if rec["test_accuracy"] is not None]
            progress(
                f"cell {i}/{len(todo)} done: {label} x {reg['label']} x {optimizer}, lr {lr:.3g}"
                + (" (grid edge)" if on_edge else "")
                + (f", test accuracy {np.mean(acc):.3f}" if acc else "")
                + f", {sum(bool(rec['diverged']) for rec in recs)} diverged"
            )
    return out


def run_job(
    data: Mapping[str, np.ndarray], spec: Mapping[str, Any], progress: Any = None
) -> Result:
    """One job of the workflow: ``spec`` as ``nngrid.study.jobs.architecture_spec``
    writes it (``axes, layers, clip_norm, activations, regularizers, optimizer {name, params,
    lr_grid}, seeds, tuning {seeds, extend}, training {epochs, batch_size, dtype, n_train,
    target, probe}``)."""
    from nngrid.study.protocol import lr_grid

    opt = spec["optimizer"]
    grid = opt["lr_grid"]
    lrs = lr_grid(**grid) if isinstance(grid, Mapping) else list(grid)
    tuning = dict(spec.get("tuning") or {})
    if spec.get("shape"):  # a file's sequences: time-major feature columns -> (n, L, C)
        length, channels = (int(v) for v in spec["shape"])
        data = {
            k: np.reshape(v, (len(v), length, channels)) if k[0] == "X" and channels > 1 else v
            for k, v in data.items()
        }
    return run_architecture(
        data,
        layers=spec["layers"],
        activations=spec["activations"],
        lrs=lrs,
        seeds=spec["seeds"],
        optimizer=opt["name"],
        opt_params=opt.get("params"),
        clip_norm=spec.get("clip_norm"),
        regularizers=spec.get("regularizers") or [{"label": "none"}],
        tune_seeds=int(tuning.get("seeds", 3)),
        extend=int(tuning.get("extend", 2)),
        axes={**dict(spec.get("axes") or {}), "shuffled": bool(spec.get("shuffled", False))},
        progress=progress,
        **dict(spec.get("training") or {}),
    )


def merge(results: Sequence[Result]) -> Result:
    """Concatenate the record lists of several jobs' results."""
    out: Result = {"records": [], "curves": [], "grad_time": []}
    for res in results:
        for key in out:
            out[key] += list(res.get(key, []))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nngrid.study.experiments.architectures",
        description="Run one architectures job, or merge the jobs' results.",
    )
    parser.add_argument("--data", help="dataset .npz written by `nngrid data`")
    parser.add_argument("--spec", help="job spec: a JSON file or inline JSON")
    parser.add_argument("--merge", nargs="*", help="job results (.npz) to concatenate")
    parser.add_argument("--output", required=True, help=".npz to write (atomically)")
    parser.add_argument(
        "--spec-sha256", default=None, help="the digest the spec must have (its rule's)"
    )
    parser.add_argument(
        "--expect-specs",
        nargs="*",
        default=None,
        help="with --merge: the spec digest each job result must carry, in the order of --merge",
    )
    args = parser.parse_args(argv)
    from nngrid.study import integrity

    integrity.stop_on_signals()
    try:
        from nngrid.study.experiments import load, save

        if args.merge is not None:
            results = [load(p) for p in args.merge]
            integrity.check_architecture_results(args.merge, results, args.expect_specs)
            save(args.output, merge(results))
            return 0
        if not (args.data and args.spec):
            raise NngridError("give --data and --spec (one job), or --merge FILES")
        from nngrid.plugins import load_plugins

        load_plugins()
        from nngrid.study.protocol import load_job_data

        spec = integrity.read_job_spec(args.spec, args.spec_sha256)
        data_sha256 = integrity.check_job_data(args.data, spec)

        def progress(msg: str) -> None:
            print(msg, file=sys.stderr, flush=True)

        result = run_job(load_job_data(args.data, spec), spec, progress)
        save(args.output, integrity.stamp_architecture_result(result, spec, data_sha256))
    except NngridError as exc:
        return report_error(exc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
