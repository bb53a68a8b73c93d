"""RWKV-7 "Goose" (Peng et al. 2025): time mix with the generalised delta rule and a
channel mix, following BlinkDL's reference ``RWKV_Tmix_x070`` / ``RWKV_CMix_x070``.

Time mix, per head with a (K, V) state (K = V = head_size):

    xx = x_{t-1} - x_t                         token shift (state: the previous frame)
    r, k, v = W_r(x + xx*mu_r), W_k(...), W_v(...)
    log w = -exp(-softplus(-(w0 + tanh(x_w A_w) B_w)) - 1/2)   vector decay in (e^-0.61, 1)
    lr = sigmoid(a0 + x_a A_a B_a)             in-context learning rate, per channel
    kk = normalise(k * k_k)  (per head);  k = k * (1 + (lr - 1) * k_a)
    v  = v + (v_first - v) * sigmoid(v0 + x_v A_v B_v)   (layers > 0: value residual)
    S_t = diag(w_t) S_{t-1} + (kk*lr)((-kk)^T S_{t-1}) + k v^T,  o_t = S_t^T r_t
    out = W_o((GroupNorm_head(o) + (r . k * r_k) v) * g),  g = sigmoid(x_g A_g) B_g

Channel mix: ``W_v relu(W_k(x + xx*mu_k))^2`` with its own token shift.

``forward`` runs the chunked form (``dplr_ops.dplr_chunked`` with a = -kk, b = kk*lr) or,
on CUDA with flash-linear-attention, its ``chunk_rwkv7`` kernel; ``step`` the recurrence.
The tests check both against ``dplr_sequential``.

State keys per layer i: ``shift_att_{i}``, ``shift_ffn_{i}`` (B, H) the previous frame's
normed inputs, and ``wkv_{i}`` (B, heads, K, V).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dplr_ops import FLA_KERNELS, dplr_chunked, dplr_step, fla_available
from .layers import layer_norm, linear
from .registry import Backbone, BackboneConfig, BackboneConfigError, State, register

MIX_NAMES = ("r", "w", "k", "v", "a", "g")


@dataclass
class RWKV7Config(BackboneConfig):
    """RWKV-7 stack. ``head_size``: K = V per head (hidden_size / head_size heads; 32, not
    the 64 of large RWKV-7 models, so that every width from 32 up splits into heads);
    ``lora_rank``: rank of the decay, learning-rate, value-residual and gate projections;
    ``ffn_ratio``: channel-mix width; ``chunk_size``: L of the chunked form."""

    name = "rwkv7"
    head_size: int = 32
    lora_rank: int = 32
    ffn_ratio: float = 4.0
    chunk_size: int = 16
    use_kernels: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size % self.head_size:
            raise BackboneConfigError(
                f"hidden_size {self.hidden_size} must be a multiple of head_size {self.head_size}"
            )
        if self.lora_rank < 1 or self.chunk_size < 1:
            raise BackboneConfigError("lora_rank and chunk_size must be >= 1")


class LowRank(nn.Module):
    """x (.., H) -> (.., out) through rank ``rank``, with an optional tanh/sigmoid between
    (the reference's ``(x @ w1) @ w2`` LoRA-style projections)."""

    def __init__(self, dim: int, rank: int, out: int, inner: str | None, bias_init: Tensor | None) -> None:
        super().__init__()
        self.down = nn.Parameter(torch.randn(dim, rank) * dim**-0.5 * 0.1)
        self.up = nn.Parameter(torch.nn.init.orthogonal_(torch.empty(rank, out)) * 0.1)
        self.bias = None if bias_init is None else nn.Parameter(bias_init)
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        h = x @ self.down
        if self.inner == "tanh":
            h = torch.tanh(h)
        elif self.inner == "sigmoid":
            h = torch.sigmoid(h)
        h = h @ self.up
        return h if self.bias is None else h + self.bias


class TimeMix(nn.Module):
    """The RWKV-7 time mixer for one layer; ``layer_id`` 0 has no value residual."""

    def __init__(self, config: RWKV7Config, layer_id: int) -> None:
        super().__init__()
        dim, self.head_size = config.hidden_size, config.head_size
        self.heads, self.layer_id = dim // config.head_size, layer_id
        self.chunk_size, self.use_kernels = config.chunk_size, config.use_kernels
        depth = layer_id / max(1, config.num_layers - 1)  # 0 at the bottom, 1 at the top
        ratio = 1.0 - layer_id / config.num_layers
        channel = torch.arange(dim, dtype=torch.float32) / dim
        # Token-shift mixes: deeper layers and later channels lean on the current frame.
        self.mix = nn.ParameterDict(
            {
                name: nn.Parameter(1.0 - channel.pow(power * ratio))
                for name, power in zip(MIX_NAMES, (0.2, 0.9, 0.7, 0.7, 0.9, 0.2))
            }
        )
        # Decay speeds spread from slow to fast across channels (reference init).
        decay = -6 + 5 * (torch.arange(dim) / max(1, dim - 1)).pow(0.7 + 1.3 * depth)
        rank = config.lora_rank
        self.decay = LowRank(dim, rank, dim, "tanh", decay + 0.5)
        self.learning_rate = LowRank(dim, rank, dim, None, torch.zeros(dim))
        self.value_residual = LowRank(dim, rank, dim, None, torch.ones(dim)) if layer_id > 0 else None
        self.gate = LowRank(dim, rank, dim, "sigmoid", None)
        self.k_k = nn.Parameter(torch.full((dim,), 0.85))
        self.k_a = nn.Parameter(torch.ones(dim))
        self.r_k = nn.Parameter(torch.randn(self.heads, self.head_size) * 0.1)
        self.receptance = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.output = nn.Linear(dim, dim, bias=False)
        self.ln_x = nn.GroupNorm(self.heads, dim, eps=64e-5)

    def _heads(self, x: Tensor) -> Tensor:
        return x.unflatten(-1, (self.heads, self.head_size))  # (.., H) -> (.., h, K)

    def _inputs(self, x: Tensor, prev: Tensor, v_first: Tensor | None):
        """x, prev (.., H) (prev = the frame before each x) -> r, log_w, k, v, a, b
        (.., h, K), the gate g (.., H) and v_first."""
        xx = prev - x
        xr, xw, xk, xv, xa, xg = (x + xx * self.mix[name] for name in MIX_NAMES)
        r, k, v = F.linear(xr, self.receptance.weight), F.linear(xk, self.key.weight), F.linear(xv, self.value.weight)
        log_w = -torch.exp(-F.softplus(-self.decay(xw)) - 0.5)  # (.., H), log decay
        if self.value_residual is None:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.value_residual(xv))
        lr = torch.sigmoid(self.learning_rate(xa))
        g = self.gate(xg)
        kk = F.normalize(self._heads(k * self.k_k), dim=-1)  # (.., h, K)
        k = k * (1 + (lr - 1) * self.k_a)
        lr = self._heads(lr)
        return self._heads(r), self._heads(log_w), self._heads(k), self._heads(v), -kk, kk * lr, g, v_first

    def _output(self, o: Tensor, r: Tensor, k: Tensor, v: Tensor, g: Tensor) -> Tensor:
        """o, r, k, v (.., h, K), g (.., H) -> (.., H): per-head norm, bonus, gate, W_o."""
        normed = F.layer_norm(o, (self.head_size,), eps=self.ln_x.eps).flatten(-2)  # GroupNorm by heads
        normed = normed * self.ln_x.weight + self.ln_x.bias
        bonus = ((r * k * self.r_k).sum(-1, keepdim=True) * v).flatten(-2)  # (.., H)
        return F.linear((normed + bonus) * g, self.output.weight)

    def forward(self, x: Tensor, shift: Tensor, wkv: Tensor, v_first: Tensor | None):
        """x (B, T, H), shift (B, H), wkv (B, h, K, V) -> out (B, T, H), last x, wkv, v_first."""
        prev = torch.cat([shift.unsqueeze(1), x[:, :-1]], dim=1)  # (B, T, H)
        r, log_w, k, v, a, b, g, v_first = self._inputs(x, prev, v_first)
        if self.use_kernels and fla_available(x):
            o, wkv = FLA_KERNELS.chunk_rwkv7(
                r, log_w, k, v, a, b, scale=1.0, initial_state=wkv, output_final_state=True
            )
        else:
            o, wkv = dplr_chunked(r, k, v, log_w, a, b, wkv, self.chunk_size)  # (B, T, h, V)
        return self._output(o, r, k, v, g), x[:, -1], wkv, v_first

    def step(self, x: Tensor, shift: Tensor, wkv: Tensor, v_first: Tensor | None):
        """One frame: x, shift (B, H), wkv (B, h, K, V) -> out (B, H), x, wkv, v_first."""
        r, log_w, k, v, a, b, g, v_first = self._inputs(x, shift, v_first)
        o, wkv = dplr_step(r, k, v, log_w, a, b, wkv)  # (B, h, V)
        return self._output(o, r, k, v, g), x, wkv, v_first

    def zero_state(self, batch_size: int, device, dtype) -> tuple[Tensor, Tensor]:
        dim = self.heads * self.head_size
        return (
            torch.zeros(batch_size, dim, device=device, dtype=dtype),
            torch.zeros(batch_size, self.heads, self.head_size, self.head_size, device=device, dtype=dtype),
        )


