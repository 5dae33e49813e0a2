"""What counts as an expected failure, and how every command-line tool reports it.

Expected failures are problems with the user's input: a record, a checkpoint, a configuration, a
missing file or extra. Every ``leadattn`` command prints one line, ``error: <file>: <problem>``, and exits
with status 2 for them. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class LeadattnError(Exception):
    """Base of the errors leadattn raises for bad input (records, checkpoints, runs, extras)."""


class MissingExtraError(LeadattnError, ImportError):
    """An optional dependency is needed: the message says which extra installs it."""


EXPECTED: tuple[type[BaseException], ...] = (
    LeadattnError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
    IsADirectoryError,
    ValueError,
    KeyError,
)


def message(error: BaseException) -> str:
    """The one-line text of an expected error (a ``KeyError`` without its quotes)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error)


def run_cli(command: Callable[[], int | None]) -> int:
    """Run ``command``; an expected failure prints ``error: ...`` on stderr and gives exit status 2."""
    try:
        return int(command() or 0)
    except EXPECTED as error:
        print(f"error: {message(error)}", file=sys.stderr)
        return 2
