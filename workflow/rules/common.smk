# Helpers only: config validation, the job table, wildcard constraints, the core's hash and the
# list of final targets. No rules live here.

import copy
import hashlib
import importlib
import itertools
import json
import math
import re
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
    accepted = [p for p in registry(kind).parameters(name) if p not in skip]
    for key in params or {}:
        if key not in accepted:
            raise NngridError(
                f"config error: {where} key {key!r} is not a parameter of {kind[:-1]} {name!r}; "
                f"valid choices: {', '.join(accepted) or 'none'}"
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
    check_architectures(cfg)
    return cfg


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


def dataset_spec(label):
    """How to build dataset `label`: kind, seed, split fractions and generator params."""
    spec = config["datasets"][label]
    return {
        "kind": spec.get("kind", label),
        "seed": config["data_seed"],
        "val_fraction": spec.get("val_fraction", config["splits"]["val_fraction"]),
        "test_fraction": spec.get("test_fraction", config["splits"]["test_fraction"]),
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
    """sha256 over the (relative name, bytes) of `files`, first 16 hex digits."""
    root = Path(nngrid.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(
            b"\0".join([str(path.relative_to(root)).encode(), path.read_bytes(), b""])
        )
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
    """check_config with the schema path taken relative to the Snakefile."""
    return check_config(cfg, Path(workflow.basedir) / schema)


def run_targets(jobs):
    """The JSON path of every job of the job table."""
    return [RUN.format(**row) for row in jobs.to_dict("records")]


def data_targets(cfg):
    """Every dataset file the studies use."""
    used = {d for s in cfg["studies"].values() for d in s["datasets"]}
    return [f"results/data/{d}.npz" for d in cfg["datasets"] if d in used]


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
    examples, times a safety factor of 4; at least 10 minutes.
    """
    spec = job_spec(config, wildcards.study, wildcards.dataset, wildcards.optimizer)
    data = dataset_spec(wildcards.dataset)
    sizes = registry("datasets").parameters(data["kind"])
    n = data["params"].get(
        "n_samples", sizes.get("n_samples", SHIPPED_SIZES.get(data["kind"], 1000))
    )
    n_train = n * (1 - data["val_fraction"] - data["test_fraction"])
    grid = spec["optimizers"][0]["lr_grid"]
    points = (grid["points"] if isinstance(grid, dict) else len(grid)) + 2 * spec[
        "tuning"
    ].get("extend", 2)
    cells = len(spec["activations"]) * len(spec["regularizers"])
    tune_seeds = min(len(spec["seeds"]), spec["tuning"].get("seeds", 3))
    replicas = cells * (points * tune_seeds + 2 * len(spec["seeds"]))
    width = max(1.0, max(spec["training"]["hidden"]) / 64) ** 2
    seconds = replicas * spec["training"]["epochs"] * n_train * width
    return max(10, math.ceil(4 * seconds * SECONDS_PER_REPLICA_EPOCH_EXAMPLE / 60))


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
    lr_grid = options.pop("lr_grid", opt["lr_grid"])
    tuning = options.pop("tuning", cfg.get("tuning", {}))
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
