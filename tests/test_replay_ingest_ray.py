"""``workbench ingest --ray``: real Ray tasks on a local cluster (2 CPUs) give the same
store as a local ingest: the same manifest rows and the same per-game Parquet files."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from conftest import DATA, shared
from workbench.replay import FrameStore, IngestPolicy, ingest

ray = pytest.importorskip("ray")

# fields that describe the run, not the game: where the file was read from is the same
# path in both runs; nothing else may differ
POLICY = IngestPolicy(min_frames=0, cpu="any", max_players=4)


def _store_contents(root) -> tuple[list[dict], dict[str, tuple]]:
    store = FrameStore(root)
    manifest = sorted(store.manifest(), key=lambda r: r["md5"])
    games = {}
    for path in sorted((store.root / "games").glob("*.parquet")):
        parquet = pq.ParquetFile(path)
        games[path.name] = (parquet.schema_arrow.metadata, parquet.read())
    return manifest, games


@pytest.fixture(scope="module")
def local_ray():
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_ingest_of_the_shared_corpus_equals_a_local_ingest(local_ray, tmp_path):
    corpus = shared("games")
    local = ingest([corpus], tmp_path / "local", policy=POLICY, progress=False)
    remote = ingest([corpus], tmp_path / "ray", policy=POLICY, progress=False, ray_address="auto")
    assert local.summary == remote.summary and local.summary["ok"] > 30
    (local_rows, local_games), (ray_rows, ray_games) = (
        _store_contents(tmp_path / "local"),
        _store_contents(tmp_path / "ray"),
    )
    assert [dict(r, path=None) for r in local_rows] == [dict(r, path=None) for r in ray_rows]
    assert [r["path"] for r in local_rows] == [r["path"] for r in ray_rows]
    assert local_games.keys() == ray_games.keys() and len(local_games) == len(local_rows) - local.summary["error"]
    for name, (meta, table) in local_games.items():
        assert ray_games[name][0] == meta and ray_games[name][1].equals(table), name


def test_ray_ingest_of_the_bundled_games_equals_a_local_ingest(local_ray, tmp_path):
    """The same check on the bundled games and clips (fast), incremental runs included:
    a second Ray run finds every file in the manifest and reads none."""
    paths = [DATA / "games", DATA / "clips"]
    local = ingest(paths, tmp_path / "local", policy=POLICY, progress=False)
    remote = ingest(paths, tmp_path / "ray", policy=POLICY, progress=False, ray_address="auto")
    assert local.summary == remote.summary and remote.summary["ok"] >= 8
    (local_rows, local_games), (ray_rows, ray_games) = (
        _store_contents(tmp_path / "local"),
        _store_contents(tmp_path / "ray"),
    )
    assert local_rows == ray_rows
    assert local_games.keys() == ray_games.keys()
    for name, (meta, table) in local_games.items():
        assert ray_games[name][0] == meta and ray_games[name][1].equals(table), name
    again = ingest(paths, tmp_path / "ray", policy=POLICY, progress=False, ray_address="auto")
    assert again.cache_hits == len(again.rows) and again.summary == remote.summary
