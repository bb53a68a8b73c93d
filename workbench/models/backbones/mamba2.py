"""Mamba-2 backbone: SSD mixers (scalar decay per head) in pre-norm residual blocks.

Parameter names and shapes follow mamba-ssm's ``Mamba2`` (``d_ssm = d_inner``, no MLP
split, ``D_has_hdim=False``, ``rmsnorm=True``, ``norm_before_gate=False``):

    layers.{i}.mixer.in_proj.weight   (2*Di + 2*G*N + nheads, H)   order [z, x, B, C, dt]
    layers.{i}.mixer.conv1d.weight    (Di + 2*G*N, 1, d_conv)      conv1d.bias likewise
    layers.{i}.mixer.dt_bias          (nheads,)
    layers.{i}.mixer.A_log            (nheads,)
    layers.{i}.mixer.D                (nheads,)
    layers.{i}.mixer.norm.weight      (Di,)                       gated RMSNorm
    layers.{i}.mixer.out_proj.weight  (H, Di)
    layers.{i}.norm.weight, norm_f.weight  (H,)

with Di = expand * H, nheads = Di / headdim, G = ngroups, N = d_state.

State keys per layer i: ``conv_{i}`` (B, Di + 2*G*N, d_conv-1) and ``ssm_{i}``
(B, nheads, headdim, N). ``forward`` uses the chunked SSD algorithm
(``ssm_ops.ssd_chunked``), ``step`` the recurrence (``ssm_ops.ssd_step``); the test suite
checks them against ``ssm_ops.ssd_sequential``. mamba-ssm's Triton SSD kernels are not
wired in (the pure chunked path runs on GPU too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import GatedRMSNorm, causal_conv1d, causal_conv1d_step
from .mamba import MambaBlock, SSMStack
from .registry import BackboneConfig, BackboneConfigError, register
from .ssm_ops import ssd_chunked, ssd_step


@dataclass
class Mamba2Config(BackboneConfig):
    """Mamba-2 stack. ``chunk_size``: SSD chunk length L in forward."""

    name = "mamba2"
    d_state: int = 64
    d_conv: int = 4
    expand: int = 2
    headdim: int = 64
    ngroups: int = 1
    chunk_size: int = 16
    norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        d_inner = self.expand * self.hidden_size
        if d_inner % self.headdim or (d_inner // self.headdim) % self.ngroups:
            raise BackboneConfigError(
                f"expand*hidden_size={d_inner} must split into heads of headdim={self.headdim}, "
                f"and the heads into ngroups={self.ngroups} groups"
            )
        if self.d_conv < 2:
            raise BackboneConfigError(f"d_conv must be >= 2, got {self.d_conv}")


class Mamba2Mixer(nn.Module):
    """The SSD mixer, (B, T, H) -> (B, T, H), mamba-ssm's ``Mamba2`` layout."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 64,
        d_conv: int = 4,
        expand: int = 2,
        headdim: int = 64,
        ngroups: int = 1,
        chunk_size: int = 16,
        A_init_range: tuple[float, float] = (1.0, 16.0),
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        self.d_inner, self.d_state, self.d_conv = expand * d_model, d_state, d_conv
        self.headdim, self.ngroups, self.chunk_size = headdim, ngroups, chunk_size
        self.nheads = self.d_inner // headdim
        self.conv_dim = self.d_inner + 2 * ngroups * d_state
        self.in_proj = nn.Linear(d_model, self.d_inner + self.conv_dim + self.nheads, bias=False)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1)
        # mamba-ssm's init: softplus(dt_bias) log-uniform in [dt_min, dt_max]; A uniform in A_init_range
        dt = torch.exp(torch.rand(self.nheads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.empty(self.nheads).uniform_(*A_init_range)))
        self.D = nn.Parameter(torch.ones(self.nheads))
        self.norm = GatedRMSNorm(self.d_inner, group_size=self.d_inner // ngroups)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)

    def _heads(self, x: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(..., Di), (..., G*N) x2 -> (..., nheads, P), (..., nheads or 1, N) x2: each head
        reads its group's B and C (heads split into G contiguous groups, as mamba-ssm).
        With one group B and C keep a broadcastable head axis of size 1 (no copies)."""
        lead = x.shape[:-1]
        x = x.reshape(*lead, self.nheads, self.headdim)
        if self.ngroups == 1:
            return x, B.unsqueeze(-2), C.unsqueeze(-2)
        per_group = self.nheads // self.ngroups
        B = B.reshape(*lead, self.ngroups, 1, self.d_state).expand(*lead, self.ngroups, per_group, self.d_state)
        C = C.reshape(*lead, self.ngroups, 1, self.d_state).expand(*lead, self.ngroups, per_group, self.d_state)
        return x, B.reshape(*lead, self.nheads, self.d_state), C.reshape(*lead, self.nheads, self.d_state)

    def forward(
        self, u: Tensor, conv_state: Tensor, ssm_state: Tensor, fresh: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """u (B, T, H), conv_state (B, conv_dim, K-1), ssm_state (B, nheads, P, N)
        -> out (B, T, H) and the states after the last frame."""
        batch, seq_len, _ = u.shape
        z, xBC, dt = self.in_proj(u).split([self.d_inner, self.conv_dim, self.nheads], dim=-1)
        xBC, conv_state = causal_conv1d(xBC, conv_state, self.conv1d.weight, self.conv1d.bias)
        x, B, C = F.silu(xBC).split([self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], -1)
        dt = F.softplus(dt + self.dt_bias)  # (B, T, nheads)
        x, B, C = self._heads(x, B, C)  # (B, T, nheads, P), (B, T, nheads, N) x2
        B, C = B.expand(*x.shape[:-1], self.d_state), C.expand(*x.shape[:-1], self.d_state)
        y, ssm_state = ssd_chunked(x, dt, -torch.exp(self.A_log), B, C, self.D, ssm_state, self.chunk_size)
        y = self.norm(y.reshape(batch, seq_len, self.d_inner), z)  # (B, T, Di)
        return self.out_proj(y), conv_state, ssm_state

    def step(self, u: Tensor, conv_state: Tensor, ssm_state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One frame: u (B, H) -> out (B, H) and the new states."""
        z, xBC, dt = F.linear(u, self.in_proj.weight).split([self.d_inner, self.conv_dim, self.nheads], -1)
        xBC, conv_state = causal_conv1d_step(xBC, conv_state, self.conv1d.weight, self.conv1d.bias)
        x, B, C = F.silu(xBC).split([self.d_inner, self.ngroups * self.d_state, self.ngroups * self.d_state], -1)
        x, B, C = self._heads(x, B, C)  # (B, nheads, P), (B, nheads, N) x2
        dt = F.softplus(dt + self.dt_bias)  # (B, nheads)
        y, ssm_state = ssd_step(x, dt, -torch.exp(self.A_log), B, C, self.D, ssm_state)
        y = self.norm(y.reshape(u.shape[0], self.d_inner), z)  # (B, Di)
        return F.linear(y, self.out_proj.weight), conv_state, ssm_state

    def zero_state(self, batch_size: int, device, dtype) -> tuple[Tensor, Tensor]:
        """(conv_state (B, conv_dim, K-1), ssm_state (B, nheads, P, N)) of zeros."""
        conv = torch.zeros(batch_size, self.conv_dim, self.d_conv - 1, device=device, dtype=dtype)
        ssm = torch.zeros(batch_size, self.nheads, self.headdim, self.d_state, device=device, dtype=dtype)
        return conv, ssm


def build_mamba2_block(config: Mamba2Config) -> MambaBlock:
    """A residual block around a Mamba2Mixer sized by ``config``."""
    mixer = Mamba2Mixer(
        config.hidden_size,
        config.d_state,
        config.d_conv,
        config.expand,
        config.headdim,
        config.ngroups,
        config.chunk_size,
    )
    return MambaBlock(config.hidden_size, mixer, config.norm_eps, config.dropout)


@register("mamba2")
class Mamba2Backbone(SSMStack):
    """Mamba-2 stack: input_proj, residual SSD blocks, final RMSNorm ``norm_f``."""

    config_class = Mamba2Config
    build_block = staticmethod(build_mamba2_block)
