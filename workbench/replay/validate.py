"""Bounds checks on decoded values and the ingest policy (what training takes by default);
quality flags and scores live in :mod:`workbench.replay.quality`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from workbench.replay.errors import (
    CorruptReplayError,
    CPUPlayerError,
    FilteredOutError,
    LowQualityError,
    OutOfRangeError,
    TooManyPlayersError,
    TooShortError,
)
from workbench.replay.files import MAX_REPLAY_BYTES
from workbench.replay.header import RawHeader
from workbench.replay.quality import check_filters, passes
from workbench.replay.table import GameTable
from workbench.types import FIRST_FRAME, EXTERNAL_CHARACTER_NAMES, GameMeta, stage_name

# field -> (low, high), inclusive; generous bounds that any real game stays within
PLAYER_BOUNDS: dict[str, tuple[float, float]] = {
    "x": (-1000.0, 1000.0),
    "y": (-1000.0, 1000.0),
    "percent": (0.0, 999.0),
    "stocks": (0, 99),
    "action": (0, 0x1FF),
    "character": (0, 0x20),
    "stick_x": (-1.0001, 1.0001),
    "stick_y": (-1.0001, 1.0001),
    "cstick_x": (-1.0001, 1.0001),
    "cstick_y": (-1.0001, 1.0001),
    "trigger": (0.0, 1.0001),
    "shield": (-1.0, 61.0),
    "hitlag": (-1.0, 1000.0),
}
ITEM_BOUNDS: dict[str, tuple[float, float]] = {
    "x": (-10000.0, 10000.0),
    "y": (-10000.0, 10000.0),
    "type": (0, 1023),
}


MAX_SLIPPI_MAJOR = 3  # Slippi 0.1 .. 3.x; a larger major version is a corrupt byte
STAGE_IDS = range(0, 0x60)  # external stage ids, Home-Run Stadium (84) the last used
MAX_FRAME = 8 * 60 * 60 * 60  # 8 hours of play; a frame number beyond is a corrupt field


def check_header(header: RawHeader, path: str) -> None:
    """Raise :class:`OutOfRangeError` for game-start values no real game has: the
    version, an occupied port's character, the stage."""
    major = header.version[0]
    if major > MAX_SLIPPI_MAJOR or header.version == (0, 0, 0):
        raise OutOfRangeError(path, f"Slippi version {header.version_str}: expected 0.1 to {MAX_SLIPPI_MAJOR}.x")
    if not header.ports:
        raise CorruptReplayError(path, "no player in the game-start block")
    for port in header.ports:
        character = header.characters[port]
        if character not in EXTERNAL_CHARACTER_NAMES:
            raise OutOfRangeError(
                path, f"port {port + 1} character id {character}: expected 0 to {max(EXTERNAL_CHARACTER_NAMES)}"
            )
    if header.stage not in STAGE_IDS:
        raise OutOfRangeError(path, f"stage id {header.stage}: expected {STAGE_IDS.start} to {STAGE_IDS.stop - 1}")


def check_frames(table: GameTable, path: str) -> None:
    """Frame numbers start at or after the countdown, rise strictly (rollback resolved)
    and stay within :data:`MAX_FRAME`."""
    frames = table.frames
    if len(frames) == 0:
        return
    if int(frames[0]) < FIRST_FRAME or int(frames[-1]) > MAX_FRAME:
        raise OutOfRangeError(
            path, f"frames {int(frames[0])} to {int(frames[-1])}: expected {FIRST_FRAME} to {MAX_FRAME}"
        )
    steps = np.diff(frames.astype(np.int64))
    if len(steps) and steps.min() <= 0:
        row = int(np.argmax(steps <= 0))
        raise OutOfRangeError(
            path, f"frame {int(frames[row + 1])} follows frame {int(frames[row])}: frame numbers must rise"
        )


