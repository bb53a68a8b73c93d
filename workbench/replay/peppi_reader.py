"""Fast path: peppi-py's Arrow arrays straight into the frame table, no per-frame Python."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from peppi_py import _peppi

from workbench.replay.header import RawHeader, meta_from_header, read_header
from workbench.replay.table import GameTable, Items, PlayerFrames, assemble, resolve_rollback

# frame-table field -> path in peppi's pre/post structs
PRE_PATHS = {
    "stick_x": ("joystick", "x"),
    "stick_y": ("joystick", "y"),
    "cstick_x": ("cstick", "x"),
    "cstick_y": ("cstick", "y"),
    "trigger": ("triggers",),
    "buttons": ("buttons_physical",),
}
POST_PATHS = {
    "character": ("character",),
    "action": ("state",),
    "action_frame": ("state_age",),
    "x": ("position", "x"),
    "y": ("position", "y"),
    "facing": ("direction",),
    "percent": ("percent",),
    "shield": ("shield",),
    "stocks": ("stocks",),
    "hitlag": ("hitlag",),
    "hitstun": ("misc_as",),
    "jumps_left": ("jumps",),
    "on_ground": ("airborne",),
    "hurtbox": ("hurtbox_state",),
    "speed_air_x_self": ("velocities", "self_x_air"),
    "speed_y_self": ("velocities", "self_y"),
    "speed_x_attack": ("velocities", "knockback_x"),
    "speed_y_attack": ("velocities", "knockback_y"),
    "speed_ground_x_self": ("velocities", "self_x_ground"),
    "last_hit_by": ("last_hit_by",),
    "l_cancel": ("l_cancel",),
}
ITEM_PATHS = {
    "type": ("type",),
    "state": ("state",),
    "x": ("position", "x"),
    "y": ("position", "y"),
    "owner": ("owner",),
    "spawn_id": ("id",),
}


def _child(struct: pa.StructArray, path: tuple[str, ...]) -> pa.Array | None:
    arr = struct
    for name in path:
        if arr.type.get_field_index(name) < 0:
            return None  # field not recorded by this Slippi version
        arr = arr.field(name)
    return arr


def _numpy(arr: pa.Array | None, rows: np.ndarray | None) -> np.ndarray | None:
    if arr is None:
        return None
    if arr.null_count:
        arr = pc.fill_null(arr, 0)
    values = arr.to_numpy(zero_copy_only=False)
    return values if rows is None else values[rows]


def _valid(data: pa.StructArray, rows: np.ndarray | None) -> np.ndarray:
    valid = np.asarray(data.is_valid().to_numpy(zero_copy_only=False))
    return valid if rows is None else valid[rows]


def _fields(data: pa.StructArray, rows: np.ndarray | None) -> dict[str, np.ndarray | None]:
    pre, post = data.field("pre"), data.field("post")
    out = {name: _numpy(_child(pre, path), rows) for name, path in PRE_PATHS.items()}
    out.update({name: _numpy(_child(post, path), rows) for name, path in POST_PATHS.items()})
    if out["facing"] is not None:
        out["facing"] = np.where(out["facing"] < 0, -1, 1).astype(np.int8)
    if out["on_ground"] is not None:
        out["on_ground"] = out["on_ground"] == 0
    return out


def read_peppi(path: str, header: RawHeader | None = None) -> GameTable:
    """Parse ``path`` with peppi-py. Raises whatever peppi raises on a bad file.

    Game metadata comes from our own decode of the game-start/end events (``header``,
    read here when not given), the same as the py-slippi path, plus peppi's metadata
    block; over the shared corpus it equals what peppi's own start/end dicts give."""
    game = _peppi.read_slippi(str(path), False)
    if header is None:
        with open(path, "rb") as handle:
            header = read_header(handle.read())
    meta = meta_from_header(header, game.metadata or {})
    frames = game.frames
    ids = frames.field("id").to_numpy()
    rows = resolve_rollback(ids)
    frame_ids = ids if rows is None else ids[rows]
    port_arrays = frames.field("ports")
    players = []
    for info in meta.players:
        port = port_arrays.field(f"P{info.port + 1}")
        leader_arrays = port.field("leader")
        leader = _fields(leader_arrays, rows)
        leader_present = _valid(leader_arrays, rows)
        follower = present = None
        if "follower" in {f.name for f in port.type}:
            nana = port.field("follower")
            present = _valid(nana, rows)
            follower = _fields(nana, rows)
        players.append(PlayerFrames(leader, leader_present, follower, present))
    items = _items(frames, rows, len(frame_ids))
    return assemble(meta, frame_ids, players, items, parser="peppi")


def _items(frames: pa.StructArray, rows: np.ndarray | None, n: int) -> Items:
    if "item" not in {f.name for f in frames.type}:
        return Items.empty(n)  # before Slippi 3.0
    item_lists = frames.field("item")
    offsets = item_lists.offsets.to_numpy().astype(np.int64)
    values = item_lists.flatten()
    fields = {name: _numpy(_child(values, path), None) for name, path in ITEM_PATHS.items()}
    if fields["owner"] is None:  # before 3.6
        fields["owner"] = np.full(len(values), -1, dtype=np.int8)
    items = Items(offsets - offsets[0], fields)
    return items if rows is None else items.take(rows)
