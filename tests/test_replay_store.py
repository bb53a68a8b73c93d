"""Frame store: round trip, cache hits, dedup, concurrent ingests."""

from __future__ import annotations

import json
import multiprocessing as mp
import shutil

import numpy as np

from conftest import DATA, bundled
from workbench.replay import FrameStore, file_md5, ingest, load_arrays, read_replay
from workbench.types import PLAYER_FIELDS


def test_round_trip_is_exact(tmp_path):
    path = bundled("clips/PMcca-item-export.slp")  # items with owners
    table = read_replay(path)
    store = FrameStore(tmp_path)
    store.write_game("abc", table)
    back = store.load("abc")
    assert back.meta == table.meta and back.parser == table.parser
    np.testing.assert_array_equal(back.frames, table.frames)
    assert back.columns.keys() == table.columns.keys()
    for key, values in table.columns.items():
        assert back.columns[key].dtype == values.dtype, key
        np.testing.assert_array_equal(back.columns[key], values, err_msg=key)
    np.testing.assert_array_equal(back.items.offsets, table.items.offsets)
    for key, values in table.items.fields.items():
        assert back.items.fields[key].dtype == values.dtype, key
        np.testing.assert_array_equal(back.items.fields[key], values, err_msg=key)
    arrays = load_arrays(store, "abc")
    assert set(arrays) == {"frame"} | {f"p{i}_{f}" for i in range(2) for f in [*PLAYER_FIELDS, "present"]}


def test_reingest_is_a_cache_hit(tmp_path):
    files = [bundled("games/Walnut356-falcon_throws.slp"), bundled("clips/peppi-v3.18.slp")]
    first = ingest(files, tmp_path, progress=False)
    assert first.cache_hits == 0 and len(first.ok) == 2
    game_file = FrameStore(tmp_path).game_path(file_md5(files[0]))
    mtime = game_file.stat().st_mtime_ns
    again = ingest(files, tmp_path, progress=False)
    assert again.cache_hits == 2 and [e["status"] for e in again.report] == ["ok", "ok"]
    assert game_file.stat().st_mtime_ns == mtime, "a cache hit must not rewrite the game"
    # a policy change re-judges cached games without parsing them
    from workbench.replay import IngestPolicy

    strict = ingest(files, tmp_path, progress=False, policy=IngestPolicy(min_frames=5000))
    assert strict.cache_hits == 2
    assert {e["reason"] for e in strict.report} == {"too short"}


def test_same_game_saved_twice_counts_once(tmp_path):
    pair = [bundled("games/Walnut356-game.slp"), bundled("games/Walnut356-unknown_event.slp")]
    result = ingest(pair, tmp_path, progress=False)
    statuses = {e["path"].rsplit("/", 1)[1]: (e["status"], e["reason"]) for e in result.report}
    assert statuses["Walnut356-game.slp"] == ("ok", "")
    assert statuses["Walnut356-unknown_event.slp"] == ("skipped", "duplicate game")
    dup = [e for e in result.report if e["status"] == "skipped"][0]
    assert dup["duplicate_of"] == file_md5(pair[0]) and dup["parser"] == "peppi-repaired"
    assert len(FrameStore(tmp_path).games()) == 1


def _ingest_into(args):
    files, out = args
    result = ingest(files, out, progress=False)
    return len(result.report)


def test_two_ingests_at_once_do_not_corrupt_the_store(tmp_path):
    files = sorted(DATA.rglob("*.slp"))
    halves = [(files[::2] + files[:4], tmp_path), (files[1::2] + files[:4], tmp_path)]
    with mp.get_context("spawn").Pool(2) as pool:
        counts = pool.map(_ingest_into, halves)
    assert counts == [len(set(h[0])) for h in halves]
    store = FrameStore(tmp_path)
    manifest = store.manifest()
    assert {r["md5"] for r in manifest} == {file_md5(f) for f in files}, "no row lost"
    for row in store.games(status=None):
        store.load(row["md5"])  # every stored game is readable
    keys = [r["game_key"] for r in manifest if r["status"] == "ok"]
    assert len(keys) == len(set(keys)), "dedup holds across concurrent ingests"
    assert not list(tmp_path.rglob("*.tmp")), "no temporary files left behind"


def test_report_schema(bundled_store):
    report = json.loads((bundled_store / "ingest_report.json").read_text())
    assert len(report) == len(list(DATA.rglob("*.slp")))
    required = {"path", "md5", "status", "reason", "frames", "characters", "stage", "slippi_version", "parser"}
    for entry in report:
        assert required <= entry.keys()
        assert entry["status"] in ("ok", "skipped", "error")
        assert len(entry["md5"]) == 32
        if entry["status"] == "ok":
            assert entry["reason"] == "" and entry["frames"] > 0
            assert entry["parser"] in ("peppi", "peppi-repaired", "peppi-realigned", "py-slippi") and isinstance(
                entry["characters"], list
            )
        else:
            assert entry["reason"], entry
    reasons = {e["reason"] for e in report}
    assert {"truncated or corrupt", "unsupported game mode", "duplicate game", "too short"} <= reasons


def test_store_copy_is_self_contained(bundled_store, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(bundled_store, moved)
    store = FrameStore(moved)
    assert len(store.games()) == len(FrameStore(bundled_store).games()) > 5


def test_worker_processes_after_an_in_process_ingest(tmp_path):
    """Regression: a forked worker once inherited the parent's hashing executor without
    its thread and waited forever."""
    files = sorted((DATA / "clips").glob("*.slp"))[:4]
    ingest(files[:1], tmp_path / "a", progress=False)  # starts the hashing thread
    result = ingest(files, tmp_path / "b", workers=2, progress=False)
    assert len(result.report) == len(files)
