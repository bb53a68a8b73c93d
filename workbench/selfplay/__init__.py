"""Self-play reinforcement learning: PPO from a behavioural-cloning start, populations
with ratings, an AlphaStar-style league, a curriculum.

Public API: :func:`ppo_update` and :class:`Rollout` (``ppo``), :class:`PolicyActor`
(``actor``), :class:`League` (``league``), :class:`GameLog`, :func:`leaderboard`,
:func:`matchup_matrix` (``ratings``), :class:`SelfPlayConfig` (``config``) and the
CartPole check (``cartpole``). Nothing before this stage imports it.
"""

from workbench.selfplay.actor import PolicyActor, ValueNet, unroll
from workbench.selfplay.config import (
    CurriculumConfig,
    LeagueConfig,
    PopulationConfig,
    PPOConfig,
    RolloutConfig,
    SelfPlayConfig,
)
from workbench.selfplay.league import League, Member, pfsp_weights
from workbench.selfplay.ppo import Evaluation, Rollout, UpdateContext, compute_gae, ppo_update
from workbench.selfplay.ratings import (
    GameLog,
    GameRecord,
    elo_ratings,
    leaderboard,
    matchup_matrix,
    openskill_ratings,
    wilson_interval,
)

__all__ = [
    "PolicyActor",
    "ValueNet",
    "unroll",
    "CurriculumConfig",
    "LeagueConfig",
    "PopulationConfig",
    "PPOConfig",
    "RolloutConfig",
    "SelfPlayConfig",
    "League",
    "Member",
    "pfsp_weights",
    "Evaluation",
    "Rollout",
    "UpdateContext",
    "compute_gae",
    "ppo_update",
    "GameLog",
    "GameRecord",
    "elo_ratings",
    "leaderboard",
    "matchup_matrix",
    "openskill_ratings",
    "wilson_interval",
]
