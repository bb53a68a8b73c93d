"""The per-game frame table: one row per finalized frame, typed columns, game metadata.

Both parsers (peppi-py and the py-slippi fallback) fill a :class:`GameTable` through
:func:`build_table`, so the schema, the defaults for fields a Slippi version does not
record, and the rollback resolution are written once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from workbench.types import ITEM_FIELDS, MAX_ITEMS, PLAYER_FIELDS, GameMeta

SCHEMA_VERSION = 1
META_KEY = b"workbench.meta"


@dataclass
class Items:
    """Items and projectiles as per-frame lists: frame ``r`` holds the entries
    ``offsets[r]:offsets[r + 1]`` of every flat array in ``fields`` (in event order).

    Kept ragged because most frames hold 0 to 2 items; :meth:`dense` gives the fixed
    ``(frames, MAX_ITEMS)`` slots the embedder and libmelee use."""

    offsets: np.ndarray  # (N + 1,) int64
    fields: dict[str, np.ndarray]  # name in ITEM_FIELDS (not "present") -> (total,)

    @classmethod
    def empty(cls, n: int) -> "Items":
        return cls(
            np.zeros(n + 1, dtype=np.int64),
            {name: np.zeros(0, dtype=dtype) for name, (dtype, _) in ITEM_FIELDS.items() if name != "present"},
        )

    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, rows: np.ndarray) -> "Items":
        """The lists of the frames ``rows``, in that order."""
        starts, counts = self.offsets[rows], self.counts()[rows]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        src = np.repeat(starts - offsets[:-1], counts) + np.arange(int(offsets[-1]))
        return Items(offsets, {name: values[src] for name, values in self.fields.items()})

    def dense(self, max_items: int = MAX_ITEMS) -> dict[str, np.ndarray]:
        """``item_{field}`` arrays of shape (frames, max_items), packed from slot 0."""
        n = len(self.offsets) - 1
        out = {
            f"item_{name}": np.full((n, max_items), default, dtype=dtype)
            for name, (dtype, default) in ITEM_FIELDS.items()
        }
        counts = np.minimum(self.counts(), max_items)
        total = int(counts.sum())
        if total:
            row_of = np.repeat(np.arange(n), counts)
            slot = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            src = np.repeat(self.offsets[:-1], counts) + slot
            out["item_present"][row_of, slot] = True
            for name, values in self.fields.items():
                out[f"item_{name}"][row_of, slot] = values[src]
        return out


@dataclass
class GameTable:
    """A parsed game. ``columns`` maps names to arrays of length ``len(frames)``:
    ``p{i}_{field}`` per player (i = 0 for the lowest occupied port) with ``p{i}_present``
    (False once a player of a 3-4 player game is out); ``p{i}_nana_{field}`` and
    ``p{i}_nana_present`` for Ice Climbers' follower (only when the player has one).
    ``items`` holds the items and projectiles of each frame."""

    meta: GameMeta
    frames: np.ndarray  # (N,) int32 frame index, from -123 up
    columns: dict[str, np.ndarray]
    items: Items
    parser: str = "peppi"  # "peppi", "peppi-repaired" (see replay.repair) or "py-slippi"

    @property
    def num_players(self) -> int:
        return len(self.meta.players)

    def __len__(self) -> int:
        return len(self.frames)

    def has_nana(self, index: int) -> bool:
        return f"p{index}_nana_present" in self.columns

    def player(self, index: int, nana: bool = False) -> dict[str, np.ndarray]:
        """One player's columns without the prefix: ``table.player(0)["x"]``.

        For a player without a Nana, ``nana=True`` gives the schema defaults."""
        prefix = f"p{index}_nana_" if nana else f"p{index}_"
        if nana and not self.has_nana(index):
            return {name: np.full(len(self), default, dtype=dtype) for name, (dtype, default) in PLAYER_FIELDS.items()}
        return {name: self.columns[prefix + name] for name in PLAYER_FIELDS}


def resolve_rollback(frame_ids: np.ndarray) -> np.ndarray | None:
    """Row indices keeping the last (finalized) copy of each frame, in frame order.

    Netplay replays record a frame again each time it is re-simulated after a rollback;
    the last copy is the one the game settled on. Returns None when nothing repeats.
    """
    if len(frame_ids) < 2 or bool(np.all(np.diff(frame_ids) == 1)):
        return None
    reversed_ids = frame_ids[::-1]
    _, first_in_reversed = np.unique(reversed_ids, return_index=True)
    return (len(frame_ids) - 1 - first_in_reversed).astype(np.int64)


def player_block(
    fields: dict[str, np.ndarray | None], n: int, present: np.ndarray | None, missing: set[str]
) -> dict[str, np.ndarray]:
    """Cast one player's fields to the schema dtypes, filling absent ones with defaults.

    ``fields`` holds reader output (None where the version does not record a field);
    ``present`` masks rows where the character exists (Nana can be dead). Names of fields
    the version lacks are added to ``missing``.
    """
    out: dict[str, np.ndarray] = {}
    for name, (dtype, default) in PLAYER_FIELDS.items():
        values = fields.get(name)
        if values is None:
            missing.add(name)
            out[name] = np.full(n, default, dtype=dtype)
            continue
        arr = np.asarray(values)
        if arr.dtype != np.dtype(dtype):
            arr = arr.astype(dtype)
        if present is not None and not present.all():
            arr = np.where(present, arr, np.asarray(default, dtype=dtype))
        out[name] = arr
    return out


def to_arrow(table: GameTable) -> pa.Table:
    """Arrow table with the metadata in the schema.

    Items are list columns sharing the frame offsets, and an all-true ``p{i}_present``
    is left out (:func:`from_arrow` restores it): fewer, smaller columns make Parquet
    both smaller and faster to decode.
    """
    arrays, names = [pa.array(table.frames, type=pa.int32())], ["frame"]
    for name, values in table.columns.items():
        if name.endswith("_present") and "_nana_" not in name and values.all():
            continue
        arrays.append(pa.array(values))
        names.append(name)
    offsets = pa.array(table.items.offsets.astype(np.int32))
    for name, values in table.items.fields.items():
        arrays.append(pa.ListArray.from_arrays(offsets, pa.array(values)))
        names.append(f"item_{name}")
    meta = {"schema_version": SCHEMA_VERSION, "parser": table.parser, "meta": table.meta.to_dict()}
    schema = pa.schema(
        [pa.field(n, a.type) for n, a in zip(names, arrays)], metadata={META_KEY: json.dumps(meta).encode()}
    )
    return pa.Table.from_arrays(arrays, schema=schema)


def from_arrow(arrow: pa.Table) -> GameTable:
    """Inverse of :func:`to_arrow`; arrays are zero-copy views where Arrow allows."""
    info = json.loads(arrow.schema.metadata[META_KEY])
    meta = GameMeta.from_dict(info["meta"])
    columns: dict[str, np.ndarray] = {}
    items = None
    for name, column in zip(arrow.column_names, arrow.columns):
        chunk = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if pa.types.is_list(chunk.type):
            if items is None:
                offsets = chunk.offsets.to_numpy().astype(np.int64)
                items = Items(offsets - offsets[0], {})
            items.fields[name[len("item_") :]] = chunk.values.to_numpy(zero_copy_only=False)
        else:
            columns[name] = chunk.to_numpy(zero_copy_only=False)
    frames = columns.pop("frame")
    for index in range(len(meta.players)):
        if f"p{index}_present" not in columns and f"p{index}_x" in columns:
            columns[f"p{index}_present"] = np.ones(len(frames), dtype=bool)
    return GameTable(meta, frames, columns, items or Items.empty(len(frames)), info.get("parser", "?"))


@dataclass
class PlayerFrames:
    """One port's reader output: leader fields, and Nana's when the port has a follower."""

    leader: dict[str, np.ndarray | None]
    leader_present: np.ndarray | None = None  # False on frames the port sent nothing
    follower: dict[str, np.ndarray | None] | None = None
    follower_present: np.ndarray | None = None


def assemble(meta: GameMeta, frames: np.ndarray, players: list[PlayerFrames], items: Items, parser: str) -> GameTable:
    """Build the typed table from reader output, shared by both parsers."""
    n = len(frames)
    columns: dict[str, np.ndarray] = {}
    missing: set[str] = set()
    for index, pf in enumerate(players):
        present = np.ones(n, bool) if pf.leader_present is None else pf.leader_present
        for name, arr in player_block(pf.leader, n, present, missing).items():
            columns[f"p{index}_{name}"] = arr
        columns[f"p{index}_present"] = np.asarray(present, dtype=bool)
        if pf.follower is not None and pf.follower_present.any():
            # Nana's columns exist only for Ice Climbers, so most games carry none
            nana = player_block(pf.follower, n, pf.follower_present, set())
            for name, arr in nana.items():
                columns[f"p{index}_nana_{name}"] = arr
            columns[f"p{index}_nana_present"] = np.asarray(pf.follower_present, dtype=bool)
    meta.missing_fields = sorted(missing)
    meta.first_frame = int(frames[0]) if n else meta.first_frame
    meta.last_frame = int(frames[-1]) if n else meta.first_frame - 1
    if meta.winner_port is None and n:
        meta.winner_port = _winner(meta, columns)
    return GameTable(meta, frames.astype(np.int32), columns, items, parser)


def _winner(meta: GameMeta, columns: dict[str, np.ndarray]) -> int | None:
    """Winner's port: placement 0 when recorded, else most stocks then least percent."""
    if meta.placements:
        firsts = [port for port, place in meta.placements.items() if place == 0]
        if len(firsts) == 1:
            return firsts[0]
    if meta.end_method == "no_contest" or meta.is_teams:
        return None
    ranked = sorted(
        (
            (int(columns[f"p{i}_stocks"][-1]), -float(columns[f"p{i}_percent"][-1]), p.port)
            for i, p in enumerate(meta.players)
        ),
        reverse=True,
    )
    if len(ranked) > 1 and ranked[0][:2] == ranked[1][:2]:
        return None
    return ranked[0][2]
