"""``read_replay``: one .slp file to a validated :class:`GameTable`, peppi-py first and
py-slippi as the fallback, with a typed error for every way a file can be bad."""
from __future__ import annotations

import os

from workbench.errors import ConfigError
from workbench.replay.errors import (
    CorruptReplayError, EmptyReplayError, NotSlippiError, ReplayError, UnsupportedModeError,
)
from workbench.replay.header import HeaderError, RawHeader, game_mode, read_header
from workbench.replay.peppi_reader import read_peppi
from workbench.replay.slippi_reader import read_pyslippi
from workbench.replay.table import GameTable
from workbench.replay.validate import check_bounds

PARSERS = ("auto", "peppi", "py-slippi")
_HEADER_ERRORS = {"empty": EmptyReplayError, "not_slippi": NotSlippiError,
                  "corrupt": CorruptReplayError}


def read_header_of(path: str, data: bytes | None = None) -> RawHeader:
    """The replay's raw header, or the typed error saying why it has none."""
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read()
    try:
        return read_header(data)
    except HeaderError as err:
        raise _HEADER_ERRORS[err.kind](path, str(err)) from None


def _peppi_may_misalign(table: GameTable) -> bool:
    """peppi-py shifts a character's rows when its events stop mid-game in replays older
    than 3.0 (no frame bookends): Nana dying, a player eliminated in a 3-4 player game.
    py-slippi groups events by their frame number, so it is right there."""
    if table.meta.version_tuple >= (3, 0, 0):
        return False
    has_nana = any(key.endswith("_nana_present") and table.columns[key].any()
                   for key in table.columns)
    return has_nana or len(table.meta.players) > 2


def read_replay(path: str | os.PathLike, parser: str = "auto", check: bool = True,
                data: bytes | None = None) -> GameTable:
    """Read and validate one replay.

    ``parser``: "auto" (peppi-py, falling back to py-slippi), "peppi" or "py-slippi".
    ``data``: the file's bytes when the caller has already read them.
    Raises a :class:`ReplayError` subclass for empty, non-Slippi, corrupt or truncated
    files, unsupported modes (Home-Run Contest, Break the Targets) and out-of-range values.
    """
    path = str(path)
    if parser not in PARSERS:
        raise ConfigError(f"unknown parser {parser!r}: choose one of {', '.join(PARSERS)}")
    if data is None:
        with open(path, "rb") as handle:
            data = handle.read()
    header = read_header_of(path, data)
    mode = game_mode(header.stage, header.scene_major)
    if mode in ("home_run", "target_test"):
        raise UnsupportedModeError(path, mode.replace("_", "-"))
    table = _parse(path, header, parser, data)
    if len(table) == 0:
        raise EmptyReplayError(path, "no frames recorded")
    if check:
        check_bounds(table, path)
    return table


def _parse(path: str, header: RawHeader, parser: str, data: bytes) -> GameTable:
    failures = []
    if parser in ("auto", "peppi"):
        try:
            table = read_peppi(path, header)
            if parser == "peppi" or not _peppi_may_misalign(table):
                return table
        except Exception as err:  # peppi raises plain OSError/ValueError on bad data
            failures.append(f"peppi-py: {err}")
            if parser == "peppi":
                raise CorruptReplayError(path, failures[0]) from None
    try:
        return read_pyslippi(path, header, data)
    except ReplayError:
        raise
    except Exception as err:  # py-slippi raises ParseError, EOFError, struct.error, ...
        failures.append(f"py-slippi: {str(err).replace(path, '').strip() or type(err).__name__}")
    detail = "; ".join(failures)
    if header.raw_length == 0:
        detail = "never finalized (raw length 0); " + detail
    raise CorruptReplayError(path, detail)
