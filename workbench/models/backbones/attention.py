"""Causal sliding-window transformer backbone (pre-norm blocks: attention + MLP).

Each frame attends to itself and the ``window - 1`` frames before it (per layer; the
stack's receptive field is ``num_layers * (window - 1) + 1`` frames).

Positions: rotary embeddings (RoPE). Queries and keys are turned by their absolute
position, so a score depends only on the offset between query and key; the cache holds
keys already turned, so a streaming step turns its one new query and key and no cached
key. The angles come from the integer ``position`` counter in float64, exact for any
game length (cast to the model's dtype after), and the state shapes never change.

State keys: ``k_cache_{i}``, ``v_cache_{i}`` (B, heads, W, head_dim) per layer, the
keys (turned) and values of the last W frames (oldest first); ``valid`` (B, W) bool,
which of those slots hold a real frame (False until W frames have been seen);
``position`` (B,) int64, the frames seen so far (the next frame's position). With
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


def rotate(x: Tensor, cos: Tensor, signed_sin: Tensor) -> Tensor:
    """RoPE: x (..., hd) turned by the angles whose tables ``rope_tables`` gives. The
    pairs are (x[i], x[i + hd/2]); ``signed_sin`` has its first half negated, so the
    90-degree turn (x1, x2) -> (-x2, x1) is a roll: one op instead of three."""
    return torch.addcmul(x * cos, x.roll(x.shape[-1] // 2, dims=-1), signed_sin)


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
    """Multi-head causal attention over the last ``window`` frames with RoPE.

    Queries and keys are turned by their absolute position (``rope_tables``, from the
    state's ``position`` counter), so the scores depend only on the offset between them,
    and the cache holds keys already turned: a streaming step turns only its new query
    and key instead of every cached key. The angles are computed in float64 from the
    integer position, exact for any game length."""

    def __init__(self, dim: int, num_heads: int, window: int, dropout: float = 0.0, rope_base: float = 10000.0) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.window = num_heads, dim // num_heads, window
        self.rope_base, self.dropout = rope_base, dropout
        self.qkv_proj = nn.Linear(dim, 3 * dim)
        self.out_proj = nn.Linear(dim, dim)
        # rope_tables' constants per (device, dtype): float64 frequencies (not a buffer:
        # .to(dtype) would cast it), the scales in dtype
        self._rope_constants: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}

    def rope_tables(self, position: Tensor, tokens: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """RoPE tables for ``tokens`` new tokens at ``position`` (B,) int64 onwards: cos and
        signed sin (see ``rotate``), each (B, 2 * heads, T, hd) in ``dtype``; the first
        ``heads`` rows turn the queries and carry the 1/sqrt(hd) score scale, the rest turn
        the keys. Computed once per call and shared by every attention layer of the
        backbone."""
        device = position.device
        if (device, dtype) not in self._rope_constants:
            half = self.head_dim // 2
            inv_freq = self.rope_base ** (-torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim)
            sign = torch.cat([-torch.ones(half, dtype=torch.float64), torch.ones(half, dtype=torch.float64)])
            scale = torch.tensor([self.head_dim**-0.5, 1.0], dtype=torch.float64).repeat_interleave(self.num_heads)
            scale = scale.view(2 * self.num_heads, 1, 1)
            self._rope_constants[device, dtype] = (
                torch.cat([inv_freq, inv_freq]).to(device),
                scale.to(device, dtype),
                (scale * sign).to(device, dtype),
            )
        frequencies, cos_scale, sin_scale = self._rope_constants[device, dtype]
        positions = position[:, None] + torch.arange(tokens, device=device)  # (B, T)
        angles = positions.to(torch.float64).view(-1, 1, tokens, 1) * frequencies  # (B, 1, T, hd)
        return angles.cos().to(dtype) * cos_scale, angles.sin().to(dtype) * sin_scale

    def project(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, H) -> q (turned and scaled), k (turned), v, each (B, heads, T, hd).
        Self-attention: all from x, q and k turned together."""
        batch, seq_len, _ = x.shape
        qkv = linear(x, self.qkv_proj).view(batch, seq_len, 3 * self.num_heads, self.head_dim)
        return self._turn(qkv.transpose(1, 2), rope)  # (B, 3 * heads, T, hd)

    def project_step(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, H) -> q, k, v each (B, heads, 1, hd), as ``project`` (no transpose)."""
        return self._turn(linear(x, self.qkv_proj).view(x.shape[0], 3 * self.num_heads, 1, self.head_dim), rope)

    def _turn(self, qkv: Tensor, rope: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """qkv (B, 3 * heads, T, hd) -> q, k (turned together, one rotation), v."""
        heads = self.num_heads
        qk, v = qkv.split([2 * heads, heads], dim=1)
        q, k = rotate(qk, *rope).split(heads, dim=1)
        return q, k, v

    def forward(
        self,
        x: Tensor,
        cache: tuple[Tensor, Tensor] | None,
        valid: Tensor | None,
        rope: tuple[Tensor, Tensor],
        return_weights: bool = False,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], Tensor | None]:
        """x (B, T, H); cache (k, v) each (B, heads, W, hd) or None; valid (B, W) or None;
        rope: ``rope_tables`` for the T frames.

        Returns out (B, T, H), the new cache, and weights (B, heads, T, W) if asked.
        """
        batch, seq_len, _ = x.shape
        dim = self.num_heads * self.head_dim
        q, k, v = self.project(x, rope)  # each (B, h, T, hd); q carries the score scale
        num_prefix = 0 if cache is None else cache[0].shape[2]
        mask = window_mask(seq_len, num_prefix, self.window, x.device)  # (T, P+T)
        if cache is not None:  # keys/values of the previous W frames come first
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)  # (B, h, P+T, hd)
            key_valid = torch.cat([valid, valid.new_ones(batch, seq_len)], dim=1)  # (B, P+T)
            mask = mask & key_valid[:, None, None, :]  # (B, 1, T, P+T)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if return_weights:
            probs = torch.softmax((q @ k.transpose(-1, -2)).masked_fill(~mask, -torch.inf), dim=-1)  # (B, h, T, P+T)
            out = F.dropout(probs, dropout, self.training) @ v  # (B, h, T, hd)
            weights = self._to_window(probs, num_prefix)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=1.0)
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

    def step(
        self, x: Tensor, k_cache: Tensor, v_cache: Tensor, mask_bias: Tensor, rope: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """T new tokens through the cache at once (``forward`` over them, in fewer ops):
        x (B, T, H), or (B, H) for one; caches (B, heads, W, hd); mask_bias (B, 1, T, W+T)
        over the W cached keys then the T new ones (``tokens_mask_bias``); rope: the
        ``rope_tables`` of the T tokens. Each weight is read once for the T tokens, and
        only the new query and key are turned. Returns out (B, T, H) (or (B, H)) and the
        caches' last W keys and values."""
        batch, dim = x.shape[0], self.num_heads * self.head_dim
        single = x.dim() == 2  # one token: 2-D all through (Gemm nodes, no transposes)
        q, k, v = self.project_step(x, rope) if single else self.project(x, rope)  # each (B, h, T, hd)
        tokens = q.shape[2]
        keys, values = torch.cat([k_cache, k], dim=2), torch.cat([v_cache, v], dim=2)  # (B, h, W+T, hd)
        probs = torch.softmax(q @ keys.transpose(-1, -2) + mask_bias, dim=-1)  # (B, h, T, W+T)
        out = probs @ values  # (B, h, T, hd)
        out = out.reshape(batch, dim) if single else out.transpose(1, 2).reshape(batch, tokens, dim)
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

    def project(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, T, 2H) = [own, opponent] -> q (own; turned and scaled), k (turned), v
        (opponent), each (B, h, T, hd)."""
        batch, seq_len, _ = x.shape
        own, opponent = x.chunk(2, dim=-1)
        q = linear(own, self.q_proj).view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)
        kv = linear(opponent, self.kv_proj).view(batch, seq_len, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        return self._turn_apart(q, k, v, rope)

    def project_step(self, x: Tensor, rope: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """x (B, 2H) -> q, k, v each (B, h, 1, hd)."""
        own, opponent = x.chunk(2, dim=-1)
        q = linear(own, self.q_proj).view(x.shape[0], self.num_heads, 1, self.head_dim)
        k, v = linear(opponent, self.kv_proj).view(x.shape[0], 2, self.num_heads, 1, self.head_dim).unbind(1)
        return self._turn_apart(q, k, v, rope)

    def _turn_apart(self, q: Tensor, k: Tensor, v: Tensor, rope: tuple[Tensor, Tensor]):
        """q and k (B, h, T, hd), from different inputs, turned one at a time."""
        (q_cos, k_cos), (q_sin, k_sin) = (table.split(self.num_heads, dim=1) for table in rope)
        return rotate(q, q_cos, q_sin), rotate(k, k_cos, k_sin), v


def initial_position(batch_size: int, device) -> Tensor:
    """The ``position`` state of a fresh game: (B,) int64 zeros."""
    return torch.zeros(batch_size, dtype=torch.long, device=device)


def window_state(batch_size: int, window: int, device) -> State:
    """The state every sliding-window backbone starts from besides its caches: ``valid``
    (B, W) all False and ``position`` (B,) zeros."""
    return {
        "valid": torch.zeros(batch_size, window, dtype=torch.bool, device=device),
        "position": initial_position(batch_size, device),
    }


def rope_for(
    attn: SlidingWindowAttention, state: State | None, batch_size: int, tokens: int, dtype: torch.dtype, device
) -> tuple[tuple[Tensor, Tensor], Tensor]:
    """The ``rope_tables`` of the next ``tokens`` tokens (shared by every attention layer
    of the call) and the ``position`` state after them. Without a state every row starts
    at 0, so one row of tables serves the whole batch (training's case)."""
    if state is None:
        start = initial_position(1, device)
        return attn.rope_tables(start, tokens, dtype), torch.full((batch_size,), tokens, device=device)
    return attn.rope_tables(state["position"], tokens, dtype), state["position"] + tokens


def window_step(
    attn: SlidingWindowAttention, state: State, tokens: int, dtype: torch.dtype
) -> tuple[Tensor, tuple[Tensor, Tensor], State]:
    """What every attention layer of a ``tokens``-token step shares: the mask bias
    (``tokens_mask_bias``), the RoPE tables (``rope_for``), and the new state's ``valid``
    and ``position``."""
    valid, mask_bias = tokens_mask_bias(state["valid"], tokens, dtype)
    rope, position = rope_for(attn, state, valid.shape[0], tokens, dtype, valid.device)
    return mask_bias, rope, {"valid": valid, "position": position}


def tokens_mask_bias(valid: Tensor, tokens: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """For a T-token step (``SlidingWindowAttention.step``): the W slots' validity
    after the T new tokens, and the additive bias (B, 1, T, W+T) over cache and new keys:
    query i sees key j when i < j <= W+i (its window, causal) and j holds a frame. The
    bias is shared by every attention layer of the step."""
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

    def forward(self, h: Tensor, cache, valid, rope, return_weights: bool = False):
        """h (B, T, H) -> h, new cache (k, v), weights or None (see the attention)."""
        out, cache, weights = self.attn(self.norm1(h), cache, valid, rope, return_weights)
        h = h + self.dropout(out)
        return h + self.mlp(self.norm2(h)), cache, weights

    def step(self, h: Tensor, k_cache: Tensor, v_cache: Tensor, mask_bias: Tensor, rope):
        """h (B, H) or (B, T, H) -> h, k_cache, v_cache. Inference: no dropout; functional
        calls (no submodule __call__) because batch-1 cost is per-op overhead."""
        out, k_cache, v_cache = self.attn.step(layer_norm(h, self.norm1), k_cache, v_cache, mask_bias, rope)
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
        state = window_state(batch_size, self.config.window, device)
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
        rope, position = rope_for(self.layers[0].attn, state, x.shape[0], x.shape[1], x.dtype, x.device)
        h = self.input_proj(x)  # (B, T, H)
        new_state, all_weights = {"position": position}, []
        if self.cross is not None:  # the player's features attend to the opponent's
            cache = None if state is None else (state["opp_k_cache"], state["opp_v_cache"])
            out, (new_state["opp_k_cache"], new_state["opp_v_cache"]), _ = self.cross(
                self._sides(x), cache, valid, rope
            )
            h = h + out
        for i, layer in enumerate(self.layers):
            cache = None if state is None else (state[f"k_cache_{i}"], state[f"v_cache_{i}"])
            h, (new_state[f"k_cache_{i}"], new_state[f"v_cache_{i}"]), weights = layer(
                h, cache, valid, rope, return_attention
            )
            all_weights.append(weights)
        new_state["valid"] = next_valid(valid, x.shape[0], x.shape[1], self.config.window, x.device)
        y = self.norm_f(h)
        return (y, new_state, all_weights) if return_attention else (y, new_state)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        mask_bias, rope, new_state = window_step(self.layers[0].attn, state, 1, x.dtype)
        h = linear(x, self.input_proj)  # (B, H)
        if self.cross is not None:
            out, new_state["opp_k_cache"], new_state["opp_v_cache"] = self.cross.step(
                self._sides(x), state["opp_k_cache"], state["opp_v_cache"], mask_bias, rope
            )
            h = h + out
        for i, layer in enumerate(self.layers):
            h, new_state[f"k_cache_{i}"], new_state[f"v_cache_{i}"] = layer.step(
                h, state[f"k_cache_{i}"], state[f"v_cache_{i}"], mask_bias, rope
            )
        return layer_norm(h, self.norm_f), new_state
