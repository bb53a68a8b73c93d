"""Single-frame MLP backbone: no memory, each frame is mapped on its own.

A baseline for the temporal backbones: whatever it cannot predict needs history.
``forward`` applies the same per-frame network to every frame; its state is an empty
dict (nothing is carried), so ``step`` equals ``forward`` trivially.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from .registry import Backbone, BackboneConfig, State, register


@dataclass
class MLPConfig(BackboneConfig):
    """``residual``: h + f(h) per layer; ``layer_norm``: pre-norm inside each layer."""

    name = "mlp"
    residual: bool = True
    layer_norm: bool = True


class MLPLayer(nn.Module):
    """h -> [h +] dropout(GELU(Linear(LayerNorm(h)))), (..., H) -> (..., H)."""

    def __init__(self, dim: int, residual: bool, layer_norm: bool, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim) if layer_norm else nn.Identity()
        self.linear = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.residual = residual

    def forward(self, h: Tensor) -> Tensor:
        out = self.dropout(F.gelu(self.linear(self.norm(h))))
        return h + out if self.residual else out


@register("mlp")
class MLPBackbone(Backbone):
    """input_proj (D -> H), ``num_layers`` MLP layers, final LayerNorm if enabled."""

    config_class = MLPConfig

    def __init__(self, config: MLPConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        hidden = config.hidden_size
        self.input_proj = nn.Linear(input_dim, hidden)
        self.layers = nn.ModuleList(
            MLPLayer(hidden, config.residual, config.layer_norm, config.dropout) for _ in range(config.num_layers)
        )
        self.norm_f = nn.LayerNorm(hidden) if config.layer_norm else nn.Identity()

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        """Empty: the MLP carries nothing between frames."""
        return {}

    def _frames(self, x: Tensor) -> Tensor:
        """x (..., D) -> (..., H), frame by frame."""
        h = self.input_proj(x)
        for layer in self.layers:
            h = layer(h)
        return self.norm_f(h)

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H), {}."""
        return self._frames(x), {}

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), {}."""
        return self._frames(x), {}
