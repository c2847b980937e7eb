"""The command line: ``nngrid train``, ``nngrid list`` and ``nngrid data``.

``nngrid train`` trains one replica stack (every ``--seed`` x every ``--lr``) with
:func:`nngrid.core.train.train_replicas` and writes the records as JSON: one object for one replica,
a list for several. The choices of ``--activation``, ``--init``, ``--regularizer``,
``--optimizer``, ``--schedule`` and ``--dataset`` are read from the registries, after the plugin
modules (``--plugin MODULE``, repeatable, and the comma-separated ``NNGRID_PLUGINS`` variable)
have been imported, so a plugin's decorated class is a valid choice. The optimizer and
regularizer flags (``--momentum``, ``--betas``, ``--strength``, ...) are generated from the
hyperparameters the registered components declare (:mod:`nngrid.core.hyper`): one flag per
declared name, its value checked against the chosen component's declared range before anything
is trained. ``nngrid list`` prints every component with its declarations.

Every user error prints one line ``nngrid: error: <message>`` on stderr and exits with status 2;
no output file is written then. The training path imports NumPy and nngrid only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from nngrid import plugins
from nngrid.errors import NngridError

EXIT_USAGE = 2

#: The kinds whose declared hyperparameters become ``nngrid train`` flags (``--lr`` apart).
FLAG_KINDS = ("regularizers", "optimizers")


class _UsageError(Exception):
    """An argparse error, turned into one line by :func:`main`."""


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help that states a flag's default only when it has one: no "(default: None)" for
    flags that are unset unless given (their help says what happens then)."""

    def _get_help_string(self, action):
        default = action.default
        unset = default is None or default is False or default is argparse.SUPPRESS
        if unset or (isinstance(default, list | dict) and not default):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


# --------------------------------------------------------------------------- value parsers


def _flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _accuracy(text: str) -> float:
    """A target accuracy: the schema's bounds, 0 < a <= 1."""
    value = _float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1] (an accuracy), got {value:g}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


#: Seeds are stored as int64 in the tables: 0 <= seed < 2**63.
SEED_LIMIT = 2**63


def _seed(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"a seed must be an integer >= 0, got {value}")
    if value >= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"a seed must be < 2**63, got {value}")
    return value


def _list(kind):
    def parse(text: str) -> list:
        parts = [p.strip() for p in text.split(",")]
        if not parts or any(p == "" for p in parts):
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
        return [kind(p) for p in parts]

    return parse


def _hidden(text: str) -> list[int]:
    """Comma-separated widths >= 1; ``none`` (and only ``none``) means no hidden layer."""
    if text.strip() == "none":
        return []
    if text.strip() in ("", "0"):
        raise argparse.ArgumentTypeError(
            f"expected widths >= 1 like 32,32, got {text!r}; write 'none' for no hidden layer"
        )
    return _list(_positive_int)(text)


def _layers(text: str) -> list:
    import yaml

    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise argparse.ArgumentTypeError(
            f"not YAML flow text ({first}); write e.g. '[{{dense: {{units: 32}}}}, flatten]'"
        ) from None
    if not isinstance(spec, list) or not spec:
        raise argparse.ArgumentTypeError(
            f"must be a non-empty list like '[{{dense: {{units: 32}}}}, flatten]', got {text!r}"
        )
    return spec


