"""Players on one side of N games: the delay queue and the agent's own-controller input
of behavioural cloning, batched over games, and opponents (networks and scripted bots)
stepped once per frame for all games that meet them.

Alignment (as :mod:`workbench.data.dataset` trains it): at frame i the policy sees the
state of frame i and its own most recent output (the controller that will be pressed
at frame i + D), and its output is pressed D frames later. A new game starts with a
neutral controller, an empty (neutral) queue and the initial recurrent state.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from workbench.embed.controller import ControllerSpec
from workbench.models.backbones import State
from workbench.selfplay.actor import PolicyActor


def neutral_controller(spec: ControllerSpec) -> np.ndarray:
    """(13,) the neutral controller at its bucket centres (what BC saw as "nothing")."""
    return spec.decode(spec.encode(np.zeros((1, 13), np.float32)))[0]


class Seat:
    """The per-game bookkeeping of a network player: recurrent state (N, ...), own last
    output (N, 13) and the delay queue (N, D, 13)."""

    def __init__(self, actor: PolicyActor, n: int, delay: int):
        self.n, self.delay = n, delay
        self.neutral = torch.from_numpy(neutral_controller(actor.policy.spec))  # (13,)
        self.state: State = actor.initial_state(n)
        self.own = self.neutral.expand(n, 13).clone()  # (N, 13)
        self.queue = self.neutral.expand(n, delay, 13).clone()  # (N, D, 13)
        self._init = actor.initial_state(1)

    def reset(self, rows: np.ndarray) -> None:
        """Games ``rows`` begin anew."""
        if len(rows) == 0:
            return
        idx = torch.as_tensor(rows, dtype=torch.long)
        for k, v in self.state.items():
            v[idx] = self._init[k]
        self.own[idx] = self.neutral
        self.queue[idx] = self.neutral

    def press(self, chosen: Tensor) -> Tensor:
        """The controllers chosen now (N, 13) -> those pressed now (N, 13): chosen D
        frames ago. The chosen ones become the own-controller input of the next frame."""
        self.own = chosen.clone()  # reset() writes rows in place: never alias the caller
        if self.delay == 0:
            return chosen
        pressed = self.queue[:, 0].clone()
        self.queue = torch.cat([self.queue[:, 1:], chosen[:, None]], dim=1)
        return pressed

    def state_dict(self) -> dict:
        return {"state": dict(self.state), "own": self.own, "queue": self.queue}

    def load_state_dict(self, data: dict) -> None:
        self.state, self.own, self.queue = dict(data["state"]), data["own"], data["queue"]


def act_rows(
    actor: PolicyActor, seat: Seat, rows: Tensor, floats: Tensor, ids: Tensor, uniform: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """One batched policy step for games ``rows`` of a seat -> targets, controller,
    log-prob for those rows; the seat's state rows are updated in place."""
    state = {k: v[rows] for k, v in seat.state.items()}
    targets, decoded, logprob, state = actor.act(floats[rows], ids[rows], seat.own[rows], state, uniform[rows])
    for k, v in state.items():
        seat.state[k][rows] = v
    return targets, decoded, logprob


class ScriptedBots:
    """The simulator's scripted opponents (``idle``, ``random``, ``heuristic``), created
    through :mod:`workbench.sim` on first use."""

    def __init__(self, n: int, seed: int, edge: float = 85.0):
        self.n, self.seed, self.edge, self.bots = n, seed, edge, {}

    def act(self, name: str, frames, side: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 13) controllers of bot ``name`` in games ``rows``, where it plays
        ``side[g]`` (0 = port 1)."""
        from workbench.selfplay.env import scripted_bot

        if name not in self.bots:
            self.bots[name] = scripted_bot(name, self.n, self.seed + len(self.bots), self.edge)
        return self.bots[name].act_rows(frames, side, rows)
