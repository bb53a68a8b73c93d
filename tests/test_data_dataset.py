"""Alignment, windows, batches and loaders over the embedding cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workbench.data import (
    WindowBatches,
    WindowSpec,
    build_cache,
    enumerate_windows,
    gather,
    make_loader,
    split_games,
)
from workbench.embed import EmbedConfig
from workbench.replay import FrameStore


@pytest.fixture(scope="module")
def cache(bundled_store, tmp_path_factory):
    return build_cache(FrameStore(bundled_store), tmp_path_factory.mktemp("cache"), EmbedConfig())


def test_batch_rows_follow_the_stated_alignment(cache):
    spec = WindowSpec(length=16, delay_min=0, delay_max=18)
    segments = cache.select(variants={0})
    windows = enumerate_windows(segments, spec, epoch=0, seed=1)
    batch = gather(cache, windows[:64], 16)
    for w, (seg, start, delay, base) in enumerate(windows[:64]):
        s = segments[seg]
        assert 0 <= delay <= 18 and base == s.start
        i = base + start + np.arange(16)
        assert i[-1] + delay + 1 < s.start + s.length, "target stays inside its game"
        np.testing.assert_array_equal(batch["floats"][w], cache.arrays["floats"][i])
        np.testing.assert_array_equal(batch["controller"][w], cache.arrays["controller"][i + delay])
        np.testing.assert_array_equal(batch["targets"][w], cache.arrays["targets"][i + delay + 1])


def test_windows_are_deterministic_per_epoch(cache):
    spec = WindowSpec(length=32)
    segments = cache.select()
    a = enumerate_windows(segments, spec, epoch=3, seed=7)
    np.testing.assert_array_equal(a, enumerate_windows(segments, spec, epoch=3, seed=7))
    assert not np.array_equal(a, enumerate_windows(segments, spec, epoch=4, seed=7))
    strided = enumerate_windows(segments, WindowSpec(length=32, stride=32), 0, 0)
    per_segment = sum(max(0, (s.length - 32 - 0 - 1) // 32 + 1) for s in segments)
    assert len(strided) == per_segment


def test_single_frames_and_character_balance(cache):
    segments = cache.select()
    frames = enumerate_windows(segments, WindowSpec(length=1), 0, 0)
    assert len(frames) > 10_000
    balanced = enumerate_windows(segments, WindowSpec(length=8, balance_characters=True), 0, 0)
    chars = [segments[k].character for k in balanced[:, 0]]
    counts = {c: chars.count(c) for c in set(chars)}
    assert max(counts.values()) / min(counts.values()) < 4, counts


def test_loader_with_workers_matches_in_process(cache):
    split = split_games(cache.games(), 0.25, seed=0)
    train = cache.select(md5s=set(split.train))
    ds = WindowBatches(cache, train, WindowSpec(length=8), batch_size=32, seed=5)
    first = next(iter(make_loader(ds, workers=0)))
    worker = next(iter(make_loader(ds, workers=2)))
    assert first["floats"].shape == (32, 8, cache.layout.float_dim)
    assert first["floats"].dtype == torch.float32 and first["targets"].dtype == torch.int16
    for key in first:
        assert torch.equal(first[key], worker[key]), key
    resumed = next(iter(make_loader(ds, start_batch=2)))
    assert torch.equal(resumed["floats"], ds[2]["floats"])
