"""One learner: its policy (started from the BC teacher), optimizer, optional separate
critic, and the sequence states that the teacher and the critic carry from one rollout
to the next. :meth:`Learner.update` turns one rollout into one PPO update."""

from __future__ import annotations

import copy

import torch

from workbench.models.policy import Policy
from workbench.selfplay.actor import PolicyActor, ValueNet
from workbench.selfplay.config import PPOConfig
from workbench.selfplay.ppo import Rollout, UpdateContext, ppo_update


class Learner:
    def __init__(self, name: str, role: str, teacher: Policy, cfg: PPOConfig, num_games: int):
        self.name, self.role, self.cfg, self.n = name, role, cfg, num_games
        self.teacher = PolicyActor(teacher)
        self.actor = PolicyActor(copy.deepcopy(teacher).train().requires_grad_(True))
        self.critic = ValueNet(teacher, cfg.value_hidden) if cfg.value == "separate" else None
        self._new_optimizer()
        self.updates = 0
        # states entering the next rollout's first frame (both models see every frame)
        self.teacher_state = self.teacher.initial_state(num_games)
        self.critic_state = self.critic.initial_state(num_games) if self.critic else None

    def _new_optimizer(self) -> None:
        self.params = list(self.actor.parameters()) + (list(self.critic.parameters()) if self.critic else [])
        self.optimizer = torch.optim.Adam(self.params, lr=self.cfg.lr, eps=1e-5)

    def restart_from_teacher(self) -> None:
        """Exploiters start over from the BC weights (AlphaStar's reset)."""
        self.actor.policy.load_state_dict(self.teacher.policy.state_dict())
        if self.critic is not None:
            self.critic = ValueNet(self.teacher.policy, self.cfg.value_hidden)
            self.critic_state = self.critic.initial_state(self.n)
        self._new_optimizer()

    def update(self, rollout: Rollout, generator: torch.Generator, lr_factor: float = 1.0) -> dict[str, float]:
        """One PPO update; the teacher's logits (when the KL penalty is on, or for the
        ``selfplay/kl_teacher`` metric) are computed once, before the epochs."""
        n, steps = rollout.shape
        everyone = torch.arange(n)
        obs, actions, _, starts = rollout.select(everyone, steps)
        teacher_logits, self.teacher_state = self.teacher.teacher_logits(obs, actions, self.teacher_state, starts)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr * lr_factor
        self.actor.policy.train()
        context = UpdateContext(
            teacher_logits=teacher_logits if self.cfg.kl_teacher > 0 else None,
            critic=self.critic,
            critic_state=self.critic_state,
        )
        metrics = ppo_update(self.actor, self.params, self.optimizer, rollout, self.cfg, generator, context)
        with torch.no_grad():  # the KL after the update, whatever its weight in the loss
            ev = self.actor.evaluate(obs, actions, rollout.state, starts, with_value=False)
            metrics["selfplay/kl_teacher"] = float(self.actor.kl(ev.logits, teacher_logits).mean())
            metrics["selfplay/entropy"] = float(ev.entropy.mean())
        if self.critic is not None:
            self.critic_state = self.critic.advance(obs, self.critic_state, starts)
        self.updates += 1
        return metrics

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "policy": self.actor.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "critic": self.critic.state_dict() if self.critic else {},
            "teacher_state": self.teacher_state,
            "critic_state": self.critic_state or {},
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.policy.load_state_dict(state["policy"])
        if self.critic is not None:
            self.critic.load_state_dict(state["critic"])
            self.critic_state = dict(state["critic_state"])
        self._new_optimizer()
        self.optimizer.load_state_dict(state["optimizer"])
        self.teacher_state = dict(state["teacher_state"])
        self.updates = int(state["updates"])
