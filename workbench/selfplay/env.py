"""The simulator as self-play sees it: :mod:`workbench.sim`'s environment with finished
games restarted at once, per-game damage totals, results in the game log's terms, both
players' embeddings, and the scripted bots.

The sim's own auto-reset restarts a finished game at the start of the *next* step, so
the frame returned with ``done`` is the game's last; here a finished game is restored
to the start state straight away instead, so the next frame a policy sees is the new
game's first (its recurrent state is reset on the same frame).
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.embed import StateLayout, embed_state
from workbench.errors import WorkbenchError


class GameEnv:
    """N games of one backend; ``step`` returns (frames, rewards (N, 2), done (N,),
    results) with ``results`` one (winner, p1_stocks, p2_stocks, p1_damage, p2_damage,
    frames) tuple per finished game, in ``np.flatnonzero(done)`` order. ``winner`` is
    1 or 2 (the side) or 0 (a draw)."""

    def __init__(self, env):
        self.env, self.num_games = env, env.num_games
        self._start = None
        self.damage = np.zeros((self.num_games, 2), np.float64)  # percent dealt, per side
        self._percent = np.zeros((self.num_games, 2), np.float64)

    def reset(self):
        frames = self.env.reset()
        self._start = self.env.save()
        self.damage[:] = 0.0
        self._percent = self._percents(frames)
        return frames

    @staticmethod
    def _percents(frames) -> np.ndarray:
        return np.stack([frames.columns["p0_percent"], frames.columns["p1_percent"]], axis=1).astype(np.float64)

    def step(self, controllers: np.ndarray):
        frames, rewards, done, info = self.env.step(controllers)
        percent = self._percents(frames)
        taken = np.maximum(percent - self._percent, 0.0)  # a KO resets percent: not damage
        self.damage += taken[:, ::-1]  # side 0 dealt what side 1 took
        results = []
        if done.any():
            final = info["final"]
            order = np.argsort(final["games"])
            for k in order:
                g = int(final["games"][k])
                winner = {0: 1, 1: 2}.get(int(final["winner"][k]), 0)
                stocks = final["stocks"][k]
                results.append(
                    (
                        winner,
                        int(stocks[0]),
                        int(stocks[1]),
                        float(self.damage[g, 0]),
                        float(self.damage[g, 1]),
                        int(final["frames"][k]),
                    )
                )
            rows = np.flatnonzero(done)
            frames = self.env.restore(self._start.take(rows), games=rows)
            self.damage[rows] = 0.0
            percent = self._percents(frames)
        self._percent = percent
        return frames, rewards, done, results

    # -- resume ------------------------------------------------------------------------------
    def save(self) -> dict:
        """Everything as tensors (``torch.load(weights_only=True)`` reads it back)."""
        now, start = self.env.save(), self._start
        return {
            "pf": torch.from_numpy(now.pf.copy()),
            "pi": torch.from_numpy(now.pi.copy()),
            "gi": torch.from_numpy(now.gi.copy()),
            "start_pf": torch.from_numpy(start.pf.copy()),
            "start_pi": torch.from_numpy(start.pi.copy()),
            "start_gi": torch.from_numpy(start.gi.copy()),
            "damage": torch.from_numpy(self.damage.copy()),
            "percent": torch.from_numpy(self._percent.copy()),
        }

    def restore(self, saved: dict):
        from workbench.sim import SimState

        self._start = SimState(
            saved["start_pf"].numpy().copy(), saved["start_pi"].numpy().copy(), saved["start_gi"].numpy().copy()
        )
        frames = self.env.restore(
            SimState(saved["pf"].numpy().copy(), saved["pi"].numpy().copy(), saved["gi"].numpy().copy())
        )
        self.damage = saved["damage"].numpy().copy()
        self._percent = saved["percent"].numpy().copy()
        return frames


def make_game_env(cfg, num_games: int, seed: int, jit: bool | None = None) -> GameEnv:
    """The environment a :class:`SelfPlayConfig` names (``env``, ``characters``,
    ``stage``, ``rollout.max_frames``, ``rollout.reward``: a sim reward preset, ``jit``)."""
    jit = cfg.jit if jit is None else jit
    try:
        from workbench.sim import RewardConfig, make_env
    except ImportError as err:
        raise WorkbenchError(f"self-play needs the simulator (workbench.sim): {err}") from None
    env = make_env(
        backend=cfg.env,
        num_games=num_games,
        characters=tuple(cfg.characters),
        stage=cfg.stage,
        seed=seed,
        max_frames=cfg.rollout.max_frames,
        reward=RewardConfig.preset(cfg.rollout.reward),
        jit=jit,
    )
    return GameEnv(env)


def embed_both(frames, layout: StateLayout) -> tuple[np.ndarray, np.ndarray]:
    """Both players' view of N frames: floats (2, N, F), ids (2, N, K); index 0 is the
    player on port 1 seeing port 2, index 1 the reverse."""
    views = [embed_state(frames.context(side), layout) for side in (0, 1)]
    return np.stack([v[0] for v in views]), np.stack([v[1] for v in views]).astype(np.int64)


def scripted_bot(name: str, n: int, seed: int, edge: float = 85.0):
    """A scripted opponent by name (``idle``, ``random``, ``heuristic``: the simulator's
    bots through :func:`workbench.sim.bots.make_bot`), answering for rows of games.
    ``edge`` is the stage's ledge x (the heuristic recovers toward it)."""
    from workbench.sim.bots import make_bot

    return _SimBot(make_bot(name, seed=seed, edge=edge, num_games=n))


def stage_edge(env) -> float:
    """The ledge x of a :class:`GameEnv`'s stage (the sim backend's table), else FD's."""
    stage = getattr(env.env, "stage_array", None)
    return float(stage[5]) if stage is not None else 85.0


class _SimBot:
    """Adapts a sim bot (a full (N, 13) controller per side) to rows."""

    def __init__(self, bot):
        self.bot = bot

    def act_rows(self, frames, side: np.ndarray, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), 13), np.float32)
        for s in (0, 1):
            mine = side[rows] == s
            if mine.any():
                out[mine] = np.asarray(self.bot.act(frames, s), np.float32)[rows[mine]]
        return out
