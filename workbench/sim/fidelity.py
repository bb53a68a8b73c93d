"""The simulator's claims checked on real games (data nobody here wrote).

* Hits: a victim's percent rises while the attacker is in a simulated attack's action
  state. The attacker's action frame and the damage name the hitbox in the tables; the
  simulator's formulas predict, from the damage, the victim's percent and weight, the
  launch speed (0.03 kb), its angle (Sakurai angle and facing) and the hitstun
  (floor(0.4 kb)). Slippi (3.5+) records the launch speed on the hit frame, before DI
  (DI turns it when hitlag ends), and the hitstun, so each prediction has a measurement.
  Damage is the recorded increase (staled moves deal less, and the formula takes the
  damage dealt).
* Movement: jump take-off speeds and apex heights (the jump's rise with no double jump,
  air dodge or hit before the apex), and the first-frame dash speed, against the same
  quantities the simulator computes from the character tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from workbench.sim.hits import knockback, launch_angle
from workbench.sim.player import GROUND_BOUNCE
from workbench.sim.tables import CHAR_FIELDS, HITBOX_FIELDS, MOVE_KINDS, GameData

# action ids -> move kind (Melee's angled tilts and smashes share one table row)
ACTION_MOVES = {
    44: "jab",
    50: "dattack",
    51: "ftilt",
    52: "ftilt",
    53: "ftilt",
    54: "ftilt",
    55: "ftilt",
    56: "utilt",
    57: "dtilt",
    58: "fsmash",
    59: "fsmash",
    60: "fsmash",
    61: "fsmash",
    62: "fsmash",
    63: "usmash",
    64: "dsmash",
    65: "nair",
    66: "fair",
    67: "bair",
    68: "uair",
    69: "dair",
}
H = {name: k for k, name in enumerate(HITBOX_FIELDS)}  # hitbox column by name


@dataclass
class Hit:
    character: int  # attacker's table row
    kind: str
    damage: float
    percent_before: float
    speed: float  # measured launch speed
    angle: float  # measured launch angle, degrees, facing-normalised
    hitstun: float  # measured
    predicted_speed: float
    predicted_angle: float
    predicted_hitstun: float
    grounded: bool


def _hitbox_for(data: GameData, c: int, kind: str, frame: int, damage: float) -> np.ndarray | None:
    """The hitbox active at ``frame`` (±1) whose tabled damage is closest above the damage
    dealt (staling only lowers it)."""
    table = data.hitboxes[c, MOVE_KINDS.index(kind)]  # (F, 4, fields)
    best, best_gap = None, 1e9
    for f in (frame, frame - 1, frame + 1):
        if not 0 < f < table.shape[0]:
            continue
        for slot in range(table.shape[1]):
            box = table[f, slot]
            if box[H["active"]] == 0:
                continue
            gap = box[H["damage"]] - damage
            if -0.51 <= gap < best_gap:
                best, best_gap = box, gap
    return best


def real_hits(table, data: GameData) -> list[Hit]:
    """Every hit of a simulated attack in a two-player game (Slippi 3.5+)."""
    if table.num_players != 2 or table.meta.version_tuple < (3, 5, 0):
        return []
    col = table.columns
    rows = {int(i): r for r, i in enumerate(data.internal_ids)}
    weight = CHAR_FIELDS.index("weight")
    out = []
    for v in (0, 1):
        a = 1 - v
        percent = col[f"p{v}_percent"].astype(np.float64)
        jumps = np.nonzero(np.diff(percent) > 0)[0] + 1
        for i in jumps:
            kind = ACTION_MOVES.get(int(col[f"p{a}_action"][i]))
            ca, cv = rows.get(int(col[f"p{a}_character"][i])), rows.get(int(col[f"p{v}_character"][i]))
            if kind is None or ca is None or cv is None:
                continue
            damage, before = percent[i] - percent[i - 1], percent[i - 1]
            sx, sy = float(col[f"p{v}_speed_x_attack"][i]), float(col[f"p{v}_speed_y_attack"][i])
            if col[f"p{v}_hitlag"][i] <= 0 or (sx == 0 and sy == 0):
                continue  # not a fresh launch this frame (a throw, a grab, armour)
            box = _hitbox_for(data, ca, kind, int(col[f"p{a}_action_frame"][i]), damage)
            if box is None:
                continue
            grounded = bool(col[f"p{v}_on_ground"][i - 1])
            kb = knockback(
                damage,
                before,
                data.chars[cv, weight],
                box[H["kbg"]],
                box[H["bkb"]],
                box[H["skb"]],
                box[H["weight_independent"]] > 0,
            )
            if int(col[f"p{v}_action"][i - 1]) in (39, 40) and grounded:
                kb *= 0.67
            angle = float(launch_angle(box[H["angle"]], kb, grounded))
            speed = 0.03 * kb
            if grounded and math.sin(math.radians(angle)) < -1e-6 and kb >= 80:
                angle, speed = -angle, speed * GROUND_BOUNCE  # a spike bounces off the floor
            elif grounded and kb < 80 and math.sin(math.radians(angle)) <= 1e-6:
                speed = abs(speed * math.cos(math.radians(angle)))
            # the simulator's rule: away from the attacker (its facing when level)
            dx = float(col[f"p{v}_x"][i] - col[f"p{a}_x"][i])
            direction = float(col[f"p{a}_facing"][i]) if dx == 0 else math.copysign(1.0, dx)
            predicted = angle if direction > 0 else 180.0 - angle
            measured = math.degrees(math.atan2(sy, sx))
            out.append(
                Hit(
                    ca,
                    kind,
                    damage,
                    before,
                    math.hypot(sx, sy),
                    measured % 360,
                    float(col[f"p{v}_hitstun"][i]),
                    speed,
                    predicted % 360,
                    math.floor(0.4 * kb),
                    grounded,
                )
            )
    return out


def jump_measurements(table, data: GameData) -> list[dict]:
    """Take-off speed, apex rise and first dash-frame speed, with the tables' predictions."""
    if table.meta.version_tuple < (3, 5, 0):  # self-induced speeds are recorded from 3.5
        return []
    col = table.columns
    rows = {int(i): r for r, i in enumerate(data.internal_ids)}
    ci = {name: CHAR_FIELDS.index(name) for name in ("jump_v", "hop_v", "gravity", "dash_init")}
    out = []
    for p in range(table.num_players):
        action = col[f"p{p}_action"].astype(np.int64)
        y, vy = col[f"p{p}_y"].astype(np.float64), col[f"p{p}_speed_y_self"].astype(np.float64)
        for i in np.nonzero((action[1:] != action[:-1]) & np.isin(action[1:], (25, 26)))[0] + 1:
            c = rows.get(int(col[f"p{p}_character"][i]))
            if c is None or action[i - 1] != 24:
                continue
            g = data.chars[c, ci["gravity"]]
            full, hop = data.chars[c, ci["jump_v"]], data.chars[c, ci["hop_v"]]
            kind = "full" if abs(vy[i] - full) < abs(vy[i] - hop) else "short"
            predicted_v = full if kind == "full" else hop
            end = i
            while end + 1 < len(action) and action[end + 1] in (25, 26) and vy[end + 1] > 0:
                end += 1
            if end + 1 >= len(action) or action[end + 1] not in (25, 26, 29):
                continue  # the rise was cut (double jump, aerial, air dodge, hit)
            # the simulator's jump: the full speed on the first airborne frame, then -g a frame
            apex = sum(max(predicted_v - g * k, 0.0) for k in range(0, int(predicted_v / g) + 2))
            out.append(
                {
                    "character": c,
                    "what": f"{kind}_hop",
                    "measured_v": vy[i],
                    "predicted_v": predicted_v,
                    "measured_rise": y[end] - y[i - 1],
                    "predicted_rise": apex,
                }
            )
        for i in np.nonzero((action[1:] == 20) & (action[:-1] != 20))[0] + 1:
            c = rows.get(int(col[f"p{p}_character"][i]))
            if c is None or not col[f"p{p}_on_ground"][i]:
                continue
            speed = col[f"p{p}_speed_ground_x_self"]
            dash = data.chars[c, ci["dash_init"]] * float(col[f"p{p}_facing"][i])
            before = float(speed[i - 1])
            predicted = dash + before if before * dash < 0 else dash  # the simulator's rule
            out.append({"character": c, "what": "dash", "measured_v": float(speed[i]), "predicted_v": predicted})
    return out


