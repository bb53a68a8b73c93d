"""Train/validation split by game, never by frame; deterministic given the seed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.errors import ConfigError


@dataclass
class Split:
    train: list[str]
    val: list[str]
    seed: int
    val_fraction: float

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.__dict__, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        return cls(**json.loads(Path(path).read_text()))


def split_games(md5s: list[str], val_fraction: float = 0.15, seed: int = 0) -> Split:
    """Shuffle the sorted game ids with ``seed`` and hold out ``val_fraction`` of them
    (at least one game when there are two or more)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction={val_fraction}: use a value in [0, 1)")
    games = sorted(set(md5s))
    order = np.random.default_rng(seed).permutation(len(games))
    n_val = int(round(val_fraction * len(games)))
    if val_fraction > 0 and len(games) >= 2:
        n_val = min(max(n_val, 1), len(games) - 1)
    val = sorted(games[i] for i in order[:n_val])
    train = sorted(games[i] for i in order[n_val:])
    return Split(train, val, seed, val_fraction)
