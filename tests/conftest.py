"""Loaded before any test module: the plugins named in NNGRID_PLUGINS join the registries first,
so every test parametrised over a registry (the finite-difference checks of activations,
losses, regularizers ...) covers them too."""

from nngrid.plugins import load_plugins

load_plugins()
