"""Causal sliding-window transformer backbone (pre-norm blocks: attention + MLP).

Each frame attends to itself and the ``window - 1`` frames before it (per layer; the
stack's receptive field is ``num_layers * (window - 1) + 1`` frames).

Positions: rotary embeddings (RoPE) on *relative* positions. Only offsets matter to
RoPE, so the streaming cache holds un-rotated keys and ``step`` rotates slot j by its
fixed age (W-1-j) with a precomputed table: no absolute position counter, no precision
loss after hours of frames, and the state shapes never change.

State keys: ``k_cache_{i}``, ``v_cache_{i}`` (B, heads, W, head_dim) per layer, the
keys/values of the last W frames (oldest first), and ``valid`` (B, W) bool, which of
those slots hold a real frame (False until W frames have been seen). With
``opponent_attention`` also ``opp_k_cache``, ``opp_v_cache``: the opponent's keys and
values for the cross-attention (queries: the player's own features) before the stack.

``forward(x, state, return_attention=True)`` also returns per-layer attention weights,
each (B, heads, T, W) with index w = W-1 the frame itself and w = W-1-k the frame k back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import FeedForward, layer_norm, linear
from .registry import Backbone, BackboneConfig, BackboneConfigError, InputColumns, State, register


@dataclass
class AttentionOptions:
    """Sliding-window attention options, shared by the attention, jamba and zamba configs.

    ``window``: frames each query sees, itself included.
    """

    num_heads: int = 4
    window: int = 60
    mlp_ratio: float = 4.0
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[misc]  # the config base validates its fields
        if self.window < 1:
            raise BackboneConfigError(f"window must be >= 1, got {self.window}")


def check_heads(dim: int, num_heads: int) -> None:
    """Raise unless ``dim`` splits into ``num_heads`` heads of even size (RoPE pairs)."""
    if dim % num_heads or (dim // num_heads) % 2:
        raise BackboneConfigError(f"width {dim} must split into {num_heads} heads of even size")


@dataclass
class AttentionConfig(AttentionOptions, BackboneConfig):
    """Sliding-window transformer stack of ``num_layers`` pre-norm blocks.
    ``opponent_attention``: before the stack, the player's own features attend to the
    opponent's over the same window (:class:`OpponentCrossAttention`)."""

    name = "attention"
    opponent_attention: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_heads(self.hidden_size, self.num_heads)


