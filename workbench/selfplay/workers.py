"""Rollout workers outside the learner's process: one process per core on this machine
(``rollout.workers``), or Ray actors on a cluster (``rollout.ray``).

Each worker is an :class:`ArenaWorker`: its own slice of the learner's N games (an
:class:`Arena` over N / W simulated games), its own copies of the learner's weights
(sent every update) and of the opponents it meets (loaded from the population's
checkpoint folders). :class:`ShardedArena` has an :class:`Arena`'s ``collect``: it asks
every worker for the same T frames and joins their rollouts along the games axis, so
the learner cannot tell it from one local arena. Local workers answer through
``torch.multiprocessing`` pipes, which hand tensors over in shared memory.
"""

from __future__ import annotations

import numpy as np
import torch

from workbench.errors import WorkbenchError
from workbench.selfplay.actor import PolicyActor
from workbench.selfplay.ppo import Rollout


class ArenaWorker:
    """An arena over ``games`` games plus the policies it needs (see the module doc)."""

    def __init__(self, cfg: dict, learner: str, games: int, seed: int):
        from workbench.selfplay.config import SelfPlayConfig
        from workbench.selfplay.env import make_game_env
        from workbench.selfplay.rollout import Arena
        from workbench.train.checkpoint import load_policy

        self.cfg = SelfPlayConfig.from_dict(cfg)
        if self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)
        teacher, _, _ = load_policy(self.cfg.init)
        self.paths: dict[str, str] = {}
        self.actors: dict[str, PolicyActor] = {"teacher": PolicyActor(teacher)}
        self.learner = learner
        self.local = PolicyActor(load_policy(self.cfg.init)[0])
        self.arena = Arena(
            make_game_env(self.cfg, games, seed),
            learner,
            self.local,
            self.cfg.rollout.delay,
            self.cfg.rollout.learner_side,
            seed,
        )

    def _actor(self, name: str, weights: dict[str, dict], paths: dict[str, str]) -> PolicyActor:
        from workbench.train.checkpoint import load_policy

        if name in weights:  # a learner's live weights, fresh every update
            if name not in self.actors:
                self.actors[name] = PolicyActor(load_policy(self.cfg.init)[0])
            self.actors[name].policy.load_state_dict(weights[name])
        elif name not in self.actors:
            self.actors[name] = PolicyActor(load_policy(paths[name])[0])
        return self.actors[name]

    def collect(self, weights: dict[str, dict], plan: dict[str, float], paths: dict[str, str], steps: int, update: int):
        from workbench.selfplay.rollout import SCRIPTED

        self.local.policy.load_state_dict(weights[self.learner])
        needed = (set(plan) | set(self.arena.opponent)) - set(SCRIPTED)
        opponents = {n: self.local if n == self.learner else self._actor(n, weights, paths) for n in needed}
        for stale in set(self.actors) - needed - {"teacher"}:
            del self.actors[stale]
        rollout, records, stats = self.arena.collect(self.local, opponents, plan, steps, update)
        return rollout, records, stats, list(self.arena.finished_slots)

    def state_dict(self) -> dict:
        return self.arena.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.arena.load_state_dict(state)


def _serve(conn, cfg: dict, learner: str, games: int, seed: int) -> None:
    """A local worker process: answer (method, args) requests until "stop"."""
    worker = ArenaWorker(cfg, learner, games, seed)
    conn.send(("ready", None))
    while True:
        method, args = conn.recv()
        if method == "stop":
            return
        try:
            conn.send(("ok", getattr(worker, method)(*args)))
        except Exception as err:  # the learner raises it with the worker's message
            conn.send(("error", f"{type(err).__name__}: {err}"))


class _ProcessHandle:
    def __init__(self, ctx, cfg: dict, learner: str, games: int, seed: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, cfg, learner, games, seed), daemon=True)
        self.process.start()
        self._wait()

    def _wait(self):
        status, value = self.conn.recv()
        if status == "error":
            raise WorkbenchError(f"rollout worker failed: {value}")
        return value

    def call(self, method: str, *args):
        self.conn.send((method, args))
        return self

    def result(self):
        return self._wait()

    def stop(self) -> None:
        self.conn.send(("stop", ()))
        self.process.join(timeout=10)


