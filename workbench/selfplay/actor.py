"""The Melee policy as an actor-critic: the joint log-probability, entropy and KL of the
autoregressive controller head over its 13 components, sequence scoring with resets
at game ends, and a separate value network.

The head picks components in order (buttons, main stick, c-stick, trigger), each
conditioned on the earlier picks, so the joint log-probability of a controller is the
sum of the components' log-probabilities along that path. Summing the per-component
entropies (or KLs) along the sampled path gives the chain rule's joint entropy (KL) in
expectation over the path: an unbiased estimate of the joint quantity from one pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.models.backbones import State
from workbench.models.heads import Component
from workbench.models.policy import Policy, PolicyConfig
from workbench.selfplay.ppo import Evaluation


def unroll(backbone: nn.Module, x: Tensor, state: State, starts: Tensor) -> tuple[Tensor, State]:
    """x (B, T, D) from ``state``, resetting row b's state before frame t where
    ``starts[b, t]`` (t > 0; frame 0's reset is already in ``state``) -> (B, T, H), the
    state after the last frame. Runs the fused sequence kernel between reset frames, so
    a rollout with a few game ends costs a few calls, not T steps."""
    cuts = [0] + [t for t in range(1, x.shape[1]) if bool(starts[:, t].any())] + [x.shape[1]]
    init = backbone.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        if a > 0:
            mask = starts[:, a]
            state = {k: torch.where(mask.view(-1, *[1] * (v.dim() - 1)), init[k], v) for k, v in state.items()}
        y, state = backbone(x[:, a:b], state)  # (B, b - a, H)
        pieces.append(y)
    return torch.cat(pieces, dim=1), state


def component_logprob(comp: Component, logits: Tensor, chosen: Tensor) -> Tensor:
    """logits (…, classes or 8), chosen (…, len(heads)) -> log-probability (…,)."""
    if comp.binary:
        bits = chosen.to(logits.dtype)
        return (bits * F.logsigmoid(logits) + (1 - bits) * F.logsigmoid(-logits)).sum(-1)
    return torch.log_softmax(logits, -1).gather(-1, chosen.long()).squeeze(-1)


def component_entropy(comp: Component, logits: Tensor) -> Tensor:
    if comp.binary:  # 8 independent Bernoullis
        p = torch.sigmoid(logits)
        return -(p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits)).sum(-1)
    logp = torch.log_softmax(logits, -1)
    return -(logp.exp() * logp).sum(-1)


def component_kl(comp: Component, logits: Tensor, other: Tensor) -> Tensor:
    """KL(p || q) of one component, p from ``logits``, q from ``other``, (…,)."""
    if comp.binary:
        p = torch.sigmoid(logits)
        return (
            p * (F.logsigmoid(logits) - F.logsigmoid(other)) + (1 - p) * (F.logsigmoid(-logits) - F.logsigmoid(-other))
        ).sum(-1)
    logp, logq = torch.log_softmax(logits, -1), torch.log_softmax(other, -1)
    return (logp.exp() * (logp - logq)).sum(-1)


class PolicyActor:
    """A :class:`Policy` seen by PPO. Observations are the policy's inputs, each
    (B, T, ...): ``floats``, ``ids`` and ``controller`` (the agent's own last output,
    the BC alignment); actions are head targets (B, T, heads)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.components = policy.head.components

    def parameters(self):
        return self.policy.parameters()

    def initial_state(self, n: int) -> State:
        return self.policy.initial_state(n)

    def joint(self, logits: dict[str, Tensor], actions: Tensor) -> tuple[Tensor, Tensor]:
        """Joint log-probability and entropy (…,) of ``actions`` (…, heads)."""
        logprob = entropy = 0.0
        for comp in self.components:
            z = logits[comp.name].float()
            logprob = logprob + component_logprob(comp, z, actions[..., list(comp.heads)])
            entropy = entropy + component_entropy(comp, z)
        return logprob, entropy

    def kl(self, logits: dict[str, Tensor], other: dict[str, Tensor]) -> Tensor:
        return sum(component_kl(c, logits[c.name].float(), other[c.name].float()) for c in self.components)

    @torch.no_grad()
    def act(
        self, floats: Tensor, ids: Tensor, controller: Tensor, state: State, uniform: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, State]:
        """One batched frame (B, ...) -> targets (B, heads), controller (B, 13),
        log-probability (B,), new state. ``uniform`` (B, noise_size) is the sampling
        noise (the exported step's, so a bot plays exactly what was trained)."""
        x = self.policy.inputs(floats, ids, controller)  # (B, D)
        h, state = self.policy.backbone.step(x, state)  # (B, H)
        targets, logits = self.policy.head.sample(h, 1.0, uniform, self.policy.prior(controller, h.dtype))
        logprob, _ = self.joint(logits, targets)
        return targets, self.policy.decoder(targets), logprob, state

    def features(self, obs: dict[str, Tensor], state: State, starts: Tensor) -> tuple[Tensor, State]:
        x = self.policy.inputs(obs["floats"], obs["ids"], obs["controller"])  # (B, T, D)
        return unroll(self.policy.backbone, x, state, starts)  # (B, T, H)

    def evaluate(
        self, obs: dict[str, Tensor], actions: Tensor, state: State, starts: Tensor, with_value: bool = True
    ) -> Evaluation:
        h, _ = self.features(obs, state, starts)
        logits = self.policy.head(h, actions, self.policy.prior(obs["controller"], h.dtype))  # teacher forced
        logprob, entropy = self.joint(logits, actions)  # (B, T)
        value = self.policy.value(h) if with_value and self.policy.value is not None else None
        return Evaluation(logprob, entropy, value, logits)

    @torch.no_grad()
    def teacher_logits(
        self, obs: dict[str, Tensor], actions: Tensor, state: State, starts: Tensor
    ) -> tuple[dict[str, Tensor], State]:
        """As a frozen teacher: its logits along the learner's actions and its state
        after the sequence (the start of the next rollout, since it never changes)."""
        h, state = self.features(obs, state, starts)
        return self.policy.head(h, actions, self.policy.prior(obs["controller"], h.dtype)), state


class ValueNet(nn.Module):
    """A separate critic: its own input embeddings, a one-layer GRU and a value head,
    over the same observations as the policy (so the policy's backbone is not pulled
    by the value loss)."""

    def __init__(self, policy: Policy, hidden: int = 128):
        super().__init__()
        config = PolicyConfig(
            backbone={"name": "gru", "hidden_size": hidden, "num_layers": 1},
            id_embed_dim=dict(policy.config.id_embed_dim),
            value_head=True,
            copy_prior=False,
            delay_input=policy.config.delay_input,
            play_delay=policy.config.play_delay,
        )
        self.net = Policy(policy.embed_config, config)
        del self.net.head  # the critic predicts no controller
        self.net.head = None

    def initial_state(self, n: int) -> State:
        return self.net.initial_state(n)

    def values(self, obs: dict[str, Tensor], state: State, starts: Tensor) -> Tensor:
        x = self.net.inputs(obs["floats"], obs["ids"], obs["controller"])  # (B, T, D)
        h, _ = unroll(self.net.backbone, x, state, starts)  # (B, T, H)
        return self.net.value(h)  # (B, T)

    @torch.no_grad()
    def advance(self, obs: dict[str, Tensor], state: State, starts: Tensor) -> State:
        x = self.net.inputs(obs["floats"], obs["ids"], obs["controller"])
        return unroll(self.net.backbone, x, state, starts)[1]
