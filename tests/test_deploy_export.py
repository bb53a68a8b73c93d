"""ONNX export of the single-frame step: every backbone exports to a static graph and
matches PyTorch over a real replay rollout; the checks catch symbolic shapes and loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import bundled
from workbench.deploy import BoundStep, ExportError, OnnxPolicy, Sidecar, check_graph, export_policy, sidecar_path
from workbench.deploy.rollout import compare, load_games, rollout_onnx, rollout_torch
from workbench.embed import EmbedConfig
from workbench.models import Policy
from workbench.models.backbones import BACKBONES
from workbench.models.backbones.layers import GatedRMSNorm
from workbench.models.policy import PolicyConfig

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

WINDOW = 8  # attention windows shorter than the rollout, so the caches wrap around
SMALL = {
    "mlp": dict(hidden_size=16, num_layers=2),
    "lstm": dict(hidden_size=16, num_layers=2),
    "gru": dict(hidden_size=16, num_layers=2),
    "attention": dict(hidden_size=16, num_layers=2, num_heads=2, window=WINDOW),
    "mamba": dict(hidden_size=16, num_layers=2, d_state=4),
    "mamba2": dict(hidden_size=16, num_layers=2, d_state=8, headdim=8),
    "jamba": dict(hidden_size=16, num_layers=3, num_heads=2, window=WINDOW, d_state=4, attention_every=2),
    "zamba": dict(hidden_size=16, num_layers=3, num_heads=2, window=WINDOW, d_state=4, shared_attention_every=1),
    "gla": dict(hidden_size=16, num_layers=2, num_heads=2, gate_rank=4),
    "rwkv7": dict(hidden_size=16, num_layers=2, head_size=8, lora_rank=4),
    "dt": dict(hidden_size=16, num_layers=2, num_heads=2, window=WINDOW),
    "s5": dict(hidden_size=16, num_layers=2, d_state=8),
}
ROLLOUT = 320


def small_policy(name: str, seed: int = 0, **overrides) -> Policy:
    torch.manual_seed(seed)
    backbone = {"name": name, **SMALL[name], **overrides}
    return Policy(EmbedConfig(), PolicyConfig(backbone=backbone, head_hidden=32)).eval()


@pytest.fixture(scope="module")
def game():
    """A real game (Captain Falcon vs Fox, 2,130 frames) from player 0's side."""
    return load_games([bundled("games/Walnut356-falcon_throws.slp")], EmbedConfig(), (0,))[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """name -> (policy, model path), each backbone exported once per module."""
    cache: dict[str, tuple[Policy, object]] = {}

    def get(name: str):
        if name not in cache:
            policy = small_policy(name)
            path = tmp_path_factory.mktemp("onnx") / f"{name}.onnx"
            export_policy(policy, path, checkpoint="ckpt", checkpoint_hash="abc")
            cache[name] = (policy, path)
        return cache[name]

    return get


@pytest.fixture(autouse=True)
def one_torch_thread():
    from workbench.deploy.rollout import torch_threads

    with torch_threads(1):
        yield


def test_small_configs_cover_the_registry():
    assert set(SMALL) == set(BACKBONES)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_backbone_exports_and_matches_pytorch(name, game, exported):
    """fp32 parity over 320 frames of a real replay with the state fed back each frame:
    every component's distribution within 1e-4 relative, the same choices throughout."""
    policy, path = exported(name)
    sidecar = Sidecar.load(sidecar_path(path))
    model = OnnxPolicy(path)
    # named, fixed-shape state inputs and outputs, one per key of the backbone's state
    keys = list(policy.initial_state(1))
    assert sidecar.state_keys == keys
    names_in = [i.name for i in model.session.get_inputs()]
    names_out = [o.name for o in model.session.get_outputs()]
    assert names_in == ["floats", "ids", "controller", "uniform", *(f"state_in_{k}" for k in keys)]
    assert names_out == [
        "targets",
        "next_controller",
        *(f"probs_{c.name}" for c in policy.head.components),
        *(f"state_out_{k}" for k in keys),
    ]
    for arg in model.session.get_inputs():
        assert all(isinstance(d, int) and d > 0 for d in arg.shape), (arg.name, arg.shape)
    for spec, value in zip(sidecar.states, policy.initial_state(1).values()):
        assert tuple(spec["shape"]) == tuple(value.shape)
    reference = rollout_torch(policy, game, ROLLOUT)
    exported = rollout_onnx(model, game, ROLLOUT)
    drift = compare(reference, exported)
    assert drift["frames"] == ROLLOUT
    assert drift["max_rel_error"] <= 1e-4, drift
    assert drift["target_agreement"] == 1.0
    np.testing.assert_allclose(exported.controller, reference.controller, atol=1e-6)
    # the bot's bound fast path (ping-pong state buffers) gives the same numbers
    bound = BoundStep(model)
    for i in range(60):
        for name_in, array in (("floats", game.floats), ("ids", game.ids), ("controller", game.controller)):
            np.copyto(getattr(bound, name_in), array[i : i + 1])
        bound.run()
        np.testing.assert_array_equal(bound.outputs["targets"], exported.targets[i : i + 1])
        for component, probs in exported.probs.items():
            np.testing.assert_allclose(bound.outputs[f"probs_{component}"], probs[i : i + 1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, overrides", [("attention", dict(opponent_attention=True))])
def test_backbone_options_export_and_match_pytorch(name, overrides, game, tmp_path):
    """Options that add state (the opponent cross-attention's caches) keep fp32 parity."""
    policy = small_policy(name, **overrides)
    path = tmp_path / "model.onnx"
    export_policy(policy, path)
    assert {"state_in_opp_k_cache", "state_in_opp_v_cache"} <= {i.name for i in OnnxPolicy(path).session.get_inputs()}
    drift = compare(rollout_torch(policy, game, ROLLOUT), rollout_onnx(OnnxPolicy(path), game, ROLLOUT))
    assert drift["max_rel_error"] <= 1e-4 and drift["target_agreement"] == 1.0, drift


@pytest.mark.parametrize("name", ["gru", "attention"])
def test_exported_function_is_policy_step(name, game):
    """The exported module returns exactly what ``policy.step`` returns, argmax and sampled."""
    from workbench.deploy import StepGraph

    policy = small_policy(name)
    graph = StepGraph(policy)
    state, graph_state = policy.initial_state(1), list(policy.initial_state(1).values())
    rng = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for i in range(40):
            floats, ids = torch.from_numpy(game.floats[i : i + 1]), torch.from_numpy(game.ids[i : i + 1])
            ctrl = torch.from_numpy(game.controller[i : i + 1])
            uniform = torch.rand(1, policy.noise_size, generator=rng) if i % 2 else None
            targets, values, state = policy.step(floats, ids, ctrl, state, uniform=uniform)
            feed = uniform if uniform is not None else torch.full((1, policy.noise_size), 0.5)
            out = graph(floats, ids, ctrl, feed, *graph_state)
            graph_state = list(out[len(out) - len(graph_state) :])
            assert torch.equal(out[0], targets) and torch.equal(out[1], values)
        for key, value in zip(state, graph_state):
            assert torch.equal(state[key], value)


def test_node_count_does_not_grow_with_the_window(exported, tmp_path):
    """A streaming step reads its cache with whole-tensor ops: a 4x longer attention
    window gives the same graph (nothing was unrolled over the window)."""
    short = Sidecar.load(sidecar_path(exported("attention")[1]))
    long = export_policy(small_policy("attention", window=4 * WINDOW), tmp_path / "long.onnx")
    for sidecar, window in ((short, WINDOW), (long, 4 * WINDOW)):
        cache = next(s for s in sidecar.states if s["name"] == "k_cache_0")
        assert cache["shape"][2] == window
    assert long.graph["nodes"] == short.graph["nodes"]


@pytest.mark.parametrize("name", ["mamba2", "jamba"])
def test_rms_norms_run_as_one_fused_node(name, exported, tmp_path):
    """Every RMS norm of the exported step is one node once onnxruntime has optimised the
    graph (F.rms_norm's own export, with its Reciprocal, stayed seven)."""
    from workbench.deploy.runtime import import_ort, session_options

    policy, path = exported(name)
    norms = sum(isinstance(m, (torch.nn.RMSNorm, GatedRMSNorm)) for m in policy.backbone.modules())
    options = session_options(1)
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    import_ort().InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    assert ops.count("SimplifiedLayerNormalization") == norms > 0, (norms, sorted(set(ops)))
    assert "Reciprocal" not in ops


def test_sampling_noise_is_an_input(exported, game):
    """uniform=0.5 is the argmax; other noise samples, the same in ONNX and PyTorch."""
    policy, path = exported("gru")
    model = OnnxPolicy(path)
    state, torch_state = model.initial_state(), policy.initial_state(1)
    rng = np.random.default_rng(0)
    changed = 0
    with torch.no_grad():
        for i in range(60):
            args = (game.floats[i : i + 1], game.ids[i : i + 1], game.controller[i : i + 1])
            uniform = rng.random((1, policy.noise_size), dtype=np.float32)
            sampled, _ = model.step(*args, state, uniform)
            argmax, state = model.step(*args, state)
            t_args = [torch.from_numpy(a) for a in args]
            targets, _, _ = policy.step(*t_args, torch_state, uniform=torch.from_numpy(uniform))
            best, _, torch_state = policy.step(*t_args, torch_state)
            np.testing.assert_array_equal(sampled["targets"], targets.numpy())
            np.testing.assert_array_equal(argmax["targets"], best.numpy())
            changed += int((sampled["targets"] != argmax["targets"]).any())
    assert changed > 0


def test_sidecar_describes_the_model(exported):
    policy, path = exported("lstm")
    sidecar = Sidecar.load(sidecar_path(path))
    assert sidecar.model == "lstm.onnx" and sidecar.checkpoint_hash == "abc"
    assert sidecar.embed() == policy.embed_config
    assert sidecar.noise_size == policy.noise_size
    assert [c["name"] for c in sidecar.components] == [c.name for c in policy.head.components]
    assert sum(c["noise_width"] for c in sidecar.components) == policy.noise_size
    assert [h["name"] for h in sidecar.controller["heads"]] == [h.name for h in policy.spec.heads]
    assert sidecar.controller["axis_values"] == policy.spec.axis_values.tolist()
    assert sidecar.quantization == {"mode": "none"} and sidecar.graph["nodes"] > 0
    assert [s["name"] for s in sidecar.states] == ["h_0", "c_0", "h_1", "c_1"]
    names = {t["name"]: t for t in sidecar.inputs}
    assert names["ids"]["dtype"] == "int32" and names["floats"]["shape"] == [1, policy.layout.float_dim]


def _tiny_graph(dim, op: str = "Identity"):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("floats", TensorProto.FLOAT, [1, dim])
    y = helper.make_tensor_value_info("targets", TensorProto.FLOAT, [1, dim])
    node = helper.make_node(op, ["floats"], ["targets"])
    return helper.make_model(helper.make_graph([node], "g", [x], [y]))


def test_graph_checks_refuse_symbolic_shapes_and_loops():
    assert check_graph(_tiny_graph(4), ["floats"], ["targets"])["nodes"] == 1
    with pytest.raises(ExportError, match="symbolic or unknown shape"):
        check_graph(_tiny_graph("T"), ["floats"], ["targets"])
    with pytest.raises(ExportError, match="Loop"):
        check_graph(_tiny_graph(4, "Loop"), ["floats"], ["targets"])
    with pytest.raises(ExportError, match="expected"):
        check_graph(_tiny_graph(4), ["floats", "ids"], ["targets"])


def test_importing_deploy_pulls_in_no_runtime():
    """onnx, onnxruntime and libmelee load only when a function needs them."""
    import subprocess
    import sys

    code = (
        "import sys, workbench.embed, workbench.deploy; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'onnxscript', 'melee')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_optional_package_is_a_one_line_install_hint():
    """With libmelee hidden, the bot-loop benchmark says what to install, no traceback."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['melee'] = None\n"
        "from workbench.deploy import MissingDependencyError, replay_states\n"
        "try:\n    replay_states('any.slp')\n"
        "except MissingDependencyError as err:\n    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "melee is not installed: pip install melee"
