"""The state of N games as a struct of arrays, batch first.

``SimState`` holds three arrays: ``pf (N, 2, NF)`` float64 and ``pi (N, 2, NI)`` int32
per player, and ``gi (N, NG)`` int32 per game. The field indices below name their
columns; the kernel in :mod:`workbench.sim.core` reads them as compile-time constants.
Saving a game is copying its rows, so save/restore and determinism are exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# -- per-player floats (pf) -------------------------------------------------------------
(
    F_X,
    F_Y,
    F_VX,
    F_VY,
    F_KBX,
    F_KBY,
    F_PERCENT,
    F_SHIELD,
    F_HITLAG,
    F_HITSTUN,
    F_AFRAME,
    F_FACING,
    F_SX,
    F_SY,
    F_CX,
    F_CY,
    F_TRIG,
    F_PSX1,
    F_PSY1,
    F_PSX2,
    F_PSY2,
    F_PCX,
    F_PCY,
    F_PTRIG,
    F_PEND_KB,
    F_PEND_ANGLE,
    F_LCOS,
    F_LSIN,
    F_PREV_Y,
    F_DAMAGE_DEALT,
) = range(30)
NF = 30
# -- per-player ints (pi) ---------------------------------------------------------------
(
    I_ACTION,
    I_STOCKS,
    I_JUMPS,
    I_GROUND,
    I_HURTBOX,
    I_LASTHIT,
    I_LCANCEL,
    I_BUTTONS,
    I_PBUTTONS,
    I_CHAR,
    I_CHARID,
    I_MOVE,
    I_MOTION,
    I_HITDONE,
    I_FASTFALL,
    I_PLAT,
    I_INVULN,
    I_TIMER,
    I_LWIN,
    I_TWIN,
    I_DROP,
    I_LEDGE,
    I_GRAB,
    I_DEAD,
    I_FIN,
    I_TUMBLE,
    I_REGRAB,
    I_JUMP_HELD,
    I_BUFFER_DODGE,
    I_KOS,
) = range(30)
NI = 30
# -- per-game ints (gi) -----------------------------------------------------------------
G_FRAME, G_DONE, G_WINNER, G_END_FRAME = range(4)
NG = 4
WINNER_NONE, WINNER_DRAW = -1, 2


@dataclass
class SimState:
    """N games' full state. Row g of each array is game g."""

    pf: np.ndarray  # (N, 2, NF) float64
    pi: np.ndarray  # (N, 2, NI) int32
    gi: np.ndarray  # (N, NG) int32

    @classmethod
    def zeros(cls, n: int) -> "SimState":
        return cls(np.zeros((n, 2, NF)), np.zeros((n, 2, NI), np.int32), np.zeros((n, NG), np.int32))

    @property
    def num_games(self) -> int:
        return len(self.gi)

    def copy(self) -> "SimState":
        return SimState(self.pf.copy(), self.pi.copy(), self.gi.copy())

    def take(self, games) -> "SimState":
        """A copy of some games' state (an int, a slice or an index array)."""
        games = np.atleast_1d(np.arange(self.num_games)[games])
        return SimState(self.pf[games].copy(), self.pi[games].copy(), self.gi[games].copy())

    def put(self, games, saved: "SimState") -> None:
        """Overwrite games ``games`` with ``saved`` (as many games as indices)."""
        games = np.atleast_1d(np.arange(self.num_games)[games])
        if len(games) != saved.num_games:
            raise ValueError(f"restoring {saved.num_games} saved games into {len(games)} slots")
        self.pf[games], self.pi[games], self.gi[games] = saved.pf, saved.pi, saved.gi

    def equals(self, other: "SimState") -> bool:
        return (
            np.array_equal(self.pf, other.pf)
            and np.array_equal(self.pi, other.pi)
            and np.array_equal(self.gi, other.gi)
        )
