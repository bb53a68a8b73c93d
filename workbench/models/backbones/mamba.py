"""Mamba-1 backbone: selective-SSM mixers in pre-norm residual blocks with RMSNorm.

Parameter names and shapes follow mamba-ssm (``mamba_ssm.modules.mamba_simple.Mamba``
inside ``Block``/``MixerModel``), so its checkpoints load with ``strict=True``:

    layers.{i}.norm.weight            (H,)
    layers.{i}.mixer.in_proj.weight   (2*Di, H)            Di = expand * H
    layers.{i}.mixer.conv1d.weight    (Di, 1, d_conv)      conv1d.bias (Di,)
    layers.{i}.mixer.x_proj.weight    (R + 2*N, Di)        R = dt_rank, N = d_state
    layers.{i}.mixer.dt_proj.weight   (Di, R)              dt_proj.bias (Di,)
    layers.{i}.mixer.A_log            (Di, N)
    layers.{i}.mixer.D                (Di,)
    layers.{i}.mixer.out_proj.weight  (H, Di)
    norm_f.weight                     (H,)

plus our ``input_proj`` (D -> H), which replaces MixerModel's token embedding.

State keys per layer i: ``conv_{i}`` (B, Di, d_conv-1), the last d_conv-1 conv inputs
(mamba-ssm keeps d_conv; the oldest column is never used), and ``ssm_{i}`` (B, Di, N).

Scan paths: ``selective_scan_chunked`` (pure PyTorch, used by forward),
``selective_scan_sequential`` (reference), and on CUDA mamba-ssm's kernels
(``causal_conv1d_fn``, ``selective_scan_fn``) when importable and ``use_kernels``; a
carried state is continued exactly (``entering_state_contribution``), so truncated-BPTT
chunks also run on the kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import RMSNorm, causal_conv1d, causal_conv1d_step, linear, rms_norm
from .registry import Backbone, BackboneConfig, BackboneConfigError, State, register
from .ssm_ops import (
    MAMBA_KERNELS,
    entering_state_contribution,
    kernels_available,
    selective_scan_chunked,
    selective_scan_step,
)


@dataclass
class MambaOptions:
    """Mamba-1 mixer options, shared by the mamba, jamba and zamba configs.

    ``dt_rank=None`` means mamba-ssm's "auto" (ceil(H / 16)); ``scan_chunk=0`` picks about
    sqrt(T); ``use_kernels`` allows mamba-ssm's CUDA kernels when they are importable.
    """

    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | None = None
    norm_eps: float = 1e-5
    scan_chunk: int = 0
    use_kernels: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()  # type: ignore[misc]  # the config base validates its fields
        if self.d_conv < 2:
            raise BackboneConfigError(f"d_conv must be >= 2, got {self.d_conv}")


@dataclass
class MambaConfig(MambaOptions, BackboneConfig):
    """Mamba-1 stack: ``num_layers`` residual Mamba blocks of width ``hidden_size``."""

    name = "mamba"


class MambaMixer(nn.Module):
    """The selective SSM mixer, (B, T, H) -> (B, T, H), mamba-ssm's ``Mamba`` layout."""

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        scan_chunk: int = 0,
        use_kernels: bool = True,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
    ) -> None:
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state, self.d_conv = d_state, d_conv
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.scan_chunk, self.use_kernels = scan_chunk, use_kernels
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        # mamba-ssm's init: dt_proj keeps variance; softplus(dt_proj.bias) in [dt_min, dt_max]
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        dt = torch.exp(torch.rand(self.d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_init_floor)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        # S4D-real init: A = -(1..N) for every channel, stored as log
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))  # (Di, N)
        self.D = nn.Parameter(torch.ones(self.d_inner))  # (Di,)

    def forward(
        self, u: Tensor, conv_state: Tensor, ssm_state: Tensor, fresh: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """u (B, T, H), conv_state (B, Di, K-1), ssm_state (B, Di, N) -> out (B, T, H), states.

        ``fresh`` says the states are zeros, which lets the CUDA path skip continuing them.
        """
        if self._kernels_usable(u):
            return self._forward_kernels(u, conv_state, ssm_state, fresh)
        x, z = self.in_proj(u).chunk(2, dim=-1)  # (B, T, Di) each
        x, conv_state = causal_conv1d(x, conv_state, self.conv1d.weight, self.conv1d.bias)
        x = F.silu(x)
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))  # (B, T, Di)
        A = -torch.exp(self.A_log)  # (Di, N)
        y, ssm_state = selective_scan_chunked(x, delta, A, B, C, self.D, ssm_state, self.scan_chunk)
        return self.out_proj(y * F.silu(z)), conv_state, ssm_state

    def _kernels_usable(self, u: Tensor) -> bool:
        return self.use_kernels and u.is_cuda and kernels_available()

    def _forward_kernels(
        self, u: Tensor, conv_state: Tensor, ssm_state: Tensor, fresh: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        """mamba-ssm fused path; kernels use the (B, C, T) layout. A carried conv state is
        prepended to the conv input; a carried SSM state is added afterwards with
        ``entering_state_contribution`` (the scan kernel only starts from zero)."""
        prefix = self.d_conv - 1
        x, z = self.in_proj(u).transpose(1, 2).chunk(2, dim=1)  # (B, Di, T) each
        x = torch.cat([conv_state.to(x.dtype), x], dim=-1)  # (B, Di, K-1+T)
        conv_state = x[:, :, -prefix:]
        x = MAMBA_KERNELS.causal_conv1d_fn(
            x.contiguous(), self.conv1d.weight.squeeze(1), self.conv1d.bias, activation="silu"
        )[:, :, prefix:]  # (B, Di, T)
        dt, B, C = self.x_proj(x.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], -1)
        dt = F.linear(dt, self.dt_proj.weight)  # (B, T, Di), bias added in the kernel
        A = -torch.exp(self.A_log.float())
        y, last_state = MAMBA_KERNELS.selective_scan_fn(
            x.contiguous(),
            dt.transpose(1, 2).contiguous(),
            A,
            B.transpose(1, 2).contiguous(),
            C.transpose(1, 2).contiguous(),
            self.D.float(),
            z=z.contiguous(),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            return_last_state=True,
        )  # y: (B, Di, T), gated by silu(z) inside the kernel
        y = y.transpose(1, 2)  # (B, T, Di)
        if not fresh:
            delta = F.softplus(dt + self.dt_proj.bias)  # (B, T, Di)
            y_extra, h_extra = entering_state_contribution(delta, A.to(delta.dtype), C, ssm_state)
            y = y + y_extra * F.silu(z.transpose(1, 2))
            last_state = last_state + h_extra
        out = self.out_proj(y)  # (B, T, H)
        return out, conv_state.contiguous(), last_state.to(out.dtype)

    def step(self, u: Tensor, conv_state: Tensor, ssm_state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One frame: u (B, H) -> out (B, H) and the new states.

        Written with functional ops on the weights (no submodule calls) because at batch 1
        the cost is per-op overhead, not arithmetic.
        """
        x, z = F.linear(u, self.in_proj.weight).chunk(2, dim=-1)  # (B, Di) each
        x, conv_state = causal_conv1d_step(x, conv_state, self.conv1d.weight, self.conv1d.bias)
        x = F.silu(x)
        dt, B, C = F.linear(x, self.x_proj.weight).split([self.dt_rank, self.d_state, self.d_state], -1)
        delta = F.softplus(F.linear(dt, self.dt_proj.weight, self.dt_proj.bias))  # (B, Di)
        y, ssm_state = selective_scan_step(x, delta, -torch.exp(self.A_log), B, C, self.D, ssm_state)
        return F.linear(y * F.silu(z), self.out_proj.weight), conv_state, ssm_state

    def zero_state(self, batch_size: int, device, dtype) -> tuple[Tensor, Tensor]:
        """(conv_state (B, Di, K-1), ssm_state (B, Di, N)) of zeros."""
        conv = torch.zeros(batch_size, self.d_inner, self.d_conv - 1, device=device, dtype=dtype)
        ssm = torch.zeros(batch_size, self.d_inner, self.d_state, device=device, dtype=dtype)
        return conv, ssm


class MambaBlock(nn.Module):
    """Pre-norm residual block, h + dropout(mixer(RMSNorm(h))): mamba-ssm's ``Block``
    with its fused residual add written out. ``mixer`` is a MambaMixer or Mamba2Mixer
    (anything with ``forward(u, conv, ssm, fresh)``, ``step`` and ``zero_state``)."""

    def __init__(self, dim: int, mixer: nn.Module, eps: float = 1e-5, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, eps=eps)
        self.mixer = mixer
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: Tensor, conv: Tensor, ssm: Tensor, fresh: bool = False):
        """h (B, T, H) -> h (B, T, H), conv, ssm."""
        out, conv, ssm = self.mixer(self.norm(h), conv, ssm, fresh)
        return h + self.dropout(out), conv, ssm

    def step(self, h: Tensor, conv: Tensor, ssm: Tensor):
        """h (B, H) -> h (B, H), conv, ssm. Inference: no dropout."""
        out, conv, ssm = self.mixer.step(rms_norm(h, self.norm), conv, ssm)
        return h + out, conv, ssm


def build_mamba_block(config: MambaOptions | MambaConfig) -> MambaBlock:
    """A residual Mamba block sized by ``config`` (also used by the hybrids)."""
    mixer = MambaMixer(
        config.hidden_size,
        config.d_state,
        config.d_conv,
        config.expand,
        config.dt_rank,
        config.scan_chunk,
        config.use_kernels,
    )
    return MambaBlock(config.hidden_size, mixer, config.norm_eps, config.dropout)


class SSMStack(Backbone):
    """input_proj (D -> H), ``num_layers`` residual SSM blocks, final RMSNorm ``norm_f``.

    Subclasses choose the block with ``build_block``. State keys per layer i:
    ``conv_{i}`` and ``ssm_{i}`` (shapes from the mixer's ``zero_state``).
    """

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        self.input_proj = nn.Linear(input_dim, config.hidden_size)
        self.layers = nn.ModuleList(self.build_block(config) for _ in range(config.num_layers))
        self.norm_f = RMSNorm(config.hidden_size, eps=config.norm_eps)
        self._keys = [(f"conv_{i}", f"ssm_{i}") for i in range(config.num_layers)]

    @staticmethod
    def build_block(config: BackboneConfig) -> MambaBlock:
        raise NotImplementedError

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        state = {}
        for (conv_key, ssm_key), layer in zip(self._keys, self.layers):
            state[conv_key], state[ssm_key] = layer.mixer.zero_state(batch_size, device, dtype)
        return state

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H), state after the last frame."""
        fresh = state is None  # zero state: the CUDA path need not continue a carried one
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        h = self.input_proj(x)  # (B, T, H)
        new_state = {}
        for (conv_key, ssm_key), layer in zip(self._keys, self.layers):
            h, new_state[conv_key], new_state[ssm_key] = layer(h, state[conv_key], state[ssm_key], fresh)
        return self.norm_f(h), new_state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        h = linear(x, self.input_proj)  # (B, H)
        new_state = {}
        for (conv_key, ssm_key), layer in zip(self._keys, self.layers):
            h, new_state[conv_key], new_state[ssm_key] = layer.step(h, state[conv_key], state[ssm_key])
        return rms_norm(h, self.norm_f), new_state


@register("mamba")
class MambaBackbone(SSMStack):
    """Mamba-1 stack, mamba-ssm ``MixerModel`` layout (module docstring)."""

    config_class = MambaConfig
    build_block = staticmethod(build_mamba_block)
