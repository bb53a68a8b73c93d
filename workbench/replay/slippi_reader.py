"""Fallback path: py-slippi frames the event stream, we decode the payloads.

py-slippi reads files peppi-py rejects (an unknown event type, a missing final byte), and
resolves rollback the same way (the last copy of a frame wins). Its own decoder stops at
the Slippi 2.0 post-frame fields, so hurtbox state, speeds and hitlag would be lost. It
keeps each pre/post payload as raw bytes until asked, so we gather those bytes and decode
every field with one big-endian numpy structured dtype per event type, following the
Slippi spec offsets. Both paths then meet in :func:`workbench.replay.table.assemble`.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import slippi
from slippi.event import Frame

from workbench.replay.header import RawHeader, meta_from_header
from workbench.replay.table import GameTable, Items, PlayerFrames, assemble

# (field, big-endian dtype, offset within the payload after the command byte)
PRE_LAYOUT = [
    ("action_pre", ">u2", 0xA),
    ("stick_x", ">f4", 0x18),
    ("stick_y", ">f4", 0x1C),
    ("cstick_x", ">f4", 0x20),
    ("cstick_y", ">f4", 0x24),
    ("trigger", ">f4", 0x28),
    ("buttons", ">u2", 0x30),
]
POST_LAYOUT = [
    ("character", "u1", 0x6),
    ("action", ">u2", 0x7),
    ("x", ">f4", 0x9),
    ("y", ">f4", 0xD),
    ("facing", ">f4", 0x11),
    ("percent", ">f4", 0x15),
    ("shield", ">f4", 0x19),
    ("last_hit_by", "u1", 0x1F),
    ("stocks", "u1", 0x20),
    ("action_frame", ">f4", 0x21),
    ("hitstun", ">f4", 0x2A),
    ("on_ground", "u1", 0x2E),
    ("jumps_left", "u1", 0x31),
    ("l_cancel", "u1", 0x32),
    ("hurtbox", "u1", 0x33),
    ("speed_air_x_self", ">f4", 0x34),
    ("speed_y_self", ">f4", 0x38),
    ("speed_x_attack", ">f4", 0x3C),
    ("speed_y_attack", ">f4", 0x40),
    ("speed_ground_x_self", ">f4", 0x44),
    ("hitlag", ">f4", 0x48),
]
ITEM_LAYOUT = [
    ("type", ">u2", 0x4),
    ("state", "u1", 0x6),
    ("x", ">f4", 0x13),
    ("y", ">f4", 0x17),
    ("spawn_id", ">u4", 0x21),
    ("owner", "i1", 0x29),
]


def _decode(payloads: list[bytes], size: int, layout: list) -> dict[str, np.ndarray | None]:
    """Decode equal-sized payloads; fields past ``size`` (older versions) come back None."""
    kept = [(name, fmt, off) for name, fmt, off in layout if off + np.dtype(fmt).itemsize <= size]
    dtype = np.dtype(
        {
            "names": [k[0] for k in kept],
            "formats": [k[1] for k in kept],
            "offsets": [k[2] for k in kept],
            "itemsize": size,
        }
    )
    records = np.frombuffer(b"".join(payloads), dtype=dtype)
    out: dict[str, np.ndarray | None] = {name: None for name, _, _ in layout}
    for name in dtype.names:
        out[name] = records[name].astype(records[name].dtype.newbyteorder("="))
    return out


@contextlib.contextmanager
def _raw_items():
    """Make py-slippi keep item payloads as bytes (its decoder drops the owner field)."""
    original = Frame.Item.__dict__["_parse"]
    Frame.Item._parse = classmethod(lambda cls, stream: stream.getvalue())
    try:
        yield
    finally:
        Frame.Item._parse = original


def _payload(data_stream: io.BytesIO | None, size: int) -> tuple[bytes, bool]:
    if data_stream is None:
        return bytes(size), False
    raw = data_stream.getvalue()
    return raw[:size].ljust(size, b"\0"), True


def read_pyslippi(path: str, header: RawHeader, data: bytes | None = None) -> GameTable:
    """Parse ``path`` with py-slippi. ``header`` is the already-decoded raw header;
    ``data`` the file's bytes when the caller has them (the file is not read again)."""
    with _raw_items():
        game = slippi.Game(io.BytesIO(data) if data is not None else str(path))
    sizes = header.payload_sizes
    pre_size, post_size = sizes[0x37], sizes[0x38]  # payload sizes exclude the command byte
    meta = meta_from_header(header, game.metadata_raw or {})
    frames = np.array([f.index for f in game.frames], dtype=np.int32)
    players = []
    for info in meta.players:
        players.append(_port_frames(game.frames, info.port, pre_size, post_size))
    items = _items(game.frames, sizes.get(0x3B, 0), len(frames))
    return assemble(meta, frames, players, items, parser="py-slippi")


def _port_frames(frames: list, port: int, pre_size: int, post_size: int) -> PlayerFrames:
    def gather(follower: bool) -> tuple[dict, np.ndarray]:
        pres, posts, present = [], [], []
        for f in frames:
            slot = f.ports[port]
            data = None if slot is None else (slot.follower if follower else slot.leader)
            pre, ok_pre = _payload(None if data is None else data._pre, pre_size)
            post, ok_post = _payload(None if data is None else data._post, post_size)
            pres.append(pre)
            posts.append(post)
            present.append(ok_pre and ok_post)
        fields = _decode(pres, pre_size, PRE_LAYOUT)
        fields.pop("action_pre")
        fields.update(_decode(posts, post_size, POST_LAYOUT))
        if fields["facing"] is not None:
            fields["facing"] = np.where(fields["facing"] < 0, -1, 1).astype(np.int8)
        if fields["on_ground"] is not None:
            fields["on_ground"] = fields["on_ground"] == 0
        return fields, np.array(present, dtype=bool)

    leader, leader_present = gather(False)
    has_follower = any(f.ports[port] is not None and f.ports[port].follower is not None for f in frames)
    if not has_follower:
        return PlayerFrames(leader, leader_present)
    follower, present = gather(True)
    return PlayerFrames(leader, leader_present, follower, present)


def _last_copy(items: tuple[bytes, ...]) -> list[bytes]:
    """Items of the finalized copy of a frame.

    When a frame is re-simulated straight after itself (a rollback of one frame),
    py-slippi groups both copies into one frame and concatenates their item lists. Each
    copy lists an item once, so a repeated spawn id starts the next copy.
    """
    start, seen = 0, set()
    for index, raw in enumerate(items):
        spawn_id = raw[0x21:0x25]
        if spawn_id in seen:
            start, seen = index, set()
        seen.add(spawn_id)
    return list(items[start:])


def _items(frames: list, item_size: int, n: int) -> Items:
    per_frame = [_last_copy(f.items) if f.items else [] for f in frames]
    payloads = [raw for items in per_frame for raw in items]
    if not payloads or item_size <= 0:
        return Items.empty(n)
    counts = np.array([len(items) for items in per_frame], dtype=np.int64)
    fields = _decode([p[:item_size].ljust(item_size, b"\0") for p in payloads], item_size, ITEM_LAYOUT)
    if fields["owner"] is None:  # before 3.6
        fields["owner"] = np.full(len(payloads), -1, dtype=np.int8)
    return Items(np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), fields)
