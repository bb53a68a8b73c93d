"""PPO's correctness check on a known environment: Gymnasium's ``CartPole-v1``.

The actor-critic here is small, but the update is :func:`workbench.selfplay.ppo.ppo_update`,
the one the Melee learner runs, fed the same batch-first :class:`Rollout`. The target is
CleanRL's: a mean return of at least 475 over 100 episodes (500 is the cap).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Categorical

from workbench.embed.config import DictMixin
from workbench.errors import WorkbenchError
from workbench.selfplay.config import PPOConfig
from workbench.selfplay.ppo import Evaluation, Rollout, ppo_update


def _cartpole_ppo() -> PPOConfig:
    # CleanRL's CartPole settings (ppo.py)
    return PPOConfig(
        lr=2.5e-4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_coef=0.2,
        ent_coef=0.01,
        vf_coef=0.5,
        update_epochs=4,
        num_minibatches=4,
        max_grad_norm=0.5,
        anneal_lr=True,
    )


@dataclass
class CartPoleConfig(DictMixin):
    num_envs: int = 4
    steps: int = 128
    total_steps: int = 500_000
    seed: int = 1
    eval_episodes: int = 100
    time_budget: float = 0.0  # seconds; > 0 stops training there
    threads: int = 1  # torch threads: tiny networks only lose by more
    ppo: PPOConfig = field(default_factory=_cartpole_ppo)


class CartPoleAgent(nn.Module):
    """CleanRL's actor and critic: two tanh MLPs of 64 units over the 4 observations."""

    def __init__(self, obs_dim: int = 4, actions: int = 2, hidden: int = 64):
        super().__init__()

        def layer(i: int, o: int, std: float = 2**0.5) -> nn.Linear:
            lin = nn.Linear(i, o)
            nn.init.orthogonal_(lin.weight, std)
            nn.init.zeros_(lin.bias)
            return lin

        self.critic = nn.Sequential(
            layer(obs_dim, hidden), nn.Tanh(), layer(hidden, hidden), nn.Tanh(), layer(hidden, 1, 1.0)
        )
        self.actor = nn.Sequential(
            layer(obs_dim, hidden), nn.Tanh(), layer(hidden, hidden), nn.Tanh(), layer(hidden, actions, 0.01)
        )

    def act(self, obs: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """obs (N, 4) -> actions (N,), log-probs (N,), sampled with ``generator``."""
        logits = self.actor(obs)  # (N, A)
        probs = torch.softmax(logits, -1)
        action = torch.multinomial(probs, 1, generator=generator)[:, 0]  # (N,)
        return action, Categorical(logits=logits).log_prob(action)

    def evaluate(
        self, obs: dict[str, Tensor], actions: Tensor, state: dict, starts: Tensor, with_value: bool = True
    ) -> Evaluation:
        x = obs["obs"]  # (B, T, 4)
        logits = self.actor(x)  # (B, T, A)
        dist = Categorical(logits=logits)
        value = self.critic(x).squeeze(-1) if with_value else None  # (B, T)
        return Evaluation(dist.log_prob(actions[..., 0]), dist.entropy(), value, {"action": logits})

    def kl(self, logits: dict[str, Tensor], other: dict[str, Tensor]) -> Tensor:
        p, q = torch.log_softmax(logits["action"], -1), torch.log_softmax(other["action"], -1)
        return (p.exp() * (p - q)).sum(-1)


def _make_envs(num_envs: int):
    try:
        import gymnasium as gym
    except ImportError:
        raise WorkbenchError("the CartPole check needs gymnasium: pip install gymnasium") from None
    # same-step autoreset: a finished episode's next observation is already the reset one,
    # so `starts` of the following frame is simply `terminated | truncated`
    return gym.make_vec(
        "CartPole-v1",
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
    )


def train_cartpole(cfg: CartPoleConfig | None = None, log=None) -> tuple[CartPoleAgent, dict]:
    """Train with PPO, then score 100 fresh episodes. Returns the agent and a summary
    ``{"eval_mean_return", "eval_min_return", "train_steps", "seconds", "history"}``."""
    cfg = cfg or CartPoleConfig()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    envs = _make_envs(cfg.num_envs)
    agent = CartPoleAgent()
    params = list(agent.parameters())
    optimizer = torch.optim.Adam(params, lr=cfg.ppo.lr, eps=1e-5)
    n, steps = cfg.num_envs, cfg.steps
    obs_np, _ = envs.reset(seed=cfg.seed)
    start = torch.ones(n, dtype=torch.bool)
    episode_return, finished, history = np.zeros(n), [], []
    updates = max(cfg.total_steps // (n * steps), 1)
    began = time.perf_counter()
    for update in range(updates):
        if cfg.ppo.anneal_lr:
            optimizer.param_groups[0]["lr"] = cfg.ppo.lr * (1.0 - update / updates)
        obs = torch.zeros(n, steps + 1, 4)
        actions = torch.zeros(n, steps, 1, dtype=torch.long)
        logprobs, rewards = torch.zeros(n, steps), torch.zeros(n, steps)
        starts = torch.zeros(n, steps + 1, dtype=torch.bool)
        for t in range(steps):
            obs[:, t], starts[:, t] = torch.as_tensor(obs_np, dtype=torch.float32), start
            with torch.no_grad():
                action, logprob = agent.act(obs[:, t], generator)
            actions[:, t, 0], logprobs[:, t] = action, logprob
            obs_np, reward, terminated, truncated, _ = envs.step(action.numpy())
            rewards[:, t] = torch.as_tensor(reward, dtype=torch.float32)
            done = terminated | truncated
            episode_return += reward
            finished += episode_return[done].tolist()
            episode_return[done] = 0.0
            start = torch.as_tensor(done)
        obs[:, steps], starts[:, steps] = torch.as_tensor(obs_np, dtype=torch.float32), start
        rollout = Rollout({"obs": obs}, actions, logprobs, rewards, starts, {})
        metrics = ppo_update(agent, params, optimizer, rollout, cfg.ppo, generator)
        recent = float(np.mean(finished[-20:])) if finished else 0.0
        history.append({"update": update, "steps": (update + 1) * n * steps, "return_20": recent, **metrics})
        if log is not None:
            log(history[-1])
        if cfg.time_budget and time.perf_counter() - began > cfg.time_budget:
            break
    envs.close()
    returns = evaluate_cartpole(agent, cfg.eval_episodes, seed=cfg.seed + 10_000)
    return agent, {
        "eval_mean_return": float(np.mean(returns)),
        "eval_min_return": float(np.min(returns)),
        "eval_episodes": len(returns),
        "train_steps": history[-1]["steps"],
        "seconds": round(time.perf_counter() - began, 1),
        "history": history,
    }


def evaluate_cartpole(agent: CartPoleAgent, episodes: int = 100, seed: int = 10_000) -> list[float]:
    """Returns of ``episodes`` fresh episodes (one per environment, so long episodes
    count as often as short ones), actions sampled from the policy."""
    envs = _make_envs(episodes)
    generator = torch.Generator().manual_seed(seed)
    obs, _ = envs.reset(seed=seed)
    running, returns = np.zeros(episodes), np.full(episodes, np.nan)
    while np.isnan(returns).any():
        with torch.no_grad():
            action, _ = agent.act(torch.as_tensor(obs, dtype=torch.float32), generator)
        obs, reward, terminated, truncated, _ = envs.step(action.numpy())
        running += reward
        first = (terminated | truncated) & np.isnan(returns)
        returns[first] = running[first]
        running[terminated | truncated] = 0.0
    envs.close()
    return returns.tolist()
