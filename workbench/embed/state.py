"""Game state -> tensors: one vectorised code path for whole games and live frames.

:func:`embed_state` takes frame-table columns (a stored game, or the one-row table that
:func:`workbench.replay.live.gamestate_row` makes from a libmelee ``GameState``) and
returns ``floats (N, F)`` float32 and ``ids (N, K)`` int32 for the learned embeddings.
The layout (names, sizes, mirror signs, noise mask) is derived from the same feature
list that fills the arrays, so the two cannot drift apart.

What the state features hold: the **post-frame** state of each player, never a raw
controller input (the agent's own controller enters separately, aligned by the delay;
see :mod:`workbench.data.dataset`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from workbench.embed.config import EmbedConfig
from workbench.types import NUM_ACTIONS, NUM_CHARACTERS, PLAYER_FIELDS

TOURNAMENT_STAGES = (2, 3, 8, 28, 31, 32)   # FoD, PS, YS, DL, BF, FD; compact index 6 = other
STAGE_VOCAB = 64
ITEM_TYPE_VOCAB = 256
GAME_TIMER_FRAMES = 8 * 60 * 60
POS, SPEED = 0.01, 0.2                       # world units -> roughly [-3, 3]


@dataclass
class StateContext:
    """What one embedding call reads: columns for N frames and who is who."""

    columns: dict[str, np.ndarray]
    items: dict[str, np.ndarray]             # dense item_* arrays, (N, >= item_slots)
    frames: np.ndarray                       # (N,)
    stage: int
    self_index: int                          # player index of the agent (p{i})
    opp_index: int
    ports: tuple[int, int]                   # controller ports of (self, opponent)
    name_ids: tuple[int, int] = (0, 0)

    def col(self, who: str, name: str) -> np.ndarray:
        index = self.self_index if who == "self" else self.opp_index
        return self.columns[f"p{index}_{name}"]

    def nana(self, who: str, name: str) -> np.ndarray:
        """Nana's column, zero on frames (or games) without her."""
        index = self.self_index if who == "self" else self.opp_index
        key = f"p{index}_nana_{name}"
        if key not in self.columns:
            return np.zeros(len(self.frames), dtype=PLAYER_FIELDS.get(name, ("bool", 0))[0])
        present = self.columns[f"p{index}_nana_present"]
        return np.where(present, self.columns[key], 0)


@dataclass(frozen=True)
class Feature:
    """One named block of the float layout (``size`` columns) or one id column."""

    name: str
    fn: Callable[[StateContext], np.ndarray]
    size: int = 1              # > 1: a one-hot over `size` classes; fn returns class ids
    mirror: bool = False       # negated by left-right mirroring
    noise: bool = False        # continuous: Gaussian noise augmentation applies
    vocab: int = 0             # > 0: an id column for a learned embedding of this vocab
    group: str = ""            # id columns of one group share an embedding table


def _trunc(values: np.ndarray, scale: float, high: float) -> np.ndarray:
    """Truncate like libmelee's int() (so live and stored values agree), clip, scale."""
    return np.clip(np.trunc(values), 0.0, high) * scale


def _capped(who: str, name: str, cap: int) -> Callable[[StateContext], np.ndarray]:
    return lambda ctx: np.minimum(ctx.col(who, name), cap)


