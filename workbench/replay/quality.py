"""Replay quality as a filter: per-game flags and a score in [0, 1] that ingest, train
and eval take as ``--quality-threshold`` / ``--exclude-flags``.

Per player, from the frames:

* **self-destructs**: stock losses with no damage taken and no knockback in the 3 s
  before (replays before Slippi 3.5 record no knockback, where the damage test alone
  decides). An **SD chain** is 3 or more by one player within 30 s (a player throwing
  the game away, or a controller unplugged on a ledge).
* **idle**: the longest stretch of live frames with no input change; 10 s or more flags
  the game (a player gone AFK).
* **sandbagging** score in [0, 1]: the mean of the share of live play spent in idle
  stretches of 2 s or more, the share of stocks lost to self-destructs, and how far the
  damage the player deals falls below 40% a minute (real players deal 100-200%).
  0.5 or more flags the game.

Per game: **quit_early** (no contest, or a 1v1 that ended with both players on stock
and not on time), **multiplayer** and **cpu**. The score is
``(1 - max sandbagging) * product of FLAG_FACTORS over the flags``: a clean game scores
near 1; ``--quality-threshold 0.5`` drops any game with a chain, a quit or an AFK stretch.
"""

from __future__ import annotations

import difflib

import numpy as np

from workbench.errors import ConfigError
from workbench.replay.table import GameTable

FPS = 60
SD_QUIET_FRAMES = 3 * FPS  # no damage and no knockback in the 3 s before a stock loss
SD_CHAIN_COUNT = 3  # this many self-destructs by one player ...
SD_CHAIN_FRAMES = 30 * FPS  # ... within 30 s is a chain
IDLE_FRAMES = 10 * FPS  # 10 s without any input change while the game runs
IDLE_SHARE_FRAMES = 2 * FPS  # idle stretches this long count towards sandbagging
ACTIVE_DAMAGE_PER_MIN = 40.0  # dealing less than this (percent a minute) looks passive
SANDBAG_FLAG = 0.5

#: flag -> factor on the quality score
FLAG_FACTORS = {"sd_chain": 0.4, "idle": 0.6, "quit_early": 0.5, "sandbagging": 1.0, "multiplayer": 1.0, "cpu": 1.0}
QUALITY_FLAGS = tuple(FLAG_FACTORS)


def quality_flags(table: GameTable) -> dict:
    """The manifest's quality columns for one game: ``quality_flags``, ``quality``
    (0..1), and per player ``sd_count``, ``sd_chain`` (most SDs in any 30 s),
    ``idle_seconds`` (longest idle stretch) and ``sandbagging`` (0..1)."""
    meta = table.meta
    live = table.frames >= 0
    players = [table.player(i) for i in range(table.num_players)]
    sd_frames = [_self_destructs(p) for p in players]
    chains = [_most_within(rows, SD_CHAIN_FRAMES) for rows in sd_frames]
    idle_runs = [_idle_runs(p, live) for p in players]
    longest = [int(runs.max()) if len(runs) else 0 for runs in idle_runs]
    sandbag = [_sandbagging(i, players, live, len(sd_frames[i]), idle_runs[i]) for i in range(len(players))]
    flags: list[str] = []
    if max(chains, default=0) >= SD_CHAIN_COUNT:
        flags.append("sd_chain")
    if max(longest, default=0) >= IDLE_FRAMES:
        flags.append("idle")
    final_stocks = [int(p["stocks"][-1]) for p in players]
    if meta.end_method in ("no_contest", "unresolved", "unknown") or (
        meta.end_method != "time" and min(final_stocks, default=0) > 0 and len(final_stocks) == 2
    ):
        flags.append("quit_early")
    if max(sandbag, default=0.0) >= SANDBAG_FLAG:
        flags.append("sandbagging")
    if len(meta.players) > 2:
        flags.append("multiplayer")
    if any(p.type == "cpu" for p in meta.players):
        flags.append("cpu")
    score = (1.0 - max(sandbag, default=0.0)) * float(np.prod([FLAG_FACTORS[f] for f in flags]))
    return {
        "quality_flags": flags,
        "quality": round(score, 4),
        "sd_count": [len(rows) for rows in sd_frames],
        "sd_chain": chains,
        "idle_seconds": [round(n / FPS, 1) for n in longest],
        "sandbagging": [round(s, 4) for s in sandbag],
    }


