"""The environment interface: shapes, controller validation, determinism, save/restore,
auto-reset, rewards, and the observation as a frame of the store (embedding equality).

These run the plain-Python reference of the step (``jit=False``: no compile in the
default suite); ``tests/test_sim_jit.py`` (slow) checks the compiled kernel against it.
"""

from __future__ import annotations

import numpy as np
import pytest

from workbench.embed import EmbedConfig, StateLayout, embed_state, table_context
from workbench.replay.store import FrameStore
from workbench.sim import Frames, RewardConfig, SimError, make_env
from workbench.sim.record import GameRecorder, write_games
from workbench.types import PLAYER_FIELDS


def env_of(n=2, **kw):
    kw.setdefault("characters", ("fox", "marth"))
    return make_env(num_games=n, jit=False, **kw)


def random_tape(rng, n, frames):
    tape = rng.uniform(-1, 1, (frames, n, 2, 13)).astype(np.float32)
    tape[..., 4:] = tape[..., 4:] > 0.6
    hold = rng.integers(0, 2, (frames, n, 2, 1)).astype(bool)  # sticky: half the frames repeat
    tape[1:] = np.where(hold[1:], tape[:-1], tape[1:])
    return tape


def test_reset_gives_store_columns_batch_first():
    env = env_of(3)
    obs = env.reset()
    assert isinstance(obs, Frames) and len(obs) == 3
    for p in range(2):
        for name, (dtype, _) in PLAYER_FIELDS.items():
            column = obs.columns[f"p{p}_{name}"]
            assert column.shape == (3,) and column.dtype == np.dtype(dtype), name
    assert (obs.columns["p0_character"] == 1).all() and (obs.columns["p1_character"] == 0x12).all()
    assert (obs.columns["p0_stocks"] == 4).all() and (obs.columns["p0_action"] == 14).all()
    assert obs.columns["p0_x"][0] < 0 < obs.columns["p1_x"][0]


def test_step_shapes_and_zero_sum_rewards():
    env = env_of(2, reward=RewardConfig.preset("slippi-ai"))
    env.reset()
    rng = np.random.default_rng(0)
    total = np.zeros((2, 2))
    for ctrl in random_tape(rng, 2, 40):
        obs, rewards, done, info = env.step(ctrl)
        assert rewards.shape == (2, 2) and rewards.dtype == np.float32 and done.shape == (2,)
        np.testing.assert_allclose(rewards.sum(1), 0.0, atol=1e-6)
        total += rewards
    assert (obs.frame == 39).all()


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((2, 13), np.float32), "shaped"),
        (np.full((2, 2, 13), np.nan, np.float32), "not finite"),
    ],
)
def test_bad_controllers_are_clear_errors(bad, message):
    env = env_of(2)
    env.reset()
    with pytest.raises(SimError, match=message):
        env.step(bad)


def test_out_of_range_controllers_are_clamped():
    env = env_of(1)
    env.reset()
    ctrl = np.zeros((1, 2, 13), np.float32)
    ctrl[0, 0, 0] = 7.0  # main x far past the rim
    ctrl[0, 0, 4] = -3.0  # trigger below zero
    obs, *_ = env.step(ctrl)
    assert obs.columns["p0_stick_x"][0] == 1.0 and obs.columns["p0_trigger"][0] == 0.0


def test_deterministic_and_save_restore_replays_exactly():
    rng = np.random.default_rng(1)
    tape = random_tape(rng, 2, 120)
    env = env_of(2)
    env.reset()
    for ctrl in tape[:60]:
        env.step(ctrl)
    saved = env.save()
    one = [env.step(ctrl)[0].columns["p1_x"].copy() for ctrl in tape[60:]]
    end = env.save()
    env.restore(saved)
    two = [env.step(ctrl)[0].columns["p1_x"].copy() for ctrl in tape[60:]]
    np.testing.assert_array_equal(np.array(one), np.array(two))
    assert env.save().equals(end)
    # a second env fed the same tape from reset is identical
    other = env_of(2)
    other.reset()
    for ctrl in tape:
        other.step(ctrl)
    assert other.save().equals(end)


def test_restore_one_game_leaves_the_others():
    env = env_of(3)
    env.reset()
    rng = np.random.default_rng(2)
    for ctrl in random_tape(rng, 3, 30):
        env.step(ctrl)
    game1 = env.save(1)
    before = env.save()
    env.reset()
    env.restore(game1, games=[1])
    after = env.save()
    assert np.array_equal(after.pf[1], before.pf[1]) and not np.array_equal(after.pf[0], before.pf[0])


def test_auto_reset_after_the_frame_limit():
    env = env_of(2, max_frames=5)
    env.reset()
    ctrl = np.zeros((2, 2, 13), np.float32)
    for _ in range(4):
        *_, done, info = env.step(ctrl)
        assert not done.any()
    obs, rewards, done, info = env.step(ctrl)
    assert done.all() and list(info["final"]["games"]) == [0, 1]
    assert (info["final"]["winner"] == 2).all()  # untouched: a draw
    assert (obs.frame == 4).all()  # the final frame comes with done
    obs, rewards, done, info = env.step(ctrl)
    assert not done.any() and info["reset"].all() and (obs.frame == 0).all()


def test_unknown_names_are_clear_errors():
    with pytest.raises(SimError, match="stage"):
        make_env(stage="hyrule jungle", jit=False)
    with pytest.raises(Exception, match="character"):
        make_env(characters=("fox", "waluigi"), jit=False)
    with pytest.raises(SimError, match="backend"):
        make_env(backend="n64")


def test_embedding_of_a_simulated_frame_equals_the_stored_frame(tmp_path):
    """One schema: embed_state on the env's frames equals embed_state on the same game
    written to the store as Parquet and read back."""
    env = env_of(1)
    obs = env.reset()
    recorder = GameRecorder(1, env.stage)
    rng = np.random.default_rng(3)
    live = []
    config = EmbedConfig()
    layout = StateLayout(config)
    for ctrl in random_tape(rng, 1, 50):
        obs, *_ = env.step(ctrl)
        recorder.add(obs)
        live.append(embed_state(obs.context(0), layout))
    table = recorder.table(0, winner=-1, timed_out=True)
    rows = write_games(tmp_path / "store", [table])
    stored = FrameStore(tmp_path / "store").load(rows[0]["md5"])
    floats, ids = embed_state(table_context(stored, 0, config.item_slots), layout)
    np.testing.assert_array_equal(floats, np.concatenate([f for f, _ in live]))
    np.testing.assert_array_equal(ids, np.concatenate([i for _, i in live]))
    manifest = FrameStore(tmp_path / "store").games()
    assert len(manifest) == 1 and manifest[0]["characters"] == ["Fox", "Marth"]