def _player_features(who: str, cfg: EmbedConfig) -> list[Feature]:
    p = cfg.player
    c = lambda name: (lambda ctx: ctx.col(who, name))  # noqa: E731
    feats = [
        Feature(f"{who}_x", lambda ctx: ctx.col(who, "x") * POS, mirror=True, noise=True),
        Feature(f"{who}_y", lambda ctx: ctx.col(who, "y") * POS, noise=True),
        Feature(f"{who}_percent", lambda ctx: ctx.col(who, "percent") * 0.01, noise=True),
        Feature(f"{who}_stocks", lambda ctx: ctx.col(who, "stocks") * 0.25),
        Feature(f"{who}_facing", c("facing"), mirror=True),
    ]
    # ids past the known range share one "unknown" class (the last one-hot column, or id
    # NUM_ACTIONS / NUM_CHARACTERS of the learned embedding)
    if p.action == "onehot":
        feats.append(Feature(f"{who}_action", _capped(who, "action", NUM_ACTIONS - 1), size=NUM_ACTIONS))
    else:
        feats.append(Feature(f"{who}_action", _capped(who, "action", NUM_ACTIONS),
                             vocab=NUM_ACTIONS + 1, group="action"))
    if p.character == "onehot":
        feats.append(Feature(f"{who}_character", _capped(who, "character", NUM_CHARACTERS - 1),
                             size=NUM_CHARACTERS))
    else:
        feats.append(Feature(f"{who}_character", _capped(who, "character", NUM_CHARACTERS),
                             vocab=NUM_CHARACTERS + 1, group="character"))
    if p.action_frame:
        feats.append(Feature(f"{who}_action_frame", lambda ctx: _trunc(ctx.col(who, "action_frame"), 1 / 60, 180)))
    if p.hitstun:
        feats.append(Feature(f"{who}_hitstun", lambda ctx: _trunc(ctx.col(who, "hitstun"), 1 / 60, 180)))
        feats.append(Feature(f"{who}_hitlag", lambda ctx: _trunc(ctx.col(who, "hitlag"), 1 / 10, 30)))
    if p.shield:
        feats.append(Feature(f"{who}_shield", lambda ctx: ctx.col(who, "shield") * (1 / 60), noise=True))
    if p.jumps:
        feats.append(Feature(f"{who}_jumps_left", lambda ctx: np.minimum(ctx.col(who, "jumps_left"), 6) * (1 / 6)))
        feats.append(Feature(f"{who}_on_ground", c("on_ground")))
    if p.invulnerable:
        feats.append(Feature(f"{who}_invulnerable", lambda ctx: ctx.col(who, "hurtbox") != 0))
    if p.speeds:
        for name, mirror in (("speed_air_x_self", True), ("speed_y_self", False),
                             ("speed_x_attack", True), ("speed_y_attack", False),
                             ("speed_ground_x_self", True)):
            feats.append(Feature(f"{who}_{name}", (lambda n: lambda ctx: ctx.col(who, n) * SPEED)(name),
                                 mirror=mirror, noise=True))
    return feats


def _nana_features(who: str, cfg: EmbedConfig) -> list[Feature]:
    if cfg.nana == "off":
        return []
    n = lambda name: (lambda ctx: ctx.nana(who, name))  # noqa: E731
    feats = [  # every Nana feature is zero while she is absent
        Feature(f"{who}_nana_present", n("present")),
        Feature(f"{who}_nana_x", lambda ctx: ctx.nana(who, "x") * POS, mirror=True, noise=True),
        Feature(f"{who}_nana_y", lambda ctx: ctx.nana(who, "y") * POS, noise=True),
        Feature(f"{who}_nana_facing", n("facing"), mirror=True),
        Feature(f"{who}_nana_percent", lambda ctx: ctx.nana(who, "percent") * 0.01, noise=True),
        Feature(f"{who}_nana_on_ground", n("on_ground")),
        Feature(f"{who}_nana_hitstun", lambda ctx: _trunc(ctx.nana(who, "hitstun"), 1 / 60, 180)),
    ]
    if cfg.nana == "enhanced":
        feats.append(Feature(f"{who}_nana_action", lambda ctx: np.minimum(ctx.nana(who, "action"), NUM_ACTIONS),
                             vocab=NUM_ACTIONS + 1, group="action"))
    return feats


def _stage_features(cfg: EmbedConfig) -> list[Feature]:
    def stage_ids(ctx: StateContext) -> np.ndarray:
        return np.full(len(ctx.frames), min(ctx.stage, STAGE_VOCAB - 1), dtype=np.int64)

    if cfg.stage == "learned":
        return [Feature("stage", stage_ids, vocab=STAGE_VOCAB, group="stage")]
    if cfg.stage == "onehot":
        return [Feature("stage", stage_ids, size=STAGE_VOCAB)]
    return [Feature("stage", lambda ctx: np.full(
        len(ctx.frames), TOURNAMENT_STAGES.index(ctx.stage) if ctx.stage in TOURNAMENT_STAGES else 6),
        size=len(TOURNAMENT_STAGES) + 1)]


