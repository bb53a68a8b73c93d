"""Deployment: export a policy's single-frame step to ONNX (fp32, INT8, INT4), run it
with onnxruntime on one thread, and play Melee through libmelee.

Importing ``workbench.deploy`` does not import onnx or onnxruntime; the functions that
need them import them, with a one-line error when they are missing.
"""

from workbench.deploy.agent import Agent, controller_state
from workbench.deploy.controller import ControllerAdapter, LibmeleeController, RecordingController
from workbench.deploy.errors import DeployError, ExportError, MissingDependencyError
from workbench.deploy.export import check_graph, export_checkpoint, export_graph, export_policy, export_variants
from workbench.deploy.graph import StepGraph
from workbench.deploy.latency import bench_latency, replay_states
from workbench.deploy.play import PlayOptions, play, play_loop
from workbench.deploy.runtime import BoundStep, OnnxPolicy
from workbench.deploy.sidecar import Sidecar, sidecar_path, warm_start_path

__all__ = [
    "Agent",
    "controller_state",
    "ControllerAdapter",
    "LibmeleeController",
    "RecordingController",
    "DeployError",
    "ExportError",
    "MissingDependencyError",
    "check_graph",
    "export_checkpoint",
    "export_graph",
    "export_policy",
    "export_variants",
    "StepGraph",
    "bench_latency",
    "replay_states",
    "PlayOptions",
    "play",
    "play_loop",
    "BoundStep",
    "OnnxPolicy",
    "Sidecar",
    "sidecar_path",
    "warm_start_path",
]
