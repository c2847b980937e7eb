"""The NumPy-only core (the integrator moves the flat core modules here)."""
