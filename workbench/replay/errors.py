"""Typed replay errors. Each carries a short ``reason`` (what the ingest report and the
manifest record) and a message that says what was wrong and what to do. ``path`` is
printable (a name that is not valid UTF-8 keeps its bytes as ``\\xNN`` escapes).

``status`` tells the ingest report how to file a file that raised it:
``"error"`` when the file cannot be read at all, ``"skipped"`` when it was read but is
not what training wants by default.
"""

from __future__ import annotations

from workbench.errors import WorkbenchError


class ReplayError(WorkbenchError):
    reason = "unreadable replay"
    status = "error"

    def __init__(self, path, detail: str = ""):
        from workbench.replay.files import printable_path

        self.path = printable_path(path)
        self.detail = detail
        message = f"{self.path}: {self.reason}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class EmptyReplayError(ReplayError):
    reason = "empty file"


class UnreadableFileError(ReplayError):
    reason = "unreadable file"  # permission denied, a symlink loop, vanished


class NotAFileError(ReplayError):
    reason = "not a regular file"  # a folder named .slp, a FIFO, a socket, a device


class TooLargeError(ReplayError):
    reason = "file too large"
    status = "skipped"


class NotSlippiError(ReplayError):
    reason = "not a Slippi replay"


class CorruptReplayError(ReplayError):
    reason = "truncated or corrupt"


class OutOfRangeError(CorruptReplayError):
    reason = "decoded values out of range"


class UnsupportedModeError(ReplayError):
    reason = "unsupported game mode"
    status = "skipped"


class TooShortError(ReplayError):
    reason = "too short"
    status = "skipped"


class TooManyPlayersError(ReplayError):
    reason = "more than two players"
    status = "skipped"


class CPUPlayerError(ReplayError):
    reason = "CPU player"
    status = "skipped"


class FilteredOutError(ReplayError):
    reason = "filtered out"
    status = "skipped"


class LowQualityError(ReplayError):
    reason = "low quality"  # --quality-threshold / --exclude-flags
    status = "skipped"


class DuplicateGameError(ReplayError):
    reason = "duplicate game"
    status = "skipped"


#: Every reason a replay can be skipped or rejected, for docs and the summary table.
ALL_REASONS = tuple(
    cls.reason
    for cls in (
        EmptyReplayError,
        UnreadableFileError,
        NotAFileError,
        TooLargeError,
        NotSlippiError,
        CorruptReplayError,
        OutOfRangeError,
        UnsupportedModeError,
        TooShortError,
        TooManyPlayersError,
        CPUPlayerError,
        FilteredOutError,
        LowQualityError,
        DuplicateGameError,
    )
)
