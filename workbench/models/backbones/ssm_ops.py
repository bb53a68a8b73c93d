"""State-space scans in plain PyTorch, each fast path beside its sequential reference.

Mamba-1 (selective scan, diagonal A per channel and state):
    h_t = exp(delta_t * A) * h_{t-1} + delta_t * u_t * B_t        h: (B, Di, N)
    y_t = h_t . C_t + D * u_t
``selective_scan_sequential`` is the reference (one ``selective_scan_step`` per frame);
``selective_scan_chunked`` runs the same recurrence inside chunks of L frames for all
chunks at once and carries the state across chunks: 2L + T/L Python iterations instead
of T, and only products of decays <= 1, so it is as stable as the reference.

Mamba-2 (SSD, scalar A per head):
    h_t = exp(dt_t * A) * h_{t-1} + dt_t * x_t (outer) B_t        h: (B, H, P, N)
    y_t = h_t . C_t + D * x_t
``ssd_sequential`` is the reference; ``ssd_chunked`` is the chunked SSD algorithm of the
Mamba-2 paper (quadratic attention-like form inside chunks, recurrence across chunks).

When CUDA and mamba-ssm are importable, ``MAMBA_KERNELS`` holds its fused kernels
(``selective_scan_fn``, ``causal_conv1d_fn``); otherwise it is None and the pure
PyTorch paths here are used.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor

from .layers import ExportForms

try:  # optional, GPU only: pip install mamba-ssm causal-conv1d (the `mamba` extra)
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    from causal_conv1d import causal_conv1d_fn

    MAMBA_KERNELS: SimpleNamespace | None = SimpleNamespace(
        selective_scan_fn=selective_scan_fn, causal_conv1d_fn=causal_conv1d_fn
    )
except ImportError:  # fallback: the pure PyTorch scans below
    MAMBA_KERNELS = None


def kernels_available() -> bool:
    """True when mamba-ssm's CUDA kernels can be used (package importable and a GPU)."""
    return MAMBA_KERNELS is not None and torch.cuda.is_available()


def auto_chunk(seq_len: int, chunk: int) -> int:
    """``chunk`` if positive, else about 2 sqrt(T): few Python iterations (2L + T/L)
    while each frame's (B, T/L, Di, N) temporaries stay small enough for the allocator to
    reuse (measured on CPU at B=64, T=64: L=16 trains 4x faster than L=4)."""
    return chunk if chunk > 0 else max(1, round(2 * math.sqrt(seq_len)))


# ---------------------------------------------------------------- Mamba-1 selective scan


def outer(a: Tensor, b: Tensor) -> Tensor:
    """a (..., P), b (..., N) -> (..., P, N), a[..., p] * b[..., n] (leading dims broadcast).
    In its onnxruntime form (:class:`~.layers.ExportForms`), a MatMul of (P, 1) by (1, N): onnxruntime's broadcasting Mul
    of the same shapes takes 2.6x longer (measured 24 vs 9 us at (8, 64, 64))."""
    if ExportForms.onnx:
        return torch.matmul(a.unsqueeze(-1), b.unsqueeze(-2))
    return a.unsqueeze(-1) * b.unsqueeze(-2)


def selective_scan_step(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, h: Tensor
) -> tuple[Tensor, Tensor]:
    """One frame. u, delta: (B, Di); A: (Di, N); B, C: (B, N); D: (Di); h: (B, Di, N).

    ``delta`` is already positive (softplus applied). Returns y (B, Di) and h (B, Di, N).
    """
    decay = torch.exp(delta.unsqueeze(-1) * A)  # (B, Di, N)
    h = torch.addcmul(outer(delta * u, B), decay, h)  # (B, Di, N)
    y = torch.matmul(h, C.unsqueeze(-1)).squeeze(-1)  # (B, Di)
    return torch.addcmul(y, D, u), h


def selective_scan_sequential(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, h0: Tensor
) -> tuple[Tensor, Tensor]:
    """Reference scan, one frame at a time.

    u, delta: (B, T, Di); A: (Di, N); B, C: (B, T, N); D: (Di); h0: (B, Di, N).
    Returns y (B, T, Di) and the last state (B, Di, N).
    """
    h, ys = h0, []
    # unbind, not x[:, t]: the backward of indexing builds a full-size zero tensor per frame.
    for u_t, delta_t, B_t, C_t in zip(u.unbind(1), delta.unbind(1), B.unbind(1), C.unbind(1)):
        y, h = selective_scan_step(u_t, delta_t, A, B_t, C_t, D, h)
        ys.append(y)
    return torch.stack(ys, dim=1), h


