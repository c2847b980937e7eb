"""The one error type users see.

Everything that is the user's fault (a bad name, a bad value, a bad file) raises
:class:`NngridError` with a one-line message that names the problem and the fix.
The command line prints it as ``nngrid: error: <message>`` and exits with status 2.
"""


class NngridError(ValueError):
    """A user-facing error with a one-line message."""


def choices_message(kind: str, value: object, valid: list[str]) -> str:
    """Return ``unknown <kind> 'value'; valid choices: a, b, c``."""
    return f"unknown {kind} {value!r}; valid choices: {', '.join(valid)}"
