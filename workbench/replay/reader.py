"""``read_replay``: one .slp file to a validated :class:`GameTable`, peppi-py first and
py-slippi as the fallback, with a typed error for every way a file can be bad."""

from __future__ import annotations

import contextlib
import os
import tempfile

from workbench.errors import ConfigError
from workbench.replay.errors import (
    CorruptReplayError,
    EmptyReplayError,
    NotSlippiError,
    ReplayError,
    UnsupportedModeError,
)
from workbench.replay.files import MAX_REPLAY_BYTES, read_replay_bytes, utf8_path
from workbench.replay.header import HeaderError, RawHeader, game_mode, read_header
from workbench.replay.peppi_reader import read_peppi
from workbench.replay.repair import peppi_repairs, realign_followers, rewrite_events
from workbench.replay.slippi_reader import read_pyslippi
from workbench.replay.table import GameTable
from workbench.replay.validate import check_bounds, check_frames, check_header

PARSERS = ("auto", "peppi", "py-slippi")
_HEADER_ERRORS = {"empty": EmptyReplayError, "not_slippi": NotSlippiError, "corrupt": CorruptReplayError}


_FATAL = (KeyboardInterrupt, SystemExit, GeneratorExit)  # never swallowed


def read_header_of(path: str, data: bytes | None = None) -> RawHeader:
    """The replay's raw header, or the typed error saying why it has none."""
    if data is None:
        data = read_replay_bytes(path)
    try:
        return read_header(data)
    except HeaderError as err:
        raise _HEADER_ERRORS[err.kind](path, str(err)) from None
    except Exception as err:  # a length field pointing past the data, say
        raise CorruptReplayError(path, f"header: {_describe(err)}") from None


def _peppi_may_misalign(table: GameTable) -> bool:
    """peppi-py shifts a character's rows when its events stop mid-game in replays older
    than 3.0 (no frame bookends): Nana dying, a player eliminated in a 3-4 player game.
    py-slippi groups events by their frame number, so it is right there."""
    if table.meta.version_tuple >= (3, 0, 0):
        return False
    has_nana = any(key.endswith("_nana_present") and table.columns[key].any() for key in table.columns)
    return has_nana or len(table.meta.players) > 2


def read_replay(
    path: str | os.PathLike,
    parser: str = "auto",
    check: bool = True,
    data: bytes | None = None,
    max_bytes: int = MAX_REPLAY_BYTES,
) -> GameTable:
    """Read and validate one replay.

    ``parser``: "auto" (peppi-py, falling back to py-slippi), "peppi" or "py-slippi".
    ``data``: the file's bytes when the caller has already read them; otherwise the file
    is read (a regular file of at most ``max_bytes``).
    Raises a :class:`ReplayError` subclass, and nothing else, for every way a file can
    be bad: unreadable, not a file, too large, empty, not Slippi, corrupt or truncated
    (a parser that panics included), unsupported modes (Home-Run Contest, Break the
    Targets) and decoded values out of range.
    """
    if parser not in PARSERS:
        raise ConfigError(f"unknown parser {parser!r}: choose one of {', '.join(PARSERS)}")
    if data is None:
        data = read_replay_bytes(path, max_bytes)
    header = read_header_of(path, data)
    check_header(header, path)
    mode = game_mode(header.stage, header.scene_major)
    if mode in ("home_run", "target_test"):
        raise UnsupportedModeError(path, mode.replace("_", "-"))
    table = _parse(path, header, parser, data)
    if len(table) == 0:
        raise EmptyReplayError(path, "no frames recorded")
    if check:
        check_frames(table, path)
        check_bounds(table, path)
    return table


@contextlib.contextmanager
def _quiet_stderr():
    """Rust's panic hook writes the panic (and, with RUST_BACKTRACE set, a backtrace) to
    file descriptor 2 before pyo3 raises PanicException; the message is kept in the
    error's detail, so the terminal and the ingest progress bar stay clean."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _describe(err: BaseException) -> str:
    """One short line for a parser's failure (pyo3's PanicException included)."""
    text = " ".join(str(err).split())
    kind = type(err).__name__
    text = f"{kind}: {text}" if kind == "PanicException" or not text else text
    return text if len(text) <= 200 else text[:197] + "..."


def _peppi_repaired(data: bytes, header: RawHeader, repairs: tuple[set[int], dict[int, int]]) -> GameTable | None:
    """peppi-py on the file with ``repairs`` (:func:`peppi_repairs`' codes to drop and to
    pad) applied (see :mod:`workbench.replay.repair`), or None when nothing changes or
    peppi-py still fails."""
    repaired = rewrite_events(data, *repairs)
    if repaired is None:
        return None
    fixed, dropped = repaired
    folder = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.NamedTemporaryFile(suffix=".slp", dir=folder) as handle:
        handle.write(fixed)
        handle.flush()
        try:
            with _quiet_stderr():
                table = read_peppi(handle.name, header)
        except BaseException as err:
            if isinstance(err, _FATAL):
                raise
            return None
    table.parser = "peppi-repaired"
    return table


def _parse(path: str, header: RawHeader, parser: str, data: bytes) -> GameTable:
    failures = []
    if parser in ("auto", "peppi"):
        # a flaw peppi stops at that the payload table shows has a byte-level repair,
        # cheaper than the fallback: tried first, not after a failed parse
        repairs = peppi_repairs(data, header.version)
        if any(repairs) and (table := _peppi_repaired(data, header, repairs)) is not None:
            if not _peppi_may_misalign(table):
                return table
        try:
            with utf8_path(path) as readable, _quiet_stderr():
                table = read_peppi(readable, header)
            if parser == "peppi" or not _peppi_may_misalign(table):
                return table
            if len(table.meta.players) == 2 and realign_followers(table, data):
                table.parser = "peppi-realigned"  # Nana's rows moved to her frames
                return table
        except BaseException as err:  # peppi: OSError/ValueError, or a Rust panic
            if isinstance(err, _FATAL):
                raise
            failures.append(f"peppi-py: {_describe(err)}")
            if parser == "peppi":
                raise CorruptReplayError(path, failures[0]) from None
    try:
        return read_pyslippi(path, header, data)
    except ReplayError:
        raise
    except BaseException as err:  # py-slippi raises ParseError, EOFError, struct.error, ...
        if isinstance(err, _FATAL):
            raise
        text = _describe(err).replace(os.fsdecode(path), "").strip()
        failures.append(f"py-slippi: {text or type(err).__name__}")
    detail = "; ".join(failures)
    if header.raw_length == 0:
        detail = "never finalized (raw length 0); " + detail
    raise CorruptReplayError(path, detail)
