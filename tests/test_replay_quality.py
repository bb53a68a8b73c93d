"""Replay quality on real frames: SD chains, idle stretches, games quit early and the
sandbagging score, stored per game and used as a filter by ingest, train and eval.

Real examples (bundled in data/replays, and in the shared corpus when present):
``games/peppi-transform.slp`` has a player who self-destructs three times inside 30 s
(and idles 16.8 s), ``games/Walnut356-falcon_throws.slp`` a player who stands still for
33 s while the other practises throws, ``games/slippijs-rollbackFrameTest.slp`` is a
clean netplay game, and the shared ``games/slippijs-techTester.slp`` holds a four-SD chain.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import DATA, bundled, shared, tiny_experiment
from workbench.errors import ConfigError
from workbench.replay import FrameStore, ingest, read_replay
from workbench.replay.quality import (
    IDLE_FRAMES,
    QUALITY_FLAGS,
    SD_CHAIN_COUNT,
    check_filters,
    parse_flags,
    passes,
    quality_flags,
)
from workbench.replay.validate import IngestPolicy

TRANSFORM, THROWS = "games/peppi-transform.slp", "games/Walnut356-falcon_throws.slp"


@pytest.fixture(scope="module")
def scores() -> dict[str, dict]:
    names = [TRANSFORM, THROWS, "games/slippijs-rollbackFrameTest.slp", "clips/peppi-v3.18.slp"]
    return {name: quality_flags(read_replay(bundled(name))) for name in names}


def test_sd_chain_on_a_real_game(scores):
    q = scores[TRANSFORM]
    assert "sd_chain" in q["quality_flags"]
    assert max(q["sd_chain"]) >= SD_CHAIN_COUNT and q["sd_count"][int(np.argmax(q["sd_chain"]))] >= 3
    assert q["quality"] < 0.1


def test_idle_and_sandbagging_on_a_real_game(scores):
    q = scores[THROWS]
    assert {"idle", "sandbagging"} <= set(q["quality_flags"])
    idle_player = int(np.argmax(q["idle_seconds"]))
    assert q["idle_seconds"][idle_player] >= IDLE_FRAMES / 60 and q["sandbagging"][idle_player] >= 0.5
    assert q["sandbagging"][1 - idle_player] < 0.5, "the player practising throws is not sandbagging"


def test_clean_and_quit_games(scores):
    clean = scores["games/slippijs-rollbackFrameTest.slp"]
    assert clean["quality_flags"] == [] and clean["quality"] > 0.85
    assert max(clean["sd_chain"]) < SD_CHAIN_COUNT and max(clean["sandbagging"]) < 0.5
    assert "quit_early" in scores["clips/peppi-v3.18.slp"]["quality_flags"]  # ended by L+R+A+Start


def test_a_stretch_without_input_is_idle():
    game = read_replay(bundled("games/slippijs-rollbackFrameTest.slp"))
    for key in ("stick_x", "stick_y", "cstick_x", "cstick_y", "trigger", "buttons"):
        col = game.columns[f"p0_{key}"].copy()
        col[500:1200] = col[500]
        game.columns[f"p0_{key}"] = col
    flags = quality_flags(game)
    assert "idle" in flags["quality_flags"] and flags["idle_seconds"][0] >= 11.6


def test_shared_corpus_chain():
    q = quality_flags(read_replay(shared("games/slippijs-techTester.slp")))
    assert "sd_chain" in q["quality_flags"] and max(q["sd_chain"]) >= 4


def test_filters_and_names():
    row = {"quality": 0.3, "quality_flags": ["idle"]}
    assert passes(row) and passes(row, 0.3) and not passes(row, 0.31)
    assert not passes(row, 0.0, ["idle"]) and passes(row, 0.0, ["sd_chain"])
    assert passes({"quality": None, "quality_flags": []}, 0.9), "an unscored row is judged by flags"
    assert parse_flags("sd_chain, idle") == ["sd_chain", "idle"]
    with pytest.raises(ConfigError, match="did you mean sd_chain"):
        parse_flags("sdchain")
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        check_filters(1.5, [])
    assert set(QUALITY_FLAGS) >= {"sd_chain", "idle", "quit_early", "sandbagging"}


def test_ingest_stores_scores_and_filters(tmp_path):
    games = DATA / "games"
    kept = ingest([games], tmp_path / "all", progress=False)
    manifest = {r["path"].split("replays/")[-1]: r for r in FrameStore(tmp_path / "all").manifest()}
    assert "sd_chain" in manifest[TRANSFORM]["quality_flags"] and manifest[THROWS]["quality"] < 0.5
    assert all(r["quality"] is not None for r in manifest.values() if r["status"] == "ok")
    assert kept.summary["low_quality"] == 0 and kept.summary["quality_mean"] is not None
    # the same store, re-judged: no parse, the scores come from the manifest
    strict = ingest([games], tmp_path / "all", progress=False, policy=IngestPolicy(quality_threshold=0.5))
    assert strict.cache_hits == len(strict.report)
    low = {e["path"].split("replays/")[-1] for e in strict.report if e["reason"] == "low quality"}
    assert {TRANSFORM, THROWS} <= low
    assert strict.summary["low_quality"] == len(low) and strict.summary["ok"] == kept.summary["ok"] - len(low)
    assert strict.summary["reasons"]["skipped: low quality"] == len(low)
    assert strict.summary["low_quality_flags"]["sd_chain"] >= 1
    flagged = ingest([games], tmp_path / "flags", progress=False, policy=IngestPolicy(exclude_flags=["sd_chain"]))
    assert [e["path"].split("replays/")[-1] for e in flagged.report if e["reason"] == "low quality"] == [TRANSFORM]


def test_ingest_cli_prints_the_counts(tmp_path, capsys):
    from workbench.cli import main

    assert (
        main(
            ["ingest", str(DATA / "games"), "--out", str(tmp_path / "s"), "--exclude-flags", "sd_chain,idle", "--json"]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["low_quality"] >= 2 and summary["reasons"]["skipped: low quality"] == summary["low_quality"]


def test_old_manifest_rows_are_scored_on_the_next_ingest(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = FrameStore(tmp_path / "s")
    ingest([bundled(TRANSFORM)], store.root, progress=False)
    rows = store.manifest()
    for row in rows:
        row.update(quality=None, sd_chain=None, sandbagging=None)
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(store.manifest_path)), store.manifest_path)
    again = ingest([bundled(TRANSFORM)], store.root, progress=False, policy=IngestPolicy(exclude_flags=["sd_chain"]))
    assert again.cache_hits == 1 and again.report[0]["reason"] == "low quality"
    assert store.manifest()[0]["quality"] is not None


def test_training_leaves_out_low_quality_games(tmp_path):
    from workbench.train.data import prepare_data

    cfg = tiny_experiment(
        tmp_path,
        "run",
        {"name": "mlp", "hidden_size": 8, "num_layers": 1},
        "train.window=1",
        "train.val_fraction=0.3",
        'train.exclude_flags=["sd_chain", "idle"]',
    )
    data = prepare_data(cfg)
    rows = {r["md5"]: r for r in data.store.games()}
    used = {s.md5 for s in data.train_segments} | {s.md5 for s in data.val_segments}
    assert used and not any({"sd_chain", "idle"} & set(rows[m]["quality_flags"]) for m in used)
    transform = next(m for m, r in rows.items() if r["path"].endswith("peppi-transform.slp"))
    assert transform in set(data.split.train) | set(data.split.val), "the split itself is unchanged"
    with pytest.raises(ConfigError, match="did you mean idle"):
        tiny_experiment(
            tmp_path, "run", {"name": "mlp", "hidden_size": 8, "num_layers": 1}, 'train.exclude_flags=["idel"]'
        )
