"""The JSON beside every exported model (``model.onnx.json``): everything a runtime needs
besides the graph, so that a bot rebuilds its embedding and controller decoding from the
two files alone.

Fields: ``version``; ``model`` (the graph's file name); ``checkpoint`` and
``checkpoint_hash`` (sha256 of the source ``model.safetensors``); ``embed_config`` and
``policy_config`` (the training configs, as dicts); ``controller`` (heads in target order,
axis and trigger bucket values, k-means centres in Slippi units); ``components``
(autoregressive order, each with its heads, classes and slice of the noise vector);
``noise_size``; ``temperature``; ``states``, ``inputs`` and ``outputs`` (name, shape,
dtype); ``quantization`` (mode and options); ``warm_start`` (file name of a saved start
state, or null); ``graph`` (node count and opset of the exported graph).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from workbench.deploy.errors import DeployError
from workbench.embed import ControllerSpec, EmbedConfig
from workbench.models.policy import Policy

SIDECAR_VERSION = 1


def sidecar_path(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    return Path(str(model_path) + ".json")


def warm_start_path(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.warm.npz`` (a start state, one array per key)."""
    return Path(str(model_path) + ".warm.npz")


@dataclass
class Sidecar:
    """The model's description; see the module docstring for each field."""

    model: str
    embed_config: dict
    policy_config: dict
    controller: dict
    components: list[dict]
    noise_size: int
    states: list[dict]
    inputs: list[dict]
    outputs: list[dict]
    temperature: float = 1.0
    checkpoint: str | None = None
    checkpoint_hash: str | None = None
    quantization: dict = field(default_factory=lambda: {"mode": "none"})
    warm_start: str | None = None
    graph: dict = field(default_factory=dict)
    version: int = SIDECAR_VERSION

    # -- derived -------------------------------------------------------------------------
    def embed(self) -> EmbedConfig:
        return EmbedConfig.from_dict(self.embed_config)

    def spec(self) -> ControllerSpec:
        return ControllerSpec(self.embed().controller)

    @property
    def state_keys(self) -> list[str]:
        return [s["name"] for s in self.states]

    def zero_state(self) -> dict[str, np.ndarray]:
        """The state a game starts from without a warm start: zeros (False for masks)."""
        return {s["name"]: np.zeros(s["shape"], dtype=s["dtype"]) for s in self.states}

    # -- files ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "Sidecar":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise DeployError(
                f"no sidecar {path}: export the model with `workbench export`, which writes it beside the .onnx file"
            ) from None
        except (OSError, json.JSONDecodeError) as err:
            raise DeployError(f"unreadable sidecar {path} ({err})") from None
        if data.get("version", 0) > SIDECAR_VERSION:
            raise DeployError(
                f"{path}: sidecar version {data['version']} is newer than this "
                f"workbench reads ({SIDECAR_VERSION}); upgrade the workbench"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


def controller_description(spec: ControllerSpec) -> dict:
    """How targets decode to controller values, in plain JSON."""
    out = {
        "stick_mode": spec.config.stick_mode,
        "heads": [{"name": h.name, "classes": h.classes, "kind": h.kind} for h in spec.heads],
        "columns": ["main_x", "main_y", "c_x", "c_y", "trigger", "A", "B", "X", "Y", "Z", "L", "R", "D_UP"],
        "axis_values": spec.axis_values.tolist(),
        "trigger_values": spec.trigger_values.tolist(),
    }
    if spec.kmeans:  # Slippi units, as the decoder uses them
        out["main_centers"] = spec.main_centers.tolist()
        out["c_centers"] = spec.c_centers.tolist()
    return out


def component_description(policy: Policy) -> list[dict]:
    """Components in autoregressive order, each with its slice of the noise vector."""
    out, offset = [], 0
    for comp in policy.head.components:
        width = len(comp.heads) if comp.binary else comp.classes
        out.append(
            {
                "name": comp.name,
                "heads": list(comp.heads),
                "classes": comp.classes,
                "binary": comp.binary,
                "noise_offset": offset,
                "noise_width": width,
            }
        )
        offset += width
    return out


def tensor_descriptions(values) -> list[dict]:
    """ONNX graph inputs/outputs (``ValueInfoProto``) -> [{name, shape, dtype}] with numpy
    dtype names; a symbolic dim is kept as its name (the export checks refuse it)."""
    from onnx import helper

    out = []
    for value in values:
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
        out.append({"name": value.name, "shape": dims, "dtype": dtype})
    return out
