"""``workbench export``: a checkpoint -> ``model.onnx`` + ``model.onnx.json``.

The graph is ``Policy.step`` for one frame (:class:`~workbench.deploy.graph.StepGraph`),
exported with ``torch.onnx.export(dynamo=True)`` and then checked: every input and
output has a concrete shape, and there is no loop, scan or branch in it (a streaming
step never iterates over time; ``tests/test_deploy_export.py`` also checks that the node
count does not grow with the attention window). Quantized variants are made from the
fp32 graph (see :mod:`workbench.deploy.quantize`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from workbench.deploy.errors import ExportError, require
from workbench.deploy.graph import STATE_IN, StepGraph
from workbench.deploy.native import drop_unused_outputs, native_step, translations
from workbench.deploy.sidecar import (
    Sidecar,
    component_description,
    controller_description,
    sidecar_path,
    tensor_descriptions,
    warm_start_path,
)
from workbench.models.backbones.layers import onnx_export_forms
from workbench.models.policy import Policy

# ops that would mean the step iterates over something (time, the window) inside the graph
LOOP_OPS = frozenset({"Loop", "Scan", "If", "SequenceConstruct", "SequenceInsert", "SplitToSequence"})


def import_onnx():
    return require("onnx", "onnx onnxscript onnxruntime")


def export_graph(
    policy: Policy,
    out: str | Path,
    temperature: float = 1.0,
    fused: bool = True,
    probs: bool = True,
    native: bool = True,
):
    """Export one frame of ``policy.step`` to ``out`` (fp32) and return the checked
    ``onnx.ModelProto``. ``fused=False`` exports the reference modules node for node
    (what ``benchmarks/deploy.py`` compares the fused graph against); ``probs=False``
    leaves out the distributions (a bot graph, fewer nodes; see :class:`StepGraph`);
    ``native``: a GRU/LSTM step as one ONNX ``GRU``/``LSTM`` node per layer (fused graphs
    only; ``native=False`` keeps the decomposed cell, which the quantizers need)."""
    import_onnx()  # a missing package is an install hint, not an export failure
    graph = StepGraph(policy, temperature, fused, probs, native)
    try:
        model = export_module(graph, graph.example_inputs(), out, graph.input_names, graph.output_names)
    except Exception as err:  # the exporter's errors are long; keep the first line
        raise ExportError(
            f"torch.onnx.export failed for backbone {policy.config.backbone.name}: {str(err).splitlines()[0]}"
        ) from None
    check_graph(model, graph.input_names, graph.output_names)
    return model


def export_module(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    out: str | Path,
    input_names: list[str],
    output_names: list[str] | None = None,
):
    """``torch.onnx.export(dynamo=True)`` of ``module`` at ``args`` to ``out``, the one way
    the project exports: quietly, without autograd, steps in their onnxruntime forms
    (:func:`~workbench.models.backbones.layers.onnx_export_forms`), the native GRU/LSTM
    custom ops translated (:mod:`workbench.deploy.native`) and their unread outputs left
    out. Returns the written ``onnx.ModelProto``."""
    onnx = import_onnx()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with quiet_exporter(), torch.no_grad(), onnx_export_forms():
        torch.onnx.export(
            module,
            args,
            str(out),
            dynamo=True,
            input_names=input_names,
            output_names=output_names,
            external_data=False,
            verbose=False,
            custom_translation_table=translations(),
        )
    model = onnx.load(str(out))
    if drop_unused_outputs(model):
        onnx.save(model, str(out))
    return model


class quiet_exporter:
    """Silence the exporter's progress lines and warnings (not errors)."""

    def __enter__(self):
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.root.manager.disable
        logging.disable(logging.WARNING)
        self._devnull = open(os.devnull, "w")
        self._stdout = os.dup(1)
        os.dup2(self._devnull.fileno(), 1)  # "[torch.onnx] ..." progress goes to stdout
        return self

    def __exit__(self, *exc):
        os.dup2(self._stdout, 1)
        os.close(self._stdout)
        self._devnull.close()
        logging.disable(self._level)
        self._warnings.__exit__(*exc)
        return False


