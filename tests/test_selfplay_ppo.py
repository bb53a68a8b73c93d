"""PPO itself: GAE against a hand computation, the joint log-probability of the
autoregressive head against the sampler, sequence scoring with resets against frame
by frame steps, and CartPole-v1 (a quick learning check by default, the full target
as a slow test)."""

from __future__ import annotations

import pytest
import torch

from workbench.embed.config import EmbedConfig
from workbench.models.policy import Policy, PolicyConfig
from workbench.selfplay.actor import PolicyActor, ValueNet, component_logprob
from workbench.selfplay.config import PPOConfig
from workbench.selfplay.ppo import Rollout, UpdateContext, compute_gae, ppo_update


def test_gae_matches_hand_computation_and_stops_at_game_ends():
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 0.2, 0.1, 9.0]])
    starts = torch.tensor([[False, False, True, False]])  # frame 2 begins a new game
    gamma, lam = 0.9, 0.8
    adv, ret = compute_gae(rewards, values, starts, gamma, lam)
    d2 = 2.0 + gamma * 9.0 - 0.1  # frame 2 bootstraps from frame 3
    d1 = 0.0 - 0.2  # frame 1 ends its game: no bootstrap
    d0 = 1.0 + gamma * 0.2 - 0.5
    expected = torch.tensor([[d0 + gamma * lam * d1, d1, d2]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values[:, :3])


def _tiny_policy(seed: int = 0) -> Policy:
    torch.manual_seed(seed)
    return Policy(
        EmbedConfig(), PolicyConfig(backbone={"name": "gru", "hidden_size": 32, "num_layers": 2}, head_hidden=16)
    )


def _sampled_rollout(actor: PolicyActor, n: int = 4, steps: int = 9, seed: int = 0) -> Rollout:
    """Frame-by-frame sampling with resets, as a rollout worker does it."""
    g = torch.Generator().manual_seed(seed)
    policy = actor.policy
    floats = torch.randn(n, steps + 1, policy.layout.float_dim, generator=g)
    ids = torch.zeros(n, steps + 1, policy.layout.id_dim, dtype=torch.long)
    controller = torch.zeros(n, steps + 1, 13)
    starts = torch.zeros(n, steps + 1, dtype=torch.bool)
    starts[:, 0] = True
    starts[1 % n, min(4, steps)] = starts[2 % n, min(7, steps)] = True  # two game ends
    state0 = actor.initial_state(n)
    state, targets, logprobs = state0, [], []
    for t in range(steps):
        init = actor.initial_state(n)
        state = {k: torch.where(starts[:, t].view(-1, 1), init[k], v) for k, v in state.items()}
        uniform = torch.rand(n, policy.noise_size, generator=g)
        chosen, decoded, logprob, state = actor.act(floats[:, t], ids[:, t], controller[:, t], state, uniform)
        if t + 1 <= steps:
            controller[:, t + 1] = torch.where(starts[:, t + 1, None], 0.0, decoded)
        targets.append(chosen)
        logprobs.append(logprob)
    rewards = torch.randn(n, steps, generator=g)
    return Rollout(
        {"floats": floats, "ids": ids, "controller": controller},
        torch.stack(targets, 1),
        torch.stack(logprobs, 1),
        rewards,
        starts,
        state0,
    )


def test_sequence_scoring_with_resets_equals_the_sampler():
    actor = PolicyActor(_tiny_policy())
    rollout = _sampled_rollout(actor)
    obs, actions, state, starts = rollout.select(torch.arange(4), rollout.shape[1])
    ev = actor.evaluate(obs, actions, state, starts)
    torch.testing.assert_close(ev.logprob, rollout.logprobs, atol=1e-4, rtol=1e-4)
    # without the resets the scores differ: the reset mask is doing the work
    ev2 = actor.evaluate(obs, actions, state, torch.zeros_like(starts))
    assert (ev2.logprob[1, 4:] - rollout.logprobs[1, 4:]).abs().max() > 1e-3
    assert ev.entropy.shape == (4, rollout.shape[1]) and (ev.entropy > 0).all()


def test_joint_logprob_is_normalised_over_the_last_component():
    """Changing the last component (the trigger) moves no earlier logit, so the joint
    probabilities over its classes sum to the probability of the earlier picks."""
    actor = PolicyActor(_tiny_policy())
    rollout = _sampled_rollout(actor, n=3, steps=2)
    obs, actions, state, starts = rollout.select(torch.arange(3), 2)
    last = actor.components[-1]
    with torch.no_grad():
        joint = []
        for k in range(last.classes):
            a = actions.clone()
            a[..., last.heads[0]] = k
            joint.append(actor.evaluate(obs, a, state, starts).logprob)
        ev = actor.evaluate(obs, actions, state, starts)
        earlier = ev.logprob - component_logprob(last, ev.logits[last.name], actions[..., list(last.heads)])
    torch.testing.assert_close(torch.logsumexp(torch.stack(joint), 0), earlier, atol=1e-5, rtol=1e-5)


def test_kl_to_teacher_is_zero_for_the_teacher_and_pulls_back():
    """A learner that starts as the teacher has zero KL; after updates that push it away
    the KL penalty keeps it closer than an update without it."""
    teacher = PolicyActor(_tiny_policy(0))
    rollout = _sampled_rollout(teacher, n=8)
    obs, actions, state, starts = rollout.select(torch.arange(8), rollout.shape[1])
    logits, _ = teacher.teacher_logits(obs, actions, state, starts)
    ev = teacher.evaluate(obs, actions, state, starts)
    assert float(teacher.kl(ev.logits, logits).detach().abs().max()) < 1e-5

    kls = {}
    for weight in (0.0, 5.0):
        learner = PolicyActor(_tiny_policy(0))
        params = list(learner.parameters())
        opt = torch.optim.Adam(params, lr=3e-3)
        cfg = PPOConfig(kl_teacher=weight, update_epochs=4, num_minibatches=2, kl_direction="both")
        ppo_update(
            learner, params, opt, rollout, cfg, torch.Generator().manual_seed(0), UpdateContext(teacher_logits=logits)
        )
        ev = learner.evaluate(obs, actions, state, starts)
        kls[weight] = float(learner.kl(ev.logits, logits).mean())
    assert kls[5.0] < kls[0.0]


def test_update_moves_logprob_toward_advantage_and_separate_critic_trains():
    actor = PolicyActor(_tiny_policy(1))
    rollout = _sampled_rollout(actor, n=8, steps=6, seed=3)
    critic = ValueNet(actor.policy, hidden=16)
    params = list(actor.parameters()) + list(critic.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    obs, actions, state, starts = rollout.select(torch.arange(8), 6)
    before = actor.evaluate(obs, actions, state, starts).logprob.detach()
    v_before = critic.values(obs, critic.initial_state(8), starts).detach()
    metrics = ppo_update(
        actor,
        params,
        opt,
        rollout,
        PPOConfig(update_epochs=3, norm_adv=False),
        torch.Generator().manual_seed(0),
        UpdateContext(critic=critic, critic_state=critic.initial_state(8)),
    )
    after = actor.evaluate(obs, actions, state, starts).logprob.detach()
    assert {"losses/policy_loss", "losses/value_loss", "losses/approx_kl", "losses/entropy"} <= set(metrics)
    assert not torch.allclose(critic.values(obs, critic.initial_state(8), starts), v_before)
    # frames with a positive return gained probability on average relative to negative ones
    gained = after - before
    assert gained[rollout.rewards > 0].mean() > gained[rollout.rewards < 0].mean()


def test_cartpole_learns_quickly():
    """The same update on CartPole-v1: a short run's return rises well above random
    play (~22). The full target (>= 475) is the slow test below."""
    pytest.importorskip("gymnasium")
    from workbench.selfplay.cartpole import CartPoleConfig, train_cartpole

    _, summary = train_cartpole(CartPoleConfig(total_steps=20_000, eval_episodes=20))
    assert summary["eval_mean_return"] > 60, summary["eval_mean_return"]


@pytest.mark.slow
def test_cartpole_solved():
    pytest.importorskip("gymnasium")
    from workbench.selfplay.cartpole import CartPoleConfig, train_cartpole

    _, summary = train_cartpole(CartPoleConfig())
    assert summary["eval_mean_return"] >= 475, summary["eval_mean_return"]
