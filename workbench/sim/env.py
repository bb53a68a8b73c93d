"""The two-agent environment over N simulated games (the ``sim`` backend).

``reset() -> Frames``; ``step(controllers (N, 2, 13)) -> (Frames, rewards (N, 2), done (N,),
info)``. See the package docstring (:mod:`workbench.sim`) for the semantics: auto-reset,
controller validation, rewards, save/restore.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from workbench.errors import WorkbenchError
from workbench.sim.frames import Frames, empty_items, observe
from workbench.sim.jit import kernel
from workbench.sim.state import (
    F_FACING,
    F_PERCENT,
    F_PEND_KB,
    F_SHIELD,
    F_X,
    G_DONE,
    G_END_FRAME,
    G_FRAME,
    G_WINNER,
    I_CHAR,
    I_CHARID,
    I_GROUND,
    I_JUMPS,
    I_KOS,
    I_LASTHIT,
    I_LWIN,
    I_MOTION,
    I_MOVE,
    I_PLAT,
    I_STOCKS,
    I_TWIN,
    I_FIN,
    I_ACTION,
    SimState,
)
from workbench.sim.tables import CHAR_FIELDS, GameData, load_game_data
from workbench.types import stage_id

CONTROLLER_DIM = 13
DEFAULT_MAX_FRAMES = 8 * 60 * 60  # Melee's 8-minute timer
STOCKS = 4


class SimError(WorkbenchError):
    """A bad argument to the simulator (shape, value, name)."""


@dataclass
class RewardConfig:
    """Per-player reward each frame: ``win`` x (+1 win / -1 loss, on the last frame),
    ``stock`` x (stocks taken - stocks lost), ``damage`` x (percent dealt - percent taken).
    Zero-sum between the two players by construction."""

    win: float = 1.0
    stock: float = 0.0
    damage: float = 0.0

    @classmethod
    def preset(cls, name: str) -> "RewardConfig":
        """``sparse`` (+1/-1 on the result); ``slippi-ai`` (slippi_ai/reward.py: 1 per
        stock, 0.01 per percent, zero-sum, no result bonus); ``hal`` (the quantities HAL's
        closed-loop evaluation reports, win and stocks: +1/-1 result, 1 per stock; HAL
        publishes no RL reward, so this preset is our reading of its metrics)."""
        presets = {
            "sparse": cls(1.0, 0.0, 0.0),
            "slippi-ai": cls(0.0, 1.0, 0.01),
            "hal": cls(1.0, 1.0, 0.0),
            "shaped": cls(1.0, 1.0, 0.01),
        }
        if name not in presets:
            raise SimError(f"unknown reward preset {name!r}: use one of {', '.join(presets)}")
        return presets[name]

    def to_dict(self) -> dict:
        return asdict(self)


def _clamp(array, out):
    """Clamp (N, 2, 13) controllers into ``out``: sticks to [-1, 1], the trigger and the
    buttons to [0, 1]. Returns the flat index of the first non-finite value, or -1."""
    flat, dest = array.reshape(-1), out.reshape(-1)
    for i in range(flat.shape[0]):
        v = flat[i]
        if not np.isfinite(v):
            return i
        lo = -1.0 if i % CONTROLLER_DIM < 4 else 0.0
        dest[i] = min(max(v, lo), 1.0)
    return -1


_clamp_kernel = kernel(_clamp)


def check_controllers(controllers, num_games: int, jit: bool = True) -> np.ndarray:
    """``(N, 2, 13)`` float32 in the store's units. Wrong shape or non-finite values raise
    :class:`SimError`; finite values out of range are clamped (sticks to [-1, 1], the
    trigger and buttons to [0, 1]; a button is pressed above 0.5)."""
    array = np.ascontiguousarray(controllers, dtype=np.float32)
    if array.shape != (num_games, 2, CONTROLLER_DIM):
        raise SimError(
            f"controllers must be shaped ({num_games}, 2, {CONTROLLER_DIM}) "
            f"(games, players, main x/y, c x/y, trigger, A B X Y Z L R D_UP); got {array.shape}"
        )
    out = np.empty_like(array)
    bad = (_clamp_kernel if jit else _clamp)(array, out)
    if bad >= 0:
        game, rest = divmod(int(bad), 2 * CONTROLLER_DIM)
        raise SimError(
            f"controller value is not finite at game {game}, player {rest // CONTROLLER_DIM}, "
            f"component {rest % CONTROLLER_DIM}"
        )
    return out


def frame_rewards(
    config: RewardConfig,
    stocks_before: np.ndarray,
    percent_before: np.ndarray,
    stocks: np.ndarray,
    percent: np.ndarray,
    done: np.ndarray,
    winner: np.ndarray,
) -> np.ndarray:
    """(N, 2) zero-sum rewards of one frame from (N, 2) stocks and percents before and
    after it (every backend computes its rewards here)."""
    lost = np.maximum(stocks_before - stocks, 0).astype(np.float32)  # (N, 2)
    # percent taken this frame; a KO resets percent, which is not damage
    taken = np.maximum(percent - percent_before, 0.0).astype(np.float32)
    score = config.stock * (lost[:, ::-1] - lost) + config.damage * (taken[:, ::-1] - taken)
    if config.win and done.any():
        result = np.zeros_like(score)
        result[(winner == 0) & done] = (1.0, -1.0)
        result[(winner == 1) & done] = (-1.0, 1.0)
        score = score + config.win * result
    return score.astype(np.float32)


class SimEnv:
    """N games of the Melee-like simulator (see :mod:`workbench.sim`)."""

    backend = "sim"

    def __init__(
        self,
        num_games: int = 1,
        characters: tuple[str, str] = ("fox", "fox"),
        stage: str | int = "fd",
        seed: int = 0,
        max_frames: int = DEFAULT_MAX_FRAMES,
        reward: RewardConfig | None = None,
        stocks: int = STOCKS,
        auto_reset: bool = True,
        data: GameData | None = None,
        jit: bool | None = None,
    ):
        if num_games < 1:
            raise SimError(f"num_games must be at least 1, got {num_games}")
        if max_frames < 1:
            raise SimError(f"max_frames must be at least 1, got {max_frames}")
        self.data = data or load_game_data()
        self.num_games, self.max_frames, self.stocks = int(num_games), int(max_frames), int(stocks)
        self.auto_reset = auto_reset
        # jit=False runs the plain-Python reference of the same step (no compile; slow)
        self.jit = os.environ.get("WORKBENCH_SIM_JIT", "1") != "0" if jit is None else bool(jit)
        try:
            self.stage = stage if isinstance(stage, int) else stage_id(stage)
        except ValueError as err:
            raise SimError(str(err)) from None
        self.stage_array = self.data.stage_array(self.stage)
        if len(characters) != 2:
            raise SimError(f"two characters, one per player; got {characters!r}")
        self.char_index = tuple(self.data.character_index(c) for c in characters)
        self.characters = tuple(self.data.names[c] for c in self.char_index)
        self.reward = reward or RewardConfig()
        self.seed = seed
        self._items = empty_items(self.num_games)
        self._initial = self._initial_state(self.num_games)
        self.state = self._initial.copy()
        self._prev = None

    # -- state ----------------------------------------------------------------------------
    def _initial_state(self, n: int) -> SimState:
        """Both players standing at the stage's start positions (ports 1 and 2)."""
        from workbench.sim.actions import STANDING

        state = SimState.zeros(n)
        jumps = CHAR_FIELDS.index("jumps")
        for p in range(2):
            c = self.char_index[p]
            pf, pi = state.pf[:, p], state.pi[:, p]
            pf[:, F_X] = self.stage_array[6 + p]
            pf[:, F_FACING] = 1.0 if self.stage_array[6 + p] < 0 else -1.0
            pf[:, F_SHIELD] = 60.0
            pf[:, F_PEND_KB] = -1.0
            pi[:, I_CHAR], pi[:, I_CHARID] = c, self.data.internal_ids[c]
            pi[:, I_STOCKS], pi[:, I_GROUND], pi[:, I_PLAT] = self.stocks, 1, 0
            pi[:, I_JUMPS] = int(self.data.chars[c, jumps])
            pi[:, I_ACTION], pi[:, I_FIN] = STANDING, 1
            pi[:, I_MOVE], pi[:, I_MOTION] = -1, -1
            pi[:, I_LASTHIT] = 6  # the store's "nobody" value
            pi[:, I_LWIN], pi[:, I_TWIN] = 1000, 1000
        state.gi[:, G_WINNER] = -1
        return state

    def save(self, games=None) -> SimState:
        """A copy of the full state of some games (all by default)."""
        return self.state.copy() if games is None else self.state.take(games)

    def restore(self, saved: SimState, games=None) -> Frames:
        """Put saved games back (into ``games``, or all of them); returns the frames."""
        if games is None:
            if saved.num_games != self.num_games:
                raise SimError(f"saved state holds {saved.num_games} games, the env {self.num_games}")
            self.state = saved.copy()
        else:
            self.state.put(games, saved)
        self._prev = None
        return self.observe()

    def observe(self) -> Frames:
        return observe(self.state, self.stage, self._items, self.jit)

    # -- the interface --------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> Frames:
        """Every game back to its start. The simulator itself is deterministic (no
        randomness in the physics); ``seed`` is recorded for the bots that draw from it."""
        if seed is not None:
            self.seed = seed
        self.state = self._initial.copy()
        self._prev = None
        return self.observe()

    def step(self, controllers) -> tuple[Frames, np.ndarray, np.ndarray, dict]:
        """One frame of every game. Games that finished on the previous step start again
        first (auto-reset); ``info["final"]`` has the results of games that end now."""
        from workbench.sim.hits import REFERENCE_STEP, step_kernel

        ctrl = check_controllers(controllers, self.num_games, self.jit)
        state = self.state
        finished = state.gi[:, G_DONE] != 0
        if finished.any() and self.auto_reset:
            state.put(np.nonzero(finished)[0], self._initial.take(np.nonzero(finished)[0]))
        before = (state.pi[:, :, I_STOCKS].copy(), state.pf[:, :, F_PERCENT].copy())
        d = self.data
        (step_kernel if self.jit else REFERENCE_STEP)(
            state.pf,
            state.pi,
            state.gi,
            ctrl,
            *d.physics_tables,
            self.stage_array,
            self.max_frames,
        )
        done = state.gi[:, G_DONE] != 0  # games that ended this step (sticky without auto-reset)
        rewards = self._rewards(before, done)
        info = {"reset": finished if self.auto_reset else np.zeros_like(finished), "final": self._final(done)}
        return self.observe(), rewards, done, info

    def _rewards(self, before, done: np.ndarray) -> np.ndarray:
        stocks0, percent0 = before
        pi, pf = self.state.pi, self.state.pf
        return frame_rewards(
            self.reward, stocks0, percent0, pi[:, :, I_STOCKS], pf[:, :, F_PERCENT], done, self.state.gi[:, G_WINNER]
        )

    def _final(self, done: np.ndarray) -> dict:
        """Results of the games that ended this step (index arrays, one entry per game)."""
        games = np.nonzero(done)[0]
        gi, pi = self.state.gi, self.state.pi
        return {
            "games": games,
            "winner": gi[games, G_WINNER].copy(),
            "frames": gi[games, G_END_FRAME].copy(),
            "stocks": pi[games][:, :, I_STOCKS].copy(),
            "kos": pi[games][:, :, I_KOS].copy(),
        }

    @property
    def frame(self) -> np.ndarray:
        return self.state.gi[:, G_FRAME]

    def close(self) -> None:
        pass
