"""Loading and checking the workflow's config: every mistake is one line naming the key, the
bad value and the valid choices or the fix (an :class:`~nngrid.errors.NngridError` that starts
with ``config error:``), before any job runs.

:func:`validate` is what the Snakefile calls (through ``workflow/rules/common.smk``): each config
file re-read for duplicate keys (:func:`check_config_file`), then :func:`check_config`: the size
limits, the JSON Schema of ``workflow/schemas/config.schema.yaml`` with its ``x-registry`` /
``x-config-keys`` placeholders filled from the registries and the config (:func:`fill_enums`;
defaults filled in), finite numbers, dataset kinds and splits, every ``params`` block against its
component, the experiments section, each job's estimated memory and work, and the architectures.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from nngrid.core.registry import check_params
from nngrid.data_files import check_dataset_entry
from nngrid.errors import NngridError
from nngrid.study.costs import job_cost, machine_memory
from nngrid.study.integrity import MAX_JOB_MINUTES, check_dataset_finite, check_labels
from nngrid.study.jobs import dataset_spec, job_table
from nngrid.study.search import parse_space

#: The most values (map entries and list items, YAML aliases expanded) and the deepest nesting
#: a config may have; the default study has ~400 values and depth 6.
MAX_CONFIG_VALUES = 100_000
MAX_CONFIG_DEPTH = 50


def registry(kind: str) -> Any:
    """The core's registry of one kind (plugins named in NNGRID_PLUGINS included)."""
    from nngrid.plugins import load_plugins, registries

    load_plugins()
    return registries()[kind]


def validate(cfg: dict, schema_path: str | Path, config_files: Iterable[str | Path] = ()) -> dict:
    """:func:`check_config` of ``cfg``, after every file in ``config_files`` (the config files
    Snakemake loaded) has been re-read for duplicate keys (:func:`check_config_file`)."""
    for path in config_files:
        check_config_file(path)
    return check_config(cfg, schema_path)


# --------------------------------------------------------------------------- the schema


def fill_enums(node: Any, cfg: dict) -> None:
    """Give every ``x-registry`` / ``x-config-keys`` placeholder in a schema its ``enum``."""
    if isinstance(node, dict):
        if "x-registry" in node:
            node["enum"] = registry(node["x-registry"]).names()
        if "x-config-keys" in node:
            section = cfg.get(node["x-config-keys"])
            node["enum"] = list(section) if isinstance(section, dict) else []
        for value in node.values():
            fill_enums(value, cfg)
    elif isinstance(node, list):
        for value in node:
            fill_enums(value, cfg)


def _key(path: Iterable) -> str:
    """``studies.grid.activations[2]`` from a jsonschema path."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<config>"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The most specific error under anyOf/oneOf/allOf (what the user actually got wrong)."""
    while error.context:
        error = jsonschema.exceptions.best_match(error.context)
    return error


_BOUNDS = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}


def explain(error: jsonschema.ValidationError) -> str:
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
    if kind in _BOUNDS:
        return f"{subject} is out of range; it must be {_BOUNDS[kind]} {error.validator_value}"
    if kind == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{subject} has the wrong type; it must be a(n) {want}"
    if kind == "maxLength":
        return (
            f"{key}: name {_short(value)} is longer than {error.validator_value} characters; "
            "give a shorter name"
        )
    if kind == "pattern":
        return (
            f"{key}: name {_short(value)} is not valid; use lower_snake_case letters, digits "
            "and underscores, starting with a letter"
        )
    return f"{subject}: {error.message}"


