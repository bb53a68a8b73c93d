"""Byte-level repairs that let the fast parser (peppi-py) read what it would otherwise
leave to the fallback (py-slippi, ~80x slower per frame).

Nana's rows: in pre-3.0 files peppi-py misplaces Ice Climbers' follower once her events
stop mid-game; :func:`realign_followers` moves her rows to the frames her events carry
(one walk of the event stream in Python, ~10 ms per game), equal to py-slippi's read.

The flaws handled (:func:`peppi_repairs` picks them, :func:`rewrite_events` applies
them: every other byte is kept, so the parse of the rest is peppi's own), each a flaw
peppi-py stops at and py-slippi reads past:

- an event code declared in the payload-sizes table with a size of 0 (e.g. a recorder's
  unknown ``0xff`` event): peppi-py stops at it ("zero-size event payload"); dropped.
- a 3.17 file whose pre-frame events have 3.15's size (64 bytes, without 3.17's raw
  C-stick x/y): peppi-py reads 3.17's layout past each event's end ("failed to fill whole
  buffer"); padded with the two bytes as 0 (no stored column reads them).
- stage events (FoD platforms, Whispy, Stadium transformations) in a file older than
  3.18, the version peppi-py reads them from (a panic before); dropped (the store keeps
  no stage state).

``tests/test_replay_reader.py`` checks each repaired parse equals py-slippi's frame for
frame on the shared corpus files that have these flaws.
"""

from __future__ import annotations

import struct

import numpy as np

from workbench.jit import compile_kernel

RAW_MARKER = b"raw[$U#l"
PAYLOAD_SIZES = 0x35


