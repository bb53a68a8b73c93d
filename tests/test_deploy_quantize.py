"""INT8 (dynamic, static) and INT4 variants of an exported step: the preparation keeps
the function, each mode quantizes the weight products and keeps the interface, and the
drift from fp32 over a real rollout is measured (bounded loosely, not asserted zero)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
import torch

from conftest import bundled
from workbench.deploy import DeployError, OnnxPolicy, export_policy
from workbench.deploy.quantize import normalise_mode, prepare
from workbench.deploy.rollout import calibration_feeds, compare, load_games, rollout_onnx
from workbench.embed import EmbedConfig
from workbench.models import Policy
from workbench.models.policy import PolicyConfig

pytest.importorskip("onnxruntime")

REPLAY = bundled("games/Walnut356-falcon_throws.slp")
HELD_OUT = bundled("clips/PMcca-item-export.slp")


def policy_for(name: str, **extra) -> Policy:
    torch.manual_seed(0)
    backbone = {"name": name, "hidden_size": 32, "num_layers": 2, **extra}
    return Policy(EmbedConfig(), PolicyConfig(backbone=backbone, head_hidden=32)).eval()


@pytest.fixture(scope="module")
def fp32(tmp_path_factory):
    path = tmp_path_factory.mktemp("fp32") / "gru.onnx"
    export_policy(policy_for("gru"), path)
    return path


@pytest.fixture(scope="module")
def held_out():
    return load_games([HELD_OUT], EmbedConfig(), (0,))[0]


def test_modes_and_their_errors():
    assert normalise_mode("int8", None) == "int8-dynamic"
    assert normalise_mode("int8", ["r.slp"]) == "int8-static"
    assert normalise_mode("int4", None) == "int4"
    with pytest.raises(DeployError, match="needs --calibration"):
        normalise_mode("int8-static", None)
    with pytest.raises(DeployError, match="choose none"):
        normalise_mode("int3", None)


def test_prepare_turns_gemm_into_matmul_and_keeps_the_function(fp32, held_out, tmp_path):
    import onnxruntime as ort

    model = onnx.load(str(fp32))
    assert any(n.op_type == "Gemm" for n in model.graph.node)
    weights = prepare(model)
    assert not any(n.op_type == "Gemm" for n in model.graph.node) and len(model.graph.value_info) == 0
    assert len(weights) == Counter(n.op_type for n in onnx.load(str(fp32)).graph.node)["Gemm"]
    onnx.save(model, str(tmp_path / "prepared.onnx"))
    before, after = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (fp32, tmp_path / "prepared.onnx")
    )
    policy = OnnxPolicy(fp32)
    feeds = rollout_onnx(policy, held_out, 30, keep_feeds=True).feeds
    for feed in feeds[::10]:
        for a, b in zip(before.run(None, feed), after.run(None, feed)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "mode, marker", [("int8-dynamic", "MatMulInteger"), ("int8-static", "QuantizeLinear"), ("int4", "MatMulNBits")]
)
def test_each_mode_quantizes_and_keeps_the_interface(mode, marker, fp32, held_out, tmp_path):
    path = tmp_path / f"{mode}.onnx"
    sidecar = export_policy(policy_for("gru"), path, quantize=mode, calibration=[REPLAY], calibration_frames=200)
    ops = Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops[marker] > 0, ops
    # the sidecar (and `workbench export`'s line) count this graph's nodes, not fp32's
    assert sidecar.graph["nodes"] == sum(ops.values()) != sidecar.graph["fp32_nodes"]
    assert sidecar.quantization["mode"] == mode and sidecar.quantization["quantized_matmuls"] > 0
    if mode == "int8-static":
        assert sidecar.quantization["calibration_frames"] == 200
    quantized, reference = OnnxPolicy(path), OnnxPolicy(fp32)
    assert [i.name for i in quantized.session.get_inputs()] == [i.name for i in reference.session.get_inputs()]
    assert [o.name for o in quantized.session.get_outputs()] == [o.name for o in reference.session.get_outputs()]
    drift = compare(rollout_onnx(reference, held_out, 300), rollout_onnx(quantized, held_out, 300))
    # measured, not zero: quantization moves the distributions but not wholesale
    assert 0 < drift["max_abs_error"] < 1 and np.isfinite(drift["mean_kl"])
    assert drift["target_agreement"] > 0.5, drift


def test_attention_scores_stay_in_float(tmp_path):
    """Only products with a constant weight are quantized, not query-key scores."""
    path = tmp_path / "attention.onnx"
    export_policy(policy_for("attention", num_heads=2, window=8), path, quantize="int8-dynamic")
    nodes = onnx.load(str(path)).graph.node
    assert any(n.op_type == "MatMul" for n in nodes)  # q @ k and probs @ v
    assert any(n.op_type == "MatMulInteger" for n in nodes)  # the projections


def test_calibration_reads_real_states(fp32):
    games = load_games([REPLAY], EmbedConfig())
    feeds = calibration_feeds(fp32, games, 100)
    assert len(feeds) == 100
    states = np.stack([f["state_in_h_0"] for f in feeds])
    assert np.abs(states[10:]).max() > 0.01  # carried states, not zeros after the first frame
    assert {"floats", "ids", "controller", "uniform"} <= set(feeds[0])


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["mlp", "lstm", "gru", "attention", "mamba", "mamba2", "jamba", "zamba", "gla", "rwkv7", "s5", "dt"]
)
def test_every_backbone_quantizes(name, held_out, tmp_path):
    """Each backbone's INT8/INT4 variants load, keep the interface and stay close to fp32."""
    policy = policy_for(name)
    fp32_path = tmp_path / "fp32.onnx"
    export_policy(policy, fp32_path)
    reference = rollout_onnx(fp32_path, held_out, 300)
    for mode in ("int8-dynamic", "int8-static", "int4"):
        path = tmp_path / f"{mode}.onnx"
        export_policy(policy, path, quantize=mode, calibration=[REPLAY], calibration_frames=200)
        drift = compare(reference, rollout_onnx(path, held_out, 300))
        assert np.isfinite(drift["mean_kl"]) and drift["target_agreement"] > 0.5, (mode, drift)
