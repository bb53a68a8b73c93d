"""Replay files to the columnar frame store.

``read_replay(path)`` parses one .slp (peppi-py first, py-slippi as fallback) into a
validated :class:`GameTable`; ``ingest(paths, out)`` fills a :class:`FrameStore`.
"""

from workbench.replay.errors import (
    ALL_REASONS,
    CorruptReplayError,
    CPUPlayerError,
    DuplicateGameError,
    EmptyReplayError,
    FilteredOutError,
    LowQualityError,
    NotSlippiError,
    OutOfRangeError,
    ReplayError,
    TooManyPlayersError,
    TooShortError,
    UnsupportedModeError,
    WorkbenchError,
)
from workbench.replay.ingest import IngestResult, MissingPathError, find_replays, format_summary, ingest
from workbench.replay.reader import read_replay
from workbench.replay.store import FrameStore, file_md5, game_key, load_arrays
from workbench.replay.table import GameTable
from workbench.replay.quality import QUALITY_FLAGS, passes, quality_flags
from workbench.replay.validate import IngestPolicy

__all__ = [
    "ALL_REASONS",
    "CorruptReplayError",
    "CPUPlayerError",
    "DuplicateGameError",
    "EmptyReplayError",
    "FilteredOutError",
    "LowQualityError",
    "NotSlippiError",
    "OutOfRangeError",
    "ReplayError",
    "TooManyPlayersError",
    "TooShortError",
    "UnsupportedModeError",
    "WorkbenchError",
    "IngestResult",
    "MissingPathError",
    "find_replays",
    "format_summary",
    "ingest",
    "read_replay",
    "FrameStore",
    "file_md5",
    "game_key",
    "load_arrays",
    "GameTable",
    "IngestPolicy",
    "quality_flags",
    "QUALITY_FLAGS",
    "passes",
]
