"""Backbones (one per file, registered by name), controller and value heads, the policy."""

from workbench.models.backbones import BACKBONES, build_backbone
from workbench.models.heads import AutoregressiveHead, ControllerDecoder, ValueHead, components_of
from workbench.models.policy import Policy, PolicyConfig, PolicyOutput

__all__ = [
    "BACKBONES",
    "build_backbone",
    "AutoregressiveHead",
    "ControllerDecoder",
    "ValueHead",
    "components_of",
    "Policy",
    "PolicyConfig",
    "PolicyOutput",
]
