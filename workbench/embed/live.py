"""One live frame -> the model's input rows, as precomputed index arithmetic.

:func:`workbench.embed.state.embed_state` is the reference for every frame, stored or
live. A bot calls it once per frame on a one-row context, where each of its steps (a
fancy index per op group, the op, a fancy assignment, the stage one-hot, the spatial
features one by one) is a numpy call of a microsecond or more. :class:`LiveEmbedder`
compiles the same layout once into

- a gather of every sourced column of the flat row (floats and ids together),
- each column's op (scale, trunc, flag, own/opp port, cap, item id) as a code per
  element,
- a scatter of the results into the caller's float row and its id row,
- the features of the whole game (the stage, the players' names) looked up from a
  cache keyed by (stage, name ids), and the spatial features from four of the read
  values;

run as one compiled kernel (:func:`embed_flat`, numba; plain Python with
``WORKBENCH_EMBED_JIT=0`` or without numba) that also checks the floats are finite: one
call instead of ~20 numpy calls of a microsecond each. It writes straight into the
arrays the ONNX session is bound to. Any feature it does not know runs through the
reference. ``tests/test_embed_live.py`` checks it equals :func:`embed_state` on every
frame of real replays played through libmelee, through :meth:`LiveEmbedder.embed` (a
``live_context``) and the bot's :meth:`LiveEmbedder.embed_live` (libmelee's blocks, the
flat row assembled by the compiled :func:`assemble`).
"""

from __future__ import annotations

import os

import numpy as np

from workbench.embed.game import opponent_of
from workbench.embed.state import (
    GAME_TIMER_FRAMES,
    POS,
    PLAYER_BLOCK,
    FLAT_OFFSETS,
    RETURN_FEATURE,
    StateContext,
    StateLayout,
    embed_state,
)
from workbench.jit import compile_kernel

SPATIAL = ("dx", "dy", "distance", "timer")
# constant for (stage, name ids) on live frames (a live frame's return-to-go is the
# config's target, or 0: it has no future to sum)
PER_GAME = ("stage", "self_name", "opp_name", RETURN_FEATURE)
OP_CODES = {"scale": 0, "trunc": 1, "flag": 2, "own": 3, "opp": 4, "cap": 5, "item_id": 6}  # -1: read as is
JIT = os.environ.get("WORKBENCH_EMBED_JIT", "1") != "0"
POS32 = np.float32(POS)


def _embed_flat(
    flat, source, code, scale, high, present, own_port, opp_port, frame, timer_scale,
    float_from, float_to, id_from, id_to, xy, spatial, game_fcols, game_fvals, game_icols, game_ivals,
    buf, floats, ids,
):  # fmt: skip
    """One frame's flat row (1-D float32) through a :class:`LiveEmbedder`'s plan (see the
    module docstring), written into ``floats`` (1, F) and ``ids`` (1, K); True when every
    float is finite. Element by element the float32 arithmetic of :func:`embed_state`."""
    for i in range(source.shape[0]):
        buf[i] = flat[source[i]]
    for i in range(source.shape[0]):  # the item ops read "present" columns, which no op changes
        c, v = code[i], buf[i]
        if c < 0:
            continue
        if c == 0:
            v = v * scale[i]
        elif c == 1:
            v = np.trunc(v)
            if v < 0:  # np.clip(v, 0, high), NaN kept
                v = np.float32(0.0)
            if v > high[i]:
                v = high[i]
            v = v * scale[i]
        elif c == 2:
            v = np.float32(1.0) if v != 0 else np.float32(0.0)
        elif c == 3:
            v = np.float32(1.0) if v == own_port else np.float32(0.0)
        elif c == 4:
            v = np.float32(1.0) if v == opp_port else np.float32(0.0)
        elif c == 5:
            if v > high[i]:  # np.minimum, NaN kept
                v = high[i]
        else:  # item_id: 0 for an empty slot (or a negative type), else min(type, high) + 1
            keep = np.float32(1.0) if (buf[present[i]] != 0 and v >= 0) else np.float32(0.0)
            if v > high[i]:
                v = high[i]
            v = (v + np.float32(1.0)) * keep
        buf[i] = v
    for k in range(float_to.shape[0]):
        floats[0, float_to[k]] = buf[float_from[k]]
    for k in range(id_to.shape[0]):
        ids[0, id_to[k]] = np.int32(buf[id_from[k]])
    dx = (buf[xy + 2] - buf[xy]) * POS32
    dy = (buf[xy + 3] - buf[xy + 1]) * POS32
    if spatial[0] >= 0:
        floats[0, spatial[0]] = dx
    if spatial[1] >= 0:
        floats[0, spatial[1]] = dy
    if spatial[2] >= 0:
        floats[0, spatial[2]] = np.hypot(dx, dy)
    if spatial[3] >= 0:
        floats[0, spatial[3]] = max(frame, 0) * timer_scale
    for k in range(game_fcols.shape[0]):
        floats[0, game_fcols[k]] = game_fvals[k]
    for k in range(game_icols.shape[0]):
        ids[0, game_icols[k]] = game_ivals[k]
    for k in range(floats.shape[1]):
        if not np.isfinite(floats[0, k]):
            return False
    return True


