# Helpers only: config validation, the job table, wildcard constraints, the core's hash and the
# list of final targets. No rules live here.

import copy
import hashlib
import importlib
import itertools
import json
import math
import os
import re
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import yaml

import nngrid
from nngrid.errors import NngridError

# ---------------------------------------------------------------------------------------------
# Config validation: one clear line naming the key, the bad value and the valid choices.
# ---------------------------------------------------------------------------------------------

# kind -> (module, registry) for the schema's `x-registry` placeholders.
REGISTRIES = {
    "activations": ("nngrid.activations", "ACTIVATIONS"),
    "initializers": ("nngrid.initializers", "INITIALIZERS"),
    "losses": ("nngrid.losses", "LOSSES"),
    "regularizers": ("nngrid.regularizers", "REGULARIZERS"),
    "optimizers": ("nngrid.optim", "OPTIMIZERS"),
    "schedules": ("nngrid.schedules", "SCHEDULES"),
    "datasets": ("nngrid.datasets", "DATASETS"),
}


def registry(kind):
    """The core's registry of one kind (plugins named in NNGRID_PLUGINS included)."""
    from nngrid.plugins import load_plugins

    load_plugins()
    module_name, name = REGISTRIES[kind]
    return getattr(importlib.import_module(module_name), name)


def _fill_enums(node, cfg):
    """Give every `x-registry` / `x-config-keys` placeholder in a schema its `enum`."""
    if isinstance(node, dict):
        if "x-registry" in node:
            node["enum"] = registry(node["x-registry"]).names()
        if "x-config-keys" in node:
            section = cfg.get(node["x-config-keys"])
            node["enum"] = list(section) if isinstance(section, dict) else []
        for value in node.values():
            _fill_enums(value, cfg)
    elif isinstance(node, list):
        for value in node:
            _fill_enums(value, cfg)


def _key(path):
    """`studies.grid.activations[2]` from a jsonschema path."""
    out = ""
    for part in path:
        out += (
            f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        )
    return out or "<config>"


def _short(value, limit=60):
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _deepest(error):
    """The most specific error under anyOf/oneOf/allOf (what the user actually got wrong)."""
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    return error


def explain(error):
    """One line for a jsonschema ValidationError."""
    error = _deepest(error)
    key, value, schema = _key(error.absolute_path), error.instance, error.schema
    kind = error.validator
    subject = f"{key} = {_short(value)}"
    if "propertyNames" in error.absolute_schema_path:
        subject = f"{key} key {_short(value)}"
    if kind == "enum":
        choices = ", ".join(map(str, error.validator_value))
        return f"{subject} is not valid; valid choices: {choices}"
    if kind == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return (
            f"{key} has unknown key {extra[0]!r}; valid keys: {', '.join(allowed)}"
            if extra and allowed
            else f"{key}: {error.message}"
        )
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return f"{key} lacks the required key {missing[0]!r}"
    if kind == "minItems":
        return f"{subject} must list at least {error.validator_value} item(s)"
    if kind == "minProperties":
        return f"{subject} must name at least {error.validator_value} entry"
    if kind == "uniqueItems":
        return f"{subject} repeats an item; list each once"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        op = {
            "minimum": ">=",
            "exclusiveMinimum": ">",
            "maximum": "<=",
            "exclusiveMaximum": "<",
        }
        return (
            f"{subject} is out of range; it must be {op[kind]} {error.validator_value}"
        )
    if kind == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{subject} has the wrong type; it must be a(n) {want}"
    if kind == "pattern":
        return (
            f"{key}: name {_short(value)} is not valid; use lower_snake_case letters, digits "
            "and underscores, starting with a letter"
        )
    return f"{subject}: {error.message}"


