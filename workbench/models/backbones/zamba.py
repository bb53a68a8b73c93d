"""Zamba-style hybrid: a Mamba-1 stack plus ONE attention block shared across depths.

After every ``shared_attention_every``-th Mamba layer, the shared transformer block
(attention + MLP, width 2H) reads the concatenation of the current hidden state and
the original input embedding (the output of ``input_proj``), and that application's own
linear projection ``shared_proj.{j}`` (2H -> H) adds its output back to the residual
stream:

    z = [h, emb]                        (B, T, 2H)
    h = h + shared_proj[j](shared_block(z))

The block's weights are shared; each application j keeps its own key/value cache since
it sees different inputs.

State keys: ``conv_{i}``, ``ssm_{i}`` per Mamba layer i; ``k_cache_{j}``, ``v_cache_{j}``
(B, heads, W, 2H/heads) per shared-block application j; ``valid`` (B, W); ``position`` (B,).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import AttentionOptions, TransformerBlock, check_heads
from .attention import next_valid, rope_for, window_state, window_step
from .layers import RMSNorm, linear, rms_norm
from .mamba import MambaOptions, build_mamba_block
from .registry import Backbone, BackboneConfig, BackboneConfigError, State, register


@dataclass
class ZambaConfig(MambaOptions, AttentionOptions, BackboneConfig):
    """Mamba stack with one shared attention block applied after every
    ``shared_attention_every``-th Mamba layer (1 = after each layer). The default 2 keeps
    the 2H-wide shared block, which costs about 3x a Mamba layer per frame, to every
    other layer (once at the 2-layer production size, twice at 4 layers)."""

    name = "zamba"
    shared_attention_every: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.shared_attention_every <= self.num_layers:
            raise BackboneConfigError(
                f"shared_attention_every must be in [1, num_layers={self.num_layers}], "
                f"got {self.shared_attention_every}"
            )
        check_heads(2 * self.hidden_size, self.num_heads)

    def applies_shared(self, layer: int) -> bool:
        """Whether the shared block runs after Mamba layer ``layer`` (0-based)."""
        return (layer + 1) % self.shared_attention_every == 0


@register("zamba")
class ZambaBackbone(Backbone):
    """input_proj (D -> H), Mamba blocks with the shared 2H attention block between
    them, final RMSNorm ``norm_f``."""

    config_class = ZambaConfig

    def __init__(self, config: ZambaConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        hidden = config.hidden_size
        self.input_proj = nn.Linear(input_dim, hidden)
        self.layers = nn.ModuleList(build_mamba_block(config) for _ in range(config.num_layers))
        self.shared_block = TransformerBlock(
            2 * hidden, config.num_heads, config.window, config.mlp_ratio, config.dropout, config.rope_base
        )
        # (Mamba keys, shared-application index or None) per layer, built once.
        self._plan, applications = [], 0
        for i in range(config.num_layers):
            self._plan.append(((f"conv_{i}", f"ssm_{i}"), applications if config.applies_shared(i) else None))
            applications += config.applies_shared(i)
        self.shared_proj = nn.ModuleList(nn.Linear(2 * hidden, hidden, bias=False) for _ in range(applications))
        self.norm_f = RMSNorm(hidden, eps=config.norm_eps)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        state = window_state(batch_size, self.config.window, device)
        for ((conv_key, ssm_key), _), layer in zip(self._plan, self.layers):
            state[conv_key], state[ssm_key] = layer.mixer.zero_state(batch_size, device, dtype)
        for j in range(len(self.shared_proj)):
            state[f"k_cache_{j}"], state[f"v_cache_{j}"] = self.shared_block.zero_cache(batch_size, device, dtype)
        return state

    def forward(self, x: Tensor, state: State | None = None, *, return_attention: bool = False):
        """x (B, T, D) -> (y (B, T, H), state), plus a list of per-application attention
        weights (B, heads, T, W) when ``return_attention``."""
        fresh = state is None
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        valid = None if fresh else state["valid"]
        attn = self.shared_block.attn
        rope, position = rope_for(attn, None if fresh else state, x.shape[0], x.shape[1], x.dtype, x.device)
        emb = h = self.input_proj(x)  # (B, T, H)
        new_state, all_weights = {"position": position}, []
        for ((conv_key, ssm_key), app), layer in zip(self._plan, self.layers):
            h, new_state[conv_key], new_state[ssm_key] = layer(h, state[conv_key], state[ssm_key], fresh)
            if app is not None:
                cache = None if fresh else (state[f"k_cache_{app}"], state[f"v_cache_{app}"])
                z = torch.cat([h, emb], dim=-1)  # (B, T, 2H)
                z, (new_state[f"k_cache_{app}"], new_state[f"v_cache_{app}"]), weights = self.shared_block(
                    z, cache, valid, rope, return_attention
                )
                h = h + self.shared_proj[app](z)
                all_weights.append(weights)
        new_state["valid"] = next_valid(valid, x.shape[0], x.shape[1], self.config.window, x.device)
        y = self.norm_f(h)
        return (y, new_state, all_weights) if return_attention else (y, new_state)

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        mask_bias, rope, new_state = window_step(self.shared_block.attn, state, 1, x.dtype)
        emb = h = linear(x, self.input_proj)  # (B, H)
        for ((conv_key, ssm_key), app), layer in zip(self._plan, self.layers):
            h, new_state[conv_key], new_state[ssm_key] = layer.step(h, state[conv_key], state[ssm_key])
            if app is not None:
                k_key, v_key = f"k_cache_{app}", f"v_cache_{app}"
                z, new_state[k_key], new_state[v_key] = self.shared_block.step(
                    torch.cat([h, emb], dim=-1), state[k_key], state[v_key], mask_bias, rope
                )  # z: (B, 2H)
                h = h + F.linear(z, self.shared_proj[app].weight)
        return rms_norm(h, self.norm_f), new_state
