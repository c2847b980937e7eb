"""A small name -> class table, one per kind of component.

Each kind (activation, initializer, loss, regularizer, optimizer, schedule, dataset, layer)
owns one :class:`Registry`. A component joins its registry with a decorator::

    from nngrid.core.activations import ACTIVATIONS, Activation

    @ACTIVATIONS.register("mish")
    class Mish(Activation):
        ...

and from then on the command line's choices and flags, the workflow's config schema and
checks, ``nngrid list`` and the test suite's parametrisation all see it, because they read the
registry and the component's declared hyperparameters (:mod:`nngrid.core.hyper`; an entry
without declarations, a dataset or a layer, is read from its signature).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nngrid.core.hyper import Component, Hyper, declared, inferred
from nngrid.errors import NngridError, choices_message


class Registry:
    """Names mapped to classes (or factories) of one kind of component."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator: file the decorated class under ``name`` and set ``cls.name``."""
        if not name or not name.replace("_", "").isalnum() or name != name.lower():
            raise ValueError(f"{self.kind} names are lower_snake_case, got {name!r}")

        def decorate(obj: Any) -> Any:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            try:
                obj.name = name
            except (AttributeError, TypeError):  # plain functions without attributes
                pass
            return obj

        return decorate

    def _remove(self, name: str) -> None:
        """Forget ``name`` (nngrid.plugins takes back the entries of a plugin it refused)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> Any:
        """Return the entry for ``name``; an unknown name lists the valid ones."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise NngridError(choices_message(self.kind, name, self.names())) from None

    def create(self, name: str, **kwargs: Any) -> Any:
        """Instantiate ``name`` with keyword arguments, rejecting unknown ones clearly."""
        self.check_params(name, kwargs)
        return self.get(name)(**kwargs)

    def check_params(self, name: str, params: Iterable[str]) -> dict[str, Any]:
        """Refuse an unknown ``name`` (as :meth:`get` does) or a parameter it does not take;
        return its :meth:`parameters` with their defaults."""
        accepted = self.parameters(name)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            valid = ", ".join(accepted) or "none"
            raise NngridError(
                f"{self.kind} {name!r} takes no parameter {unknown[0]!r}; its parameters: {valid}"
            )
        return accepted

    def parameters(self, name: str) -> dict[str, Any]:
        """The keyword parameters ``name`` accepts, with their defaults."""
        return {h.name: h.default for h in self.hypers(name)}

    def hypers(self, name: str) -> tuple[Hyper, ...]:
        """The declared hyperparameters of ``name`` (``cls.hypers``), or, for an entry that
        declares none (a dataset generator, a layer), ones inferred from its signature."""
        entry = self.get(name)
        if declared(entry) or (
            isinstance(entry, type)
            and not issubclass(entry, Component)  # a layer that documents its keys
            and "hypers" in _own_attrs(entry)
        ):
            return tuple(entry.hypers)
        sig = inspect.signature(entry)
        return tuple(
            inferred(p.name, p.default)
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        )

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


def _own_attrs(cls: type) -> set[str]:
    """Attributes set in the class bodies of ``cls`` and its bases, ``object`` apart."""
    return {key for c in cls.__mro__ if c is not object for key in vars(c)}


def check_params(
    reg: Registry, name: str, params: Any, where: str = "params", skip: Iterable[str] = ()
) -> dict[str, Any]:
    """Check a config's parameters ``params`` for component ``name`` of registry ``reg`` (one
    of :func:`nngrid.plugins.registries`, e.g. ``registries()["optimizers"]``) and return them
    resolved (defaults filled in). Refused, in one line that starts with ``where``: a key the
    component does not take (or one in ``skip``, set elsewhere), a boolean where it takes a
    number, a value outside its declared bounds, and anything the component itself refuses when
    built."""
    hypers = {h.name: h for h in reg.hypers(name)}
    accepted = [k for k in hypers if k not in set(skip)]
    params = dict(params or {})
    what = f"{reg.kind} {name!r}"
    for key, value in params.items():
        if key not in accepted:
            raise NngridError(
                f"{where} key {key!r} is not a parameter of {what}; "
                f"valid choices: {', '.join(accepted) or 'none'}"
            )
        default = hypers[key].default
        if isinstance(value, bool) and not isinstance(default, bool):
            raise NngridError(
                f"{where}.{key} = {str(value).lower()} is a boolean, but {what} takes a "
                f"number there (default {default!r}); give a number"
            )
    try:  # the component checks its own values (a dropout rate of 1.5, p < 1, ...)
        reg.create(name, **params)
    except (NngridError, TypeError, ValueError) as exc:
        text = json.dumps(params, default=str)
        text = text if len(text) <= 60 else f"{text[:57]}..."
        raise NngridError(f"{where} = {text}: {exc}") from None
    return {**{k: hypers[k].default for k in accepted}, **params}
