"""GRU backbone: multi-layer ``nn.GRU``; state ``h_{i}`` (B, H) per layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .recurrent import RecurrentBackbone
from .registry import BackboneConfig, register


@dataclass
class GRUConfig(BackboneConfig):
    """Stacked GRU; ``dropout`` is applied between layers during training."""

    name = "gru"


@register("gru")
class GRUBackbone(RecurrentBackbone):
    """(B, T, D) -> (B, T, H), the top layer's hidden state at every frame."""

    config_class = GRUConfig
    rnn_class = nn.GRU
    state_names = ("h",)

    def _cell(self, x: Tensor, carried: tuple[Tensor, ...], weights: list[Tensor]):
        """x (B, D_in), (h,) with h (B, H) -> (h,)."""
        return (torch.gru_cell(x, carried[0], *weights),)
