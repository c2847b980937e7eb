"""The lesson's claims: a registry of decorated functions, one module per section of the lesson.

:mod:`.core` holds the registry, the statistics and the verdicts; importing this package imports
the section modules (:data:`~.core.SECTION_MODULES`) in the lesson's order, which registers every
claim (:data:`CLAIMS`, in that order). A new claim is one function decorated with :func:`claim`
in its section's module.
"""

import importlib

from nngrid.study.claims.core import (
    BOOTSTRAP_SEED,
    CLAIMS,
    COLUMNS,
    GRADIENT_DECADES,
    LEVEL,
    N_RESAMPLES,
    NEAR_ZERO,
    NOT_APPLICABLE,
    SECTION_MODULES,
    SECTIONS,
    VERDICTS,
    Claim,
    NngridError,
    Verdict,
    applies,
    bootstrap_interval,
    claim,
    claims_table,
    decide,
    evaluate,
    load_inputs,
    main,
    mean_interval,
    readme_table,
    sign_interval,
)

for _name in SECTION_MODULES:  # the order of the lesson is the order of registration
    importlib.import_module(f"{__name__}.{_name}")

__all__ = [
    "BOOTSTRAP_SEED",
    "CLAIMS",
    "COLUMNS",
    "GRADIENT_DECADES",
    "LEVEL",
    "N_RESAMPLES",
    "NEAR_ZERO",
    "NOT_APPLICABLE",
    "SECTIONS",
    "SECTION_MODULES",
    "VERDICTS",
    "Claim",
    "NngridError",
    "Verdict",
    "applies",
    "bootstrap_interval",
    "claim",
    "claims_table",
    "decide",
    "evaluate",
    "load_inputs",
    "main",
    "mean_interval",
    "readme_table",
    "sign_interval",
]
