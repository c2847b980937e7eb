"""Moved to :mod:`nngrid.study.claims`; this alias keeps ``nngrid.claims`` and
``python -m nngrid.claims`` working (the workflow calls ``python -m nngrid.study.claims``)."""

import sys

from nngrid.study import claims as _claims

if __name__ == "__main__":
    raise SystemExit(_claims.main())
sys.modules[__name__] = _claims
