"""Small building blocks shared by several backbones: norms, the feed-forward block and
the causal depthwise convolution (with its streaming state) used by the Mamba mixers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import BackboneConfigError


class ExportForms:
    """Whether steps take the forms written for onnxruntime (a fused RMS norm, MatMul
    outer products): set by :func:`onnx_export_forms` around the project's ONNX export
    (``workbench.deploy.export.export_module``). A class attribute, not
    ``torch.onnx.is_in_onnx_export()``: that costs 1.6 us per call, several times per
    eager step."""

    onnx = False


@contextmanager
def onnx_export_forms() -> Iterator[None]:
    """Within the block, steps trace in their onnxruntime forms (see :class:`ExportForms`)."""
    before, ExportForms.onnx = ExportForms.onnx, True
    try:
        yield
    finally:
        ExportForms.onnx = before


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` (a single parameter named ``weight``, like mamba-ssm's RMSNorm, so
    checkpoints with ``layers.{i}.norm.weight`` / ``norm_f.weight`` load directly) that
    exports to ONNX as one fused node (:func:`functional_rms_norm`)."""

    def forward(self, x: Tensor) -> Tensor:
        return functional_rms_norm(x, self.normalized_shape, self.weight, self.eps)


def rms_norm(x: Tensor, norm: nn.RMSNorm) -> Tensor:
    """``norm(x)`` as a functional call, for ``step``: at batch 1 a module call's own
    overhead is a third of the norm's cost."""
    return functional_rms_norm(x, norm.normalized_shape, norm.weight, norm.eps)


def functional_rms_norm(x: Tensor, shape, weight: Tensor | None, eps: float | None) -> Tensor:
    """``F.rms_norm`` over the last dim; in :func:`onnx_export_forms`, written as
    ``x / sqrt(mean(x^2) + eps) * weight``: the pattern onnxruntime fuses into one
    ``SimplifiedLayerNormalization`` node (``F.rms_norm`` exports as seven nodes, with a
    ``Reciprocal`` that onnxruntime's fusion does not match)."""
    if not ExportForms.onnx:
        return F.rms_norm(x, shape, weight, eps)
    if len(shape) != 1:
        raise ValueError(f"an exported RMS norm normalises the last dim only, got shape {tuple(shape)}")
    eps = torch.finfo(x.dtype).eps if eps is None else eps
    normed = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return normed if weight is None else normed * weight


def layer_norm(x: Tensor, norm: nn.LayerNorm) -> Tensor:
    """``norm(x)`` as a functional call, for ``step`` (see :func:`rms_norm`)."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def linear(x: Tensor, layer: nn.Linear) -> Tensor:
    """``layer(x)`` as a functional call, for ``step`` (see :func:`rms_norm`)."""
    return F.linear(x, layer.weight, layer.bias)


class GatedRMSNorm(nn.Module):
    """mamba-ssm's ``RMSNormGated`` with ``norm_before_gate=False``:
    ``rmsnorm(y * silu(z))`` per group of ``group_size`` channels, times ``weight``.

    y, z: (..., D) -> (..., D). ``group_size == D`` means one group (ngroups=1).
    """

    def __init__(self, dim: int, group_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        if dim % group_size:
            raise BackboneConfigError(f"dim {dim} is not a multiple of group_size {group_size}")
        self.weight = nn.Parameter(torch.ones(dim))
        self.group_size = group_size
        self.eps = eps

    def forward(self, y: Tensor, z: Tensor) -> Tensor:
        gated = y * F.silu(z)  # (..., D)
        if self.group_size == gated.shape[-1]:
            return functional_rms_norm(gated, (gated.shape[-1],), self.weight, self.eps)
        grouped = gated.unflatten(-1, (-1, self.group_size))  # (..., G, D/G)
        normed = functional_rms_norm(grouped, (self.group_size,), None, self.eps)
        return normed.flatten(-2) * self.weight  # (..., D)


class FeedForward(nn.Module):
    """Transformer MLP: Linear(H, ratio*H) -> GELU -> Linear(ratio*H, H) -> dropout."""

    def __init__(self, dim: int, ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        inner = int(dim * ratio)
        self.fc_in = nn.Linear(dim, inner)
        self.fc_out = nn.Linear(inner, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """x (..., H) -> (..., H)."""
        return self.dropout(self.fc_out(F.gelu(self.fc_in(x))))


def causal_conv1d(x: Tensor, conv_state: Tensor, weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """Depthwise causal convolution over time, continuing from ``conv_state``.

    x: (B, T, C) frames; conv_state: (B, C, K-1) the previous K-1 input frames (zeros at
    the start of an episode); weight: (C, 1, K) as in ``nn.Conv1d(groups=C)``.
    Returns y: (B, T, C) (before activation) and the new conv_state (B, C, K-1).
    """
    kernel = weight.shape[-1]
    padded = torch.cat([conv_state, x.transpose(1, 2)], dim=-1)  # (B, C, K-1+T)
    y = F.conv1d(padded, weight, bias, groups=weight.shape[0])  # (B, C, T)
    return y.transpose(1, 2).contiguous(), padded[:, :, padded.shape[-1] - (kernel - 1) :]


def causal_conv1d_step(x: Tensor, conv_state: Tensor, weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """One frame of :func:`causal_conv1d`: x (B, C) -> y (B, C), conv_state (B, C, K-1)."""
    window = torch.cat([conv_state, x.unsqueeze(-1)], dim=-1)  # (B, C, K)
    y = (window * weight.squeeze(1)).sum(-1)  # (B, C)
    if bias is not None:
        y = y + bias
    return y, window[:, :, 1:]
