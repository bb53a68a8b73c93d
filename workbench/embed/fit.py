"""``workbench embed fit-sticks``: k-means stick centres fitted on replay data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from workbench.embed.controller import controller_from_columns, fit_stick_centers
from workbench.replay import FrameStore, ReplayError, find_replays, read_replay


def stick_samples(paths: list[str | os.PathLike], players: str = "humans") -> np.ndarray:
    """Raw controllers ``(N, 13)`` of every player in the replays (or stores) given,
    playable frames only."""
    chunks = []
    for path in paths:
        path = Path(path)
        if (path / "manifest.parquet").exists():
            store = FrameStore(path)
            tables = store.load_many([r["md5"] for r in store.games()])
        else:
            tables = []
            for file in find_replays([path]):
                try:
                    tables.append(read_replay(file))
                except ReplayError:
                    continue
        for table in tables:
            live = table.frames >= 0
            for index, player in enumerate(table.meta.players):
                if players == "humans" and player.type == "cpu":
                    continue
                chunks.append(controller_from_columns(table.columns, index)[live])
    if not chunks:
        raise ReplayError(str(paths[0]) if paths else "", "no readable replay among the paths given")
    return np.concatenate(chunks)


def fit_sticks(paths: list[str | os.PathLike], k: int = 21, seed: int = 0, uniform_buckets: int = 17) -> dict:
    raw = stick_samples(paths)
    return fit_stick_centers(raw[:, 0:2], raw[:, 2:4], k=k, seed=seed, uniform_buckets=uniform_buckets)
