"""One frame drawn on the stage: both players, their items and projectiles, the stage
outline, platforms and blast zones; plus two scrubbers over a game's frames.

* :func:`frame_scrubber` is an ipywidgets ``Play`` + ``IntSlider`` pair that redraws
  :func:`frame_chart` in a live kernel.
* :func:`scrubber_chart` is a single Vega-Lite chart holding every frame of a window with
  a slider bound to a parameter: it keeps working in a static HTML report, with no kernel.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from workbench.replay.table import GameTable
from workbench.viz.game import frame_window, player_labels
from workbench.viz.stages import GENERIC_STAGE, StageGeometry, stage_geometry

VIEW_WIDTH = 560
FACING_LENGTH = 10.0  # world units of the tick that shows which way a player faces


def players_frame(table: GameTable, rows: np.ndarray) -> pd.DataFrame:
    """Player rows (row, frame, player, x, y, facing_x, percent, stocks, action) at the
    table rows ``rows``; absent players (out of a 3-4 player game) are left out."""
    parts = []
    for index, label in enumerate(player_labels(table)):
        player = {
            name: table.columns[f"p{index}_{name}"][rows]
            for name in ("x", "y", "facing", "percent", "stocks", "action")
        }
        present = table.columns.get(f"p{index}_present")
        x = player["x"].astype(np.float64)
        part = pd.DataFrame(
            {
                "row": rows,
                "frame": table.frames[rows],
                "player": label,
                "x": x,
                "y": player["y"].astype(np.float64),
                "facing_x": x + FACING_LENGTH * player["facing"].astype(np.float64),
                "percent": np.round(player["percent"].astype(np.float64), 1),
                "stocks": player["stocks"].astype(np.int64),
                "action": player["action"].astype(np.int64),
            }
        )
        parts.append(part if present is None else part[present[rows]])
    return pd.concat(parts, ignore_index=True)


def items_frame(table: GameTable, rows: np.ndarray) -> pd.DataFrame:
    """Item and projectile rows (row, frame, x, y, type, owner) at the table rows ``rows``."""
    dense = table.items.take(rows).dense()  # (len(rows), MAX_ITEMS) per field
    frame_of, slot = np.nonzero(dense["item_present"])
    return pd.DataFrame(
        {
            "row": rows[frame_of],
            "frame": table.frames[rows][frame_of],
            "x": dense["item_x"][frame_of, slot].astype(np.float64),
            "y": dense["item_y"][frame_of, slot].astype(np.float64),
            "type": dense["item_type"][frame_of, slot].astype(np.int64),
            "owner": dense["item_owner"][frame_of, slot].astype(np.int64),
        }
    )


def _scales(geometry: StageGeometry) -> tuple[alt.Scale, alt.Scale, int]:
    """Axis scales spanning the blast zones, and a chart height keeping 1:1 aspect."""
    x = alt.Scale(domain=[geometry.blast_left, geometry.blast_right], nice=False)
    y = alt.Scale(domain=[geometry.blast_bottom, geometry.blast_top], nice=False)
    span_x = geometry.blast_right - geometry.blast_left
    height = int(VIEW_WIDTH * (geometry.blast_top - geometry.blast_bottom) / span_x)
    return x, y, height


def stage_layers(geometry: StageGeometry) -> list[alt.Chart]:
    """Blast-zone box, main platform body and pass-through platforms."""
    x, y, _ = _scales(geometry)
    blast = pd.DataFrame(
        {
            "x": [geometry.blast_left],
            "x2": [geometry.blast_right],
            "y": [geometry.blast_bottom],
            "y2": [geometry.blast_top],
        }
    )
    layers = [
        alt.Chart(blast)
        .mark_rect(fill=None, stroke="#bbb", strokeDash=[4, 4])
        .encode(x=alt.X("x:Q", scale=x, title="x"), x2="x2:Q", y=alt.Y("y:Q", scale=y, title="y"), y2="y2:Q")
    ]
    if geometry.edge:
        outline = pd.DataFrame(geometry.outline(), columns=["x", "y"])
        outline["order"] = range(len(outline))
        layers.append(
            alt.Chart(outline)
            .mark_line(color="#555", fill="#ddd", strokeWidth=2)
            .encode(x=alt.X("x:Q", scale=x), y=alt.Y("y:Q", scale=y), order="order:Q")
        )
    if geometry.platforms:
        platforms = pd.DataFrame([vars(p) for p in geometry.platforms])
        layers.append(
            alt.Chart(platforms)
            .mark_rule(color="#555", strokeWidth=3)
            .encode(
                x=alt.X("left:Q", scale=x),
                x2="right:Q",
                y=alt.Y("height:Q", scale=y),
                strokeDash=alt.condition("datum.moving", alt.value([6, 3]), alt.value([1, 0])),
            )
        )
    return layers


def hitbox_layer(hitboxes: pd.DataFrame, geometry: StageGeometry) -> alt.Chart:
    """Hitboxes (row, frame, x, y, radius in world units) as circles to scale."""
    x, y, _ = _scales(geometry)
    pixels = VIEW_WIDTH / (geometry.blast_right - geometry.blast_left)  # per world unit
    data = hitboxes.assign(area=np.pi * (hitboxes["radius"] * pixels) ** 2)
    return (
        alt.Chart(data)
        .mark_circle(color="#e45756", opacity=0.35)
        .encode(x=alt.X("x:Q", scale=x), y=alt.Y("y:Q", scale=y), size=alt.Size("area:Q", scale=None, legend=None))
    )


def _actor_layers(
    players: pd.DataFrame, items: pd.DataFrame, geometry: StageGeometry, hitboxes: pd.DataFrame | None = None
) -> list[alt.Chart]:
    """Players (dot, facing tick, percent label), items (diamonds) and, when given, hitboxes
    (e.g. ``workbench.sim.render.hitbox_frame(table)``)."""
    x, y, _ = _scales(geometry)
    color = alt.Color("player:N", title="player")
    base = alt.Chart(players).encode(x=alt.X("x:Q", scale=x), y=alt.Y("y:Q", scale=y), color=color)
    tooltip = ["player:N", "frame:Q", "percent:Q", "stocks:Q", "action:Q"]
    return [
        base.mark_rule(strokeWidth=3).encode(x2="facing_x:Q"),
        base.mark_point(filled=True, size=160).encode(tooltip=tooltip),
        base.mark_text(dy=-14, fontSize=11).encode(text=alt.Text("percent:Q", format=".0f")),
        alt.Chart(items)
        .mark_point(shape="diamond", filled=True, size=50, color="#e45756")
        .encode(x=alt.X("x:Q", scale=x), y=alt.Y("y:Q", scale=y), tooltip=["type:Q", "owner:Q", "frame:Q"]),
    ] + ([hitbox_layer(hitboxes, geometry)] if hitboxes is not None else [])


def frame_chart(
    table: GameTable, row: int, geometry: StageGeometry | None = None, hitboxes: pd.DataFrame | None = None
) -> alt.LayerChart:
    """Table row ``row`` drawn on its stage (stage geometry from the game's metadata);
    ``hitboxes`` (row, frame, x, y, radius) are drawn when given."""
    geometry = geometry or stage_geometry(table.meta.stage) or GENERIC_STAGE
    rows = np.array([row])
    frame = int(table.frames[row])
    _, _, height = _scales(geometry)
    return alt.layer(
        *stage_layers(geometry),
        *_actor_layers(
            players_frame(table, rows),
            items_frame(table, rows),
            geometry,
            None if hitboxes is None else hitboxes[hitboxes["row"] == row],
        ),
    ).properties(width=VIEW_WIDTH, height=height, title=f"{geometry.name}: frame {frame} ({frame / 60:.2f} s)")


def scrubber_chart(
    table: GameTable,
    max_frames: int | None = 600,
    start: int = 0,
    stride: int = 1,
    hitboxes: pd.DataFrame | None = None,
) -> alt.LayerChart:
    """Every ``stride``-th frame of a window in one chart, with a slider picking the frame
    shown: works in static HTML (the data of all frames is inlined: keep windows short)."""
    geometry = stage_geometry(table.meta.stage) or GENERIC_STAGE
    rows = frame_window(table, max_frames, start)[::stride]
    first, last = int(table.frames[rows[0]]), int(table.frames[rows[-1]])
    frame_param = alt.param(
        name="frame", value=first, bind=alt.binding_range(min=first, max=last, step=stride, name="frame ")
    )
    shown = None if hitboxes is None else hitboxes[hitboxes["row"].isin(rows)]
    actors = _actor_layers(players_frame(table, rows), items_frame(table, rows), geometry, shown)
    actors = [layer.transform_filter(alt.datum.frame == frame_param) for layer in actors]
    _, _, height = _scales(geometry)
    return (
        alt.layer(*stage_layers(geometry), *actors)
        .add_params(frame_param)
        .properties(width=VIEW_WIDTH, height=height, title=f"{geometry.name}: drag the slider to scrub frames")
    )


def frame_scrubber(table: GameTable, max_frames: int | None = 600, start: int = 0, interval_ms: int = 50):
    """ipywidgets ``Play`` + ``IntSlider`` (linked) over a window of frames; each change
    redraws :func:`frame_chart` in an ``Output``. Returns the ``VBox`` to display."""
    import ipywidgets as widgets

    rows = frame_window(table, max_frames, start)
    play = widgets.Play(min=0, max=len(rows) - 1, step=1, interval=interval_ms)
    slider = widgets.IntSlider(min=0, max=len(rows) - 1, description="frame")
    widgets.jslink((play, "value"), (slider, "value"))
    output = widgets.Output()

    def redraw(change: dict | None = None) -> None:
        # set the Output's content directly: capturing with `with output:` makes headless
        # runners (nbclient) stall on the widget cell until the cell timeout now and then
        output.outputs = ()
        output.append_display_data(frame_chart(table, int(rows[slider.value])))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([play, slider]), output])
