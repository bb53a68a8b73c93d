"""Proximal policy optimisation, one readable update (after CleanRL's ``ppo.py``).

The update is written once for any actor-critic that can score whole sequences
(:class:`ActorCritic`): the Melee policy (:mod:`workbench.selfplay.actor`) and the
CartPole check (:mod:`workbench.selfplay.cartpole`) run exactly this code. Rollouts are
batch first: ``(N, T, ...)`` for N games (or environments) and T frames. Recurrent
policies are scored over whole sequences from the state they had when the rollout
began; ``starts[:, t]`` marks frames that begin a new game, where the state is reset.

Values are computed here, at the start of the update, by the same sequence pass the
loss uses (the policy's value head, or a separate value network), so a recurrent
critic sees exactly the frames and resets the actor saw; the rollout's last frame
(index T) only bootstraps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor, nn

from workbench.selfplay.config import PPOConfig

State = dict[str, Tensor]


@dataclass
class Rollout:
    """T frames of N games. ``obs`` and ``starts`` hold T + 1 frames: the last one is
    the frame after the rollout, used only to bootstrap the value."""

    obs: dict[str, Tensor]  # each (N, T + 1, ...)
    actions: Tensor  # (N, T, A) what was chosen at each frame
    logprobs: Tensor  # (N, T) log-probability of the action under the behaviour policy
    rewards: Tensor  # (N, T) reward that followed each action
    starts: Tensor  # (N, T + 1) bool: frame begins a new game (state reset before it)
    state: State  # policy state before frame 0, each (N, ...)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.actions.shape[:2])

    def select(self, rows: Tensor, frames: int) -> tuple[dict[str, Tensor], Tensor, State, Tensor]:
        """Rows ``rows`` over the first ``frames`` frames: obs, actions (padded with zeros
        past T), state, starts."""
        obs = {k: v[rows, :frames] for k, v in self.obs.items()}
        actions = self.actions[rows]
        if frames > actions.shape[1]:  # the bootstrap frame has no action: score a dummy
            pad = actions.new_zeros((len(rows), frames - actions.shape[1], *actions.shape[2:]))
            actions = torch.cat([actions, pad], dim=1)
        return obs, actions[:, :frames], {k: v[rows] for k, v in self.state.items()}, self.starts[rows, :frames]


@dataclass
class Evaluation:
    """What an actor-critic says about a batch of sequences, each (B, T)."""

    logprob: Tensor
    entropy: Tensor
    value: Tensor | None
    logits: dict[str, Tensor]


class ActorCritic(Protocol):
    def evaluate(
        self, obs: dict[str, Tensor], actions: Tensor, state: State, starts: Tensor, with_value: bool = True
    ) -> Evaluation:
        """Score ``actions`` (B, T, A) taken at ``obs`` (B, T, ...) from ``state``."""

    def kl(self, logits: dict[str, Tensor], other: dict[str, Tensor]) -> Tensor:
        """KL(self's distribution || other's) per frame, (B, T)."""


class Critic(Protocol):
    """A separate value network: values (B, T) of a batch of sequences."""

    def values(self, obs: dict[str, Tensor], state: State, starts: Tensor) -> Tensor: ...


def compute_gae(rewards: Tensor, values: Tensor, starts: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation: rewards (N, T), values (N, T + 1), starts
    (N, T + 1) -> advantages (N, T), returns (N, T). A game ends after frame t when
    frame t + 1 starts a new one; nothing is bootstrapped across that boundary."""
    n, steps = rewards.shape
    advantages = torch.zeros_like(rewards)
    last = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)
    for t in reversed(range(steps)):
        nonterminal = 1.0 - starts[:, t + 1].to(rewards.dtype)  # (N,)
        delta = rewards[:, t] + gamma * values[:, t + 1] * nonterminal - values[:, t]
        last = delta + gamma * lam * nonterminal * last
        advantages[:, t] = last
    return advantages, advantages + values[:, :steps]


def explained_variance(pred: Tensor, target: Tensor) -> float:
    var = target.var()
    return float("nan") if var == 0 else float(1 - (target - pred).var() / var)


@dataclass
class UpdateContext:
    """What the update needs besides the rollout: the frozen teacher's logits (teacher
    forced on the rollout's actions) and a separate critic, when either is used."""

    teacher_logits: dict[str, Tensor] | None = None  # each (N, T, ...)
    critic: Critic | None = None
    critic_state: State | None = None