def passes(row: dict, threshold: float = 0.0, exclude_flags: list[str] | tuple = ()) -> bool:
    """Whether a manifest row clears ``threshold`` and carries none of ``exclude_flags``.
    A row without a score (an old store not yet re-ingested) is judged by its flags."""
    if set(row.get("quality_flags") or ()) & set(exclude_flags):
        return False
    score = row.get("quality")
    return threshold <= 0 or score is None or score >= threshold


def check_filters(threshold: float, exclude_flags: list[str] | tuple, where: str = "--quality-threshold") -> None:
    """A threshold outside [0, 1] or an unknown flag name is a one-line ConfigError."""
    if not 0.0 <= threshold <= 1.0:
        sep = "" if where.endswith("=") else " "  # "train.quality_threshold=1.5", "--quality-threshold 1.5"
        raise ConfigError(f"{where}{sep}{threshold}: use a score in [0, 1]")
    for flag in exclude_flags:
        if flag not in QUALITY_FLAGS:
            close = difflib.get_close_matches(flag, QUALITY_FLAGS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown quality flag {flag!r}{hint}; flags: {', '.join(QUALITY_FLAGS)}")


def parse_flags(text: str | list[str] | tuple) -> list[str]:
    """``"sd_chain,idle"`` (or a list) -> ``["sd_chain", "idle"]``, checked."""
    flags = [f.strip() for f in text.split(",")] if isinstance(text, str) else list(text)
    flags = [f for f in flags if f]
    check_filters(0.0, flags)
    return flags


def _self_destructs(player: dict[str, np.ndarray]) -> np.ndarray:
    """Rows where the player lost a stock with no damage and no knockback just before."""
    lost = np.nonzero(np.diff(player["stocks"].astype(np.int16)) < 0)[0]
    knockback = (player["speed_x_attack"] != 0) | (player["speed_y_attack"] != 0)
    rows = []
    for row in lost:
        start = max(0, row - SD_QUIET_FRAMES)
        no_damage = np.all(np.diff(player["percent"][start : row + 1]) <= 0)
        if no_damage and not knockback[start : row + 1].any():
            rows.append(row)
    return np.array(rows, dtype=np.int64)


def _most_within(rows: np.ndarray, span: int) -> int:
    """The most events among ``rows`` (sorted) that fit in any ``span`` frames."""
    if len(rows) == 0:
        return 0
    ends = np.searchsorted(rows, rows + span, side="left")
    return int((ends - np.arange(len(rows))).max())


def _idle_runs(player: dict[str, np.ndarray], live: np.ndarray) -> np.ndarray:
    """Lengths of the runs of live frames in which no input changed."""
    inputs = np.stack(
        [
            player["stick_x"],
            player["stick_y"],
            player["cstick_x"],
            player["cstick_y"],
            player["trigger"],
            player["buttons"].astype(np.float32),
        ],
        axis=1,
    )
    changed = np.ones(len(inputs), dtype=bool)
    changed[1:] = np.any(inputs[1:] != inputs[:-1], axis=1)
    changed |= ~live
    boundaries = np.nonzero(changed)[0]
    if len(boundaries) == 0:
        return np.array([int(live.sum())])
    return np.diff(np.concatenate([boundaries, [len(inputs)]]))


def _sandbagging(
    index: int, players: list[dict[str, np.ndarray]], live: np.ndarray, sds: int, idle_runs: np.ndarray
) -> float:
    """Mean of idle share, SD share of stocks lost, and passivity (see the module doc)."""
    live_frames = max(int(live.sum()), 1)
    idle_share = float(idle_runs[idle_runs >= IDLE_SHARE_FRAMES].sum()) / live_frames
    stocks = players[index]["stocks"].astype(np.int16)
    lost = int(np.clip(-np.diff(stocks), 0, None).sum())
    sd_share = sds / lost if lost else 0.0
    dealt = 0.0  # percent the others took while this player was in the game (1v1: all of it)
    for other, p in enumerate(players):
        if other != index:
            rises = np.diff(p["percent"][live].astype(np.float64))
            dealt += float(rises[rises > 0].sum())
    minutes = live_frames / (FPS * 60)
    passivity = float(np.clip(1.0 - dealt / minutes / ACTIVE_DAMAGE_PER_MIN, 0.0, 1.0))
    return float(np.clip((min(idle_share, 1.0) + sd_share + passivity) / 3.0, 0.0, 1.0))
