"""End-to-end: the real `workbench` command on real replays."""
from __future__ import annotations

import json
import subprocess
import sys

from conftest import DATA, bundled


def workbench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


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
    run = workbench("ingest", str(DATA / "games"), "--out", str(tmp_path), "--characters",
                    "zelda", "--json")
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
