"""Every backend behind the one interface: ``dolphin`` on libmelee's file console (a
real replay played back) with recording controllers, ``melee-sim`` with a fake
``melee_sim`` module, and the one-line error when melee_sim is missing."""

from __future__ import annotations

import logging
import sys
import types

import numpy as np
import pytest

from conftest import bundled
from workbench.deploy.controller import RecordingController
from workbench.embed import EmbedConfig, StateLayout, embed_state
from workbench.replay import read_replay
from workbench.sim import SimError, make_env
from workbench.types import PLAYER_FIELDS

melee = pytest.importorskip("melee")
REPLAY = bundled("games/Walnut356-falcon_throws.slp")  # 3.14, two players


def file_console():
    logging.disable(logging.WARNING)
    console = melee.Console(path=str(REPLAY), is_dolphin=False)
    console.connect()
    return console


def test_dolphin_backend_on_the_file_console():
    table = read_replay(REPLAY)
    ports = tuple(p.port + 1 for p in table.meta.players)
    pads = [RecordingController(), RecordingController()]
    env = make_env(
        backend="dolphin", console=file_console(), pads=pads, ports=ports, max_frames=200, characters=("fox", "fox")
    )
    obs = env.reset()
    start = int(np.searchsorted(table.frames, obs.frame[0]))
    assert set(obs.columns) >= {f"p0_{f}" for f in PLAYER_FIELDS}
    ctrl = np.zeros((1, 2, 13), np.float32)
    ctrl[0, 0, 0], ctrl[0, 1, 5] = 0.5, 1.0  # p1 tilts right, p2 holds A
    layout = StateLayout(EmbedConfig())
    for k in range(1, 201):
        obs, rewards, done, info = env.step(ctrl)
        row = start + k
        for name in ("x", "y", "percent", "stocks", "action"):
            np.testing.assert_allclose(obs.columns[f"p0_{name}"], table.columns[f"p0_{name}"][row : row + 1], atol=1e-4)
        floats, ids = embed_state(obs.context(0, ports=(ports[0] - 1, ports[1] - 1)), layout)
        assert np.isfinite(floats).all()
        if done[0]:
            break
    assert done[0] and k == 200  # the frame limit
    assert rewards.shape == (1, 2) and len(pads[0].presses) == 200
    assert pads[0].presses[0].main_x == pytest.approx(0.75)  # 0.5 in store units
    assert pads[1].presses[0].buttons[next(iter(pads[1].presses[0].buttons))] is True


def test_dolphin_backend_checks_its_arguments():
    with pytest.raises(SimError, match="one game per env"):
        make_env(backend="dolphin", num_games=4)
    with pytest.raises(SimError, match="no Dolphin"):
        make_env(backend="dolphin", dolphin_path="/nonexistent/dolphin", iso_path="/x.iso")


def fake_melee_sim(n_frames_done: int = 5):
    """A stand-in for melee_sim: two players drifting apart, a KO on frame 3."""
    module = types.ModuleType("melee_sim")
    calls = {}

    class Env:
        def __init__(self, num_envs, characters, stage, seed):
            calls.update(num_envs=num_envs, characters=characters, stage=stage)
            self.n, self.t = num_envs, 0

        def _out(self):
            n, t = self.n, self.t
            two = lambda v: np.full((n, 2), v, np.float32)  # noqa: E731
            out = {
                k: two(0.0)
                for k in (
                    "position_y",
                    "action_frame",
                    "hitlag_left",
                    "hitstun_frames_left",
                    "speed_air_x_self",
                    "speed_y_self",
                    "speed_x_attack",
                    "speed_y_attack",
                    "speed_ground_x_self",
                )
            }
            out.update(
                position_x=np.stack([np.full(n, -10.0 - t), np.full(n, 10.0 + t)], 1),
                percent=two(float(t)),
                stock=np.stack([np.full(n, 4 if t < 3 else 3), np.full(n, 4)], 1),
                action=two(14),
                facing=np.stack([np.ones(n, bool), np.zeros(n, bool)], 1),
                on_ground=np.ones((n, 2), bool),
                jumps_left=two(2),
                shield_strength=two(60.0),
                invulnerable=np.zeros((n, 2), bool),
                frame=np.full(n, t),
                done=np.full(n, t >= n_frames_done),
            )
            return out

        def reset(self):
            self.t = 0
            return self._out()

        def step(self, controllers):
            calls["controllers"] = controllers.copy()
            self.t += 1
            return self._out()

    module.make_env = lambda **kw: Env(**kw)
    return module, calls


def test_melee_sim_backend_with_a_fake_module(monkeypatch):
    module, calls = fake_melee_sim()
    monkeypatch.setitem(sys.modules, "melee_sim", module)
    env = make_env(backend="melee-sim", num_games=2, characters=("fox", "marth"), stage="bf")
    assert calls["characters"] == (0x01, 0x12) and calls["stage"] == 0x18
    obs = env.reset()
    assert obs.columns["p0_x"].dtype == np.float32 and (obs.columns["p1_facing"] == -1).all()
    ctrl = np.zeros((2, 2, 13), np.float32)
    ctrl[:, 0, 0] = -1.0
    for t in range(5):
        obs, rewards, done, info = env.step(ctrl)
    assert calls["controllers"][0, 0, 0] == 0.0 and calls["controllers"][0, 1, 0] == 0.5  # libmelee units
    assert (obs.columns["p0_stick_x"] == -1.0).all() and (obs.columns["p0_stocks"] == 3).all()
    assert done.all() and (info["final"]["winner"] == 1).all()
    floats, _ = embed_state(obs.context(0), StateLayout(EmbedConfig()))
    assert floats.shape[0] == 2


def test_melee_sim_missing_is_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "melee_sim", None)  # import fails
    with pytest.raises(SimError, match="melee-sim-light"):
        make_env(backend="melee-sim")
