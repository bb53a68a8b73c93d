"""Jamba-style hybrid: Mamba-1 blocks interleaved with sliding-window attention blocks.

Layer i (0-based) is a transformer block (attention + MLP, see ``attention.py``) when
``(i + 1) % attention_every == 0`` and a residual Mamba block (see ``mamba.py``)
otherwise: ``attention_every=3`` gives mamba, mamba, attention, mamba, mamba, attention.
The default 2 alternates them, so the 2-layer production size has one of each.

State keys: ``conv_{i}``, ``ssm_{i}`` for Mamba layers, ``k_cache_{i}``, ``v_cache_{i}`` for
attention layers (i is the layer index), ``valid`` (B, W) and ``position`` (B,) shared by the
attention layers. ``forward(..., return_attention=True)`` adds per-attention-layer weights.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .attention import AttentionOptions, TransformerBlock, check_heads
from .attention import next_valid, rope_for, window_state, window_step
from .layers import RMSNorm, linear, rms_norm
from .mamba import MambaOptions, build_mamba_block
from .registry import Backbone, BackboneConfig, BackboneConfigError, State, register


@dataclass
class JambaConfig(MambaOptions, AttentionOptions, BackboneConfig):
    """Hybrid stack; every ``attention_every``-th layer is attention."""

    name = "jamba"
    attention_every: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.attention_every <= self.num_layers:
            raise BackboneConfigError(
                f"attention_every must be in [1, num_layers={self.num_layers}] so that at least "
                f"one layer is attention, got {self.attention_every}"
            )
        check_heads(self.hidden_size, self.num_heads)

    def is_attention(self, layer: int) -> bool:
        """Whether layer ``layer`` (0-based) is an attention layer."""
        return (layer + 1) % self.attention_every == 0


@register("jamba")
class JambaBackbone(Backbone):
    """input_proj (D -> H), interleaved Mamba/attention blocks, final RMSNorm ``norm_f``."""

    config_class = JambaConfig

    def __init__(self, config: JambaConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        hidden = config.hidden_size
        self.input_proj = nn.Linear(input_dim, hidden)
        self.layers = nn.ModuleList(
            TransformerBlock(
                hidden, config.num_heads, config.window, config.mlp_ratio, config.dropout, config.rope_base
            )
            if config.is_attention(i)
            else build_mamba_block(config)
            for i in range(config.num_layers)
        )
        self.norm_f = RMSNorm(hidden, eps=config.norm_eps)
        # (is_attention, state keys) per layer, built once.
        self._plan = [
            (True, (f"k_cache_{i}", f"v_cache_{i}")) if config.is_attention(i) else (False, (f"conv_{i}", f"ssm_{i}"))
            for i in range(config.num_layers)
        ]
        self._first_attention = next(i for i in range(config.num_layers) if config.is_attention(i))

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        state = window_state(batch_size, self.config.window, device)
        for (attention, keys), layer in zip(self._plan, self.layers):
            zeros = layer.zero_cache if attention else layer.mixer.zero_state
            state[keys[0]], state[keys[1]] = zeros(batch_size, device, dtype)
        return state

    def forward(self, x: Tensor, state: State | None = None, *, return_attention: bool = False):
        """x (B, T, D) -> (y (B, T, H), state), plus a list of per-attention-layer weights
        (B, heads, T, W) when ``return_attention``."""
        fresh = state is None
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        valid = None if fresh else state["valid"]
        attn = self.layers[self._first_attention].attn
        rope, position = rope_for(attn, None if fresh else state, x.shape[0], x.shape[1], x.dtype, x.device)
        h = self.input_proj(x)  # (B, T, H)
        new_state, all_weights = {"position": position}, []
        for (attention, (key_a, key_b)), layer in zip(self._plan, self.layers):
            if attention:
                cache = None if fresh else (state[key_a], state[key_b])
                h, (new_state[key_a], new_state[key_b]), weights = layer(h, cache, valid, rope, return_attention)
                all_weights.append(weights)
            else:
                h, new_state[key_a], new_state[key_b] = layer(h, state[key_a], state[key_b], fresh)
        new_state["valid"] = next_valid(valid, x.shape[0], x.shape[1], self.config.window, x.device)
        y = self.norm_f(h)
        return (y, new_state, all_weights) if return_attention else (y, new_state)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        mask_bias, rope, new_state = window_step(self.layers[self._first_attention].attn, state, 1, x.dtype)
        h = linear(x, self.input_proj)  # (B, H)
        for (attention, (key_a, key_b)), layer in zip(self._plan, self.layers):
            if attention:
                h, new_state[key_a], new_state[key_b] = layer.step(h, state[key_a], state[key_b], mask_bias, rope)
            else:
                h, new_state[key_a], new_state[key_b] = layer.step(h, state[key_a], state[key_b])
        return rms_norm(h, self.norm_f), new_state