def summarize_hits(hits: list[Hit]) -> dict:
    """Median and 90th-percentile errors (speed relative, angle in degrees, hitstun frames)."""
    if not hits:
        return {"hits": 0}
    speed = np.array([abs(h.predicted_speed - h.speed) / max(h.speed, 1e-6) for h in hits])
    airborne = [h for h in hits if not h.grounded or h.predicted_speed >= 2.4]
    angle = (
        np.array([abs((h.predicted_angle - h.angle + 180) % 360 - 180) for h in airborne]) if airborne else np.zeros(1)
    )
    stun = np.array([abs(h.predicted_hitstun - h.hitstun) for h in hits])
    return {
        "hits": len(hits),
        "speed_rel_err_median": float(np.median(speed)),
        "speed_rel_err_p90": float(np.percentile(speed, 90)),
        "angle_err_deg_median": float(np.median(angle)),
        "angle_err_deg_p90": float(np.percentile(angle, 90)),
        "angle_hits": len(airborne),
        "hitstun_err_frames_median": float(np.median(stun)),
        "hitstun_err_frames_p90": float(np.percentile(stun, 90)),
        "hitstun_exact_share": float(np.mean(stun == 0)),
    }


def summarize_moves(rows: list[dict]) -> dict:
    out = {}
    for what in sorted({r["what"] for r in rows}):
        sel = [r for r in rows if r["what"] == what]
        v = np.array([abs(r["predicted_v"] - r["measured_v"]) for r in sel])
        entry = {
            "n": len(sel),
            "speed_abs_err_median": float(np.median(v)),
            "speed_rel_err_median": float(np.median(v / np.maximum([abs(r["measured_v"]) for r in sel], 1e-6))),
        }
        if "measured_rise" in sel[0]:
            rise = np.array([abs(r["predicted_rise"] - r["measured_rise"]) for r in sel])
            entry["rise_abs_err_median"] = float(np.median(rise))
        out[what] = entry
    return out
