"""Build the simulator's compact tables (``data/sim/``) from cited public sources.

Run from the repository root (needs ``../shared`` and the installed libmelee)::

    .venv/bin/python scripts/build_sim_tables.py [--shared ../shared] [--out data/sim]

Sources (each table names its own in ``data/sim/README.md`` and ``sources.json``):

* ``../shared/melee-data/attributes.json``: character attributes read from the game's
  character files (mawglhf/ssbm-framedata ``src/utils/data/attributes.json``).
* ``../shared/melee-data/fightcore/<character>.moves.json``: per move total frames, IASA,
  landing lag, L-cancel lag, auto-cancel window, and per hit damage / angle / knockback /
  hitlag / shieldstun (FightCore/frame-data; base data meleeframedata.com, hitboxes IKneeData).
* ``../shared/melee-data/fightcore/character_statistics.json``: dash frames.
* libmelee (``melee`` package): ``framedata.csv`` (per-frame hitbox geometry and
  locomotion), ``characterdata.csv`` (hurtbox size), ``stages.py`` (blast zones, edges,
  platforms), ``enums.py`` (action-state ids).
* ``../shared/replays/games``: real games, for the measured constants a table above lacks:
  each action's first recorded ``action_frame`` value, each character's ledge-hang offset
  and each stage's start positions (medians over the games).

The library reads only the generated ``data/sim`` files (committed), never ``../shared``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

# (attributes.json name, fightcore file stem, libmelee internal id, characterdata row name)
CHARACTERS = [
    ("Fox", "fox", 0x01, "Fox"),
    ("Falco", "falco", 0x16, "Falco"),
    ("Marth", "marth", 0x12, "Marth"),
    ("Sheik", "sheik", 0x07, "Sheik"),
    ("Captain Falcon", "captainfalcon", 0x02, "Cptfalcon"),
    ("Jigglypuff", "jigglypuff", 0x0F, "Jigs"),
    ("Peach", "peach", 0x09, "Peach"),
    ("Mewtwo", "mewtwo", 0x10, "Mewto"),
    ("Game & Watch", "mrgameandwatch", 0x18, "GNW"),
    ("Link", "link", 0x06, "Link"),
    ("Ganondorf", "ganondorf", 0x19, "Ganondorf"),
    ("Zelda", "zelda", 0x13, "Zelda"),
    ("Samus", "samus", 0x0D, "Samus"),
    ("Pikachu", "pikachu", 0x0C, "Pikachu"),
    ("Luigi", "luigi", 0x11, "Luigi"),
    ("Mario", "mario", 0x00, "Mario"),
    ("Dr Mario", "drmario", 0x15, "Doc"),
    ("Young Link", "younglink", 0x14, "Ylink"),
    ("Roy", "roy", 0x1A, "Roy"),
    ("Yoshi", "yoshi", 0x0E, "Yoshi"),
    ("Donkey Kong", "donkeykong", 0x03, "DK"),
    ("Bowser", "bowser", 0x05, "Bowser"),
    ("Ness", "ness", 0x08, "Ness"),
    ("Kirby", "kirby", 0x04, "Kirby"),
    ("Pichu", "pichu", 0x17, "Pichu"),
    ("Ice Climbers", "iceclimbers", 0x0A, "Popo"),
]

# Attacks the simulator performs: (kind, FightCore key, action-state id).
MOVES = [
    ("jab", "jab1", 44),
    ("ftilt", "ftilt", 53),
    ("utilt", "utilt", 56),
    ("dtilt", "dtilt", 57),
    ("fsmash", "fsmash", 60),
    ("usmash", "usmash", 63),
    ("dsmash", "dsmash", 64),
    ("nair", "nair", 65),
    ("fair", "fair", 66),
    ("bair", "bair", 67),
    ("uair", "uair", 68),
    ("dair", "dair", 69),
    ("dattack", "dattack", 50),
    ("grab", "grab", 212),
    ("dashgrab", "dashgrab", 214),
    ("fthrow", "fthrow", 219),
    ("bthrow", "bthrow", 220),
    ("uthrow", "uthrow", 221),
    ("dthrow", "dthrow", 222),
    ("edge_attack", "edge", 257),
    ("getup_attack", "bgetup", 187),
]
# Non-attacking timed actions with real per-frame locomotion: (kind, FightCore key or "", action).
MOTIONS = [
    ("roll_forward", "rollforward", 233),
    ("roll_backward", "rollbackwards", 234),
    ("spotdodge", "spotdodge", 235),
    ("airdodge", "airdodge", 236),
    ("tech_neutral", "neutraltech", 199),
    ("tech_forward", "ftechroll", 200),
    ("tech_backward", "btechroll", 201),
    ("getup", "", 186),
    ("getup_roll_forward", "", 188),
    ("getup_roll_backward", "", 189),
    ("ledge_getup_quick", "", 255),
    ("ledge_getup_slow", "", 254),
    ("ledge_roll_quick", "", 259),
    ("ledge_roll_slow", "", 258),
]
STAGES = {  # external id -> libmelee Stage enum member name
    32: "FINAL_DESTINATION",
    31: "BATTLEFIELD",
    8: "YOSHIS_STORY",
    28: "DREAMLAND",
    2: "FOUNTAIN_OF_DREAMS",
    3: "POKEMON_STADIUM",
}
# Fountain of Dreams' side platforms move; libmelee leaves them as TODO. Their resting
# extents and a mid height (approximation, documented in the README).
FOD_SIDE_PLATFORMS = [(20.0, -49.5, -21.0), (20.0, 21.0, 49.5)]
MAX_MOVE_FRAMES = 80  # longest simulated move animation kept in the dense table
MOTION_FRAMES = 60


def melee_dir() -> Path:
    import melee

    return Path(os.path.dirname(melee.__file__))


def read_framedata() -> dict[tuple[int, int], list[dict]]:
    rows: dict[tuple[int, int], list[dict]] = defaultdict(list)
    with open(melee_dir() / "framedata.csv") as handle:
        for row in csv.DictReader(handle):
            rows[(int(row["character"]), int(row["action"]))].append(row)
    for key in rows:
        rows[key].sort(key=lambda r: int(r["frame"]))
    return rows


def characters_table(shared: Path, framedata) -> list[dict]:
    attributes = {a["Char"]: a for a in json.loads((shared / "melee-data/attributes.json").read_text())}
    stats = {
        c["normalizedName"]: c["characterStatistics"]
        for c in json.loads((shared / "melee-data/fightcore/character_statistics.json").read_text())
    }
    with open(melee_dir() / "characterdata.csv") as handle:
        libmelee_rows = {r["Character"]: r for r in csv.DictReader(handle)}
    sizes = {k: float(r["size"]) for k, r in libmelee_rows.items()}
    out = []
    for name, stem, internal, cd_name in CHARACTERS:
        a = attributes[name]
        stat = stats.get(stem, stats.get({"mrgameandwatch": "mrgame&watch"}.get(stem, stem), {}))
        out.append(
            {
                "name": name,
                "key": stem,
                "internal_id": internal,
                "weight": a["Weight"],
                "jump_squat": a["Jump Frames"],
                "jump_v": a["Jump V"],
                "hop_v": a["Hop V"],
                "jump_h": a["Jump H"],
                "jump_h_max": a["Jump H Max"],
                "jump_momentum": a["Jump H Mmntm Mult"],
                "dj_mult": a["Dbl Jump Mult"],
                "dj_h": a["Dbl Jump H"],
                "jumps": a["Jumps"],
                "gravity": a["Gravity"],
                "fall_speed": a["Falling Speed"],
                "fastfall_speed": a["Fast Falling Speed"],
                "walk_speed": a["Walk Speed"],
                "walk_accel": a["Walk Accel"],
                "dash_init": a["Dash Init"],
                "run_speed": a["Run Speed"],
                "run_accel_a": a["Dash"]["Run Accel A"],
                "run_accel_b": a["Dash"]["Run Accel B"],
                "traction": a["Traction"],
                "air_speed": a["Airspeed"],
                "air_accel_base": a["Air Acceleration Base"],
                "air_accel_add": a["Air Acceleration Additional"],
                "air_friction": a["Air Fric"],
                "landing_lag": a["Landing Lag"],
                "shield_size": a["Shield Size"],
                "dash_frames": stat.get("dashFrames", 0) or 0,
                "hurtbox_size": sizes.get(cd_name, float("nan")),
                # the double jump's initial speed as libmelee measured it in game (the replays
                # agree: Fox 4.186, where Jump V x Dbl Jump Mult would give 4.416)
                "dj_v": float(libmelee_rows[cd_name]["InitDJSpeed"])
                if cd_name in libmelee_rows
                else a["Jump V"] * a["Dbl Jump Mult"],
            }
        )
    known = [c["hurtbox_size"] for c in out if c["hurtbox_size"] == c["hurtbox_size"]]
    for c in out:  # every name maps today; keep the rule for added characters
        c["hurtbox_source"] = "libmelee characterdata.csv"
        if c["hurtbox_size"] != c["hurtbox_size"]:
            c["hurtbox_size"], c["hurtbox_source"] = float(np.median(known)), "median of tabled sizes"
    return out


def _fightcore(shared: Path, stem: str) -> dict[str, dict]:
    path = shared / f"melee-data/fightcore/{stem}.moves.json"
    return {m["normalizedName"]: m for m in json.loads(path.read_text())}


def _active_windows(rows: list[dict]) -> list[tuple[int, int]]:
    """Contiguous frame windows where libmelee records any hitbox."""
    windows, start = [], None
    for row in rows:
        active = any(row[f"hitbox_{k}_status"] == "True" for k in range(1, 5))
        frame = int(row["frame"])
        if active and start is None:
            start = frame
        if not active and start is not None:
            windows.append((start, frame - 1))
            start = None
    if start is not None:
        windows.append((start, int(rows[-1]["frame"])))
    return windows


def _hit_for_frame(move: dict, frame: int, windows: list[tuple[int, int]]) -> int:
    """Index of the FightCore hit that covers ``frame``: by its recorded window, else the
    libmelee active window of the same order (FightCore leaves some windows at 0-0)."""
    hits = move.get("hits", [])
    for k, hit in enumerate(hits):
        if hit.get("start", 0) and hit["start"] <= frame <= hit.get("end", hit["start"]):
            return k
    for k, (lo, hi) in enumerate(windows):
        if lo <= frame <= hi:
            return min(k, len(hits) - 1)
    return 0


def moves_tables(shared: Path, framedata) -> tuple[list[dict], list[dict]]:
    moves, hitboxes = [], []
    for name, stem, internal, _ in CHARACTERS:
        fc = _fightcore(shared, stem)
        for kind, key, action in MOVES:
            move = fc.get(key, {})
            rows = framedata.get((internal, action), [])
            total = int(move.get("totalFrames") or len(rows) or 0)
            if kind.endswith("throw") and not rows:
                total = total or 30
            windows = _active_windows(rows)
            first_active = windows[0][0] if windows else int(move.get("start") or 0)
            moves.append(
                {
                    "character": stem,
                    "kind": kind,
                    "action": action,
                    "total_frames": total,
                    "iasa": int(move.get("iasa") or total),
                    "land_lag": int(move.get("landLag") or 0),
                    "lcancel_lag": int(move.get("lCanceledLandLag") or 0),
                    "autocancel_before": int(move.get("autoCancelBefore") or 0),
                    "autocancel_after": int(move.get("autoCancelAfter") or 0),
                    "first_active": first_active,
                    "hits": len(move.get("hits", [])),
                    "hitbox_frames": len(rows),
                    "fightcore": key if move else "",
                }
            )
            hits = move.get("hits", [])
            if not hits:
                continue
            if kind.endswith("throw"):  # throws release at the move's start frame, no geometry
                hb = hits[0]["hitboxes"][0]
                hitboxes.append(_hitbox_row(stem, kind, int(move.get("start") or 1), 0, 0.0, 0.0, 0.0, 0, hb))
                continue
            for row in rows[:MAX_MOVE_FRAMES]:
                frame = int(row["frame"])
                hit = _hit_for_frame(move, frame, windows)
                for slot in range(4):
                    if row[f"hitbox_{slot + 1}_status"] != "True":
                        continue
                    boxes = hits[hit]["hitboxes"]
                    hb = boxes[min(slot, len(boxes) - 1)]
                    hitboxes.append(
                        _hitbox_row(
                            stem,
                            kind,
                            frame,
                            slot,
                            float(row[f"hitbox_{slot + 1}_size"]),
                            float(row[f"hitbox_{slot + 1}_x"]),
                            float(row[f"hitbox_{slot + 1}_y"]),
                            hit,
                            hb,
                        )
                    )
    return moves, hitboxes


def _hitbox_row(stem, kind, frame, slot, size, x, y, hit, hb) -> dict:
    return {
        "character": stem,
        "kind": kind,
        "frame": frame,
        "slot": slot,
        "radius": round(size, 4),
        "x": round(x, 4),
        "y": round(y, 4),
        "hit": hit,
        "damage": hb["damage"],
        "angle": hb["angle"],
        "kbg": hb["knockbackGrowth"],
        "bkb": hb["baseKnockback"],
        "skb": hb["setKnockback"],
        "hitlag": hb["hitlagDefender"],
        "hitlag_crouch": hb["hitlagDefenderCrouched"],
        "shieldstun": hb["shieldstun"],
        "weight_independent": int(bool(hb["isWeightIndependent"])),
    }


def _intangible(move: dict, kind: str) -> tuple[int, int]:
    if kind.startswith("tech"):
        note = move.get("notes", "")
        if "Invincible:" in note:
            lo, hi = note.split("Invincible:")[1].split()[0].split("-")
            return int(lo), int(hi)
    return int(move.get("start") or 0), int(move.get("end") or 0)


def motions_tables(shared: Path, framedata) -> tuple[list[dict], list[dict]]:
    info, frames = [], []
    for name, stem, internal, _ in CHARACTERS:
        fc = _fightcore(shared, stem)
        for kind, key, action in MOTIONS:
            move = fc.get(key, {}) if key else {}
            rows = framedata.get((internal, action), [])
            total = int(move.get("totalFrames") or len(rows) or 0)
            lo, hi = _intangible(move, kind) if move else (1, 0)
            if kind.startswith(("getup", "ledge")):  # Melee: getups are intangible while rising
                lo, hi = 1, max(1, min(total, 30) - 1)
            info.append(
                {
                    "character": stem,
                    "kind": kind,
                    "action": action,
                    "total_frames": total,
                    "intangible_start": lo,
                    "intangible_end": hi,
                    "source": ("FightCore + " if move else "") + "libmelee framedata.csv",
                }
            )
            for row in rows[:MOTION_FRAMES]:
                dx, dy = float(row["locomotion_x"]), float(row["locomotion_y"])
                if dx or dy:
                    frames.append(
                        {
                            "character": stem,
                            "kind": kind,
                            "frame": int(row["frame"]),
                            "dx": round(dx, 4),
                            "dy": round(dy, 4),
                        }
                    )
    return info, frames


def stages_table(spawns: dict[int, list[float]]) -> dict:
    from melee import enums, stages

    out = {}
    for ext, member in STAGES.items():
        stage = getattr(enums.Stage, member)
        left, right, top, bottom = stages.BLASTZONES[stage]
        platforms = []
        for fn in (stages.left_platform_position, stages.right_platform_position, stages.top_platform_position):
            height, lo, hi = fn(stage)
            if height is not None:
                platforms.append([round(height, 4), round(lo, 4), round(hi, 4)])
        source = "libmelee stages.py"
        if ext == 2:
            platforms = [list(p) for p in FOD_SIDE_PLATFORMS] + platforms
            source += " (side platforms: resting extents, fixed mid height; they move in Melee)"
        out[str(ext)] = {
            "name": member.lower(),
            "blast_left": left,
            "blast_right": right,
            "blast_top": top,
            "blast_bottom": bottom,
            "edge": round(stages.EDGE_POSITION[stage], 4),
            "edge_ground": round(stages.EDGE_GROUND_POSITION[stage], 4),
            "platforms": platforms,
            "spawn_x": spawns.get(ext, [-40.0, 40.0]),
            "spawn_source": "shared replays, ports 1-2, frame -123"
            if ext in spawns
            else "no real game on this stage: +-40 (approximation)",
            "source": source,
        }
    return out


def replay_measurements(shared: Path, limit: int) -> tuple[dict, dict, dict]:
    """From real games: first action_frame of each action, ledge-hang y per character,
    start x per stage (two lowest ports)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from workbench.replay import ReplayError, find_replays, read_replay

    first: dict[int, Counter] = defaultdict(Counter)
    hang: dict[int, list[float]] = defaultdict(list)
    spawns: dict[int, list[list[float]]] = defaultdict(list)
    for path in find_replays([shared / "replays/games"])[:limit]:
        try:
            table = read_replay(path)
        except ReplayError:
            continue
        if table.num_players != 2:
            continue
        cols = table.columns
        if [p.port for p in table.meta.players] == [0, 1]:  # ports 1 and 2: entry x at frame -123
            spawns[table.meta.stage].append([float(cols["p0_x"][0]), float(cols["p1_x"][0])])
        for p in range(2):
            action = cols[f"p{p}_action"].astype(np.int64)
            changed = np.nonzero(np.diff(action) != 0)[0] + 1
            for i in changed:
                first[int(action[i])][float(cols[f"p{p}_action_frame"][i])] += 1
            hanging = action == 253
            if hanging.any():
                hang[int(cols[f"p{p}_character"][hanging][0])] += cols[f"p{p}_y"][hanging].tolist()
    first_frame = {a: c.most_common(1)[0][0] for a, c in first.items() if sum(c.values()) >= 3}
    hang_y = {c: round(float(np.median(v)), 3) for c, v in hang.items() if len(v) >= 10}
    spawn = {
        s: [round(float(np.median([v[0] for v in vs])), 3), round(float(np.median([v[1] for v in vs])), 3)]
        for s, vs in spawns.items()
    }
    return first_frame, hang_y, spawn


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--out", type=Path, default=Path("data/sim"))
    parser.add_argument("--replay-limit", type=int, default=1000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    framedata = read_framedata()
    chars = characters_table(args.shared, framedata)
    first_frame, hang_y, spawn = replay_measurements(args.shared, args.replay_limit)
    hang_default = float(np.median(list(hang_y.values()))) if hang_y else -10.0
    for c in chars:
        c["ledge_hang_y"] = hang_y.get(c["internal_id"], hang_default)
        c["ledge_hang_source"] = "shared replays" if c["internal_id"] in hang_y else "median of measured"
    write_csv(args.out / "characters.csv", chars)
    moves, hitboxes = moves_tables(args.shared, framedata)
    write_csv(args.out / "moves.csv", moves)
    write_csv(args.out / "hitboxes.csv", hitboxes)
    info, frames = motions_tables(args.shared, framedata)
    write_csv(args.out / "motions.csv", info)
    write_csv(args.out / "locomotion.csv", frames)
    write_csv(
        args.out / "action_first_frame.csv",
        [{"action": a, "first_action_frame": v} for a, v in sorted(first_frame.items())],
    )
    (args.out / "stages.json").write_text(json.dumps(stages_table(spawn), indent=1))
    print(
        f"wrote {len(chars)} characters, {len(moves)} moves, {len(hitboxes)} hitbox rows, "
        f"{len(info)} motions, {len(first_frame)} action first frames, {len(spawn)} stage spawns "
        f"to {args.out}"
    )


if __name__ == "__main__":
    main()
