"""One error family for everything the user can fix.

The CLI prints a `UserError` as a single line and exits with code 2; any other
exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input, config or environment: the message names the file, key or row."""


class ConfigError(UserError):
    """A config file or override is malformed or names an unknown key."""


class DataError(UserError):
    """A data file is missing, empty, malformed or lacks a column."""


class ModelRefError(UserError):
    """A model reference cannot be resolved to something loadable."""


class CatalogError(UserError):
    """A catalog download failed or its hash did not match."""


class BackendUnavailable(UserError):
    """An optional backend (vLLM, bitsandbytes, a GPU) is not installed or present."""


class StageError(UserError):
    """A stage cannot run: corrupt upstream artifact, judge gate refused, too many failures."""


def did_you_mean(name: str, choices, otherwise: str = "") -> str:
    """The tail of a one-line error: "; did you mean 'x'?" for the closest of `choices`, else `otherwise`."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else otherwise