def _to_chunks(x: Tensor, chunk: int) -> Tensor:
    """(B, T, ...) zero-padded to (L, B, n_chunks, ...) with frames of a chunk leading."""
    pad = (-x.shape[1]) % chunk
    if pad:
        x = F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad))
    x = x.unflatten(1, (-1, chunk))  # (B, n_chunks, L, ...)
    return x.movedim(2, 0).contiguous()  # (L, B, n_chunks, ...)


def selective_scan_chunked(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor,
    h0: Tensor,
    chunk: int = 0,
) -> tuple[Tensor, Tensor]:
    """Chunked scan, same arguments and results as :func:`selective_scan_sequential`.

    Three passes, each vectorised over all n_chunks = T/L chunks:
    1. run the recurrence inside every chunk from a zero state to get its end state;
    2. carry the state across chunks (T/L small steps) with each chunk's total decay
       exp(A * sum(delta)), giving the state entering every chunk;
    3. run the recurrence inside every chunk again from its entering state, reading y out.
    Padded frames have delta = 0 (decay 1, no input), so the final state is unaffected.
    """
    batch, seq_len, d_inner = u.shape
    chunk = auto_chunk(seq_len, chunk)
    # Small per-frame inputs, chunked and unbound frame by frame: (B, nc, Di) or (B, nc, N).
    # The (B, nc, Di, N) decay and drive are built per frame, never as one (B, T, Di, N)
    # tensor: big temporaries and their copies cost more than the ops on CPU.
    delta_l, du_l, B_l, C_l = (_to_chunks(t, chunk).unbind(0) for t in (delta, delta * u, B, C))
    decays = [torch.exp(delta_f.unsqueeze(-1) * A) for delta_f in delta_l]  # (B, nc, Di, N) each
    drives = [du_f.unsqueeze(-1) * B_f.unsqueeze(-2) for du_f, B_f in zip(du_l, B_l)]
    single_chunk = delta_l[0].shape[1] == 1
    if single_chunk:  # L >= T: h0 is the entering state, no carry needed
        h_chunk = h0.unsqueeze(1)  # (B, 1, Di, N)
    else:
        h_end = torch.zeros_like(drives[0])  # (B, nc, Di, N)
        for decay, drive in zip(decays, drives):  # 1. chunk end states from zero
            h_end = torch.addcmul(drive, decay, h_end)
        chunk_decay = torch.exp(sum(delta_l).unsqueeze(-1) * A)  # (B, nc, Di, N)
        h, entering = h0, []
        for h_end_c, decay_c in zip(h_end.unbind(1), chunk_decay.unbind(1)):  # 2. carry
            entering.append(h)
            h = torch.addcmul(h_end_c, decay_c, h)
        h_chunk = torch.stack(entering, dim=1)  # (B, nc, Di, N)
    ys = []
    for decay, drive, C_f in zip(decays, drives, C_l):  # 3. again from the true states, read out
        h_chunk = torch.addcmul(drive, decay, h_chunk)
        ys.append(torch.matmul(h_chunk, C_f.unsqueeze(-1)).squeeze(-1))  # (B, nc, Di)
    if single_chunk:
        h = h_chunk.squeeze(1)
    y = torch.stack(ys, dim=2).reshape(batch, -1, d_inner)[:, :seq_len]  # (B, T, Di)
    return torch.addcmul(y, D, u), h


def entering_state_contribution(delta: Tensor, A: Tensor, C: Tensor, h0: Tensor) -> tuple[Tensor, Tensor]:
    """What a non-zero entering state h0 adds to a scan that started from zero.

    The recurrence is linear in h0: y_t gains C_t . (exp(A * sum_{s<=t} delta_s) * h0)
    and the last state gains exp(A * sum(delta)) * h0. mamba-ssm's ``selective_scan_fn``
    takes no initial state, so this lets its kernel continue a carried state.
    delta: (B, T, Di) (softplus applied); A: (Di, N); C: (B, T, N); h0: (B, Di, N).
    Returns y_extra (B, T, Di) and h_extra (B, Di, N).
    """
    decay = torch.exp(torch.cumsum(delta, dim=1).unsqueeze(-1) * A)  # (B, T, Di, N)
    y_extra = torch.matmul(decay * h0.unsqueeze(1), C.unsqueeze(-1)).squeeze(-1)  # (B, T, Di)
    return y_extra, decay[:, -1] * h0


# ---------------------------------------------------------------- Mamba-2 SSD


