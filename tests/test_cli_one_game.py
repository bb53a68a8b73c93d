"""The entry points on a folder holding one short game: each ends in a result or a
one-line error, never a silent hang (train, eval, and a sweep arm of the train notebook,
the step of `workbench report` that hung)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import DATA, ROOT

SHORT_GAME = DATA / "clips" / "peppi-v3.18.slp"  # 941 frames, Marth vs Captain Falcon


def workbench(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    # the timeout is the test's guard against a hang, not a performance assertion
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


@pytest.fixture(scope="module")
def one_game(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("one_game")
    shutil.copy(SHORT_GAME, folder / SHORT_GAME.name)
    return folder


def small(folder: Path, out: str, *extra: str) -> list[str]:
    return [
        "train",
        "--replays",
        str(folder),
        "--hidden",
        "16",
        "--layers",
        "1",
        "--max-steps",
        "3",
        "--out",
        out,
        "--set",
        f"store={folder.parent / 'store'}",
        "--set",
        f"cache={folder.parent / 'cache'}",
        *extra,
    ]


def test_too_few_windows_for_the_batch_trains_a_smaller_batch(one_game, tmp_path):
    done = workbench(*small(one_game, "run", "--window", "32", "--batch-size", "512"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    warning = [l for l in done.stderr.splitlines() if "warning: only" in l]
    assert warning and "for --batch-size 512: training with batch size" in warning[0]
    used = int(warning[0].split("training with batch size ")[1].split()[0])
    assert 0 < used < 512
    assert "no game is held out for validation" in done.stderr
    assert "trained 3 steps" in done.stdout and "no validation loss" in done.stdout
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1 and rows[0]["train/loss"] > 0


def test_no_window_at_all_is_one_line_before_training(one_game, tmp_path):
    done = workbench(*small(one_game, "run", "--window", "5000"), cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "no training window of 5000 steps" in done.stderr and "--window" in done.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_eval_on_one_game(one_game, tmp_path):
    assert workbench(*small(one_game, "run"), cwd=tmp_path).returncode == 0
    held = workbench("eval", "--checkpoint", "run", cwd=tmp_path)
    assert held.returncode == 2 and "no held-out game" in held.stderr and "--split all" in held.stderr
    far = workbench("eval", "--checkpoint", "run", "--split", "all", "--delays", "0,5000", cwd=tmp_path)
    assert far.returncode == 2 and len(far.stderr.strip().splitlines()) == 1
    assert "--delays 5000: longer than every game scored" in far.stderr
    done = workbench(
        "eval", "--checkpoint", "run", "--split", "all", "--delays", "0,6", "--out", "eval.json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "eval.json").read_text())
    at0, at6 = report["delays"]["0"]["frames"], report["delays"]["6"]["frames"]
    # the header gives the frames per delay, not their sum
    assert f"{at0:,} at delay 0, {at6:,} at delay 6" in done.stdout
    assert f"{at0 + at6:,}" not in done.stdout.splitlines()[0]
    assert "wrote eval report eval.json (" in done.stdout


def test_sweep_arm_of_the_train_notebook_on_one_game(one_game, tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(
        yaml.safe_dump(
            {
                "parameters": {
                    "replays": str(one_game),
                    "store": str(tmp_path / "store"),
                    "cache": str(tmp_path / "cache"),
                    "out": str(tmp_path / "run"),
                    "max_steps": 3,
                    "hidden": 8,
                    "window": 32,
                    "batch_size": 256,
                    "eval_delays": "0",
                },
                "arms": [{"seed": 0}],
            }
        )
    )
    done = workbench(
        "sweep",
        str(ROOT / "notebooks" / "train.ipynb"),
        "--grid",
        str(grid),
        "--out",
        str(tmp_path / "arms"),
        "--no-report",
        "--timeout",
        "240",
        cwd=tmp_path,
        timeout=400,
    )
    status = json.loads((tmp_path / "arms" / "seed=0.status.json").read_text())
    # one game, all of it trained on: eval has nothing held out and says so in one line
    assert status["status"] in ("ok", "failed"), status
    if status["status"] == "failed":
        assert "no held-out game" in status["error"], status["error"]
    assert (tmp_path / "run" / "summary.json").exists()  # training finished, no hang
    assert done.returncode in (0, 1)


def test_misspelt_grid_parameter_stops_before_any_arm(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("grid:\n  backbon: [mlp]\n")
    done = workbench(
        "sweep",
        str(ROOT / "notebooks" / "ablation.ipynb"),
        "--grid",
        str(grid),
        "--out",
        str(tmp_path / "arms"),
        cwd=tmp_path,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "'backbon'" in done.stderr and "did you mean 'backbone'?" in done.stderr
    assert "max_steps" in done.stderr  # the valid names are listed
    assert not list((tmp_path / "arms").glob("*.ipynb")) if (tmp_path / "arms").exists() else True


def test_resume_takes_the_whole_config_from_the_run(one_game, tmp_path):
    first = workbench(*small(one_game, "run", "--backbone", "mlp", "--window", "1"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    more = workbench("train", "--resume", "--out", "run", "--max-steps", "5", cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "trained 5 steps" in more.stdout
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["policy"]["backbone"]["name"] == "mlp" and saved["train"]["max_steps"] == 5
    assert saved["replays"] == [str(one_game)]
    changed = workbench("train", "--resume", "--out", "run", "--hidden", "32", cwd=tmp_path)
    assert changed.returncode == 2 and "hidden_size" in changed.stderr
