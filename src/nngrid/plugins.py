"""User plugins: modules whose decorated classes join the registries, checked when loaded.

A plugin is any importable module that registers components, e.g.
``@ACTIVATIONS.register("mish") class Mish(Activation): ...``. The command line, the workflow's
config check and its training jobs all import the modules named in the environment variable
``NNGRID_PLUGINS`` (comma-separated) through :func:`load_plugins` before they read a registry, so
a plugin's names are valid choices everywhere. ``nngrid train --plugin MODULE`` adds more for one
command.

Loading a plugin module:

1. imports it with ``sys.stdout`` sent to ``sys.stderr`` (a plugin that prints while importing
   cannot corrupt the JSON that ``nngrid train`` or ``nngrid list --json`` writes on stdout);
2. refuses it if importing it raised anything (``SystemExit`` and ``KeyboardInterrupt``
   included: a plugin cannot end the command with a fake success), or if it changed a component
   that was registered before it (an entry replaced in a registry, or a method of a registered
   class, or of a base class, reassigned) or an attribute of numpy or of a loaded nngrid module
   (``np.tanh``, ``nngrid.core.train.train_replicas`` patched): the record would still name the
   original component while another one ran;
3. checks every component it added (:func:`check_component`): activations, losses and
   regularizers by central finite differences in float64 (derivative and backward, the gradient
   of the loss, the penalty's gradient), optimizers by a few steps on a quadratic (they must
   descend), initializers and schedules by one call (shape, dtype, finite values).

A failure is one ``NngridError`` naming the plugin, the component and what failed; the failed
module's components are removed from the registries again. Each module is checked once per
process (the outcome is remembered). :func:`loaded_plugins` lists the loaded plugins with the
sha256 of their import closure (the plugin and the helper modules it imported), which the job
results and ``nngrid train``'s records carry, and which :func:`plugin_sources` hashes into the
workflow's code hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import inspect
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from nngrid.errors import NngridError

#: plugin module -> None (loaded and checked) or the one-line error it failed with.
_OUTCOME: dict[str, str | None] = {}


def plugin_names(extra: Iterable[str] = ()) -> list[str]:
    """The module names in ``NNGRID_PLUGINS`` followed by ``extra``."""
    names = [n.strip() for n in os.environ.get("NNGRID_PLUGINS", "").split(",") if n.strip()]
    return names + [n for n in extra if n]


def registries() -> dict[str, Any]:
    """Every registry of the core, by kind (plural, as ``nngrid list`` prints them)."""
    from nngrid import data_files  # noqa: F401 (registers the `file` dataset kind)
    from nngrid.core.activations import ACTIVATIONS
    from nngrid.core.initializers import INITIALIZERS
    from nngrid.core.layers import LAYERS
    from nngrid.core.losses import LOSSES
    from nngrid.core.optim import OPTIMIZERS
    from nngrid.core.regularizers import REGULARIZERS
    from nngrid.core.schedules import SCHEDULES
    from nngrid.datasets import DATASETS

    return {
        "activations": ACTIVATIONS,
        "initializers": INITIALIZERS,
        "losses": LOSSES,
        "regularizers": REGULARIZERS,
        "optimizers": OPTIMIZERS,
        "schedules": SCHEDULES,
        "datasets": DATASETS,
        "layers": LAYERS,
    }


def _fingerprint(obj: Any) -> tuple:
    """The identity of an entry and of every attribute along its class hierarchy."""
    classes = inspect.getmro(obj) if inspect.isclass(obj) else (obj,)
    attrs = tuple(
        (cls.__qualname__, key, id(value))
        for cls in classes
        if cls is not object
        for key, value in sorted(vars(cls).items())
        if key not in ("__dict__", "__weakref__", "__doc__")
    )
    return (id(obj), attrs)


def _state() -> dict[tuple[str, str], tuple]:
    return {
        (kind, name): _fingerprint(reg.get(name))
        for kind, reg in registries().items()
        for name in reg.names()
    }


def load_plugins(extra: Iterable[str] = ()) -> list[str]:
    """Import and check every plugin module (see the module docstring); return their names.

    A module that cannot be imported, changes a registered component, or adds a component that
    fails its check raises an ``NngridError`` naming it.
    """
    names = plugin_names(extra)
    for name in names:
        if name in _OUTCOME:
            if _OUTCOME[name] is not None:
                raise NngridError(_OUTCOME[name])
            continue
        message = _load_one(name)
        _OUTCOME[name] = message
        if message is not None:
            raise NngridError(message)
    return names


def _load_one(name: str) -> str | None:
    """Import plugin ``name`` and check it; the error message, or None when it is fine."""
    before = _state()
    numpy_before = _numpy_state()
    modules_before = set(sys.modules)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            importlib.import_module(name)
    except ModuleNotFoundError as exc:
        _remove_added(before)
        return (
            f"cannot import plugin module {name!r}: {type(exc).__name__}: {exc} "
            "(is it on PYTHONPATH?)"
        )
    except Exception as exc:
        _remove_added(before)
        return f"cannot import plugin module {name!r}: {type(exc).__name__}: {exc}; fix the plugin"
    except BaseException as exc:  # SystemExit, KeyboardInterrupt ...: never a silent success
        _remove_added(before)
        return (
            f"plugin module {name!r} raised {type(exc).__name__}({exc}) while being imported "
            "(a plugin may only register components); fix the plugin"
        )
    _CLOSURE[name] = _closure(name, set(sys.modules) - modules_before)
    changed = _numpy_changes(numpy_before)
    if changed:
        _remove_added(before)
        return (
            f"plugin {name!r} replaced {changed} (every component would run the patched "
            "function while its record named the original); register a new component instead"
        )
    after = _state()
    for key, print_ in before.items():
        if after.get(key) != print_:
            kind, entry = key
            _remove_added(before)
            return (
                f"plugin {name!r} replaced or changed the registered {_singular(kind)} {entry!r} "
                "(a record would name it while other code ran); register a new name instead"
            )
    added = [key for key in after if key not in before]
    for kind, entry in added:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                check_component(kind, entry)
        except Exception as exc:
            _remove_added(before)
            reason = " ".join(str(exc).split()) or type(exc).__name__
            return (
                f"plugin {name!r}: {_singular(kind)} {entry!r} fails its check: {reason}; "
                "fix it or leave the plugin out of NNGRID_PLUGINS/--plugin"
            )
    return None


#: plugin module -> the source files of its import closure (its own file first).
_CLOSURE: dict[str, list[Path]] = {}


def _numpy_state() -> dict[str, int]:
    """The identity of every public attribute of numpy (and of the submodules the core uses)
    and of every module-level name of the nngrid modules loaded so far."""
    modules = [("np.", np), ("np.linalg.", np.linalg), ("np.random.", np.random)]
    modules += [
        (f"{name}.", module)
        for name, module in list(sys.modules.items())
        if (name == "nngrid" or name.startswith("nngrid.")) and module is not None
    ]
    out = {}
    for prefix, module in modules:
        for key, value in vars(module).items():
            if not key.startswith("__"):
                out[prefix + key] = id(value)
    return out


def _numpy_changes(before: dict[str, int]) -> str:
    """The first attribute (``np.tanh``, ``nngrid.core.train.train_replicas``) that is not what it
    was, or ``""``."""
    after = _numpy_state()
    for key, ident in before.items():
        if after.get(key) != ident:
            return key
    return ""


def _closure(name: str, new_modules: Iterable[str]) -> list[Path]:
    """The source files of plugin ``name`` and of every module first imported while it was
    imported, outside the standard library and the installed packages (its helpers)."""
    import sysconfig

    installed = {
        Path(p).resolve()
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(key))
    }
    nngrid_root = Path(__file__).resolve().parent
    files: dict[Path, None] = {}
    for module_name in [name, *sorted(new_modules)]:
        module = sys.modules.get(module_name)
        file = getattr(module, "__file__", None)
        if not file or not file.endswith(".py"):
            continue
        path = Path(file).resolve()
        if path.is_relative_to(nngrid_root):
            continue  # the core's own modules are hashed on their own
        if module_name != name and any(path.is_relative_to(root) for root in installed):
            continue
        files[path] = None
        if path.name == "__init__.py":
            files.update(dict.fromkeys(sorted(path.parent.rglob("*.py"))))
    return list(files)


def loaded_plugins() -> list[dict[str, str]]:
    """The plugins loaded in this process and checked: module, file and the sha256 of every
    source file of its import closure (what a run's record names)."""
    out = []
    for name, message in _OUTCOME.items():
        if message is not None:
            continue
        files = _CLOSURE.get(name) or []
        digest = hashlib.sha256()
        for f in files:
            try:
                digest.update(b"\0".join([str(f).encode(), f.read_bytes(), b""]))
            except OSError:
                pass
        out.append(
            {
                "module": name,
                "file": str(files[0]) if files else "",
                "sha256": digest.hexdigest(),
            }
        )
    return out


def _singular(kind: str) -> str:
    return registries()[kind].kind


def _remove_added(before: dict[tuple[str, str], tuple]) -> None:
    for kind, reg in registries().items():
        if not hasattr(reg, "names"):  # a registry replaced by the plugin (refused)
            continue
        for entry in reg.names():
            if (kind, entry) not in before:
                reg._remove(entry)


# --------------------------------------------------------------------------- the checks

_H = 1e-6  # central-difference step (float64)
_RTOL, _ATOL = 1e-4, 1e-6  # looser than the test suite's: a correct plugin must never fail here


def _close(what: str, got: Any, want: np.ndarray, ref: str = "the finite difference") -> None:
    got = np.asarray(got, dtype=np.float64)
    if got.shape != want.shape:
        raise NngridError(f"{what} has shape {got.shape}, expected {want.shape}")
    if not np.all(np.isfinite(got)):
        raise NngridError(f"{what} is not finite")
    err = np.abs(got - want)
    bad = err > _ATOL + _RTOL * np.abs(want)
    if np.any(bad):
        i = np.unravel_index(np.argmax(err - _RTOL * np.abs(want)), want.shape)
        raise NngridError(
            f"{what} {float(got[i]):.6g} differs from {ref} {float(want[i]):.6g} "
            f"(at {tuple(int(k) for k in i)}, {int(bad.sum())} of {bad.size} entries)"
        )


def _has(obj: Any, method: str, base: type | None) -> None:
    impl = getattr(type(obj), method, None)
    if not callable(impl) or (base is not None and impl is getattr(base, method, None)):
        raise NngridError(f"it has no {method} method; define {method}")


def check_activation(act: Any) -> None:
    """forward, derivative, backward and the training path against central differences."""
    from nngrid.core.activations import Activation

    _has(act, "forward", Activation)
    rng = np.random.default_rng(0)
    z = rng.uniform(-3.0, 3.0, size=(2, 3, 5))
    z[np.abs(z) < 1e-2] += 0.05  # away from a kink at 0
    numeric = (np.asarray(act.forward(z + _H)) - np.asarray(act.forward(z - _H))) / (2 * _H)
    a = np.asarray(act.forward(z.copy()), dtype=np.float64)
    if a.shape != z.shape or not np.all(np.isfinite(a)):  # (uniform on [-3, 3]: finite)
        raise NngridError(f"forward gave shape {a.shape} (finite: {np.all(np.isfinite(a))})")
    grad = rng.standard_normal(z.shape)
    _close("backward", act.backward(z.copy(), a.copy(), grad.copy()), grad * numeric)
    if type(act).derivative is not Activation.derivative:
        _close("derivative", act.derivative(z.copy()), numeric)
    # the network's training path writes into work arrays and ignores return values
    out, saved = np.full_like(z, np.nan), np.empty_like(z)
    act.forward_train(z.copy(), out, saved)
    _close("forward(z, out=...) written into out", out, a, "forward(z)")
    dz = np.full_like(z, np.nan)
    act.backward_train(z.copy(), out, saved, grad.copy(), dz)
    _close("backward(..., out=...) written into out", dz, grad * numeric)
    from nngrid.core.initializers import INITIALIZERS

    if getattr(act, "default_init", None) not in INITIALIZERS:
        raise NngridError(
            f"its default_init {getattr(act, 'default_init', None)!r} is not an initializer"
        )


def check_loss(loss: Any) -> None:
    """value_and_grad's gradient against central differences of value."""
    rng = np.random.default_rng(0)
    R, B, C = 2, 3, 4
    out = rng.standard_normal((R, B, C))
    task = getattr(loss, "task", None)
    if task not in ("classification", "regression"):
        raise NngridError(f"its task is {task!r}; set task = 'classification' or 'regression'")
    y = rng.integers(0, C, size=(R, B)) if task == "classification" else rng.normal(size=out.shape)
    value, grad = loss.value_and_grad(out.copy(), y)
    numeric = np.empty_like(out)
    for idx in np.ndindex(out.shape):
        plus, minus = out.copy(), out.copy()
        plus[idx] += _H
        minus[idx] -= _H
        numeric[idx] = (np.sum(loss.value(plus, y)) - np.sum(loss.value(minus, y))) / (2 * _H)
    _close("value_and_grad's value", value, np.asarray(loss.value(out.copy(), y), np.float64))
    _close("value_and_grad's gradient", grad, numeric)
    # the trainer's fast path (the base class's calls the two above)
    fast_value, fast_grad = loss._fast_value_and_grad(out.copy(), y)
    _close("_fast_value_and_grad's value", fast_value, np.asarray(value, np.float64))
    _close("_fast_value_and_grad's gradient", fast_grad, numeric)
    _close("_fast_value", loss._fast_value(out.copy(), y), np.asarray(value, np.float64))


def check_regularizer(reg: Any) -> None:
    """add_grad against central differences of penalty (a no-op penalty passes trivially)."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((2, 3, 4))
    W[np.abs(W) < 1e-2] = 0.1
    G = np.zeros_like(W)
    reg.add_grad(W.copy(), G)
    numeric = np.empty_like(W)
    for idx in np.ndindex(W.shape):
        plus, minus = W.copy(), W.copy()
        plus[idx] += _H
        minus[idx] -= _H
        numeric[idx] = (np.sum(reg.penalty(plus)) - np.sum(reg.penalty(minus))) / (2 * _H)
    _close("add_grad", G, numeric)


def check_optimizer(opt: Any) -> None:
    """A few steps on f(p) = |p|^2 / 2 (gradient p) must be finite and lower f."""
    p = np.random.default_rng(0).standard_normal((2, 3, 4))
    start = 0.5 * float(np.sum(p * p))
    for _ in range(5):
        opt.step([p], [p.copy()])
    end = 0.5 * float(np.sum(p * p))
    if not np.isfinite(end) or not end < start:
        raise NngridError(
            f"5 steps on |p|^2/2 took it from {start:.6g} to {end:.6g}; a step must descend"
        )


def check_initializer(init: Any) -> None:
    w = init(np.random.default_rng(0), 4, 5, np.dtype(np.float64))
    if np.shape(w) != (4, 5) or not np.all(np.isfinite(w)):
        raise NngridError(f"init(rng, 4, 5, float64) gave shape {np.shape(w)}, expected (4, 5)")


def check_schedule(schedule: Any) -> None:
    factors = [schedule.factor(epoch, 10) for epoch in range(10)]
    if not all(isinstance(f, (int, float, np.number)) and np.isfinite(f) and f >= 0
               for f in factors):  # fmt: skip
        raise NngridError(f"factor(epoch, 10) gave {factors}; expected finite numbers >= 0")


def _layer_network(name: str, cls: Any) -> Any:
    """A tiny float64 network around layer ``name``: on a sequence ``(7, 2)`` after a 1x1
    conv1d (then flattened if its output is one), else on 5 flat features after a dense layer,
    so that the layer's input gradient shows in the first layer's parameter gradient; built
    from ``cls.check_params``."""
    from nngrid.core.network import Network

    entry = {name: dict(getattr(cls, "check_params", {}))}
    conv, dense = {"conv1d": {"channels": 2, "kernel": 1}}, {"dense": {"units": 4}}
    errors = []
    tries = (((7, 2), [conv, entry]), ((7, 2), [conv, entry, "flatten"]), ((5,), [dense, entry]))
    for in_shape, spec in tries:
        try:
            rngs = [np.random.default_rng(0)]
            return Network(spec, in_shape, 3, "tanh", rngs=rngs, dtype=np.float64), in_shape
        except NngridError as exc:
            errors.append(str(exc))
    raise NngridError(
        f"it does not build with {entry} ({errors[-1]}); give the class a check_params dict "
        "of constructor arguments that build it"
    )


def check_layer(name: str, cls: Any) -> None:
    """The parameter gradient of a tiny network around the layer (its input gradient feeds the
    first layer's) against central differences of ``sum(out * G)``, at 60 random entries."""
    net, in_shape = _layer_network(name, cls)
    rng = np.random.default_rng(1)
    net.flat[...] = rng.uniform(-0.5, 0.5, net.flat.shape)
    X = rng.standard_normal((4, *in_shape))
    G = rng.standard_normal((1, 4, 3))

    def value(x: np.ndarray) -> float:
        return float(np.sum(net.forward(x, train=True, keep=False) * G))

    out = net.forward(X, train=True)
    if out.shape != G.shape or not np.all(np.isfinite(out)):
        raise NngridError(f"the network around it gave outputs of shape {out.shape}")
    analytic = net.backward(G.copy()).copy()
    picks = rng.choice(net.flat.size, size=min(60, net.flat.size), replace=False)
    numeric = np.empty(len(picks))
    for k, j in enumerate(picks):
        keep = net.flat[j]
        net.flat[j] = keep + _H
        plus = value(X)
        net.flat[j] = keep - _H
        minus = value(X)
        net.flat[j] = keep
        numeric[k] = (plus - minus) / (2 * _H)
    _close("backward's parameter gradient", analytic[picks], numeric)


_CHECKS = {
    "activations": check_activation,
    "losses": check_loss,
    "regularizers": check_regularizer,
    "initializers": check_initializer,
    "schedules": check_schedule,
}


def _strong_defaults(reg: Any, name: str) -> dict[str, Any]:
    """Constructor arguments that make a penalty non-trivial (a strength of 0 checks nothing)."""
    params = reg.parameters(name)
    return {"strength": 0.3} if "strength" in params and not params["strength"] else {}


def check_component(kind: str, name: str) -> None:
    """Build ``name`` of ``kind`` with its defaults and check it; raise on any failure."""
    reg = registries()[kind]
    if kind == "datasets":
        task = getattr(reg.get(name), "task", None)
        if task not in ("classification", "regression"):
            raise NngridError(f"its task is {task!r}; set task = 'classification' or 'regression'")
        return
    if kind == "optimizers":
        from nngrid.core.optim import make_optimizer

        check_optimizer(make_optimizer(name, lr=1e-2))
        return
    if kind == "layers":
        check_layer(name, reg.get(name))
        return
    kwargs = _strong_defaults(reg, name) if kind == "regularizers" else {}
    _CHECKS[kind](reg.create(name, **kwargs))


# --------------------------------------------------------------------------- sources


def plugin_sources(extra: Iterable[str] = ()) -> list[tuple[str, bytes]]:
    """(label, bytes) of every plugin module's source files, sorted; a package gives all its
    ``.py`` files. The workflow hashes them into the jobs' parameters, so editing a plugin
    reruns the jobs it may change."""
    out: dict[str, bytes] = {}
    for name in plugin_names(extra):
        module = sys.modules.get(name)
        if module is None:
            continue
        file = getattr(module, "__file__", None)
        if not file:
            continue
        path = Path(file)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        files += [f for f in _CLOSURE.get(name, []) if f not in files]  # its helper modules
        for f in files:
            try:
                label = f"{name}:{f.relative_to(path.parent)}"
            except ValueError:
                label = f"{name}:{f}"
            try:
                out[label] = f.read_bytes()
            except OSError as exc:
                raise NngridError(f"cannot read plugin source {f}: {exc}") from None
    return sorted(out.items())


def sources_digest(extra: Iterable[str] = ()) -> str:
    """sha256 of :func:`plugin_sources` (``""`` when no plugin is loaded)."""
    sources = plugin_sources(extra)
    if not sources:
        return ""
    digest = hashlib.sha256()
    for label, data in sources:
        digest.update(b"\0".join([label.encode(), data, b""]))
    return digest.hexdigest()
