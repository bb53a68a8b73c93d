"""Shared fixtures: the bundled replays (always there) and the shared corpus (optional)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "replays"
SHARED = Path(os.environ.get("WORKBENCH_SHARED_REPLAYS", ROOT.parent / "shared" / "replays"))


def bundled(name: str) -> Path:
    path = DATA / name
    assert path.exists(), f"bundled replay missing: {path}"
    return path


def tiny_experiment(tmp: Path, out: str, backbone: dict, *overrides: str, data: Path | None = None):
    """An experiment on the bundled games: store and cache under ``data`` (default
    ``tmp``), the run in ``tmp / out``, the policy's backbone ``backbone``, then
    ``overrides`` (``key=value`` strings)."""
    from workbench.train import load_experiment

    data = data or tmp
    return load_experiment(
        None,
        [
            f"replays={[str(DATA / 'games')]}",
            f"store={data / 'store'}",
            f"cache={data / 'cache'}",
            f"out={tmp / out}",
            f"policy.backbone={json.dumps(backbone)}",
            *overrides,
        ],
    )


def shared(name: str) -> Path:
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"shared corpus not available: {path}")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def bundled_store(tmp_path_factory) -> Path:
    """The bundled replays ingested once per session (read-only for tests)."""
    from workbench.replay import ingest

    out = tmp_path_factory.mktemp("store")
    ingest([DATA], out, workers=1, progress=False)
    return out
