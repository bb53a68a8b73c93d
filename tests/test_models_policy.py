"""The policy: autoregressive conditioning, sampling/teacher-forcing consistency, decoding."""

import numpy as np
import pytest
import torch

from workbench.embed import ControllerConfig, EmbedConfig, ControllerSpec
from workbench.models import BACKBONES, Policy, PolicyConfig


def _batch(policy: Policy, b: int = 2, t: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    floats = torch.randn(b, t, policy.layout.float_dim, generator=g)
    ids = torch.stack([torch.randint(0, v, (b, t), generator=g) for v in policy.layout.id_vocab], -1)
    controller = torch.rand(b, t, 13, generator=g)
    targets = torch.stack([torch.randint(0, h.classes, (b, t), generator=g) for h in policy.spec.heads], -1)
    return floats, ids, controller, targets


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_every_backbone_plays_and_trains(name):
    torch.manual_seed(0)
    policy = Policy(
        EmbedConfig(), PolicyConfig(backbone={"name": name, "hidden_size": 32, "num_layers": 2}, aux_action_head=True)
    )
    floats, ids, controller, targets = _batch(policy)
    out = policy(floats, ids, controller, targets, with_value=True)
    assert out.logits["buttons"].shape == (2, 6, 8) and out.logits["main_x"].shape == (2, 6, 17)
    assert out.value.shape == (2, 6) and out.aux_action.shape[-1] == 400
    loss = sum(l.float().pow(2).mean() for l in out.logits.values()) + out.value.mean() + out.aux_action.mean()
    loss.backward()
    unused = [n for n, p in policy.named_parameters() if p.grad is None]
    # only embedding rows for groups without id columns could be unused; there are none
    assert not unused, unused
    state = policy.initial_state(2)
    chosen, values, state = policy.step(floats[:, 0], ids[:, 0], controller[:, 0], state)
    assert chosen.shape == (2, policy.spec.num_heads) and values.shape == (2, 13)


def test_head_is_autoregressive():
    torch.manual_seed(0)
    policy = Policy(EmbedConfig(), PolicyConfig(backbone={"name": "mlp", "hidden_size": 32, "num_layers": 1}))
    floats, ids, controller, targets = _batch(policy)
    base = policy(floats, ids, controller, targets).logits
    changed = targets.clone()
    changed[..., policy.spec.index["main_y"]] = (changed[..., policy.spec.index["main_y"]] + 3) % 17
    after = policy(floats, ids, controller, changed).logits
    for name in ("buttons", "main_x", "main_y"):  # before and at main_y: unchanged
        torch.testing.assert_close(base[name], after[name])
    for name in ("c_x", "c_y", "trigger"):  # after main_y: conditioned on it
        assert not torch.allclose(base[name], after[name])


def test_sampling_matches_teacher_forcing_and_decodes_like_numpy():
    torch.manual_seed(0)
    policy = Policy(EmbedConfig(), PolicyConfig(backbone={"name": "gru", "hidden_size": 32, "num_layers": 1}))
    floats, ids, controller, targets = _batch(policy, b=16, t=1)
    h = torch.randn(16, 32)
    for uniform in (None, torch.rand(16, policy.noise_size)):
        chosen, logits = policy.head.sample(h, uniform=uniform)
        forced = policy.head(h, chosen)
        for name in logits:
            torch.testing.assert_close(logits[name], forced[name])
    chosen, _ = policy.head.sample(h)
    np.testing.assert_allclose(policy.decoder(chosen).numpy(), policy.spec.decode(chosen.numpy()))


def test_sampling_follows_the_distribution():
    torch.manual_seed(0)
    policy = Policy(EmbedConfig(), PolicyConfig(backbone={"name": "mlp", "hidden_size": 16, "num_layers": 1}))
    h = torch.randn(1, 16).expand(4000, 16)
    chosen, logits = policy.head.sample(h, uniform=torch.rand(4000, policy.noise_size))
    probs = torch.softmax(logits["main_x"][0], -1)
    freq = torch.bincount(chosen[:, policy.spec.index["main_x"]], minlength=17).float() / 4000
    assert (freq - probs).abs().max() < 0.03
    button_p = torch.sigmoid(logits["buttons"][0])
    assert (chosen[:, :8].float().mean(0) - button_p).abs().max() < 0.03


def test_kmeans_policy_decodes_centres():
    centers = [[0.5, 0.5], [1.0, 0.5], [0.0, 0.5], [0.5, 1.0], [0.5, 0.0]]
    cfg = EmbedConfig(controller=ControllerConfig(stick_mode="kmeans", main_centers=centers, c_centers=centers))
    policy = Policy(cfg, PolicyConfig(backbone={"name": "mlp", "hidden_size": 16, "num_layers": 1}))
    chosen, _ = policy.head.sample(torch.randn(8, 16))
    np.testing.assert_allclose(policy.decoder(chosen).numpy(), ControllerSpec(cfg.controller).decode(chosen.numpy()))


def test_delay_input_and_float_normalisation():
    torch.manual_seed(0)
    policy = Policy(
        EmbedConfig(),
        PolicyConfig(
            backbone={"name": "gru", "hidden_size": 16, "num_layers": 1}, delay_input=True, normalize_floats=True
        ),
    )
    floats, ids, controller, targets = _batch(policy, b=2, t=4)
    policy.set_float_stats(floats.flatten(0, 1))
    x = policy.inputs(floats, ids, controller, torch.tensor([0, 18]))
    f = policy.layout.float_dim
    standard = x[..., :f].flatten(0, 1)
    assert torch.allclose(standard.mean(0), torch.zeros(f), atol=1e-5)
    assert torch.allclose(x[0, :, f + 13], torch.zeros(4)) and torch.allclose(x[1, :, f + 13], torch.ones(4))
    # input_columns still points at the id embeddings behind the delay column
    k = policy.layout.id_names.index("self_action")
    start = f + 13 + 1 + sum(policy.config.id_embed_dim.get(g, 8) for g in policy.id_columns[:k])
    embedded = policy.id_embeddings["action"](ids[..., k].long())
    torch.testing.assert_close(x[..., start : start + embedded.shape[-1]], embedded)
    assert set(range(start, start + embedded.shape[-1])) <= set(policy.input_columns().own)
    # streaming play without a delay argument uses play_delay, like forward with that delay
    policy.play_delay = 18
    out = policy(floats, ids, controller, targets, delay=torch.tensor([18, 18]))
    state = policy.initial_state(2)
    h, state = policy.backbone.step(policy.inputs(floats[:, 0], ids[:, 0], controller[:, 0]), state)
    assert torch.allclose(h, out.features[:, 0], atol=1e-5)
    other = policy(floats, ids, controller, targets, delay=torch.tensor([0, 0]))
    assert not torch.allclose(other.features, out.features)


def test_copy_prior_favours_the_last_input_in_training_and_play():
    torch.manual_seed(0)
    policy = Policy(
        EmbedConfig(), PolicyConfig(backbone={"name": "gru", "hidden_size": 16, "num_layers": 1}, copy_prior=True)
    )
    floats, ids, _, targets = _batch(policy, b=8, t=3)
    previous = torch.stack([torch.randint(0, h.classes, (8, 3)) for h in policy.spec.heads], -1)
    controller = torch.from_numpy(policy.spec.decode(previous.numpy().reshape(-1, previous.shape[-1]))).view(8, 3, 13)
    prior = policy.copy_prior(controller)
    for comp in policy.head.components:  # the classes recovered from the controller are the previous ones
        cols = list(comp.heads)
        got = policy.copy_prior.previous_classes(controller)[comp.name]
        expected = previous[..., cols] if comp.binary else previous[..., cols[0]]
        assert torch.equal(got.long(), expected.long()), comp.name
    with torch.no_grad():
        policy.copy_prior.weight["main_x"].fill_(50.0)  # a prior that dominates the network
    out = policy(floats, ids, controller, targets)
    assert torch.equal(out.logits["main_x"].argmax(-1), previous[..., policy.spec.index["main_x"]])
    chosen, _, _ = policy.step(floats[:, 0], ids[:, 0], controller[:, 0], policy.initial_state(8))
    assert torch.equal(chosen[:, policy.spec.index["main_x"]], previous[:, 0, policy.spec.index["main_x"]])
    assert prior["buttons"].shape == (8, 3, 8)
