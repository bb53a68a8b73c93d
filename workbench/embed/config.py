"""Typed embedding and controller configs, saved with every checkpoint.

Every choice is a named option; the defaults are small enough to train on a CPU
(learned ids instead of 399-wide one-hots, 5 item slots, compact stage and Nana).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from workbench.configtree import decode, encode, option
from workbench.embed.returns import ReturnConfig
from workbench.errors import ConfigError

CATEGORICAL = ("onehot", "learned")
NANA_MODES = ("off", "compact", "enhanced")
STAGE_MODES = ("onehot", "compact", "learned")
STICK_MODES = ("uniform", "kmeans")


def _check(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: choose one of {', '.join(allowed)}")


class DictMixin:
    """``to_dict``/``from_dict`` for (nested) config dataclasses, typed by their
    annotations; an unknown key is an error naming the closest valid one
    (:mod:`workbench.configtree`)."""

    def to_dict(self) -> dict:
        return encode(self)

    @classmethod
    def from_dict(cls, data: dict):
        return decode(cls, data)


@dataclass
class PlayerEmbedConfig(DictMixin):
    """Per-player state features (the agent's own player and the opponent alike)."""

    action: str = "learned"  # "onehot" over 399 action states, or a learned-embedding id
    character: str = "learned"  # "onehot" over 33 internal ids, or a learned id
    action_frame: bool = True  # frames spent in the current action
    hitstun: bool = True  # hitstun and hitlag frames left
    shield: bool = True
    jumps: bool = True
    invulnerable: bool = True
    speeds: bool = True  # self and knockback speeds (Slippi 3.5+; zero before)

    def __post_init__(self) -> None:
        _check("player.action", self.action, CATEGORICAL)
        _check("player.character", self.character, CATEGORICAL)


def _kmeans_from_file(path) -> dict:
    """``--stick-centers FILE``: the sticks switch to the file's k-means classes."""
    from workbench.embed.controller import load_centers

    centers = load_centers(path)
    return {"stick_mode": "kmeans", "main_centers": centers["main"], "c_centers": centers["c"]}


@dataclass
class ControllerConfig(DictMixin):
    """How controller targets are discretised and decoded."""

    stick_mode: str = "uniform"  # "uniform": per-axis buckets; "kmeans": joint 2-D classes
    stick_buckets: int = 17  # per axis, uniform mode (odd, so 0.5 is a bucket centre)
    main_centers: list[list[float]] = option(  # kmeans, libmelee units
        default_factory=list,
        flag="--stick-centers",
        metavar="CENTERS.json",
        expand=True,
        parse=lambda path: _kmeans_from_file(path),
        help="k-means stick classes from `workbench embed fit-sticks --out`",
    )
    c_centers: list[list[float]] = field(default_factory=list)
    trigger_buckets: int = 5

    def __post_init__(self) -> None:
        _check("controller.stick_mode", self.stick_mode, STICK_MODES)
        if self.stick_buckets < 3 or self.stick_buckets % 2 == 0:
            raise ConfigError(
                f"stick_buckets={self.stick_buckets}: use an odd number >= 3 so neutral (0.5) is a bucket centre"
            )
        if self.stick_mode == "kmeans" and not (self.main_centers and self.c_centers):
            raise ConfigError(
                "stick_mode='kmeans' needs centres: run `workbench embed "
                "fit-sticks REPLAYS --out centers.json`, then "
                "`workbench train --stick-centers centers.json`"
            )


@dataclass
class EmbedConfig(DictMixin):
    """Everything that decides what the policy sees. Saved with every checkpoint and
    hashed into the embedding cache key."""

    player: PlayerEmbedConfig = field(default_factory=PlayerEmbedConfig)
    nana: str = "compact"  # "off", "compact" (position, state), "enhanced" (+ action id)
    stage: str = "compact"  # "onehot" over 64 ids, "compact" (6 tournament stages + other), "learned"
    item_slots: int = 5  # projectiles/items embedded, nearest first; 0 turns items off
    spatial: bool = True  # distance and relative position to the opponent, game timer
    relative: bool = False  # facing toward each other, ledge distances, relative speed
    names: bool = False  # player-name ids from a NameRegistry (learned embedding)
    name_vocab: int = 256  # rows of the name embedding (id 0 = unknown player)
    prev_controller: bool = True  # the agent's own controller at frame i + delay
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    skip_countdown: bool = True  # train from frame 0, not the 123 countdown frames
    returns: ReturnConfig = field(default_factory=ReturnConfig)  # return-to-go (Decision Transformer)

    def __post_init__(self) -> None:
        _check("nana", self.nana, NANA_MODES)
        _check("stage", self.stage, STAGE_MODES)
        if not 0 <= self.item_slots <= 15:
            raise ConfigError(f"item_slots={self.item_slots}: choose 0 to 15")

    def cache_key(self) -> str:
        """Stable hash of everything that changes the embedded arrays (the return options
        only when the feature is on, so caches made before it existed stay valid)."""
        data = self.to_dict()
        if not self.returns.enabled:
            data.pop("returns")
        return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
