"""`workbench report`, the main job: notebooks in pipeline order, a failing step recorded
with its one-line error while the others run, and (slow) the whole job on the bundled
replays ending in an index that links every page."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.replay.ingest import MissingPathError
from workbench.report import main_job
from workbench.report.main_job import STEPS, run_main_job

ROOT = Path(__file__).resolve().parents[1]
GAMES = ROOT / "data" / "replays" / "games"


def test_steps_follow_the_pipeline_and_exist():
    names = [s.notebook for s in STEPS]
    assert names == ["explore_replays", "reference", "train", "stick_confusion", "attention", "deploy", "selfplay"]
    for step in STEPS:
        assert (ROOT / "notebooks" / f"{step.notebook}.ipynb").exists()


def test_a_failing_step_is_recorded_and_the_others_still_run(tmp_path, monkeypatch):
    explore = STEPS[0]
    broken = main_job.Step(
        "explore_replays",
        "Broken",
        "explore on a folder with no replays",
        lambda p: {"replays": [str(tmp_path / "nowhere")], "store": str(p.work / "store2")},
    )
    monkeypatch.setattr(main_job, "STEPS", [broken, explore])
    result = run_main_job(
        [str(GAMES)], tmp_path / "report", tmp_path / "runs", tmp_path / "work", progress=lambda line: None
    )
    assert [s["status"] for s in result.steps] == ["failed", "ok"]
    error = result.steps[0]["error"]
    assert error and "\n" not in error and "Traceback" not in error, error
    assert result.steps[1]["metrics"]["explore/games_ok"] > 0
    index = result.index.read_text()
    assert "Broken" in index and "Failed:" in index
    assert 'href="explore_replays.html"' in index
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["explore_replays", "explore_replays"]


def test_missing_replays_fail_before_any_notebook_runs(tmp_path):
    with pytest.raises(MissingPathError, match="no such file or folder"):
        run_main_job([str(tmp_path / "nowhere")], tmp_path / "report", tmp_path / "runs", tmp_path / "work")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WorkbenchError, match="no .slp replays"):
        run_main_job([str(tmp_path / "empty")], tmp_path / "report", tmp_path / "runs", tmp_path / "work")
    assert not list((tmp_path / "runs").glob("*.ipynb"))


@pytest.mark.slow
def test_main_job_on_the_bundled_replays(tmp_path):
    """What `make demo` runs, with fewer training steps: every step ok, every page linked."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "report",
            "--out",
            str(tmp_path / "report"),
            "--runs",
            str(tmp_path / "runs"),
            "--work",
            str(tmp_path / "work"),
            "--train-steps",
            "60",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert [s["status"] for s in summary["steps"]] == ["ok"] * len(STEPS)
    index = (tmp_path / "report" / "index.html").read_text()
    for step in STEPS:
        assert f'href="{step.notebook}.html"' in index
        page = (tmp_path / "report" / f"{step.notebook}.html").read_text()
        assert '<script src="http' not in page
    metrics = next(s["metrics"] for s in summary["steps"] if s["step"] == "train")
    assert 0 < metrics["eval/repeat_baseline/main_x_acc@0"] < 1
    reference = next(s["metrics"] for s in summary["steps"] if s["step"] == "reference")
    # the shipped model beats repeat-last on the bundled games, and the first page says so
    assert reference["reference/bits_per_frame@0"] < reference["reference/repeat_baseline/bits_per_frame@0"]
    assert reference["reference/main_x_acc@0"] > reference["reference/repeat_baseline/main_x_acc@0"]
    assert "The reference model scores" in index and "Two models appear" in index
