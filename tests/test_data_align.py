"""The delay alignment, written once in ``workbench.data.align``, and the leak test over
all four of its users: training windows, evaluation, attention traces and the repeat-last
baseline. Rewriting the controller at frame i + D + 1 (the target of step i) must move
that target and leave everything the model (or the baseline) sees at steps 0..i alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import bundled
from workbench.data import EmbeddingCache, Segment, aligned_targets, gather
from workbench.data.align import align, segment_steps, step_count
from workbench.embed import EmbedConfig, embed_game
from workbench.eval.attention import attention_trace
from workbench.eval.evaluate import predict_segment
from workbench.models.policy import Policy, PolicyConfig
from workbench.replay import read_replay

STEP = 700  # the step whose target is rewritten


def test_rows_follow_the_stated_alignment():
    rows = align(np.array([10, 11, 12]), 6)
    np.testing.assert_array_equal(rows.state, [10, 11, 12])
    np.testing.assert_array_equal(rows.controller, [16, 17, 18])
    np.testing.assert_array_equal(rows.target, [17, 18, 19])
    batched = align(np.array([[0, 1], [5, 6]]), np.array([[0], [3]]))  # per-window delays
    np.testing.assert_array_equal(batched.target, [[1, 2], [9, 10]])
    assert step_count(10, 0) == 9 and step_count(10, 8) == 1 and step_count(5, 9) == 0
    steps = segment_steps(100, 10, 2)  # rows 100..109, delay 2: 7 steps
    assert len(steps.state) == 7 and steps.target[-1] == 109
    part = segment_steps(100, 10, 2, first=5, count=10)  # clipped to the game
    np.testing.assert_array_equal(part.state, [105, 106])
    assert len(segment_steps(0, 3, 5).state) == 0


def _cache_of(table, cfg=EmbedConfig()) -> EmbeddingCache:
    game = embed_game(table, cfg, 0)
    cache = EmbeddingCache(None, cfg, None, [Segment("g", 0, 0, 0, len(game))])
    cache.arrays = {"floats": game.floats, "ids": game.ids, "targets": game.targets, "controller": game.controller}
    return cache


def _policy() -> Policy:
    torch.manual_seed(0)
    backbone = {"name": "attention", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "window": 8}
    return Policy(EmbedConfig(), PolicyConfig(backbone=backbone, head_hidden=16)).eval()


def _recording(policy: Policy) -> list[torch.Tensor]:
    """Every backbone input ``x`` (1, T, D) the policy computes, in call order."""
    seen: list[torch.Tensor] = []
    policy.backbone.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    return seen


# Each user: (cache, delay) -> (what is seen at steps 0..STEP, the target of STEP)
def _windows(cache, delay):
    length = 32
    windows = np.array([[0, STEP - length + 1, delay, 0]])  # the window ends at step STEP
    batch = gather(cache, windows, length)
    seen = np.concatenate([batch["floats"][0], batch["ids"][0], batch["controller"][0]], -1)
    return seen, batch["targets"][0, -1]


def _evaluation(cache, delay):
    policy = _policy()
    inputs = _recording(policy)
    seg = Segment("g", 0, 0, 0, STEP + delay + 2 + 40)  # a few steps past STEP
    result = predict_segment(policy, cache, seg, delay, chunk=256)
    x = torch.cat(inputs, 1)[0].numpy()  # (steps, D)
    # inputs up to STEP, and every distribution before it (those at STEP are teacher-forced
    # on STEP's own target, by design)
    probs = [v[:STEP].ravel() for k, v in sorted(result.items()) if k.startswith("prob_")]
    seen = np.concatenate([x[: STEP + 1].ravel(), *probs])
    return seen, result["targets"][STEP]


def _attention(cache, delay):
    policy = _policy()
    inputs = _recording(policy)
    trace = attention_trace(policy, cache, cache.segments[0], delay=delay, start=0, length=STEP + 1)
    seen = np.concatenate([inputs[0][0].numpy().ravel(), *[w.ravel() for w in trace.weights]])
    target_row = segment_steps(0, cache.segments[0].length, delay, STEP, 1).target
    return seen, cache.arrays["targets"][target_row][0]


def _baseline(cache, delay):
    targets, previous = aligned_targets(cache, cache.segments, delay)
    return previous[: STEP + 1], targets[STEP]


@pytest.mark.parametrize("delay", [0, 6, 18])
@pytest.mark.parametrize(
    "user",
    [_windows, _evaluation, _attention, _baseline],
    ids=["dataset-gather", "eval-predict", "attention-trace", "repeat-baseline"],
)
def test_changing_the_target_frame_changes_nothing_seen(user, delay):
    table = read_replay(bundled("games/Walnut356-falcon_throws.slp"))
    seen_before, target_before = user(_cache_of(table), delay)
    countdown = int(np.searchsorted(table.frames, 0))  # cache rows start at frame 0
    target_frame = countdown + STEP + delay + 1  # table row of frame i + D + 1
    changed = {k: v.copy() for k, v in table.columns.items()}
    for name, value in (("stick_x", 1.0), ("stick_y", -1.0), ("cstick_x", 1.0), ("trigger", 1.0)):
        changed[f"p0_{name}"][target_frame] = value
    changed["p0_buttons"][target_frame] ^= 0x0100 | 0x0200  # toggle A and B
    table.columns = changed
    seen_after, target_after = user(_cache_of(table), delay)
    assert not np.array_equal(target_before, target_after), "the rewritten target must move"
    np.testing.assert_array_equal(seen_before, seen_after, err_msg="an input moved: a target leaks")