def rotate_half(x: Tensor) -> Tensor:
    """(..., 2k) -> (..., 2k): (x1, x2) -> (-x2, x1), the 90-degree turn used by RoPE."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def rope_cos_sin(positions: Tensor, head_dim: int, base: float, dtype: torch.dtype):
    """positions (S,) -> cos, sin each (S, head_dim), computed in float64 then cast."""
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64, device=positions.device) / head_dim)
    angles = positions.to(torch.float64)[:, None] * inv_freq  # (S, head_dim/2)
    angles = torch.cat([angles, angles], dim=-1)  # (S, head_dim)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def window_mask(num_queries: int, num_prefix: int, window: int, device) -> Tensor:
    """(T, P+T) bool: query t (at key index P+t) sees keys j with P+t-W < j <= P+t."""
    query_index = torch.arange(num_queries, device=device)[:, None] + num_prefix
    key_index = torch.arange(num_prefix + num_queries, device=device)[None, :]
    return (key_index <= query_index) & (key_index > query_index - window)


def last_slots(x: Tensor, window: int, dim: int) -> Tensor:
    """The last ``window`` entries along ``dim``, zero-padded at the front if shorter."""
    length = x.shape[dim]
    if length >= window:
        return x.narrow(dim, length - window, window)
    pad_shape = list(x.shape)
    pad_shape[dim] = window - length
    return torch.cat([x.new_zeros(pad_shape), x], dim=dim)


class SlidingWindowAttention(nn.Module):
    """Multi-head causal attention over the last ``window`` frames with relative RoPE."""

    def __init__(self, dim: int, num_heads: int, window: int, dropout: float = 0.0, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.window = num_heads, dim // num_heads, window
        self.rope_base, self.dropout = rope_base, dropout
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        # step(): cache slot j holds the frame W-1-j back, at relative position j-(W-1).
        # Tables per (device, dtype), computed in float64 like forward's so both agree.
        self._slot_tables: dict[tuple, tuple[Tensor, Tensor]] = {}

    def slot_cos_sin(self, device: torch.device, dtype: torch.dtype, tokens: int = 0) -> tuple[Tensor, Tensor]:
        """RoPE tables for ``step``, each (slots, head_dim): cos, and sin with the first
        half negated so that rotate_half(k) * sin equals roll(k, head_dim/2) * signed_sin
        (one op instead of three). ``tokens=0``: the W cache slots, slot j at relative
        position j-(W-1), pre-multiplied by the 1/sqrt(head_dim) score scale; ``tokens=T``
        (a T-token step): the W+T keys of cache and new tokens, key j at j-(W+T-1), scaled
        likewise, then the T queries' tables, query i at i-(T-1), unscaled."""
        key = (device, dtype, tokens)
        if key not in self._slot_tables:
            keys = self.window + tokens
            tables = self._signed_rope(torch.arange(keys, device=device) - (keys - 1), self.head_dim**-0.5)
            if tokens:
                tables += self._signed_rope(torch.arange(tokens, device=device) - (tokens - 1), 1.0)
            self._slot_tables[key] = tuple(t.to(dtype) for t in tables)
        return self._slot_tables[key]

    def _signed_rope(self, positions: Tensor, scale: float) -> tuple[Tensor, Tensor]:
        """(cos, signed sin) at ``positions`` in float64, times ``scale`` (see ``slot_cos_sin``)."""
        cos, sin = rope_cos_sin(positions, self.head_dim, self.rope_base, torch.float64)
        half = self.head_dim // 2
        return cos * scale, torch.cat([-sin[:, :half], sin[:, half:]], dim=-1) * scale

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, H) -> q, k, v each (B, heads, T, hd). Self-attention: all from x."""
        batch, seq_len, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq_len, 3, self.num_heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def project_step(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, H) -> q, k, v each (B, heads, 1, hd)."""
        return linear(x, self.qkv_proj).view(x.shape[0], 3, self.num_heads, 1, self.head_dim).unbind(1)

    def _rope(self, x: Tensor, start: int) -> Tensor:
        """x (B, heads, S, hd) at positions start..start+S-1 -> rotated x."""
        positions = torch.arange(start, start + x.shape[2], device=x.device)
        cos, sin = rope_cos_sin(positions, self.head_dim, self.rope_base, x.dtype)
        return x * cos + rotate_half(x) * sin

    def forward(
        self,
        x: Tensor,
        cache: tuple[Tensor, Tensor] | None,
        valid: Tensor | None,
        return_weights: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        """x (B, T, H); cache (k, v) each (B, heads, W, hd) or None; valid (B, W) or None.

        Returns out (B, T, H), the new cache, and weights (B, heads, T, W) if asked.
        """
        batch, seq_len, _ = x.shape
        dim = self.num_heads * self.head_dim
        q, k, v = self.project(x)  # each (B, h, T, hd)
        num_prefix = 0 if cache is None else cache[0].shape[2]
        mask = window_mask(seq_len, num_prefix, self.window, x.device)  # (T, P+T)
        if cache is not None:  # keys/values of the previous W frames come first
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, P+T, hd)
            key_valid = torch.cat([valid, valid.new_ones(batch, seq_len)], dim=1)  # (B, P+T)
            mask = mask & key_valid[:, None, None, :]  # (B, 1, T, P+T)
        q_rot, k_rot = self._rope(q, num_prefix), self._rope(k, 0)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if return_weights:
            scores = (q_rot @ k_rot.transpose(-1, -2)) * self.head_dim**-0.5  # (B, h, T, P+T)
            probs = torch.softmax(scores.masked_fill(~mask, -torch.inf), dim=-1)
            out = F.dropout(probs, dropout, self.training) @ v  # (B, h, T, hd)
            weights = self._to_window(probs, num_prefix)
        else:
            out = F.scaled_dot_product_attention(q_rot, k_rot, v, attn_mask=mask, dropout_p=dropout)
        out = self.out_proj(out.transpose(1, 2).reshape(batch, seq_len, dim))  # (B, T, H)
        new_cache = (last_slots(k, self.window, 2), last_slots(v, self.window, 2))
        return out, new_cache, weights

    def _to_window(self, probs: Tensor, num_prefix: int) -> Tensor:
        """(B, h, T, P+T) over key index -> (B, h, T, W) over window offset."""
        seq_len, window = probs.shape[2], self.window
        padded = F.pad(probs, (window - 1, 0))  # key j now at j + W - 1
        offsets = torch.arange(window, device=probs.device)
        index = num_prefix + torch.arange(seq_len, device=probs.device)[:, None] + offsets  # (T, W)
        return padded.gather(-1, index.expand(*probs.shape[:2], seq_len, window))

    def step(self, x: Tensor, k_cache: Tensor, v_cache: Tensor, mask_bias: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, H); caches (B, heads, W, hd); mask_bias (B, 1, 1, W), 0 for valid slots
        and -inf for empty ones, *after* adding this frame (see ``step_mask_bias``).
        With x (B, T, H), T new tokens at once: see :meth:`step_tokens`.

        Returns out (B, H) and the shifted caches (oldest slot dropped, this frame last).
        """
        if x.dim() == 3:
            return self.step_tokens(x, k_cache, v_cache, mask_bias)
        batch, dim = x.shape[0], self.num_heads * self.head_dim
        q, k, v = self.project_step(x)  # each (B, h, 1, hd)
        k_cache = torch.cat([k_cache[:, :, 1:], k], dim=2)  # (B, h, W, hd)
        v_cache = torch.cat([v_cache[:, :, 1:], v], dim=2)
        cos, signed_sin = self.slot_cos_sin(x.device, x.dtype)  # scaled by 1/sqrt(hd)
        # RoPE relative to the query, which sits at position 0 (so q is not rotated).
        k_rot = torch.addcmul(k_cache * cos, k_cache.roll(self.head_dim // 2, dims=-1), signed_sin)
        probs = torch.softmax(q @ k_rot.transpose(-1, -2) + mask_bias, dim=-1)  # (B, h, 1, W)
        out = (probs @ v_cache).reshape(batch, dim)  # (B, H)
        return linear(out, self.out_proj), k_cache, v_cache

    def step_tokens(
        self, x: Tensor, k_cache: Tensor, v_cache: Tensor, mask_bias: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """T new tokens through the cache at once (``forward`` over them, in fewer ops):
        x (B, T, H); caches (B, heads, W, hd); mask_bias (B, 1, T, W+T) over the W cached
        keys then the T new ones (see ``tokens_mask_bias``). Each weight is read once for
        the T tokens. Returns out (B, T, H) and the caches' last W keys and values."""
        batch, tokens, _ = x.shape
        dim = self.num_heads * self.head_dim
        q, k, v = self.project(x)  # each (B, h, T, hd)
        keys, values = torch.cat([k_cache, k], dim=2), torch.cat([v_cache, v], dim=2)  # (B, h, W+T, hd)
        k_cos, k_sin, q_cos, q_sin = self.slot_cos_sin(x.device, x.dtype, tokens)
        shift = self.head_dim // 2
        k_rot = torch.addcmul(keys * k_cos, keys.roll(shift, dims=-1), k_sin)  # scaled by 1/sqrt(hd)
        q_rot = torch.addcmul(q * q_cos, q.roll(shift, dims=-1), q_sin)
        probs = torch.softmax(q_rot @ k_rot.transpose(-1, -2) + mask_bias, dim=-1)  # (B, h, T, W+T)
        out = (probs @ values).transpose(1, 2).reshape(batch, tokens, dim)  # (B, T, H)
        return linear(out, self.out_proj), keys[:, :, tokens:], values[:, :, tokens:]