def _seeds(text: str) -> list[int]:
    seeds = _list(_int)(text)
    if any(s < 0 or s >= SEED_LIMIT for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be >= 0 and < 2**63, got {text!r}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(
            f"seed {repeated[0]} is repeated in {text!r} (its replicas would be identical); "
            "give each seed once"
        )
    return seeds


class _Once(argparse.Action):
    """Store the value, refusing a second occurrence of the flag (``--seed 0 --seed 1`` would
    otherwise silently keep the last)."""

    def __call__(self, parser, namespace, values, option_string=None):
        seen = getattr(namespace, "_given", set())
        if self.dest in seen:
            raise argparse.ArgumentError(
                self, "given twice; give it once with a comma-separated list"
            )
        namespace._given = seen | {self.dest}
        setattr(namespace, self.dest, values)


def _lrs(text: str) -> list[float]:
    lrs = _list(_float)(text)
    bad = [x for x in lrs if not x > 0]
    if bad:
        raise argparse.ArgumentTypeError(f"learning rates must be > 0, got {bad[0]!r}")
    return lrs


def _pair(name: str):
    def parse(text: str) -> tuple[float, float]:
        values = _list(_float)(text)
        if len(values) != 2:
            raise argparse.ArgumentTypeError(f"{name} are two numbers like 0.9,0.999; got {text!r}")
        return (values[0], values[1])

    return parse


def _text(text: str) -> str:
    return text


_FLAG_TYPES = {float: _float, int: _int, str: _text}


def component_flags() -> dict[str, list[tuple[str, str, Any]]]:
    """Every declared hyperparameter of the :data:`FLAG_KINDS` (``lr`` apart), as
    ``flag name -> [(kind, component, Hyper), ...]``, in declaration order."""
    from nngrid.plugins import registries

    out: dict[str, list[tuple[str, str, Any]]] = {}
    for kind in FLAG_KINDS:
        reg = registries()[kind]
        for name in reg:
            for h in reg.hypers(name):
                if h.name != "lr":
                    out.setdefault(h.name, []).append((kind, name, h))
    return out


def _add_component_flags(t: argparse.ArgumentParser) -> None:
    """One flag per declared hyperparameter; its value goes to the chosen component that
    declares it, and is checked against that declaration's bounds before training."""
    taken = {opt for action in t._actions for opt in action.option_strings}
    for key, users in component_flags().items():
        flag = _flag(key)
        if flag in taken:
            kind, name, _ = users[0]
            raise NngridError(
                f"{kind[:-1]} {name!r} declares a hyperparameter {key!r}, but {flag} is "
                "already a flag of nngrid train; rename the hyperparameter"
            )
        h = users[0][2]
        groups: dict[str, list[str]] = {}  # "range, default" -> the components that share it
        for _, name, u in users:
            rng = u.range_text()
            groups.setdefault(f"{rng + ', ' if rng else ''}default {u.default!r}", []).append(name)
        ranges = "; ".join(f"{text} ({', '.join(names)})" for text, names in groups.items())
        text = f"{h.help or key}: {ranges}"
        if h.type is bool:
            t.add_argument(flag, action="store_true", default=None, help=text)
        elif h.type is tuple:
            t.add_argument(flag, type=_pair(key), metavar="A,B", help=text)
        else:
            t.add_argument(flag, type=_FLAG_TYPES[h.type], help=text)
        taken.add(flag)


def _component_params(args: argparse.Namespace, kind: str, name: str) -> dict[str, Any]:
    """The given flags that component ``name`` of ``kind`` declares, checked against its
    declarations; a given flag that neither chosen component takes is refused."""
    from nngrid.plugins import registries

    reg = registries()[kind]
    hypers = {h.name: h for h in reg.hypers(name)}
    params = {}
    for key, users in component_flags().items():
        value = getattr(args, key, None)
        if value is None:
            continue
        if key in hypers:
            params[key] = hypers[key].check(name, value)
            continue
        chosen = {k: getattr(args, k[:-1]) for k in FLAG_KINDS}
        mine = any(k == kind for k, _, _ in users)  # else the other kind's check names it
        if mine and not any(chosen[k] == n for k, n, _ in users):
            valid = ", ".join(_flag(p) for p in hypers if p != "lr") or "none"
            raise NngridError(f"{reg.kind} {name!r} takes no {_flag(key)}; its flags: {valid}")
    return params


def _batch(text: str) -> int | str:
    if text == "full":
        return "full"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"batch size must be a positive integer or 'full', got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch size must be >= 1 or 'full', got {value}")
    return value


def _key_values(text: str) -> dict[str, Any]:
    """``a=1,b=0.5,c=name`` -> {"a": 1, "b": 0.5, "c": "name"}."""
    out: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(f"expected key=value pairs, got {item!r}")
        out[key.strip().replace("-", "_")] = _scalar(raw.strip())
    return out


def _scalar(raw: str) -> Any:
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    if raw in ("true", "false"):
        return raw == "true"
    return raw


# --------------------------------------------------------------------------- plugins


