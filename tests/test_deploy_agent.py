"""The runtime agent on libmelee's file console over real replays: a valid controller
every frame through the real game loop, the training pipeline's features, the delay
queue, bad input, warm starts, sampling, and the fast runtime path."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch

from conftest import bundled
from workbench.deploy import (
    Agent,
    BoundStep,
    LibmeleeController,
    OnnxPolicy,
    RecordingController,
    controller_state,
    export_policy,
    play_loop,
    replay_states,
)
from workbench.embed import EmbedConfig, embed_game
from workbench.models import Policy
from workbench.models.policy import PolicyConfig
from workbench.replay import read_replay
from workbench.types import TRAINED_BUTTONS, Button, ControllerState

melee = pytest.importorskip("melee")
pytest.importorskip("onnxruntime")

REPLAYS = [
    "games/Walnut356-falcon_throws.slp",  # 3.14, Captain Falcon vs Fox
    "clips/PMcca-item-export.slp",
]  # 3.7, Falco vs Samus with items
NEUTRAL = ControllerState.neutral()


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    torch.manual_seed(0)
    # no copy prior: at its initial weight a random network only ever repeats its last
    # (neutral) input, and this test needs presses that change
    policy = Policy(
        EmbedConfig(),
        PolicyConfig(backbone={"name": "gru", "hidden_size": 32, "num_layers": 2}, head_hidden=32, copy_prior=False),
    )
    path = tmp_path_factory.mktemp("agent") / "gru.onnx"
    export_policy(policy.eval(), path, calibration=[bundled(REPLAYS[0])], warm_start_frames=60)
    return path


@pytest.fixture(scope="module")
def states():
    return replay_states(bundled(REPLAYS[0]))


def libmelee_port(name: str, perspective: int) -> int:
    return read_replay(bundled(name)).meta.players[perspective].port + 1


@pytest.mark.parametrize("name", REPLAYS)
def test_agent_plays_every_frame_through_the_game_loop(model_path, name):
    logging.disable(logging.WARNING)
    console = melee.Console(path=str(bundled(name)), is_dolphin=False)
    console.connect()
    agent = Agent(model_path, port=libmelee_port(name, 0))
    pad = RecordingController(strict=True)  # raises on any out-of-range press
    summary = play_loop(console, agent, pad)
    table = read_replay(bundled(name))
    assert summary["frames"] == len(table) == len(pad.presses)
    assert agent.frames_played == int((table.frames >= 0).sum())  # countdown: neutral, not stepped
    assert summary["warnings"] == {} and summary["games"] == 1
    assert all(p.is_valid() for p in pad.presses)
    played = pad.presses[-agent.frames_played :]
    assert len({(p.main_x, p.main_y, p.trigger, *p.buttons.values()) for p in played}) > 1


@pytest.mark.parametrize("name, perspective", [(REPLAYS[0], 0), (REPLAYS[1], 1)])
def test_agent_features_are_the_training_features(model_path, name, perspective):
    """Every in-game frame the agent embeds equals the row training embeds for it."""
    table = read_replay(bundled(name))
    stored = embed_game(table, EmbedConfig(), perspective)
    agent = Agent(model_path, port=libmelee_port(name, perspective))
    checked = 0
    for state in replay_states(bundled(name)):
        agent.step(state)
        if state.frame < 0:
            continue
        row = int(np.searchsorted(stored.frames, state.frame))
        np.testing.assert_allclose(agent.last_floats[0], stored.floats[row], atol=1e-6, err_msg=f"frame {state.frame}")
        np.testing.assert_array_equal(agent.last_ids[0], stored.ids[row])
        checked += 1
    assert checked == len(stored) > 1000


def test_delay_queue_holds_outputs_for_delay_frames(model_path, states):
    port = sorted(states[200].players)[0]
    now, late = Agent(model_path, port=port), Agent(model_path, port=port, delay=3)
    pressed_now = [now.step(s) for s in states[:300]]
    pressed_late = [late.step(s) for s in states[:300]]
    first = next(i for i, s in enumerate(states) if s.frame >= 0)
    assert pressed_late[first : first + 3] == [NEUTRAL] * 3
    assert pressed_late[first + 3 :] == pressed_now[first:-3]


def test_a_bad_frame_under_delay_still_presses_what_is_due(model_path, states):
    port = sorted(states[500].players)[0]
    clean = Agent(model_path, port=port, delay=3)
    pressed = [clean.step(s) for s in states[:900]]
    i = next(k for k in range(500, 896) if pressed[k] != NEUTRAL)  # a real press is due at i
    faulty = Agent(model_path, port=port, delay=3)
    for state in states[:i]:
        faulty.step(state)
    got = [faulty.step(_bad_frames(states[i], port)["nan_state"])]
    got += [faulty.step(s) for s in states[i + 1 : i + 4]]
    assert got[:3] == pressed[i : i + 3]  # queued before the bad frame: pressed as due
    assert got[3] == NEUTRAL and faulty.warnings["nan_state"] == 1  # the bad frame's own slot


def _bad_frames(state, port: int) -> dict[str, object]:
    opponent = next(p for p in state.players if p != port)
    missing = copy.copy(state)
    missing.players = {port: state.players[port]}
    nan = copy.deepcopy(state)
    nan.players[opponent].position.x = float("nan")
    unknown = copy.deepcopy(state)
    unknown.players[port].action = melee.gamestate.UnknownAnimation(4000)
    broken = copy.copy(state)
    broken.players = None  # not a dict at all
    return {"missing_player": missing, "nan_state": nan, "unknown_action": unknown, "embed_error": broken}


def test_bad_input_gives_neutral_and_counts_a_warning(model_path, states):
    port = sorted(states[500].players)[0]
    agent = Agent(model_path, port=port)
    for state in states[:500]:
        agent.step(state)
    for problem, state in _bad_frames(states[500], port).items():
        before = {k: v.copy() for k, v in agent.step_fn.state.items()}
        assert agent.step(state) == NEUTRAL
        assert agent.warnings[problem] == 1
        for key, value in agent.step_fn.state.items():  # the model did not step
            np.testing.assert_array_equal(value, before[key])
    pressed = agent.step(states[501])
    assert pressed.is_valid() and sum(agent.warnings.values()) == 4


def test_warm_start_replaces_the_zero_state(model_path, states):
    model = OnnxPolicy(model_path)
    assert model.sidecar.warm_start == model_path.name + ".warm.npz"
    warm, zero = model.initial_state(), model.initial_state(warm=False)
    assert np.abs(warm["h_0"]).max() > 0.01 and not zero["h_0"].any()
    agent = Agent(model, port=sorted(states[200].players)[0])
    for state in states[:200]:
        agent.step(state)
    agent.reset()
    np.testing.assert_array_equal(agent.step_fn.state["h_0"], warm["h_0"])
    cold = Agent(model, port=1, warm_start=False)
    assert not cold.step_fn.state["h_0"].any()


def test_sampling_is_seeded(model_path, states):
    port = sorted(states[200].players)[0]

    def play(agent: Agent) -> list[ControllerState]:
        return [agent.step(s) for s in states[100:400]]

    first, again = (play(Agent(model_path, port=port, sample=True, seed=7)) for _ in range(2))
    argmax = play(Agent(model_path, port=port))
    assert first == again and first != argmax


def test_bound_runner_matches_the_functional_step(model_path, states):
    """The ping-pong bound buffers give exactly the outputs of plain session runs."""
    model = OnnxPolicy(model_path)
    game = embed_game(read_replay(bundled(REPLAYS[0])), EmbedConfig(), 0)
    bound, state = BoundStep(model), model.initial_state()
    bound.reset(state)
    for i in range(50):
        for name, array in (("floats", game.floats), ("ids", game.ids), ("controller", game.controller)):
            np.copyto(getattr(bound, name), array[i : i + 1])
        bound.run()
        outputs, state = model.step(game.floats[i], game.ids[i], game.controller[i], state)
        for name, value in outputs.items():
            np.testing.assert_array_equal(bound.outputs[name], value)
        for key, value in state.items():
            np.testing.assert_array_equal(bound.state[key], value)


def test_controller_decoding_to_libmelee_units():
    values = np.array([-1, 1, 0, 0.5, 0.75, 1, 0, 0, 0, 0, 0, 0, 1], dtype=np.float32)
    state = controller_state(values)
    assert (state.main_x, state.main_y, state.c_x, state.c_y) == (0.0, 1.0, 0.5, 0.75)
    assert state.trigger == 0.75 and state.is_valid()
    assert [b for b in TRAINED_BUTTONS if state.buttons[b]] == [Button.A, Button.D_UP]
    # out of range clips to range; a NaN stays NaN (is_valid says so); buttons are bools
    wild = np.array([-3, 2, np.nan, -0.25, -0.5, 0.5, 0.51, np.nan, 2, -1, 0, 0, 0], dtype=np.float32)
    state = controller_state(wild)
    assert (state.main_x, state.main_y, state.c_y, state.trigger) == (0.0, 1.0, 0.375, 0.0)
    assert np.isnan(state.c_x) and not state.is_valid()
    assert [b for b in TRAINED_BUTTONS if state.buttons[b]] == [TRAINED_BUTTONS[1], TRAINED_BUTTONS[3]]
    assert all(type(v) is bool for v in state.buttons.values())
    assert controller_state(list(values)) == controller_state(values)  # any sequence


class FakePad:
    """Records libmelee controller calls."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def test_libmelee_adapter_writes_sticks_trigger_and_buttons():
    pad = FakePad()
    adapter = LibmeleeController(pad)
    pressed = ControllerState(0.0, 1.0, 0.5, 0.5, 0.25, {b: b == Button.A for b in TRAINED_BUTTONS})
    adapter.press(pressed)
    enums = melee.enums.Button
    assert ("tilt_analog", enums.BUTTON_MAIN, 0.0, 1.0) in pad.calls
    assert ("press_shoulder", enums.BUTTON_L, 0.25) in pad.calls
    assert ("press_button", enums.BUTTON_A) in pad.calls
    assert sum(1 for c in pad.calls if c[0] == "release_button") == len(TRAINED_BUTTONS) - 1
    pad.calls.clear()
    adapter.press(pressed)  # written again: the menu helper may have pressed in between
    assert len([c for c in pad.calls if c[0] in ("press_button", "release_button")]) == len(TRAINED_BUTTONS)


class ScriptedConsole:
    """A live console stand-in: menus, games and gaps (None) from a script."""

    def __init__(self, script: list):
        self.script, self.connected = list(script), True

    def step(self):
        if not self.script:
            self.connected = False
            return None
        return self.script.pop(0)


def test_live_loop_plays_games_navigates_menus_and_skips_gaps(model_path, states):
    menu = copy.copy(states[0])
    menu.menu_state = melee.enums.Menu.CHARACTER_SELECT
    first = next(i for i, s in enumerate(states) if s.frame >= 0)
    game_one, game_two = states[first : first + 100], states[first : first + 50]
    script = [menu] * 3 + game_one + [menu] * 2 + [None] + game_two + [menu]
    agent = Agent(model_path, port=sorted(states[first].players)[0])
    menus, pad = [], RecordingController()
    summary = play_loop(ScriptedConsole(script), agent, pad, on_menu=menus.append, live=True)
    assert summary["games"] == 2 and summary["frames"] == 150 == len(pad.presses)
    assert len(menus) == 6
    assert agent.frames_played == 0  # reset when the second game ended