class _RayHandle:
    def __init__(self, actor):
        self.actor, self.pending = actor, None

    def call(self, method: str, *args):
        self.pending = getattr(self.actor, method).remote(*args)
        return self

    def result(self):
        import ray

        return ray.get(self.pending)

    def stop(self) -> None:
        import ray

        ray.kill(self.actor)


def connect_ray(address: str) -> None:
    """``ray.init`` once: ``local`` starts a Ray instance here, anything else joins one."""
    try:
        import ray
    except ImportError:
        raise WorkbenchError("--ray needs Ray: pip install -e '.[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, ignore_reinit_error=True, log_to_driver=False)


class ShardedArena:
    """An arena whose games live in W workers (processes or Ray actors)."""

    def __init__(self, cfg, learner: str, games: int, seed: int, workers: int, ray_address: str = ""):
        if games % workers:
            raise WorkbenchError(f"rollout.num_games={games} must divide by the {workers} workers")
        per, data = games // workers, cfg.to_dict()
        if ray_address:
            connect_ray(ray_address)
            import ray

            remote = ray.remote(num_cpus=1)(ArenaWorker)
            self.handles = [_RayHandle(remote.remote(data, learner, per, seed + k)) for k in range(workers)]
        else:
            ctx = torch.multiprocessing.get_context("spawn")
            self.handles = [_ProcessHandle(ctx, data, learner, per, seed + k) for k in range(workers)]
        self.learner, self.per = learner, per
        self.opponent = np.array([], dtype=object)  # opponents live in the workers
        self.finished_slots: list[int] = []

    def collect(
        self,
        actor: PolicyActor,
        opponents: dict[str, PolicyActor],
        plan: dict[str, float],
        steps: int,
        update: int,
        paths: dict[str, str] | None = None,
    ):
        from workbench.selfplay.rollout import CollectStats

        weights = {
            name: {k: v.detach().clone() for k, v in a.policy.state_dict().items()}
            for name, a in opponents.items()
            if name not in (paths or {}) and name != "teacher"
        }
        weights[self.learner] = {k: v.detach().clone() for k, v in actor.policy.state_dict().items()}
        for h in self.handles:
            h.call("collect", weights, plan, paths or {}, steps, update)
        parts = [h.result() for h in self.handles]
        rollouts = [p[0] for p in parts]
        records = [r for p in parts for r in p[1]]
        self.finished_slots = [k * self.per + s for k, p in enumerate(parts) for s in p[3]]
        stats = CollectStats(
            frames=sum(p[2].frames for p in parts),
            env_s=max(p[2].env_s for p in parts),
            embed_s=max(p[2].embed_s for p in parts),
            policy_s=max(p[2].policy_s for p in parts),
        )
        return join_rollouts(rollouts), records, stats

    def state_dict(self) -> dict:
        return {"workers": [h.call("state_dict").result() for h in self.handles]}

    def load_state_dict(self, state: dict) -> None:
        for h, part in zip(self.handles, state["workers"]):
            h.call("load_state_dict", part).result()

    def close(self) -> None:
        for h in self.handles:
            h.stop()


def join_rollouts(parts: list[Rollout]) -> Rollout:
    """Rollouts of disjoint games -> one rollout over all of them (games axis first)."""
    cat = lambda xs: torch.cat(xs, dim=0)  # noqa: E731
    return Rollout(
        {k: cat([p.obs[k] for p in parts]) for k in parts[0].obs},
        cat([p.actions for p in parts]),
        cat([p.logprobs for p in parts]),
        cat([p.rewards for p in parts]),
        cat([p.starts for p in parts]),
        {k: cat([p.state[k] for p in parts]) for k in parts[0].state},
    )