def load_plugins(argv: Sequence[str]) -> list[str]:
    """Import the modules named by ``NNGRID_PLUGINS`` and by ``--plugin`` in ``argv``."""
    extra = []
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg == "--plugin":
            if i + 1 >= len(argv):
                raise NngridError("--plugin needs a module name")
            extra.append(argv[i + 1])
        elif arg.startswith("--plugin="):
            extra.append(arg.split("=", 1)[1])
    return plugins.load_plugins(extra)


# --------------------------------------------------------------------------- the parser


def _add_choice(parser, flag: str, registry, default, help: str, names: str | None = None) -> None:
    """Add ``flag`` to ``parser``: one of ``registry``'s names (metavar ``NAME``), ``default``
    unless given, its help ``help`` followed by the names (or by ``names``, a fuller listing)."""
    choices = registry.names()
    parser.add_argument(
        flag,
        choices=choices,
        default=default,
        metavar="NAME",
        help=f"{help}: {names or ', '.join(choices)}",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; choices come from the registries as they are now."""
    from nngrid import data_files  # noqa: F401 (registers the `file` dataset kind)
    from nngrid.core.activations import ACTIVATIONS
    from nngrid.core.initializers import INITIALIZERS
    from nngrid.core.layers import LAYERS
    from nngrid.core.losses import LOSSES
    from nngrid.core.optim import OPTIMIZERS
    from nngrid.core.regularizers import REGULARIZERS
    from nngrid.core.schedules import SCHEDULES
    from nngrid.datasets import DATASETS

    parser = _Parser(
        prog="nngrid",
        description="Train replica stacks of a NumPy MLP and list the registered components.",
        epilog="Run 'nngrid train --help' for the training flags, 'nngrid list' for every name.",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (repeatable); its registered components become choices. "
        "NNGRID_PLUGINS=mod1,mod2 does the same.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # ---- train
    t = sub.add_parser(
        "train",
        help="train one replica stack and write its records as JSON",
        description="Train every --seed x --lr combination as one replica stack; write one JSON "
        "record per replica (an object for one, a list for several). The same command twice "
        "gives the same JSON apart from the timing fields.",
        formatter_class=_DefaultsFormatter,
    )
    t.add_argument("--plugin", action="append", default=[], metavar="MODULE", help="see nngrid -h")
    src = t.add_mutually_exclusive_group(required=True)
    _add_choice(src, "--dataset", DATASETS, None, "generate a registered dataset")
    src.add_argument(
        "--data",
        metavar="FILE.npz",
        help="load X_train, y_train, X_test, y_test (optionally X_val, y_val) from an .npz; "
        "integer y: class labels, 1-D; 2-D y: float regression targets; 1-D float y: "
        "classification if whole numbers in every split, else regression",
    )
    t.add_argument(
        "--data-seed", type=_seed, default=0, help="seed of the generated dataset and its split"
    )
    t.add_argument(
        "--dataset-params",
        type=_key_values,
        default={},
        metavar="K=V,...",
        help="constructor parameters of the dataset, e.g. n_samples=1000,noise=0.3",
    )
    t.add_argument(
        "--hidden",
        type=_hidden,
        default=[32, 32],
        help="hidden layer widths, e.g. 128,128; 'none' for no hidden layer",
    )
    _add_choice(t, "--activation", ACTIVATIONS, "relu", "hidden-layer activation")
    _add_choice(
        t,
        "--init",
        INITIALIZERS,
        None,
        "weight initializer (default: the activation's own, He for relu-like, Glorot otherwise)",
    )
    _add_choice(
        t,
        "--loss",
        LOSSES,
        None,
        "data loss (default: softmax_cross_entropy for labels, mse for float targets)",
    )
    reg_help = "; ".join(
        f"{n}({', '.join(REGULARIZERS.parameters(n)) or '-'})" for n in REGULARIZERS.names()
    )
    _add_choice(
        t, "--regularizer", REGULARIZERS, "none", "regularizer and the flags it takes", reg_help
    )
    opt_help = "; ".join(
        f"{n}({', '.join(f'{k}={v}' for k, v in OPTIMIZERS.parameters(n).items())})"
        for n in OPTIMIZERS.names()
    )
    _add_choice(
        t,
        "--optimizer",
        OPTIMIZERS,
        "adam",
        "optimizer and its hyperparameters with defaults",
        opt_help,
    )
    t.add_argument(
        "--lr",
        type=_lrs,
        action=_Once,
        default=None,
        help="learning rate(s), comma-separated (default: the optimizer's); each is a replica",
    )
    _add_choice(t, "--schedule", SCHEDULES, "constant", "learning-rate schedule")
    t.add_argument(
        "--schedule-params",
        type=_key_values,
        default={},
        metavar="K=V,...",
        help="schedule parameters, e.g. step_size=30,gamma=0.1",
    )
    t.add_argument(
        "--batch-size", type=_batch, default="full", help="mini-batch size, or 'full' for GD"
    )
    t.add_argument("--epochs", type=_positive_int, default=100, help="number of epochs")
    t.add_argument(
        "--seed",
        type=_seeds,
        action=_Once,
        default=[0],
        help="seed(s), comma-separated, each once; replicas = every seed x every lr",
    )
    t.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="floating-point type of the weights and the data",
    )
    t.add_argument(
        "--target-accuracy",
        type=_accuracy,
        default=None,
        help="validation accuracy for time-to-target (epochs and seconds); unset: not measured",
    )
    t.add_argument(
        "--output", metavar="FILE", help="write the JSON here (atomically); unset: to stdout"
    )
    t.add_argument(
        "--layers",
        type=_layers,
        default=None,
        metavar="SPEC",
        help="the layer list as YAML flow text, replacing --hidden; a layer without parameters "
        "is its bare name, e.g. '[{conv1d: {channels: 25, kernel: 5, stride: 2, padding: 1}}, "
        f"flatten]'; kinds: {', '.join(LAYERS.names())} (their keys: 'nngrid list'); a dense "
        "output layer is appended",
    )
    t.add_argument(
        "--clip-norm",
        type=_float,
        default=None,
        metavar="C",
        help="clip each replica's gradient to global L2 norm C before every step (as torch's "
        "clip_grad_norm_); off unless given",
    )
    t.add_argument(
        "--init-from",
        metavar="FILE.npz",
        default=None,
        help="start every replica from these weights: torch state_dict names and shapes of the "
        "equivalent module (layers.<i>.weight, layers.<i>.bias, layers.<i>.weight_ih_l0, ...; "
        "the output layer last)",
    )
    t.add_argument(
        "--save-weights",
        metavar="FILE.npz",
        default=None,
        help="write the trained weights under torch state_dict names (as --init-from reads "
        "them); with several replicas each name is prefixed by 'replica_<r>.' (r = the "
        "record's replica), e.g. replica_0.layers.0.weight",
    )
    t.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _add_component_flags(t)

    # ---- list
    lst = sub.add_parser(
        "list",
        help="print every registry: activations, initializers, losses, regularizers, "
        "optimizers, schedules, datasets, layers",
        description="Print every registered component with its hyperparameters: default, "
        "type and allowed range, as each component declares them.",
    )
    lst.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    fmt = lst.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the registries as JSON")
    fmt.add_argument(
        "--markdown",
        action="store_true",
        help="print config/README.md's component tables (nngrid's own components)",
    )

    # ---- data
    dat = sub.add_parser(
        "data",
        help="generate a registered dataset and save its splits as .npz",
        description="Generate a dataset, split and standardise it, and save it as .npz.",
    )
    dat.add_argument("--plugin", action="append", default=[], metavar="MODULE")
    dat.add_argument("--dataset", required=True, choices=DATASETS.names(), metavar="NAME")
    dat.add_argument("--seed", type=_seed, default=0, help="seed of the data and the split")
    dat.add_argument("--dataset-params", type=_key_values, default={}, metavar="K=V,...")
    dat.add_argument("--output", required=True, metavar="FILE.npz")
    return parser


# --------------------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from nngrid.core import catalog

    if args.json:
        _emit(json.dumps(catalog.catalog(), indent=1, default=str) + "\n")
    elif args.markdown:
        _emit(catalog.catalog_markdown())
    else:
        _emit(catalog.catalog_text() + "\n")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from nngrid import datasets, io

    _check_output(args.output)
    splits = datasets.build(args.dataset, seed=args.seed, **args.dataset_params)
    io.write_npz(args.output, **splits)
    return 0


def _same_file(a: str, b: str) -> bool:
    """True if paths ``a`` and ``b`` name one file (the same inode, or the same real path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _check_output(
    path: str, inputs: dict[str, str | None] | None = None, flag: str = "--output"
) -> None:
    """Refuse an output path that cannot be written, before any work: empty, ending in ``/``,
    an existing non-regular file (folder, device, FIFO), one of the ``inputs`` (flag -> path:
    writing there would destroy it), or a folder nngrid cannot write into."""
    from nngrid import io

    io.check_output_target(path, flag)
    for source_flag, source in (inputs or {}).items():
        if source is not None and _same_file(path, source):
            raise NngridError(
                f"{flag} {path} is the {source_flag} "
                f"{'file' if source_flag == '--output' else 'input file'}; "
                "writing there would destroy it: "
                "give another file name"
            )
    parent = os.path.dirname(os.path.abspath(path)) or "."
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise NngridError(f"{flag} {path}: cannot write into {probe}")


def _training_bytes(data: dict[str, Any], args: argparse.Namespace, replicas: int) -> int:
    """A rough upper estimate of the memory training needs: the data, and per replica the
    parameters with gradients, optimizer state and copies (6x), four work arrays per layer for
    one batch, and two for a forward pass over the largest split."""
    import numpy as np

    X = data["X_train"]
    y = np.asarray(data["y_train"])
    outputs = max(2, y.shape[1] if y.ndim == 2 else int(y.max(initial=1)) + 1)
    if args.layers is not None:
        from nngrid.core.layers import plan
        from nngrid.core.train import _architecture

        _, layers, in_shape = _architecture(None, args.layers, X, outputs)
        n_params, kept = plan(layers, in_shape, outputs)
    else:
        widths = [int(X.shape[1]), *args.hidden, outputs]
        n_params = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
        kept = widths[1:]
    rows = max(len(data[k]) for k in data if k.startswith("X_"))
    batch = len(X) if args.batch_size == "full" else min(args.batch_size, len(X))
    itemsize = 8 if args.dtype == "float64" else 4
    per_replica = 6 * n_params + 4 * batch * sum(kept) + 2 * rows * max(kept)
    data_bytes = sum(np.asarray(v).nbytes for v in data.values())
    return data_bytes + replicas * itemsize * per_replica


def _check_memory(need: int, args: argparse.Namespace, replicas: int) -> None:
    """Refuse a run whose estimated memory exceeds what is available now (an allocation past
    it would end in a traceback, or in the kernel's OOM killer), naming what drives it."""
    from nngrid import io

    have = io.available_memory()
    if need > have:
        if args.layers is not None:
            arch = "--layers " + json.dumps(args.layers)
        else:
            arch = "--hidden " + (",".join(map(str, args.hidden)) or "none")
        raise NngridError(
            f"training needs an estimated {io.human_bytes(need)} of memory, more than the "
            f"{io.human_bytes(have)} available ({arch}"
            f", {replicas} replica(s) from --seed x --lr, --batch-size {args.batch_size}, "
            f"--dataset-params {args.dataset_params or '-'}); make them smaller"
        )


def _check_time(data: dict[str, Any], args: argparse.Namespace, replicas: int) -> None:
    """Refuse a run whose estimated time exceeds the config check's limit (the same estimate
    as the workflow's, nngrid.study.integrity.training_minutes), naming what drives it."""
    from nngrid.study.integrity import MAX_JOB_MINUTES, training_minutes

    widest = max(args.hidden or [1]) if args.layers is None else 64
    minutes = training_minutes(replicas, args.epochs, len(data["X_train"]), widest)
    if minutes > MAX_JOB_MINUTES:
        raise NngridError(
            f"training needs an estimated {minutes:,.0f} minutes, more than the limit of "
            f"{MAX_JOB_MINUTES:,} (7 days; driven by --epochs {args.epochs}, {replicas} "
            f"replica(s) from --seed x --lr and {len(data['X_train'])} training points); make "
            "--epochs smaller"
        )


def _progress_printer(quiet: bool):
    if quiet:
        return None
    tty = sys.stderr.isatty()

    def show(epoch: int, epochs: int, m: dict[str, Any]) -> None:
        def fmt(key: str) -> str:
            v = m.get(key)
            return "-" if v is None else f"{v:.4f}"

        line = (
            f"epoch {epoch}/{epochs}  train_loss {fmt('train_loss')}  val_loss {fmt('val_loss')}"
            f"  train_acc {fmt('train_accuracy')}  val_acc {fmt('val_accuracy')}"
            f"  active {m.get('active')}/{m.get('replicas')}  {m.get('seconds', 0):.2f}s"
        )
        if tty:
            width = 20
            done = int(width * epoch / epochs)
            bar = "#" * done + "." * (width - done)
            end = "\n" if epoch == epochs or not m.get("active") else ""
            sys.stderr.write(f"\r[{bar}] {line}" + end)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show


def cmd_train(args: argparse.Namespace) -> int:
    from nngrid import datasets, io
    from nngrid.core.optim import OPTIMIZERS
    from nngrid.core.train import TrainConfig, train_replicas

    # regularizer and optimizer flags: only those the chosen component declares
    reg_params = _component_params(args, "regularizers", args.regularizer)
    opt_params = _component_params(args, "optimizers", args.optimizer)
    opt_accepts = OPTIMIZERS.parameters(args.optimizer)
    if args.output is not None:
        _check_output(args.output, {"--data": args.data, "--init-from": args.init_from})
    if args.save_weights is not None:
        if not args.save_weights.endswith(".npz"):
            raise NngridError(f"--save-weights {args.save_weights!r} must end in .npz")
        _check_output(
            args.save_weights,
            {"--data": args.data, "--init-from": args.init_from, "--output": args.output},
            flag="--save-weights",
        )
    init_from = None
    if args.init_from is not None:
        from nngrid.study.integrity import check_finite_arrays

        init_from = io.load_npz(args.init_from)
        check_finite_arrays(f"--init-from {args.init_from}", init_from, "give finite weights")

    lrs = args.lr if args.lr is not None else [opt_accepts.get("lr")]
    replicas = len(lrs) * len(args.seed)
    if args.data is not None:
        data = datasets.load_dataset(args.data, dtype=args.dtype)
        dataset_label = args.data
    else:
        params = {**datasets.DATASETS.parameters(args.dataset), **args.dataset_params}
        n = params.get("n_samples")
        if isinstance(n, int) and not isinstance(n, bool):  # the generator's own arrays
            _check_memory(n * (int(params.get("n_features", 2)) + 1) * 8 * 4, args, replicas)
        data = datasets.build(args.dataset, seed=args.data_seed, **args.dataset_params)
        dataset_label = args.dataset
    _check_memory(_training_bytes(data, args, replicas), args, replicas)
    _check_time(data, args, replicas)

    seeds, lr_list = [], []
    for lr in lrs:  # replicas: every lr x every seed, grouped by lr
        for seed in args.seed:
            seeds.append(seed)
            lr_list.append(lr)
    result = train_replicas(
        data,
        TrainConfig(
            hidden=None if args.layers is not None else args.hidden,
            layers=args.layers,
            init_from=init_from,
            clip_norm=args.clip_norm,
            activation=args.activation,
            init=args.init,
            loss=args.loss,
            regularizer=args.regularizer,
            reg_params=reg_params,
            optimizer=args.optimizer,
            opt_params={"lr": lr_list, **opt_params},
            schedule=args.schedule,
            schedule_params=args.schedule_params,
            batch_size=None if args.batch_size == "full" else args.batch_size,
            epochs=args.epochs,
            seeds=seeds,
            dtype=args.dtype,
            target_accuracy=args.target_accuracy,
            progress=_progress_printer(args.quiet),
            dataset=dataset_label,
        ),
    )
    records, net = result.records, result.model
    if args.save_weights is not None:
        if net.R == 1:
            arrays = net.state_dict(0)
        else:
            arrays = {
                f"replica_{r}.{k}": v for r in range(net.R) for k, v in net.state_dict(r).items()
            }
        io.write_npz(args.save_weights, **arrays)
    from nngrid.plugins import loaded_plugins

    for rec in records:
        rec["config"]["plugins"] = loaded_plugins()  # module, file and sha256 of each
        rec["config"]["data_seed"] = args.data_seed if args.data is None else None
        rec["config"]["dataset_params"] = dict(args.dataset_params)
        if args.init_from is not None:
            rec["config"]["init_from"] = args.init_from
    result: Any = records[0] if len(records) == 1 else records
    if args.output is not None:
        io.write_json(args.output, result)
    else:
        _emit(json.dumps(io.to_jsonable(result), sort_keys=True, indent=1) + "\n")
    if not args.quiet:
        sys.stderr.write(f"data {dataset_label} taken as {datasets.task_summary(data)}\n")
        for rec in records:
            sys.stderr.write(
                f"replica {rec['replica']} seed {rec['seed']} lr {rec['lr']:g}: "
                f"test_loss {rec['test_loss']} test_accuracy {rec['test_accuracy']}"
                + (f"  DIVERGED at epoch {rec['diverged_epoch']}" if rec["diverged"] else "")
                + "\n"
            )
    return 0


EXIT_IO = 1


def _stdout_failed(exc: OSError) -> int:
    """Report a failed write to stdout (``nngrid list > /dev/full``, a closed pipe) in one line.

    stdout is then pointed at ``/dev/null`` so the interpreter's final flush cannot fail again
    (which would print ``Exception ignored ...``). A closed pipe (``| head``) is not an error.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (tests)
        pass
    if isinstance(exc, BrokenPipeError):
        return 0
    reason = exc.strerror or type(exc).__name__
    sys.stderr.write(f"nngrid: error: cannot write to stdout: {reason}; redirect it to a file\n")
    return EXIT_IO


def _run_command(args: argparse.Namespace) -> int:
    """Run the command; a ``SystemExit`` from a component (a plugin calling ``sys.exit``
    while training) is an error, never the command's success."""
    from nngrid.study.integrity import Stopped

    try:
        if args.command == "list":
            return cmd_list(args)
        if args.command == "data":
            return cmd_data(args)
        return cmd_train(args)
    except Stopped:
        raise
    except SystemExit as exc:
        raise NngridError(
            f"a component called sys.exit({exc.code!r}) during `nngrid {args.command}` (a "
            "plugin?); nothing was written; fix or leave out the plugin"
        ) from None


#: What a command writes to stdout (its result), written once the command has finished.
_OUT: list[str] = []


def _emit(text: str) -> None:
    """Queue ``text`` for stdout: while a command runs, stdout is stderr (:func:`_plugin_proof`),
    so nothing a plugin prints, at import or while training, can mix into the result."""
    _OUT.append(text)


@contextlib.contextmanager
def _plugin_proof():
    """stdout (Python's and file descriptor 1) sent to stderr for the block."""
    real = sys.stdout
    saved = None
    try:
        fd, err = real.fileno(), sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # captured streams (tests): Python level only
        fd = err = None
    if fd is not None:
        real.flush()
        saved = os.dup(fd)
        os.dup2(err, fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``nngrid``; returns the exit status (0; 2 for a user error; 1 when
    stdout cannot be written)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from nngrid.study.integrity import stop_on_signals

    stop_on_signals()
    _OUT.clear()
    try:
        try:
            with _plugin_proof():
                load_plugins(argv)
            parser = build_parser()
            args = parser.parse_args(argv)  # --help goes to stdout, before any plugin code
            with _plugin_proof():
                status = _run_command(args)
            sys.stdout.write("".join(_OUT))
            sys.stdout.flush()  # a write error shows here, not at exit
            return status
        except (NngridError, _UsageError) as exc:
            message = " ".join(str(exc).split())  # one line
            sys.stderr.write(f"nngrid: error: {message}\n")
            return EXIT_USAGE
        except MemoryError as exc:  # an allocation the estimate did not foresee
            sys.stderr.write(
                f"nngrid: error: out of memory ({' '.join(str(exc).split())}); make --hidden, "
                "the replicas (--seed x --lr), --batch-size or the dataset smaller\n"
            )
            return EXIT_USAGE
        except KeyboardInterrupt:
            sys.stderr.write("nngrid: interrupted\n")
            return 130
    except OSError as exc:
        if _is_stdout_error(exc):
            return _stdout_failed(exc)
        raise


def _is_stdout_error(exc: OSError) -> bool:
    """True for an error writing to stdout (a full device, a closed pipe), which only stdout's
    own writes raise here: every file nngrid writes goes through nngrid.io (NngridError)."""
    import errno

    return isinstance(exc, BrokenPipeError) or exc.errno in (errno.ENOSPC, errno.EIO, errno.EPIPE)


def run() -> NoReturn:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())
