"""Opening replay files a user points at, whatever they turn out to be: a name that is
not valid UTF-8, a file without read permission, a symlink loop, a FIFO or a folder
named ``.slp``, a 3 GB file. Each becomes a typed :class:`ReplayError`, never a hang,
a crash or a whole file read into memory."""

from __future__ import annotations

import errno
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from workbench.replay.errors import NotAFileError, TooLargeError, UnreadableFileError

#: The largest file read as a replay. A long real game is 5-10 MB (an hour ~ 50 MB).
MAX_REPLAY_BYTES = 256 * 2**20

_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a folder",
}
_WHY = {
    errno.ELOOP: "a symlink loop",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "no such file (a broken link?)",
    errno.ENOTDIR: "a parent is not a folder",
    errno.ENAMETOOLONG: "name too long",
    errno.EIO: "input/output error",
}


def printable_path(path: str | bytes | os.PathLike) -> str:
    """``path`` as text that can be printed, stored in Parquet and JSON: bytes that are
    not UTF-8 (surrogate-escaped in ``str`` paths) become ``\\xNN``."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")


def os_reason(err: OSError) -> str:
    """A few words for an OSError on a replay path."""
    return _WHY.get(err.errno, err.strerror or type(err).__name__)


def read_replay_bytes(path: str | os.PathLike, max_bytes: int = MAX_REPLAY_BYTES) -> bytes:
    """The bytes of the regular file at ``path`` (at most ``max_bytes``).

    Opens without blocking (a FIFO would wait for a writer forever), then checks what
    the open file is, so a file swapped after a check is still judged by what was read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        if err.errno == errno.EISDIR:
            raise NotAFileError(path, "a folder") from None
        raise UnreadableFileError(path, os_reason(err)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFileError(path, _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file"))
        if info.st_size > max_bytes:
            raise TooLargeError(
                path, f"{info.st_size / 2**20:,.0f} MB > the {max_bytes / 2**20:,.0f} MB cap for one replay"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)  # a file still growing stops at the cap
        if len(data) > max_bytes:
            raise TooLargeError(path, f"more than the {max_bytes / 2**20:,.0f} MB cap for one replay")
        return data
    except OSError as err:
        raise UnreadableFileError(path, os_reason(err)) from None
    finally:
        os.close(fd)


@contextmanager
def utf8_path(path: str | os.PathLike) -> Iterator[str]:
    """A path peppi-py (Rust: UTF-8 paths only) can open for ``path``: the path itself,
    or for a name that is not valid UTF-8 a ``/proc/self/fd`` alias open for the block
    (Linux; elsewhere the name as is, and peppi's failure falls through to py-slippi)."""
    text = os.fsdecode(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        if Path("/proc/self/fd").is_dir():
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            try:
                yield f"/proc/self/fd/{fd}"
            finally:
                os.close(fd)
            return
    yield text
