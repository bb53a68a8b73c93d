"""Shared fixtures: the bundled replays (always there) and the shared corpus (optional)."""
from __future__ import annotations

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
