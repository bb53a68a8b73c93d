"""The simulator's game data: the committed tables under ``data/sim`` as dense arrays.

``scripts/build_sim_tables.py`` builds the tables from cited sources (FightCore frame
data, the game's character attributes, libmelee's per-frame hitboxes and stage geometry,
measurements on real replays); ``data/sim/README.md`` says which column comes from where.
The physics reads only these arrays, so adding a character is adding its rows.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from workbench.errors import WorkbenchError
from workbench.types import NUM_ACTIONS

TABLES_ENV = "WORKBENCH_SIM_TABLES"
# Character columns the physics reads, in the order of CharacterTable.values' columns.
CHAR_FIELDS = (
    "weight",
    "jump_squat",
    "jump_v",
    "hop_v",
    "jump_h",
    "jump_h_max",
    "jump_momentum",
    "dj_mult",
    "dj_h",
    "jumps",
    "gravity",
    "fall_speed",
    "fastfall_speed",
    "walk_speed",
    "walk_accel",
    "dash_init",
    "run_speed",
    "run_accel_a",
    "run_accel_b",
    "traction",
    "air_speed",
    "air_accel_base",
    "air_accel_add",
    "air_friction",
    "landing_lag",
    "shield_size",
    "dash_frames",
    "hurtbox_size",
    "ledge_hang_y",
    "dj_v",
)
MOVE_KINDS = (
    "jab",
    "ftilt",
    "utilt",
    "dtilt",
    "fsmash",
    "usmash",
    "dsmash",
    "nair",
    "fair",
    "bair",
    "uair",
    "dair",
    "dattack",
    "grab",
    "dashgrab",
    "fthrow",
    "bthrow",
    "uthrow",
    "dthrow",
    "edge_attack",
    "getup_attack",
)
MOVE_INFO = (
    "action",
    "total_frames",
    "iasa",
    "land_lag",
    "lcancel_lag",
    "autocancel_before",
    "autocancel_after",
    "first_active",
)
HITBOX_FIELDS = (
    "active",
    "radius",
    "x",
    "y",
    "damage",
    "angle",
    "kbg",
    "bkb",
    "skb",
    "hitlag",
    "hitlag_crouch",
    "shieldstun",
    "hit",
    "weight_independent",
)
MOTION_KINDS = (
    "roll_forward",
    "roll_backward",
    "spotdodge",
    "airdodge",
    "tech_neutral",
    "tech_forward",
    "tech_backward",
    "getup",
    "getup_roll_forward",
    "getup_roll_backward",
    "ledge_getup_quick",
    "ledge_getup_slow",
    "ledge_roll_quick",
    "ledge_roll_slow",
)
MOTION_INFO = ("action", "total_frames", "intangible_start", "intangible_end")
MAX_MOVE_FRAMES = 80
MOTION_FRAMES = 60
HITBOX_SLOTS = 4
STAGE_FIELDS = (
    "blast_left",
    "blast_right",
    "blast_top",
    "blast_bottom",
    "edge",
    "edge_ground",
    "spawn_x0",
    "spawn_x1",
    "platforms",
)  # then (y, x0, x1) x MAX_PLATFORMS
MAX_PLATFORMS = 3


class SimDataError(WorkbenchError):
    """The simulator's tables are missing or do not name what was asked for."""


