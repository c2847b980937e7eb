"""User plugins: modules whose decorated classes join the registries.

A plugin is any importable module that registers components, e.g.
``@ACTIVATIONS.register("mish") class Mish(Activation): ...``. The command line, the workflow's
config check and its training jobs all import the modules named in the environment variable
``NNGRID_PLUGINS`` (comma-separated) before they read a registry, so a plugin's names are valid
choices everywhere. ``nngrid train --plugin MODULE`` adds more for one command.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from nngrid.errors import NngridError


def plugin_names(extra: Iterable[str] = ()) -> list[str]:
    """The module names in ``NNGRID_PLUGINS`` followed by ``extra``."""
    names = [n.strip() for n in os.environ.get("NNGRID_PLUGINS", "").split(",") if n.strip()]
    return names + [n for n in extra if n]


def load_plugins(extra: Iterable[str] = ()) -> list[str]:
    """Import every plugin module; a module that fails to import is a one-line error."""
    names = plugin_names(extra)
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise NngridError(
                f"cannot import plugin module {name!r}: {type(exc).__name__}: {exc} "
                "(is it on PYTHONPATH?)"
            ) from None
    return names
