"""The study side: what the workflow runs around the NumPy core (config checks, job specs, the
report). Nothing in the core imports this package."""