def teacher_kl(agent: ActorCritic, logits: dict[str, Tensor], teacher: dict[str, Tensor], direction: str) -> Tensor:
    """Per-frame KL to the teacher (B, T): forward KL(learner || teacher) keeps the
    learner inside the teacher's support; reverse KL(teacher || learner) keeps it from
    dropping what the teacher does; "both" sums them."""
    if direction == "forward":
        return agent.kl(logits, teacher)
    if direction == "reverse":
        return agent.kl(teacher, logits)
    return agent.kl(logits, teacher) + agent.kl(teacher, logits)


def ppo_update(
    agent: ActorCritic,
    params: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    rollout: Rollout,
    cfg: PPOConfig,
    generator: torch.Generator,
    context: UpdateContext | None = None,
) -> dict[str, float]:
    """One PPO update on one rollout: GAE, then ``update_epochs`` passes over
    minibatches of whole sequences. Returns ``losses/...`` metrics."""
    context = context or UpdateContext()
    n, steps = rollout.shape
    everyone = torch.arange(n)

    # 1. values of every frame (T + 1: the last bootstraps) and the advantages
    with torch.no_grad():
        obs, actions, state, starts = rollout.select(everyone, steps + 1)
        if context.critic is None:
            values = agent.evaluate(obs, actions, state, starts).value  # (N, T + 1)
        else:
            values = context.critic.values(obs, context.critic_state, starts)  # (N, T + 1)
        advantages, returns = compute_gae(
            rollout.rewards, values.float(), rollout.starts, cfg.gamma, cfg.gae_lambda
        )  # (N, T)
        old_values = values[:, :steps]

    # 2. epochs over minibatches of whole games (a recurrent state needs its sequence)
    stats: dict[str, list[float]] = {}
    for _epoch in range(cfg.update_epochs):
        order = torch.randperm(n, generator=generator)
        for rows in order.chunk(min(cfg.num_minibatches, n)):
            obs, actions, state, starts = rollout.select(rows, steps)
            ev = agent.evaluate(obs, actions, state, starts, with_value=context.critic is None)
            new_values = (
                ev.value
                if context.critic is None
                else context.critic.values(obs, {k: v[rows] for k, v in context.critic_state.items()}, starts)
            )

            logratio = ev.logprob - rollout.logprobs[rows]  # (B, T)
            ratio = logratio.exp()
            with torch.no_grad():  # http://joschu.net/blog/kl-approx.html
                approx_kl = ((ratio - 1) - logratio).mean()
                clipfrac = ((ratio - 1.0).abs() > cfg.clip_coef).float().mean()

            adv = advantages[rows]
            if cfg.norm_adv and adv.numel() > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)

            # clipped surrogate objective
            pg_loss = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - cfg.clip_coef, 1 + cfg.clip_coef)).mean()

            # value loss, optionally clipped around the values the update started from
            ret, old_v = returns[rows], old_values[rows]
            if cfg.clip_vloss:
                clipped = old_v + torch.clamp(new_values - old_v, -cfg.clip_coef, cfg.clip_coef)
                v_loss = 0.5 * torch.max((new_values - ret) ** 2, (clipped - ret) ** 2).mean()
            else:
                v_loss = 0.5 * ((new_values - ret) ** 2).mean()

            entropy = ev.entropy.mean()
            loss = pg_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
            if context.teacher_logits is not None:
                teacher = {k: v[rows] for k, v in context.teacher_logits.items()}
                kl_t = teacher_kl(agent, ev.logits, teacher, cfg.kl_direction).mean()
                loss = loss + cfg.kl_teacher * kl_t
                _add(stats, "losses/kl_teacher", kl_t)

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()

            for key, value in (
                ("losses/policy_loss", pg_loss),
                ("losses/value_loss", v_loss),
                ("losses/entropy", entropy),
                ("losses/approx_kl", approx_kl),
                ("losses/clipfrac", clipfrac),
                ("losses/grad_norm", grad_norm),
            ):
                _add(stats, key, value)
        if cfg.target_kl and np.mean(stats["losses/approx_kl"][-cfg.num_minibatches :]) > cfg.target_kl:
            break

    out = {k: float(np.mean(v)) for k, v in stats.items()}
    out["losses/explained_variance"] = explained_variance(old_values.flatten(), returns.flatten())
    out["losses/value_mean"] = float(old_values.mean())
    out["losses/advantage_std"] = float(advantages.std())
    return out


def _add(stats: dict[str, list[float]], key: str, value: Tensor) -> None:
    stats.setdefault(key, []).append(float(value.detach()))
