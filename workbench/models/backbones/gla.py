"""Gated linear attention (GLA, Yang et al. 2024): multi-head linear attention whose
key-by-value state decays with a data-dependent gate per key channel.

Per layer (pre-norm residual blocks, then an MLP):

    q, k = W_q x, W_k x                            (B, T, h, Kh), q scaled by Kh^-1/2
    v, r = W_v x, W_r x                            (B, T, h, Vh), r the output gate
    log_w = logsigmoid(W_g2 W_g1 x + b) / tau      (B, T, h, Kh)  low-rank gate, tau = 16
    S_t = diag(exp(log_w_t)) S_{t-1} + k_t v_t^T,  o_t = S_t^T q_t
    out = W_o (RMSNorm_head(o) * silu(r))

``forward`` uses the chunked form (``dplr_ops.dplr_chunked`` with no low-rank term) or,
on CUDA with flash-linear-attention installed, its ``chunk_gla`` kernel; ``step`` the
recurrence (``dplr_step``). The tests check both against ``dplr_sequential``.

State keys per layer i: ``kv_{i}`` (B, heads, Kh, Vh).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dplr_ops import FLA_KERNELS, dplr_chunked, dplr_step, fla_available
from .layers import FeedForward, RMSNorm, linear, rms_norm
from .registry import Backbone, BackboneConfig, BackboneConfigError, State, register


@dataclass
class GLAConfig(BackboneConfig):
    """GLA stack. ``expand_k``/``expand_v``: key/value width as a multiple of hidden_size;
    ``gate_rank``: rank of the decay gate's projection; ``gate_normalizer``: tau above
    (larger = slower forgetting at init); ``chunk_size``: L of the chunked form."""

    name = "gla"
    num_heads: int = 4
    expand_k: float = 0.5
    expand_v: float = 1.0
    gate_rank: int = 16
    gate_normalizer: float = 16.0
    mlp_ratio: float = 4.0
    chunk_size: int = 16
    norm_eps: float = 1e-5
    use_kernels: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        key_dim, value_dim = int(self.hidden_size * self.expand_k), int(self.hidden_size * self.expand_v)
        if key_dim % self.num_heads or value_dim % self.num_heads:
            raise BackboneConfigError(
                f"key width {key_dim} and value width {value_dim} must split into {self.num_heads} heads"
            )
        if self.chunk_size < 1 or self.gate_rank < 1:
            raise BackboneConfigError("chunk_size and gate_rank must be >= 1")


class GatedLinearAttention(nn.Module):
    """The GLA token mixer, (B, T, H) -> (B, T, H) with a (B, h, Kh, Vh) state."""

    def __init__(self, config: GLAConfig) -> None:
        super().__init__()
        dim, heads = config.hidden_size, config.num_heads
        self.key_dim, self.value_dim = int(dim * config.expand_k), int(dim * config.expand_v)
        self.heads, self.head_k, self.head_v = heads, self.key_dim // heads, self.value_dim // heads
        self.chunk_size, self.use_kernels = config.chunk_size, config.use_kernels
        self.gate_normalizer = config.gate_normalizer
        self.q_proj = nn.Linear(dim, self.key_dim, bias=False)
        self.k_proj = nn.Linear(dim, self.key_dim, bias=False)
        self.v_proj = nn.Linear(dim, self.value_dim, bias=False)
        self.r_proj = nn.Linear(dim, self.value_dim, bias=False)  # output gate
        self.gate_down = nn.Linear(dim, config.gate_rank, bias=False)
        self.gate_up = nn.Linear(config.gate_rank, self.key_dim, bias=True)
        self.head_norm = RMSNorm(self.head_v, eps=config.norm_eps)
        self.out_proj = nn.Linear(self.value_dim, dim, bias=False)

    def _project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """x (..., H) -> q, k, log_w (..., h, Kh); v, r (..., h, Vh)."""
        lead = x.shape[:-1]
        q = F.linear(x, self.q_proj.weight).view(*lead, self.heads, self.head_k) * self.head_k**-0.5
        k = F.linear(x, self.k_proj.weight).view(*lead, self.heads, self.head_k)
        v = F.linear(x, self.v_proj.weight).view(*lead, self.heads, self.head_v)
        r = F.linear(x, self.r_proj.weight)  # (..., Vd)
        gate = linear(F.linear(x, self.gate_down.weight), self.gate_up)
        log_w = (F.logsigmoid(gate) / self.gate_normalizer).view(*lead, self.heads, self.head_k)
        return q, k, v, r, log_w

    def _output(self, o: Tensor, r: Tensor) -> Tensor:
        """o (..., h, Vh), r (..., Vd) -> (..., H): per-head RMSNorm, swish gate, out_proj."""
        o = rms_norm(o, self.head_norm).flatten(-2)  # (..., Vd)
        return F.linear(o * F.silu(r), self.out_proj.weight)

    def forward(self, x: Tensor, kv: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, H), kv (B, h, Kh, Vh) -> out (B, T, H), kv after the last frame."""
        q, k, v, r, log_w = self._project(x)
        if self.use_kernels and fla_available(x):
            o, kv = FLA_KERNELS.chunk_gla(q, k, v, log_w, scale=1.0, initial_state=kv, output_final_state=True)
        else:
            o, kv = dplr_chunked(q, k, v, log_w, None, None, kv, self.chunk_size)  # (B, T, h, Vh)
        return self._output(o, r), kv

    def step(self, x: Tensor, kv: Tensor) -> tuple[Tensor, Tensor]:
        """One frame: x (B, H), kv (B, h, Kh, Vh) -> out (B, H), new kv."""
        q, k, v, r, log_w = self._project(x)
        o, kv = dplr_step(q, k, v, log_w, None, None, kv)  # (B, h, Vh)
        return self._output(o, r), kv

    def zero_state(self, batch_size: int, device, dtype) -> Tensor:
        return torch.zeros(batch_size, self.heads, self.head_k, self.head_v, device=device, dtype=dtype)