def _item_features(cfg: EmbedConfig) -> list[Feature]:
    feats = []
    for slot in range(cfg.item_slots):
        def get(name: str, s: int = slot) -> Callable[[StateContext], np.ndarray]:
            return lambda ctx: ctx.items[f"item_{name}"][:, s]
        feats += [
            Feature(f"item{slot}_present", get("present")),
            Feature(f"item{slot}_x", lambda ctx, s=slot: ctx.items["item_x"][:, s] * POS, mirror=True),
            Feature(f"item{slot}_y", lambda ctx, s=slot: ctx.items["item_y"][:, s] * POS),
            Feature(f"item{slot}_own", lambda ctx, s=slot: ctx.items["item_owner"][:, s] == ctx.ports[0]),
            Feature(f"item{slot}_opp", lambda ctx, s=slot: ctx.items["item_owner"][:, s] == ctx.ports[1]),
            Feature(f"item{slot}_type", lambda ctx, s=slot: np.where(
                ctx.items["item_present"][:, s], np.minimum(ctx.items["item_type"][:, s], ITEM_TYPE_VOCAB - 2) + 1, 0),
                vocab=ITEM_TYPE_VOCAB, group="item_type"),
        ]
    return feats


def _spatial_features(cfg: EmbedConfig) -> list[Feature]:
    if not cfg.spatial:
        return []
    dx = lambda ctx: (ctx.col("opp", "x") - ctx.col("self", "x")) * POS  # noqa: E731
    dy = lambda ctx: (ctx.col("opp", "y") - ctx.col("self", "y")) * POS  # noqa: E731
    return [
        Feature("dx", dx, mirror=True, noise=True),
        Feature("dy", dy, noise=True),
        Feature("distance", lambda ctx: np.hypot(dx(ctx), dy(ctx)), noise=True),
        Feature("timer", lambda ctx: np.maximum(ctx.frames, 0) * (1 / GAME_TIMER_FRAMES)),
    ]


def _name_features(cfg: EmbedConfig) -> list[Feature]:
    if not cfg.names:
        return []
    return [Feature(f"{who}_name", (lambda i: lambda ctx: np.full(len(ctx.frames), ctx.name_ids[i]))(i),
                    vocab=cfg.name_vocab, group="name") for i, who in enumerate(("self", "opp"))]


def feature_list(cfg: EmbedConfig) -> list[Feature]:
    """Every state feature of a config, in layout order."""
    return (_player_features("self", cfg) + _player_features("opp", cfg)
            + _nana_features("self", cfg) + _nana_features("opp", cfg)
            + _stage_features(cfg) + _item_features(cfg) + _spatial_features(cfg)
            + _name_features(cfg))


class StateLayout:
    """Sizes and per-column properties of the embedded state for one config."""

    def __init__(self, cfg: EmbedConfig):
        self.config = cfg
        self.features = feature_list(cfg)
        self.float_features = [f for f in self.features if not f.vocab]
        self.id_features = [f for f in self.features if f.vocab]
        self.slices: dict[str, slice] = {}
        start = 0
        for f in self.float_features:
            self.slices[f.name] = slice(start, start + f.size)
            start += f.size
        self.float_dim = start
        self.mirror_sign = np.ones(self.float_dim, dtype=np.float32)
        self.noise_mask = np.zeros(self.float_dim, dtype=bool)
        for f in self.float_features:
            if f.mirror:
                self.mirror_sign[self.slices[f.name]] = -1.0
            self.noise_mask[self.slices[f.name]] = f.noise
        self.id_names = [f.name for f in self.id_features]
        self.id_vocab = [f.vocab for f in self.id_features]
        self.id_groups = [f.group for f in self.id_features]

    @property
    def id_dim(self) -> int:
        return len(self.id_features)

    def describe(self) -> str:
        lines = [f"state floats: {self.float_dim}, id columns: {self.id_dim}"]
        lines += [f"  {f.name:28s} {f.size:4d}{'  mirror' if f.mirror else ''}"
                  f"{'  noise' if f.noise else ''}" for f in self.float_features]
        lines += [f"  {f.name:28s} id vocab {f.vocab} ({f.group})" for f in self.id_features]
        return "\n".join(lines)


def embed_state(ctx: StateContext, layout: StateLayout) -> tuple[np.ndarray, np.ndarray]:
    """``(floats (N, F) float32, ids (N, K) int32)`` for N frames of one perspective."""
    n = len(ctx.frames)
    floats = np.empty((n, layout.float_dim), dtype=np.float32)
    for feature in layout.float_features:
        sl = layout.slices[feature.name]
        values = feature.fn(ctx)
        if feature.size == 1:
            floats[:, sl.start] = values
        else:  # one-hot block
            block = floats[:, sl]
            block.fill(0.0)
            block[np.arange(n), np.asarray(values, dtype=np.int64)] = 1.0
    ids = np.empty((n, layout.id_dim), dtype=np.int32)
    for col, feature in enumerate(layout.id_features):
        ids[:, col] = feature.fn(ctx)
    return floats, ids
