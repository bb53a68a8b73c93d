"""Typed errors of the deployment stage (the CLI prints each in one line)."""
from __future__ import annotations

from workbench.errors import WorkbenchError


class DeployError(WorkbenchError):
    """A model, sidecar, replay or path a user gave that deployment cannot use."""


class ExportError(DeployError):
    """The exported graph is not the static, single-frame graph a bot needs."""


class MissingDependencyError(DeployError):
    """onnx/onnxruntime (or libmelee for play) is not installed."""
