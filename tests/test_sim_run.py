"""Bots, ``workbench sim run|bench``, the Wilson interval, and the RL wrappers (the
plain-Python step; the compiled one is covered by the slow tests)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.cli import main
from workbench.replay.store import FrameStore
from workbench.sim import make_env
from workbench.sim.bots import HeuristicBot, RandomBot, make_bot
from workbench.sim.run import MatchConfig, run_matches, simulated_game, wilson_interval

RESULT_KEYS = {
    "games",
    "p1_wins",
    "p2_wins",
    "draws",
    "p1_win_rate",
    "p1_win_rate_ci95",
    "stocks_taken_per_min",
    "damage_per_min",
    "frames",
}


@pytest.fixture(autouse=True)
def reference_step(monkeypatch):
    monkeypatch.setenv("WORKBENCH_SIM_JIT", "0")


def test_wilson_interval():
    lo, hi = wilson_interval(50, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3
    lo, hi = wilson_interval(10, 10)
    assert abs(lo - 0.7225) < 1e-3 and abs(hi - 1.0) < 1e-12
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_random_bot_is_sticky_and_seeded():
    env = make_env(num_games=64, jit=False)
    obs = env.reset()
    a, b = RandomBot(seed=3), RandomBot(seed=3)
    first, second = a.act(obs, 0), a.act(obs, 0)
    np.testing.assert_array_equal(first, b.act(obs, 0))
    repeated = (first == second).all(axis=1).mean()
    assert 0.7 < repeated < 0.99  # about 1 - 1/8 repeat
    assert ((first[:, :4] >= -1) & (first[:, :4] <= 1)).all()


def test_heuristic_beats_random():
    result = run_matches(MatchConfig("heuristic", "random", games=6, max_frames=900, parallel=6, progress=False))
    assert result["p1_wins"] >= 5, result
    assert result["stocks_taken_per_min"][0] > result["stocks_taken_per_min"][1]


def test_sim_run_writes_results_and_a_store(tmp_path, capsys):
    out = tmp_path / "match"
    code = main(
        [
            "sim",
            "run",
            "--p1",
            "heuristic",
            "--p2",
            "idle",
            "--games",
            "2",
            "--stage",
            "bf",
            "--characters",
            "fox,marth",
            "--out",
            str(out),
            "--max-frames",
            "240",
            "--parallel",
            "2",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert RESULT_KEYS <= set(result) and result["games"] == 2 and result["frames"] == 480
    assert result["p1_wins"] + result["p2_wins"] + result["draws"] == 2
    lo, hi = result["p1_win_rate_ci95"]
    assert 0 <= lo <= result["p1_win_rate"] <= hi <= 1
    store = FrameStore(out / "store")
    rows = store.games()
    assert len(rows) == 2 and rows[0]["characters"] == ["Fox", "Marth"] and rows[0]["stage"] == 31
    table = store.load(rows[0]["md5"])
    assert len(table) == 240 and table.frames[0] == 0 and table.meta.mode == "sim"
    assert "p1 win rate" in capsys.readouterr().out


def test_sim_run_bad_player_is_one_line_error(tmp_path, capsys):
    code = main(["sim", "run", "--p1", "grandmaster", "--p2", "random", "--games", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown player 'grandmaster'" in err and len(err.strip().splitlines()) == 1


def test_make_bot_specs():
    assert isinstance(make_bot("heuristic"), HeuristicBot) and isinstance(make_bot("random"), RandomBot)
    assert make_bot("idle").act(make_env(num_games=2, jit=False).reset(), 1).shape == (2, 13)


def test_gymnasium_vector_env():
    gym = pytest.importorskip("gymnasium")
    from workbench.sim.wrappers import SimVectorEnv

    venv = SimVectorEnv(make_env(num_games=3, jit=False, max_frames=6), RandomBot(0))
    assert isinstance(venv, gym.vector.VectorEnv) and venv.num_envs == 3
    obs, info = venv.reset(seed=0)
    assert venv.single_observation_space.contains({k: v[0] for k, v in obs.items()})
    for t in range(6):
        actions = venv.action_space.sample()
        obs, rewards, terminated, truncated, info = venv.step(actions)
        assert rewards.shape == (3,) and obs["floats"].shape[0] == 3
    assert truncated.all() and not terminated.any()  # the frame limit ends all three


def test_parallel_env_is_zero_sum():
    from workbench.sim.wrappers import SimParallelEnv

    env = SimParallelEnv(make_env(num_games=2, jit=False, max_frames=4))
    obs, infos = env.reset()
    assert set(obs) == {"p0", "p1"} and obs["p0"]["floats"].shape[0] == 2
    actions = {a: env.action_space(a).sample() for a in env.agents}
    obs, rewards, terms, truncs, infos = env.step(actions)
    np.testing.assert_allclose(rewards["p0"] + rewards["p1"], 0.0)


def test_a_simulated_game_draws_with_its_hitboxes(tmp_path):
    from workbench import viz
    from workbench.sim.render import hitbox_frame

    table = simulated_game("heuristic", "idle", tmp_path / "drawn", max_frames=300)
    assert len(table.frames) == 300 and table.meta.stage == make_env(num_games=1, jit=False).stage
    boxes = hitbox_frame(table)
    assert len(boxes) > 0 and (boxes["radius"] > 0).all()
    row = int(boxes["row"].iloc[0])
    attacker = int(boxes["player"].iloc[0])
    assert 44 <= table.columns[f"p{attacker}_action"][row] <= 222  # an attack state
    spec = viz.frame_chart(table, row, hitboxes=boxes).to_dict()
    assert any(layer.get("mark", {}).get("type") == "circle" for layer in spec["layer"])
    assert viz.scrubber_chart(table, max_frames=120, hitboxes=boxes).to_dict()["layer"]


def test_sim_bench_writes_frames_per_second(tmp_path):
    out = tmp_path / "bench.json"
    assert (
        main(["sim", "bench", "--games", "2", "--frames", "5", "--characters", "marth,sheik", "--json", str(out)]) == 0
    )
    result = json.loads(out.read_text())
    assert result["games"] == 2 and result["frames"] == 5 and result["frames_per_s"] > 0
    assert result["characters"] == ["marth", "sheik"] and result["jit"] is False


def test_bots_through_self_play_s_adapter():
    """workbench.selfplay builds scripted opponents with make_bot(name, num_games=, seed=)."""
    from workbench.selfplay.env import scripted_bot

    env = make_env(num_games=4, jit=False)
    frames = env.reset()
    for name in ("random", "heuristic"):
        bot = scripted_bot(name, 4, seed=0)
        out = bot.act_rows(frames, np.array([0, 1, 0, 1]), np.arange(4))
        assert out.shape == (4, 13) and np.isfinite(out).all()
