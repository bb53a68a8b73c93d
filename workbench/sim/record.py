"""Simulated games into the frame store: the same Parquet schema and manifest as replays.

:class:`GameRecorder` keeps each game's frames as the env returns them and, when a game
ends, builds its :class:`~workbench.replay.table.GameTable` (frame 0 is the first
simulated frame; no countdown). :func:`write_games` writes tables into a store folder
with manifest rows, so ``FrameStore(path)``, the explore notebook and the replay
explorer open a simulated game like any replay.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from workbench.sim.frames import Frames
from workbench.types import INTERNAL_TO_EXTERNAL, GameMeta, PlayerInfo

SCHEMA_VERSION = "3.18.0"  # every field of the schema is filled, as in a 3.18 replay


class GameRecorder:
    """Collects frames of N games (``add`` after each step) and cuts finished games."""

    def __init__(self, num_games: int, stage: int, names: tuple[str, str] = ("p1", "p2")):
        self.num_games, self.stage, self.names = num_games, stage, names
        self.rows: list[dict[str, np.ndarray]] = []
        self.start = np.zeros(num_games, np.int64)  # row where each game's current run starts

    def add(self, frames: Frames) -> None:
        self.rows.append({"frame": frames.frame, **frames.columns})

    def restart(self, games: np.ndarray) -> None:
        """Games that begin again from the next added row."""
        self.start[games] = len(self.rows)

    def table(self, game: int, winner: int, timed_out: bool, seed: int = 0):
        """The GameTable of ``game``'s current run (rows since its last restart)."""
        from workbench.replay.table import GameTable, Items

        rows = self.rows[int(self.start[game]) :]
        columns = {name: np.array([r[name][game] for r in rows]) for name in rows[0]}
        frames = columns.pop("frame")
        players = []
        for p in range(2):
            internal = int(columns[f"p{p}_character"][0])
            players.append(
                PlayerInfo(
                    port=p, character=INTERNAL_TO_EXTERNAL.get(internal, 0), type="cpu", netplay_name=self.names[p]
                )
            )
        meta = GameMeta(
            slippi_version=SCHEMA_VERSION,
            stage=self.stage,
            players=players,
            mode="sim",
            played_on="workbench-sim",
            end_method="time" if timed_out else "game",
            winner_port=winner if winner in (0, 1) else None,
            placements={winner: 0, 1 - winner: 1} if winner in (0, 1) else {},
        )
        meta.first_frame, meta.last_frame = int(frames[0]), int(frames[-1])
        return GameTable(meta, frames.astype(np.int32), columns, Items.empty(len(frames)), "sim")

    def trim(self) -> None:
        """Drop rows no game needs any more (before the earliest current run)."""
        keep = int(self.start.min())
        if keep:
            self.rows = self.rows[keep:]
            self.start -= keep


def game_md5(table, salt: str) -> str:
    digest = hashlib.md5(salt.encode())
    for name in ("p0_x", "p0_y", "p1_x", "p1_y", "p0_buttons", "p1_buttons"):
        digest.update(np.ascontiguousarray(table.columns[name]).tobytes())
    return digest.hexdigest()


def write_games(store_dir: str | Path, tables: list, salt: str = "sim") -> list[dict]:
    """Write tables into a store folder (games + manifest rows); returns the rows."""
    from workbench.replay.ingest import _row
    from workbench.replay.store import FrameStore

    store = FrameStore(store_dir)
    rows = []
    for k, table in enumerate(tables):
        md5 = game_md5(table, f"{salt}:{k}")
        store.write_game(md5, table)
        row = _row(Path(f"sim/{md5}.sim"), md5, table, parser="sim")
        row["path"] = f"sim:{salt}:{k}"
        row["file"] = f"games/{md5}.parquet"
        rows.append(row)
    if rows:
        store.merge_manifest(rows)
    return rows
