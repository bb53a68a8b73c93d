"""The base of every error a user can cause. The CLI prints its message in one line and
exits 2 (set WORKBENCH_DEBUG=1 for the traceback). Raise a subclass (or this) for
anything a user can fix; anything else that escapes is a bug in the workbench."""


class WorkbenchError(Exception):
    """Something the user can fix: a bad file, path, option or checkpoint."""


class ConfigError(WorkbenchError, ValueError):
    """A config key or value a user set is unknown or not allowed (a flag, ``--set``,
    a YAML/JSON file or a keyword argument)."""


class UsageError(WorkbenchError):
    """A command line that does not parse (unknown flag, missing argument, bad number).
    ``prog``: the (sub)command whose parser refused it, e.g. "workbench train"."""

    def __init__(self, message: str, prog: str = "workbench"):
        super().__init__(message)
        self.prog = prog


class WorkbenchWarning(UserWarning):
    """Something the workbench changed or skipped for the user (a smaller batch than asked,
    a metric it could not compute). The CLI prints it as one line on stderr."""
