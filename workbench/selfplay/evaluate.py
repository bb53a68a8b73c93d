"""Head-to-head evaluation in the simulator: G games of one player against another, a
win rate with its 95% interval.

A player is a checkpoint (BC or self-play: the same folder format), a scripted bot
name, or an actor already in memory. All G games run at once (one batched step per
frame per player); the first game of every slot counts, so short games are not
over-represented; sides alternate (half the games on each port). Both players sample
from their policies, with the delay they were trained with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


from workbench.selfplay.actor import PolicyActor
from workbench.selfplay.ratings import GameLog, GameRecord, wilson_interval

FRAMES_PER_MIN = 3600


@dataclass
class MatchResult:
    player: str
    opponent: str
    games: int
    wins: int
    losses: int
    draws: int
    win_rate: float  # draws count half
    win_rate_ci95: tuple[float, float]
    stocks_taken_per_min: float
    damage_per_min: float
    frames: int
    conditions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        lo, hi = self.win_rate_ci95
        return (
            f"{self.player} vs {self.opponent}: {self.wins}-{self.losses}-{self.draws} (W-L-D) in "
            f"{self.games} games, win rate {self.win_rate:.3f} [95% CI {lo:.3f}, {hi:.3f}]"
        )


def _actor(spec) -> tuple[str, PolicyActor | str]:
    from workbench.selfplay.rollout import SCRIPTED
    from workbench.train.checkpoint import load_policy

    if isinstance(spec, tuple):
        return spec
    if isinstance(spec, PolicyActor):
        return "policy", spec
    if str(spec) in SCRIPTED:
        return str(spec), str(spec)
    policy, _, folder = load_policy(spec)
    return str(folder), PolicyActor(policy)


def play_match(
    player,
    opponent,
    games: int = 200,
    characters=("fox", "fox"),
    stage: str = "fd",
    max_frames: int = 8 * 60 * 60,
    delay: int = 0,
    seed: int = 0,
    chunk: int = 256,
    log: GameLog | None = None,
    jit: bool | None = None,
) -> MatchResult:
    """``games`` games of ``player`` against ``opponent`` (checkpoint folder, scripted
    bot name, ``(name, PolicyActor)``); ``log`` collects the games as ``kind="eval"``."""
    from workbench.selfplay.config import RolloutConfig, SelfPlayConfig
    from workbench.selfplay.env import make_game_env
    from workbench.selfplay.rollout import Arena

    name_a, actor = _actor(player)
    name_b, other = _actor(opponent)
    if isinstance(actor, str):
        raise ValueError("the evaluated player must be a policy (checkpoint or actor)")
    label_b = name_b if name_b != name_a else f"{name_b} (copy)"
    cfg = SelfPlayConfig(
        init="-",
        characters=list(characters),
        stage=stage,
        jit=jit,
        rollout=RolloutConfig(num_games=games, max_frames=max_frames, reward="sparse"),
    )
    arena = Arena(make_game_env(cfg, games, seed), name_a, actor, delay, "both", seed)
    opponents = {label_b: other} if not isinstance(other, str) else {}
    plan = {label_b if not isinstance(other, str) else other: 1.0}
    first: dict[int, GameRecord] = {}
    while len(first) < games:
        _, records, _ = arena.collect(actor, opponents, plan, chunk, update=len(first))
        for slot, record in zip(arena.finished_slots, records):
            first.setdefault(int(slot), record)
    records = [first[g] for g in range(games)]
    return summarise(
        name_a,
        next(iter(plan)),
        records,
        log,
        {
            "characters": list(characters),
            "stage": stage,
            "max_frames": max_frames,
            "delay": delay,
            "seed": seed,
            "sampling": "both players sample",
        },
    )


def summarise(
    name: str, opponent: str, records: list[GameRecord], log: GameLog | None, conditions: dict
) -> MatchResult:
    wins = losses = draws = 0
    stocks = damage = frames = 0.0
    for r in records:
        side = 1 if r.p1 == name else 2
        if r.winner == 0:
            draws += 1
        elif r.winner == side:
            wins += 1
        else:
            losses += 1
        mine, theirs = (r.p1_stocks, r.p2_stocks) if side == 1 else (r.p2_stocks, r.p1_stocks)
        stocks += conditions.get("stocks", 4) - theirs
        damage += r.p1_damage if side == 1 else r.p2_damage
        frames += r.frames
        if log is not None:
            log.add(GameRecord(**{**asdict(r), "kind": "eval"}))
    n = len(records)
    score = wins + 0.5 * draws
    minutes = max(frames / FRAMES_PER_MIN, 1e-9)
    return MatchResult(
        name,
        opponent,
        n,
        wins,
        losses,
        draws,
        score / max(n, 1),
        wilson_interval(score, n),
        stocks / minutes,
        damage / minutes,
        int(frames),
        conditions,
    )