def _check_schema(cfg: dict, schema_path: str | Path) -> None:
    """Validate ``cfg`` in place against the schema, filling in its defaults."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    fill_enums(schema, cfg)
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for prop, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(prop, copy.deepcopy(sub["default"]))
        yield from base.VALIDATORS["properties"](validator, properties, instance, subschema)

    validator = jsonschema.validators.extend(base, {"properties": set_defaults})(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(cfg))
    if error is not None:
        raise NngridError(f"config error: {explain(error)}")


# --------------------------------------------------------------------------- the whole config


def check_config(cfg: dict, schema_path: str | Path) -> dict:
    """Validate ``cfg`` in place against the schema (defaults filled in) and cross-check names.

    Raises NngridError with one line: the key, the bad value and the valid choices.
    """
    check_size(cfg)
    _check_schema(cfg, schema_path)
    _check_finite(cfg, ())
    _check_datasets(cfg)
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
        if check_dataset_entry(label, spec):  # kind: file, read and checked in full
            continue
        _check_params(
            f"datasets.{label}.params", "datasets", spec.get("kind", label), spec.get("params")
        )
        check_dataset_finite(f"datasets.{label}.params", dataset_spec(cfg, label))
    _check_regularizers(cfg)
    _check_optimizers(cfg)
    check_experiments(cfg)
    check_costs(cfg)
    check_architectures(cfg)
    return cfg


def _check_finite(node: Any, path: tuple) -> None:
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


def _check_datasets(cfg: dict) -> None:
    """Every dataset has a registered kind and leaves training data after its splits."""
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


def _check_regularizers(cfg: dict) -> None:
    for label, spec in cfg["regularizers"].items():
        kind = spec.get("kind", label)
        if kind not in registry("regularizers"):
            raise NngridError(
                f"config error: regularizers.{label} has no kind and {label!r} is not a "
                f"regularizer; valid choices: {', '.join(registry('regularizers').names())}"
            )
        _check_params(f"regularizers.{label}.params", "regularizers", kind, spec.get("params"))


def _check_optimizers(cfg: dict) -> None:
    for name, spec in cfg["optimizers"].items():
        _check_params(
            f"optimizers.{name}.params", "optimizers", name, spec.get("params"), skip=("lr",)
        )
        grid = spec["lr_grid"]
        if grid["high"] <= grid["low"]:
            raise NngridError(
                f"config error: optimizers.{name}.lr_grid has high = {grid['high']} <= "
                f"low = {grid['low']}; make high larger than low"
            )
        if "search" in spec:
            try:
                parse_space(name, spec["search"])
            except NngridError as exc:
                raise NngridError(f"config error: {exc}") from None
    for study, s in cfg["studies"].items():
        tuning = {**cfg.get("tuning", {}), **s.get("tuning", {})}
        if tuning.get("protocol") != "full" or "architectures" in s:
            continue
        lacking = [o for o in s["optimizers"] if "search" not in cfg["optimizers"][o]]
        if lacking:
            raise NngridError(
                f"config error: study {study!r} tunes by the full protocol but "
                f"optimizers.{lacking[0]} has no search space; give optimizers.{lacking[0]}."
                "search (config/README.md, 'Tuning protocols') or another protocol"
            )


def _check_params(
    where: str, kind: str, name: str, params: dict | None, skip: Iterable[str] = ()
) -> None:
    """Every key of ``params`` must be a declared parameter of registry entry ``name``, within
    its declared bounds (nngrid.core.registry.check_params reads the declarations)."""
    try:
        check_params(registry(kind), name, params, where=where, skip=skip)
    except NngridError as exc:
        raise NngridError(f"config error: {exc}") from None


# --------------------------------------------------------------------------- size and duplicates
# Configs that would hang the check: bounded size and nesting, and duplicate keys (which YAML
# would drop silently).


def check_size(cfg: Any) -> None:
    """Refuse a config that expands past MAX_CONFIG_VALUES before anything walks it.

    YAML aliases load as shared objects, so a "billion laughs" file is small in memory, but
    every walk (the schema check, the job table) would visit its ~10^9 expanded values. The
    sizes are counted once per distinct object (memoised), so the count itself is cheap.
    """
    memo: dict[int, int] = {}
    active: set[int] = set()

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


def check_config_file(path: str | Path) -> None:
    """Refuse duplicate keys in a YAML/JSON config file, naming the key and both lines.

    YAML (and Snakemake's loader) silently keeps the last of two equal keys: ``epochs: 3`` then
    ``epochs: 300``, or a second top-level ``training:`` block. The file is composed into nodes
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


# --------------------------------------------------------------------------- experiments

#: The registry whose names an experiment's key holds.
_EXPERIMENT_REGISTRIES = {
    "activation": "activations",
    "activations": "activations",
    "names": "activations",
    "optimizer": "optimizers",
    "optimizers": "optimizers",
    "initializers": "initializers",
    "dataset": "datasets",
    "datasets": "datasets",
}


def check_experiments(cfg: dict) -> None:
    """The experiments section gets the grid's checks: unknown keys, types, ranges, names.

    Each experiment's keys must be keyword parameters of the function of the same name in
    nngrid.study.experiments (its ``settings`` says which), and each value must suit the parameter's
    annotation: integers (not booleans) >= 1 for counts (>= 0 for seeds), finite numbers,
    strings, lists of them; names of activations, optimizers, initializers and datasets must
    be registered. ``lr_grid`` is ``{low, high, points}`` or a list of rates.
    """
    from nngrid.study import experiments

    section = cfg.get("experiments") or {}
    check_labels(section, "experiments")  # cures, datasets ...: names, never markup
    seed = section.get("seed", 0)
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
                _EXPERIMENT_REGISTRIES.get(key),
            )


