"""Every source of randomness of a study comes from its config: data draws and seed keys.

A dataset block may list ``data_seeds: [a, b, c]``: independent draws of that dataset (a new
sample from its generator and a new split each). :func:`expand_draws` replaces the label by one
label per draw, ``<label>_draw<seed>``, each with its own ``data_seed``, in the datasets and in
every study that names it, so every downstream rule sees ordinary datasets; :func:`split_draw`
recovers ``(label, seed)`` from a table's ``dataset`` column (the claims take the draw as the top
level of their bootstrap). :data:`SEED_KEYS` names every config key that seeds something
(config/README.md "Seeds" lists them with what they seed); :func:`seed_values` finds them in a
config, which is how a test checks that ``config/replicate.yaml`` redraws all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping
from typing import Any

from nngrid.errors import NngridError

__all__ = [
    "DRAW",
    "SEED_KEYS",
    "draw_label",
    "expand_draws",
    "seed_values",
    "split_draw",
    "first_draws",
    "without_draws",
]

#: The infix of a draw's label: ``moons_draw2`` is draw (data seed) 2 of ``moons``.
DRAW = "_draw"
_DRAW_RE = re.compile(rf"^(?P<base>.+){DRAW}(?P<seed>\d+)$")
#: Config keys whose values are seeds (a number or a list of numbers).
SEED_KEYS = (
    "data_seed",
    "data_seeds",
    "seed",
    "seeds",
    "shallow_seeds",
    "generation_seed",
    "permutation_seed",
    "bootstrap_seed",
    "search_seed",
)


def draw_label(label: str, seed: int) -> str:
    """The label of draw ``seed`` of dataset ``label``."""
    return f"{label}{DRAW}{int(seed)}"


def split_draw(label: str) -> tuple[str, int | None]:
    """``("moons", 2)`` for ``"moons_draw2"``; ``(label, None)`` for a label without draws."""
    m = _DRAW_RE.match(str(label))
    return (m["base"], int(m["seed"])) if m else (str(label), None)


def first_draws(labels) -> set[str]:
    """Of the dataset ``labels``, the first draw (smallest data seed) of each dataset, and every
    label that is a dataset of its own: what a figure shows when one panel per draw would be
    unreadable."""
    first: dict[str, tuple[int, str]] = {}
    for label in labels:
        base, seed = split_draw(label)
        key = (-1 if seed is None else seed, str(label))
        first[base] = min(first.get(base, key), key)
    return {label for _, label in first.values()}


def without_draws(df, column: str = "dataset"):
    """The rows of ``df`` (a DataFrame) whose ``column`` is a dataset of its own, not a draw of
    one (``<label>_draw<seed>``): what a claim or figure that takes the seed as its unit reads
    when a study adds draws for another claim (e.g. MNIST-1D generations for the MLP). All of
    ``df`` when it has no such column or every row is a draw."""
    if df.empty or column not in df:
        return df
    own = [split_draw(label)[1] is None for label in df[column]]
    return df[own] if any(own) else df


def expand_draws(cfg: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace (in place) every dataset with ``data_seeds`` by one dataset per draw; returns
    ``cfg``. A study naming the dataset names its draws instead, in the order listed."""
    datasets = cfg.get("datasets") or {}
    draws: dict[str, list[str]] = {}
    for label in list(datasets):
        block = datasets[label]
        seeds = block.get("data_seeds")
        if seeds is None:
            continue
        if not seeds or len(set(seeds)) != len(seeds):
            raise NngridError(
                f"datasets.{label}.data_seeds must be a non-empty list of distinct seeds, "
                f"got {seeds!r}"
            )
        # a draw keeps its generator: the kind defaults to the label it came from
        rest = {"kind": label, **{k: v for k, v in block.items() if k != "data_seeds"}}
        draws[label] = []
        for seed in seeds:
            name = draw_label(label, seed)
            if name in datasets:
                raise NngridError(f"dataset {name!r} clashes with a draw of {label!r}; rename it")
            draws[label].append(name)
        for name, seed in zip(draws[label], seeds, strict=True):
            datasets[name] = {**rest, "data_seed": int(seed)}
        del datasets[label]
    for study in (cfg.get("studies") or {}).values():
        if "datasets" in study:
            study["datasets"] = [d for lab in study["datasets"] for d in draws.get(lab, [lab])]
    return cfg


def seed_values(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted path, value)`` of every seed key (:data:`SEED_KEYS`) anywhere in ``node``
    (``tuning.seeds``, a count of seeds, is none)."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if path.rsplit(".", 1)[-1] == "tuning" and key != "search_seed":
                continue  # tuning.seeds is a count, not a seed (search_seed is one)
            if key in SEED_KEYS:
                yield where, value
            else:
                yield from seed_values(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from seed_values(value, f"{path}[{i}]")
