"""The one error type users see.

Everything that is the user's fault (a bad name, a bad value, a bad file) raises
:class:`NngridError` with a one-line message that names the problem and the fix.
The command line prints it as ``nngrid: error: <message>`` and exits with status 2.
"""

import sys


class NngridError(ValueError):
    """A user-facing error with a one-line message."""


def choices_message(kind: str, value: object, valid: list[str]) -> str:
    """Return ``unknown <kind> 'value'; valid choices: a, b, c``."""
    return f"unknown {kind} {value!r}; valid choices: {', '.join(valid)}"


def report_error(exc: NngridError) -> int:
    """Print ``exc`` on stderr as the one line ``nngrid: error: <message>`` and return the exit
    status of a user error, 2 (what the ``main`` of every ``python -m nngrid...`` module does)."""
    print(f"nngrid: error: {exc}", file=sys.stderr)
    return 2
