"""LSTM backbone: multi-layer ``nn.LSTM``; state ``h_{i}``, ``c_{i}`` (B, H) per layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .recurrent import RecurrentBackbone
from .registry import BackboneConfig, register


@dataclass
class LSTMConfig(BackboneConfig):
    """Stacked LSTM; ``dropout`` is applied between layers during training."""

    name = "lstm"


@register("lstm")
class LSTMBackbone(RecurrentBackbone):
    """(B, T, D) -> (B, T, H), the top layer's hidden state at every frame."""

    config_class = LSTMConfig
    rnn_class = nn.LSTM
    state_names = ("h", "c")

    def _cell(self, x: Tensor, carried: tuple[Tensor, ...], weights: list[Tensor]):
        """x (B, D_in), (h, c) each (B, H) -> (h, c)."""
        return torch.lstm_cell(x, carried, *weights)
