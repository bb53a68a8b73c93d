"""Game-state and controller types shared by every stage of the pipeline.

Framework-free on purpose (numpy only): the replay reader, the embedder, the live-game
adapter, the self-play environment and the ONNX input names all speak these types.

Units
-----
* Sticks in the frame store are in **[-1, 1]** (peppi-py / Slippi convention, 0 = neutral).
  libmelee reports **[0, 1]** (0.5 = neutral); convert with :func:`stick_to_libmelee` and
  :func:`stick_from_libmelee`.
* Triggers are in [0, 1] in both conventions.
* Positions and speeds are Melee world units (the stage centre is x = 0; Final
  Destination's ledges sit at about x = +-85.6).
* ``facing`` is +1 (right) or -1 (left); libmelee reports it as a bool ``facing`` (True =
  right).
* ``action_frame`` is the raw Slippi "state age" (frames since the action began, starting
  at 0 for most actions; libmelee re-indexes some actions to start at 1).
* ``hitstun`` is Slippi's "misc AS" float, which libmelee exposes as
  ``hitstun_frames_left`` (meaningful while the player is in hitstun).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from workbench.errors import ConfigError

FIRST_FRAME = -123  # Slippi's first recorded frame index; frame 0 is the first playable one
MAX_ITEMS = 15  # libmelee and the game engine both cap projectiles/items at 15 per frame
NUM_ACTIONS = 399  # action-state ids 0..398 cover every common and character-specific state
NUM_CHARACTERS = 33  # internal character ids 0x00..0x20


class Button(enum.IntEnum):
    """Bits of the physical-button bitfield (Slippi pre-frame offset 0x31)."""

    D_LEFT = 0x0001
    D_RIGHT = 0x0002
    D_DOWN = 0x0004
    D_UP = 0x0008
    Z = 0x0010
    R = 0x0020
    L = 0x0040
    A = 0x0100
    B = 0x0200
    X = 0x0400
    Y = 0x0800
    START = 0x1000


# The 8 buttons a policy predicts, in head order.
TRAINED_BUTTONS: tuple[Button, ...] = (
    Button.A,
    Button.B,
    Button.X,
    Button.Y,
    Button.Z,
    Button.L,
    Button.R,
    Button.D_UP,
)


class Character(enum.IntEnum):
    """Internal (in-game) character ids, as in post-frame data and libmelee."""

    MARIO = 0x00
    FOX = 0x01
    CPTFALCON = 0x02
    DK = 0x03
    KIRBY = 0x04
    BOWSER = 0x05
    LINK = 0x06
    SHEIK = 0x07
    NESS = 0x08
    PEACH = 0x09
    POPO = 0x0A
    NANA = 0x0B
    PIKACHU = 0x0C
    SAMUS = 0x0D
    YOSHI = 0x0E
    JIGGLYPUFF = 0x0F
    MEWTWO = 0x10
    LUIGI = 0x11
    MARTH = 0x12
    ZELDA = 0x13
    YLINK = 0x14
    DOC = 0x15
    FALCO = 0x16
    PICHU = 0x17
    GAMEANDWATCH = 0x18
    GANONDORF = 0x19
    ROY = 0x1A
    MASTER_HAND = 0x1B
    CRAZY_HAND = 0x1C
    WIREFRAME_MALE = 0x1D
    WIREFRAME_FEMALE = 0x1E
    GIGA_BOWSER = 0x1F
    SANDBAG = 0x20


# External (character-select) ids, as stored in the game-start block, to names.
EXTERNAL_CHARACTER_NAMES: dict[int, str] = {
    0: "Captain Falcon",
    1: "Donkey Kong",
    2: "Fox",
    3: "Mr. Game & Watch",
    4: "Kirby",
    5: "Bowser",
    6: "Link",
    7: "Luigi",
    8: "Mario",
    9: "Marth",
    10: "Mewtwo",
    11: "Ness",
    12: "Peach",
    13: "Pikachu",
    14: "Ice Climbers",
    15: "Jigglypuff",
    16: "Samus",
    17: "Yoshi",
    18: "Zelda",
    19: "Sheik",
    20: "Falco",
    21: "Young Link",
    22: "Dr. Mario",
    23: "Roy",
    24: "Pichu",
    25: "Ganondorf",
    26: "Master Hand",
    27: "Wireframe Male",
    28: "Wireframe Female",
    29: "Giga Bowser",
    30: "Crazy Hand",
    31: "Sandbag",
    32: "Popo",
}

# External id -> internal id (Ice Climbers' leader is Popo).
EXTERNAL_TO_INTERNAL: dict[int, int] = {
    0: 0x02,
    1: 0x03,
    2: 0x01,
    3: 0x18,
    4: 0x04,
    5: 0x05,
    6: 0x06,
    7: 0x11,
    8: 0x00,
    9: 0x12,
    10: 0x10,
    11: 0x08,
    12: 0x09,
    13: 0x0C,
    14: 0x0A,
    15: 0x0F,
    16: 0x0D,
    17: 0x0E,
    18: 0x13,
    19: 0x07,
    20: 0x16,
    21: 0x14,
    22: 0x15,
    23: 0x1A,
    24: 0x17,
    25: 0x19,
    26: 0x1B,
    27: 0x1D,
    28: 0x1E,
    29: 0x1F,
    30: 0x1C,
    31: 0x20,
    32: 0x0A,
}
INTERNAL_TO_EXTERNAL: dict[int, int] = {v: k for k, v in EXTERNAL_TO_INTERNAL.items() if k != 32}
INTERNAL_TO_EXTERNAL[0x0B] = 14  # Nana belongs to Ice Climbers


def character_name(external_id: int) -> str:
    """Name of an external character id ("Fox"), or ``"Unknown(N)"``."""
    return EXTERNAL_CHARACTER_NAMES.get(int(external_id), f"Unknown({external_id})")


def character_keys(names: list[str] | tuple) -> set[str] | None:
    """User-typed character names -> the lower-case names segments are selected by
    (aliases resolved, a typo a one-line error); None for no names (no filter)."""
    return {character_name(character_id(n)).lower() for n in names} or None


def internal_character_name(internal_id: int) -> str:
    """Name of an internal character id (as found in post-frame data)."""
    if internal_id == Character.NANA:
        return "Nana"
    ext = INTERNAL_TO_EXTERNAL.get(int(internal_id))
    return character_name(ext) if ext is not None else f"Unknown({internal_id})"


def character_id(name: str) -> int:
    """External character id for a user-typed name ("fox", "Captain Falcon", "falcon")."""
    key = name.strip().lower().replace(".", "").replace("&", "and")
    aliases = {
        "falcon": 0,
        "cf": 0,
        "dk": 1,
        "gnw": 3,
        "gandw": 3,
        "game and watch": 3,
        "ics": 14,
        "icies": 14,
        "puff": 15,
        "jiggs": 15,
        "yl": 21,
        "doc": 22,
        "ganon": 25,
        "mr game and watch": 3,
    }
    if key in aliases:
        return aliases[key]
    for ext, cname in EXTERNAL_CHARACTER_NAMES.items():
        if cname.lower().replace(".", "").replace("&", "and") == key:
            return ext
    raise ConfigError(
        f"unknown character {name!r}: use a name such as "
        + ", ".join(sorted(EXTERNAL_CHARACTER_NAMES.values())[:6])
        + ", ..."
    )


# External stage ids (game-start block) to names; the six tournament stages first.
STAGE_NAMES: dict[int, str] = {
    2: "Fountain of Dreams",
    3: "Pokemon Stadium",
    8: "Yoshi's Story",
    28: "Dream Land",
    31: "Battlefield",
    32: "Final Destination",
    4: "Princess Peach's Castle",
    5: "Kongo Jungle",
    6: "Brinstar",
    7: "Corneria",
    9: "Onett",
    10: "Mute City",
    11: "Rainbow Cruise",
    12: "Jungle Japes",
    13: "Great Bay",
    14: "Hyrule Temple",
    15: "Brinstar Depths",
    16: "Yoshi's Island",
    17: "Green Greens",
    18: "Fourside",
    19: "Mushroom Kingdom I",
    20: "Mushroom Kingdom II",
    22: "Venom",
    23: "Poke Floats",
    24: "Big Blue",
    25: "Icicle Mountain",
    26: "Icetop",
    27: "Flat Zone",
    29: "Yoshi's Island N64",
    30: "Kongo Jungle N64",
    84: "Home-Run Stadium",
}
# Stage ids of single-player modes the workbench does not train on.
HOME_RUN_STAGE = 84
TARGET_TEST_STAGES = frozenset(range(33, 59))
# libmelee's internal stage ids for the tournament stages.
STAGE_TO_LIBMELEE: dict[int, int] = {2: 0x08, 3: 0x12, 8: 0x06, 28: 0x1A, 31: 0x18, 32: 0x19}
LIBMELEE_TO_STAGE: dict[int, int] = {v: k for k, v in STAGE_TO_LIBMELEE.items()}


def stage_name(stage: int) -> str:
    return STAGE_NAMES.get(int(stage), f"Stage({stage})")


def stage_id(name: str) -> int:
    """External stage id for a user-typed name ("battlefield", "FD", "ys")."""
    key = name.strip().lower().replace("'", "").replace("\u00e9", "e")
    aliases = {"fd": 32, "bf": 31, "ys": 8, "dl": 28, "fod": 2, "ps": 3, "stadium": 3}
    if key in aliases:
        return aliases[key]
    for sid, sname in STAGE_NAMES.items():
        if sname.lower().replace("'", "") == key:
            return sid
    raise ConfigError(f"unknown stage {name!r}: use one of FD, BF, YS, DL, FoD, PS or a full name")


# ---------------------------------------------------------------------------------------
# Frame-table schema. One row per finalized frame; per-player columns are named
# "p{i}_{field}" (i = 0 for the lowest occupied port) and Nana's "p{i}_nana_{field}".
# ---------------------------------------------------------------------------------------

#: Per-player columns: name -> (dtype, value when the Slippi version does not record it).
PLAYER_FIELDS: dict[str, tuple[str, float]] = {
    # pre-frame (inputs)
    "stick_x": ("float32", 0.0),  # processed main stick, [-1, 1]
    "stick_y": ("float32", 0.0),
    "cstick_x": ("float32", 0.0),  # processed c-stick, [-1, 1]
    "cstick_y": ("float32", 0.0),
    "trigger": ("float32", 0.0),  # processed analog trigger (max of L, R), [0, 1]
    "buttons": ("uint16", 0),  # physical buttons, bits of `Button`
    # post-frame (state after this frame's inputs are applied)
    "character": ("uint8", 0),  # internal id; changes on Sheik/Zelda transform
    "action": ("uint16", 0),  # action-state id
    "action_frame": ("float32", 0.0),  # state age (0.2+)
    "x": ("float32", 0.0),
    "y": ("float32", 0.0),
    "facing": ("int8", 1),  # +1 right, -1 left
    "percent": ("float32", 0.0),
    "shield": ("float32", 60.0),  # shield health, 0..60
    "stocks": ("uint8", 0),
    "hitlag": ("float32", 0.0),  # hitlag frames left (3.8+)
    "hitstun": ("float32", 0.0),  # misc AS: hitstun frames left while in hitstun (2.0+)
    "jumps_left": ("uint8", 1),  # (2.0+)
    "on_ground": ("bool", 1),  # not airborne (2.0+)
    "hurtbox": ("uint8", 0),  # 0 vulnerable, 1 invulnerable, 2 intangible (2.1+)
    "speed_air_x_self": ("float32", 0.0),  # (3.5+)
    "speed_y_self": ("float32", 0.0),
    "speed_x_attack": ("float32", 0.0),  # knockback speeds
    "speed_y_attack": ("float32", 0.0),
    "speed_ground_x_self": ("float32", 0.0),
    "last_hit_by": ("uint8", 6),  # port index of the last attacker; >= 4 means none
    "l_cancel": ("uint8", 0),  # 0 none, 1 success, 2 miss (2.0+)
}

#: Fields a Slippi version may lack, with the version that added them.
FIELD_ADDED_IN: dict[str, tuple[int, int, int]] = {
    "action_frame": (0, 2, 0),
    "hitstun": (2, 0, 0),
    "jumps_left": (2, 0, 0),
    "on_ground": (2, 0, 0),
    "l_cancel": (2, 0, 0),
    "hurtbox": (2, 1, 0),
    "speed_air_x_self": (3, 5, 0),
    "speed_y_self": (3, 5, 0),
    "speed_x_attack": (3, 5, 0),
    "speed_y_attack": (3, 5, 0),
    "speed_ground_x_self": (3, 5, 0),
    "hitlag": (3, 8, 0),
}

#: Item columns hold MAX_ITEMS slots per frame: name -> (dtype, empty-slot value).
ITEM_FIELDS: dict[str, tuple[str, float]] = {
    "present": ("bool", 0),
    "type": ("uint16", 0),
    "state": ("uint8", 0),
    "x": ("float32", 0.0),
    "y": ("float32", 0.0),
    "owner": ("int8", -1),  # port of the owner (3.6+), -1 none/unknown
    "spawn_id": ("uint32", 0),  # the same item keeps its id across frames
}


def player_columns(player: int, nana: bool = False) -> list[str]:
    """Column names of one player's fields in the frame table."""
    prefix = f"p{player}_nana_" if nana else f"p{player}_"
    return [prefix + name for name in PLAYER_FIELDS]


