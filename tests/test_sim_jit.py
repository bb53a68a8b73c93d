"""The compiled kernels against their plain-Python reference, and trained players in the
simulator (slow: numba compiles the step once per machine, then loads it from cache)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.sim import make_env
from workbench.sim.bots import RandomBot

pytestmark = pytest.mark.slow


def tape_of(n: int, frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tape = rng.uniform(-1, 1, (frames, n, 2, 13)).astype(np.float32)
    tape[..., 4:] = tape[..., 4:] > 0.8
    return tape


@pytest.mark.parametrize("stage, characters", [("fd", ("fox", "marth")), ("bf", ("jigglypuff", "ganondorf"))])
def test_compiled_step_equals_the_reference(stage, characters):
    compiled = make_env(num_games=6, characters=characters, stage=stage, jit=True, max_frames=500)
    reference = make_env(num_games=6, characters=characters, stage=stage, jit=False, max_frames=500)
    compiled.reset(), reference.reset()
    for ctrl in tape_of(6, 600):
        a, ra, da, _ = compiled.step(ctrl)
        b, rb, db, _ = reference.step(ctrl)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(compiled.state.pi, reference.state.pi)
    np.testing.assert_allclose(compiled.state.pf, reference.state.pf, rtol=0, atol=1e-9)


def test_split_kernels_equal_the_fused_step():
    from workbench.sim.hits import end_kernel, hits_kernel, physics_kernel

    fused = make_env(num_games=16, jit=True)
    split = make_env(num_games=16, jit=True)
    fused.reset(), split.reset()
    d, s = split.data, split.state
    for ctrl in tape_of(16, 300, seed=1):
        fused.step(ctrl)
        physics_kernel(
            s.pf,
            s.pi,
            s.gi,
            ctrl,
            *d.physics_tables,
            split.stage_array,
        )
        hits_kernel(s.pf, s.pi, s.gi, d.chars, d.hitboxes, d.first_frame)
        end_kernel(s.pf, s.pi, s.gi, split.stage_array, split.max_frames)
    assert fused.state.equals(split.state)


def test_heuristic_beats_random_over_100_games(tmp_path):
    from workbench.sim.run import MatchConfig, run_matches

    result = run_matches(
        MatchConfig("heuristic", "random", games=100, parallel=100, progress=False, max_frames=60 * 60 * 2),
        tmp_path / "match",
    )
    lo, _ = result["p1_win_rate_ci95"]
    assert result["p1_win_rate"] >= 0.95 and lo >= 0.9, result
    assert json.loads((tmp_path / "match" / "results.json").read_text())["games"] == 100


def test_checkpoint_and_its_onnx_export_choose_the_same_inputs(tmp_path):
    """A trained checkpoint plays the simulator; its ONNX export, fed the same frames,
    chooses the same controller every frame (argmax play)."""
    pytest.importorskip("onnxruntime")
    from conftest import tiny_experiment
    from workbench.cli import main
    from workbench.sim.policy_bots import CheckpointBot, OnnxBot
    from workbench.train import train

    cfg = tiny_experiment(
        tmp_path,
        "run",
        {"name": "gru", "hidden_size": 16, "num_layers": 1},
        "train.window=16",
        "train.batch_size=16",
        "train.max_steps=10",
        "train.eval_every=10",
    )
    run_dir = train(cfg, progress=False).run_dir
    assert main(["export", "--checkpoint", str(run_dir), "--out", str(tmp_path / "bot.onnx")]) == 0
    env = make_env(num_games=3, characters=("fox", "fox"), jit=True)
    torch_bot, onnx_bot, opponent = CheckpointBot(run_dir), OnnxBot(tmp_path / "bot.onnx"), RandomBot(0)
    obs = env.reset()
    for _ in range(120):
        chosen = torch_bot.act(obs, 0)
        np.testing.assert_allclose(chosen, onnx_bot.act(obs, 0), atol=1e-5)
        obs, *_ = env.step(np.stack([chosen, opponent.act(obs, 1)], axis=1))
    # and `workbench sim run` takes the checkpoint folder as a player
    code = main(
        [
            "sim",
            "run",
            "--p1",
            str(run_dir),
            "--p2",
            "random",
            "--games",
            "2",
            "--max-frames",
            "600",
            "--out",
            str(tmp_path / "vs"),
        ]
    )
    assert code == 0 and json.loads((tmp_path / "vs" / "results.json").read_text())["games"] == 2


def test_a_simulated_game_opens_in_the_explore_notebook(tmp_path):
    """`workbench sim run`'s store, opened by the explore notebook like any replay store."""
    papermill = pytest.importorskip("papermill")
    from conftest import ROOT
    from workbench.sim.run import MatchConfig, run_matches

    run_matches(
        MatchConfig("heuristic", "random", games=2, max_frames=900, parallel=2, progress=False), tmp_path / "match"
    )
    notebook = ROOT / "notebooks" / "explore_replays.ipynb"
    metrics_path = tmp_path / "explore.metrics.json"
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "explore.ipynb"),
        cwd=str(notebook.parent),
        progress_bar=False,
        parameters={
            "replays": [],
            "store": str(tmp_path / "match" / "store"),
            "metrics_path": str(metrics_path),
            "max_frames": 300,
        },
    )
    metrics = json.loads(metrics_path.read_text())["metrics"]
    assert metrics["explore/games_ok"] == 2 and metrics["explore/game_frames"] == 900
