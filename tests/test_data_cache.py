"""Embedding cache: reuse, invalidation, augmented variants, splits, baseline."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.data import AugmentConfig, build_cache, repeat_last_baseline, split_games
from workbench.data.baseline import aligned_targets
from workbench.embed import EmbedConfig, NameRegistry
from workbench.errors import WorkbenchError
from workbench.embed.state import StateLayout
from workbench.replay import FrameStore, ingest, read_replay
from conftest import DATA


def test_cache_is_reused_and_invalidated(bundled_store, tmp_path):
    store = FrameStore(bundled_store)
    first = build_cache(store, tmp_path, EmbedConfig())
    written = (first.root / "floats.npy").stat().st_mtime_ns
    again = build_cache(store, tmp_path, EmbedConfig())
    assert again.root == first.root and isinstance(again.arrays["floats"], np.memmap)
    assert (again.root / "floats.npy").stat().st_mtime_ns == written, "the cache was rebuilt, not reused"
    other = build_cache(store, tmp_path, EmbedConfig(item_slots=2))
    assert other.root != first.root
    assert other.arrays["floats"].shape[1] == StateLayout(EmbedConfig(item_slots=2)).float_dim
    # a store with different games gets a different cache
    small = tmp_path / "small_store"
    ingest([DATA / "games" / "Walnut356-falcon_throws.slp"], small, progress=False)
    assert build_cache(FrameStore(small), tmp_path, EmbedConfig()).root != first.root
    segments = first.segments
    assert {s.variant for s in segments} == {0}
    humans = sum(1 for s in segments)
    everyone = build_cache(store, tmp_path, EmbedConfig(), perspectives="all").segments
    assert len(everyone) > humans, "CPU perspectives are skipped by default"


def test_name_ids_come_from_the_registry_and_key_the_cache(bundled_store, tmp_path):
    store, cfg = FrameStore(bundled_store), EmbedConfig(names=True)
    with pytest.raises(WorkbenchError, match="needs a NameRegistry"):
        build_cache(store, tmp_path, cfg)  # would silently embed every name as "unknown"
    games = [read_replay(r["path"]) for r in store.games()]
    registry = NameRegistry.build([p.display_name for g in games for p in g.meta.players])
    assert registry.ids, "the bundled games have netplay names"
    named = build_cache(store, tmp_path, cfg, names=registry)
    columns = [i for i, group in enumerate(StateLayout(cfg).id_groups) if group == "name"]
    assert np.asarray(named.arrays["ids"])[:, columns].any()
    other = NameRegistry({name: i + 2 for name, i in registry.ids.items()}, registry.vocab)
    assert build_cache(store, tmp_path, cfg, names=other).root != named.root


def test_augmented_variants(bundled_store, tmp_path):
    cfg = EmbedConfig()
    cache = build_cache(
        FrameStore(bundled_store), tmp_path, cfg, AugmentConfig(mirror=True, noise_copies=2, noise_std=0.05)
    )
    layout, spec = cache.layout, cache.spec
    by_key = {(s.md5, s.perspective, s.variant): s for s in cache.segments}
    assert {v for (_, _, v) in by_key} == {0, 1, 2, 3}
    md5, persp = next(iter(by_key))[:2]

    def rows(v: int) -> slice:
        segment = by_key[(md5, persp, v)]
        return slice(segment.start, segment.start + segment.length)

    original, mirrored = cache.arrays["floats"][rows(0)], cache.arrays["floats"][rows(1)]
    np.testing.assert_allclose(mirrored, original * layout.mirror_sign)
    np.testing.assert_array_equal(
        cache.arrays["targets"][rows(1)], spec.mirror_targets(np.asarray(cache.arrays["targets"][rows(0)]))
    )
    noisy = cache.arrays["floats"][rows(2)]
    assert not np.array_equal(noisy, original)
    np.testing.assert_array_equal(noisy[:, ~layout.noise_mask], original[:, ~layout.noise_mask])
    np.testing.assert_array_equal(cache.arrays["targets"][rows(2)], cache.arrays["targets"][rows(0)])


def test_split_is_by_game_and_deterministic(tmp_path):
    games = [f"{i:032x}" for i in range(20)]
    a, b = split_games(games, 0.2, seed=3), split_games(list(reversed(games)), 0.2, seed=3)
    assert a == b and len(a.val) == 4 and not set(a.train) & set(a.val)
    assert sorted(a.train + a.val) == games
    assert split_games(games, 0.2, seed=4).val != a.val
    a.save(tmp_path / "split.json")
    assert type(a).load(tmp_path / "split.json") == a


def test_repeat_last_baseline_on_real_games(bundled_store, tmp_path):
    cache = build_cache(FrameStore(bundled_store), tmp_path, EmbedConfig())
    scores = repeat_last_baseline(cache, cache.segments, delay=0)
    assert 0.8 < scores["main_x"]["acc"] < 0.95 and scores["A"]["acc"] > 0.95
    # repeating the input from two frames back is clearly worse: an off-by-one in the
    # alignment would show up here as a jump in the baseline
    col = cache.spec.index["main_x"]
    data = np.asarray(cache.arrays["targets"])
    stale = np.concatenate(
        [
            data[s.start + 2 : s.start + s.length, col] == data[s.start : s.start + s.length - 2, col]
            for s in cache.segments
        ]
    ).mean()
    assert stale < scores["main_x"]["acc"] - 0.03
    targets, previous = aligned_targets(cache, cache.segments, delay=0)
    assert (targets[:, col] == previous[:, col]).mean() == scores["main_x"]["acc"]
    nll = scores["main_x"]["nll"]
    k = cache.spec.heads[col].classes
    acc = scores["main_x"]["acc"]
    expected = -(acc * np.log(0.99) + (1 - acc) * np.log(0.01 / (k - 1)))
    assert abs(nll - expected) < 1e-6