def tables_dir() -> Path:
    """``data/sim`` of the checkout (or ``$WORKBENCH_SIM_TABLES``)."""
    override = os.environ.get(TABLES_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "data" / "sim"
    if not (path / "characters.csv").is_file():
        raise SimDataError(f"no simulator tables in {path}: run scripts/build_sim_tables.py or set {TABLES_ENV}")
    return path


def _rows(name: str) -> list[dict]:
    with open(tables_dir() / name, newline="") as handle:
        return list(csv.DictReader(handle))


@dataclass(frozen=True)
class GameData:
    """Every table as arrays; index ``c`` is a character's row in :attr:`names`."""

    names: tuple[str, ...]  # FightCore keys: "fox", "captainfalcon", ...
    display: tuple[str, ...]  # "Fox", "Captain Falcon", ...
    internal_ids: np.ndarray  # (C,) int32 in-game character ids
    chars: np.ndarray  # (C, len(CHAR_FIELDS)) float64
    moves: np.ndarray  # (C, M, len(MOVE_INFO)) int32
    hitboxes: np.ndarray  # (C, M, MAX_MOVE_FRAMES + 1, 4, len(HITBOX_FIELDS)) float32
    motions: np.ndarray  # (C, K, len(MOTION_INFO)) int32
    locomotion: np.ndarray  # (C, K, MOTION_FRAMES + 1, 2) float32 per-frame dx, dy
    first_frame: np.ndarray  # (NUM_ACTIONS,) float32 action_frame on an action's first frame
    stages: dict[int, dict]  # external stage id -> stages.json entry

    @property
    def physics_tables(self) -> tuple[np.ndarray, ...]:
        """The tables the step kernels take after the controllers, in their argument order."""
        return (self.chars, self.moves, self.hitboxes, self.motions, self.locomotion, self.first_frame)

    def character_index(self, name: str) -> int:
        """Row of a user-typed character name ("fox", "Captain Falcon", "falcon", "gnw")."""
        from workbench.types import EXTERNAL_TO_INTERNAL, character_id

        try:
            internal = EXTERNAL_TO_INTERNAL[character_id(name)]
        except ValueError as err:
            raise SimDataError(str(err)) from None
        hits = np.nonzero(self.internal_ids == internal)[0]
        if not len(hits):
            raise SimDataError(
                f"character {name!r} has no rows in the simulator tables; simulated: {', '.join(self.display)}"
            )
        return int(hits[0])

    def stage_array(self, stage: int) -> np.ndarray:
        """The float vector the physics reads for one stage (:data:`STAGE_FIELDS`)."""
        if stage not in self.stages:
            from workbench.types import stage_name

            raise SimDataError(f"stage {stage_name(stage)} is not simulated: use fd, bf, ys, dl, fod or ps")
        s = self.stages[stage]
        out = np.zeros(len(STAGE_FIELDS) + 3 * MAX_PLATFORMS, np.float64)
        out[:6] = [s[k] for k in STAGE_FIELDS[:6]]
        out[6:8] = s["spawn_x"]
        out[8] = len(s["platforms"])
        for k, (y, x0, x1) in enumerate(s["platforms"][:MAX_PLATFORMS]):
            out[9 + 3 * k : 12 + 3 * k] = (y, x0, x1)
        return out


@lru_cache(maxsize=1)
def load_game_data() -> GameData:
    """Read ``data/sim`` once per process."""
    chars = _rows("characters.csv")
    names = tuple(r["key"] for r in chars)
    index = {n: i for i, n in enumerate(names)}
    values = np.array([[float(r[f]) for f in CHAR_FIELDS] for r in chars], np.float64)
    moves = np.zeros((len(names), len(MOVE_KINDS), len(MOVE_INFO)), np.int32)
    for r in _rows("moves.csv"):
        moves[index[r["character"]], MOVE_KINDS.index(r["kind"])] = [int(r[f]) for f in MOVE_INFO]
    hitboxes = np.zeros(
        (len(names), len(MOVE_KINDS), MAX_MOVE_FRAMES + 1, HITBOX_SLOTS, len(HITBOX_FIELDS)), np.float32
    )
    for r in _rows("hitboxes.csv"):
        frame = int(r["frame"])
        if frame <= MAX_MOVE_FRAMES:
            row = [1.0] + [float(r[f]) for f in HITBOX_FIELDS[1:]]
            hitboxes[index[r["character"]], MOVE_KINDS.index(r["kind"]), frame, int(r["slot"])] = row
    motions = np.zeros((len(names), len(MOTION_KINDS), len(MOTION_INFO)), np.int32)
    for r in _rows("motions.csv"):
        motions[index[r["character"]], MOTION_KINDS.index(r["kind"])] = [int(r[f]) for f in MOTION_INFO]
    locomotion = np.zeros((len(names), len(MOTION_KINDS), MOTION_FRAMES + 1, 2), np.float32)
    for r in _rows("locomotion.csv"):
        frame = int(r["frame"])
        if frame <= MOTION_FRAMES:
            locomotion[index[r["character"]], MOTION_KINDS.index(r["kind"]), frame] = (float(r["dx"]), float(r["dy"]))
    first = np.zeros(NUM_ACTIONS, np.float32)
    for r in _rows("action_first_frame.csv"):
        first[int(r["action"])] = float(r["first_action_frame"])
    stages = {int(k): v for k, v in json.loads((tables_dir() / "stages.json").read_text()).items()}
    return GameData(
        names,
        tuple(r["name"] for r in chars),
        np.array([int(r["internal_id"]) for r in chars], np.int32),
        values,
        moves,
        hitboxes,
        motions,
        locomotion,
        first,
        stages,
    )