def check_graph(model, input_names: list[str], output_names: list[str]) -> dict:
    """Raise :class:`ExportError` unless the graph has exactly these inputs and outputs,
    all with concrete shapes, and no loop/scan/branch ops. Returns node counts."""
    graph = model.graph
    got_in = [i.name for i in graph.input]
    got_out = [o.name for o in graph.output]
    if got_in != list(input_names) or got_out != list(output_names):
        raise ExportError(
            f"exported graph has inputs {got_in} and outputs {got_out}; "
            f"expected {list(input_names)} and {list(output_names)}"
        )
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if not dims or any(not d.HasField("dim_value") or d.dim_value <= 0 for d in dims):
            raise ExportError(
                f"graph {value.name} has a symbolic or unknown shape "
                f"{[d.dim_param or d.dim_value for d in dims]}; export with fixed shapes"
            )
        if dims[0].dim_value != 1:
            raise ExportError(f"graph {value.name} has batch size {dims[0].dim_value}, expected 1")
    ops = Counter(node.op_type for node in graph.node)
    loops = sorted(LOOP_OPS & set(ops))
    if loops:
        raise ExportError(
            f"the exported step contains {', '.join(loops)}: a single-frame step "
            "must not iterate; check the backbone's step for Python loops over time"
        )
    return {"nodes": len(graph.node), "ops": dict(ops.most_common())}


