"""Attention charts over :mod:`workbench.eval.attention` tables."""
from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from workbench.eval.attention import AttentionTrace


def offset_chart(table: pd.DataFrame, title: str = "mean attention by frames back") -> alt.Chart:
    """One line per head, one panel per layer: where attention goes on average."""
    return alt.Chart(table, title=title).mark_line().encode(
        x=alt.X("frames_back:Q", title="frames back"), y=alt.Y("weight:Q", title="mean weight"),
        color="head:N", facet=alt.Facet("layer:N", columns=3),
        tooltip=["layer", "head", "frames_back", alt.Tooltip("weight:Q", format=".4f")],
    ).properties(width=220, height=150)


def event_chart(table: pd.DataFrame, layer: int = 0) -> alt.Chart:
    """Attention by frames back around events (hits, shield, action changes) versus all
    frames, one panel per head of one layer."""
    data = table[table["layer"] == layer]
    return alt.Chart(data, title=f"layer {layer}: attention around events").mark_line().encode(
        x=alt.X("frames_back:Q"), y=alt.Y("weight:Q"), color="event:N",
        facet=alt.Facet("head:N", columns=4),
        tooltip=["event", "head", "frames_back", alt.Tooltip("weight:Q", format=".4f")],
    ).properties(width=170, height=130)


def entropy_chart(table: pd.DataFrame) -> alt.Chart:
    """Mean entropy per head (bars) against uniform attention's (ticks)."""
    base = alt.Chart(table, title="attention entropy per head (nats)").encode(
        x=alt.X("head:N"), tooltip=["layer", "head", alt.Tooltip("entropy:Q", format=".3f"),
                                    alt.Tooltip("max:Q", format=".3f")])
    bars = base.mark_bar().encode(y="entropy:Q")
    ticks = base.mark_tick(color="black", thickness=2, size=18).encode(y="max:Q")
    return (bars + ticks).properties(width=120, height=150).facet(column="layer:N")


def heatmap(trace: AttentionTrace, layer: int = 0, head: int = 0, max_steps: int = 240) -> alt.Chart:
    """Step (row) by frames back (column) weights of one head."""
    weights = trace.weights[layer][head][:max_steps]                         # (T, W)
    t, w = np.meshgrid(np.arange(weights.shape[0]), np.arange(weights.shape[1]), indexing="ij")
    data = pd.DataFrame({"step": t.ravel(), "frames_back": (weights.shape[1] - 1 - w).ravel(),
                         "weight": np.round(weights.ravel(), 4)})
    return alt.Chart(data, title=f"layer {layer}, head {head}").mark_rect().encode(
        x=alt.X("frames_back:O", sort="descending", axis=alt.Axis(labelOverlap=True)),
        y=alt.Y("step:O", axis=alt.Axis(labelOverlap=True)),
        color=alt.Color("weight:Q", scale=alt.Scale(scheme="viridis")),
        tooltip=["step", "frames_back", "weight"],
    ).properties(width=360, height=300)


def moments_chart(table: pd.DataFrame) -> alt.Chart:
    """Attention rows at chosen steps: one panel per step, a line per layer and head."""
    data = table.assign(series=table["layer"].astype(str) + "/" + table["head"].astype(str))
    return alt.Chart(data, title="attention at chosen moments (layer/head)").mark_line().encode(
        x="frames_back:Q", y="weight:Q", color="series:N", facet=alt.Facet("step:N", columns=3),
        tooltip=["step", "series", "frames_back", alt.Tooltip("weight:Q", format=".4f")],
    ).properties(width=200, height=140)
