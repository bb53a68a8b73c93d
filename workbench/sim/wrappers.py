"""Standard RL interfaces over the two-agent env.

* :class:`SimVectorEnv`: a ``gymnasium.vector.VectorEnv`` of N games, one learning agent
  (port ``agent_port``) against a fixed opponent bot. Observations are the embedded state
  of the agent's perspective (``{"floats": (N, F), "ids": (N, K)}``, the policy's inputs);
  actions ``(N, 13)`` controllers. ``terminations``: a stock-out; ``truncations``: the
  frame limit. Autoreset is gymnasium's next-step mode, except that the step after an end
  applies its action to the first frame of the new game (the env restarts the game, then
  steps it) instead of ignoring it.
* :class:`SimParallelEnv`: PettingZoo's parallel API shape (agents ``"p0"``, ``"p1"``;
  dicts of per-agent values), batched: each value is the (N, ...) array of all games.
"""

from __future__ import annotations

import numpy as np

from workbench.sim.env import CONTROLLER_DIM, SimEnv
from workbench.sim.state import G_FRAME


def _spaces(layout, n: int | None = None):
    import gymnasium as gym

    shape = (lambda *dims: dims) if n is None else (lambda *dims: (n, *dims))
    big = np.finfo(np.float32).max
    obs = gym.spaces.Dict(
        {
            "floats": gym.spaces.Box(-big, big, shape(layout.float_dim), np.float32),
            "ids": gym.spaces.Box(0, max(layout.id_vocab, default=1), shape(layout.id_dim), np.int32),
        }
    )
    low = np.array([-1, -1, -1, -1] + [0] * 9, np.float32)
    high = np.ones(CONTROLLER_DIM, np.float32)
    if n is not None:
        low, high = np.tile(low, (n, 1)), np.tile(high, (n, 1))
    return obs, gym.spaces.Box(low, high, dtype=np.float32)


def _embed(frames, perspective: int, layout) -> dict[str, np.ndarray]:
    from workbench.embed import embed_state

    floats, ids = embed_state(frames.context(perspective), layout)
    return {"floats": floats, "ids": ids}


def make_vector_env_class():
    """The VectorEnv subclass (built lazily so importing workbench.sim needs no gymnasium)."""
    import gymnasium as gym

    class _SimVectorEnv(gym.vector.VectorEnv):
        metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

        def __init__(self, env: SimEnv, opponent, agent_port: int = 0, embed_config=None):
            from workbench.embed import EmbedConfig, StateLayout

            self.env, self.opponent, self.agent_port = env, opponent, agent_port
            self.layout = StateLayout(embed_config or EmbedConfig())
            self.num_envs = env.num_games
            self.single_observation_space, self.single_action_space = _spaces(self.layout)
            self.observation_space, self.action_space = _spaces(self.layout, self.num_envs)
            self._frames = None

        def reset(self, *, seed=None, options=None):
            self._frames = self.env.reset(seed)
            self.opponent.reset()
            return _embed(self._frames, self.agent_port, self.layout), {}

        def step(self, actions):
            me, them = self.agent_port, 1 - self.agent_port
            ctrl = np.zeros((self.num_envs, 2, CONTROLLER_DIM), np.float32)
            ctrl[:, me] = actions
            ctrl[:, them] = self.opponent.act(self._frames, them)
            self._frames, rewards, done, info = self.env.step(ctrl)
            if info["reset"].any():
                self.opponent.reset(np.nonzero(info["reset"])[0])
            timed_out = done & (self.env.state.gi[:, G_FRAME] >= self.env.max_frames)
            obs = _embed(self._frames, me, self.layout)
            return obs, rewards[:, me], done & ~timed_out, timed_out, {"final": info["final"]}

    return _SimVectorEnv


def SimVectorEnv(env: SimEnv, opponent, agent_port: int = 0, embed_config=None):  # noqa: N802
    """A ``gymnasium.vector.VectorEnv``: ``env``'s games, ``opponent`` (a bot) at the
    other port."""
    return make_vector_env_class()(env, opponent, agent_port, embed_config)


class SimParallelEnv:
    """PettingZoo-style parallel API over N games (values batched over games)."""

    possible_agents = ("p0", "p1")

    def __init__(self, env: SimEnv, embed_config=None):
        from workbench.embed import EmbedConfig, StateLayout

        self.env = env
        self.agents = list(self.possible_agents)
        self.layout = StateLayout(embed_config or EmbedConfig())
        self._obs_space, self._act_space = _spaces(self.layout, env.num_games)

    def observation_space(self, agent: str):
        return self._obs_space

    def action_space(self, agent: str):
        return self._act_space

    def reset(self, seed=None, options=None):
        frames = self.env.reset(seed)
        return ({a: _embed(frames, p, self.layout) for p, a in enumerate(self.agents)}, {a: {} for a in self.agents})

    def step(self, actions: dict[str, np.ndarray]):
        ctrl = np.stack([np.asarray(actions[a], np.float32) for a in self.agents], axis=1)  # (N, 2, 13)
        frames, rewards, done, info = self.env.step(ctrl)
        timed_out = done & (self.env.state.gi[:, G_FRAME] >= self.env.max_frames)
        obs = {a: _embed(frames, p, self.layout) for p, a in enumerate(self.agents)}
        return (
            obs,
            {a: rewards[:, p] for p, a in enumerate(self.agents)},
            {a: done & ~timed_out for a in self.agents},
            {a: timed_out for a in self.agents},
            {a: {"final": info["final"], "reset": info["reset"]} for a in self.agents},
        )
