"""``workbench sim run`` (matches between two players, results and stored games) and
``workbench sim bench`` (env frames per second)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.sim.env import DEFAULT_MAX_FRAMES, SimEnv, SimError
from workbench.sim.state import F_DAMAGE_DEALT, F_X, G_DONE, I_KOS


def wilson_interval(successes: float, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class MatchConfig:
    p1: str = "heuristic"
    p2: str = "random"
    games: int = 100
    stage: str = "fd"
    characters: tuple[str, str] = ("fox", "fox")
    seed: int = 0
    max_frames: int = DEFAULT_MAX_FRAMES
    parallel: int = 64  # games simulated at once
    store: bool = True  # write each game to DIR/store as Parquet
    sample: bool = False  # trained players draw from their policies (else argmax)
    jit: bool | None = None  # the compiled step (None: WORKBENCH_SIM_JIT, default on)
    progress: bool = True


def run_matches(config: MatchConfig, out: str | Path | None = None) -> dict:
    """Play ``config.games`` games; returns (and writes to ``out/results.json``) the
    results of :func:`summarize`, and stores every game under ``out/store``."""
    from workbench.sim.bots import make_bot
    from workbench.sim.record import GameRecorder, write_games

    if config.games < 1:
        raise SimError(f"--games must be at least 1, got {config.games}")
    n = min(config.games, max(1, config.parallel))
    env = SimEnv(n, tuple(config.characters), config.stage, config.seed, config.max_frames, jit=config.jit)
    edge = float(env.stage_array[5])
    bots = [
        make_bot(config.p1, config.seed, edge, sample=config.sample),
        make_bot(config.p2, config.seed + 1, edge, sample=config.sample),
    ]
    recorder = GameRecorder(n, env.stage, (config.p1, config.p2)) if out is not None and config.store else None
    obs = env.reset()
    results, tables = [], []
    bar = _progress(config.games, config.progress)
    while len(results) < config.games:
        ctrl = np.stack([bots[0].act(obs, 0), bots[1].act(obs, 1)], axis=1)  # (N, 2, 13)
        obs, _, done, info = env.step(ctrl)
        if recorder is not None:
            recorder.add(obs)
        if not done.any():
            continue
        final = info["final"]
        for k, g in enumerate(final["games"]):
            if len(results) >= config.games:
                break
            winner, frames = int(final["winner"][k]), int(final["frames"][k])
            results.append(
                {
                    "winner": winner,
                    "frames": frames,
                    "kos": final["kos"][k].tolist(),
                    "damage": env.state.pf[g, :, F_DAMAGE_DEALT].tolist(),
                    "stocks": final["stocks"][k].tolist(),
                }
            )
            if recorder is not None:
                tables.append(recorder.table(int(g), winner, frames >= config.max_frames))
            bar.update(1)
        games = final["games"]
        for bot in bots:
            bot.reset(games)
        if recorder is not None:
            recorder.restart(games)
            recorder.trim()
    bar.close()
    summary = summarize(results, config)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        if tables:
            write_games(out / "store", tables, salt=f"{config.p1}-{config.p2}-{config.seed}")
        (out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


def simulated_game(
    p1: str,
    p2: str,
    out: str | Path,
    max_frames: int = 600,
    stage: str = "fd",
    characters: tuple[str, str] = ("fox", "fox"),
    seed: int = 0,
    sample: bool = True,
    jit: bool | None = None,
):
    """One short game of ``p1`` against ``p2`` (specs as ``sim run`` takes them), stored
    under ``out/store`` and read back as a :class:`GameTable` from the frame store, for
    drawing with ``workbench.viz`` like any replay."""
    from workbench.replay.store import FrameStore

    run_matches(
        MatchConfig(
            p1,
            p2,
            games=1,
            stage=stage,
            characters=characters,
            seed=seed,
            max_frames=max_frames,
            parallel=1,
            progress=False,
            sample=sample,
            jit=jit,
        ),
        out,
    )
    store = FrameStore(Path(out) / "store")
    return store.load(store.games()[-1]["md5"])


def summarize(results: list[dict], config: MatchConfig) -> dict:
    """results.json: counts, p1's win rate (wins / games; a draw is not a win) with its
    Wilson 95% interval, stocks taken and damage dealt per minute of game time."""
    games = len(results)
    p1 = sum(r["winner"] == 0 for r in results)
    p2 = sum(r["winner"] == 1 for r in results)
    frames = sum(r["frames"] for r in results)
    minutes = max(frames, 1) / 3600.0
    kos = np.array([r["kos"] for r in results], float).sum(0)
    damage = np.array([r["damage"] for r in results], float).sum(0)
    lo, hi = wilson_interval(p1, games)
    return {
        "games": games,
        "p1_wins": int(p1),
        "p2_wins": int(p2),
        "draws": int(games - p1 - p2),
        "p1_win_rate": p1 / games,
        "p1_win_rate_ci95": [round(lo, 4), round(hi, 4)],
        "stocks_taken_per_min": [round(float(kos[0]) / minutes, 4), round(float(kos[1]) / minutes, 4)],
        "damage_per_min": [round(float(damage[0]) / minutes, 3), round(float(damage[1]) / minutes, 3)],
        "frames": int(frames),
        "p1": config.p1,
        "p2": config.p2,
        "stage": config.stage,
        "characters": list(config.characters),
        "seed": config.seed,
        "max_frames": config.max_frames,
        "sample": config.sample,
    }


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="game", desc="sim run", disable=not enabled)


def bench(
    games: int, frames: int, characters: tuple[str, str] = ("fox", "fox"), stage: str = "fd", seed: int = 0
) -> dict:
    """Env frames per second (games x frames / s) of the compiled step on one thread,
    with sticky random controllers; the first (compiling) step is not timed."""
    env = SimEnv(games, characters, stage, seed, max_frames=DEFAULT_MAX_FRAMES)
    rng = np.random.default_rng(seed)
    tape = rng.uniform(-1, 1, (64, games, 2, 13)).astype(np.float32)
    tape[..., 4:] = tape[..., 4:] > 0.85
    env.reset()
    compile_start = time.perf_counter()
    env.step(tape[0])
    compile_s = time.perf_counter() - compile_start
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(frames):
        env.step(tape[i % 64])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "frames_per_s": games * frames / wall,
        "frames_per_cpu_s": games * frames / max(cpu, 1e-9),
        "games": games,
        "frames": frames,
        "wall_s": wall,
        "cpu_s": cpu,
        "first_step_s": compile_s,
        "characters": list(characters),
        "stage": stage,
        "jit": env.jit,
        "games_finished": int((env.state.gi[:, G_DONE] != 0).sum()),
        "mean_kos": float(env.state.pi[:, :, I_KOS].mean()),
        "x_spread": float(np.std(env.state.pf[:, :, F_X])),
    }
