"""Hitboxes of a game's frames, for drawing (``workbench.viz.frame_chart(table, row,
hitboxes=hitbox_frame(table))``): viz draws circles it is given and imports nothing from
the simulator. Works on any stored game (simulated or real): each player's action and
action frame name the move and the frame in the tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.sim.tables import HITBOX_FIELDS, MOVE_INFO, GameData, load_game_data


def hitbox_frame(table, rows: np.ndarray | None = None, data: GameData | None = None) -> pd.DataFrame:
    """Active hitboxes (row, frame, player, x, y, radius) at table rows ``rows`` (all by
    default), placed from each attacker's position and facing."""
    data = data or load_game_data()
    rows = np.arange(len(table)) if rows is None else np.asarray(rows)
    by_internal = {int(i): c for c, i in enumerate(data.internal_ids)}
    action_col = MOVE_INFO.index("action")
    field = {name: k for k, name in enumerate(HITBOX_FIELDS)}
    parts = []
    for p in range(table.num_players):
        col = lambda name: table.columns[f"p{p}_{name}"][rows]  # noqa: E731
        chars, actions = col("character").astype(np.int64), col("action").astype(np.int64)
        # frames within the action, 1-based as the tables count them
        fin = col("action_frame") - data.first_frame[np.minimum(actions, len(data.first_frame) - 1)] + 1
        for c_internal in np.unique(chars):
            c = by_internal.get(int(c_internal))
            if c is None:
                continue
            for kind, info in enumerate(data.moves[c]):
                sel = (chars == c_internal) & (actions == info[action_col])
                frames = np.clip(np.rint(fin[sel]).astype(np.int64), 0, data.hitboxes.shape[2] - 1)
                boxes = data.hitboxes[c, kind, frames]  # (S, 4, fields)
                hit_row, slot = np.nonzero(boxes[:, :, field["active"]] > 0)
                if not len(hit_row):
                    continue
                where = np.nonzero(sel)[0][hit_row]
                box = boxes[hit_row, slot]
                facing = col("facing")[where].astype(np.float64)
                parts.append(
                    pd.DataFrame(
                        {
                            "row": rows[where],
                            "frame": table.frames[rows[where]],
                            "player": p,
                            "x": col("x")[where] + facing * box[:, field["x"]],
                            "y": col("y")[where] + box[:, field["y"]],
                            "radius": box[:, field["radius"]],
                        }
                    )
                )
    if not parts:
        return pd.DataFrame({k: [] for k in ("row", "frame", "player", "x", "y", "radius")})
    return pd.concat(parts, ignore_index=True)
