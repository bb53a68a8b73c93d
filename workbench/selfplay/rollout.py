"""Rollouts: one learner against its opponents over N simulated games at once.

Every frame costs one batched policy step for the learner (all N games), one per
distinct opponent network met in those games (their rows only), the scripted bots'
vectorised step, and one simulator step: nothing loops over games in Python. Games
that end are reset by the environment; their recurrent states, own-controller inputs
and delay queues are reset here, the result goes to the game log and the next
opponent is drawn from the learner's current plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from workbench.selfplay.actor import PolicyActor
from workbench.selfplay.env import GameEnv, embed_both, stage_edge
from workbench.selfplay.players import ScriptedBots, Seat, act_rows
from workbench.selfplay.ppo import Rollout
from workbench.selfplay.ratings import GameRecord

SCRIPTED = ("idle", "random", "heuristic")


@dataclass
class CollectStats:
    frames: int = 0
    env_s: float = 0.0  # simulator steps
    embed_s: float = 0.0  # frames -> policy inputs
    policy_s: float = 0.0  # learner and opponent network steps
    action_hist: np.ndarray | None = None  # (classes,) picks of the main stick x head


class Arena:
    """N games of one learner (see the module doc). ``side[g]`` is the learner's side
    in game g (0 = port 1); ``opponent[g]`` the name of who it meets there."""

    def __init__(self, env: GameEnv, learner: str, actor: PolicyActor, delay: int, learner_side: str, seed: int):
        self.env, self.learner, self.n = env, learner, env.num_games
        if learner_side == "both":
            self.side = np.arange(self.n) % 2
        else:
            self.side = np.full(self.n, 0 if learner_side == "p1" else 1)
        self.rows = np.arange(self.n)
        self.seat = Seat(actor, self.n, delay)
        self.opp_seat = Seat(actor, self.n, delay)
        self.opponent = np.array(["teacher"] * self.n, dtype=object)
        self.start = np.ones(self.n, dtype=bool)
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.frames = env.reset()
        self.bots = ScriptedBots(self.n, seed, stage_edge(env))
        self.noise = actor.policy.noise_size
        self.planned = False

    def draw_opponents(self, rows: np.ndarray, plan: dict[str, float]) -> None:
        names = list(plan)
        p = np.array([plan[n] for n in names], dtype=np.float64)
        picks = self.rng.choice(len(names), size=len(rows), p=p / p.sum())
        self.opponent[rows] = [names[i] for i in picks]

    def collect(
        self, actor: PolicyActor, opponents: dict[str, PolicyActor], plan: dict[str, float], steps: int, update: int
    ) -> tuple[Rollout, list[GameRecord], CollectStats]:
        """``steps`` frames of every game -> the learner's rollout, finished games, timing.
        ``opponents`` maps network opponents' names to actors (the learner's own name to
        ``actor`` for the latest self); scripted names need no entry."""
        import time

        n = self.n
        if not self.planned:  # the first rollout: every game draws its opponent
            self.draw_opponents(self.rows, plan)
            self.planned = True
        bad = [o for o in set(self.opponent) | set(plan) if o not in opponents and o not in SCRIPTED]
        if bad:
            raise KeyError(f"no actor for opponents {bad}")
        self.finished_slots: list[int] = []
        layout = actor.policy.layout
        obs_f = torch.zeros(n, steps + 1, layout.float_dim)
        obs_i = torch.zeros(n, steps + 1, layout.id_dim, dtype=torch.long)
        obs_c = torch.zeros(n, steps + 1, 13)
        actions = torch.zeros(n, steps, actor.policy.spec.num_heads, dtype=torch.long)
        logprobs, rewards = torch.zeros(n, steps), torch.zeros(n, steps)
        starts = torch.zeros(n, steps + 1, dtype=torch.bool)
        state0 = {k: v.clone() for k, v in self.seat.state.items()}
        records: list[GameRecord] = []
        stats = CollectStats()
        side_t = torch.as_tensor(self.side)
        for t in range(steps + 1):
            t0 = time.perf_counter()
            floats, ids = embed_both(self.frames, layout)  # (2, N, F), (2, N, K)
            mine_f, mine_i = floats[self.side, self.rows], ids[self.side, self.rows]
            t1 = time.perf_counter()
            stats.embed_s += t1 - t0
            obs_f[:, t], obs_i[:, t] = torch.from_numpy(mine_f), torch.from_numpy(mine_i)
            obs_c[:, t], starts[:, t] = self.seat.own, torch.from_numpy(self.start)
            if t == steps:  # the bootstrap frame: seen, not acted on
                break
            uniform = torch.rand(n, self.noise, generator=self.generator)
            targets, decoded, logprob, self.seat.state = actor.act(
                obs_f[:, t], obs_i[:, t], self.seat.own, self.seat.state, uniform
            )
            actions[:, t], logprobs[:, t] = targets, logprob
            mine = self.seat.press(decoded)  # (N, 13)
            theirs = self._opponents_act(opponents, floats, ids)  # (N, 13)
            t2 = time.perf_counter()
            stats.policy_s += t2 - t1
            controllers = torch.zeros(n, 2, 13)
            controllers[self.rows, side_t] = mine
            controllers[self.rows, 1 - side_t] = theirs
            self.frames, reward, done, results = self.env.step(controllers.numpy())
            stats.env_s += time.perf_counter() - t2
            rewards[:, t] = torch.from_numpy(np.asarray(reward, np.float32)[self.rows, self.side])
            self.start = np.asarray(done, dtype=bool)
            if self.start.any():
                records += self._finish(np.flatnonzero(self.start), results, update, plan)
            stats.frames += n
        return (
            Rollout({"floats": obs_f, "ids": obs_i, "controller": obs_c}, actions, logprobs, rewards, starts, state0),
            records,
            stats,
        )

    def _opponents_act(self, opponents: dict[str, PolicyActor], floats: np.ndarray, ids: np.ndarray) -> torch.Tensor:
        """Every opponent's controller pressed now, (N, 13): networks through their seat
        (delay and own input as the learner's), scripted bots directly."""
        other = 1 - self.side
        their_f = torch.from_numpy(floats[other, self.rows])
        their_i = torch.from_numpy(ids[other, self.rows])
        chosen = self.opp_seat.own.clone()
        scripted = np.zeros(self.n, dtype=bool)
        direct = torch.zeros(self.n, 13)
        uniform = torch.rand(self.n, self.noise, generator=self.generator)
        for name in sorted(set(self.opponent)):
            rows = np.flatnonzero(self.opponent == name)
            if name in SCRIPTED:
                scripted[rows] = True
                direct[rows] = torch.from_numpy(self.bots.act(name, self.frames, other, rows))
                continue
            idx = torch.as_tensor(rows)
            _, decoded, _ = act_rows(opponents[name], self.opp_seat, idx, their_f, their_i, uniform)
            chosen[idx] = decoded
        pressed = self.opp_seat.press(chosen)
        scripted_t = torch.from_numpy(scripted)
        return torch.where(scripted_t[:, None], direct, pressed)

    def _finish(self, rows: np.ndarray, results: list[tuple], update: int, plan: dict[str, float]) -> list[GameRecord]:
        """Record the games ``rows`` that just ended, reset their seats, draw opponents."""
        records = []
        self.finished_slots += [int(g) for g in rows]
        for g, result in zip(rows, results):
            me, them = self.learner, str(self.opponent[g])
            p1, p2 = (me, them) if self.side[g] == 0 else (them, me)
            records.append(GameRecord(update, p1, p2, *result))
        self.seat.reset(rows)
        self.opp_seat.reset(rows)
        self.draw_opponents(rows, plan)
        return records

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "env": self.env.save(),
            "seat": self.seat.state_dict(),
            "opp_seat": self.opp_seat.state_dict(),
            "opponent": list(self.opponent),
            "start": torch.from_numpy(self.start.copy()),
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        self.frames = self.env.restore(state["env"])
        self.seat.load_state_dict(state["seat"])
        self.opp_seat.load_state_dict(state["opp_seat"])
        self.opponent = np.array(state["opponent"], dtype=object)
        self.start = state["start"].numpy().copy()
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = state["rng"]
        self.planned = True
