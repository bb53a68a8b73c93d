"""libmelee ``GameState`` -> one frame-table row, in the store's columns and units.

The bot sees the game through libmelee, training sees it through the frame store; this
adapter is the one place the two meet, so the state a bot sees in play is the state it
was trained on (``tests/test_replay_live.py`` checks it field by field on real replays
played through libmelee's file console).

libmelee differences undone here: sticks in [0, 1] (store: [-1, 1]); ``facing`` a bool;
``invulnerable`` a bool (store: the hurtbox state); integer hitlag/hitstun (store: the
recorded float; the embedder truncates both the same way); ``action_frame`` re-indexed
to start at 1 for some actions (undone with libmelee's own table).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from workbench.types import ITEM_FIELDS, MAX_ITEMS, PLAYER_FIELDS, Button, stick_from_libmelee

BUTTON_NAMES = {
    Button.A: "BUTTON_A",
    Button.B: "BUTTON_B",
    Button.X: "BUTTON_X",
    Button.Y: "BUTTON_Y",
    Button.Z: "BUTTON_Z",
    Button.L: "BUTTON_L",
    Button.R: "BUTTON_R",
    Button.START: "BUTTON_START",
    Button.D_UP: "BUTTON_D_UP",
    Button.D_DOWN: "BUTTON_D_DOWN",
    Button.D_LEFT: "BUTTON_D_LEFT",
    Button.D_RIGHT: "BUTTON_D_RIGHT",
}
# fields whose libmelee value is an int truncation of the recorded float
TRUNCATED_FIELDS = ("action_frame", "hitlag", "hitstun")


@lru_cache(maxsize=1)
def zero_indexed_actions() -> dict[int, frozenset[int]]:
    """(character -> actions) that libmelee shifts to start at frame 1 (its actiondata.csv)."""
    import melee

    path = os.path.join(os.path.dirname(melee.__file__), "actiondata.csv")
    table: dict[int, set[int]] = {}
    with open(path) as handle:
        for line in csv.DictReader(handle):
            if line["zeroindex"] == "True":
                table.setdefault(int(line["character"]), set()).add(int(line["action"]))
    return {k: frozenset(v) for k, v in table.items()}


def _enum_value(value) -> int:
    return int(getattr(value, "value", value))


@lru_cache(maxsize=1)
def _bits_by_id() -> dict[int, int]:
    """Our bit per libmelee button enum member, looked up once (not per frame) and keyed
    by the member's ``id``: members are singletons, and an int key skips
    ``Enum.__hash__`` (a Python call) for every button of every frame."""
    import melee

    return {id(getattr(melee.enums.Button, name)): int(bit) for bit, name in BUTTON_NAMES.items()}


def _button_bits(button_dict: dict) -> int:
    bits, table = 0, _bits_by_id()
    for button, pressed in button_dict.items():
        if pressed:
            bits |= table.get(id(button), 0)
    return bits


STICKS = 4  # the first PLAYER_FIELDS: stick_x, stick_y, cstick_x, cstick_y


def player_values(state, leader: bool = True) -> list:
    """A libmelee ``PlayerState``'s fields as a list in :data:`PLAYER_FIELDS` order, in the
    store's units except the first :data:`STICKS` values (the sticks), which stay in
    libmelee's [0, 1]: the caller converts them (:func:`player_fields` one by one,
    :func:`gamestate_blocks` all at once in float32)."""
    ctrl = state.controller_state
    character = _enum_value(state.character)
    action = _enum_value(state.action)
    action_frame = float(state.action_frame)
    if leader and action in zero_indexed_actions().get(character, ()):
        action_frame -= 1.0  # libmelee added 1 to these
    main, c, position = ctrl.main_stick, ctrl.c_stick, state.position
    return [
        main[0],
        main[1],
        c[0],
        c[1],
        float(ctrl.l_shoulder),
        _button_bits(ctrl.button),
        character,
        action,
        action_frame,
        float(position.x),
        float(position.y),
        1 if state.facing else -1,
        float(state.percent),
        float(state.shield_strength),
        int(state.stock),
        float(state.hitlag_left),
        float(state.hitstun_frames_left),
        int(state.jumps_left),
        bool(state.on_ground),
        1 if state.invulnerable else 0,
        float(state.speed_air_x_self),
        float(state.speed_y_self),
        float(state.speed_x_attack),
        float(state.speed_y_attack),
        float(state.speed_ground_x_self),
        6,  # last_hit_by: libmelee does not say
        0,  # l_cancel
    ]


def player_fields(state, leader: bool = True) -> dict[str, float]:
    """A libmelee ``PlayerState`` as the store's per-player fields (store units)."""
    values = player_values(state, leader)
    values[:STICKS] = [stick_from_libmelee(np.float32(v)) for v in values[:STICKS]]
    return dict(zip(PLAYER_FIELDS, values))