def _check_params(where, kind, name, params, skip=()):
    """Every key of `params` must be a keyword parameter of registry entry `name`."""
    defaults = registry(kind).parameters(name)
    accepted = [p for p in defaults if p not in skip]
    for key in params or {}:
        if key not in accepted:
            raise NngridError(
                f"config error: {where} key {key!r} is not a parameter of {kind[:-1]} {name!r}; "
                f"valid choices: {', '.join(accepted) or 'none'}"
            )
        default = defaults[key]
        if isinstance(params[key], bool) and not isinstance(default, bool):
            raise NngridError(
                f"config error: {where}.{key} = {json.dumps(params[key])} is a boolean, but "
                f"{kind[:-1]} {name!r} takes a number there (default {default!r}); give a number"
            )
    try:  # the component checks its own values (a dropout rate of 1.5, p < 1, ...)
        registry(kind).create(name, **(params or {}))
    except (NngridError, TypeError, ValueError) as exc:
        raise NngridError(f"config error: {where} = {_short(params)}: {exc}") from None


def _check_finite(node, path):
    """Refuse NaN and infinities anywhere (JSON Schema's bounds let NaN through)."""
    if isinstance(node, float) and not math.isfinite(node):
        raise NngridError(
            f"config error: {_key(path)} = {node} is not a finite number; give a finite number"
        )
    if isinstance(node, dict):
        for key, value in node.items():
            _check_finite(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_finite(value, (*path, i))


def check_config(cfg, schema_path):
    """Validate `cfg` in place against the schema (defaults filled in) and cross-check names.

    Raises NngridError with one line: the key, the bad value and the valid choices.
    """
    _check_size(cfg)
    schema = yaml.safe_load(Path(schema_path).read_text())
    _fill_enums(schema, cfg)
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](
            validator, properties, instance, subschema
        )

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(cfg))
    if error is not None:
        raise NngridError(f"config error: {explain(error)}")
    _check_finite(cfg, ())
    for label in cfg["datasets"]:
        kind = cfg["datasets"][label].get("kind", label)
        if kind not in registry("datasets"):
            raise NngridError(
                f"config error: datasets.{label} has no kind and {label!r} is not a dataset; "
                f"valid choices: {', '.join(registry('datasets').names())}"
            )
    for label, spec in cfg["datasets"].items():
        val = spec.get("val_fraction", cfg["splits"]["val_fraction"])
        test = spec.get("test_fraction", cfg["splits"]["test_fraction"])
        if val + test >= 1:
            raise NngridError(
                f"config error: splits of datasets.{label}: val_fraction {val} + test_fraction "
                f"{test} = {val + test:g} leaves no training data; make their sum < 1"
            )
    for where, training in [("training", cfg["training"])] + [
        (f"studies.{name}.training", {**cfg["training"], **s.get("training", {})})
        for name, s in cfg["studies"].items()
        if "training" in s
    ]:
        _check_params(
            f"{where}.schedule_params",
            "schedules",
            training.get("schedule", "constant"),
            training.get("schedule_params"),
        )
    for label, spec in cfg["datasets"].items():
        _check_params(
            f"datasets.{label}.params",
            "datasets",
            spec.get("kind", label),
            spec.get("params"),
        )
    for label, spec in cfg["regularizers"].items():
        kind = spec.get("kind", label)
        if kind not in registry("regularizers"):
            raise NngridError(
                f"config error: regularizers.{label} has no kind and {label!r} is not a "
                f"regularizer; valid choices: {', '.join(registry('regularizers').names())}"
            )
        _check_params(
            f"regularizers.{label}.params", "regularizers", kind, spec.get("params")
        )
    for name, spec in cfg["optimizers"].items():
        _check_params(
            f"optimizers.{name}.params",
            "optimizers",
            name,
            spec.get("params"),
            skip=("lr",),
        )
        grid = spec["lr_grid"]
        if grid["high"] <= grid["low"]:
            raise NngridError(
                f"config error: optimizers.{name}.lr_grid has high = {grid['high']} <= "
                f"low = {grid['low']}; make high larger than low"
            )
    _check_experiments(cfg)
    _check_costs(cfg)
    check_architectures(cfg)
    return cfg


# ---------------------------------------------------------------------------------------------
# Configs that would hang the check or fail inside a job: bounded size, duplicate keys, the
# experiments section, and an estimate of every job's memory and work.
# ---------------------------------------------------------------------------------------------

#: The most values (map entries and list items, YAML aliases expanded) and the deepest nesting
#: a config may have; the default study has ~400 values and depth 6.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 50