def ssd_step(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """One frame. x: (B, H, P); dt: (B, H) (softplus applied); A, D: (H);
    B, C: (B, H, N) (groups already broadcast to heads); h: (B, H, P, N)."""
    decay = torch.exp(dt * A)  # (B, H)
    drive = outer(dt.unsqueeze(-1) * x, B)  # (B, H, P, N)
    h = torch.addcmul(drive, decay[..., None, None], h)  # (B, H, P, N)
    if ExportForms.onnx:  # onnxruntime: one MatMul pass over h, not Mul + ReduceSum
        y = torch.matmul(h, C.unsqueeze(-1)).squeeze(-1)  # (B, H, P)
    else:
        # vecdot, not matmul: a (B, H, P, N) @ (B, H, N, 1) batched matmul of 64x64 blocks
        # costs 3x more at batch 1 in PyTorch on CPU (measured 22 vs 7 us at H=8, P=N=64).
        y = torch.linalg.vecdot(h, C.unsqueeze(-2))  # (B, H, P)
    return torch.addcmul(y, D.unsqueeze(-1), x), h


def ssd_sequential(
    x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, h0: Tensor
) -> tuple[Tensor, Tensor]:
    """Reference SSD recurrence. x: (B, T, H, P); dt: (B, T, H); A, D: (H);
    B, C: (B, T, H, N); h0: (B, H, P, N). Returns y (B, T, H, P), last state."""
    h, ys = h0, []
    for x_t, dt_t, B_t, C_t in zip(x.unbind(1), dt.unbind(1), B.unbind(1), C.unbind(1)):
        y, h = ssd_step(x_t, dt_t, A, B_t, C_t, D, h)
        ys.append(y)
    return torch.stack(ys, dim=1), h


def segment_sum(a: Tensor) -> Tensor:
    """a: (..., L) -> (..., L, L) with out[i, j] = a[j+1] + ... + a[i] for j <= i, -inf above.

    Built as a masked cumulative sum (not a difference of cumsums) to avoid cancellation.
    """
    length = a.shape[-1]
    strictly_lower = torch.ones(length, length, dtype=torch.bool, device=a.device).tril(-1)
    sums = torch.cumsum(a.unsqueeze(-1).expand(*a.shape, length).masked_fill(~strictly_lower, 0), -2)
    lower = torch.ones(length, length, dtype=torch.bool, device=a.device).tril()
    return sums.masked_fill(~lower, -torch.inf)


def ssd_chunked(
    x: Tensor,
    dt: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor,
    h0: Tensor,
    chunk: int = 16,
) -> tuple[Tensor, Tensor]:
    """Chunked SSD, same arguments and results as :func:`ssd_sequential`.

    Per chunk of L frames: an L x L decay-masked "attention" C_l.B_s inside the chunk,
    chunk-end states, a (nc+1) x (nc+1) decay matrix that passes states between chunks,
    and the entering state read out through C. Padded frames have dt = 0.
    """
    batch, seq_len, heads, head_dim = x.shape
    pad = (-seq_len) % chunk

    def chunks(t: Tensor) -> Tensor:  # (B, T, ...) -> (B, nc, L, ...)
        return F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)).unflatten(1, (-1, chunk))

    xdt = chunks(x * dt.unsqueeze(-1))  # (B, nc, L, H, P)
    B_c, C_c = chunks(B), chunks(C)  # (B, nc, L, H, N)
    a = chunks(dt * A).permute(0, 3, 1, 2)  # (B, H, nc, L) log-decay per frame
    a_cum = torch.cumsum(a, dim=-1)  # (B, H, nc, L)

    # 1. Inside each chunk: y_l += sum_{s<=l} (C_l . B_s) exp(a_{s+1}+..+a_l) xdt_s
    decay_in = torch.exp(segment_sum(a))  # (B, H, nc, L, L)
    scores = torch.einsum("bclhn,bcshn->bhcls", C_c, B_c) * decay_in
    y_diag = torch.einsum("bhcls,bcshp->bclhp", scores, xdt)
    # 2. State at the end of each chunk from its own frames only.
    decay_to_end = torch.exp(a_cum[..., -1:] - a_cum)  # (B, H, nc, L)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B_c, decay_to_end, xdt)
    # 3. Pass states across chunks (with the entering state h0 as chunk "-1").
    states = torch.cat([h0.unsqueeze(1), states], dim=1)  # (B, nc+1, H, P, N)
    decay_chunks = torch.exp(segment_sum(F.pad(a_cum[..., -1], (1, 0))))  # (B, H, nc+1, nc+1)
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunks, states)
    entering, final = states[:, :-1], states[:, -1]  # (B, nc, H, P, N), (B, H, P, N)
    # 4. Read the entering state out through C, decayed to each frame.
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C_c, entering, torch.exp(a_cum))
    y = (y_diag + y_off).flatten(1, 2)[:, :seq_len]  # (B, T, H, P)
    return y + x * D.unsqueeze(-1), final
