"""Controller-input charts: where each character holds the main stick."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import altair as alt
import numpy as np
import pandas as pd

from workbench.replay.table import GameTable
from workbench.types import internal_character_name


def stick_histograms(tables: Iterable[GameTable], bins: int = 21, stick: str = "stick") -> pd.DataFrame:
    """2-D histograms of main-stick positions (``stick="cstick"`` for the C-stick), one per
    character (per frame: Zelda and Sheik apart), over the playable frames of every player
    of every table.

    Returns one row per (character, x bin, y bin) with a non-zero count: columns
    ``character, x, x2, y, y2, frames, share`` where ``share`` is the fraction of that
    character's frames in the cell. Bins are equal over [-1, 1]; an odd ``bins`` keeps a
    centre cell for the neutral stick."""
    edges = np.linspace(-1.0, 1.0, bins + 1)
    counts: dict[str, np.ndarray] = defaultdict(lambda: np.zeros((bins, bins), np.int64))
    for table in tables:
        playable = table.frames >= 0
        for index in range(table.num_players):
            keep = playable & table.columns.get(f"p{index}_present", playable)
            # per-frame character, so Zelda's and Sheik's inputs stay apart after a transform
            character = table.columns[f"p{index}_character"]
            for internal_id in np.unique(character[keep]):
                rows = keep & (character == internal_id)
                x = table.columns[f"p{index}_{stick}_x"][rows]
                y = table.columns[f"p{index}_{stick}_y"][rows]
                hist, _, _ = np.histogram2d(x, y, bins=(edges, edges))  # (bins, bins)
                counts[internal_character_name(int(internal_id))] += hist.astype(np.int64)
    parts = []
    for character, hist in sorted(counts.items()):
        ix, iy = np.nonzero(hist)
        total = max(int(hist.sum()), 1)
        parts.append(
            pd.DataFrame(
                {
                    "character": character,
                    "x": edges[ix],
                    "x2": edges[ix + 1],
                    "y": edges[iy],
                    "y2": edges[iy + 1],
                    "frames": hist[ix, iy],
                    "share": hist[ix, iy] / total,
                }
            )
        )
    columns = ["character", "x", "x2", "y", "y2", "frames", "share"]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def stick_heatmap(histograms: pd.DataFrame, columns: int = 4, size: int = 160) -> alt.FacetChart:
    """Heatmaps of :func:`stick_histograms`, one panel per character, log colour scale
    (the neutral cell holds most frames and would wash out everything else)."""
    scale = alt.Scale(domain=[-1, 1], nice=False)
    return (
        alt.Chart(histograms)
        .mark_rect()
        .encode(
            x=alt.X("x:Q", scale=scale, title="stick x"),
            x2="x2:Q",
            y=alt.Y("y:Q", scale=scale, title="stick y"),
            y2="y2:Q",
            color=alt.Color(
                "share:Q",
                scale=alt.Scale(type="log", scheme="viridis"),
                legend=alt.Legend(format=".1%"),
                title="share of frames",
            ),
            tooltip=[
                "character:N",
                alt.Tooltip("x:Q", format=".2f"),
                alt.Tooltip("y:Q", format=".2f"),
                "frames:Q",
                alt.Tooltip("share:Q", format=".2%"),
            ],
        )
        .properties(width=size, height=size)
        .facet(facet=alt.Facet("character:N", title=None), columns=columns, title="Main-stick positions per character")
    )


def neutral_share(histograms: pd.DataFrame) -> float:
    """Fraction of all frames whose stick sits in the centre cell (0 when empty)."""
    if histograms.empty:
        return 0.0
    centre = (histograms["x"] < 0) & (histograms["x2"] > 0) & (histograms["y"] < 0) & (histograms["y2"] > 0)
    return float(histograms.loc[centre, "frames"].sum() / histograms["frames"].sum())
