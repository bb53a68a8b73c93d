"""Fast path: peppi-py's Arrow arrays straight into the frame table, no per-frame Python."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from peppi_py import _peppi

from workbench.replay.header import game_mode
from workbench.replay.table import GameTable, Items, PlayerFrames, assemble, resolve_rollback
from workbench.types import GameMeta, PlayerInfo

# frame-table field -> path in peppi's pre/post structs
PRE_PATHS = {
    "stick_x": ("joystick", "x"), "stick_y": ("joystick", "y"),
    "cstick_x": ("cstick", "x"), "cstick_y": ("cstick", "y"),
    "trigger": ("triggers",), "buttons": ("buttons_physical",),
}
POST_PATHS = {
    "character": ("character",), "action": ("state",), "action_frame": ("state_age",),
    "x": ("position", "x"), "y": ("position", "y"), "facing": ("direction",),
    "percent": ("percent",), "shield": ("shield",), "stocks": ("stocks",),
    "hitlag": ("hitlag",), "hitstun": ("misc_as",), "jumps_left": ("jumps",),
    "on_ground": ("airborne",), "hurtbox": ("hurtbox_state",),
    "speed_air_x_self": ("velocities", "self_x_air"), "speed_y_self": ("velocities", "self_y"),
    "speed_x_attack": ("velocities", "knockback_x"),
    "speed_y_attack": ("velocities", "knockback_y"),
    "speed_ground_x_self": ("velocities", "self_x_ground"),
    "last_hit_by": ("last_hit_by",), "l_cancel": ("l_cancel",),
}
ITEM_PATHS = {
    "type": ("type",), "state": ("state",), "x": ("position", "x"), "y": ("position", "y"),
    "owner": ("owner",), "spawn_id": ("id",),
}
PLAYER_TYPES = {"Human": "human", "Cpu": "cpu", "Demo": "demo"}
END_METHODS = {"Unresolved": "unresolved", "Time": "time", "Game": "game",
               "Resolved": "resolved", "NoContest": "no_contest"}


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


def read_peppi(path: str) -> GameTable:
    """Parse ``path`` with peppi-py. Raises whatever peppi raises on a bad file."""
    game = _peppi.read_slippi(str(path), False)
    meta = meta_from_peppi(game.start, game.end, game.metadata or {})
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


def meta_from_peppi(start: dict, end: dict | None, metadata: dict) -> GameMeta:
    """Game metadata from peppi's start/end dicts and the replay's metadata block."""
    version = ".".join(str(v) for v in start["slippi"]["version"][:3])
    meta_players = metadata.get("players", {}) if isinstance(metadata, dict) else {}
    players = []
    for p in start["players"]:
        port = int(p["port"][1]) - 1
        netplay = p.get("netplay") or {}
        names = (meta_players.get(str(port)) or {}).get("names", {})
        players.append(PlayerInfo(
            port=port,
            character=int(p["character"]),
            type=PLAYER_TYPES.get(p["type"], str(p["type"]).lower()),
            netplay_name=netplay.get("name") or names.get("netplay", "") or "",
            netplay_code=(netplay.get("code") or names.get("code", "") or "").replace("\uff03", "#"),
            name_tag=p.get("name_tag") or "",
            team=(p.get("team") or {}).get("color"),
            cpu_level=p.get("cpu_level"),
        ))
    scene = start.get("scene") or {}
    match = start.get("match") or {}
    meta = GameMeta(
        slippi_version=version, stage=int(start["stage"]), players=players,
        mode=game_mode(int(start["stage"]), scene.get("major")),
        is_teams=bool(start.get("is_teams")), is_pal=bool(start.get("is_pal")),
        start_at=str(metadata.get("startAt", "") or ""),
        played_on=str(metadata.get("playedOn", "") or ""),
        match_id=match.get("id", "") or "", game_number=match.get("game") if match else None,
        tiebreaker=match.get("tiebreaker") if match else None,
    )
    if end:
        meta.end_method = END_METHODS.get(end.get("method"), "unknown")
        lras = end.get("lras_initiator")
        meta.lras_port = int(lras[1]) - 1 if lras else None
        meta.placements = {int(pe["port"][1]) - 1: int(pe["placement"])
                           for pe in (end.get("players") or [])}
    return meta

