"""``python -m nngrid.study.claims``: decide every claim into claims.csv (see :mod:`.core`)."""

from nngrid.study.claims import main

raise SystemExit(main())