PLAYER_COLUMNS = (*PLAYER_FIELDS, "present")  # the order of a player block
_DEFAULTS = [float(default) for _, default in PLAYER_FIELDS.values()] + [0.0]


@dataclass
class LiveFrame:
    """One ``GameState`` as player blocks: row 0 of each (1, fields) float32 block holds
    a player's fields in :data:`PLAYER_COLUMNS` order (``present`` last)."""

    frame: int
    players: list[np.ndarray]  # per player index, (1, fields)
    nanas: list[np.ndarray]  # per player index, (1, fields); zeros without Nana
    item_block: np.ndarray  # (1, len(ITEM_FIELDS) * MAX_ITEMS) float32, field-major

    @property
    def items(self) -> dict[str, np.ndarray]:
        """Dense ``item_*`` arrays, (1, MAX_ITEMS), in the store's dtypes."""
        block = self.item_block.reshape(len(ITEM_FIELDS), MAX_ITEMS)
        return {
            f"item_{name}": block[k : k + 1].astype(dtype) for k, (name, (dtype, _)) in enumerate(ITEM_FIELDS.items())
        }


def _block(state, leader: bool) -> np.ndarray:
    if state is None:
        return np.array([_DEFAULTS], dtype=np.float32)
    block = np.array([[*player_values(state, leader), 1.0]], dtype=np.float32)
    block[0, :STICKS] = stick_from_libmelee(block[0, :STICKS])  # in float32, as on np.float32 values
    return block


def gamestate_blocks(gamestate, ports: list[int]) -> LiveFrame:
    """``ports``: 0-based controller ports in player order (``meta.players``)."""
    players, nanas = [], []
    for port in ports:
        state = gamestate.players.get(port + 1)
        players.append(_block(state, True))
        nana = None if state is None else state.nana
        nanas.append(_block(nana, False) if nana is not None else np.zeros((1, len(PLAYER_COLUMNS)), np.float32))
    return LiveFrame(int(gamestate.frame), players, nanas, _items(gamestate.projectiles))


def gamestate_row(gamestate, ports: list[int]) -> dict[str, np.ndarray]:
    """One ``GameState`` as a one-row frame table with the store's column names (values
    as float32 views of :func:`gamestate_blocks`' blocks, except the dense items).

    ``ports``: 0-based controller ports in player order (``meta.players``). A port with
    no player this frame gets ``p{i}_present = False`` and the schema defaults.
    """
    live = gamestate_blocks(gamestate, ports)
    row: dict[str, np.ndarray] = {"frame": np.array([live.frame], dtype=np.int32)}
    for index in range(len(ports)):
        for prefix, block in ((f"p{index}_", live.players[index]), (f"p{index}_nana_", live.nanas[index])):
            for col, name in enumerate(PLAYER_COLUMNS):
                row[prefix + name] = block[:, col]
    row.update(live.items)
    return row


_ITEM_DEFAULTS = np.repeat(np.array([default for _, default in ITEM_FIELDS.values()], np.float32), MAX_ITEMS)
assert tuple(ITEM_FIELDS) == ("present", "type", "state", "x", "y", "owner", "spawn_id")


def _items(projectiles: list) -> np.ndarray:
    """The items as one (1, fields * MAX_ITEMS) float32 row, field-major."""
    block = _ITEM_DEFAULTS.copy()
    view = block.reshape(len(ITEM_FIELDS), MAX_ITEMS)
    for slot, proj in enumerate(projectiles[:MAX_ITEMS]):
        view[:, slot] = (
            1.0,
            _enum_value(proj.type),
            int(proj.subtype),
            proj.position.x,
            proj.position.y,
            int(proj.owner) - 1 if proj.owner is not None else -1,
            int(proj.spawn_id),
        )
    return block[None]
