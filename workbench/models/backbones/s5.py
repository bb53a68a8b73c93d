"""S5 (Smith et al. 2023): a simplified state space layer, linear time-invariant, with a
diagonal complex state matrix shared by all channels (multi-input, multi-output).

Per layer, with P complex states and width H:

    Lambda = -exp(log_neg_real) + i * imag          (P,)   HiPPO-N eigenvalues at init
    A_bar = exp(Lambda * dt),  B_bar = (A_bar - 1) / Lambda * B     zero-order hold
    x_t = A_bar * x_{t-1} + B_bar u_t               (B, P) complex
    y_t = 2 Re(C x_t) + D * u_t                     (B, H) (conjugate-symmetric pairs)

then GELU, a sigmoid gate (S5's "half GLU") and a residual around a pre-LayerNorm.
Unlike Mamba, A_bar and B_bar do not depend on the input: this is the ablation that
shows what selectivity buys.

All arithmetic is real: the complex state is two real tensors and every complex product
is written out, so ``step`` exports to ONNX (which has no complex type). ``forward``
runs a parallel (Hillis-Steele) scan, log2(T) vectorised passes; ``s5_sequential`` is the
reference recurrence it is tested against.

State keys per layer i: ``x_re_{i}``, ``x_im_{i}`` (B, P).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import layer_norm, linear
from .registry import Backbone, BackboneConfig, BackboneConfigError, State, register


@dataclass
class S5Config(BackboneConfig):
    """S5 stack. ``d_state``: P complex states per layer; ``dt_min``/``dt_max``: range of
    the log-uniform initial time steps (one per state)."""

    name = "s5"
    d_state: int = 64
    dt_min: float = 0.001
    dt_max: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.d_state < 1 or not 0 < self.dt_min <= self.dt_max:
            raise BackboneConfigError(
                f"d_state must be >= 1 and 0 < dt_min <= dt_max, got {self.d_state}, {self.dt_min}, {self.dt_max}"
            )


def hippo_n_eigen(num_states: int) -> tuple[Tensor, Tensor]:
    """Eigenvalues and eigenvectors of the normal part of HiPPO-LegS (S5's init).

    HiPPO-LegS = normal - P P^T with normal = -1/2 I + skew-symmetric; its eigenvalues
    are -1/2 + i*omega in conjugate pairs. Returns ``num_states`` of them, one of each
    pair, as (P,) complex128 and the matching eigenvectors (2P, P) complex128.
    """
    n = 2 * num_states
    index = torch.arange(n, dtype=torch.float64)
    scale = torch.sqrt(2 * index + 1)
    hippo = -(torch.tril(scale[:, None] * scale[None, :]) - torch.diag(index))
    low_rank = torch.sqrt(index + 0.5)
    normal = hippo + low_rank[:, None] * low_rank[None, :]
    imag, vectors = torch.linalg.eigh(normal.to(torch.complex128) * -1j)  # Hermitian
    real = torch.diagonal(normal).mean()  # -1/2
    keep = slice(0, num_states)  # ascending: the first half has one of each +-omega pair
    return torch.complex(real.expand(num_states), imag[keep]), vectors[:, keep]


def complex_mul(ar: Tensor, ai: Tensor, br: Tensor, bi: Tensor) -> tuple[Tensor, Tensor]:
    """(ar + i ai)(br + i bi) in real arithmetic."""
    return ar * br - ai * bi, ar * bi + ai * br


def s5_step(
    a_re: Tensor, a_im: Tensor, bu_re: Tensor, bu_im: Tensor, x_re: Tensor, x_im: Tensor
) -> tuple[Tensor, Tensor]:
    """x = A_bar * x + B_bar u for one frame; all (B, P) (A_bar (P,))."""
    re, im = complex_mul(a_re, a_im, x_re, x_im)
    return re + bu_re, im + bu_im


def s5_sequential(
    log_a_re: Tensor, a_angle: Tensor, bu_re: Tensor, bu_im: Tensor, x_re: Tensor, x_im: Tensor
) -> tuple[Tensor, Tensor]:
    """Reference scan. log|A_bar|, arg A_bar: (P,); bu_*: (B, T, P); x_*: (B, P).
    Returns all states (B, T, P) x2."""
    a_re, a_im = torch.exp(log_a_re) * torch.cos(a_angle), torch.exp(log_a_re) * torch.sin(a_angle)
    res, ims = [], []
    for bre, bim in zip(bu_re.unbind(1), bu_im.unbind(1)):
        x_re, x_im = s5_step(a_re, a_im, bre, bim, x_re, x_im)
        res.append(x_re)
        ims.append(x_im)
    return torch.stack(res, 1), torch.stack(ims, 1)


def s5_parallel(
    log_a_re: Tensor, a_angle: Tensor, bu_re: Tensor, bu_im: Tensor, x_re: Tensor, x_im: Tensor
) -> tuple[Tensor, Tensor]:
    """Same as :func:`s5_sequential` by a Hillis-Steele scan: after the pass with offset
    d, frame t holds sum_{j<2d} A_bar^j Bu_{t-j}; A_bar^d is exp(d * log A_bar) in closed
    form. The entering state adds A_bar^(t+1) x_0."""
    seq_len = bu_re.shape[1]
    re, im = bu_re, bu_im
    offset = 1
    while offset < seq_len:
        mag = torch.exp(offset * log_a_re)
        p_re, p_im = mag * torch.cos(offset * a_angle), mag * torch.sin(offset * a_angle)
        shifted_re = F.pad(re[:, :-offset], (0, 0, offset, 0))  # frame t - offset, 0 before 0
        shifted_im = F.pad(im[:, :-offset], (0, 0, offset, 0))
        add_re, add_im = complex_mul(p_re, p_im, shifted_re, shifted_im)
        re, im = re + add_re, im + add_im
        offset *= 2
    powers = torch.arange(1, seq_len + 1, dtype=bu_re.dtype, device=bu_re.device)[:, None]  # (T, 1)
    mag = torch.exp(powers * log_a_re)  # (T, P)
    p_re, p_im = mag * torch.cos(powers * a_angle), mag * torch.sin(powers * a_angle)
    add_re, add_im = complex_mul(p_re, p_im, x_re.unsqueeze(1), x_im.unsqueeze(1))
    return re + add_re, im + add_im


class S5SSM(nn.Module):
    """The S5 state space map u (.., H) -> y (.., H), discretised by zero-order hold."""

    def __init__(self, dim: int, num_states: int, dt_min: float, dt_max: float) -> None:
        super().__init__()
        eigenvalues, vectors = hippo_n_eigen(num_states)
        self.log_neg_real = nn.Parameter(torch.log(-eigenvalues.real).float())  # (P,)
        self.imag = nn.Parameter(eigenvalues.imag.float())  # (P,)
        # B and C in the eigenbasis (S5: B~ = V^-1 B, C~ = C V; V (2P, P) has orthonormal
        # columns), from a lecun-normal B and a normal C of the 2P-state system.
        b_init = torch.randn(2 * num_states, dim, dtype=torch.float64) / math.sqrt(dim)
        c_init = torch.randn(dim, 2 * num_states, dtype=torch.float64) / math.sqrt(2 * num_states)
        b_eig = vectors.conj().T @ b_init.to(torch.complex128)  # (P, H)
        c_eig = c_init.to(torch.complex128) @ vectors  # (H, P)
        self.B_re, self.B_im = nn.Parameter(b_eig.real.float()), nn.Parameter(b_eig.imag.float())
        self.C_re, self.C_im = nn.Parameter(c_eig.real.float()), nn.Parameter(c_eig.imag.float())
        self.D = nn.Parameter(torch.randn(dim))
        log_dt = torch.rand(num_states) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)

    def discretise(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """log|A_bar|, arg A_bar (P,) and B_bar = (A_bar - 1) / Lambda * B, (P, H) x2."""
        dt = torch.exp(self.log_dt)
        lam_re, lam_im = -torch.exp(self.log_neg_real), self.imag
        log_a_re, a_angle = lam_re * dt, lam_im * dt  # A_bar = exp(Lambda dt)
        a_re, a_im = torch.exp(log_a_re) * torch.cos(a_angle), torch.exp(log_a_re) * torch.sin(a_angle)
        denom = lam_re**2 + lam_im**2
        # (A_bar - 1) / Lambda = (A_bar - 1) * conj(Lambda) / |Lambda|^2
        coef_re, coef_im = complex_mul(a_re - 1, a_im, lam_re / denom, -lam_im / denom)  # (P,)
        b_re, b_im = complex_mul(coef_re[:, None], coef_im[:, None], self.B_re, self.B_im)
        return log_a_re, a_angle, b_re, b_im

    def readout(self, u: Tensor, x_re: Tensor, x_im: Tensor) -> Tensor:
        """y = 2 Re(C x) + D u. u (.., H), x (.., P) -> (.., H)."""
        return 2 * (F.linear(x_re, self.C_re) - F.linear(x_im, self.C_im)) + self.D * u

    def forward(self, u: Tensor, x_re: Tensor, x_im: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """u (B, T, H), state (B, P) x2 -> y (B, T, H), state after the last frame."""
        log_a_re, a_angle, b_re, b_im = self.discretise()
        bu_re, bu_im = F.linear(u, b_re), F.linear(u, b_im)  # (B, T, P)
        xs_re, xs_im = s5_parallel(log_a_re, a_angle, bu_re, bu_im, x_re, x_im)
        return self.readout(u, xs_re, xs_im), xs_re[:, -1], xs_im[:, -1]

    def step(self, u: Tensor, x_re: Tensor, x_im: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """u (B, H), state (B, P) x2 -> y (B, H), new state."""
        log_a_re, a_angle, b_re, b_im = self.discretise()
        a_re, a_im = torch.exp(log_a_re) * torch.cos(a_angle), torch.exp(log_a_re) * torch.sin(a_angle)
        x_re, x_im = s5_step(a_re, a_im, F.linear(u, b_re), F.linear(u, b_im), x_re, x_im)
        return self.readout(u, x_re, x_im), x_re, x_im


class S5Block(nn.Module):
    """h + dropout(half_glu(gelu(S5(LayerNorm(h))))). (B, T, H) -> (B, T, H)."""

    def __init__(self, config: S5Config) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(config.hidden_size)
        self.ssm = S5SSM(config.hidden_size, config.d_state, config.dt_min, config.dt_max)
        self.gate = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def _mix(self, y: Tensor) -> Tensor:
        y = F.gelu(y)
        return y * torch.sigmoid(linear(y, self.gate))

    def forward(self, h: Tensor, x_re: Tensor, x_im: Tensor):
        y, x_re, x_im = self.ssm(self.norm(h), x_re, x_im)
        return h + self.dropout(self._mix(y)), x_re, x_im

    def step(self, h: Tensor, x_re: Tensor, x_im: Tensor):
        y, x_re, x_im = self.ssm.step(layer_norm(h, self.norm), x_re, x_im)
        return h + self._mix(y), x_re, x_im


@register("s5")
class S5Backbone(Backbone):
    """input_proj (D -> H), ``num_layers`` S5 blocks, final LayerNorm ``norm_f``."""

    config_class = S5Config

    def __init__(self, config: S5Config, input_dim: int) -> None:
        super().__init__(config, input_dim)
        self.input_proj = nn.Linear(input_dim, config.hidden_size)
        self.layers = nn.ModuleList(S5Block(config) for _ in range(config.num_layers))
        self.norm_f = nn.LayerNorm(config.hidden_size)
        self._keys = [(f"x_re_{i}", f"x_im_{i}") for i in range(config.num_layers)]

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        shape = (batch_size, self.config.d_state)
        return {key: torch.zeros(shape, device=device, dtype=dtype) for pair in self._keys for key in pair}

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H), state after the last frame."""
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        h = self.input_proj(x)  # (B, T, H)
        new_state = {}
        for (re_key, im_key), layer in zip(self._keys, self.layers):
            h, new_state[re_key], new_state[im_key] = layer(h, state[re_key], state[im_key])
        return self.norm_f(h), new_state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state."""
        h = linear(x, self.input_proj)  # (B, H)
        new_state = {}
        for (re_key, im_key), layer in zip(self._keys, self.layers):
            h, new_state[re_key], new_state[im_key] = layer.step(h, state[re_key], state[im_key])
        return layer_norm(h, self.norm_f), new_state