class ChannelMix(nn.Module):
    """W_v relu(W_k(x + (x_{t-1} - x) * mu_k))^2. (.., H) -> (.., H)."""

    def __init__(self, config: RWKV7Config, layer_id: int) -> None:
        super().__init__()
        dim = config.hidden_size
        ratio = 1.0 - layer_id / config.num_layers
        self.mix_k = nn.Parameter(1.0 - (torch.arange(dim, dtype=torch.float32) / dim).pow(ratio**4))
        self.key = nn.Linear(dim, int(dim * config.ffn_ratio), bias=False)
        self.value = nn.Linear(int(dim * config.ffn_ratio), dim, bias=False)

    def mix(self, x: Tensor, prev: Tensor) -> Tensor:
        hidden = torch.relu(F.linear(x + (prev - x) * self.mix_k, self.key.weight)) ** 2
        return F.linear(hidden, self.value.weight)


class RWKV7Block(nn.Module):
    """x + TimeMix(LN(x)), then x + ChannelMix(LN(x)); layer 0 also norms its input."""

    def __init__(self, config: RWKV7Config, layer_id: int) -> None:
        super().__init__()
        dim = config.hidden_size
        self.ln0 = nn.LayerNorm(dim) if layer_id == 0 else None
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.att, self.ffn = TimeMix(config, layer_id), ChannelMix(config, layer_id)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: Tensor, state: tuple[Tensor, Tensor, Tensor], v_first: Tensor | None):
        """h (B, T, H); state (shift_att, shift_ffn, wkv) -> h, new state, v_first."""
        shift_att, shift_ffn, wkv = state
        if self.ln0 is not None:
            h = self.ln0(h)
        out, shift_att, wkv, v_first = self.att(self.ln1(h), shift_att, wkv, v_first)
        h = h + self.dropout(out)
        normed = self.ln2(h)
        prev = torch.cat([shift_ffn.unsqueeze(1), normed[:, :-1]], dim=1)
        h = h + self.dropout(self.ffn.mix(normed, prev))
        return h, (shift_att, normed[:, -1], wkv), v_first

    def step(self, h: Tensor, state: tuple[Tensor, Tensor, Tensor], v_first: Tensor | None):
        """h (B, H) -> h, new state, v_first. Inference: no dropout."""
        shift_att, shift_ffn, wkv = state
        if self.ln0 is not None:
            h = layer_norm(h, self.ln0)
        out, shift_att, wkv, v_first = self.att.step(layer_norm(h, self.ln1), shift_att, wkv, v_first)
        h = h + out
        normed = layer_norm(h, self.ln2)
        return h + self.ffn.mix(normed, shift_ffn), (shift_att, normed, wkv), v_first


