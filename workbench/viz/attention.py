"""Attention charts over :mod:`workbench.eval.attention` tables."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from workbench.eval.attention import AttentionTrace


def offset_chart(table: pd.DataFrame, title: str = "mean attention by frames back") -> alt.Chart:
    """One line per head, one panel per layer: where attention goes on average."""
    return (
        alt.Chart(table, title=title)
        .mark_line()
        .encode(
            x=alt.X("frames_back:Q", title="frames back"),
            y=alt.Y("weight:Q", title="mean weight"),
            color="head:N",
            facet=alt.Facet("layer:N", columns=3),
            tooltip=["layer", "head", "frames_back", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(width=220, height=150)
    )


def event_chart(table: pd.DataFrame, layer: int = 0) -> alt.Chart:
    """Attention by frames back around events (hits, shield, action changes) versus all
    frames, one panel per head of one layer."""
    data = table[table["layer"] == layer]
    return (
        alt.Chart(data, title=f"layer {layer}: attention around events")
        .mark_line()
        .encode(
            x=alt.X("frames_back:Q"),
            y=alt.Y("weight:Q"),
            color="event:N",
            facet=alt.Facet("head:N", columns=4),
            tooltip=["event", "head", "frames_back", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(width=170, height=130)
    )


def entropy_chart(table: pd.DataFrame) -> alt.Chart:
    """Mean entropy per head (bars) against uniform attention's (ticks)."""
    base = alt.Chart(table, title="attention entropy per head (nats)").encode(
        x=alt.X("head:N"),
        tooltip=["layer", "head", alt.Tooltip("entropy:Q", format=".3f"), alt.Tooltip("max:Q", format=".3f")],
    )
    bars = base.mark_bar().encode(y="entropy:Q")
    ticks = base.mark_tick(color="black", thickness=2, size=18).encode(y="max:Q")
    return (bars + ticks).properties(width=120, height=150).facet(column="layer:N")


def heatmap(trace: AttentionTrace, layer: int = 0, max_steps: int = 240, max_back: int = 64) -> alt.Chart:
    """Step (row) by frames back (column), one panel per head of ``layer``; each step's row
    divided by its largest weight (where that head looks at that step, whatever its scale:
    raw weights spread over a long window read as a featureless block). Steps where an
    event happens (hit, shield, action change) are marked by ticks at the left."""
    weights = trace.weights[layer][:, :max_steps, -max_back:]  # (H, T, W)
    weights = weights / np.maximum(weights.max(-1, keepdims=True), 1e-12)  # per row: 0-1
    heads, steps, back = weights.shape
    h, t, w = np.meshgrid(np.arange(heads), np.arange(steps), np.arange(back), indexing="ij")
    data = pd.DataFrame(
        {
            "head": h.ravel(),
            "step": t.ravel(),
            "frames_back": (back - 1 - w).ravel(),
            "weight": np.round(weights.ravel(), 3),
        }
    )
    events = pd.DataFrame(
        [
            {"head": head, "step": int(k), "event": name.replace("_", " ")}
            for head in range(heads)
            for name, mask in trace.events.items()
            for k in np.flatnonzero(mask[:steps])
        ],
        columns=["head", "step", "event"],
    )
    both = pd.concat([data.assign(kind="cell"), events.assign(kind="event", frames_back=-2)])
    base = alt.Chart().encode(y=alt.Y("step:Q", title="step", scale=alt.Scale(reverse=True)))
    cells = (
        base.transform_filter(alt.datum.kind == "cell")
        .mark_rect()
        .encode(
            x=alt.X("frames_back:Q", title="frames back (events left of 0)", scale=alt.Scale(reverse=True)),
            color=alt.Color("weight:Q", title="weight / row max", scale=alt.Scale(scheme="viridis")),
            tooltip=["head", "step", "frames_back", "weight"],
        )
    )
    marks = (
        base.transform_filter(alt.datum.kind == "event")
        .mark_point(shape="triangle-right", size=30, filled=True)
        .encode(
            x="frames_back:Q",
            shape=alt.Shape("event:N", title="event"),
            fill=alt.value("#d33"),
            tooltip=["step", "event"],
        )
    )
    return (
        alt.layer(cells, marks, data=both)
        .properties(width=260, height=260)
        .facet(
            column=alt.Column("head:N", title=f"layer {layer}, head"),
            title=f"layer {layer}: attention per head, each row scaled to its maximum, events marked",
        )
    )


def event_counts(trace: AttentionTrace) -> pd.DataFrame:
    """How many traced steps each event marks (a table, not a dict on the page)."""
    return pd.DataFrame(
        {
            "event": [name.replace("_", " ") for name in trace.events],
            "steps": [int(mask.sum()) for mask in trace.events.values()],
            "of": len(trace.rows),
        }
    )


def moments_chart(table: pd.DataFrame) -> alt.Chart:
    """Attention rows at chosen steps: one panel per step, a line per layer and head."""
    data = table.assign(series=table["layer"].astype(str) + "/" + table["head"].astype(str))
    return (
        alt.Chart(data, title="attention at chosen moments (layer/head)")
        .mark_line()
        .encode(
            x="frames_back:Q",
            y="weight:Q",
            color="series:N",
            facet=alt.Facet("step:N", columns=3),
            tooltip=["step", "series", "frames_back", alt.Tooltip("weight:Q", format=".4f")],
        )
        .properties(width=200, height=140)
    )
