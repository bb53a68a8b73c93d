"""Sweeps: grid expansion and names, retries, resume, aggregation, Ray task construction,
and the real `workbench sweep` over explore_replays.ipynb."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from workbench.report import (
    ArmResult,
    ArmTask,
    SweepError,
    arm_name,
    expand_grid,
    parse_grid,
    ray_task_options,
    run_ray,
    run_sweep,
)
from workbench.report.sweep import execute_arm, one_line_error, ran_to_the_end
from conftest import DATA, ROOT

NOTEBOOK = ROOT / "notebooks" / "explore_replays.ipynb"


# ---- grid files -----------------------------------------------------------------------


def test_grid_is_cross_product_plus_explicit_arms():
    grid = parse_grid(
        {
            "parameters": {"epochs": 1},
            "grid": {"seed": [0, 1], "backbone": ["gru", "mamba"]},
            "arms": [
                {"backbone": "transformer", "seed": 0},
                {"seed": 1, "backbone": "gru"},
            ],  # duplicate of a grid cell
            "resources": {"num_gpus": 1},
        }
    )
    arms = expand_grid(grid)
    assert [a.name for a in arms] == [
        "backbone=gru__seed=0",
        "backbone=mamba__seed=0",
        "backbone=gru__seed=1",
        "backbone=mamba__seed=1",
        "backbone=transformer__seed=0",
    ]
    assert all(a.parameters["epochs"] == 1 and a.num_gpus == 1 and a.num_cpus == 1 for a in arms)
    assert arms[-1].varying == {"backbone": "transformer", "seed": 0}
    assert expand_grid(grid, num_cpus=4, num_gpus=0)[0].num_cpus == 4
    assert [a.name for a in expand_grid(parse_grid({"parameters": {"x": 1}}))] == ["default"]


def test_arm_names_are_deterministic_and_file_safe():
    assert arm_name({"seed": 1, "backbone": "gru"}) == "backbone=gru__seed=1"
    odd = arm_name({"path": "../data/x y", "dims": [64, 128]})
    assert odd == arm_name({"dims": [64, 128], "path": "../data/x y"})
    assert "/" not in odd and " " not in odd and "~" in odd  # sanitised, so hashed
    assert arm_name({"path": "a/b"}) != arm_name({"path": "a-b"})
    assert len(arm_name({"text": "x" * 500})) <= 130


@pytest.mark.parametrize(
    "data, message",
    [
        ({"grid": {"seed": []}}, "non-empty list"),
        ({"grid": {"seed": 3}}, "non-empty list"),
        ({"arms": ["gru"]}, "mapping of parameters"),
        ({"grids": {}}, "unknown keys"),
        ({"resources": {"memory": 3}}, "num_cpus and num_gpus"),
    ],
)
def test_bad_grids_say_what_is_wrong(data, message):
    with pytest.raises(SweepError, match=message):
        parse_grid(data)


def test_one_line_error():
    class Fake(Exception):
        ename, evalue, exec_count = "ValueError", "bad\n\x1b[0;31mthing\x1b[0m", 4

    assert one_line_error(Fake()) == "ValueError: bad thing (cell [4])"
    assert len(one_line_error(RuntimeError("x" * 1000))) == 300


# ---- a toy notebook: fast arms, a counter of attempts --------------------------------


def toy_notebook(path: Path) -> Path:
    cells = [
        nbformat.v4.new_code_cell(
            'x = 1\nseed = 0\nfail = False\nattempts_file = ""\nsleep_s = 0\nmetrics_path = ""',
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_code_cell(
            "import time\nfrom pathlib import Path\nfrom workbench.report import record_metrics\n"
            "if attempts_file:\n    Path(attempts_file).open('a').write('.')\n"
            "time.sleep(sleep_s)\n"
            "assert not fail, 'asked to fail'\n"
            "record_metrics({'y': 10 * x + seed}, metrics_path or None, prefix='toy')"
        ),
    ]
    nb = nbformat.v4.new_notebook(
        cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    )
    nbformat.write(nb, path)
    return path


def test_retries_resume_and_results(tmp_path):
    notebook = toy_notebook(tmp_path / "toy.ipynb")
    attempts = tmp_path / "attempts.txt"
    grid = parse_grid(
        {"parameters": {"attempts_file": str(attempts)}, "grid": {"x": [1, 2]}, "arms": [{"x": 3, "fail": True}]}
    )
    out = tmp_path / "runs"
    results = run_sweep(notebook, grid, out, retries=2)
    by_name = {r.arm: r for r in results}
    assert by_name["x=1"].status == "ok" and by_name["x=1"].metrics == {"toy/y": 10}
    bad = by_name["fail=True__x=3"]
    assert bad.status == "failed" and bad.attempts == 3
    assert bad.error.startswith("AssertionError: asked to fail")
    assert attempts.read_text() == "." * (2 + 3)
    assert json.loads((out / "x=2.metrics.json").read_text())["metrics"] == {"toy/y": 20}
    # rerun: finished arms are skipped, the failed one is tried again
    before = (out / "x=1.ipynb").stat().st_mtime_ns
    again = run_sweep(notebook, grid, out, retries=0)
    assert [r.status for r in again] == ["skipped", "skipped", "failed"]
    assert (out / "x=1.ipynb").stat().st_mtime_ns == before
    assert attempts.read_text() == "." * 6


def test_changed_parameters_rerun_an_arm(tmp_path):
    notebook = toy_notebook(tmp_path / "toy.ipynb")
    out = tmp_path / "runs"
    run_sweep(notebook, parse_grid({"grid": {"x": [1]}}), out)
    rerun = run_sweep(notebook, parse_grid({"parameters": {"seed": 5}, "grid": {"x": [1]}}), out)
    assert rerun[0].status == "ok" and rerun[0].metrics == {"toy/y": 15}


def test_cell_timeout_fails_the_arm(tmp_path):
    notebook = toy_notebook(tmp_path / "toy.ipynb")
    (result,) = run_sweep(notebook, parse_grid({"arms": [{"sleep_s": 30}]}), tmp_path / "runs", timeout_s=2)
    assert result.status == "failed" and "CellTimeoutError" in result.error
    assert result.seconds < 25


def test_ran_to_the_end(tmp_path):
    cells = [
        nbformat.v4.new_code_cell("a = 1", execution_count=1),
        nbformat.v4.new_code_cell("   "),  # empty cells are never run
        nbformat.v4.new_code_cell("b = 2", execution_count=2),
    ]
    path = tmp_path / "done.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    assert ran_to_the_end(path)
    cells[2].execution_count = None
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    assert not ran_to_the_end(path) and not ran_to_the_end(tmp_path / "missing.ipynb")
    cells[2].execution_count = 2
    cells[2].outputs = [nbformat.v4.new_output("error", ename="E", evalue="x", traceback=[])]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    assert not ran_to_the_end(path)


def test_missing_notebook_is_a_sweep_error(tmp_path):
    with pytest.raises(SweepError, match="no such notebook"):
        run_sweep(tmp_path / "nope.ipynb", parse_grid({}), tmp_path / "out")


# ---- Ray: the task construction, with a fake ray module -------------------------------


class FakeRay:
    """Records what the sweep asks of Ray; 'runs' a task by calling a stand-in."""

    def __init__(self, run):
        self.run, self.address, self.submitted = run, None, []

    def is_initialized(self):
        return self.address is not None

    def init(self, address):
        self.address = address

    def remote(self, function):
        fake = self

        class Options:
            def __init__(self, options):
                self.options_ = options

            def remote(self, task):
                fake.submitted.append((function, self.options_, task))
                return len(fake.submitted) - 1

        class Remote:
            def options(self, **options):
                return Options(options)

        return Remote()

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return self.run(self.submitted[ref][2])


def test_ray_tasks_carry_resources_and_results(tmp_path):
    grid = parse_grid({"grid": {"seed": [0, 1]}, "resources": {"num_cpus": 2, "num_gpus": 1}})
    tasks = [ArmTask(arm, "{}", str(tmp_path), retries=1) for arm in expand_grid(grid)]

    def run(task):
        if task.arm.name == "seed=1":
            raise RuntimeError("node died")
        return ArmResult(task.arm.name, "ok", 1, "", 0.1, task.arm.parameters, {"m": 1})

    ray = FakeRay(run)
    results = list(run_ray(tasks, "ray://head:10001", ray=ray))
    assert ray.address == "ray://head:10001"
    assert [function for function, _, _ in ray.submitted] == [execute_arm, execute_arm]
    assert [options for _, options, _ in ray.submitted] == [
        {"num_cpus": 2.0, "num_gpus": 1.0, "max_retries": 0, "name": "sweep:seed=0"},
        {"num_cpus": 2.0, "num_gpus": 1.0, "max_retries": 0, "name": "sweep:seed=1"},
    ]
    assert ray_task_options(tasks[0].arm) == ray.submitted[0][1]
    assert [(r.arm, r.status) for r in results] == [("seed=0", "ok"), ("seed=1", "failed")]
    assert results[1].error == "RuntimeError: node died"


def test_sweep_through_fake_ray_writes_results(tmp_path, monkeypatch):
    from workbench.report import sweep as sweep_module

    notebook = toy_notebook(tmp_path / "toy.ipynb")
    ray = FakeRay(execute_arm)  # runs the real arm in-process
    monkeypatch.setattr(sweep_module, "import_ray", lambda: ray)
    results = run_sweep(notebook, parse_grid({"grid": {"x": [4]}}), tmp_path / "runs", ray_address="auto")
    assert ray.address == "auto" and results[0].metrics == {"toy/y": 40}
    assert (tmp_path / "runs" / "x=4.ipynb").exists()


def test_ray_missing_is_a_clear_error(tmp_path):
    notebook = toy_notebook(tmp_path / "toy.ipynb")
    # sys.modules['ray'] = None: the import fails as if ray were not installed
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['ray'] = None\nfrom workbench.cli import main; sys.exit(main(sys.argv[1:]))",
            "sweep",
            str(notebook),
            "--grid",
            str(write_grid(tmp_path, {})),
            "--out",
            str(tmp_path / "runs"),
            "--ray",
            "auto",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "pip install 'exphil-workbench[ray]'" in run.stderr
    assert "Traceback" not in run.stderr


def write_grid(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# ---- the real CLI over the real notebook ---------------------------------------------


def workbench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_sweep_cli_over_explore_notebook(tmp_path):
    """2 x 2 arms over (game_index, max_frames), one pointing at a missing replay folder."""
    grid = write_grid(
        tmp_path,
        {
            "parameters": {"store": str(tmp_path / "store"), "replays": str(DATA), "heatmap_games": 2},
            "grid": {"game_index": [0], "max_frames": [60, 120]},
            "arms": [
                {"game_index": 1, "max_frames": 60},
                {"game_index": 1, "max_frames": 120, "replays": str(tmp_path / "missing")},
            ],
        },
    )
    out, report = tmp_path / "papermill_runs" / "explore", tmp_path / "reports" / "explore"
    args = (
        "sweep",
        str(NOTEBOOK),
        "--grid",
        str(grid),
        "--out",
        str(out),
        "--report",
        str(report),
        "--workers",
        "2",
        "--retries",
        "1",
        "--timeout",
        "300",
    )
    run = workbench(*args)
    assert run.returncode == 1, run.stderr  # one arm failed
    assert "4 arms: 3 ok, 1 failed" in run.stdout
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 4 and set(pd.read_parquet(out / "results.parquet")["arm"]) == set(results["arm"])
    good = results[results["status"] == "ok"]
    assert len(good) == 3 and (good["attempts"] == 1).all()
    assert (good["explore/games_ok"] > 0).all() and (good["explore/game_frames"] > 0).all()
    bad = results[results["status"] == "failed"].iloc[0]
    assert bad["attempts"] == 2 and "MissingPathError" in bad["error"] and "missing" in bad["error"]
    assert pd.isna(bad["explore/games_ok"])
    assert (report / "index.html").exists()
    assert len(list((report / "arms").glob("*.html"))) == 4
    # resume: the three finished arms are skipped, the failed one retried
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.ipynb")}
    again = workbench(*args)
    assert again.returncode == 1 and "(3 finished before)" in again.stdout
    assert again.stdout.count("skipped") == 3
    for name, mtime in mtimes.items():
        if "missing" not in name:
            assert (out / name).stat().st_mtime_ns == mtime
    status = json.loads(next(out.glob("*missing*.status.json")).read_text())
    assert status["status"] == "failed" and status["attempts"] == 2


def test_bad_grid_file_is_one_line(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("grid: {seed: [}\n")
    run = workbench("sweep", str(NOTEBOOK), "--grid", str(grid), "--out", str(tmp_path / "o"))
    assert run.returncode == 2 and "not valid YAML" in run.stderr and "Traceback" not in run.stderr


def test_our_kernels_do_not_print_the_tcp_warning(tmp_path):
    notebook = toy_notebook(tmp_path / "toy.ipynb")
    grid = tmp_path / "grid.yaml"
    grid.write_text("arms:\n  - {x: 4}\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "sweep",
            str(notebook),
            "--grid",
            str(grid),
            "--out",
            str(tmp_path / "runs"),
            "--no-report",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "ok       x=4" in run.stdout and "without encryption" not in run.stderr


@pytest.mark.parametrize("grid_file", sorted((ROOT / "notebooks" / "grids").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_grids_name_only_notebook_parameters_and_real_backbones(grid_file):
    """Every grid in notebooks/grids runs against ablation.ipynb as written: its parameters
    are the notebook's, its backbones are registered, its replay folder is the bundled or
    the shared corpus."""
    from workbench.models.backbones.registry import BACKBONES
    from workbench.report.sweep import check_parameters, load_grid

    grid = load_grid(grid_file)
    check_parameters(ROOT / "notebooks" / "ablation.ipynb", grid)
    arms = expand_grid(grid)
    assert arms and len({arm.name for arm in arms}) == len(arms)
    for arm in arms:
        assert arm.parameters.get("backbone", "gru") in BACKBONES
        assert arm.parameters["replays"] in ("../data/replays/games", "../../shared/replays/games")


def test_an_arm_kernel_gets_as_many_math_threads_as_its_cpus():
    from workbench.report.sweep import kernel_environment

    env = kernel_environment("arm.metrics.json", num_cpus=2)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "2"
    assert env["PYTHONPATH"].split(":")[0] == str(ROOT)
    assert "OMP_NUM_THREADS" not in kernel_environment("arm.metrics.json")