@dataclass
class PlayerInfo:
    """Who sat at one port (from the game-start block and the metadata)."""

    port: int  # 0-based controller port
    character: int  # external id at game start
    type: str  # "human", "cpu" or "demo"
    netplay_name: str = ""
    netplay_code: str = ""
    name_tag: str = ""
    team: int | None = None
    cpu_level: int | None = None

    @property
    def character_name(self) -> str:
        return character_name(self.character)

    @property
    def display_name(self) -> str:
        return self.netplay_code or self.netplay_name or self.name_tag or f"P{self.port + 1}"


@dataclass
class GameMeta:
    """Per-game metadata, stored beside the frames (Parquet schema metadata) and in the
    store manifest."""

    slippi_version: str
    stage: int
    players: list[PlayerInfo]
    mode: str = "versus"  # "versus", "online", "home_run", "target_test", "other"
    is_teams: bool = False
    is_pal: bool = False
    start_at: str = ""  # ISO timestamp from the metadata, if recorded
    played_on: str = ""
    end_method: str = "unknown"  # "game", "time", "no_contest", "resolved", "unknown"
    lras_port: int | None = None  # who pressed L+R+A+Start, for no-contest endings
    placements: dict[int, int] = field(default_factory=dict)  # port -> placement (0 = first)
    winner_port: int | None = None
    match_id: str = ""
    game_number: int | None = None
    tiebreaker: int | None = None
    first_frame: int = FIRST_FRAME
    last_frame: int = FIRST_FRAME
    missing_fields: list[str] = field(default_factory=list)  # fields this version lacks

    @property
    def num_frames(self) -> int:
        return self.last_frame - self.first_frame + 1

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.slippi_version.split("."))

    def to_dict(self) -> dict:
        from dataclasses import asdict

        out = asdict(self)
        out["placements"] = {str(k): v for k, v in self.placements.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "GameMeta":
        data = dict(data)
        data["players"] = [PlayerInfo(**p) for p in data["players"]]
        data["placements"] = {int(k): v for k, v in data.get("placements", {}).items()}
        return cls(**data)


@dataclass
class ControllerState:
    """One frame of controller input in libmelee units (sticks in [0, 1], 0.5 neutral)."""

    main_x: float = 0.5
    main_y: float = 0.5
    c_x: float = 0.5
    c_y: float = 0.5
    trigger: float = 0.0
    buttons: dict[Button, bool] = field(default_factory=lambda: {b: False for b in TRAINED_BUTTONS})

    @classmethod
    def neutral(cls) -> "ControllerState":
        return cls()

    def is_valid(self) -> bool:
        values = (self.main_x, self.main_y, self.c_x, self.c_y, self.trigger)
        return all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in values)


def stick_to_libmelee(value: np.ndarray | float) -> np.ndarray | float:
    """Slippi [-1, 1] stick units to libmelee [0, 1]."""
    return value / 2.0 + 0.5


def stick_from_libmelee(value: np.ndarray | float) -> np.ndarray | float:
    """libmelee [0, 1] stick units to Slippi [-1, 1]."""
    return (value - 0.5) * 2.0