def check_bounds(table: GameTable, path: str) -> None:
    """Raise :class:`OutOfRangeError` naming the first field, player and frame out of range."""
    for index in range(table.num_players):
        present = table.columns[f"p{index}_present"]
        for name, (low, high) in PLAYER_BOUNDS.items():
            values = table.columns[f"p{index}_{name}"]
            bad = present & ~((values >= low) & (values <= high))  # NaN fails both tests
            if bad.any():
                row = int(np.argmax(bad))
                raise OutOfRangeError(
                    path,
                    f"p{index} {name} = {values[row]!r} at frame {int(table.frames[row])}, expected [{low}, {high}]",
                )
    items = table.items
    for name, (low, high) in ITEM_BOUNDS.items():
        values = items.fields[name]
        bad = ~((values >= low) & (values <= high))
        if bad.any():
            row = int(np.searchsorted(items.offsets, int(np.argmax(bad)), side="right")) - 1
            raise OutOfRangeError(
                path,
                f"item {name} = {values[np.argmax(bad)]!r} at frame {int(table.frames[row])}, expected [{low}, {high}]",
            )


@dataclass
class IngestPolicy:
    """What ``workbench ingest`` keeps. Defaults suit 1v1 behavioural cloning."""

    min_frames: int = 300  # 5 s of play; shorter files are tests or misfires
    max_players: int = 2
    # "human": keep games with at least one human (the CPU's port is marked in the
    # metadata and never used as a training perspective); "none": skip any CPU game;
    # "any": keep CPU-only games too.
    cpu: str = "human"
    characters: list[int] = field(default_factory=list)  # external ids; empty = any
    stages: list[int] = field(default_factory=list)  # external ids; empty = any
    max_bytes: int = MAX_REPLAY_BYTES  # larger files are skipped unread
    # replay quality (workbench.replay.quality): games scoring below the threshold, or
    # carrying any of these flags, are skipped with reason "low quality"
    quality_threshold: float = 0.0
    exclude_flags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_filters(self.quality_threshold, self.exclude_flags, "--quality-threshold")


def check_policy(meta: GameMeta, playable: int, policy: IngestPolicy, path: str, quality: dict | None = None) -> None:
    """Raise the skip error for a game the policy does not keep (``playable``: frames >= 0;
    ``quality``: the manifest row's quality columns, see :mod:`workbench.replay.quality`).

    Needs only the metadata, so a cached game is re-judged without loading its frames.
    """
    if playable < policy.min_frames:
        raise TooShortError(path, f"{playable} playable frames < --min-frames {policy.min_frames}")
    if len(meta.players) > policy.max_players:
        kind = "doubles" if meta.is_teams else f"{len(meta.players)} players"
        raise TooManyPlayersError(path, f"{kind}; 1v1 only by default, pass --allow-multiplayer")
    cpus = sum(p.type == "cpu" for p in meta.players)
    if cpus and (policy.cpu == "none" or (policy.cpu == "human" and cpus == len(meta.players))):
        hint = "--cpu any keeps CPU-only games" if policy.cpu == "human" else "--cpu human keeps them"
        raise CPUPlayerError(path, f"{cpus} of {len(meta.players)} players are CPUs; {hint}")
    if policy.characters and not any(p.character in policy.characters for p in meta.players):
        names = ", ".join(p.character_name for p in meta.players)
        raise FilteredOutError(path, f"characters {names} not in --characters")
    if policy.stages and meta.stage not in policy.stages:
        raise FilteredOutError(path, f"stage {stage_name(meta.stage)} not in --stages")
    if quality is not None and not passes(quality, policy.quality_threshold, policy.exclude_flags):
        flags = ",".join(quality.get("quality_flags") or []) or "none"
        raise LowQualityError(
            path,
            f"quality {quality.get('quality')} (flags: {flags}) below "
            f"--quality-threshold {policy.quality_threshold} or in "
            f"--exclude-flags {','.join(policy.exclude_flags) or '-'}",
        )
