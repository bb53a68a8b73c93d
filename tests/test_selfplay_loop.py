"""The self-play loop end to end on the real simulator (its plain-Python reference, so
nothing compiles): the CLI's run folder in the BC checkpoint format, exact resume after
kill -9, a league with a main agent and an exploiter, the delay queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from workbench.models.policy import Policy
from workbench.train.checkpoint import CheckpointWriter, load_policy, read_weights
from workbench.train.config import ExperimentConfig

TINY = [
    "--games",
    "2",
    "--steps",
    "4",
    "--set",
    "rollout.max_frames=20",
    "--set",
    "checkpoint_every=1",
    "--set",
    "population.snapshot_every=2",
    "--set",
    "ppo.kl_teacher=0.1",
    "--set",
    "rollout.delay=2",
]


@pytest.fixture(scope="module")
def bc(tmp_path_factory) -> Path:
    """A BC-format checkpoint of a small GRU policy (untrained: the loop's mechanics do
    not depend on how well it plays)."""
    cfg = ExperimentConfig()
    cfg.policy.backbone = {"name": "gru", "hidden_size": 16, "num_layers": 1}
    cfg.policy.head_hidden = 16
    torch.manual_seed(0)
    policy = Policy(cfg.embed, cfg.policy)
    root = tmp_path_factory.mktemp("bc")
    CheckpointWriter(root / "checkpoints").save(100, policy.state_dict(), cfg.to_dict(), {}, blocking=True)
    return root


def workbench(*args, **kw) -> subprocess.Popen:
    env = dict(os.environ, WORKBENCH_SIM_JIT="0")
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_kill_9_then_resume_gives_the_same_weights(bc, tmp_path, monkeypatch):
    from workbench.cli import main

    args = ["selfplay", "--init", bc, "--max-updates", "3", *TINY]
    cut = workbench(*args, "--out", tmp_path / "cut")
    # the same run uninterrupted, here, while the other one runs
    monkeypatch.setenv("WORKBENCH_SIM_JIT", "0")
    assert main([*map(str, args), "--out", str(tmp_path / "whole")]) == 0
    # kill -9 the CLI run as soon as its first checkpoint is complete
    target = tmp_path / "cut" / "checkpoints" / "step-00000001" / "config.json"
    deadline = time.time() + 300
    while not target.exists() and cut.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    cut.send_signal(signal.SIGKILL)
    assert cut.wait() == -signal.SIGKILL, "the run finished before it could be killed"
    resumed = workbench(*args, "--out", tmp_path / "cut", "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    a = read_weights(tmp_path / "whole" / "checkpoints" / "step-00000003", "model")
    b = read_weights(tmp_path / "cut" / "checkpoints" / "step-00000003", "model")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # the result is a BC-format checkpoint that moved away from the teacher
    policy, _, folder = load_policy(tmp_path / "whole")
    teacher = read_weights(bc / "checkpoints" / "step-00000100", "model")
    assert folder.name == "step-00000003"
    assert any(not torch.equal(teacher[k], v) for k, v in policy.state_dict().items())
    assert "self-play: 3 updates" in out and "resumed at update" in out
    rows = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert {
        "selfplay/kl_teacher",
        "selfplay/entropy",
        "selfplay/env_frames_per_s",
        "selfplay/learner_frames_per_s",
        "losses/policy_loss",
    } <= set(rows[-1])
    assert (tmp_path / "whole" / "population" / "main-0@00000002" / "model.safetensors").exists()


def test_league_with_an_exploiter_runs_and_logs_games(bc, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SIM_JIT", "0")
    from workbench.selfplay.config import selfplay_config
    from workbench.selfplay.ratings import GameLog, leaderboard
    from workbench.selfplay.trainer import run_selfplay

    cfg = selfplay_config(
        None,
        ["rollout.max_frames=8", "population.snapshot_every=1", "eval_games=2", "eval_every=2"],
        init=str(bc),
        out=str(tmp_path / "league"),
        games=2,
        steps=4,
        max_updates=2,
        league="main:1,main_exploiter:1",
    )
    result = run_selfplay(cfg, progress=False)
    assert result["update"] == 2
    log = GameLog.load(tmp_path / "league" / "games.parquet")
    players = {r.p1 for r in log.records} | {r.p2 for r in log.records}
    assert {"main-0", "main_exploiter-0"} <= players
    # the exploiter only ever meets the main agent
    assert all(
        {r.p1, r.p2} == {"main_exploiter-0", "main-0"} for r in log.records if "main_exploiter-0" in (r.p1, r.p2)
    )
    assert "main_exploiter-0/losses/policy_loss" in result["metrics"]
    for opponent in ("teacher", "heuristic"):  # the in-loop evaluation's default opponents
        assert 0.0 <= result["metrics"][f"selfplay/eval_win_rate_vs_{opponent}"] <= 1.0
        assert sum(r.kind == "eval" and opponent in (r.p1, r.p2) for r in log.records) == 2
    board = leaderboard(log)
    assert "main-0" in set(board["player"])
    assert (tmp_path / "league" / "population" / "main_exploiter-0@00000002").exists()