embed_flat = compile_kernel(_embed_flat, JIT)


def _assemble(p_self, p_opp, n_self, n_opp, items, flat) -> None:
    """A live frame's flat row (1-D float32): self, opponent, their Nanas (zero while
    absent), the items."""
    width = p_self.shape[1]
    for j in range(width):
        flat[j] = p_self[0, j]
        flat[width + j] = p_opp[0, j]
        flat[2 * width + j] = n_self[0, j] * n_self[0, width - 1]
        flat[3 * width + j] = n_opp[0, j] * n_opp[0, width - 1]
    for j in range(items.shape[1]):
        flat[4 * width + j] = items[0, j]


assemble = compile_kernel(_assemble, JIT)


_NO_GAME = (np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int64), np.zeros(0, np.int32))


class LiveEmbedder:
    """``embed(ctx, floats_row, ids_row)``: write one live context's features (a
    :func:`workbench.embed.game.live_context`, ``ctx.flat`` set) into ``floats_row``
    (1, F) float32 and ``ids_row`` (1, K) int32, equal to :func:`embed_state`."""

    def __init__(self, layout: StateLayout):
        self.layout = layout
        groups = [(g, False) for g in layout.float_groups] + [(g, True) for g in layout.id_plan]
        sources, ops, start = [], [], 0
        float_dest, id_dest = [], []
        for group, is_id in groups:
            width = len(group.flat)
            present = None
            if group.op == "item_id":  # the slots' "present" columns follow the group's reads
                present = slice(start + width, start + 2 * width)
                sources += [group.flat, group.flat_present]
            else:
                sources.append(group.flat)
            ops.append((group.op, slice(start, start + width), group.scale, group.high, present))
            (id_dest if is_id else float_dest).append((start, group.columns))
            start += width * (2 if present is not None else 1)
        self.spatial = {}
        others = []
        for feature, id_column in layout.generic:
            if feature.name in SPATIAL and id_column is None and feature.size == 1:
                self.spatial[feature.name] = layout.slices[feature.name].start
            elif feature.name not in PER_GAME:
                others.append((feature, id_column))
        # x, y of both players for the spatial features, read with everything else
        xy = [FLAT_OFFSETS[who] + PLAYER_BLOCK.index(axis) for who in ("self", "opp") for axis in ("x", "y")]
        self.xy = start  # buffer index of the four
        sources.append(np.array(xy, np.int64))
        self.source = np.concatenate(sources).astype(np.int64)
        self.buffer = np.empty(len(self.source), np.float32)
        self.float_from = np.concatenate([np.arange(s, s + len(c)) for s, c in float_dest] or [np.zeros(0, int)])
        self.float_to = np.concatenate([c for _, c in float_dest] or [np.zeros(0, int)]).astype(np.int64)
        self.id_from = np.concatenate([np.arange(s, s + len(c)) for s, c in id_dest] or [np.zeros(0, int)])
        self.id_to = np.concatenate([c for _, c in id_dest] or [np.zeros(0, int)]).astype(np.int64)
        self.others = others  # features without a fast path: the reference computes them
        # the ops element by element, for the compiled plan (embed_flat)
        n = len(self.source)
        self.code = np.full(n, -1, np.int8)
        self.scale, self.high = np.ones(n, np.float32), np.zeros(n, np.float32)
        self.present = np.zeros(n, np.int64)
        for op, part, scale, high, present in ops:
            self.code[part] = OP_CODES[op]
            self.scale[part], self.high[part] = scale, high
            if present is not None:
                self.present[part] = np.arange(present.start, present.stop)
        self.spatial_columns = np.array([self.spatial.get(name, -1) for name in SPATIAL], np.int64)
        self.per_game = [(f, c) for f, c in layout.generic if f.name in PER_GAME]
        self._game_cache: dict[tuple, tuple] = {}
        self._flat = self._ctx = None
        self._check_coverage()

    def _check_coverage(self) -> None:
        """Every float and id column is written each frame (a frame the agent skips must
        leave nothing of itself in the bound rows for the next one)."""
        layout, floats, ids = self.layout, set(self.float_to.tolist()), set(self.id_to.tolist())
        floats |= set(self.spatial.values())
        for feature, id_column in self.per_game + self.others:
            if id_column is not None:
                ids.add(id_column)
            else:
                floats |= set(range(layout.slices[feature.name].start, layout.slices[feature.name].stop))
        if floats != set(range(layout.float_dim)) or ids != set(range(layout.id_dim)):
            raise AssertionError("LiveEmbedder does not write every column of the layout")

    def _per_game(self, ctx: StateContext) -> tuple[np.ndarray, np.ndarray]:
        """(float columns, their values) and (id columns, values) of the per-game features."""
        key = (ctx.stage, ctx.name_ids)
        cached = self._game_cache.get(key)
        if cached is None:
            floats, ids = embed_state(ctx, self.layout)  # once per (stage, names)
            f_cols = [
                np.arange(self.layout.slices[f.name].start, self.layout.slices[f.name].stop)
                for f, c in self.per_game
                if c is None
            ]
            i_cols = [c for f, c in self.per_game if c is not None]
            f_cols = np.concatenate(f_cols).astype(np.int64) if f_cols else np.zeros(0, np.int64)
            i_cols = np.array(i_cols, np.int64)
            cached = (f_cols, floats[0, f_cols], i_cols, ids[0, i_cols])
            self._game_cache[key] = cached
        return cached

    def embed_live(
        self,
        live,
        perspective: int,
        stage: int,
        ports: tuple[int, int],
        name_ids: tuple[int, int],
        floats_row: np.ndarray,
        ids_row: np.ndarray,
    ) -> bool:
        """:meth:`embed` of ``live_context(live, perspective, stage, ports, name_ids)``
        (a :class:`~workbench.replay.live.LiveFrame`), the flat row assembled by the
        compiled :func:`assemble` in a buffer kept between frames. Returns False when a
        float feature is not finite (the bot skips that frame)."""
        opp = opponent_of(len(live.players), perspective)
        width = live.players[perspective].shape[1]
        if self._flat is None or self._flat.shape[1] != 4 * width + live.item_block.shape[1]:
            self._flat = np.empty((1, 4 * width + live.item_block.shape[1]), np.float32)
            self._ctx = StateContext({}, {}, np.zeros(1, np.int64), 0, 0, 1, (0, 0), flat=self._flat)
        ctx = self._ctx
        ctx.frames[0] = live.frame
        ctx.stage, ctx.self_index, ctx.opp_index = stage, perspective, opp
        ctx.ports, ctx.name_ids = ports, name_ids
        live_blocks = (live.players[perspective], live.players[opp], live.nanas[perspective], live.nanas[opp])
        assemble(*live_blocks, live.item_block, self._flat[0])
        return self.embed(ctx, floats_row, ids_row)

    def embed(self, ctx: StateContext, floats_row: np.ndarray, ids_row: np.ndarray) -> bool:
        """Write the frame's features into ``floats_row`` (1, F) and ``ids_row`` (1, K) by
        the compiled plan (:func:`embed_flat`); False when a float feature is not finite."""
        f_cols, f_values, i_cols, i_values = self._per_game(ctx) if self.per_game else _NO_GAME
        finite = embed_flat(
            ctx.flat[0], self.source, self.code, self.scale, self.high, self.present,
            float(ctx.ports[0]), float(ctx.ports[1]), int(ctx.frames[0]), 1.0 / GAME_TIMER_FRAMES,
            self.float_from, self.float_to, self.id_from, self.id_to, self.xy, self.spatial_columns,
            f_cols, f_values, i_cols, i_values, self.buffer, floats_row, ids_row,
        )  # fmt: skip
        if self.others:  # rare configs: the reference for what has no fast path
            self._reference_others(ctx, floats_row, ids_row)
            finite = bool(np.isfinite(floats_row).all())
        return bool(finite)

    def _reference_others(self, ctx: StateContext, floats_row: np.ndarray, ids_row: np.ndarray) -> None:
        """The features without a fast path, from the reference."""
        ref_floats, ref_ids = embed_state(ctx, self.layout)
        floats, ids = floats_row.reshape(-1), ids_row.reshape(-1)
        for feature, id_column in self.others:
            if id_column is not None:
                ids[id_column] = ref_ids[0, id_column]
            else:
                cols = self.layout.slices[feature.name]
                floats[cols] = ref_floats[0, cols]