def _check_size(cfg):
    """Refuse a config that expands past MAX_CONFIG_VALUES before anything walks it.

    YAML aliases load as shared objects, so a "billion laughs" file is small in memory, but
    every walk (the schema check, the job table) would visit its ~10^9 expanded values. The
    sizes are counted once per distinct object (memoised), so the count itself is cheap.
    """
    memo, active = {}, set()

    def size(obj, depth):
        if not isinstance(obj, (dict, list)):
            return 1
        if depth > MAX_CONFIG_DEPTH:
            raise NngridError(
                f"config error: the config nests deeper than {MAX_CONFIG_DEPTH} levels; "
                "flatten it (the study's format is 6 levels deep)"
            )
        key = id(obj)
        if key in memo:
            return memo[key]
        if key in active:
            raise NngridError(
                "config error: the config contains itself (a recursive YAML alias); "
                "remove the alias"
            )
        active.add(key)
        total = 1
        for child in obj.values() if isinstance(obj, dict) else obj:
            total += size(child, depth + 1)
            if total > MAX_CONFIG_VALUES:
                raise NngridError(
                    f"config error: the config expands to more than {MAX_CONFIG_VALUES:,} "
                    "values (YAML aliases nested inside each other, a 'billion laughs'?); "
                    "write the values out without nested aliases"
                )
        active.discard(key)
        memo[key] = total
        return total

    size(cfg, 0)


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader; used here only to compose nodes (which keep their lines)."""


def check_config_file(path):
    """Refuse duplicate keys in a YAML/JSON config file, naming the key and both lines.

    YAML (and Snakemake's loader) silently keeps the last of two equal keys: `epochs: 3` then
    `epochs: 300`, or a second top-level `training:` block. The file is composed into nodes
    only (no values are constructed, no tags run), each node visited once (aliases included).
    """
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return  # Snakemake read it already; nothing more to learn here
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        return  # not YAML Snakemake would load either; it reports that itself
    finally:
        loader.dispose()
    if node is None:
        return
    seen = set()
    stack = [(node, ())]
    while stack:
        current, where = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            first = {}
            for key_node, value_node in current.value:
                name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if name is not None and key_node.tag != "tag:yaml.org,2002:merge":
                    line = key_node.start_mark.line + 1
                    if name in first:
                        raise NngridError(
                            f"config error: {path}: key {_key((*where, name))} appears twice, "
                            f"at lines {first[name]} and {line} (YAML would keep the last "
                            "silently); keep one"
                        )
                    first[name] = line
                stack.append((value_node, (*where, name if name is not None else "?")))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*where, i)) for i, item in enumerate(current.value))


def _check_experiments(cfg):
    """The experiments section gets the grid's checks: unknown keys, types, ranges, names.

    Each experiment's keys must be keyword parameters of the function of the same name in
    nngrid.experiments (its `settings` says which), and each value must suit the parameter's
    annotation: integers (not booleans) >= 1 for counts (>= 0 for seeds), finite numbers,
    strings, lists of them; names of activations, optimizers, initializers and datasets must
    be registered. `lr_grid` is `{low, high, points}` or a list of rates.
    """
    import inspect

    from nngrid import experiments

    section = cfg.get("experiments") or {}
    seed = section.get("seed", 0)
    registries = {
        "activation": "activations",
        "activations": "activations",
        "names": "activations",
        "optimizer": "optimizers",
        "optimizers": "optimizers",
        "initializers": "initializers",
        "dataset": "datasets",
        "datasets": "datasets",
    }
    for name, settings in section.items():
        if name == "seed":
            continue
        where = f"experiments.{name}"
        try:
            experiments.settings(name, settings, seed)
        except NngridError as exc:
            raise NngridError(f"config error: {exc}") from None
        except Exception as exc:  # a malformed lr_grid ...
            raise NngridError(
                f"config error: {where} = {_short(settings)}: {type(exc).__name__}: {exc}"
            ) from None
        params = inspect.signature(experiments.EXPERIMENTS[name]).parameters
        for key, value in settings.items():
            if key in experiments.PLOT_KEYS:
                continue
            _check_experiment_value(
                f"{where}.{key}",
                key,
                value,
                str(params[key].annotation),
                registries.get(key),
            )


def _experiment_error(where, value, want):
    return NngridError(
        f"config error: {where} = {_short(value)} is not valid; it must be {want}"
    )


def _check_int(where, value, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _experiment_error(where, value, f"an integer >= {low}")
    if value >= 2**63:
        raise _experiment_error(where, value, "an integer < 2**63")


def _check_experiment_value(where, key, value, annotation, kind):
    low = 0 if "seed" in key else 1
    optional = annotation.endswith("| None")
    if value is None and optional:
        return
    base = annotation.removesuffix(" | None")
    if key == "lr_grid":
        if isinstance(value, dict):
            if set(value) != {"low", "high", "points"}:
                raise _experiment_error(where, value, "{low, high, points}")
            for part in ("low", "high"):
                _check_number(f"{where}.{part}", value[part], positive=True)
            _check_int(f"{where}.points", value["points"], 1)
            if value["high"] < value["low"]:
                raise _experiment_error(where, value, "a grid with high >= low")
            return
        base = "Sequence[float]"
    if base == "int":
        _check_int(where, value, low)
    elif base == "float":
        _check_number(where, value)
    elif base == "str":
        if not isinstance(value, str):
            raise _experiment_error(where, value, "a name (text)")
        _check_registered(where, value, kind)
    elif base.startswith("Sequence["):
        item = base[len("Sequence[") : -1]
        if not isinstance(value, list) or not value:
            raise _experiment_error(where, value, "a non-empty list")
        for i, v in enumerate(value):
            here = f"{where}[{i}]"
            if item == "int":
                _check_int(here, v, low)
            elif item == "int | None":
                if v not in (None, "full"):
                    _check_int(here, v, 1)
            elif item == "float":
                _check_number(here, v, positive=True)
            elif item == "str":
                if not isinstance(v, str):
                    raise _experiment_error(here, v, "a name (text)")
                _check_registered(here, v, kind)
    elif base.startswith("dict"):
        if not isinstance(value, dict):
            raise _experiment_error(where, value, "a mapping")


def _check_number(where, value, positive=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or (positive and value <= 0):
        want = "a finite number > 0" if positive else "a finite number"
        raise _experiment_error(where, value, want)


def _check_registered(where, value, kind):
    if kind is not None and value not in registry(kind):
        raise NngridError(
            f"config error: {where} = {value!r} is not valid; valid choices: "
            f"{', '.join(registry(kind).names())}"
        )


#: Features and classes of the dataset kinds that fix them; the others read `n_features` and
#: `n_classes` from their params (defaults 2 features, 10 classes: an upper bound).
SHIPPED_SHAPES = {"digits": (64, 10), "mnist1d": (40, 10)}
#: Longest estimated training job accepted (minutes of CPU on this machine's measured speed).
MAX_JOB_MINUTES = 7 * 24 * 60


def _machine_memory():
    """Physical memory of this machine in bytes (the limit of one job's estimate)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def job_cost(cfg, study, dataset, optimizer):
    """Estimated peak memory (bytes) and work (minutes, as train_runtime counts) of one job.

    Memory: the dataset (kept, converted and standardised: 3 float64 copies) plus the largest
    replica stack (max(lr_grid.points x tuning seeds, 2 x seeds) replicas) x (parameters,
    gradients and up to
    4 optimizer/work copies of them + 4 work arrays per layer for one batch + 2 for a forward
    over the whole dataset). A rough upper estimate: what it refuses cannot run.
    """
    spec = job_spec(cfg, study, dataset, optimizer)
    data = dataset_spec(dataset, cfg)
    kind = data["kind"]
    params = {**registry("datasets").parameters(kind), **data["params"]}
    n = int(params.get("n_samples", SHIPPED_SIZES.get(kind, 1000)))
    d, c = SHIPPED_SHAPES.get(
        kind, (params.get("n_features", 2), params.get("n_classes", 10))
    )
    training = spec["training"]
    itemsize = 8 if training.get("dtype") == "float64" else 4
    widths = [int(d), *training["hidden"], int(c)]
    n_params = sum(a * b + b for a, b in zip(widths, widths[1:]))
    grid = spec["optimizers"][0]["lr_grid"]
    points = grid["points"] if isinstance(grid, dict) else len(grid)
    # points tried past an edge, at most on both
    extend = spec["tuning"].get("extend", 2)
    tune_seeds = min(len(spec["seeds"]), spec["tuning"].get("seeds", 3))
    stack = max(points * tune_seeds, 2 * len(spec["seeds"]))
    n_train = max(1, n * (1 - data["val_fraction"] - data["test_fraction"]))
    batch = min(training.get("batch_size") or n_train, n_train)
    units = sum(widths[1:])
    memory = 3 * n * (d + 1) * 8 + stack * itemsize * (
        6 * n_params + 4 * batch * units + 2 * n * max(widths[1:])
    )
    cells = len(spec["activations"]) * len(spec["regularizers"])
    replicas = cells * ((points + 2 * extend) * tune_seeds + 2 * len(spec["seeds"]))
    width = max(1.0, max(training["hidden"]) / 64) ** 2
    seconds = replicas * training["epochs"] * n_train * width
    minutes = 4 * seconds * SECONDS_PER_REPLICA_EPOCH_EXAMPLE / 60
    factors = {
        "training.hidden": (training["hidden"], max(training["hidden"]) / 64),
        f"optimizers.{optimizer}.lr_grid.points": (points, points / 20),
        "training.seeds": (spec["seeds"], len(spec["seeds"]) / 10),
        f"datasets.{dataset}.params.n_samples": (n, n / 10_000),
        "training.epochs": (training["epochs"], training["epochs"] / 1000),
        "training.batch_size": (training.get("batch_size"), batch / 1000),
    }
    return memory, minutes, factors


def _culprits(factors, keys):
    """`key = value` of the factors named in `keys`, the largest (relative to a typical study)
    first."""
    ranked = sorted(keys, key=lambda k: -factors[k][1])
    return ", ".join(f"{k} = {_short(factors[k][0], 30)}" for k in ranked)


def _check_costs(cfg):
    """Refuse at load a job whose estimated memory exceeds this machine's RAM or whose work
    exceeds MAX_JOB_MINUTES, naming the job, the keys that drive it, the estimate and limit.
    """
    from nngrid.io import human_bytes

    limit = _machine_memory()
    for row in job_table(cfg).to_dict("records"):
        memory, minutes, factors = job_cost(
            cfg, row["study"], row["dataset"], row["optimizer"]
        )
        job = f"{row['study']}/{row['dataset']}/{row['optimizer']}"
        if memory > limit:
            keys = [k for k in factors if not k.endswith("epochs")]
            raise NngridError(
                f"config error: job {job} needs an estimated {human_bytes(memory)} of memory, "
                f"more than this machine's {human_bytes(limit)} (driven by "
                f"{_culprits(factors, keys)}); make the largest of them smaller"
            )
        if minutes > MAX_JOB_MINUTES:
            keys = [k for k in factors if not k.endswith("batch_size")]
            raise NngridError(
                f"config error: job {job} needs an estimated {minutes:,.0f} minutes of "
                f"training, more than the limit of {MAX_JOB_MINUTES:,} (7 days; driven by "
                f"{_culprits(factors, keys)}); make the largest of them smaller"
            )


# ---------------------------------------------------------------------------------------------
# The grid: one training job per study x dataset x optimizer; inside it, every regularizer x
# activation cell of the study runs the protocol in turn. Smaller jobs (one per regularizer too)
# spent ~20% of their training time on process start and file I/O; see docs/BENCHMARKS.md.
# The optimizer stays a wildcard so that a changed lr grid reruns only that optimizer's jobs.
# ---------------------------------------------------------------------------------------------

JOB_AXES = ["study", "dataset", "optimizer"]
RUN = "results/runs/{study}/{dataset}/{optimizer}.json"


def job_table(cfg):
    """A DataFrame with one row per training job (columns JOB_AXES)."""
    rows = [
        {"study": study, "dataset": dataset, "optimizer": optimizer}
        for study, s in cfg["studies"].items()
        if "architectures" not in s  # the architectures arm has jobs of its own
        for dataset, optimizer in itertools.product(s["datasets"], s["optimizers"])
    ]
    return pd.DataFrame(rows, columns=JOB_AXES)


def cell_table(cfg):
    """A DataFrame with one row per dataset x activation x regularizer x optimizer cell."""
    rows = [
        dict(
            zip(
                ["study", "dataset", "activation", "regularizer", "optimizer"],
                (study, *c),
            )
        )
        for study, s in cfg["studies"].items()
        if "architectures" not in s
        for c in itertools.product(
            s["datasets"], s["activations"], s["regularizers"], s["optimizers"]
        )
    ]
    return pd.DataFrame(rows)


def alternatives(names):
    """A regex matching exactly one of `names` (so `relu` never matches `leaky_relu`)."""
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


def training_settings(cfg, study):
    """The study's training settings: the shared block overridden by the study's own."""
    return {**cfg["training"], **cfg["studies"][study].get("training", {})}


def job_spec(cfg, study, dataset, optimizer):
    """The spec `python -m nngrid.protocol` runs: every hyperparameter of one job."""
    study_cfg = cfg["studies"][study]
    training = training_settings(cfg, study)
    seeds = training.pop("seeds")
    opt = cfg["optimizers"][optimizer]
    regs = cfg["regularizers"]
    return {
        "axes": {"study": study, "dataset": dataset},
        "activations": list(study_cfg["activations"]),
        "regularizers": [
            {
                "label": label,
                "kind": regs[label].get("kind", label),
                "params": regs[label].get("params", {}),
            }
            for label in study_cfg["regularizers"]
        ],
        "optimizers": [
            {
                "name": optimizer,
                "lr_grid": opt["lr_grid"],
                "default_lr": opt.get("default_lr"),
                "params": opt.get("params", {}),
            }
        ],
        "seeds": seeds,
        "tuning": dict(cfg.get("tuning", {})),
        "training": training,
    }


def spec_param(wildcards):
    """The job spec as canonical JSON text (a `params:` value: a change reruns the job)."""
    return canonical(
        job_spec(config, wildcards.study, wildcards.dataset, wildcards.optimizer)
    )


def dataset_spec(label, cfg=None):
    """How to build dataset `label`: kind, seed, split fractions and generator params
    (of `cfg`, by default the workflow's config)."""
    cfg = config if cfg is None else cfg
    spec = cfg["datasets"][label]
    return {
        "kind": spec.get("kind", label),
        "seed": spec.get("data_seed", cfg["data_seed"]),
        "val_fraction": spec.get("val_fraction", cfg["splits"]["val_fraction"]),
        "test_fraction": spec.get("test_fraction", cfg["splits"]["test_fraction"]),
        "params": spec.get("params", {}),
    }


def canonical(value):
    """`value` as JSON with sorted keys: a `params:` value that changes only when the data does
    (Snakemake compares params as text, and dict order depends on the config file's order).
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# The core's hash: training reruns when the code on the training path changes.
# ---------------------------------------------------------------------------------------------

# Modules of src/nngrid that never influence a training result.
NOT_CORE = {"tables.py", "report.py", "claims.py", "cli.py", "__main__.py"}


def source_hash(files):
    """sha256 over the (relative name, bytes) of `files`, first 16 hex digits.

    The sources of the plugin modules in NNGRID_PLUGINS enter every such hash (a plugin can
    register or change anything), so editing a plugin reruns the jobs; without plugins the
    hash is that of `files` alone.
    """
    from nngrid.plugins import load_plugins, sources_digest

    root = Path(nngrid.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(
            b"\0".join([str(path.relative_to(root)).encode(), path.read_bytes(), b""])
        )
    load_plugins()
    plugins = sources_digest()
    if plugins:
        digest.update(b"\0".join([b"plugins", plugins.encode()]))
    return digest.hexdigest()[:16]


def core_files():
    root = Path(nngrid.__file__).parent
    return [p for p in root.glob("*.py") if p.name not in NOT_CORE]


def data_files():
    root = Path(nngrid.__file__).parent
    return [
        root / name for name in ("datasets.py", "io.py", "registry.py", "errors.py")
    ]


def validate_config(cfg, schema):
    """check_config with the schema path taken relative to the Snakefile, after every config
    file Snakemake loaded has been re-read for duplicate keys (check_config_file)."""
    for path in workflow.configfiles:
        check_config_file(path)
    return check_config(cfg, Path(workflow.basedir) / schema)


def run_targets(jobs):
    """The JSON path of every job of the job table."""
    return [RUN.format(**row) for row in jobs.to_dict("records")]


def data_targets(cfg):
    """Every dataset file the studies use."""
    used = {d for s in cfg["studies"].values() for d in s["datasets"]}
    return [f"results/data/{d}.npz" for d in cfg["datasets"] if d in used]


def warn_missing_results(runs, tables):
    """Name, in one line on stderr, the job results missing while the tables made from them
    exist (deleted by hand, or by Snakemake after their job failed), with the command that
    remakes them; return them. `rule all` asks for every result, so a plain `snakemake`
    remakes them; a run that asks for the tables alone says "Nothing to be done"."""
    if not Path(tables).exists():
        return []
    missing = [p for p in runs if not Path(p).exists()]
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        print(
            f"nngrid: {len(missing)} job result(s) missing while the tables exist ({shown}); "
            "`snakemake` remakes them and the tables (`snakemake --until tables` without "
            "the figures)",
            file=sys.stderr,
        )
    return missing


#: Final outputs of the collection step (rule all asks for these and for FINAL_TARGETS).
TABLES = [
    "results/tables/runs.parquet",
    "results/tables/runs.csv",
    "results/tables/summary.parquet",
    "results/tables/summary.csv",
    "results/tables/rankings.csv",
    "results/tables/histories.parquet",
]


#: CPU seconds per replica, epoch and training example for hidden widths up to 64, measured on
#: this machine (docs/BENCHMARKS.md); wider layers cost (width / 64)^2 times more.
SECONDS_PER_REPLICA_EPOCH_EXAMPLE = 1.2e-6
#: Dataset sizes of the kinds without an `n_samples` parameter.
SHIPPED_SIZES = {"digits": 1797, "mnist1d": 4000}


def train_runtime(wildcards):
    """Wall-time limit in minutes of one training job (for cluster executors).

    The measured cost per replica-epoch-example times the job's replicas, epochs and training
    examples, times a safety factor of 4 (job_cost); at least 10 minutes.
    """
    _, minutes, _ = job_cost(
        config, wildcards.study, wildcards.dataset, wildcards.optimizer
    )
    return max(10, math.ceil(minutes))


# ---------------------------------------------------------------------------------------------
# The architectures arm (nngrid.experiments.architectures): a study that names `architectures`
# (layer lists of the config's `architectures` section) trains those networks instead of the
# MLP of `training.hidden`; one job per study x dataset x architecture x optimizer, each
# regularizer x activation of the study a cell inside it. Its rows never enter the grid's tables
# or rankings (they have an axis the grid has not); they are merged into ARCH_RESULT.
# ---------------------------------------------------------------------------------------------

ARCH_AXES = ["study", "dataset", "architecture", "optimizer"]
ARCH_RUN = "results/architectures/{study}/{dataset}/{architecture}/{optimizer}.npz"
ARCH_RESULT = "results/tables/architectures.npz"


def is_architecture_study(cfg, study):
    return "architectures" in cfg["studies"][study]


def architecture_jobs(cfg):
    """A DataFrame with one row per architectures job (columns ARCH_AXES)."""
    rows = [
        dict(zip(ARCH_AXES, (study, *c)))
        for study, s in cfg["studies"].items()
        if "architectures" in s
        for c in itertools.product(s["datasets"], s["architectures"], s["optimizers"])
    ]
    return pd.DataFrame(rows, columns=ARCH_AXES)


def architecture_targets(cfg):
    return [ARCH_RUN.format(**row) for row in architecture_jobs(cfg).to_dict("records")]


def check_architectures(cfg):
    """Every architecture's layers parse, and fit every dataset of every study that names it."""
    from nngrid.experiments.architectures import check_fit, kinds

    for name, arch in cfg.get("architectures", {}).items():
        try:
            kinds(arch["layers"])
        except NngridError as exc:
            raise NngridError(
                f"config error: architectures.{name}.layers: {exc}"
            ) from None
    for study, s in cfg["studies"].items():
        for name in s.get("architectures", []):
            for label in s["datasets"]:
                kind = cfg["datasets"][label].get("kind", label)
                try:
                    check_fit(name, cfg["architectures"][name]["layers"], label, kind)
                except NngridError as exc:
                    raise NngridError(f"config error: studies.{study}: {exc}") from None


def architecture_spec(cfg, study, dataset, architecture, optimizer):
    """The spec `python -m nngrid.experiments.architectures` runs for one job."""
    s = cfg["studies"][study]
    arch = cfg["architectures"][architecture]
    training = training_settings(cfg, study)
    opt = cfg["optimizers"][optimizer]
    regs = cfg["regularizers"]
    acts = [
        a for a in s["activations"] if a in arch.get("activations", s["activations"])
    ]
    options = dict(s.get("architecture_options", {}))
    lr_grid = arch.get("lr_grid", options.pop("lr_grid", opt["lr_grid"]))
    options.pop("lr_grid", None)
    tuning = options.pop("tuning", cfg.get("tuning", {}))
    # an architecture's own budget (epochs, seeds) replaces the study's
    training = {**training, **{k: arch[k] for k in ("epochs", "seeds") if k in arch}}
    return {
        "axes": {
            "study": study,
            "dataset": dataset,
            "architecture": architecture,
            "optimizer": optimizer,
        },
        "shuffled": bool(
            cfg["datasets"][dataset].get("params", {}).get("shuffle_positions", False)
        ),
        "layers": arch["layers"],
        "clip_norm": arch.get("clip_norm"),
        "activations": acts or list(arch["activations"]),
        "regularizers": [
            {
                "label": label,
                "kind": regs[label].get("kind", label),
                "params": regs[label].get("params", {}),
            }
            for label in s["regularizers"]
        ],
        "optimizer": {
            "name": optimizer,
            "lr_grid": lr_grid,
            "params": opt.get("params", {}),
        },
        "seeds": training["seeds"],
        "tuning": dict(tuning),
        "training": {
            "epochs": training["epochs"],
            "batch_size": training.get("batch_size", 100),
            "dtype": training.get("dtype", "float32"),
            **options,
        },
    }


def architecture_spec_param(wildcards):
    return canonical(
        architecture_spec(
            config,
            wildcards.study,
            wildcards.dataset,
            wildcards.architecture,
            wildcards.optimizer,
        )
    )


def architecture_runtime(wildcards):
    """Wall-time limit in minutes of one architectures job (cluster executors): a replica-epoch
    on 4,000 MNIST-1D points costs at most ~1.5 CPU-seconds (measured for the pooled CNN, the
    dearest of the config's networks, in stacks of 8: 0.36 s per 1,000 points; the mnist1d CNN
    0.17, the LSTM 0.24, the GRU 0.12, the RNN 0.08, the MLP 0.03), times the job's replicas and
    epochs, times a safety factor of 4; at least 10 minutes."""
    spec = architecture_spec(
        config,
        wildcards.study,
        wildcards.dataset,
        wildcards.architecture,
        wildcards.optimizer,
    )
    grid = spec["optimizer"]["lr_grid"]
    points = grid["points"] + 2 * spec["tuning"].get("extend", 2)
    seeds = len(spec["seeds"])
    tune_seeds = min(seeds, spec["tuning"].get("seeds", 3))
    cells = len(spec["activations"]) * len(spec["regularizers"])
    n = spec["training"].get("n_train", 4000)
    replica_epochs = cells * (points * tune_seeds + seeds) * spec["training"]["epochs"]
    seconds = 1.5 * replica_epochs * n / 4000
    return max(10, math.ceil(4 * seconds / 60))
