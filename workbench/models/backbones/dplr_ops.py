"""Linear-attention recurrences with a diagonal-plus-low-rank (DPLR) transition, in
plain PyTorch: the fast (chunked) path beside its sequential reference.

Per head, with a key-by-value state S (K, V):

    S_t = diag(w_t) S_{t-1} + b_t (a_t^T S_{t-1}) + k_t v_t^T        w_t = exp(log_w_t)
    o_t = S_t^T q_t

* Gated linear attention (GLA) is the case a = b = 0: a data-dependent vector decay.
* RWKV-7's generalised delta rule is a = -kk, b = kk * lr (kk the normalised key, lr the
  in-context learning rate): the state "forgets" part of what it stored along kk before
  writing k v^T. (This is flash-linear-attention's ``dplr_delta_rule`` convention with
  gk = log_w; RWKV-7's own (V, K) state is the transpose.)

``dplr_sequential`` is the reference (one ``dplr_step`` per frame). ``dplr_chunked``
splits time into chunks of L frames; inside a chunk everything that does not depend on
the entering state is computed for all chunks at once, and only a (K, V) state crosses
chunk boundaries (T/L small steps):

    u_t = a_t^T S_{t-1}  (the low-rank "pseudo-value")
        = (a_t * G_{t-1}) S_0 + sum_{s<t} [a_t G_{t-1}/G_s . k_s] v_s + [a_t G_{t-1}/G_s . b_s] u_s

is a unit lower-triangular system in u (inverted once per chunk by a product series), and o and the chunk-end
state follow from u, v and S_0 (G_t the cumulative decay inside the chunk). Only decay
ratios G_t/G_s <= 1 are ever formed (log-space differences, masked before ``exp``), so
the chunked form is as stable as the recurrence.

When CUDA and flash-linear-attention (``fla``) are importable, ``FLA_KERNELS`` holds its
Triton kernels (``chunk_gla``, ``chunk_rwkv7``); otherwise it is None and the pure paths
here are used. ``fla_available()`` says whether a tensor's device can use them.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import Tensor

try:  # optional, GPU only: pip install flash-linear-attention (the `fla` extra)
    from fla.ops.gla import chunk_gla
    from fla.ops.rwkv7 import chunk_rwkv7

    FLA_KERNELS: SimpleNamespace | None = SimpleNamespace(chunk_gla=chunk_gla, chunk_rwkv7=chunk_rwkv7)
except ImportError:  # fallback: dplr_chunked below
    FLA_KERNELS = None


def fla_available(x: Tensor | None = None) -> bool:
    """True when fla's kernels can run (package importable, CUDA, ``x`` on CUDA if given)."""
    if FLA_KERNELS is None or not torch.cuda.is_available():
        return False
    return x is None or x.is_cuda


def dplr_step(
    q: Tensor, k: Tensor, v: Tensor, log_w: Tensor, a: Tensor | None, b: Tensor | None, S: Tensor
) -> tuple[Tensor, Tensor]:
    """One frame. q, k, log_w, a, b: (B, h, K); v: (B, h, V); S: (B, h, K, V).

    Returns o (B, h, V) and the new state. ``a = b = None`` is gated linear attention.
    """
    S_new = torch.exp(log_w).unsqueeze(-1) * S + k.unsqueeze(-1) * v.unsqueeze(-2)  # (B, h, K, V)
    if a is not None:
        u = torch.matmul(a.unsqueeze(-2), S)  # (B, h, 1, V): a^T S_{t-1}
        S_new = S_new + b.unsqueeze(-1) * u
    o = torch.matmul(q.unsqueeze(-2), S_new).squeeze(-2)  # (B, h, V)
    return o, S_new


def dplr_sequential(
    q: Tensor, k: Tensor, v: Tensor, log_w: Tensor, a: Tensor | None, b: Tensor | None, S0: Tensor
) -> tuple[Tensor, Tensor]:
    """Reference recurrence. q, k, log_w, a, b: (B, T, h, K); v: (B, T, h, V);
    S0: (B, h, K, V). Returns o (B, T, h, V) and the last state."""
    S, outs = S0, []
    low_rank = a is not None
    frames = zip(*(t.unbind(1) for t in (q, k, v, log_w, *((a, b) if low_rank else ()))))
    for q_t, k_t, v_t, lw_t, *ab in frames:
        o, S = dplr_step(q_t, k_t, v_t, lw_t, *(ab if low_rank else (None, None)), S)
        outs.append(o)
    return torch.stack(outs, dim=1), S


