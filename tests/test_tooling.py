"""The tooling a contributor relies on: ruff's lint rules pass on the tree (``make lint``,
which ``make test`` runs first), the pre-commit hooks name tools the dev extra installs,
and ``make lab`` opens the notebooks folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _dev_extra() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=\[ ]", dep)[0].lower() for dep in project["optional-dependencies"]["dev"]]


def test_dev_extra_declares_the_tools():
    assert {"ruff", "nbstripout", "pre-commit", "jupyterlab"} <= set(_dev_extra())


def _ruff(*args: str) -> subprocess.CompletedProcess:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff not installed: `make venv` installs the dev extra")
    return subprocess.run([str(ruff), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_check_passes():
    run = _ruff("check", "--output-format", "concise", ".")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]


def test_ruff_format_check_passes():
    run = _ruff("format", "--check", ".")
    assert run.returncode == 0, "run `make format`:\n" + run.stdout[-3000:] + run.stderr[-1000:]


def test_pre_commit_hooks_strip_notebooks_and_lint():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {h["id"]: h for repo in config["repos"] for h in repo["hooks"]}
    assert {"nbstripout", "ruff"} <= set(hooks)
    assert re.search(hooks["nbstripout"]["files"], "notebooks/train.ipynb")
    for hook in hooks.values():  # each entry is a tool the dev extra installs in .venv
        tool = Path(hook["entry"].split()[0]).name
        assert tool in _dev_extra(), tool


def test_make_lab_opens_the_notebooks():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not installed")
    run = subprocess.run(
        [make, "-n", "-o", ".venv/.installed", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "jupyter lab --notebook-dir=notebooks" in run.stdout
    assert any(p.suffix == ".ipynb" for p in (ROOT / "notebooks").iterdir())
