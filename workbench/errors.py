"""The base of every error a user can cause. The CLI prints its message in one line
(set WORKBENCH_DEBUG=1 for the traceback)."""


class WorkbenchError(Exception):
    """Something the user can fix: a bad file, path, option or checkpoint."""
