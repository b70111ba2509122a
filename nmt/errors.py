"""The one exception type for errors a user can cause.

The command line turns an :class:`NmtError` into a single ``nmt <command>: error: ...`` line and a
non-zero exit code; anything else is a bug and keeps its traceback.
"""


class NmtError(Exception):
    """A user-caused error (bad input, missing file, bad option) with a one-line message."""


class UsageError(NmtError):
    """A malformed command line (a missing argument, options that cannot go together): exit 2."""