@register("rwkv7")
class RWKV7Backbone(Backbone):
    """input_proj (D -> H), ``num_layers`` RWKV-7 blocks, final LayerNorm ``norm_f``."""

    config_class = RWKV7Config

    def __init__(self, config: RWKV7Config, input_dim: int) -> None:
        super().__init__(config, input_dim)
        self.input_proj = nn.Linear(input_dim, config.hidden_size)
        self.layers = nn.ModuleList(RWKV7Block(config, i) for i in range(config.num_layers))
        self.norm_f = nn.LayerNorm(config.hidden_size)
        self._keys = [(f"shift_att_{i}", f"shift_ffn_{i}", f"wkv_{i}") for i in range(config.num_layers)]

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        state = {}
        for (att_key, ffn_key, wkv_key), layer in zip(self._keys, self.layers):
            shift, wkv = layer.att.zero_state(batch_size, device, dtype)
            state[att_key], state[ffn_key], state[wkv_key] = shift, shift.clone(), wkv
        return state

    def _run(self, h: Tensor, state: State, stepping: bool) -> tuple[Tensor, State]:
        new_state, v_first = {}, None
        for keys, layer in zip(self._keys, self.layers):
            run = layer.step if stepping else layer
            h, values, v_first = run(h, tuple(state[key] for key in keys), v_first)
            new_state.update(zip(keys, values))
        return h, new_state

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H), state after the last frame."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        h, new_state = self._run(self.input_proj(x), state, stepping=False)  # (B, T, H)
        return self.norm_f(h), new_state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        h, new_state = self._run(linear(x, self.input_proj), state, stepping=True)
        return layer_norm(h, self.norm_f), new_state