def _experiment_error(where: str, value: Any, want: str) -> NngridError:
    return NngridError(f"config error: {where} = {_short(value)} is not valid; it must be {want}")


def _check_int(where: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _experiment_error(where, value, f"an integer >= {low}")
    if value >= 2**63:
        raise _experiment_error(where, value, "an integer < 2**63")


def _check_number(where: str, value: Any, positive: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or (positive and value <= 0):
        want = "a finite number > 0" if positive else "a finite number"
        raise _experiment_error(where, value, want)


def _check_name(where: str, value: Any, kind: str | None) -> None:
    """A name (text), registered in ``kind``'s registry when the key names one."""
    if not isinstance(value, str):
        raise _experiment_error(where, value, "a name (text)")
    if kind is not None and value not in registry(kind):
        raise NngridError(
            f"config error: {where} = {value!r} is not valid; valid choices: "
            f"{', '.join(registry(kind).names())}"
        )


def _check_lr_grid(where: str, value: dict) -> None:
    if set(value) != {"low", "high", "points"}:
        raise _experiment_error(where, value, "{low, high, points}")
    for part in ("low", "high"):
        _check_number(f"{where}.{part}", value[part], positive=True)
    _check_int(f"{where}.points", value["points"], 1)
    if value["high"] < value["low"]:
        raise _experiment_error(where, value, "a grid with high >= low")


def _check_experiment_value(
    where: str, key: str, value: Any, annotation: str, kind: str | None
) -> None:
    low = 0 if "seed" in key else 1
    if value is None and annotation.endswith("| None"):
        return
    base = annotation.removesuffix(" | None")
    if key == "lr_grid":
        if isinstance(value, dict):
            _check_lr_grid(where, value)
            return
        base = "Sequence[float]"
    if base == "int":
        _check_int(where, value, low)
    elif base == "float":
        _check_number(where, value)
    elif base == "str":
        _check_name(where, value, kind)
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
                _check_name(here, v, kind)
    elif base.startswith("dict"):
        if not isinstance(value, dict):
            raise _experiment_error(where, value, "a mapping")


# --------------------------------------------------------------------------- costs, architectures


def _culprits(factors: dict, keys: Iterable[str]) -> str:
    """``key = value`` of the factors named in ``keys``, the largest (relative to a typical
    study) first."""
    ranked = sorted(keys, key=lambda k: -factors[k][1])
    return ", ".join(f"{k} = {_short(factors[k][0], 30)}" for k in ranked)


def _too_costly(job: str, need: str, factors: dict, unrelated: str) -> NngridError:
    """The error for a job that needs ``need``, naming the factors (all but ``unrelated``)."""
    keys = [k for k in factors if not k.endswith(unrelated)]
    return NngridError(
        f"config error: job {job} needs {need}driven by {_culprits(factors, keys)}); make the "
        "largest of them smaller"
    )


def check_costs(cfg: dict) -> None:
    """Refuse at load a job whose estimated memory exceeds this machine's RAM or whose work
    exceeds MAX_JOB_MINUTES, naming the job, the keys that drive it, the estimate and limit.
    """
    from nngrid.io import human_bytes

    limit = machine_memory()
    for row in job_table(cfg).to_dict("records"):
        memory, minutes, factors = job_cost(cfg, row["study"], row["dataset"], row["optimizer"])
        job = f"{row['study']}/{row['dataset']}/{row['optimizer']}"
        if memory > limit:
            need = (
                f"an estimated {human_bytes(memory)} of memory, more than this machine's "
                f"{human_bytes(limit)} ("
            )
            raise _too_costly(job, need, factors, "epochs")
        if minutes > MAX_JOB_MINUTES:
            need = (
                f"an estimated {minutes:,.0f} minutes of training, more than the limit of "
                f"{MAX_JOB_MINUTES:,} (7 days; "
            )
            raise _too_costly(job, need, factors, "batch_size")


def check_architectures(cfg: dict) -> None:
    """Every architecture's layers parse, and fit every dataset of every study that names it."""
    from nngrid.study.experiments.architectures import check_fit, kinds

    for name, arch in cfg.get("architectures", {}).items():
        try:
            kinds(arch["layers"])
        except NngridError as exc:
            raise NngridError(f"config error: architectures.{name}.layers: {exc}") from None
    for study, s in cfg["studies"].items():
        for name in s.get("architectures", []):
            for label in s["datasets"]:
                kind = cfg["datasets"][label].get("kind", label)
                try:
                    check_fit(
                        name,
                        cfg["architectures"][name]["layers"],
                        label,
                        kind,
                        shape=cfg["datasets"][label].get("shape"),
                    )
                except NngridError as exc:
                    raise NngridError(f"config error: studies.{study}: {exc}") from None
