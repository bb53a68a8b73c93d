"""Rollout workers: games sharded over processes (shared-memory pipes) and over real Ray
actors give exactly the rollouts of local arenas over the same slices."""

from __future__ import annotations

import pytest
import torch

from test_selfplay_loop import bc  # noqa: F401  (the fixture)
from workbench.selfplay.actor import PolicyActor
from workbench.selfplay.config import selfplay_config
from workbench.selfplay.env import make_game_env
from workbench.selfplay.rollout import Arena
from workbench.selfplay.workers import ShardedArena
from workbench.train.checkpoint import load_policy

PLAN = {"teacher": 0.5, "idle": 0.5}


def _config(bc, tmp_path):
    return selfplay_config(None, ["rollout.max_frames=6", "jit=false"], init=str(bc), out=str(tmp_path), games=4)


def _local_slices(cfg, actor, games_per, workers, steps):
    """What each worker should return: a local arena over its slice, same seed."""
    rollouts = []
    for k in range(workers):
        arena = Arena(make_game_env(cfg, games_per, 7 + k), "main-0", actor, 0, "both", 7 + k)
        teacher = PolicyActor(load_policy(cfg.init)[0])
        rollouts.append(arena.collect(actor, {"main-0": actor, "teacher": teacher}, PLAN, steps, 0)[0])
    return rollouts


def _check(sharded, cfg, steps=4):
    actor = PolicyActor(load_policy(cfg.init)[0])
    rollout, records, stats = sharded.collect(actor, {}, PLAN, steps, 0, paths={"teacher": cfg.init})
    assert rollout.shape == (4, steps) and stats.frames == 4 * steps
    expected = _local_slices(cfg, actor, 2, 2, steps)
    torch.testing.assert_close(rollout.actions, torch.cat([r.actions for r in expected]))
    torch.testing.assert_close(rollout.obs["floats"], torch.cat([r.obs["floats"] for r in expected]))
    torch.testing.assert_close(rollout.logprobs, torch.cat([r.logprobs for r in expected]), atol=1e-5, rtol=1e-5)
    assert len(sharded.state_dict()["workers"]) == 2


@pytest.mark.slow  # two spawned processes import torch: ~10 s even on a quiet machine
def test_process_workers_match_local_arenas(bc, tmp_path):  # noqa: F811
    cfg = _config(bc, tmp_path)
    sharded = ShardedArena(cfg, "main-0", 4, 7, workers=2)
    try:
        _check(sharded, cfg)
    finally:
        sharded.close()


# a real local Ray (the dev extra installs it): ray.init plus two actors, ~10 s
def test_ray_actors_match_local_arenas(bc, tmp_path):  # noqa: F811
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = _config(bc, tmp_path)
        sharded = ShardedArena(cfg, "main-0", 4, 7, workers=2, ray_address="local")
        _check(sharded, cfg)
        sharded.close()
    finally:
        ray.shutdown()
