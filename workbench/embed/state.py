"""Game state -> tensors: one vectorised code path for whole games and live frames.

:func:`embed_state` takes frame-table columns (a stored game, or the one-row table that
:func:`workbench.replay.live.gamestate_row` makes from a libmelee ``GameState``) and
returns ``floats (N, F)`` float32 and ``ids (N, K)`` int32 for the learned embeddings.

Features are declared once (:func:`feature_list`): most read one source column and apply
one elementwise op. :class:`StateLayout` derives the layout (names, sizes, mirror signs,
noise mask) from that list and compiles it into a plan that computes all features of an
op with one stacked array operation, so a single live frame costs a few dozen numpy
calls, not one per feature, and whole games and single frames share every line.

The state features hold the **post-frame** state of each player, never a raw controller
input (the agent's own controller enters separately, aligned by the delay; see
:mod:`workbench.data.dataset`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from workbench.embed.config import EmbedConfig
from workbench.embed.returns import frame_rewards, return_to_go
from workbench.types import ITEM_FIELDS, MAX_ITEMS, NUM_ACTIONS, NUM_CHARACTERS, PLAYER_FIELDS

TOURNAMENT_STAGES = (2, 3, 8, 28, 31, 32)  # FoD, PS, YS, DL, BF, FD; compact index 6 = other
STAGE_VOCAB = 64
ITEM_TYPE_VOCAB = 256
GAME_TIMER_FRAMES = 8 * 60 * 60
# x of the main platform's ground edge per tournament stage (world units, symmetric stages):
# libmelee stages.py EDGE_GROUND_POSITION, as in data/sim/stages.json "edge_ground"
# (embed does not read sim tables); other stages use a typical 80
LEDGE_X = {2: 63.3475, 3: 87.75, 8: 56.0, 28: 77.2713, 31: 68.4, 32: 85.5657}
DEFAULT_LEDGE_X = 80.0
RETURN_FEATURE = "return_to_go"
POS, SPEED = 0.01, 0.2  # world units -> roughly [-3, 3]
# ops applied to a source column v (float features) or producing ids
OPS = (
    "scale",  # v * scale
    "trunc",  # clip(trunc(v), 0, high) * scale: truncates like libmelee's int()
    "flag",  # v != 0
    "own",  # v == the agent's port (item owners)
    "opp",  # v == the opponent's port
    "cap",  # min(v, high): ids and one-hot classes; past the range = "unknown"
    "item_id",
)  # 0 for an empty item slot, else min(v, high) + 1


PLAYER_BLOCK = (*PLAYER_FIELDS, "present")  # columns of a player block
ITEM_BLOCK = tuple(ITEM_FIELDS)  # fields of the item block
BLOCK_KINDS = ("self", "opp", "self_nana", "opp_nana", "item")
# a live frame's ready row (StateContext.flat): the four player blocks, then the items
# field-major over all MAX_ITEMS slots
FLAT_OFFSETS = {kind: k * len(PLAYER_BLOCK) for k, kind in enumerate(BLOCK_KINDS)}
FLAT_DIM = FLAT_OFFSETS["item"] + len(ITEM_BLOCK) * MAX_ITEMS


@dataclass
class StateContext:
    """What one embedding call reads: N frames and who is who.

    Built from frame-table ``columns`` (``p{i}_{field}``) and dense ``items``; or, for a
    live frame, from one ready row ``flat`` (see :func:`workbench.embed.game.live_context`):
    the four player blocks in :data:`PLAYER_BLOCK` order, then the items (:data:`FLAT_OFFSETS`).
    """

    columns: dict[str, np.ndarray]
    items: dict[str, np.ndarray]  # dense item_* arrays, (N, >= item_slots)
    frames: np.ndarray  # (N,)
    stage: int
    self_index: int  # player index of the agent (p{i})
    opp_index: int
    ports: tuple[int, int]  # controller ports of (self, opponent)
    name_ids: tuple[int, int] = (0, 0)
    flat: np.ndarray | None = None  # (N, FLAT_DIM): every block in one row

    def col(self, who: str, name: str) -> np.ndarray:
        if self.flat is not None:
            return self.flat[:, FLAT_OFFSETS[who] + PLAYER_BLOCK.index(name)]
        index = self.self_index if who == "self" else self.opp_index
        return self.columns[f"p{index}_{name}"]

    def gather(self, kind: str, indices: np.ndarray, item_slots: int) -> np.ndarray:
        """(N, len(indices)) float32 columns of a block: a player's or Nana's fields
        (:data:`PLAYER_BLOCK` order; Nana's zero while she is absent) or item fields
        (``field * item_slots + slot``). Live frames read their ready row; stored games
        stack just the columns asked for."""
        if self.flat is not None:
            return self.flat[:, _flat_columns(kind, np.asarray(indices), item_slots)]
        if kind == "item":
            parts = [self.items[f"item_{ITEM_BLOCK[i // item_slots]}"][:, i % item_slots] for i in indices]
            return np.stack(parts, axis=1).astype(np.float32, copy=False)
        who, nana = kind.split("_")[0], kind.endswith("_nana")
        index = self.self_index if who == "self" else self.opp_index
        prefix = f"p{index}_nana_" if nana else f"p{index}_"
        if prefix + "present" not in self.columns:  # no Nana in this game
            return np.zeros((len(self.frames), len(indices)), np.float32)
        values = np.stack([self.columns[prefix + PLAYER_BLOCK[i]] for i in indices], axis=1)
        values = values.astype(np.float32, copy=False)
        if nana:
            values = values * self.columns[prefix + "present"][:, None]
        return values


@dataclass(frozen=True)
class Feature:
    """One block of the float layout (``size`` columns) or one id column."""

    name: str
    source: tuple | None = None  # (block kind, field) or ("item", field, slot); None: ``fn``
    op: str = "scale"
    scale: float = 1.0
    high: float = 0.0
    fn: Callable[[StateContext], np.ndarray] | None = None
    size: int = 1  # > 1: a one-hot over `size` classes
    mirror: bool = False  # negated by left-right mirroring
    noise: bool = False  # continuous: Gaussian noise augmentation applies
    vocab: int = 0  # > 0: an id column for a learned embedding of this vocab
    group: str = ""  # id columns of one group share an embedding table


def _player_features(who: str, cfg: EmbedConfig) -> list[Feature]:
    p = cfg.player
    f = lambda name, field, **kw: Feature(f"{who}_{name}", (who, field), **kw)  # noqa: E731
    feats = [
        f("x", "x", scale=POS, mirror=True, noise=True),
        f("y", "y", scale=POS, noise=True),
        f("percent", "percent", scale=0.01, noise=True),
        f("stocks", "stocks", scale=0.25),
        f("facing", "facing", mirror=True),
    ]
    # ids past the known range share one "unknown" class (the last one-hot column, or id
    # NUM_ACTIONS / NUM_CHARACTERS of the learned embedding)
    if p.action == "onehot":
        feats.append(f("action", "action", op="cap", high=NUM_ACTIONS - 1, size=NUM_ACTIONS))
    else:
        feats.append(f("action", "action", op="cap", high=NUM_ACTIONS, vocab=NUM_ACTIONS + 1, group="action"))
    if p.character == "onehot":
        feats.append(f("character", "character", op="cap", high=NUM_CHARACTERS - 1, size=NUM_CHARACTERS))
    else:
        feats.append(
            f("character", "character", op="cap", high=NUM_CHARACTERS, vocab=NUM_CHARACTERS + 1, group="character")
        )
    if p.action_frame:
        feats.append(f("action_frame", "action_frame", op="trunc", scale=1 / 60, high=180))
    if p.hitstun:
        feats += [
            f("hitstun", "hitstun", op="trunc", scale=1 / 60, high=180),
            f("hitlag", "hitlag", op="trunc", scale=1 / 10, high=30),
        ]
    if p.shield:
        feats.append(f("shield", "shield", scale=1 / 60, noise=True))
    if p.jumps:
        feats += [f("jumps_left", "jumps_left", op="trunc", scale=1 / 6, high=6), f("on_ground", "on_ground")]
    if p.invulnerable:
        feats.append(f("invulnerable", "hurtbox", op="flag"))
    if p.speeds:
        for name, mirror in (
            ("speed_air_x_self", True),
            ("speed_y_self", False),
            ("speed_x_attack", True),
            ("speed_y_attack", False),
            ("speed_ground_x_self", True),
        ):
            feats.append(f(name, name, scale=SPEED, mirror=mirror, noise=True))
    return feats


def _nana_features(who: str, cfg: EmbedConfig) -> list[Feature]:
    if cfg.nana == "off":
        return []
    f = lambda name, **kw: Feature(f"{who}_nana_{name}", (f"{who}_nana", name), **kw)  # noqa: E731
    feats = [  # every Nana feature is zero while she is absent
        f("present"),
        f("x", scale=POS, mirror=True, noise=True),
        f("y", scale=POS, noise=True),
        f("facing", mirror=True),
        f("percent", scale=0.01, noise=True),
        f("on_ground"),
        f("hitstun", op="trunc", scale=1 / 60, high=180),
    ]
    if cfg.nana == "enhanced":
        feats.append(f("action", op="cap", high=NUM_ACTIONS, vocab=NUM_ACTIONS + 1, group="action"))
    return feats


def _stage_class(ctx: StateContext) -> np.ndarray:
    compact = TOURNAMENT_STAGES.index(ctx.stage) if ctx.stage in TOURNAMENT_STAGES else 6
    return np.full(len(ctx.frames), compact)


def _stage_id(ctx: StateContext) -> np.ndarray:
    return np.full(len(ctx.frames), min(ctx.stage, STAGE_VOCAB - 1))


def _stage_features(cfg: EmbedConfig) -> list[Feature]:
    if cfg.stage == "learned":
        return [Feature("stage", fn=_stage_id, vocab=STAGE_VOCAB, group="stage")]
    if cfg.stage == "onehot":
        return [Feature("stage", fn=_stage_id, size=STAGE_VOCAB)]
    return [Feature("stage", fn=_stage_class, size=len(TOURNAMENT_STAGES) + 1)]


def _item_features(cfg: EmbedConfig) -> list[Feature]:
    feats = []
    for s in range(cfg.item_slots):
        feats += [
            Feature(f"item{s}_present", ("item", "present", s)),
            Feature(f"item{s}_x", ("item", "x", s), scale=POS, mirror=True),
            Feature(f"item{s}_y", ("item", "y", s), scale=POS),
            Feature(f"item{s}_own", ("item", "owner", s), op="own"),
            Feature(f"item{s}_opp", ("item", "owner", s), op="opp"),
            Feature(
                f"item{s}_type",
                ("item", "type", s),
                op="item_id",
                high=ITEM_TYPE_VOCAB - 2,
                vocab=ITEM_TYPE_VOCAB,
                group="item_type",
            ),
        ]
    return feats


def _dx(ctx: StateContext) -> np.ndarray:
    return (ctx.col("opp", "x") - ctx.col("self", "x")) * POS


def _dy(ctx: StateContext) -> np.ndarray:
    return (ctx.col("opp", "y") - ctx.col("self", "y")) * POS


def _toward(who: str, other: str):
    """+1 when ``who`` faces ``other``, -1 when it faces away (0 when level in x)."""

    def fn(ctx: StateContext) -> np.ndarray:
        return ctx.col(who, "facing") * np.sign(ctx.col(other, "x") - ctx.col(who, "x"))

    return fn


def _ledge(who: str):
    """Horizontal distance to the nearer ledge: > 0 over the stage, < 0 past the edge."""

    def fn(ctx: StateContext) -> np.ndarray:
        return (LEDGE_X.get(ctx.stage, DEFAULT_LEDGE_X) - np.abs(ctx.col(who, "x"))) * POS

    return fn


def _relative_features(cfg: EmbedConfig) -> list[Feature]:
    """Features a reaction depends on that a network would otherwise have to compute:
    facing toward the opponent, distance to the ledge, the relative speed."""
    if not cfg.relative:
        return []
    return [
        Feature("self_facing_opp", fn=_toward("self", "opp")),
        Feature("opp_facing_self", fn=_toward("opp", "self")),
        Feature("self_ledge", fn=_ledge("self"), noise=True),
        Feature("opp_ledge", fn=_ledge("opp"), noise=True),
        Feature(
            "dvx",
            fn=lambda ctx: (
                (
                    ctx.col("opp", "speed_air_x_self")
                    + ctx.col("opp", "speed_ground_x_self")
                    - ctx.col("self", "speed_air_x_self")
                    - ctx.col("self", "speed_ground_x_self")
                )
                * SPEED
            ),
            mirror=True,
            noise=True,
        ),
        Feature(
            "dvy", fn=lambda ctx: (ctx.col("opp", "speed_y_self") - ctx.col("self", "speed_y_self")) * SPEED, noise=True
        ),
    ]


def _spatial_features(cfg: EmbedConfig) -> list[Feature]:
    if not cfg.spatial:
        return []
    return [
        Feature("dx", fn=_dx, mirror=True, noise=True),
        Feature("dy", fn=_dy, noise=True),
        Feature("distance", fn=lambda ctx: np.hypot(_dx(ctx), _dy(ctx)), noise=True),
        Feature("timer", fn=lambda ctx: np.maximum(ctx.frames, 0) * (1 / GAME_TIMER_FRAMES)),
    ]


def _name_features(cfg: EmbedConfig) -> list[Feature]:
    if not cfg.names:
        return []
    return [
        Feature(
            f"{who}_name",
            fn=(lambda i: lambda ctx: np.full(len(ctx.frames), ctx.name_ids[i]))(i),
            vocab=cfg.name_vocab,
            group="name",
        )
        for i, who in enumerate(("self", "opp"))
    ]


def _return_to_go(ctx: StateContext, cfg: EmbedConfig) -> np.ndarray:
    """The conditioning return (:mod:`workbench.embed.returns`): the target when one is
    set, else what is still to come in a stored game (a live frame has no future: 0)."""
    returns = cfg.returns
    if returns.target is not None:
        return np.full(len(ctx.frames), returns.target * returns.scale, np.float32)
    if ctx.flat is not None:
        return np.zeros(len(ctx.frames), np.float32)
    rewards = frame_rewards(
        ctx.col("self", "stocks"),
        ctx.col("opp", "stocks"),
        ctx.col("self", "percent"),
        ctx.col("opp", "percent"),
        returns,
    )
    return (return_to_go(rewards, returns.horizon) * returns.scale).astype(np.float32)


def _return_features(cfg: EmbedConfig) -> list[Feature]:
    if not cfg.returns.enabled:
        return []
    return [Feature(RETURN_FEATURE, fn=lambda ctx: _return_to_go(ctx, cfg))]


def feature_list(cfg: EmbedConfig) -> list[Feature]:
    """Every state feature of a config, in layout order (the return-to-go, when on, is
    the last float column)."""
    return (
        _player_features("self", cfg)
        + _player_features("opp", cfg)
        + _nana_features("self", cfg)
        + _nana_features("opp", cfg)
        + _stage_features(cfg)
        + _item_features(cfg)
        + _spatial_features(cfg)
        + _relative_features(cfg)
        + _name_features(cfg)
        + _return_features(cfg)
    )


@dataclass
class OpGroup:
    """Every single-column feature of one op: per source block, which block columns to
    read; the concatenation of those reads lands in ``columns``."""

    op: str
    reads: list[tuple[str, np.ndarray]]  # (block kind, block column indices)
    columns: np.ndarray  # destination float (or id) columns, read order
    scale: np.ndarray  # (S,) float32
    high: np.ndarray  # (S,) float32
    flat: np.ndarray | None = None  # the reads as columns of StateContext.flat
    flat_present: np.ndarray | None = None  # item_id: the slots' "present" columns there


def _block_column(source: tuple, item_slots: int) -> tuple[str, int]:
    if source[0] == "item":
        return "item", ITEM_BLOCK.index(source[1]) * item_slots + source[2]
    return source[0], PLAYER_BLOCK.index(source[1])


def _flat_columns(kind: str, indices: np.ndarray, item_slots: int) -> np.ndarray:
    """Block columns (:meth:`StateContext.gather` numbering) -> columns of the flat row."""
    if kind == "item":
        return FLAT_OFFSETS["item"] + indices // item_slots * MAX_ITEMS + indices % item_slots
    return FLAT_OFFSETS[kind] + indices


class StateLayout:
    """Sizes and per-column properties of the embedded state for one config, and the
    compiled plan :func:`embed_state` executes."""

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
        self._compile()

    def _compile(self) -> None:
        """Group sourced single-column features by op and source block; features that
        compute their own values (stage, spatial, names) run one by one."""
        slots = self.config.item_slots
        found: dict[tuple[str, bool], dict[str, list]] = {}
        self.generic: list[tuple[Feature, int | None]] = []  # (feature, id column or None)
        targets = [(f, self.slices[f.name].start, False) for f in self.float_features]
        targets += [(f, k, True) for k, f in enumerate(self.id_features)]
        for f, column, is_id in targets:
            if f.source is None or f.size > 1:
                self.generic.append((f, column if is_id else None))
                continue
            kind, index = _block_column(f.source, slots)
            by_kind = found.setdefault((f.op, is_id), {})
            by_kind.setdefault(kind, []).append((index, column, f.scale, f.high))
        self.float_groups, self.id_plan = [], []
        for (op, is_id), by_kind in found.items():
            rows = [r for kind in BLOCK_KINDS for r in by_kind.get(kind, [])]
            reads = [
                (kind, np.array([r[0] for r in by_kind[kind]], np.int64)) for kind in BLOCK_KINDS if kind in by_kind
            ]
            group = OpGroup(
                op,
                reads,
                np.array([r[1] for r in rows], np.int64),
                np.array([r[2] for r in rows], np.float32),
                np.array([r[3] for r in rows], np.float32),
            )
            group.flat = np.concatenate([_flat_columns(k, i, slots) for k, i in reads])
            if op == "item_id":
                group.flat_present = _flat_columns("item", reads[0][1] % slots, slots)
            (self.id_plan if is_id else self.float_groups).append(group)

    @property
    def id_dim(self) -> int:
        return len(self.id_features)

    def describe(self) -> str:
        lines = [f"state floats: {self.float_dim}, id columns: {self.id_dim}"]
        lines += [
            f"  {f.name:28s} {f.size:4d}{'  mirror' if f.mirror else ''}{'  noise' if f.noise else ''}"
            for f in self.float_features
        ]
        lines += [f"  {f.name:28s} id vocab {f.vocab} ({f.group})" for f in self.id_features]
        return "\n".join(lines)


def _apply(group: OpGroup, values: np.ndarray, ctx: StateContext) -> np.ndarray:
    """values (N, S) float32 -> the group's op, (N, S)."""
    op = group.op
    if op == "scale":
        return values * group.scale
    if op == "trunc":
        return np.clip(np.trunc(values), 0.0, group.high) * group.scale
    if op == "flag":
        return values != 0
    if op == "own":
        return values == ctx.ports[0]
    if op == "opp":
        return values == ctx.ports[1]
    if op == "cap":
        return np.minimum(values, group.high)
    if op == "item_id":  # empty slots read -1 (see _read)
        return np.where(values >= 0, np.minimum(values, group.high) + 1, 0)
    raise ValueError(f"unknown feature op {op!r}")


def _read(ctx: StateContext, group: OpGroup, item_slots: int) -> np.ndarray:
    """(N, S) float32: the group's source columns, one gather per block (one in all for
    a live frame's flat row)."""
    if ctx.flat is not None:
        values = ctx.flat[:, group.flat]
        if group.op == "item_id":
            values = np.where(ctx.flat[:, group.flat_present] != 0, values, -1.0)
        return values
    parts = [ctx.gather(kind, index, item_slots) for kind, index in group.reads]
    values = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    if group.op == "item_id":  # slot = index % item_slots; "present" is item field 0
        present = ctx.gather("item", group.reads[0][1] % item_slots, item_slots)
        values = np.where(present != 0, values, -1.0)
    return values


def embed_state(ctx: StateContext, layout: StateLayout) -> tuple[np.ndarray, np.ndarray]:
    """``(floats (N, F) float32, ids (N, K) int32)`` for N frames of one perspective."""
    n = len(ctx.frames)
    slots = layout.config.item_slots
    floats = np.empty((n, layout.float_dim), dtype=np.float32)
    ids = np.empty((n, layout.id_dim), dtype=np.int32)
    for group in layout.float_groups:
        floats[:, group.columns] = _apply(group, _read(ctx, group, slots), ctx)
    for group in layout.id_plan:
        ids[:, group.columns] = _apply(group, _read(ctx, group, slots), ctx)
    for feature, id_column in layout.generic:
        if feature.source is not None:  # a sourced one-hot: its class per frame
            kind, index = _block_column(feature.source, slots)
            values = np.minimum(ctx.gather(kind, np.array([index]), slots)[:, 0], feature.high)
        else:
            values = feature.fn(ctx)
        if id_column is not None:
            ids[:, id_column] = values
        elif feature.size == 1:
            floats[:, layout.slices[feature.name].start] = values
        else:
            block = floats[:, layout.slices[feature.name]]
            block.fill(0.0)
            block[np.arange(n), np.asarray(values, dtype=np.int64)] = 1.0
    return floats, ids