class OpponentCrossAttention(SlidingWindowAttention):
    """Cross-attention over the window: queries from the player's own features, keys
    and values from the opponent's (RoPE on their relative frame offset, as above).

    The input is ``[own (H), opponent (H)]`` joined on the last axis, so the window,
    mask and cache code of :class:`SlidingWindowAttention` is shared; the cache holds
    the opponent's keys and values of the last W frames."""

    def __init__(self, dim: int, num_heads: int, window: int, dropout: float = 0.0, rope_base: float = 10000.0) -> None:
        super().__init__(dim, num_heads, window, dropout, rope_base)
        del self.qkv_proj
        self.q_proj = nn.Linear(dim, dim)
        self.kv_proj = nn.Linear(dim, 2 * dim)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, 2H) = [own, opponent] -> q (own), k, v (opponent), each (B, h, T, hd)."""
        batch, seq_len, _ = x.shape
        own, opponent = x.chunk(2, dim=-1)
        q = self.q_proj(own).view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)
        kv = self.kv_proj(opponent).view(batch, seq_len, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def project_step(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, 2H) -> q, k, v each (B, h, 1, hd)."""
        own, opponent = x.chunk(2, dim=-1)
        q = linear(own, self.q_proj).view(x.shape[0], self.num_heads, 1, self.head_dim)
        k, v = linear(opponent, self.kv_proj).view(x.shape[0], 2, self.num_heads, 1, self.head_dim).unbind(1)
        return q, k, v


