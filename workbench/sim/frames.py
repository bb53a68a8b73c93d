"""The observation: a batch of frame-store frames, one per game.

:class:`Frames` holds the store's per-player columns (``p0_x``, ``p1_action``, ...; the
names, dtypes and units of :data:`workbench.types.PLAYER_FIELDS`) as ``(N,)`` arrays,
batch first, so ``embed_state`` runs on simulated frames exactly as on stored ones
(:meth:`Frames.context`), and a game recorded frame by frame becomes a
:class:`~workbench.replay.table.GameTable` written to a store like any replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.sim.state import (
    F_AFRAME,
    F_CX,
    F_CY,
    F_FACING,
    F_HITLAG,
    F_HITSTUN,
    F_KBX,
    F_KBY,
    F_PERCENT,
    F_SHIELD,
    F_SX,
    F_SY,
    F_TRIG,
    F_VX,
    F_VY,
    F_X,
    F_Y,
    I_ACTION,
    I_BUTTONS,
    I_CHARID,
    I_GROUND,
    I_HURTBOX,
    I_JUMPS,
    I_LASTHIT,
    I_LCANCEL,
    I_STOCKS,
    SimState,
)
from workbench.types import ITEM_FIELDS, MAX_ITEMS, PLAYER_FIELDS

# store field -> (state array, column); speeds split by ground contact below
_FLOAT_SOURCES = {
    "stick_x": F_SX,
    "stick_y": F_SY,
    "cstick_x": F_CX,
    "cstick_y": F_CY,
    "trigger": F_TRIG,
    "action_frame": F_AFRAME,
    "x": F_X,
    "y": F_Y,
    "facing": F_FACING,
    "percent": F_PERCENT,
    "shield": F_SHIELD,
    "hitlag": F_HITLAG,
    "hitstun": F_HITSTUN,
    "speed_y_self": F_VY,
    "speed_x_attack": F_KBX,
    "speed_y_attack": F_KBY,
}
_INT_SOURCES = {
    "buttons": I_BUTTONS,
    "character": I_CHARID,
    "action": I_ACTION,
    "stocks": I_STOCKS,
    "jumps_left": I_JUMPS,
    "on_ground": I_GROUND,
    "hurtbox": I_HURTBOX,
    "last_hit_by": I_LASTHIT,
    "l_cancel": I_LCANCEL,
}
_FLOAT_NAMES = tuple(_FLOAT_SOURCES)
_INT_NAMES = tuple(_INT_SOURCES)
_FLOAT_INDEX = np.array([_FLOAT_SOURCES[n] for n in _FLOAT_NAMES])
_INT_INDEX = np.array([_INT_SOURCES[n] for n in _INT_NAMES])
assert set(_FLOAT_NAMES) | set(_INT_NAMES) | {"speed_air_x_self", "speed_ground_x_self"} == set(PLAYER_FIELDS)


@dataclass
class Frames:
    """N frames, one per game: ``columns[f"p{i}_{field}"]`` is ``(N,)`` in the store's dtype."""

    frame: np.ndarray  # (N,) int32 store frame index: 0 = first stepped, -1 at reset
    columns: dict[str, np.ndarray]
    stage: int  # external stage id (all N games share it)
    items: dict[str, np.ndarray] = field(default_factory=dict)  # empty item slots, (N, MAX_ITEMS)

    def __len__(self) -> int:
        return len(self.frame)

    def context(self, perspective: int = 0, ports: tuple[int, int] | None = None, name_ids: tuple[int, int] = (0, 0)):
        """The :class:`workbench.embed.StateContext` of these frames seen by player
        ``perspective`` (0 or 1): ``embed_state(frames.context(0), layout)``."""
        from workbench.embed import StateContext

        opp = 1 - perspective
        ports = ports or (perspective, opp)
        return StateContext(self.columns, self.items, self.frame, self.stage, perspective, opp, ports, name_ids)

    def game(self, g: int) -> dict[str, np.ndarray]:
        """One game's frame as a one-row table (``frame`` plus every column)."""
        row = {"frame": self.frame[g : g + 1]}
        row.update({k: v[g : g + 1] for k, v in self.columns.items()})
        return row


def empty_items(n: int) -> dict[str, np.ndarray]:
    return {
        f"item_{name}": np.full((n, MAX_ITEMS), default, dtype=dtype) for name, (dtype, default) in ITEM_FIELDS.items()
    }


def observe(state: SimState, stage: int, items: dict[str, np.ndarray] | None = None, jit: bool = True) -> Frames:
    """The frames of every game's current state (fresh arrays, safe to keep). Two gathers
    per player and one cast per column (numpy; a compiled fill measured slower here)."""
    n = state.num_games
    columns: dict[str, np.ndarray] = {}
    for p in range(2):
        floats = state.pf[:, p, _FLOAT_INDEX]  # (N, floats)
        ints = state.pi[:, p, _INT_INDEX]  # (N, ints)
        grounded = state.pi[:, p, I_GROUND] != 0
        vx = state.pf[:, p, F_VX]
        values = dict(zip(_FLOAT_NAMES, floats.T))
        values.update(zip(_INT_NAMES, ints.T))
        values["speed_air_x_self"] = np.where(grounded, 0.0, vx)
        values["speed_ground_x_self"] = np.where(grounded, vx, 0.0)
        for name, (dtype, _) in PLAYER_FIELDS.items():
            columns[f"p{p}_{name}"] = values[name].astype(dtype)
        columns[f"p{p}_present"] = np.ones(n, bool)
    frame = (state.gi[:, 0] - 1).astype(np.int32)  # store numbering: the first stepped frame is 0
    return Frames(frame, columns, stage, items if items is not None else empty_items(n))