class GLABlock(nn.Module):
    """h + GLA(RMSNorm(h)), then h + MLP(RMSNorm(h)). (B, T, H) -> (B, T, H)."""

    def __init__(self, config: GLAConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(config.hidden_size, eps=config.norm_eps)
        self.attn = GatedLinearAttention(config)
        self.norm2 = RMSNorm(config.hidden_size, eps=config.norm_eps)
        self.mlp = FeedForward(config.hidden_size, config.mlp_ratio, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: Tensor, kv: Tensor) -> tuple[Tensor, Tensor]:
        out, kv = self.attn(self.norm1(h), kv)
        h = h + self.dropout(out)
        return h + self.mlp(self.norm2(h)), kv

    def step(self, h: Tensor, kv: Tensor) -> tuple[Tensor, Tensor]:
        out, kv = self.attn.step(rms_norm(h, self.norm1), kv)
        h = h + out
        hidden = F.gelu(linear(rms_norm(h, self.norm2), self.mlp.fc_in))
        return h + linear(hidden, self.mlp.fc_out), kv


@register("gla")
class GLABackbone(Backbone):
    """input_proj (D -> H), ``num_layers`` GLA blocks, final RMSNorm ``norm_f``."""

    config_class = GLAConfig

    def __init__(self, config: GLAConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        self.input_proj = nn.Linear(input_dim, config.hidden_size)
        self.layers = nn.ModuleList(GLABlock(config) for _ in range(config.num_layers))
        self.norm_f = RMSNorm(config.hidden_size, eps=config.norm_eps)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        return {f"kv_{i}": layer.attn.zero_state(batch_size, device, dtype) for i, layer in enumerate(self.layers)}

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H), state after the last frame."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        h = self.input_proj(x)  # (B, T, H)
        new_state = {}
        for i, layer in enumerate(self.layers):
            h, new_state[f"kv_{i}"] = layer(h, state[f"kv_{i}"])
        return self.norm_f(h), new_state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        h = linear(x, self.input_proj)  # (B, H)
        new_state = {}
        for i, layer in enumerate(self.layers):
            h, new_state[f"kv_{i}"] = layer.step(h, state[f"kv_{i}"])
        return rms_norm(h, self.norm_f), new_state