def step_mask_bias(valid: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Shift ``valid`` (B, W) by one new frame; return it and the additive attention
    bias (B, 1, 1, W) shared by every attention layer of a step."""
    valid = torch.cat([valid[:, 1:], torch.ones_like(valid[:, :1])], dim=1)
    bias = torch.zeros(valid.shape, dtype=dtype, device=valid.device).masked_fill(~valid, -torch.inf)
    return valid, bias[:, None, None, :]


def tokens_mask_bias(valid: Tensor, tokens: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """For a T-token step (``SlidingWindowAttention.step_tokens``): the W slots' validity
    after the T new tokens, and the additive bias (B, 1, T, W+T) over cache and new keys:
    query i sees key j when i < j <= W+i (its window, causal) and j holds a frame."""
    batch, window = valid.shape
    keys = torch.cat([valid, valid.new_ones(batch, tokens)], dim=1)  # (B, W+T)
    seen = window_mask(tokens, window, window, valid.device)  # (T, W+T): i < j <= W+i
    bias = torch.zeros((batch, 1, tokens, window + tokens), dtype=dtype, device=valid.device)
    return keys[:, tokens:], bias.masked_fill(~(seen & keys[:, None, None, :]), -torch.inf)


class TransformerBlock(nn.Module):
    """Pre-norm block: h + attn(LN(h)), then h + MLP(LN(h)). (B, T, H) -> (B, T, H)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SlidingWindowAttention(dim, num_heads, window, dropout, rope_base)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FeedForward(dim, mlp_ratio, dropout)
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor, cache, valid, return_weights: bool = False):
        """h (B, T, H) -> h, new cache (k, v), weights or None (see the attention)."""
        out, cache, weights = self.attn(self.norm1(h), cache, valid, return_weights)
        h = h + self.dropout(out)
        return h + self.mlp(self.norm2(h)), cache, weights

    def step(self, h: Tensor, k_cache: Tensor, v_cache: Tensor, mask_bias: Tensor):
        """h (B, H) -> h, k_cache, v_cache. Inference: no dropout; functional calls
        (no submodule __call__) because batch-1 cost is per-op overhead."""
        out, k_cache, v_cache = self.attn.step(layer_norm(h, self.norm1), k_cache, v_cache, mask_bias)
        h = h + out
        hidden = F.gelu(linear(layer_norm(h, self.norm2), self.mlp.fc_in))
        return h + linear(hidden, self.mlp.fc_out), k_cache, v_cache

    def zero_cache(self, batch_size: int, device, dtype) -> tuple[Tensor, Tensor]:
        """(k, v) caches of zeros, each (B, heads, W, hd)."""
        attn = self.attn
        shape = (batch_size, attn.num_heads, attn.window, attn.head_dim)
        return torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype)


def next_valid(valid: Tensor | None, batch_size: int, num_frames: int, window: int, device) -> Tensor:
    """Validity of the W cache slots after ``num_frames`` more frames. (B, W) bool."""
    if valid is None:
        valid = torch.zeros(batch_size, window, dtype=torch.bool, device=device)
    added = torch.ones(batch_size, num_frames, dtype=torch.bool, device=device)
    return last_slots(torch.cat([valid, added], dim=1), window, 1)


