"""The GRU/LSTM step as ONNX's own recurrent operator: the ONNX-layout weights give
``backbone.step``'s numbers in PyTorch, ``workbench export`` writes one ``GRU``/``LSTM``
node per layer in fp32 (fewer nodes, the same choices on a real replay) and keeps the
decomposed cell for the quantized variants."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from conftest import bundled
from workbench.deploy import OnnxPolicy, Sidecar, sidecar_path
from workbench.deploy.native import native_step
from workbench.deploy.rollout import compare, load_games, rollout_onnx, rollout_torch, torch_threads
from workbench.embed import EmbedConfig
from workbench.models import Policy
from workbench.models.policy import PolicyConfig

KINDS = ("gru", "lstm")


def policy_of(kind: str, hidden: int = 24, layers: int = 2, seed: int = 0) -> Policy:
    """Every weight random (biases included: zero biases would hide a swapped bias half)."""
    torch.manual_seed(seed)
    backbone = {"name": kind, "hidden_size": hidden, "num_layers": layers}
    policy = Policy(EmbedConfig(), PolicyConfig(backbone=backbone, head_hidden=32)).eval()
    with torch.no_grad():
        for p in policy.backbone.parameters():
            p.copy_(torch.randn_like(p) * 0.4)
    return policy


@pytest.fixture(scope="module")
def game():
    return load_games([bundled("games/Walnut356-falcon_throws.slp")], EmbedConfig(), (0,))[0]


@pytest.mark.parametrize("kind", KINDS)
def test_native_step_is_the_backbone_step(kind, game):
    """In PyTorch, through the custom ops' own arithmetic: the gate reorder and the bias
    layout are right, state fed back over 200 real frames."""
    policy = policy_of(kind, layers=3)
    native = native_step(policy.backbone)
    ours, theirs = policy.initial_state(1), policy.initial_state(1)
    with torch.no_grad(), torch_threads(1):
        for i in range(200):
            floats, ids = torch.from_numpy(game.floats[i : i + 1]), torch.from_numpy(game.ids[i : i + 1])
            x = policy.inputs(floats, ids, torch.from_numpy(game.controller[i : i + 1]))
            y_ours, ours = native.step(x, ours)
            y_theirs, theirs = policy.backbone.step(x, theirs)
            torch.testing.assert_close(y_ours, y_theirs, rtol=1e-5, atol=1e-5)
            assert list(ours) == list(theirs)
            for key in theirs:
                torch.testing.assert_close(ours[key], theirs[key], rtol=1e-5, atol=1e-5)


def test_other_backbones_have_no_native_step():
    for name in ("mlp", "mamba"):
        backbone = {"name": name, "hidden_size": 16, "num_layers": 2}
        assert native_step(Policy(EmbedConfig(), PolicyConfig(backbone=backbone)).backbone) is None


@pytest.mark.parametrize("kind", KINDS)
def test_export_writes_the_native_op_in_fp32_only(kind, game, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from workbench.deploy.export import export_graph, export_variants

    policy = policy_of(kind, hidden=48)
    paths = {"none": tmp_path / "fp32.onnx", "int8-dynamic": tmp_path / "int8.onnx"}
    sidecars = export_variants(policy, paths)
    fp32 = Counter(n.op_type for n in onnx.load(str(paths["none"])).graph.node)
    int8 = Counter(n.op_type for n in onnx.load(str(paths["int8-dynamic"])).graph.node)
    assert fp32[kind.upper()] == 2 and int8[kind.upper()] == 0, (fp32, int8)
    recurrent = [n for n in onnx.load(str(paths["none"])).graph.node if n.op_type == kind.upper()]
    assert all(n.output[0] == "" for n in recurrent), "the unread sequence output Y should be left out"
    decomposed = export_graph(policy, tmp_path / "decomposed.onnx", native=False)
    assert sum(fp32.values()) < len(decomposed.graph.node) - 8, (sum(fp32.values()), len(decomposed.graph.node))
    assert sidecars["none"].graph["nodes"] == sum(fp32.values())
    assert Sidecar.load(sidecar_path(paths["int8-dynamic"])).graph["fp32_nodes"] == len(decomposed.graph.node)
    # the shipped graph plays what PyTorch plays: 320 real frames, the state fed back
    with torch_threads(1):
        reference = rollout_torch(policy, game, 320)
    shipped = rollout_onnx(OnnxPolicy(paths["none"]), game, 320)
    drift = compare(reference, shipped)
    assert drift["frames"] == 320 and drift["target_agreement"] == 1.0, drift
    assert drift["max_rel_error"] <= 1e-4, drift
    np.testing.assert_allclose(shipped.controller, reference.controller, atol=1e-6)
