"""Head-to-head evaluation and the per-game bookkeeping of a network player."""

from __future__ import annotations

import numpy as np
import torch

from workbench.embed.config import EmbedConfig
from workbench.models.policy import Policy, PolicyConfig
from workbench.selfplay.actor import PolicyActor
from workbench.selfplay.evaluate import play_match
from workbench.selfplay.players import Seat, neutral_controller


def _actor(seed: int = 0) -> PolicyActor:
    torch.manual_seed(seed)
    return PolicyActor(
        Policy(
            EmbedConfig(), PolicyConfig(backbone={"name": "gru", "hidden_size": 16, "num_layers": 1}, head_hidden=16)
        )
    )


def test_delay_queue_presses_what_was_chosen_d_frames_ago_and_resets():
    actor = _actor()
    seat = Seat(actor, n=3, delay=2)
    neutral = torch.from_numpy(neutral_controller(actor.policy.spec))
    chosen = [torch.full((3, 13), float(k)) for k in range(1, 5)]
    pressed = [seat.press(c) for c in chosen]
    assert torch.equal(pressed[0], neutral.expand(3, 13)) and torch.equal(pressed[1], neutral.expand(3, 13))
    assert torch.equal(pressed[2], chosen[0]) and torch.equal(pressed[3], chosen[1])
    assert torch.equal(seat.own, chosen[3])  # the next frame's own-controller input
    seat.state["h_0"][:] = 1.0
    seat.reset(np.array([1]))
    assert torch.equal(seat.queue[1], neutral.expand(2, 13)) and torch.equal(seat.own[1], neutral)
    assert torch.equal(seat.queue[0, 0], chosen[2][0])  # other games untouched
    assert (seat.state["h_0"][1] == 0).all() and (seat.state["h_0"][0] == 1).all()


def test_match_counts_every_slot_once_with_an_interval(monkeypatch):
    monkeypatch.setenv("WORKBENCH_SIM_JIT", "0")
    result = play_match(("a", _actor(0)), "idle", games=4, max_frames=6, chunk=4, seed=1)
    assert result.games == 4 and result.wins + result.losses + result.draws == 4
    lo, hi = result.win_rate_ci95
    assert 0.0 <= lo <= result.win_rate <= hi <= 1.0
    assert result.frames >= 4 * 6 and result.opponent == "idle"
    assert "vs idle" in result.line()
