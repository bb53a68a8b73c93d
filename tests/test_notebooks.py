"""The notebooks: committed clean, run headless with their defaults, record sane metrics;
the marimo explorer passes `marimo check` and runs against a real store."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPLORE = ROOT / "notebooks" / "explore_replays.ipynb"
EXPLORER_APP = ROOT / "notebooks" / "replay_explorer.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), (
        "outputs must be stripped before commit"
    )
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    for cell in code:  # notebooks hold no logic
        tree = ast.parse(cell.source)
        defined = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.Lambda))]
        assert not defined, f"cell defines a function or class:\n{cell.source}"
    assert "papermill" not in notebook.metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_parameter_is_seen_by_papermill(path):
    """Papermill skips a parameter line holding a second '=' (e.g. in its comment); a sweep
    or a report could then not set it, and grid validation would reject it."""
    import papermill

    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    assigned = {
        t.id
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert assigned <= set(papermill.inspect_notebook(str(path)))


def test_explore_replays_runs_headless(tmp_path):
    """Default parameters, except where the store and metrics go."""
    import papermill

    output, metrics_path = tmp_path / "explore.ipynb", tmp_path / "explore.metrics.json"
    papermill.execute_notebook(
        str(EXPLORE),
        str(output),
        cwd=str(EXPLORE.parent),
        progress_bar=False,
        parameters={"store": str(tmp_path / "store"), "metrics_path": str(metrics_path)},
    )
    metrics = json.loads(metrics_path.read_text())["metrics"]
    from workbench.replay import FrameStore

    manifest = FrameStore(tmp_path / "store").manifest()
    games = [row for row in manifest if row["status"] == "ok"]
    assert metrics["explore/files"] == len(manifest) == len(list((ROOT / "data/replays").rglob("*.slp")))
    assert metrics["explore/games_ok"] == len(games) > 0
    assert metrics["explore/frames"] == sum(row["frames"] for row in games)
    assert metrics["explore/game_frames"] == games[0]["frames"]
    assert 0.0 < metrics["explore/stick_neutral_share"] < 1.0
    assert 0.0 < metrics["explore/hours"] < 1.0
    executed = nbformat.read(output, as_version=4)
    errors = [o for c in executed.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    charts = [
        o
        for c in executed.cells
        for o in c.get("outputs", [])
        if any(k.startswith("application/vnd.vegalite") for k in o.get("data", {}))
    ]
    assert len(charts) == 4  # corpus, timeline, heatmaps, scrubber chart


def test_marimo_app_passes_check():
    run = subprocess.run(
        [sys.executable, "-m", "marimo", "check", "--strict", str(EXPLORER_APP)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr


RUN_APP = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("replay_explorer", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
outputs, defs = module.app.run()
print(json.dumps({"outputs": [type(o).__name__ for o in outputs],
                  "games": len(defs["games"]), "window": len(defs["window"])}))
"""


def test_marimo_app_runs_on_a_store(bundled_store):
    run = subprocess.run(
        [sys.executable, "-c", RUN_APP, str(EXPLORER_APP), "--store", str(bundled_store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["games"] > 0 and result["window"] > 0
    assert {"LayerChart", "FacetChart"} <= set(result["outputs"])  # frame on stage, timeline


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_under_nbval(path):
    """`pytest --nbval-lax` with the default parameters, as a person would run it
    (writes under ../.cache)."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout and "failed" not in run.stdout


def test_ablation_arm_records_metrics_beside_the_baseline(tmp_path):
    import papermill

    notebook = ROOT / "notebooks" / "ablation.ipynb"
    metrics_path = tmp_path / "arm.metrics.json"
    papermill.execute_notebook(
        str(notebook),
        str(tmp_path / "arm.ipynb"),
        cwd=str(notebook.parent),
        progress_bar=False,
        parameters={
            "metrics_path": str(metrics_path),
            "backbone": "mlp",
            "window": 1,
            "max_steps": 10,
            "out_root": str(tmp_path / "runs"),
            "latency_frames": 200,
        },
    )
    metrics = json.loads(metrics_path.read_text())["metrics"]
    for head in ("main_x", "main_y"):
        assert 0.5 < metrics[f"eval/repeat_baseline/{head}_acc"] < 1.0
        assert 0.0 <= metrics[f"eval/{head}_acc"] <= 1.0
    assert metrics["eval/mean_nll"] > 0 and metrics["eval/ms_per_frame"] > 0
    # bits per frame at both delays, the state ablations, training speed, the exported bot frame
    assert metrics["eval/bits_per_frame"] > 0 and metrics["eval/repeat_baseline/bits_per_frame"] > 0
    assert metrics["eval/delay_gap"] == pytest.approx(
        1 - metrics["eval/bits_per_frame"] / metrics["eval/far/bits_per_frame"]
    )
    assert metrics["eval/state_removed/bits_per_frame"] > 0 and metrics["eval/own_inputs_removed/bits_per_frame"] > 0
    assert 0 <= metrics["eval/heads_acc_at_least_baseline"] <= metrics["eval/heads"] == 13
    assert metrics["train/frames_per_s"] > 0
    assert 0 < metrics["deploy/model_p50_ms"] < metrics["deploy/bot_frame_p50_ms"] <= metrics["deploy/bot_frame_p99_ms"]
