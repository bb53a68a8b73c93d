"""Whole games (and live frames) to the arrays training reads, for one perspective."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.embed.config import EmbedConfig
from workbench.embed.controller import ControllerSpec, controller_from_columns
from workbench.embed.state import StateContext, StateLayout, embed_state
from workbench.replay.table import GameTable


@dataclass
class EmbeddedGame:
    """One game seen by one player. Row r of every array is frame ``frames[r]``."""

    frames: np.ndarray  # (N,) int32
    floats: np.ndarray  # (N, F) float32 post-frame state
    ids: np.ndarray  # (N, K) int32 learned-embedding ids
    targets: np.ndarray  # (N, heads) int16: this player's controller at each frame
    controller: np.ndarray  # (N, 13) float32: the same controller decoded at bucket centres

    def __len__(self) -> int:
        return len(self.frames)


def opponent_of(table_players: int, perspective: int) -> int:
    if table_players < 2:
        raise ValueError("a perspective needs an opponent: the game has one player")
    return 1 - perspective if table_players == 2 else (perspective + 1) % table_players


def table_context(
    table: GameTable, perspective: int, item_slots: int, name_ids: tuple[int, int] = (0, 0)
) -> StateContext:
    """The state context of a stored game seen by player ``perspective``."""
    opp = opponent_of(table.num_players, perspective)
    ports = (table.meta.players[perspective].port, table.meta.players[opp].port)
    items = table.items.dense(max_items=max(item_slots, 1))
    return StateContext(table.columns, items, table.frames, table.meta.stage, perspective, opp, ports, name_ids)


def live_context(
    live, perspective: int, stage: int, ports: tuple[int, int], name_ids: tuple[int, int] = (0, 0)
) -> StateContext:
    """The state context of one live frame (:func:`workbench.replay.live.gamestate_blocks`)
    seen by player ``perspective``: its blocks joined into one row (``StateContext.flat``),
    so each group of features is one fancy index."""
    opp = opponent_of(len(live.players), perspective)
    me, them = live.nanas[perspective], live.nanas[opp]  # zeroed while Nana is absent
    flat = np.concatenate(
        [live.players[perspective], live.players[opp], me * me[:, -1:], them * them[:, -1:], live.item_block], axis=1
    )
    return StateContext({}, {}, np.array([live.frame]), stage, perspective, opp, ports, name_ids, flat=flat)


def embed_game(
    table: GameTable,
    config: EmbedConfig,
    perspective: int,
    layout: StateLayout | None = None,
    spec: ControllerSpec | None = None,
    name_ids: tuple[int, int] = (0, 0),
) -> EmbeddedGame:
    """Embed a whole game for one perspective; rows from frame 0 when the config skips
    the countdown."""
    layout = layout or StateLayout(config)
    spec = spec or ControllerSpec(config.controller)
    ctx = table_context(table, perspective, config.item_slots, name_ids)
    floats, ids = embed_state(ctx, layout)
    targets = spec.encode(controller_from_columns(table.columns, perspective))
    start = int(np.searchsorted(table.frames, 0)) if config.skip_countdown else 0
    return EmbeddedGame(
        table.frames[start:], floats[start:], ids[start:], targets[start:], spec.decode(targets[start:])
    )
