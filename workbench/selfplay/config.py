"""Typed configs of the self-play stage, nested into one :class:`SelfPlayConfig`.

Each part owns its dataclass (PPO, rollouts, population, league, curriculum); the run
folder saves the resolved tree as ``selfplay.json`` and every checkpoint carries it in
``trainer.pt``, so ``--resume`` continues with exactly the options it started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.configtree import option
from workbench.embed.config import ConfigError, DictMixin

KL_DIRECTIONS = ("forward", "reverse", "both")
VALUE_MODES = ("head", "separate")
ROLES = ("main", "main_exploiter", "league_exploiter")
CURRICULUM_STAGES = ("idle", "random", "heuristic", "self")
REWARDS = ("sparse", "shaped", "slippi-ai", "hal")  # workbench.sim's RewardConfig presets


@dataclass
class PPOConfig(DictMixin):
    """The update (CleanRL's names). ``kl_teacher`` weighs the KL to the frozen teacher:
    ``forward`` is KL(learner || teacher), ``reverse`` KL(teacher || learner)."""

    lr: float = 3e-4
    gamma: float = 0.995  # per frame: a horizon of ~200 frames (~3 s)
    gae_lambda: float = 0.95
    clip_coef: float = 0.2
    clip_vloss: bool = True
    ent_coef: float = 0.01  # > 0: without it the policy collapses (entropy 1.1 -> 0.1)
    vf_coef: float = 0.5
    kl_teacher: float = 0.0  # weight of the teacher KL penalty; 0 disables it
    kl_direction: str = "forward"  # forward, reverse or both (summed)
    update_epochs: int = 2
    num_minibatches: int = 4  # minibatches are groups of whole sequences (games)
    max_grad_norm: float = 0.5
    norm_adv: bool = True
    target_kl: float = 0.0  # > 0 stops an update's epochs early past this approx-KL
    anneal_lr: bool = False
    value: str = "head"  # "head": the policy's value head; "separate": own net
    value_hidden: int = 128  # the separate value net's GRU width

    def __post_init__(self) -> None:
        if self.kl_direction not in KL_DIRECTIONS:
            raise ConfigError(f"ppo.kl_direction={self.kl_direction!r}: choose one of {', '.join(KL_DIRECTIONS)}")
        if self.value not in VALUE_MODES:
            raise ConfigError(f"ppo.value={self.value!r}: choose one of {', '.join(VALUE_MODES)}")
        if self.update_epochs < 1 or self.num_minibatches < 1:
            raise ConfigError("ppo.update_epochs and ppo.num_minibatches must be at least 1")


@dataclass
class RolloutConfig(DictMixin):
    """How experience is gathered: N simulated games at once, T frames per update."""

    num_games: int = option(64, flag="--games", help="simulated games stepped together (N)")
    steps: int = option(128, flag="--steps", help="frames per game per update (T)")
    delay: int = option(0, flag="--delay", help="frames between choosing a controller and pressing it")
    workers: int = option(0, flag="--workers", help="rollout worker processes (0: in this process)")
    ray: str = option(
        "", flag="--ray", metavar="ADDRESS", help="rollout workers as Ray actors (auto, local or host:port)"
    )
    max_frames: int = 8 * 60 * 60  # a game's frame limit (Melee's 8-minute timer)
    reward: str = option(
        "shaped", flag="--reward", help="a sim reward preset: sparse (+1/-1 result), shaped, slippi-ai, hal"
    )
    learner_side: str = "both"  # "p1", "p2" or "both" (half the games each)

    def __post_init__(self) -> None:
        if self.num_games < 1 or self.steps < 1 or self.delay < 0:
            raise ConfigError("rollout.num_games and rollout.steps must be >= 1, rollout.delay >= 0")
        if self.reward not in REWARDS:
            raise ConfigError(f"rollout.reward={self.reward!r}: choose one of {', '.join(REWARDS)}")
        if self.learner_side not in ("p1", "p2", "both"):
            raise ConfigError(f"rollout.learner_side={self.learner_side!r}: choose p1, p2 or both")


@dataclass
class PopulationConfig(DictMixin):
    """Snapshots and who plays whom."""

    snapshot_every: int = 10  # updates between snapshots of a learner
    max_members: int = 32  # oldest snapshots (never the teacher) drop past this
    latest_ratio: float = 0.5  # share of self-play games against the latest self
    pfsp: str = "hard"  # prioritised fictitious self-play weighting: hard,
    # even, or uniform (plain fictitious self-play)
    pfsp_power: float = 2.0
    teacher_ratio: float = 0.25  # share of games against the frozen teacher
    bot_ratio: float = 0.25  # share against scripted bots (main agents, after the
    bots: list[str] = field(default_factory=lambda: ["heuristic"])  # curriculum): keeps the
    # learner honest against a fixed, non-learning opponent
    opponent_slots: int = 4  # distinct opponents live at once (each a batch step)

    def __post_init__(self) -> None:
        ratios = (self.latest_ratio, self.teacher_ratio, self.bot_ratio)
        if not all(0.0 <= r <= 1.0 for r in ratios) or sum(ratios) > 1.0 + 1e-9:
            raise ConfigError(
                "population.latest_ratio, teacher_ratio and bot_ratio must be in [0, 1] and sum to at most 1"
            )
        bad = [b for b in self.bots if b not in CURRICULUM_STAGES[:3]]
        if bad:
            raise ConfigError(f"population.bots: unknown {bad}; choose from idle, random, heuristic")
        if self.pfsp not in ("hard", "even", "uniform"):
            raise ConfigError(f"population.pfsp={self.pfsp!r}: choose hard, even or uniform")


@dataclass
class CurriculumConfig(DictMixin):
    """Opponent stages idle -> random -> heuristic -> self; a stage is passed when the
    learner's win rate over its last ``window`` finished games there exceeds
    ``threshold``, or after ``max_updates`` updates in it (0: no limit; the run's budget
    is not spent on one stage). Empty ``stages`` turns the curriculum off."""

    stages: list[str] = field(default_factory=lambda: ["idle", "random", "heuristic", "self"])
    threshold: float = 0.7
    window: int = 50
    max_updates: int = 0

    def __post_init__(self) -> None:
        bad = [s for s in self.stages if s not in CURRICULUM_STAGES]
        if bad:
            raise ConfigError(f"curriculum.stages: unknown {bad}; choose from {', '.join(CURRICULUM_STAGES)}")


@dataclass
class LeagueConfig(DictMixin):
    """AlphaStar-style roles as counts, e.g. ``{"main": 1, "main_exploiter": 1}``.
    Exploiters restart from the teacher when they beat their targets past
    ``exploiter_reset_win_rate`` (or after ``exploiter_max_updates``)."""

    roles: dict[str, int] = field(default_factory=lambda: {"main": 1})
    exploiter_reset_win_rate: float = 0.7
    exploiter_max_updates: int = 200

    def __post_init__(self) -> None:
        bad = [r for r in self.roles if r not in ROLES]
        if bad:
            raise ConfigError(f"league roles {bad} unknown; choose from {', '.join(ROLES)}")
        if self.roles.get("main", 0) < 1:
            raise ConfigError("a league needs at least one main agent (main:1)")

    def learner_names(self) -> list[tuple[str, str]]:
        """(name, role) of every learner, in a fixed order: main-0, main_exploiter-0, ..."""
        return [(f"{role}-{k}", role) for role in ROLES for k in range(self.roles.get(role, 0))]


def _csv(text) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()] if isinstance(text, str) else list(text)


def _duration(text) -> float:
    from workbench.train.config import parse_duration

    return parse_duration(text)


@dataclass
class SelfPlayConfig(DictMixin):
    init: str = option("", flag="--init", help="BC checkpoint or run folder to start from (the teacher)")
    out: str = option("runs/selfplay", flag="--out", help="run folder")
    env: str = option("sim", flag="--env", help="environment backend (sim)")
    characters: list[str] = option(
        default_factory=lambda: ["fox", "fox"],
        flag="--characters",
        parse=_csv,
        metavar="A,B",
        help="two characters, e.g. fox,fox",
    )
    stage: str = option("fd", flag="--stage", help="e.g. fd, bf")
    seed: int = option(0, flag="--seed")
    time_budget: float = option(
        0.0, flag="--time-budget", group="budget", parse=_duration, help="stop after this long, e.g. 30m"
    )
    max_updates: int = option(0, flag="--max-updates", group="budget", help="stop after this many updates")
    checkpoint_every: int = 10  # updates
    keep_last: int = 3
    eval_games: int = 0  # > 0: head-to-head games vs the teacher every eval_every
    eval_every: int = 20  # updates (selfplay/eval_win_rate_vs_<opponent> and its CI)
    eval_opponents: list[str] = field(default_factory=lambda: ["teacher", "heuristic"])
    jit: bool | None = None  # the simulator's numba step; False: its plain-Python
    # reference (no compile: tiny runs, tests); None: default
    threads: int = 1  # torch threads (small batched steps: more threads only
    # contend on a shared CPU); 0 keeps torch's default
    ppo: PPOConfig = field(default_factory=PPOConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    population: PopulationConfig = field(default_factory=PopulationConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    league: LeagueConfig = option(
        default_factory=LeagueConfig,
        flag="--league",
        metavar="ROLE:N,...",
        parse=lambda text: {"roles": parse_league(text)},
        help="league roles and counts, e.g. main:1,main_exploiter:1",
    )

    def __post_init__(self) -> None:
        if len(self.characters) != 2:
            raise ConfigError(f"characters={self.characters}: give two, e.g. fox,fox")
        bad = [o for o in self.eval_opponents if o not in ("teacher", *CURRICULUM_STAGES[:3])]
        if bad:
            raise ConfigError(f"eval_opponents: unknown {bad}; choose from teacher, idle, random, heuristic")


def parse_league(text: str) -> dict[str, int]:
    """``"main:1,main_exploiter:1"`` -> ``{"main": 1, "main_exploiter": 1}``."""
    roles = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, _, count = part.partition(":")
        try:
            roles[role.strip()] = int(count or 1)
        except ValueError:
            raise ConfigError(f"--league {text!r}: write ROLE:COUNT pairs, e.g. main:1,main_exploiter:1") from None
    return roles


def selfplay_config(
    config: str | dict | None = None, overrides: list[str] | tuple[str, ...] = (), **flags
) -> SelfPlayConfig:
    """Defaults, then a config file, then the ``workbench selfplay`` flags as keyword
    arguments (``games=64, league="main:1,main_exploiter:1", time_budget="30m"``), then
    ``KEY=VALUE`` overrides: how the CLI and notebooks build a run. Unknown names fail."""
    import os

    from workbench.configtree import build, flag_updates

    cfg = build(SelfPlayConfig, config, flag_updates(flags, SelfPlayConfig), overrides)
    cfg.out = os.path.abspath(cfg.out)
    if cfg.init:
        cfg.init = os.path.abspath(cfg.init)
    return cfg
