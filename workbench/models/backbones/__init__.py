"""Temporal backbones, registered by name: (B, T, D) frames -> (B, T, H) features.

Every backbone has ``forward(x, state=None) -> (y, state)``, ``step(x, state) -> (y, state)``
and ``initial_state(batch_size)``; state is a flat dict of fixed-shape, batch-first
tensors (see ``registry`` for the contract). Build one with
``build_backbone("mamba", input_dim, hidden_size=256)``.
"""

from .registry import (
    BACKBONES,
    Backbone,
    BackboneConfig,
    BackboneConfigError,
    InputColumns,
    State,
    UnknownBackboneError,
    VARIANTS,
    backbone_config_class,
    build_backbone,
    config_from_dict,
    register,
    variant_backbone,
)

# Importing the modules registers them, in the order the registry lists them.
from . import attention, dt, gla, gru, jamba, lstm, mamba, mamba2, mlp, rwkv7, s5, zamba  # noqa: E402,F401  (isort: skip)

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "BackboneConfigError",
    "InputColumns",
    "State",
    "UnknownBackboneError",
    "VARIANTS",
    "backbone_config_class",
    "build_backbone",
    "config_from_dict",
    "register",
    "variant_backbone",
]
