"""The self-play run: learners, their arenas, the league, checkpoints and resume.

``run_selfplay(cfg)`` loops until the time budget or update count is spent: each
learner in turn collects one rollout in its arena and makes one PPO update; the league
is told the games' results (ratings, curriculum, exploiter restarts), snapshots join
the population every K updates, and every ``checkpoint_every`` updates the whole run
is saved so that ``resume=True`` continues exactly where it stopped (CPU: the same
weights as an uninterrupted run, tested).

Run folder (``cfg.out``)::

    selfplay.json          the resolved config
    checkpoints/step-*/    the main agent in the BC checkpoint format (eval, export and
                           play take it); trainer.pt holds everything needed to resume
    population/<member>/   snapshots (BC checkpoint format)
    games.parquet          the game log: who played whom, result, stocks, damage
    metrics.jsonl, tensorboard/
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from workbench.errors import WorkbenchError
from workbench.selfplay.actor import PolicyActor
from workbench.selfplay.config import SelfPlayConfig
from workbench.selfplay.league import TEACHER, League
from workbench.selfplay.learner import Learner
from workbench.selfplay.ratings import GameLog, elo_ratings, openskill_ratings
from workbench.selfplay.rollout import SCRIPTED, Arena

TRAINER_VERSION = 1


class SelfPlayRun:
    def __init__(self, cfg: SelfPlayConfig, progress: bool = True):
        from workbench.train.checkpoint import CheckpointWriter, load_policy

        if not cfg.init:
            raise WorkbenchError("selfplay needs --init: a BC checkpoint or run folder to start from")
        self.cfg, self.out = cfg, Path(cfg.out)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        teacher, self.bc_config, self.teacher_folder = load_policy(cfg.init)
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher = teacher
        self.league = League(cfg.league, cfg.population, cfg.curriculum, str(self.teacher_folder))
        n = cfg.rollout.num_games
        self.learners = {name: Learner(name, role, teacher, cfg.ppo, n) for name, role in self.league.learners}
        self.arenas = {
            name: self._arena(name, learner, cfg.seed + 1000 * k)
            for k, (name, learner) in enumerate(self.learners.items())
        }
        self.log = GameLog()
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.update, self.frames, self.elapsed = 0, 0, 0.0
        self.snapshots: dict[str, PolicyActor] = {}
        self.out.mkdir(parents=True, exist_ok=True)
        self.writer = CheckpointWriter(self.out / "checkpoints", keep_last=cfg.keep_last)
        self.progress = progress

    def _arena(self, name: str, learner: Learner, seed: int):
        """The learner's games: here, or sharded over worker processes / Ray actors."""
        from workbench.selfplay.env import make_game_env
        from workbench.selfplay.workers import ShardedArena

        r = self.cfg.rollout
        if r.workers or r.ray:
            return ShardedArena(self.cfg, name, r.num_games, seed, max(r.workers, 1), r.ray)
        return Arena(make_game_env(self.cfg, r.num_games, seed), name, learner.actor, r.delay, r.learner_side, seed)

    def close(self) -> None:
        for arena in self.arenas.values():
            getattr(arena, "close", lambda: None)()

    # -- opponents -------------------------------------------------------------------------
    def _actor(self, name: str) -> PolicyActor:
        from workbench.train.checkpoint import load_policy

        if name in self.learners:
            return self.learners[name].actor
        if name == TEACHER:
            return self.learners[next(iter(self.learners))].teacher
        if name not in self.snapshots:
            policy, _, _ = load_policy(self.league.members[name].path)
            self.snapshots[name] = PolicyActor(policy)
        return self.snapshots[name]

    def _opponents(self, arena: Arena, plan: dict[str, float]) -> dict[str, PolicyActor]:
        needed = (set(plan) | set(arena.opponent)) - set(SCRIPTED)
        for stale in set(self.snapshots) - needed - {n for a in self.arenas.values() for n in a.opponent}:
            del self.snapshots[stale]  # keep memory to what is played
        return {name: self._actor(name) for name in needed}

    # -- one round: every learner collects and updates once ---------------------------------
    def step(self) -> dict[str, float]:
        cfg = self.cfg
        metrics: dict[str, float] = {}
        total = cfg.max_updates or 0
        for name, learner in self.learners.items():
            arena = self.arenas[name]
            plan = self.league.plan(name, self.log, self.rng)
            began = time.perf_counter()
            if isinstance(arena, Arena):
                rollout, records, stats = arena.collect(
                    learner.actor, self._opponents(arena, plan), plan, cfg.rollout.steps, self.update
                )
            else:  # workers load snapshots from their folders; live learners' weights travel
                paths = {m.name: m.path for m in self.league.members.values() if m.path}
                live = {n: self.learners[n].actor for n in plan if n in self.learners}
                rollout, records, stats = arena.collect(
                    learner.actor, live, plan, cfg.rollout.steps, self.update, paths=paths
                )
            collected = time.perf_counter()
            for record in records:
                self.log.add(record)
            factor = 1.0 - self.update / total if cfg.ppo.anneal_lr and total else 1.0
            out = learner.update(rollout, self.generator, factor)
            learned = time.perf_counter()
            self.frames += stats.frames
            out.update(
                {
                    "selfplay/env_frames_per_s": stats.frames / max(stats.env_s, 1e-9),
                    "selfplay/rollout_frames_per_s": stats.frames / max(collected - began, 1e-9),
                    "selfplay/learner_frames_per_s": stats.frames / max(learned - collected, 1e-9),
                    "selfplay/time_env": stats.env_s,
                    "selfplay/time_embed": stats.embed_s,
                    "selfplay/time_inference": stats.policy_s,
                    "selfplay/time_learn": learned - collected,
                    "selfplay/games_finished": len(records),
                    "selfplay/reward_mean": float(rollout.rewards.mean()),
                }
            )
            self._league_after(name, learner)
            prefix = "" if name == "main-0" else f"{name}/"
            metrics.update({prefix + k: v for k, v in out.items()})
        self.update += 1
        metrics.update(self._ratings())
        return metrics

    def _league_after(self, name: str, learner: Learner) -> None:
        why = self.league.advance_curriculum(name, self.log, self.update + 1)
        if why:
            self.log_line(
                f"{name}: curriculum {why} at update {self.update + 1} -> "
                f"{self.league.curriculum_bot(name) or 'self-play'}"
            )
        if self.league.exploiter_should_restart(name, self.update, self.log):
            learner.restart_from_teacher()
            self.league.restarted(name, self.update)
        if (self.update + 1) % self.cfg.population.snapshot_every == 0:
            folder = self.out / "population" / f"{name}@{self.update + 1:08d}"
            self._save_policy(folder, learner.actor.policy.state_dict())
            self.league.add_snapshot(name, self.update + 1, str(folder))

    def _save_policy(self, folder: Path, weights: dict) -> None:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in weights.items()}, str(folder / "model.safetensors"))
        meta = {"version": 1, "step": self.update + 1, "config": self.bc_config.to_dict()}
        (folder / "config.json").write_text(json.dumps(meta, indent=1))

    def _ratings(self) -> dict[str, float]:
        """The main agent's ratings and recent win rates (train games)."""
        out = {}
        elo = elo_ratings(self.log)
        skill = openskill_ratings(self.log)
        if "main-0" in elo:
            out["selfplay/elo"] = elo["main-0"]
        if "main-0" in skill:
            mu, sigma = skill["main-0"]
            out["selfplay/rating"], out["selfplay/rating_sigma"] = mu - 3 * sigma, sigma
        for opponent in (TEACHER, *SCRIPTED):
            wins, games = self.log.score("main-0", opponent, last=200, kind="train")
            if games:
                out[f"selfplay/win_rate_vs_{opponent}"] = wins / games
        return out

    def evaluate(self) -> dict[str, float]:
        """Fresh games of the main agent against each of ``eval_opponents`` (the teacher
        and the heuristic bot by default; their own seeds, so training draws no
        differently); the games join the log as ``kind="eval"``."""
        from workbench.selfplay.evaluate import play_match

        main = self.learners["main-0"]
        out = {}
        for k, name in enumerate(self.cfg.eval_opponents):
            opponent = (TEACHER, main.teacher) if name == TEACHER else name
            r = play_match(
                ("main-0", main.actor),
                opponent,
                games=self.cfg.eval_games,
                characters=tuple(self.cfg.characters),
                stage=self.cfg.stage,
                max_frames=self.cfg.rollout.max_frames,
                delay=self.cfg.rollout.delay,
                seed=self.cfg.seed + 7 + self.update + 100_003 * k,
                jit=self.cfg.jit,
                log=self.log,
            )
            lo, hi = r.win_rate_ci95
            out.update(
                {
                    f"selfplay/eval_win_rate_vs_{name}": r.win_rate,
                    f"selfplay/eval_win_rate_vs_{name}_lo": lo,
                    f"selfplay/eval_win_rate_vs_{name}_hi": hi,
                }
            )
            self.log_line(f"update {self.update}: {r.line()}")
        return out

    def log_line(self, text: str) -> None:
        """Rare events (curriculum moves, in-loop evaluations): printed also without a
        progress bar, so a nohup log has them."""
        print(text, flush=True)

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "version": TRAINER_VERSION,
            "update": self.update,
            "frames": self.frames,
            "elapsed": self.elapsed,
            "config": self.cfg.to_dict(),
            "learners": {n: l.state_dict() for n, l in self.learners.items()},
            "arenas": {n: a.state_dict() for n, a in self.arenas.items()},
            "league": self.league.state_dict(),
            "log": self.log.to_state(),
            "generator": self.generator.get_state(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.update, self.frames, self.elapsed = state["update"], state["frames"], state["elapsed"]
        for name, learner in self.learners.items():
            learner.load_state_dict(state["learners"][name])
        for name, arena in self.arenas.items():
            arena.load_state_dict(state["arenas"][name])
        self.league.load_state_dict(state["league"])
        self.log = GameLog.from_state(state["log"])
        self.generator.set_state(state["generator"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])

    def save(self, blocking: bool = False) -> Path:
        main = self.learners["main-0"].actor.policy
        path = self.writer.save(
            self.update, main.state_dict(), self.bc_config.to_dict(), self.state_dict(), blocking=blocking
        )
        self.log.save(self.out / "games.parquet")
        return path

    def resume(self) -> bool:
        from workbench.train.checkpoint import list_checkpoints

        found = list_checkpoints(self.out / "checkpoints")
        if not found:
            return False
        state = torch.load(found[-1] / "trainer.pt", weights_only=True)
        if state.get("version", 0) != TRAINER_VERSION:
            raise WorkbenchError(
                f"{found[-1]}: self-play state version {state.get('version')} is not "
                f"{TRAINER_VERSION}; start a new run folder"
            )
        self.load_state_dict(state)
        return True


def run_selfplay(cfg: SelfPlayConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train until ``time_budget`` seconds or ``max_updates``; returns the last metrics
    and where the final checkpoint is."""
    from workbench.train.run_log import RunLog

    run = SelfPlayRun(cfg, progress)
    if resume and run.resume():
        print(f"resumed at update {run.update} ({run.frames:,} frames)", flush=True)
    (run.out / "selfplay.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    total = cfg.max_updates or 10**9
    budget_bar = bool(cfg.time_budget and not cfg.max_updates)  # the bar counts seconds then
    log = RunLog(
        run.out,
        int(cfg.time_budget) if budget_bar else cfg.max_updates,
        int(run.elapsed) if budget_bar else run.update,
        progress=progress,
        desc="selfplay",
        unit="s" if budget_bar else "update",
    )
    began, metrics = time.perf_counter() - run.elapsed, {}
    while run.update < total:
        metrics = run.step()
        run.elapsed = time.perf_counter() - began
        metrics["selfplay/frames"] = run.frames
        if cfg.eval_games and run.update % cfg.eval_every == 0:
            metrics.update(run.evaluate())
        log.log(run.update, metrics)
        log.progress(
            int(run.elapsed) if budget_bar else run.update,
            metrics.get("losses/policy_loss", 0.0),
            f"vs teacher {metrics.get('selfplay/win_rate_vs_teacher', float('nan')):.2f}",
        )
        out_of_time = cfg.time_budget and run.elapsed >= cfg.time_budget
        if run.update % cfg.checkpoint_every == 0 or out_of_time or run.update >= total:
            run.save()
        if out_of_time:
            break
    run.writer.wait()
    run.close()
    log.close()
    final = run.out / "checkpoints" / f"step-{run.update:08d}"
    return {
        "update": run.update,
        "frames": run.frames,
        "seconds": round(run.elapsed, 1),
        "checkpoint": str(final),
        "metrics": metrics,
    }