def _payload_table(data: bytes) -> tuple[int, int, dict[int, int], list[tuple[int, bytes]]] | None:
    """(raw element start, its declared length, code -> payload size, the table's raw
    entries), or None when the file does not start the usual way."""
    at = data.find(RAW_MARKER, 0, 64)
    if at < 0 or len(data) < at + 14:
        return None
    length = struct.unpack(">I", data[at + 8 : at + 12])[0]
    start = at + 12
    if data[start] != PAYLOAD_SIZES:
        return None
    table_size = data[start + 1]
    entries = [
        (data[start + 2 + 3 * k], data[start + 3 + 3 * k : start + 5 + 3 * k]) for k in range((table_size - 1) // 3)
    ]
    sizes = {code: struct.unpack(">H", size)[0] for code, size in entries}
    return start, length, sizes, entries


def zero_size_codes(data: bytes) -> list[int]:
    """Event codes the payload-sizes table declares with size 0."""
    table = _payload_table(data)
    return [] if table is None else sorted(code for code, size in table[2].items() if size == 0)


def _walk(data: np.ndarray, first: int, end: int, sizes: np.ndarray, offsets: np.ndarray, status: np.ndarray) -> int:
    """Offsets of the events from ``first`` to ``end`` in ``data`` (uint8) into
    ``offsets``, each event's size read from ``sizes`` (256 entries, -1 for a code the
    payload table does not declare); returns their count. ``status``: [where the walk
    stopped, 1 if at an undeclared code else 0]."""
    position, count = first, 0
    status[1] = 0
    while position < end:
        size = sizes[data[position]]
        if size < 0:
            status[1] = 1
            break
        offsets[count] = position
        count += 1
        position += 1 + size
    status[0] = position
    return count


walk = compile_kernel(_walk)


def event_offsets(data: bytes, table=None, exact: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Every event of the raw element after the payload table: (offsets, codes), by one
    compiled walk of the stream (a Python loop over a game's ~60,000 events took 25-70
    ms). None when the file does not start the usual way, the stream holds a code its
    table does not declare, or (``exact``) the events do not end exactly at the
    element's end; with ``exact=False`` a last event cut short is left out."""
    table = _payload_table(data) if table is None else table
    if table is None:
        return None
    start, length, sizes, entries = table
    raw = np.frombuffer(data, np.uint8)
    end = start + length if length else len(raw)
    if end > len(raw) and exact:
        return None
    end = min(end, len(raw))
    lookup = np.full(256, -1, np.int64)
    for code, size in sizes.items():
        lookup[code] = size
    first = start + 2 + 3 * len(entries)
    most = (end - first) // (1 + min(sizes.values(), default=0)) + 1  # every event at the smallest size
    offsets, status = np.empty(most, np.int64), np.zeros(2, np.int64)
    count = walk(raw, first, end, lookup, offsets, status)
    if status[1] or (exact and status[0] != end):
        return None
    offsets = offsets[:count]
    if status[0] > end:  # the last event runs past the data
        offsets = offsets[:-1]
    return offsets, raw[offsets]


def rewrite_events(data: bytes, drop: set[int], pad: dict[int, int] | None = None) -> tuple[bytes, int] | None:
    """The file with every event of a code in ``drop`` removed (its payload-table entry
    and each occurrence) and every event of a code in ``pad`` given that many zero bytes
    more (its declared size grown to match), the raw element's length field updated, and
    how many events were dropped or padded; None when there is nothing to do or the
    event stream does not walk cleanly (then the file is left to the fallback parser).
    Every other byte is kept, so the parse of the rest is peppi's own."""
    pad = {code: n for code, n in (pad or {}).items() if n > 0}
    table = _payload_table(data)
    if table is None or not (drop or pad):
        return None
    walked = event_offsets(data, table)
    if walked is None:
        return None  # an undeclared code: not a flaw these repairs understand
    start, length, sizes, entries = table
    end = start + length if length else len(data)
    offsets, codes = walked
    keep = [
        (code, struct.pack(">H", sizes[code] + pad.get(code, 0)) if code in pad else size)
        for code, size in entries
        if code not in drop
    ]
    table_bytes = bytes([PAYLOAD_SIZES, 1 + 3 * len(keep)]) + b"".join(bytes([c]) + s for c, s in keep)
    first = start + 2 + 3 * len(entries)
    dropped = np.isin(codes, list(drop))
    padded = np.isin(codes, list(pad))
    if not (dropped.any() or padded.any()):
        return None
    stream = np.frombuffer(data, np.uint8)[first:end]
    kept = np.ones(len(stream), bool)
    for position, code in zip((offsets[dropped] - first).tolist(), codes[dropped].tolist()):
        kept[position : position + 1 + sizes[code]] = False
    # each padded event's zeros go right after it: one insert for all of them
    after = [(offsets[padded & (codes == code)] - first + 1 + sizes[code], n) for code, n in pad.items()]
    at_rows = np.concatenate([np.repeat(rows, n) for rows, n in after]) if after else np.zeros(0, np.int64)
    stream = np.insert(stream, at_rows, 0)
    kept = np.insert(kept, at_rows, True)
    body = table_bytes + stream[kept].tobytes()
    changed = int(dropped.sum() + padded.sum())
    at = start - 12
    fixed_length = len(body) if length else 0
    return data[: at + 8] + struct.pack(">I", fixed_length) + body + data[end:], changed


def drop_zero_size_events(data: bytes) -> tuple[bytes, int] | None:
    """The file without its zero-size events and the number of occurrences dropped, or
    None when there are none or the event stream does not walk cleanly."""
    return rewrite_events(data, set(zero_size_codes(data)))


PRE_FRAME = 0x37
PRE_FRAME_3_15, PRE_FRAME_3_17 = 64, 66  # payload sizes: ... raw analog y (3.15), raw C-stick x, y (3.17)
STAGE_EVENTS = frozenset({0x3F, 0x40, 0x41})  # FoD platforms, Whispy, Stadium transformation


def peppi_repairs(data: bytes, version: tuple[int, int, int]) -> tuple[set[int], dict[int, int]]:
    """Which codes to drop and which to pad (code -> bytes) so that peppi-py reads a file
    it would stop at, each a flaw py-slippi reads past (see the module docstring)."""
    table = _payload_table(data)
    if table is None:
        return set(), {}
    sizes = table[2]
    drop = {code for code, size in sizes.items() if size == 0}
    if version < (3, 18, 0):  # peppi reads stage events from 3.18 on and fails on earlier ones
        drop |= STAGE_EVENTS & set(sizes)
    pad = {}
    if version >= (3, 17, 0) and sizes.get(PRE_FRAME) == PRE_FRAME_3_15:
        pad[PRE_FRAME] = PRE_FRAME_3_17 - PRE_FRAME_3_15  # the raw C-stick bytes, unrecorded: 0
    return drop, pad


POST_FRAME = 0x38


def follower_frames(data: bytes) -> dict[int, np.ndarray] | None:
    """Frame numbers of every follower (Nana) post-frame event, by port (0-based), from
    one walk of the event stream; None when the stream does not walk cleanly."""
    table = _payload_table(data)
    events = None if table is None else event_offsets(data, table, exact=False)
    if events is None:
        return None
    offsets, codes = events
    if table[2].get(POST_FRAME, 0) < 6:
        return {}
    raw = np.frombuffer(data, np.uint8)
    post = offsets[codes == POST_FRAME]
    post = post[raw[post + 6] != 0]  # follower posts: frame id (4, big-endian), port, is_follower
    frames = raw[post[:, None] + np.arange(1, 5)].copy().view(">i4")[:, 0].astype(np.int64)
    ports = raw[post + 5]
    return {int(port): frames[ports == port] for port in np.unique(ports).tolist()}


def realign_followers(table, data: bytes) -> bool:
    """Put Nana's rows of a pre-3.0 two-player table read by peppi-py on the frames her
    events belong to, in place. peppi-py lays a follower's K recorded frames on the first
    K rows when her events stop mid-game (Nana dying; no frame bookends before 3.0);
    the frame number in each of her post-frame events says where each belongs. Returns
    False (table untouched) when the layout is not that one, so the caller falls back."""
    frames = follower_frames(data)
    if frames is None or len(table.meta.players) != 2:
        return False
    updates = {}
    for index, player in enumerate(table.meta.players):
        prefix = f"p{index}_nana_"
        present = table.columns.get(prefix + "present")
        if present is None or not present.any():
            continue
        event_frames = frames.get(player.port)
        count = int(present.sum())
        if event_frames is None or len(event_frames) != count or not present[:count].all():
            return False  # not the dense layout this repair knows
        rows = np.searchsorted(table.frames, event_frames)
        if (
            (rows >= len(table.frames)).any()
            or not np.array_equal(table.frames[rows], event_frames)
            or (np.diff(rows) <= 0).any()
        ):
            return False
        absent = np.setdiff1d(np.arange(len(table.frames)), rows)
        source = np.empty(len(table.frames), np.int64)
        source[rows] = np.arange(count)
        source[absent] = np.arange(count, len(table.frames))
        updates.update({key: value[source] for key, value in table.columns.items() if key.startswith(prefix)})
    table.columns.update(updates)
    return True
