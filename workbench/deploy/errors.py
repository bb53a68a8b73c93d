"""Typed errors of the deployment stage (the CLI prints each in one line)."""

from __future__ import annotations

import importlib
from types import ModuleType

from workbench.errors import WorkbenchError


class DeployError(WorkbenchError):
    """A model, sidecar, replay or path a user gave that deployment cannot use."""


class ExportError(DeployError):
    """The exported graph is not the static, single-frame graph a bot needs."""


class MissingDependencyError(DeployError):
    """onnx/onnxruntime (or libmelee for play) is not installed."""


def require(module: str, install: str) -> ModuleType:
    """Import an optional package when a function first needs it, or raise a one-line
    :class:`MissingDependencyError` saying ``pip install <install>``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        name = module.split(".")[0]
        raise MissingDependencyError(f"{name} is not installed: pip install {install}") from None
