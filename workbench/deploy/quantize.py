"""INT8 and INT4 variants of an exported fp32 step, with onnxruntime's quantization tools.

Every mode starts from the same prepared graph: ``value_info`` cleared (the new
exporter's shape annotations break the quantizers' own shape inference) and each
``Gemm`` with a constant weight rewritten as ``MatMul`` (+ ``Add`` for the bias), since
dynamic INT8 and the INT4 quantizer only handle ``MatMul``. Only matrix products with a
constant weight are quantized (not the attention's query-key products, not embeddings):

* ``int8-dynamic``: ``quantize_dynamic``, int8 weights, activations quantized per run;
* ``int8-static``: ``quantize_static`` (QDQ, uint8 activations, int8 weights, MinMax)
  calibrated on replay rollouts, states included;
* ``int4``: weight-only ``MatMulNBitsQuantizer`` (blocks of 32, symmetric), with
  ``accuracy_level=4`` (int8 activations inside the kernel: on x86 about 1.3-1.6x faster
  than fp32 compute at batch 1).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from workbench.deploy.errors import DeployError, require

MODES = ("none", "int8-dynamic", "int8-static", "int4")
INT4_BLOCK = 32
INT4_ACCURACY_LEVEL = 4


def normalise_mode(mode: str, calibration: list | None) -> str:
    """``int8`` means static when calibration replays are given, dynamic otherwise."""
    if mode == "int8":
        return "int8-static" if calibration else "int8-dynamic"
    if mode not in MODES:
        raise DeployError(f"--quantize {mode!r}: choose none, int8, int8-dynamic, int8-static or int4")
    if mode == "int8-static" and not calibration:
        raise DeployError("--quantize int8-static needs --calibration REPLAYS (files or folders)")
    return mode


def calibration_games(paths: list, config):
    from workbench.deploy.rollout import load_games

    return load_games(paths, config)


def _quantization():
    return require("onnxruntime.quantization", "onnxruntime")


def prepare(model):
    """Clear ``value_info`` and turn constant-weight ``Gemm`` into ``MatMul`` (+ ``Add``),
    in place. Returns the names of the ``MatMul`` nodes with a constant weight."""
    from onnx import helper, numpy_helper

    graph = model.graph
    del graph.value_info[:]
    inits = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (
            node.op_type != "Gemm"
            or node.input[1] not in inits
            or attrs.get("transA", 0)
            or attrs.get("alpha", 1.0) != 1.0
            or attrs.get("beta", 1.0) != 1.0
        ):
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(inits[node.input[1]])
        if attrs.get("transB", 0):
            weight = np.ascontiguousarray(weight.T)  # (in, out)
        base = node.name or node.output[0]
        name = f"{base}_w"
        graph.initializer.append(numpy_helper.from_array(weight, name))
        product = node.output[0] + ("_mm" if len(node.input) > 2 else "")
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=f"{base}_matmul"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{base}_bias"))
    del graph.node[:]
    graph.node.extend(nodes)
    _drop_unused_initializers(graph)
    inits = {init.name for init in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits]


def _drop_unused_initializers(graph) -> None:
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    keep = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


class FeedReader:
    """A ``CalibrationDataReader`` over recorded per-frame feeds."""

    def __init__(self, feeds: list[dict]):
        self.feeds = iter(feeds)

    def get_next(self) -> dict | None:
        return next(self.feeds, None)


def quantize_model(
    fp32_path: str | Path, out: str | Path, mode: str, games: list | None = None, calibration_frames: int = 600
) -> dict:
    """Write the ``mode`` variant of ``fp32_path`` to ``out``; returns what the sidecar
    records about it."""
    import onnx

    q = _quantization()
    model = onnx.load(str(fp32_path))
    weights = prepare(model)
    info: dict = {"mode": mode, "quantized_matmuls": len(weights)}
    root, level = logging.getLogger(), logging.getLogger().level
    root.setLevel(logging.ERROR)  # the quantizers log every node at INFO
    prepared = Path(str(out) + ".prepared.onnx")
    onnx.save(model, str(prepared))
    try:
        if mode == "int8-dynamic":
            q.quantize_dynamic(
                str(prepared),
                str(out),
                weight_type=q.QuantType.QInt8,
                nodes_to_quantize=weights,
                op_types_to_quantize=["MatMul"],
            )
        elif mode == "int8-static":
            from workbench.deploy.rollout import calibration_feeds

            feeds = calibration_feeds(fp32_path, games or [], calibration_frames)
            q.quantize_static(
                str(prepared),
                str(out),
                FeedReader(feeds),
                quant_format=q.QuantFormat.QDQ,
                activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=weights,
                calibrate_method=q.CalibrationMethod.MinMax,
            )
            info["calibration_frames"] = len(feeds)
        elif mode == "int4":
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            quantizer = MatMulNBitsQuantizer(
                model,
                bits=4,
                block_size=INT4_BLOCK,
                is_symmetric=True,
                accuracy_level=INT4_ACCURACY_LEVEL,
                nodes_to_include=weights,
            )
            quantizer.process()
            quantizer.model.save_model_to_file(str(out), use_external_data_format=False)
            info.update(block_size=INT4_BLOCK, accuracy_level=INT4_ACCURACY_LEVEL)
        else:
            raise DeployError(f"unknown quantization mode {mode!r}")
    finally:
        prepared.unlink(missing_ok=True)
        root.setLevel(level)
    info["nodes"] = len(onnx.load(str(out)).graph.node)
    return info
