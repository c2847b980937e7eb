"""Figure 3: per-layer gradient norms and trained accuracy by depth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nngrid.study.experiments.common import Result, fit


def _layer_grad_norms(model, loss, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Frobenius norm ``||dL/dW_l||`` of every layer's weight gradient, shape ``(R, L)``."""
    out = model.forward(X)
    _, grad = loss.value_and_grad(out, y)
    model.backward(grad)
    return np.stack(
        [np.sqrt((G.astype(np.float64) ** 2).sum(axis=(1, 2))) for G in model.grads[0::2]], axis=1
    )


def gradient_flow(
    depths: Sequence[int] = (2, 4, 8, 16),
    activations: Sequence[str] = ("sigmoid", "tanh", "relu"),
    initializers: Sequence[str] = ("glorot_uniform", "he_normal", "he_large"),
    careless_inits: Sequence[str] = ("he_large",),
    width: int = 32,
    dataset: str = "moons",
    dataset_params: dict | None = None,
    epochs: int = 60,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 3e-3,
    seeds: Sequence[int] = (0, 1, 2),
    probe: int = 256,
    shallow_seeds: Sequence[int] | None = None,
) -> Result:
    """Per-layer gradient norms by depth x activation x initializer, at init and after training.

    For a network of ``depth`` hidden layers of ``width`` units, ``dL/dW_l = H_{l-1}^T dZ_l``
    and ``dZ_{l-1} = f'(Z_{l-1}) * (dZ_l W_l^T)``: each layer multiplies the backward signal by
    ``W_l^T`` and by ``f'``, so with ``|f'| <= 1/4`` (sigmoid) it shrinks geometrically with depth
    (vanishes), and with weights too large it grows (explodes). The norms are measured on a fixed
    probe batch (the first ``probe`` training points) at initialisation (``stage = "init"``) and
    after ``epochs`` epochs (``stage = "trained"``). Records: ``depth, activation, init, stage,
    layer`` (1 = next to the input), ``seed``, ``grad_norm``; plus the final ``test_accuracy``
    per replica in ``accuracy`` records (with ``train_accuracy``). Initializers named in
    ``careless_inits`` (the deliberately too-large ``he_large``) are flagged
    ``careless_init`` in both: the claim "with 2-3 layers anything works" leaves them out, the
    claims on depth and exploding gradients use them. The budget (``epochs`` at ``lr``) should
    let the shallow nets converge, so that depth, not budget, is what the accuracy measures.
    ``shallow_seeds`` (default ``seeds``) are the seeds of the shallowest depth: a shallow net
    is cheap, and the claim "with 2-3 layers anything works" compares activations there, where
    an occasional seed that stalls moves a mean over a few seeds by more than the claim's
    margin. Claims that compare depths pair them by seed (the seeds both depths trained).
    """
    from nngrid.core.losses import LOSSES
    from nngrid.core.network import MLP
    from nngrid.core.train import replica_rngs
    from nngrid.datasets import build

    data = build(dataset, int(seeds[0]), **(dataset_params or {}))
    loss = LOSSES.create("softmax_cross_entropy")
    Xp, yp = data["X_train"][:probe], data["y_train"][:probe]
    records: list[dict] = []
    accuracy: list[dict] = []
    for depth in depths:
        seeds_d = list(shallow_seeds or seeds) if depth == min(depths) else list(seeds)
        for act in activations:
            for init in initializers:
                key = {
                    "depth": int(depth),
                    "activation": act,
                    "init": init,
                    "careless_init": init in careless_inits,
                }
                n_out = int(data["y_train"].max() + 1)
                sizes = [data["X_train"].shape[1], *[width] * depth, n_out]
                at_init = MLP(sizes, act, init, replica_rngs(seeds_d)[0], np.float64)
                norms = {"init": _layer_grad_norms(at_init, loss, Xp, yp)}
                run = fit(
                    data,
                    hidden=[width] * depth,
                    activation=act,
                    init=init,
                    optimizer=optimizer,
                    lr=lr,
                    batch_size=batch_size,
                    epochs=epochs,
                    seeds=seeds_d,
                )
                norms["trained"] = _layer_grad_norms(run.model, loss, Xp, yp)
                for stage, g in norms.items():
                    for r, seed in enumerate(seeds_d):
                        for layer in range(g.shape[1]):
                            records.append(
                                {
                                    **key,
                                    "stage": stage,
                                    "layer": layer + 1,
                                    "seed": int(seed),
                                    "grad_norm": float(g[r, layer]),
                                }
                            )
                for r, seed in enumerate(seeds_d):
                    accuracy.append(
                        {
                            **key,
                            "seed": int(seed),
                            **run.floats(r, "test_accuracy", "train_accuracy"),
                        }
                    )
    return {"records": records, "accuracy": accuracy}
