"""A small name -> class table, one per kind of component.

Each kind (activation, initializer, loss, regularizer, optimizer, schedule, dataset) owns
one :class:`Registry`. A component joins its registry with a decorator::

    from nngrid.activations import ACTIVATIONS, Activation

    @ACTIVATIONS.register("mish")
    class Mish(Activation):
        ...

and from then on the command line's choices, the workflow's config schema and the
test suite's parametrisation all see it, because they read the registry.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

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
        sig = inspect.signature(self.get(name))
        return {
            p.name: p.default
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }

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
