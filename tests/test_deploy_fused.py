"""The fused inputs and head of the exported step compute what the reference modules
compute: the same backbone input, the same chosen classes (greedy and sampled, at any
temperature), the same decoded controller, probabilities within 1e-5."""

from __future__ import annotations

import pytest
import torch

from conftest import bundled
from workbench.deploy import StepGraph
from workbench.deploy.fused import FusedInputs
from workbench.deploy.rollout import load_games, torch_threads
from workbench.embed import ControllerConfig, EmbedConfig
from workbench.models import Policy
from workbench.models.policy import PolicyConfig


def random_policy(embed: EmbedConfig, seed: int = 0, copy_prior: bool = True, **options) -> Policy:
    """A small policy with every parameter random (layer norms included: the default
    ones and zeros would hide a swapped norm)."""
    torch.manual_seed(seed)
    policy = Policy(
        embed,
        PolicyConfig(
            backbone={"name": "gru", "hidden_size": 32, "num_layers": 2},
            head_hidden=24,
            copy_prior=copy_prior,
            **options,
        ),
    ).eval()
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    return policy


KMEANS = ControllerConfig(
    stick_mode="kmeans",
    main_centers=[[0.5, 0.5], [0.0, 0.5], [1.0, 0.5], [0.5, 0.0], [0.5, 1.0]],
    c_centers=[[0.5, 0.5], [0.1, 0.9], [0.9, 0.1]],
)
CONFIGS = {
    "uniform": EmbedConfig(item_slots=2),
    "kmeans": EmbedConfig(controller=KMEANS),
    "no_prev_controller": EmbedConfig(prev_controller=False),
    "no_copy_prior": EmbedConfig(),
    "normalized_delay_6": EmbedConfig(),
}


@pytest.fixture(scope="module")
def games():
    path = bundled("games/Walnut356-falcon_throws.slp")
    return {name: load_games([path], cfg, (0,))[0] for name, cfg in CONFIGS.items()}


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_fused_step_equals_reference(config, temperature, games):
    options = dict(normalize_floats=True, play_delay=6) if config == "normalized_delay_6" else {}
    policy, game = random_policy(CONFIGS[config], copy_prior=config != "no_copy_prior", **options), games[config]
    assert (policy.copy_prior is None) == (config == "no_copy_prior")
    fused, reference = StepGraph(policy, temperature), StepGraph(policy, temperature, fused=False)
    bot = StepGraph(policy, temperature, probs=False)  # the choices-only graph of --no-probs
    assert fused.output_names == reference.output_names
    assert bot.output_names == [n for n in fused.output_names if not n.startswith("probs_")]
    state = list(policy.initial_state(1).values())
    rng = torch.Generator().manual_seed(3)
    sampled_differs, inputs = 0, FusedInputs(policy)
    with torch.no_grad(), torch_threads(1):  # batch-1 ops: a second thread only waits
        for i in range(0, 240, 2):
            floats, ids = torch.from_numpy(game.floats[i : i + 1]), torch.from_numpy(game.ids[i : i + 1])
            ctrl = torch.from_numpy(game.controller[i : i + 1])
            uniform = (
                torch.rand(1, policy.noise_size, generator=rng) if i % 4 else torch.full((1, policy.noise_size), 0.5)
            )
            torch.testing.assert_close(inputs(floats, ids, ctrl), policy.inputs(floats, ids, ctrl), rtol=0, atol=0)
            got, want = fused(floats, ids, ctrl, uniform, *state), reference(floats, ids, ctrl, uniform, *state)
            assert torch.equal(got[0], want[0]), f"frame {i}: choices differ"
            torch.testing.assert_close(got[1], want[1], rtol=0, atol=0)  # decoded controller
            for a, b in zip(got[2:], want[2:]):  # probs, states
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            chosen = bot(floats, ids, ctrl, uniform, *state)
            assert torch.equal(chosen[0], got[0]), f"frame {i}: the bot graph chooses otherwise"
            torch.testing.assert_close(chosen[1], got[1], rtol=0, atol=0)
            for a, b in zip(chosen[2:], got[len(got) - len(state) :]):  # states: the same backbone
                torch.testing.assert_close(a, b, rtol=0, atol=0)
            greedy = policy.head.sample(
                policy.backbone.step(policy.inputs(floats, ids, ctrl), dict(zip(fused.state_keys, state)))[0],
                temperature,
                None,
                policy.prior(ctrl),
            )[0]
            sampled_differs += int(not torch.equal(greedy, got[0])) if i % 4 else 0
            if i % 4 == 0:  # u = 0.5 everywhere is the argmax
                assert torch.equal(greedy, got[0])
            state = list(want[len(want) - len(state) :])
    assert sampled_differs > 5, "sampled frames should differ from the argmax somewhere"


def test_fused_graph_has_fewer_nodes(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from workbench.deploy.export import export_graph

    policy = random_policy(EmbedConfig())
    fused = len(export_graph(policy, tmp_path / "fused.onnx").graph.node)
    reference = len(export_graph(policy, tmp_path / "ref.onnx", fused=False).graph.node)
    assert fused < reference - 40, (fused, reference)
    bot = export_graph(policy, tmp_path / "bot.onnx", probs=False)
    assert len(bot.graph.node) < fused - 10, (len(bot.graph.node), fused)
    assert not any(o.name.startswith("probs_") for o in bot.graph.output)
    assert onnx.load(str(tmp_path / "fused.onnx")).graph.output[0].name == "targets"