def build_sidecar(
    policy: Policy,
    model,
    model_path: str | Path,
    temperature: float = 1.0,
    checkpoint: str | Path | None = None,
    checkpoint_hash: str | None = None,
    probs: bool = True,
) -> Sidecar:
    """The sidecar of an exported step (see :mod:`workbench.deploy.sidecar`)."""
    graph = StepGraph(policy, temperature, probs=probs)
    info = check_graph(model, graph.input_names, graph.output_names)
    inputs = tensor_descriptions(model.graph.input)
    states = [dict(t, name=t["name"][len(STATE_IN) :]) for t in inputs if t["name"].startswith(STATE_IN)]
    return Sidecar(
        model=Path(model_path).name,
        embed_config=policy.embed_config.to_dict(),
        policy_config=policy.config.to_dict(),
        controller=controller_description(policy.spec),
        components=component_description(policy),
        noise_size=policy.noise_size,
        states=states,
        inputs=inputs,
        outputs=tensor_descriptions(model.graph.output),
        temperature=float(temperature),
        checkpoint=str(checkpoint) if checkpoint else None,
        checkpoint_hash=checkpoint_hash,
        graph={"nodes": info["nodes"], "opset": _opset(model)},
    )


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def export_variants(
    policy: Policy,
    paths: dict[str, str | Path],
    calibration: list | None = None,
    temperature: float = 1.0,
    checkpoint: str | Path | None = None,
    checkpoint_hash: str | None = None,
    warm_start_frames: int = 0,
    calibration_frames: int = 600,
    fused: bool = True,
    progress: bool = False,
    probs: bool = True,
    native: bool = True,
) -> dict[str, Sidecar]:
    """Export ``policy`` in fp32 and write each mode of ``paths`` (quantization mode ->
    .onnx path) from it, each with its sidecar. Returns the sidecars by mode. A GRU/LSTM
    policy's fp32 variant has the step as ONNX's own recurrent node (``native=False``: the
    decomposed cell), its quantized variants are made from a second, decomposed trace.

    ``calibration``: replay paths; static INT8 calibrates on rollouts of them, and
    ``warm_start_frames`` > 0 saves the mean state after that many frames of their
    openings (rolled out in fp32) as every variant's start state. ``fused=False``: the
    reference graph (see :func:`export_graph`); ``probs=False``: a bot graph without the
    distributions (static calibration and warm starts need only the states). Each sidecar records its own graph's
    node count (a quantized graph has more nodes than the fp32 one it came from). ``progress``: a bar over
    the stages (traces, calibration games, warm start, each variant).
    """
    from tqdm.auto import tqdm

    from workbench.deploy import quantize as q

    modes = {q.normalise_mode(mode, calibration): Path(path) for mode, path in paths.items()}
    if warm_start_frames > 0 and not calibration:
        raise ExportError("--warm-start needs --calibration REPLAYS to roll out")
    # fp32 gets the GRU/LSTM step as ONNX's own node; the quantizers rewrite MatMuls, so
    # quantized variants start from the decomposed step
    native = native and fused and "none" in modes and native_step(policy.backbone) is not None
    decomposed = not native or any(mode != "none" for mode in modes)
    sidecars = {}
    stages = native + decomposed + bool(calibration) + (warm_start_frames > 0) + len(modes)
    bar = tqdm(total=stages, desc="export", unit="stage", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="workbench-export-") as tmp, bar:
        graphs = {}  # "native" / "decomposed" -> (path, sidecar)
        for kind in [k for k, wanted in (("native", native), ("decomposed", decomposed)) if wanted]:
            bar.set_postfix_str(f"trace the step to ONNX ({kind})")
            path = Path(tmp) / f"{kind}.onnx"
            model = export_graph(policy, path, temperature, fused, probs, native=kind == "native")
            graphs[kind] = path, build_sidecar(policy, model, path, temperature, checkpoint, checkpoint_hash, probs)
            graphs[kind][1].save(sidecar_path(path))
            bar.update()
        fp32, base = graphs["decomposed" if decomposed else "native"]
        games = []
        if calibration:
            bar.set_postfix_str("embed the calibration games")
            games = q.calibration_games(calibration, policy.embed_config)
            bar.update()
        warm = None
        if warm_start_frames > 0:
            from workbench.deploy.rollout import warm_start_state

            bar.set_postfix_str("warm-start state")
            warm = warm_start_state(fp32, games, warm_start_frames)
            bar.update()
        for mode, out in modes.items():
            bar.set_postfix_str(f"write {mode}")
            out.parent.mkdir(parents=True, exist_ok=True)
            if mode == "none":
                source, written = graphs["native" if native else "decomposed"]
                sidecar = dataclasses.replace(written, model=out.name)
                shutil.copyfile(source, out)
            else:
                sidecar = dataclasses.replace(base, model=out.name)
                sidecar.quantization = q.quantize_model(fp32, out, mode, games, calibration_frames)
                sidecar.graph = {
                    **base.graph,
                    "nodes": len(import_onnx().load(str(out)).graph.node),
                    "fp32_nodes": base.graph["nodes"],
                }
            if warm is not None:
                np.savez(warm_start_path(out), **warm)
                sidecar.warm_start = warm_start_path(out).name
            sidecar.save(sidecar_path(out))
            sidecars[mode] = sidecar
            bar.update()
    return sidecars


def export_policy(
    policy: Policy, out: str | Path, quantize: str = "none", calibration: list | None = None, **options
) -> Sidecar:
    """Export ``policy`` to ``out`` (+ sidecar), quantized as asked; ``options`` as for
    :func:`export_variants`. Returns the written sidecar."""
    from workbench.deploy.quantize import normalise_mode

    mode = normalise_mode(quantize, calibration)
    return export_variants(policy, {mode: out}, calibration, **options)[mode]


def export_checkpoint(checkpoint: str | Path, out: str | Path, **options) -> Sidecar:
    """``workbench export``: load a checkpoint (or a run's best) and export it."""
    from workbench.deploy.quantize import normalise_mode
    from workbench.train.checkpoint import load_policy, weights_hash

    normalise_mode(options.get("quantize", "none"), options.get("calibration"))  # fail before loading
    policy, _, folder = load_policy(checkpoint)
    return export_policy(policy, out, checkpoint=folder, checkpoint_hash=weights_hash(folder), **options)
