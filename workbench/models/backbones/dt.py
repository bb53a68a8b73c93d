"""Decision Transformer (Chen et al. 2021): a causal transformer over (action,
return-to-go, state) tokens, so the policy is conditioned on the outcome asked for.

Each frame t becomes ``tokens`` tokens, in this order:

    a_{t-1}  the agent's previous controller (the input's action columns)
    R_t      the return-to-go (:mod:`workbench.embed.returns`): stocks and damage to come
    s_t      the rest of the frame's input (the game state)

and the features for frame t are read at its state token, which has seen R_<=t, s_<=t
and a_<t: the original DT's conditioning. Blocks are the sliding-window transformer
blocks of :mod:`.attention` (relative RoPE, so a token type embedding tells the three
kinds apart); ``window`` counts frames, each layer sees ``window * tokens`` tokens.

Which columns are the return and the action comes from the policy
(:class:`~.registry.InputColumns`, derived from the embedding config). Built without
them (the registry tests), column 0 is the return and there is no action token; a
policy without a return feature feeds a zero return.

At inference the return is whatever ``embed.returns.target`` says (``--target-return``);
``step`` streams: one frame's ``tokens`` tokens through each cached layer together.

State keys: ``k_cache_{i}``, ``v_cache_{i}`` (B, heads, window * tokens, head_dim) per
layer, ``valid`` (B, window * tokens) and ``position`` (B,), the tokens seen so far.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import AttentionOptions, TransformerBlock, check_heads
from .attention import next_valid, rope_for, window_state, window_step
from .layers import layer_norm, linear
from .registry import Backbone, BackboneConfig, InputColumns, State, register


@dataclass
class DTConfig(AttentionOptions, BackboneConfig):
    """Decision Transformer: ``num_layers`` pre-norm blocks over ``window`` frames of
    tokens (three per frame with an action input, else two)."""

    name = "dt"
    window: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        check_heads(self.hidden_size, self.num_heads)


@register("dt")
class DecisionTransformer(Backbone):
    """Token embeddings (action, return, state), transformer blocks, final LayerNorm."""

    config_class = DTConfig
    uses_columns = True

    def __init__(self, config: DTConfig, input_dim: int, columns: InputColumns | None = None) -> None:
        super().__init__(config, input_dim)
        columns = columns or InputColumns(return_to_go=0)
        self.return_column, self.action_columns = columns.return_to_go, columns.action
        special = set() if self.return_column is None else {self.return_column}
        if self.action_columns is not None:
            special |= set(range(*self.action_columns))
        state_columns = [c for c in range(input_dim) if c not in special]
        self.register_buffer("state_index", torch.tensor(state_columns), persistent=False)
        dim = config.hidden_size
        self.tokens = 2 if self.action_columns is None else 3
        self.action_embed = (
            None if self.action_columns is None else nn.Linear(self.action_columns[1] - self.action_columns[0], dim)
        )
        self.return_embed = nn.Linear(1, dim)
        self.state_embed = nn.Linear(len(state_columns), dim)
        self.token_type = nn.Parameter(torch.randn(self.tokens, dim) * 0.02)
        self.window_tokens = config.window * self.tokens
        self.layers = nn.ModuleList(
            TransformerBlock(
                dim, config.num_heads, self.window_tokens, config.mlp_ratio, config.dropout, config.rope_base
            )
            for _ in range(config.num_layers)
        )
        self.norm_f = nn.LayerNorm(dim)

    def embed_tokens(self, x: Tensor) -> Tensor:
        """x (..., D) -> (..., tokens, H): [a_{t-1},] R_t, s_t, each plus its type."""
        if self.return_column is None:
            rtg = torch.zeros_like(x[..., :1])
        else:
            rtg = x[..., self.return_column : self.return_column + 1]
        parts = [linear(rtg, self.return_embed), linear(x.index_select(-1, self.state_index), self.state_embed)]
        if self.action_embed is not None:
            start, stop = self.action_columns
            parts.insert(0, linear(x[..., start:stop], self.action_embed))
        return torch.stack(parts, dim=-2) + self.token_type

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        state = window_state(batch_size, self.window_tokens, device)
        for i, layer in enumerate(self.layers):
            state[f"k_cache_{i}"], state[f"v_cache_{i}"] = layer.zero_cache(batch_size, device, dtype)
        return state

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H) read at the state tokens, state after the last frame."""
        batch, frames, _ = x.shape
        h = self.embed_tokens(x).flatten(1, 2)  # (B, T * tokens, H), frame-major
        valid = None if state is None else state["valid"]
        rope, position = rope_for(self.layers[0].attn, state, batch, h.shape[1], x.dtype, x.device)
        new_state = {"position": position}
        for i, layer in enumerate(self.layers):
            cache = None if state is None else (state[f"k_cache_{i}"], state[f"v_cache_{i}"])
            h, (new_state[f"k_cache_{i}"], new_state[f"v_cache_{i}"]), _ = layer(h, cache, valid, rope)
        new_state["valid"] = next_valid(valid, batch, h.shape[1], self.window_tokens, x.device)
        y = h.unflatten(1, (frames, self.tokens))[:, :, -1]  # (B, T, H): the state tokens
        return self.norm_f(y), new_state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H): the frame's tokens go through each cached layer together
        (``SlidingWindowAttention.step``: ``forward`` over one frame in fewer ops),
        so a layer's weights are read once per frame, not once per token
        (``benchmarks/backbones.py`` times the step against that floor)."""
        h = self.embed_tokens(x)  # (B, tokens, H)
        mask_bias, rope, new_state = window_step(self.layers[0].attn, state, self.tokens, x.dtype)
        for i, layer in enumerate(self.layers):
            h, new_state[f"k_cache_{i}"], new_state[f"v_cache_{i}"] = layer.step(
                h, state[f"k_cache_{i}"], state[f"v_cache_{i}"], mask_bias, rope
            )
        return layer_norm(h[:, -1], self.norm_f), new_state
