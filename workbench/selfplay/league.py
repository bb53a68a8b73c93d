"""The population and the league: who each learner plays.

Members are named players: the frozen ``teacher`` (the BC checkpoint), the scripted
bots (``idle``, ``random``, ``heuristic``), each learner's live weights (``main-0``,
``main_exploiter-0``, ...) and snapshots of learners every K updates
(``main-0@00000040``). Every learner has a role (AlphaStar's league, Vinyals et al.
2019) that sets its opponent distribution:

* ``main``: the latest self (``latest_ratio``), the teacher (``teacher_ratio``), the
  scripted ``bots`` (``bot_ratio``) and prioritised fictitious self-play (PFSP) over
  every snapshot for the rest;
* ``main_exploiter``: the main agents' live weights only, restarting from the teacher
  once it beats them (or after ``exploiter_max_updates``);
* ``league_exploiter``: PFSP over the whole population, restarting likewise.

A curriculum (idle -> random -> heuristic -> self) comes first for main agents: until
its last stage, every game is against the current stage's bot.

Each update the league draws a small *plan* per learner (``opponent_slots`` names with
weights): games that end during the update draw their next opponent from it, so one
rollout steps at most a few distinct opponent networks (one batched step each).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from workbench.selfplay.config import CurriculumConfig, LeagueConfig, PopulationConfig
from workbench.selfplay.ratings import GameLog

SCRIPTED = ("idle", "random", "heuristic")
TEACHER = "teacher"


@dataclass
class Member:
    name: str
    kind: str  # "teacher", "scripted", "learner" (live weights) or "snapshot"
    role: str = ""  # the learner role it belongs to
    update: int = 0  # learner update at which it was taken
    path: str = ""  # checkpoint folder (teacher, snapshots)


def snapshot_name(learner: str, update: int) -> str:
    return f"{learner}@{update:08d}"


def pfsp_weights(win_rates: np.ndarray, mode: str, power: float) -> np.ndarray:
    """Opponent weights from the learner's win rates against them: ``hard`` favours
    opponents it loses to, (1 - x)^p; ``even`` those near 50%, x(1 - x); ``uniform``
    is plain fictitious self-play."""
    x = np.clip(win_rates, 0.0, 1.0)
    if mode == "hard":
        w = (1.0 - x) ** power
    elif mode == "even":
        w = x * (1.0 - x)
    else:
        w = np.ones_like(x)
    w = w + 1e-3  # an opponent it always beats is still met now and then
    return w / w.sum()


class League:
    """Members, roles, curriculum stage and the opponent plans (see the module doc)."""

    def __init__(
        self, league: LeagueConfig, population: PopulationConfig, curriculum: CurriculumConfig, teacher_path: str
    ):
        self.cfg, self.pop, self.curriculum = league, population, curriculum
        self.members: dict[str, Member] = {TEACHER: Member(TEACHER, "teacher", path=teacher_path)}
        for bot in SCRIPTED:
            self.members[bot] = Member(bot, "scripted")
        self.learners = league.learner_names()
        for name, role in self.learners:
            self.members[name] = Member(name, "learner", role)
        self.stage = {name: 0 for name, _ in self.learners}  # curriculum stage index
        self.stage_began = {name: 0 for name, _ in self.learners}  # update it was entered
        self.started = {name: 0 for name, _ in self.learners}  # update of the last restart

    # -- population ------------------------------------------------------------------------
    def snapshots(self) -> list[Member]:
        return [m for m in self.members.values() if m.kind == "snapshot"]

    def add_snapshot(self, learner: str, update: int, path: str) -> Member:
        member = Member(snapshot_name(learner, update), "snapshot", self.role(learner), update, path)
        self.members[member.name] = member
        old = self.snapshots()
        for drop in old[: max(len(old) - self.pop.max_members, 0)]:  # oldest first
            del self.members[drop.name]
        return member

    def role(self, learner: str) -> str:
        return dict(self.learners)[learner]

    # -- curriculum ------------------------------------------------------------------------
    def curriculum_bot(self, learner: str) -> str | None:
        """The scripted bot this learner must still beat, or None once in self-play."""
        stages = self.curriculum.stages
        if self.role(learner) != "main" or not stages:
            return None
        stage = stages[min(self.stage[learner], len(stages) - 1)]
        return None if stage == "self" else stage

    def advance_curriculum(self, learner: str, log: GameLog, update: int = 0) -> str:
        """Move to the next stage when the learner's last ``window`` games against the
        current bot pass ``threshold`` ("passed"), or once ``max_updates`` updates were
        spent in it ("timed out"); "" when it stays."""
        bot = self.curriculum_bot(learner)
        if bot is None:
            return ""
        wins, games = log.score(learner, bot, last=self.curriculum.window, kind="train")
        why = ""
        if games >= self.curriculum.window and wins / games > self.curriculum.threshold:
            why = "passed"
        elif self.curriculum.max_updates and update - self.stage_began[learner] >= self.curriculum.max_updates:
            why = "timed out"
        if why:
            self.stage[learner] += 1
            self.stage_began[learner] = update
        return why

    # -- exploiters --------------------------------------------------------------------------
    def exploiter_should_restart(self, learner: str, update: int, log: GameLog) -> bool:
        if self.role(learner) == "main":
            return False
        if update - self.started[learner] >= self.cfg.exploiter_max_updates:
            return True
        targets = self._exploiter_targets(learner)
        scores = [log.score(learner, t, last=50, kind="train") for t in targets]
        wins, games = sum(s[0] for s in scores), sum(s[1] for s in scores)
        return games >= 50 and wins / games > self.cfg.exploiter_reset_win_rate

    def restarted(self, learner: str, update: int) -> None:
        self.started[learner] = update

    def _exploiter_targets(self, learner: str) -> list[str]:
        if self.role(learner) == "main_exploiter":
            return [n for n, r in self.learners if r == "main"]
        return [
            m.name for m in self.members.values() if m.kind in ("snapshot", "teacher") and m.role != self.role(learner)
        ]

    # -- opponent plans ----------------------------------------------------------------------
    def win_rate(self, learner: str, opponent: str, log: GameLog) -> float:
        wins, games = log.score(learner, opponent, last=100, kind="train")
        return (wins + 1.0) / (games + 2.0)  # Laplace prior: unseen opponents count 50%

    def distribution(self, learner: str, log: GameLog) -> dict[str, float]:
        """Opponent name -> probability for one learner's next games."""
        bot = self.curriculum_bot(learner)
        if bot is not None:
            return {bot: 1.0}
        role = self.role(learner)
        if role == "main_exploiter":
            mains = [n for n, r in self.learners if r == "main"]
            return {n: 1.0 / len(mains) for n in mains}
        pool = [
            m.name
            for m in self.members.values()
            if m.kind in ("snapshot", "teacher") or (m.kind == "learner" and m.name != learner)
        ]
        rates = np.array([self.win_rate(learner, name, log) for name in pool])
        pfsp = dict(zip(pool, pfsp_weights(rates, self.pop.pfsp, self.pop.pfsp_power)))
        if role == "league_exploiter":
            return pfsp
        out = {learner: self.pop.latest_ratio, TEACHER: self.pop.teacher_ratio}
        for bot in self.pop.bots:
            out[bot] = out.get(bot, 0.0) + self.pop.bot_ratio / len(self.pop.bots)
        rest = max(
            1.0 - self.pop.latest_ratio - self.pop.teacher_ratio - (self.pop.bot_ratio if self.pop.bots else 0.0), 0.0
        )
        historical = {k: v for k, v in pfsp.items() if k != TEACHER}
        if not historical:  # nothing in the population yet: the rest goes to the latest self
            out[learner] += rest
        else:
            total = sum(historical.values())
            for name, w in historical.items():
                out[name] = out.get(name, 0.0) + rest * w / total
        total = sum(out.values())
        return {k: v / total for k, v in out.items() if v > 0}

    def plan(self, learner: str, log: GameLog, rng: np.random.Generator) -> dict[str, float]:
        """At most ``opponent_slots`` opponents drawn from the distribution, weighted by
        how often each was drawn (the latest self and the teacher keep their shares)."""
        dist = self.distribution(learner, log)
        names = list(dist)
        if len(names) <= self.pop.opponent_slots:
            return dist
        p = np.array([dist[n] for n in names])
        draws = rng.choice(len(names), size=self.pop.opponent_slots, p=p)
        counts = np.bincount(draws, minlength=len(names))
        chosen = {names[i]: counts[i] / counts.sum() for i in np.flatnonzero(counts)}
        return chosen

    # -- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "members": [list(asdict(m).values()) for m in self.members.values()],
            "stage": dict(self.stage),
            "started": dict(self.started),
            "stage_began": dict(self.stage_began),
        }

    def load_state_dict(self, state: dict) -> None:
        self.members = {row[0]: Member(*row) for row in state["members"]}
        self.stage, self.started = dict(state["stage"]), dict(state["started"])
        self.stage_began = dict(state.get("stage_began", {n: 0 for n in self.stage}))
