"""Charts of one game: the timeline (percent, stocks, positions over time)."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from workbench.replay.table import GameTable

TIMELINE_FIELDS = ("percent", "stocks", "x", "y")
MAX_TIMELINE_POINTS = 1500  # per player and field: keeps the inlined chart data small


def player_labels(table: GameTable) -> list[str]:
    """``"P1 Fox"`` for each player column block ``p0``, ``p1``, ... (port + character)."""
    return [f"P{info.port + 1} {info.character_name}" for info in table.meta.players]


def frame_window(table: GameTable, max_frames: int | None = None, start: int = 0) -> np.ndarray:
    """Row indices of playable frames (frame >= 0) from ``start``, at most ``max_frames``."""
    rows = np.flatnonzero(table.frames >= 0)[start:]
    return rows if max_frames is None else rows[:max_frames]


def timeline_frame(
    table: GameTable,
    max_frames: int | None = None,
    fields: tuple[str, ...] = TIMELINE_FIELDS,
    max_points: int = MAX_TIMELINE_POINTS,
) -> pd.DataFrame:
    """Long-form table (frame, seconds, player, field, value) of a game's first frames,
    subsampled to at most ``max_points`` rows per player and field."""
    rows = frame_window(table, max_frames)
    stride = max(1, int(np.ceil(len(rows) / max_points)))
    rows = rows[::stride]
    parts = []
    for index, label in enumerate(player_labels(table)):
        present = table.columns.get(f"p{index}_present")
        keep = rows if present is None else rows[present[rows]]
        for name in fields:
            values = table.columns[f"p{index}_{name}"][keep].astype(np.float64)
            parts.append(
                pd.DataFrame(
                    {  # rounded: the chart inlines these values as JSON
                        "frame": table.frames[keep],
                        "seconds": np.round(table.frames[keep] / 60.0, 3),
                        "player": label,
                        "field": name,
                        "value": np.round(values, 2),
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def game_timeline(table: GameTable, max_frames: int | None = None, width: int = 640) -> alt.FacetChart:
    """Percent, stocks and x/y position of each player against game time (seconds),
    one row per field with its own y scale."""
    data = timeline_frame(table, max_frames)
    return (
        alt.Chart(data)
        .mark_line(strokeWidth=1.5)
        .encode(
            x=alt.X("seconds:Q", title="game time (s)"),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("player:N", title="player"),
            tooltip=["player:N", "frame:Q", "field:N", alt.Tooltip("value:Q", format=".1f")],
        )
        .properties(width=width, height=90)
        .facet(
            row=alt.Row("field:N", title=None, sort=list(TIMELINE_FIELDS)),
            title="Game timeline",
        )
        .resolve_scale(y="independent")
    )
