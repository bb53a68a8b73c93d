"""End-to-end: the real `workbench` command on real replays."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import DATA, bundled


def workbench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_ingest_bundled_replays(tmp_path):
    out = tmp_path / "store"
    run = workbench("ingest", str(DATA), "--out", str(out), "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert "ok" in run.stdout and "truncated or corrupt" in run.stdout
    report = json.loads((out / "ingest_report.json").read_text())
    assert len(report) == len(list(DATA.rglob("*.slp")))
    assert (out / "manifest.parquet").exists()
    again = workbench("ingest", str(DATA), "--out", str(out), "--json")
    summary = json.loads(again.stdout)
    assert summary["ok"] == sum(e["status"] == "ok" for e in report)


def test_ingest_filters(tmp_path):
    run = workbench("ingest", str(DATA / "games"), "--out", str(tmp_path), "--characters", "zelda", "--json")
    summary = json.loads(run.stdout)
    assert summary["ok"] >= 1 and set(summary["characters"]) & {"Zelda"}
    assert summary["reasons"].get("skipped: filtered out", 0) >= 3


def test_missing_path_is_one_line(tmp_path):
    run = workbench("ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "s"))
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "no such file or folder" in run.stderr
    assert "Traceback" not in run.stderr


def test_unknown_character_is_one_line(tmp_path):
    run = workbench("ingest", str(DATA), "--out", str(tmp_path), "--characters", "waluigi")
    assert run.returncode == 2 and "unknown character" in run.stderr and "Traceback" not in run.stderr


def test_nothing_readable_exits_non_zero(tmp_path):
    run = workbench("ingest", str(bundled("bad/peppi-corrupt.slp")), "--out", str(tmp_path))
    assert run.returncode == 1 and "1 errors" in run.stdout


def test_fitted_stick_centres_feed_training(tmp_path):
    """`embed fit-sticks` writes centres that `train --stick-centers` turns into k-means classes."""
    centers = tmp_path / "centers.json"
    game = bundled("games/PMcca-sheik_vs_ics_yoshis.slp")
    fit = workbench("embed", "fit-sticks", str(game), "--k", "9", "--out", str(centers))
    assert fit.returncode == 0, fit.stderr
    dry = workbench(
        "train",
        "--replays",
        str(game),
        "--stick-centers",
        str(centers),
        "--dry-run",
        "--out",
        str(tmp_path / "run"),
        "--set",
        f"store={tmp_path / 'store'}",
        "--set",
        f"cache={tmp_path / 'cache'}",
    )
    assert dry.returncode == 0, dry.stderr
    fitted = json.loads(centers.read_text())
    assert "kmeans" in dry.stdout and len(fitted["main"]) == 9
    # a clip whose c-stick never moves has too few positions for 9 centres: one line, no file
    few = workbench(
        "embed",
        "fit-sticks",
        str(bundled("games/Walnut356-falcon_throws.slp")),
        "--k",
        "9",
        "--out",
        str(tmp_path / "few.json"),
    )
    assert few.returncode != 0 and "distinct stick positions" in few.stderr
    assert "Traceback" not in few.stderr and not (tmp_path / "few.json").exists()
    bad = workbench("train", "--stick-centers", str(game), "--dry-run")
    assert bad.returncode != 0 and "not a stick-centres file" in bad.stderr
    assert "Traceback" not in bad.stderr
