"""Attention traces: weights are distributions over the past only, summaries add up."""

import numpy as np
import pytest

from conftest import DATA
from workbench.eval import attention, held_out
from workbench.train import experiment, train


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("att")
    cfg = experiment(
        replays=[str(DATA / "games")],
        backbone="jamba",
        hidden=16,
        layers=2,
        window=8,
        max_steps=4,
        batch_size=4,
        out=str(tmp / "run"),
        overrides=[f"store={tmp / 'store'}", f"cache={tmp / 'cache'}", "train.eval_every=4", "train.eval_batches=1"],
    )
    run = train(cfg, progress=False).run_dir
    policy, _, emb, segments = held_out(run)
    return attention.attention_trace(policy, emb, segments[0], delay=0, start=0, length=120), emb


def test_weights_are_distributions_over_the_past(trace):
    trace, _ = trace
    assert len(trace.weights) == 1  # jamba with 2 layers: one attention layer
    w = trace.weights[0]  # (heads, T, W)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
    assert np.all(w[:, 0, :-1] == 0) and np.allclose(w[:, 0, -1], 1.0), "step 0 sees only itself"
    steps = np.arange(w.shape[1])
    too_early = (w.shape[2] - 1 - np.arange(w.shape[2]))[None, :] > steps[:, None]  # slots before frame 0
    assert np.all(w[:, too_early] == 0)


def test_summaries(trace):
    trace, emb = trace
    by_offset = attention.mean_by_offset(trace)
    sums = by_offset.groupby(["layer", "head"]).weight.sum()
    np.testing.assert_allclose(sums.values, 1.0, atol=1e-5)
    ent = attention.entropy(trace)
    assert (ent.entropy <= ent["max"] + 1e-5).all() and (ent.entropy >= 0).all()
    events = attention.around_events(trace)
    assert "all" in set(events.event)
    assert set(trace.events) >= {"hit_dealt", "hit_taken", "shield", "action_change"}
    assert all(len(m) == len(trace.rows) for m in trace.events.values())
    moments = attention.at_moments(trace, [5, 50])
    assert set(moments.step) == {5, 50}


def test_backbones_without_attention_fail_clearly(tmp_path):
    from workbench.errors import WorkbenchError

    cfg = experiment(
        replays=[str(DATA / "games")],
        backbone="gru",
        hidden=8,
        layers=1,
        window=8,
        max_steps=2,
        batch_size=4,
        out=str(tmp_path / "run"),
        overrides=[
            f"store={tmp_path / 'store'}",
            f"cache={tmp_path / 'cache'}",
            "train.eval_every=2",
            "train.eval_batches=1",
        ],
    )
    run = train(cfg, progress=False).run_dir
    policy, _, emb, segments = held_out(run)
    with pytest.raises(WorkbenchError, match="no attention"):
        attention.attention_trace(policy, emb, segments[0], length=20)