def _pair_decay(g_query: Tensor, g_key: Tensor, strict: bool) -> Tensor:
    """exp(g_query[t] - g_key[s]) for s <= t (s < t if ``strict``), 0 elsewhere.

    g_*: (..., L, K) -> (..., L, L, K). Masked in log space first, so no ratio > 1 is
    ever exponentiated."""
    length = g_query.shape[-2]
    mask = torch.ones(length, length, dtype=torch.bool, device=g_query.device).tril(-1 if strict else 0)
    diff = g_query.unsqueeze(-2) - g_key.unsqueeze(-3)  # (..., L, L, K)
    return torch.exp(diff.masked_fill(~mask.unsqueeze(-1), -torch.inf))


def _scores(x: Tensor, decay: Tensor, y: Tensor) -> Tensor:
    """sum_k x[t, k] decay[t, s, k] y[s, k]: (..., L, K) x2 -> (..., L, L)."""
    return (x.unsqueeze(-2) * decay * y.unsqueeze(-3)).sum(-1)


def unit_lower_inverse(strict: Tensor) -> Tensor:
    """(I - A)^-1 for strictly lower-triangular A (..., L, L), by A^L = 0:
    (I - A)^-1 = (I + A)(I + A^2)(I + A^4)..., log2(L) matrix products. Plain matmuls
    (not ``linalg.solve_triangular``) so that the chunked form also exports to ONNX."""
    power, inverse = strict, strict + torch.eye(strict.shape[-1], dtype=strict.dtype, device=strict.device)
    covered = 1  # inverse holds I + A + ... + A^covered
    while covered < strict.shape[-1] - 1:
        power = torch.matmul(power, power)
        inverse = inverse + torch.matmul(inverse, power)
        covered = 2 * covered + 1
    return inverse


def dplr_chunked(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    log_w: Tensor,
    a: Tensor | None,
    b: Tensor | None,
    S0: Tensor,
    chunk: int = 16,
) -> tuple[Tensor, Tensor]:
    """Chunked form, same arguments and results as :func:`dplr_sequential`.

    Padded frames have log_w = 0 and zero q, k, v, a, b: decay 1, nothing written, so the
    final state is unaffected."""
    batch, seq_len, heads, _ = q.shape
    pad = (-seq_len) % chunk
    low_rank = a is not None

    def chunks(t: Tensor) -> Tensor:  # (B, T, h, D) -> (B, h, nc, L, D)
        return F.pad(t, (0, 0, 0, 0, 0, pad)).unflatten(1, (-1, chunk)).permute(0, 3, 1, 2, 4)

    q, k, v, log_w = chunks(q), chunks(k), chunks(v), chunks(log_w)
    g = torch.cumsum(log_w, dim=-2)  # (B, h, nc, L, K) log G_t, inclusive
    g_last = g[..., -1:, :]  # (B, h, nc, 1, K) the whole chunk's decay
    decay_incl = _pair_decay(g, g, strict=False)  # (B, h, nc, L, L, K): G_t / G_s, s <= t
    intra = torch.matmul(_scores(q, decay_incl, k), v)  # (B, h, nc, L, V)
    q_in = q * torch.exp(g)  # reads the entering state, decayed to frame t
    k_out = k * torch.exp(g_last - g)  # what frame s leaves in the chunk-end state
    if low_rank:
        a, b = chunks(a), chunks(b)
        g_prev = g - log_w  # log G_{t-1}: u_t reads the state *before* frame t
        decay_excl = _pair_decay(g_prev, g, strict=True)  # G_{t-1} / G_s, s < t
        inverse = unit_lower_inverse(_scores(a, decay_excl, b))  # (B, h, nc, L, L)
        u_from_v = torch.matmul(inverse, torch.matmul(_scores(a, decay_excl, k), v))  # (B, h, nc, L, V)
        u_from_state = torch.matmul(inverse, a * torch.exp(g_prev))  # (B, h, nc, L, K)
        scores_qb = _scores(q, decay_incl, b)  # (B, h, nc, L, L)
        b_out = b * torch.exp(g_last - g)
    S, outs = S0, []
    for c in range(q.shape[2]):  # carry the state across chunks
        o = intra[:, :, c] + torch.matmul(q_in[:, :, c], S)  # (B, h, L, V)
        S_next = torch.exp(g_last[:, :, c]).transpose(-1, -2) * S + torch.matmul(
            k_out[:, :, c].transpose(-1, -2), v[:, :, c]
        )  # (B, h, K, V)
        if low_rank:
            u = u_from_v[:, :, c] + torch.matmul(u_from_state[:, :, c], S)  # (B, h, L, V)
            o = o + torch.matmul(scores_qb[:, :, c], u)
            S_next = S_next + torch.matmul(b_out[:, :, c].transpose(-1, -2), u)
        outs.append(o)
        S = S_next
    o = torch.stack(outs, dim=2)  # (B, h, nc, L, V)
    o = o.permute(0, 2, 3, 1, 4).flatten(1, 2)[:, :seq_len]  # (B, T, h, V)
    return o, S
