"""Fuzzing the real ingest path: seeded mutants of bundled real games (bit flips,
truncations, duplicated and deleted chunks, zeroed ranges, edited length fields) go
through ``workbench ingest``; every file ends with a status and a known reason, no
stored game carries impossible metadata, and the run exits 0.

The default suite runs a few hundred mutants of three short bundled clips; ``slow`` runs
thousands, of three full games too. ``python benchmarks/fuzz_ingest.py`` prints the outcomes
by reason; ``tests/fuzz/atheris_harness.py`` is the coverage-guided version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import bundled
from fuzz.mutants import KINDS, mutants
from workbench.replay import ALL_REASONS, FrameStore
from workbench.replay.validate import STAGE_IDS
from workbench.types import EXTERNAL_CHARACTER_NAMES

CLIPS = ["clips/Walnut356-ics.slp", "clips/PMcca-ranked_game1_tiebreak.slp", "clips/peppi-v3.16.slp"]
GAMES = ["games/Walnut356-falcon_throws.slp", "games/PMcca-realtimeTest.slp", "games/peppi-transform.slp"]
DEFAULT_MUTANTS = 270  # 30 of each kind, ~25 s on a quiet 2-core machine
SLOW_MUTANTS = 3000


def run_mutants(tmp_path, names: list[str], count: int, seed: int) -> list[dict]:
    from workbench.cli import main

    sources = {bundled(name).stem: bundled(name).read_bytes() for name in names}
    folder = tmp_path / "mutants"
    folder.mkdir()
    for name, data in mutants(sources, count, seed):
        (folder / f"{name}.slp").write_bytes(data)
    store = tmp_path / "store"
    code = main(
        [
            "ingest",
            str(folder),
            "--out",
            str(store),
            "--min-frames",
            "0",
            "--cpu",
            "any",
            "--allow-multiplayer",
            "--json",
        ]
    )
    assert code == 0
    report = json.loads((store / "ingest_report.json").read_text())
    assert len(report) == count
    for entry in report:
        assert entry["status"] in ("ok", "skipped", "error"), entry
        if entry["status"] != "ok":
            assert entry["reason"] in ALL_REASONS, entry
    for row in FrameStore(store).games():  # nothing impossible is stored as ok
        assert set(row["character_ids"]) <= set(EXTERNAL_CHARACTER_NAMES), row
        assert row["stage"] in STAGE_IDS and row["frames"] > 0, row
    return report


def test_mutants_of_bundled_clips(tmp_path):
    report = run_mutants(tmp_path, CLIPS, DEFAULT_MUTANTS, seed=0)
    kinds = {Path(entry["path"]).name.split("-")[1] for entry in report}
    assert kinds == set(KINDS)
    # the mutations reach past the header: some mutants still read, many do not
    statuses = {entry["status"] for entry in report}
    assert {"ok", "error"} <= statuses


@pytest.mark.slow
def test_thousands_of_mutants(tmp_path):
    report = run_mutants(tmp_path, CLIPS + GAMES, SLOW_MUTANTS, seed=1)
    assert {"ok", "error"} <= {entry["status"] for entry in report}
