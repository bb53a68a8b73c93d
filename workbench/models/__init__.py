"""Models: temporal backbones (``backbones``), and later the controller/value heads and
the policy that joins them."""
from .backbones import (
    BACKBONES,
    Backbone,
    BackboneConfig,
    UnknownBackboneError,
    backbone_config_class,
    build_backbone,
)

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneConfig",
    "UnknownBackboneError",
    "backbone_config_class",
    "build_backbone",
]
