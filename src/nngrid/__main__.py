"""``python -m nngrid``: the same as the ``nngrid`` command."""

import sys

from nngrid.cli import main

if __name__ == "__main__":
    sys.exit(main())