@register("attention")
class AttentionBackbone(Backbone):
    """input_proj (D -> H), ``num_layers`` transformer blocks, final LayerNorm."""

    config_class = AttentionConfig
    uses_columns = True

    def __init__(self, config: AttentionConfig, input_dim: int, columns: InputColumns | None = None) -> None:
        super().__init__(config, input_dim)
        self.input_proj = nn.Linear(input_dim, config.hidden_size)
        self.cross = None
        if config.opponent_attention:
            # Without the policy's columns (registry tests): the first half of x is the
            # player's, the second half the opponent's.
            half = input_dim // 2
            own = (columns.own if columns and columns.own else None) or tuple(range(half))
            opponent = (columns.opponent if columns and columns.opponent else None) or tuple(range(half, input_dim))
            self.register_buffer("own_index", torch.tensor(own), persistent=False)
            self.register_buffer("opponent_index", torch.tensor(opponent), persistent=False)
            self.own_proj = nn.Linear(len(own), config.hidden_size)
            self.opponent_proj = nn.Linear(len(opponent), config.hidden_size)
            self.cross = OpponentCrossAttention(
                config.hidden_size, config.num_heads, config.window, config.dropout, config.rope_base
            )
        self.layers = nn.ModuleList(
            TransformerBlock(
                config.hidden_size, config.num_heads, config.window, config.mlp_ratio, config.dropout, config.rope_base
            )
            for _ in range(config.num_layers)
        )
        self.norm_f = nn.LayerNorm(config.hidden_size)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        state = {"valid": torch.zeros(batch_size, self.config.window, dtype=torch.bool, device=device)}
        for i, layer in enumerate(self.layers):
            state[f"k_cache_{i}"], state[f"v_cache_{i}"] = layer.zero_cache(batch_size, device, dtype)
        if self.cross is not None:
            state["opp_k_cache"], state["opp_v_cache"] = self.layers[0].zero_cache(batch_size, device, dtype)
        return state

    def _sides(self, x: Tensor) -> Tensor:
        """x (..., D) -> [own_proj(own), opponent_proj(opponent)] (..., 2H)."""
        own = linear(x.index_select(-1, self.own_index), self.own_proj)
        return torch.cat([own, linear(x.index_select(-1, self.opponent_index), self.opponent_proj)], dim=-1)

    def forward(self, x: Tensor, state: State | None = None, *, return_attention: bool = False):
        """x (B, T, D) -> (y (B, T, H), state) or, with ``return_attention``,
        (y, state, [per-layer weights (B, heads, T, W)])."""
        valid = None if state is None else state["valid"]
        h = self.input_proj(x)  # (B, T, H)
        new_state, all_weights = {}, []
        if self.cross is not None:  # the player's features attend to the opponent's
            cache = None if state is None else (state["opp_k_cache"], state["opp_v_cache"])
            out, (new_state["opp_k_cache"], new_state["opp_v_cache"]), _ = self.cross(self._sides(x), cache, valid)
            h = h + out
        for i, layer in enumerate(self.layers):
            cache = None if state is None else (state[f"k_cache_{i}"], state[f"v_cache_{i}"])
            h, (new_state[f"k_cache_{i}"], new_state[f"v_cache_{i}"]), weights = layer(
                h, cache, valid, return_attention
            )
            all_weights.append(weights)
        new_state["valid"] = next_valid(valid, x.shape[0], x.shape[1], self.config.window, x.device)
        y = self.norm_f(h)
        return (y, new_state, all_weights) if return_attention else (y, new_state)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        valid, mask_bias = step_mask_bias(state["valid"], x.dtype)
        h = linear(x, self.input_proj)  # (B, H)
        new_state = {"valid": valid}
        if self.cross is not None:
            out, new_state["opp_k_cache"], new_state["opp_v_cache"] = self.cross.step(
                self._sides(x), state["opp_k_cache"], state["opp_v_cache"], mask_bias
            )
            h = h + out
        for i, layer in enumerate(self.layers):
            h, new_state[f"k_cache_{i}"], new_state[f"v_cache_{i}"] = layer.step(
                h, state[f"k_cache_{i}"], state[f"v_cache_{i}"], mask_bias
            )
        return layer_norm(h, self.norm_f), new_state
