"""nngrid: a hand-written NumPy MLP core and a reproducible study built on it."""

__version__ = "0.1.0"
