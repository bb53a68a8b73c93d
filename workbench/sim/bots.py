"""Opponents that need no training, vectorised over games: ``idle``, ``random`` (a sticky
random controller) and ``heuristic`` (approach, attack in range, shield when threatened,
recover toward the ledge). Every bot maps a batch of :class:`Frames` to ``(N, 13)``
controllers for its port; :func:`make_bot` also loads checkpoints and ONNX files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.sim.env import CONTROLLER_DIM, SimError
from workbench.sim.frames import Frames

# controller columns (CONTROLLER_COLUMNS): 0 main x, 1 main y, 2 c x, 3 c y, 4 trigger, 5 A,
# 6 B, 7 X, 8 Y, 9 Z, 10 L, 11 R, 12 D_UP
MAIN_X, MAIN_Y, TRIGGER, BUTTON_A, BUTTON_X = 0, 1, 4, 5, 7
SCRIPTED = ("idle", "random", "heuristic")


class IdleBot:
    """Presses nothing."""

    name = "idle"

    def reset(self, games=None) -> None:
        pass

    def act(self, obs: Frames, port: int) -> np.ndarray:
        return np.zeros((len(obs), CONTROLLER_DIM), np.float32)


class RandomBot:
    """A sticky random controller: each frame a game redraws its whole controller with
    probability ``1 / hold`` (sticks uniform in the square, each button pressed with 10%,
    the trigger pulled with 5%), else repeats the last one."""

    name = "random"

    def __init__(self, seed: int = 0, hold: float = 8.0):
        self.rng = np.random.default_rng(seed)
        self.hold = hold
        self.last: np.ndarray | None = None

    def reset(self, games=None) -> None:
        if self.last is not None and games is not None:
            self.last[games] = 0.0

    def _draw(self, n: int) -> np.ndarray:
        out = np.zeros((n, CONTROLLER_DIM), np.float32)
        out[:, :4] = self.rng.uniform(-1, 1, (n, 4))
        out[:, 2:4] *= self.rng.random((n, 1)) < 0.2  # the c-stick mostly rests
        out[:, TRIGGER] = self.rng.random(n) < 0.05
        out[:, 5:] = self.rng.random((n, 8)) < 0.1
        return out

    def act(self, obs: Frames, port: int) -> np.ndarray:
        n = len(obs)
        if self.last is None or len(self.last) != n:
            self.last = self._draw(n)
        redraw = self.rng.random(n) < 1.0 / self.hold
        if redraw.any():
            self.last[redraw] = self._draw(int(redraw.sum()))
        return self.last.copy()


class HeuristicBot:
    """A scripted player. Per game and frame, first rule that applies:

    1. off the stage: drift toward the centre, double-jump when falling, hold up;
    2. the opponent is attacking within reach and we stand: shield;
    3. the opponent is within reach: face it and attack (up-tilt if it is above, a forward
       tilt on the ground, an aerial toward it in the air), pressing A every 4th frame;
    4. else walk or dash toward it.
    """

    name = "heuristic"

    def __init__(self, edge: float = 85.0, reach: float = 16.0):
        self.edge, self.reach = edge, reach

    def reset(self, games=None) -> None:
        pass

    def act(self, obs: Frames, port: int) -> np.ndarray:
        col = obs.columns
        me, them = f"p{port}_", f"p{1 - port}_"
        n = len(obs)
        x, y = col[me + "x"].astype(np.float32), col[me + "y"].astype(np.float32)
        dx = col[them + "x"] - x
        dy = col[them + "y"] - y
        grounded = col[me + "on_ground"].astype(bool)
        tick = (obs.frame % 4) == 0
        out = np.zeros((n, CONTROLLER_DIM), np.float32)
        toward = np.where(dx >= 0, 1.0, -1.0).astype(np.float32)
        # 4. approach (a half tilt walks; from afar a full press dashes and runs)
        out[:, MAIN_X] = np.where(np.abs(dx) > 40, toward, 0.6 * toward)
        # 3. attack in reach
        close = (np.abs(dx) < self.reach) & (np.abs(dy) < self.reach)
        above = dy > 8
        out[close, MAIN_X] = np.where(above[close], 0.0, 0.5 * toward[close])
        out[close, MAIN_Y] = np.where(above[close], 0.5, 0.0)
        out[close, BUTTON_A] = tick[close]
        # 2. shield an attack in reach
        opp_action = col[them + "action"].astype(np.int32)
        attacking = (opp_action >= 44) & (opp_action <= 69)
        threatened = attacking & (np.abs(dx) < self.reach * 1.5) & grounded & (np.abs(dy) < 20)
        out[threatened] = 0.0
        out[threatened, TRIGGER] = 1.0
        # 1. recover
        offstage = (np.abs(x) > self.edge) | (y < -5.0)
        falling = col[me + "speed_y_self"] < 0
        home = np.where(x > 0, -1.0, 1.0).astype(np.float32)
        out[offstage] = 0.0
        out[offstage, MAIN_X] = home[offstage]
        out[offstage, MAIN_Y] = 0.3
        out[offstage, BUTTON_X] = (falling & (obs.frame % 2 == 0))[offstage]
        return out


def make_bot(
    spec: str,
    seed: int = 0,
    edge: float = 85.0,
    device: str = "cpu",
    num_games: int | None = None,
    sample: bool = False,
):
    """A bot from a CLI spec: a scripted name, a checkpoint folder or an ONNX file.
    ``num_games`` is accepted for callers that size bots up front; every bot sizes itself
    from the frames it is given. ``sample``: trained bots draw from their policy (seeded)
    instead of playing its most likely controller."""
    if spec == "idle":
        return IdleBot()
    if spec == "random":
        return RandomBot(seed)
    if spec == "heuristic":
        return HeuristicBot(edge)
    path = Path(spec)
    if path.suffix == ".onnx" and path.is_file():
        from workbench.sim.policy_bots import OnnxBot

        return OnnxBot(path, seed, sample=sample)
    if path.is_dir():
        from workbench.sim.policy_bots import CheckpointBot

        return CheckpointBot(path, seed, device, sample=sample)
    raise SimError(f"unknown player {spec!r}: use {', '.join(SCRIPTED)}, a checkpoint folder or an .onnx file")
