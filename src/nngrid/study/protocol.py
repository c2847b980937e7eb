"""The fair-comparison protocol for one cell of the grid, and the job that runs several cells.

A *cell* is one dataset x activation x regularizer x optimizer combination. Comparing optimizers
is only fair when each gets its own tuned learning rate, so every cell runs the same protocol:

1. **Tune.** Train every learning rate of the optimizer's log-spaced grid
   ``lr_k = low * (high / low) ** (k / (K - 1))``, ``k = 0 .. K-1``, on each of the first
   ``tune_seeds`` seeds (3 by default), all in one replica stack. Score each rate on the
   *validation* split only, over its seeds (:func:`select_lr`): first the number of seeds
   that diverged (fewer wins: a rate that blows up on one seed in three is not a safe pick),
   then the mean validation accuracy (classification; larger wins), then the mean validation
   loss (smaller wins; the only score for regression), then the smaller rate. When the winner
   sits on an edge of the grid, the grid is extended past that edge by one grid step (the same
   log ratio) and the new rate is tuned on the same seeds; this repeats up to ``extend`` points
   per edge (2 by default). A winner still on an edge after that is flagged ``lr_on_edge``
   (``lr_extended`` says that the grid grew).
2. **Rerun.** Train the chosen rate over every seed (arm ``tuned``) and, beside it, the optimizer's
   default rate over the same seeds (arm ``untuned``): one stack of ``2 * n_seeds`` replicas.

The test split is never looked at while choosing; it is only reported.

That is the ``lr`` protocol, the default. A job spec's ``tuning.protocol`` may name another:
``full`` (:func:`run_search_cell`: quasi-random search over the optimizer's ``search`` space,
:mod:`nngrid.study.search`, the trials one replica stack scored by :func:`select_lr`, the winner
and the default rerun as above) or ``default`` (:func:`run_default_cell`: no tuning, the
defaults over the seeds, arm ``tuned``). Every row records its ``protocol``, ``chosen_params``
(every hyperparameter of the chosen setting, resolved) and ``params_on_edge``.

Every replica becomes one row: the core's result record (see ``docs/ARCHITECTURE.md``) plus the
cell's axis values, the ``arm`` (``tune``, ``tuned`` or ``untuned``), the grid (extended, if it
was), the chosen rate, the flags, ``n_train`` (training points: steps per epoch follow from it and
the batch size) and ``tune_seeds``. :func:`run_job` crosses lists of activations, regularizers
and optimizers into cells, so the workflow chooses how many cells one job holds by choosing its
wildcards.

Command line (NumPy only; writes the job's JSON atomically)::

    python -m nngrid.study.protocol --data results/data/moons.npz --spec spec.json --output out.json

``--spec`` takes a JSON file or, when the text starts with ``{``, the JSON itself;
``--spec-sha256`` (the workflow passes its rule's) refuses a spec file edited or truncated since.
The dataset must match the sha256 of its ``.json`` (and, when the spec names its ``data``, have
been made from that spec). The result names its spec digest, the dataset's sha256 and the
plugins loaded (:func:`nngrid.study.integrity.job_stamp`). SIGTERM and SIGHUP end the job
without a result (exit 143 / 129). The job prints one line per finished cell to stderr (the
job's log), so a running job shows its progress.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from nngrid.errors import NngridError, report_error

__all__ = [
    "ARMS",
    "PROTOCOLS",
    "lr_grid",
    "main",
    "run_cell",
    "run_default_cell",
    "run_search_cell",
    "extend_grid",
    "run_job",
    "select_lr",
    "tune",
]

#: The three kinds of rows a cell produces.
ARMS = ("tune", "tuned", "untuned")

#: Keys of the ``training`` block of a job spec, passed through to ``train_replicas``.
TRAINING_KEYS = (
    "hidden",
    "init",
    "loss",
    "schedule",
    "schedule_params",
    "batch_size",
    "epochs",
    "dtype",
    "target_accuracy",
)


def lr_grid(low: float, high: float, points: int) -> list[float]:
    """The log-spaced grid ``low * (high / low) ** (k / (points - 1))`` for ``k = 0 .. points-1``.

    Values are rounded to 6 significant digits so that they read well in tables and compare
    exactly across runs. ``points == 1`` gives ``[low]``.
    """
    if not (low > 0 and high > 0):
        raise NngridError(f"lr_grid needs positive bounds, got low={low!r}, high={high!r}")
    if high < low:
        raise NngridError(f"lr_grid needs low <= high, got low={low!r}, high={high!r}")
    if int(points) != points or points < 1:
        raise NngridError(f"lr_grid points must be a positive integer, got {points!r}")
    values = np.geomspace(low, high, int(points)) if points > 1 else np.array([low])
    return [float(f"{v:.6g}") for v in values]


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def _is_diverged(record: Mapping[str, Any]) -> bool:
    return bool(record.get("diverged")) or not _finite(record.get("val_loss"))


def _score(group: Sequence[Mapping[str, Any]]) -> tuple[float, float, float] | None:
    """``(-n_diverged, mean val_accuracy, -mean val_loss)`` of one candidate's seeds (larger
    wins), ``None`` when every seed diverged. Means are over the seeds that did not diverge."""
    finite = [r for r in group if not _is_diverged(r)]
    if not finite:
        return None
    accs = [r.get("val_accuracy") for r in finite]
    acc = float(np.mean(accs)) if all(_finite(a) for a in accs) else -math.inf
    loss = float(np.mean([r["val_loss"] for r in finite]))
    return (-float(len(group) - len(finite)), acc, -loss)


def select_lr(records: Sequence[Any]) -> tuple[int, bool]:
    """Index of the winning candidate and whether every candidate diverged.

    Each element of ``records`` is one candidate: a record (one seed) or a list of records
    (its seeds). Score (larger wins, compared in order): fewer diverged seeds, higher mean
    ``val_accuracy`` (classification: ``val_accuracy`` not ``None``), lower mean ``val_loss``;
    ties keep the earlier (smaller) candidate. A diverged seed is one with ``diverged`` set
    or a non-finite ``val_loss``. When every candidate diverged on every seed, index 0 (the
    smallest rate) is returned with ``all_diverged=True``.
    """
    if not records:
        raise NngridError("select_lr needs at least one tuning record")
    best, best_score = None, None
    for k, candidate in enumerate(records):
        group = [candidate] if isinstance(candidate, Mapping) else list(candidate)
        score = _score(group)
        if score is not None and (best_score is None or score > best_score):
            best, best_score = k, score
    if best is None:
        return 0, True
    return best, False


def extend_grid(lrs: Sequence[float], side: int) -> float:
    """The rate one grid step past an edge: ``lrs[0]^2 / lrs[1]`` below (``side = 0``), or
    ``lrs[-1]^2 / lrs[-2]`` above (``side = -1``); rounded like :func:`lr_grid`."""
    lrs = sorted(lrs)
    if len(lrs) < 2:
        raise NngridError("cannot extend a grid of one rate; give at least two rates")
    lo, hi = (lrs[0], lrs[1]) if side == 0 else (lrs[-1], lrs[-2])
    return float(f"{lo * lo / hi:.6g}")


def tune(
    evaluate: Callable[[list[float]], dict[float, list[dict]]],
    values: Sequence[float],
    extend: int = 2,
    valid: Callable[[float], bool] = lambda v: v > 0,
) -> tuple[dict[float, list[dict]], int, bool, bool, bool]:
    """Choose one value of a log-spaced grid on validation, extending the grid past an edge.

    ``evaluate(values)`` trains every value (on the tuning seeds) and returns ``{value: records}``.
    The winner is :func:`select_lr`'s; while it sits on an edge, one more grid step past that
    edge (:func:`extend_grid`) is evaluated, at most ``extend`` per edge and only if ``valid``
    accepts it. Returns ``(records by value, index of the winner in sorted(records),
    on_edge, extended, all_diverged)``.
    """
    results = evaluate(sorted(float(v) for v in values))
    added = {0: 0, -1: 0}
    while True:
        grid = sorted(results)
        k, all_diverged = select_lr([results[v] for v in grid])
        side = 0 if k == 0 else -1 if k == len(grid) - 1 else None
        if len(grid) < 2 or side is None or all_diverged or added[side] >= int(extend):
            break
        new = extend_grid(grid, side)
        if not valid(new):
            break
        added[side] += 1
        results.update(evaluate([new]))
    on_edge = len(grid) > 1 and k in (0, len(grid) - 1)
    return results, k, on_edge, bool(added[0] or added[-1]), all_diverged


def _per_replica(params: Mapping[str, Any] | None, lrs: Sequence[float]) -> dict[str, Any]:
    out = dict(params or {})
    out["lr"] = [float(v) for v in lrs]
    return out


def rerun(
    train: Callable[..., Any],
    data: Any,
    config: Callable[..., Any],
    common: Mapping[str, Any],
    opt_params: Mapping[str, Any] | None,
    seeds: Sequence[int],
    chosen: float,
    default_lr: float,
    tuned: Mapping[float, Sequence[dict]],
) -> list[dict]:
    """The ``tuned`` then the ``untuned`` arm's records over ``seeds`` (``2 * len(seeds)``).

    A seed that also tuned the chosen rate is not trained again: a replica gives bitwise the
    same numbers whatever stack it is trained in, so its tuning record *is* its tuned run (only
    ``replica``, its index in the stack, and the timing fields, which are cost only, would
    differ). The other seeds of the tuned arm and every seed of the untuned arm train in one
    stack. Each record's ``replica`` is its index in ``tuned + untuned`` order, as if both
    arms had trained in one stack of ``2 * len(seeds)``.
    """
    n = len(seeds)
    done = {int(r["seed"]): r for r in tuned[chosen]}
    fresh = [s for s in seeds if s not in done]
    recs = iter(
        train(
            data,
            config(
                opt_params=_per_replica(opt_params, [chosen] * len(fresh) + [default_lr] * n),
                seeds=fresh + list(seeds),
                **common,
            ),
        ).records
    )
    out = [dict(done[s]) if s in done else next(recs) for s in seeds] + list(recs)
    for i, rec in enumerate(out):
        rec["replica"] = i
    return out


def run_cell(
    data: Any,
    *,
    activation: str,
    optimizer: str,
    lrs: Sequence[float],
    default_lr: float,
    seeds: Sequence[int],
    regularizer: str = "none",
    reg_params: Mapping[str, Any] | None = None,
    opt_params: Mapping[str, Any] | None = None,
    axes: Mapping[str, Any] | None = None,
    train: Callable[..., Any] | None = None,
    tune_seeds: int = 3,
    extend: int = 2,
    **training: Any,
) -> list[dict]:
    """Run the protocol on one cell and return one row per replica (see the module docstring).

    ``lrs`` is the optimizer's grid, ``default_lr`` its documented default, ``seeds`` the
    seeds of the rerun (the first ``tune_seeds`` of them also seed the tuning; all of them when
    there are fewer), ``extend`` the most points the grid may grow past each edge.
    ``training`` goes to ``train_replicas`` unchanged (hidden, epochs, batch_size, ...).
    ``axes`` is copied into every row (dataset, study, the regularizer's label ...). ``train``
    defaults to :func:`nngrid.core.train.train_replicas` (``train(data, TrainConfig) ->
    TrainResult``)
    and exists so that tests can substitute a stub.
    """
    from nngrid.core.train import TrainConfig

    if train is None:
        from nngrid.core.train import train_replicas as train
    lrs = sorted(float(v) for v in lrs)
    seeds = [int(s) for s in seeds]
    if not lrs:
        raise NngridError("the learning-rate grid is empty; give at least one rate")
    if not seeds:
        raise NngridError("seeds is empty; give at least one seed")
    if int(tune_seeds) < 1 or int(extend) < 0:
        raise NngridError(
            f"tune_seeds must be >= 1 and extend >= 0, got {tune_seeds!r} and {extend!r}"
        )
    tuning_seeds = seeds[: int(tune_seeds)]
    S = len(tuning_seeds)
    common = dict(
        activation=activation,
        regularizer=regularizer,
        reg_params=dict(reg_params or {}),
        optimizer=optimizer,
        **training,
    )

    def train_rates(rates: list[float]) -> dict[float, list[dict]]:
        recs = train(
            data,
            TrainConfig(
                opt_params=_per_replica(opt_params, [lr for lr in rates for _ in tuning_seeds]),
                seeds=tuning_seeds * len(rates),
                **common,
            ),
        ).records
        return {lr: recs[i * S : (i + 1) * S] for i, lr in enumerate(rates)}

    tuned, k, on_edge, extended, all_diverged = tune(train_rates, lrs, extend)
    grid = sorted(tuned)
    chosen = grid[k]
    final = rerun(
        train, data, TrainConfig, common, opt_params, seeds, chosen, float(default_lr), tuned
    )
    n_train = None
    if isinstance(data, Mapping) and "X_train" in data:
        n_train = int(np.shape(data["X_train"])[0])
    cell = {
        "activation": activation,
        "regularizer_kind": regularizer,
        "reg_params": dict(reg_params or {}),
        "optimizer": optimizer,
        "opt_params": dict(opt_params or {}),
        **dict(axes or {}),
        "lr_grid": grid,
        "chosen_lr": chosen,
        "default_lr": float(default_lr),
        "lr_on_edge": bool(on_edge),
        "lr_extended": extended,
        "all_diverged": bool(all_diverged),
        "n_train": n_train,
        "tune_seeds": tuning_seeds,
    }
    rows = []
    for lr in grid:
        for rec in tuned[lr]:
            rows.append({**rec, **cell, "arm": "tune", "lr": lr, "selected": lr == chosen})
    n = len(seeds)
    for i, rec in enumerate(final):
        arm = "tuned" if i < n else "untuned"
        lr = chosen if i < n else float(default_lr)
        rows.append({**rec, **cell, "arm": arm, "lr": lr, "selected": False})
    return rows


def _common_fields(data: Any, tuning_seeds: Sequence[int]) -> dict:
    n_train = None
    if isinstance(data, Mapping) and "X_train" in data:
        n_train = int(np.shape(data["X_train"])[0])
    return {"n_train": n_train, "tune_seeds": list(tuning_seeds)}


def run_search_cell(
    data: Any,
    *,
    activation: str,
    optimizer: str,
    space: Mapping[str, Any],
    budget: int,
    search_seed: int,
    default_lr: float,
    seeds: Sequence[int],
    regularizer: str = "none",
    reg_params: Mapping[str, Any] | None = None,
    opt_params: Mapping[str, Any] | None = None,
    axes: Mapping[str, Any] | None = None,
    train: Callable[..., Any] | None = None,
    tune_seeds: int = 3,
    **training: Any,
) -> list[dict]:
    """The ``full`` protocol on one cell: quasi-random search over the search ``space``
    (:mod:`nngrid.study.search`), then the rerun; one row per replica.

    The ``budget`` trials (a scrambled Sobol sequence seeded by ``search_seed`` and the cell:
    dataset and regularizer of ``axes``, activation, optimizer; :func:`search.cell_seed`) are
    trained on the tuning seeds as one replica stack (``budget x tune_seeds`` replicas, every
    hyperparameter per replica), scored on validation by :func:`select_lr` (ties keep the
    earlier trial), and the winner is rerun over every seed (arm ``tuned``; a tuning seed's
    record of the winner is its tuned run, as in :func:`rerun`) beside the untuned default (arm
    ``untuned``, as in :func:`run_cell`). Rows carry ``protocol: full``, ``trial`` and
    ``trial_params`` (tune rows), ``chosen_params`` (every hyperparameter of the winner,
    resolved), ``params_on_edge`` (the ranges whose winning value sits in the outer 1/16,
    :func:`nngrid.study.search.on_edge`) and ``lr_on_edge`` (``lr`` among them).
    """
    from nngrid.core.train import TrainConfig
    from nngrid.study import search

    if train is None:
        from nngrid.core.train import train_replicas as train
    seeds = [int(s) for s in seeds]
    if not seeds or int(tune_seeds) < 1:
        raise NngridError(f"seeds must not be empty and tune_seeds >= 1, got {seeds!r}")
    ranges, fixed = search.parse_space(optimizer, space)
    axes = dict(axes or {})
    cell_key = (
        axes.get("dataset", ""),
        axes.get("regularizer", regularizer),
        activation,
        optimizer,
    )
    trials = search.draw_trials(ranges, fixed, budget, search.cell_seed(search_seed, cell_key))
    tuning_seeds = seeds[: int(tune_seeds)]
    S = len(tuning_seeds)
    base = dict(opt_params or {})
    common = dict(
        activation=activation,
        regularizer=regularizer,
        reg_params=dict(reg_params or {}),
        optimizer=optimizer,
        **training,
    )
    stack = [t for t in trials for _ in tuning_seeds]
    recs = train(
        data,
        TrainConfig(
            opt_params=search.opt_params_of(optimizer, stack, base),
            seeds=tuning_seeds * len(trials),
            **common,
        ),
    ).records
    groups = [recs[i * S : (i + 1) * S] for i in range(len(trials))]
    k, all_diverged = select_lr(groups)
    best = trials[k]
    n = len(seeds)
    # the rerun: a tuning seed's record of the winner is its tuned run (a replica is the same
    # in any stack, as in rerun()); the other seeds of the tuned arm and the untuned arm (the
    # configured values, else the defaults, and default_lr) train in one stack
    done = {int(r["seed"]): r for r in groups[k]}
    fresh = [s for s in seeds if s not in done]
    untuned = {**{name: _untuned(optimizer, base, name) for name in best}, "lr": default_lr}
    # the tuned arm's rate, when the space leaves it out: the configured one, else the default
    chosen = best if "lr" in best else {**best, "lr": _untuned(optimizer, base, "lr")}
    stack = [chosen] * len(fresh) + [untuned] * n
    recs = iter(
        train(
            data,
            TrainConfig(
                opt_params=search.opt_params_of(optimizer, stack, base),
                seeds=fresh + seeds,
                **common,
            ),
        ).records
    )
    final = [dict(done[s]) if s in done else next(recs) for s in seeds] + list(recs)
    for i, rec in enumerate(final):
        rec["replica"] = i
    edge = search.on_edge(ranges, best)
    cell = {
        "activation": activation,
        "regularizer_kind": regularizer,
        "reg_params": dict(reg_params or {}),
        "optimizer": optimizer,
        "opt_params": base,
        **axes,
        "protocol": "full",
        "budget": int(budget),
        "search_seed": int(search_seed),
        "search_space": {r.name: dict(vars(r)) for r in ranges} | dict(fixed),
        "chosen_lr": float(final[0]["lr"]),
        "default_lr": float(default_lr),
        "chosen_params": final[0]["config"]["opt_params"],
        "params_on_edge": edge,
        "lr_on_edge": "lr" in edge,
        "lr_extended": False,
        "all_diverged": bool(all_diverged),
        **_common_fields(data, tuning_seeds),
    }
    rows = []
    for i, group in enumerate(groups):
        for rec in group:
            rows.append(
                {
                    **rec,
                    **cell,
                    "arm": "tune",
                    "trial": i,
                    "trial_params": dict(trials[i]),
                    "selected": i == k,
                }
            )
    for i, rec in enumerate(final):
        arm = "tuned" if i < n else "untuned"
        rows.append({**rec, **cell, "arm": arm, "selected": False})
    return rows


def _untuned(optimizer: str, base: Mapping[str, Any], name: str) -> Any:
    """The untuned arm's value of a hyperparameter (``b1``/``b2`` read from ``betas``): the
    configured one, else the optimizer's default."""
    from nngrid.core.optim import OPTIMIZERS

    key = "betas" if name in ("b1", "b2") else name
    value = base.get(key, OPTIMIZERS.parameters(optimizer)[key])
    if name in ("b1", "b2"):
        return float(value[0 if name == "b1" else 1])
    return list(value) if isinstance(value, tuple) else value


def run_default_cell(
    data: Any,
    *,
    activation: str,
    optimizer: str,
    default_lr: float,
    seeds: Sequence[int],
    regularizer: str = "none",
    reg_params: Mapping[str, Any] | None = None,
    opt_params: Mapping[str, Any] | None = None,
    axes: Mapping[str, Any] | None = None,
    train: Callable[..., Any] | None = None,
    **training: Any,
) -> list[dict]:
    """The ``default`` protocol on one cell: no tuning; the optimizer at its documented defaults
    (the configured ``params`` and ``default_lr`` kept, as the untuned arm of :func:`run_cell`)
    over every seed, one stack. Its rows are arm ``tuned`` (the protocol's chosen setting: the
    defaults), ``protocol: default``."""
    from nngrid.core.train import TrainConfig

    if train is None:
        from nngrid.core.train import train_replicas as train
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise NngridError("seeds is empty; give at least one seed")
    params = {**dict(opt_params or {}), "lr": [float(default_lr)] * len(seeds)}
    recs = train(
        data,
        TrainConfig(
            opt_params=params,
            seeds=seeds,
            activation=activation,
            regularizer=regularizer,
            reg_params=dict(reg_params or {}),
            optimizer=optimizer,
            **training,
        ),
    ).records
    cell = {
        "activation": activation,
        "regularizer_kind": regularizer,
        "reg_params": dict(reg_params or {}),
        "optimizer": optimizer,
        "opt_params": dict(opt_params or {}),
        **dict(axes or {}),
        "protocol": "default",
        "chosen_lr": float(default_lr),
        "default_lr": float(default_lr),
        "chosen_params": recs[0]["config"]["opt_params"],
        "params_on_edge": [],
        "lr_on_edge": False,
        "lr_extended": False,
        "all_diverged": all(_is_diverged(r) for r in recs),
        **_common_fields(data, []),
    }
    return [{**rec, **cell, "arm": "tuned", "selected": False} for rec in recs]


#: The tuning protocols a job spec's ``tuning.protocol`` names (``lr`` by default).
PROTOCOLS = ("lr", "full", "default")


def _lr_protocol_fields(rows: list[dict]) -> None:
    """Mark the rows of one :func:`run_cell` cell as the ``lr`` protocol's: ``protocol``,
    ``chosen_params`` (the tuned arm's resolved hyperparameters) and ``params_on_edge``."""
    tuned = next((r for r in rows if r["arm"] == "tuned"), None)
    chosen = tuned["config"]["opt_params"] if tuned and "config" in tuned else None
    for row in rows:
        row["protocol"] = "lr"
        row["chosen_params"] = chosen
        row["params_on_edge"] = ["lr"] if row.get("lr_on_edge") else []


def _default_lr(optimizer: str, given: float | None) -> float:
    if given is not None:
        return float(given)
    from nngrid.core.optim import OPTIMIZERS

    default = OPTIMIZERS.parameters(optimizer).get("lr")
    if not _finite(default) or default <= 0:
        raise NngridError(
            f"optimizer {optimizer!r} has no default lr to use for the untuned arm; "
            "give optimizers.<name>.default_lr in the config"
        )
    return float(default)


def run_job(data: Any, spec: Mapping[str, Any], progress: Callable[[str], None] | None = None):
    """Run every cell of a job ``spec`` on ``data`` and return ``(rows, seconds)``.

    ``spec`` holds ``activations`` (names), ``regularizers`` (objects ``{label, kind, params}``),
    ``optimizers`` (objects ``{name, params, lr_grid, default_lr}``; ``lr_grid`` is either a
    list or ``{low, high, points}``), ``seeds``, ``training`` (keyword arguments of
    ``train_replicas``), ``axes`` (copied into every row, e.g. ``study`` and ``dataset``) and,
    optionally, ``tuning`` (``{seeds: 3, extend: 2}``: see :func:`run_cell`). ``progress``
    receives one line per finished cell.
    Cells are the product optimizers x regularizers x activations, run in that order.
    """
    missing = [k for k in ("activations", "regularizers", "optimizers", "seeds") if k not in spec]
    if missing:
        raise NngridError(
            f"job spec lacks {missing[0]!r}; it needs activations, regularizers, "
            "optimizers and seeds"
        )
    training = dict(spec.get("training") or {})
    unknown = sorted(set(training) - set(TRAINING_KEYS))
    if unknown:
        raise NngridError(
            f"job spec training has unknown key {unknown[0]!r}; valid keys: "
            + ", ".join(TRAINING_KEYS)
        )
    tuning = dict(spec.get("tuning") or {})
    keys = ("seeds", "extend", "protocol", "budget", "search_seed")
    unknown = sorted(set(tuning) - set(keys))
    if unknown:
        raise NngridError(
            f"job spec tuning has unknown key {unknown[0]!r}; valid keys: {', '.join(keys)}"
        )
    protocol = tuning.get("protocol", "lr")
    if protocol not in PROTOCOLS:
        raise NngridError(
            f"job spec tuning.protocol {protocol!r} is not a protocol; valid: "
            + ", ".join(PROTOCOLS)
        )
    rows: list[dict] = []
    start = time.perf_counter()
    cells = list(itertools.product(spec["optimizers"], spec["regularizers"], spec["activations"]))
    for i, (opt, reg, act) in enumerate(cells, start=1):
        common = dict(
            activation=act,
            regularizer=reg.get("kind", reg["label"]),
            reg_params=reg.get("params"),
            optimizer=opt["name"],
            opt_params=opt.get("params"),
            default_lr=_default_lr(opt["name"], opt.get("default_lr")),
            seeds=spec["seeds"],
            axes={**dict(spec.get("axes") or {}), "regularizer": reg["label"]},
            **training,
        )
        if protocol == "full":
            if not opt.get("search"):
                raise NngridError(
                    f"optimizer {opt['name']!r} has no search space; the full protocol needs "
                    f"optimizers.{opt['name']}.search"
                )
            cell_rows = run_search_cell(
                data,
                space=opt["search"],
                budget=int(tuning.get("budget", 8)),
                search_seed=int(tuning.get("search_seed", 0)),
                tune_seeds=int(tuning.get("seeds", 3)),
                **common,
            )
        elif protocol == "default":
            cell_rows = run_default_cell(data, **common)
        else:
            grid = opt["lr_grid"]
            cell_rows = run_cell(
                data,
                lrs=lr_grid(**grid) if isinstance(grid, Mapping) else list(grid),
                tune_seeds=int(tuning.get("seeds", 3)),
                extend=int(tuning.get("extend", 2)),
                **common,
            )
            _lr_protocol_fields(cell_rows)
        rows += cell_rows
        if progress is not None:
            first = cell_rows[0]
            done = [r for r in cell_rows if r["arm"] == "tuned"]
            acc = [r["test_accuracy"] for r in done if _finite(r.get("test_accuracy"))]
            progress(
                f"cell {i}/{len(cells)} done: {act} x {reg['label']} x {opt['name']}, "
                f"{protocol} protocol, lr {first['chosen_lr']:.3g}"
                + (" (grid edge)" if first["lr_on_edge"] else "")
                + (f", test accuracy {np.mean(acc):.3f}" if acc else "")
                + f", {sum(r['diverged'] for r in done)} diverged, "
                f"{time.perf_counter() - start:.1f} s"
            )
    return rows, time.perf_counter() - start


def load_job_data(path: str | os.PathLike[str], spec: Mapping[str, Any]) -> dict:
    """A job's dataset, checked against the dtype its spec trains in (``training.dtype``)."""
    from nngrid.datasets import load_dataset

    training = spec.get("training") if isinstance(spec, Mapping) else None
    dtype = training.get("dtype", "float32") if isinstance(training, Mapping) else "float32"
    return load_dataset(path, dtype=dtype or "float32")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nngrid.study.protocol --data D.npz --spec SPEC --output OUT.json``."""
    parser = argparse.ArgumentParser(
        prog="nngrid cell", description="Run the tuned/untuned protocol on the cells of one job."
    )
    parser.add_argument("--data", required=True, help="dataset .npz written by `nngrid data`")
    parser.add_argument("--spec", required=True, help="job spec: a JSON file or inline JSON")
    parser.add_argument("--output", required=True, help="JSON file to write (atomically)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument(
        "--spec-sha256",
        default=None,
        help="the digest the spec must have (the workflow passes its rule's); a spec file that "
        "differs is refused",
    )
    args = parser.parse_args(argv)
    from nngrid.study.integrity import stop_on_signals

    stop_on_signals()
    try:
        from nngrid.io import write_json
        from nngrid.plugins import load_plugins
        from nngrid.study.integrity import check_job_data, job_stamp, read_job_spec

        load_plugins()

        spec = read_job_spec(args.spec, args.spec_sha256)
        data_sha256 = check_job_data(args.data, spec)
        data = load_job_data(args.data, spec)

        def progress(msg: str) -> None:
            if not args.quiet:
                print(msg, file=sys.stderr, flush=True)

        rows, seconds = run_job(data, spec, progress)
        job_id = os.environ.get("SLURM_JOB_ID")
        for row in rows:
            row["slurm_job_id"] = job_id
        write_json(
            args.output,
            {
                "spec": spec,
                "seconds": seconds,
                "slurm_job_id": job_id,
                "rows": rows,
                # what the result stands for: the collection compares it with the job's spec
                **job_stamp(spec, data_sha256),
            },
            checksum=True,  # nngrid.study.tables refuses the file if anything in it changes later
        )
    except NngridError as exc:
        return report_error(exc)
    except SystemExit as exc:
        from nngrid.study.integrity import Stopped

        if isinstance(exc, Stopped):
            raise
        print(
            f"nngrid: error: a component called sys.exit({exc.code!r}) during the job (a "
            f"plugin?); no result was written to {args.output}; fix or leave out the plugin",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
