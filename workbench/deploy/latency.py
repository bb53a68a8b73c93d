"""``workbench bench-latency``: per-frame latency of the whole bot loop on one thread.

A replay is played through libmelee's file console once; its in-game frames are then
fed to an :class:`~workbench.deploy.agent.Agent` in a loop (the game restarts, and the
agent resets, when the replay runs out) for ``frames`` timed frames. Each frame's time
covers embedding the ``GameState``, the onnxruntime step (one intra-op and one inter-op
thread, sequential) and decoding to a ``ControllerState``; the breakdown gives each part
(``embed_row``, libmelee to player blocks, is the first part of ``embed``).

Two clocks per frame: wall time (``p50_ms``/``p99_ms``, what a game loop waits) and the
thread's CPU time (``cpu``: what the frame itself costs; on a busy machine the wall p99
is mostly time the thread spent descheduled, which the CPU clock leaves out).
``benchmarks/deploy.py`` calls the same :func:`bench_interleaved`, so the CLI and the
README's table time the same frame.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from workbench.deploy.agent import Agent
from workbench.deploy.errors import DeployError, require
from workbench.deploy.runtime import OnnxPolicy

DEFAULT_REPLAY = Path(__file__).resolve().parents[2] / "data" / "replays" / "games" / "Walnut356-falcon_throws.slp"


def replay_states(path: str | Path) -> list:
    """Every ``GameState`` of a replay, as libmelee's file console shows them."""
    melee = require("melee", "melee")
    path = Path(path)
    if not path.is_file():
        raise DeployError(f"no replay at {path}: give --replay FILE.slp")
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # libmelee warns about every unknown event
    try:
        console = melee.Console(path=str(path), is_dolphin=False)
        console.connect()
        states = []
        while (state := console.step()) is not None:
            states.append(state)
    except Exception as err:  # libmelee raises its own types (e.g. SlippiVersionTooLow)
        raise DeployError(f"libmelee cannot play {path}: {type(err).__name__} {err}") from None
    finally:
        logging.disable(previous)
    if not states:
        raise DeployError(f"{path} has no frames libmelee can read")
    return states


def _stats(values_ns: np.ndarray) -> dict:
    ms = values_ns / 1e6
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
    }


def bench_latency(
    model: str | Path,
    replay: str | Path | None = None,
    frames: int = 10_000,
    warmup: int = 300,
    states: list | None = None,
) -> dict:
    """p50/p99 per-frame latency of the agent loop, with an embed/model/decode breakdown."""
    states = states if states is not None else replay_states(replay or DEFAULT_REPLAY)
    return bench_interleaved({"model": model}, states, frames, warmup)["model"]


def checkpoint_latency(checkpoint: str | Path, frames: int = 2000, replay: str | Path | None = None) -> dict:
    """:func:`bench_latency` of a checkpoint's fused fp32 export (written to a temporary
    folder): the bot frame a sweep arm reports beside its accuracy."""
    import tempfile

    from workbench.deploy.export import export_checkpoint

    with tempfile.TemporaryDirectory(prefix="workbench-latency-") as folder:
        model = Path(folder) / "bot.onnx"
        export_checkpoint(checkpoint, model)
        return bench_latency(model, replay, frames=frames, warmup=min(300, frames))


def bench_interleaved(
    models: dict[str, str | Path], states: list, frames: int = 10_000, warmup: int = 300, block: int = 500
) -> dict[str, dict]:
    """:func:`bench_latency` for several models at once, taking turns every ``block``
    frames, so that a busy machine's slow spells fall on every model alike."""
    in_game = [s for s in states if s.frame >= 0 and len(s.players) >= 2]
    if not in_game:
        raise DeployError("the replay has no in-game frames with two players")
    agents = {}
    for name, path in models.items():
        policy = OnnxPolicy(path)
        agents[name] = (policy, Agent(policy, port=sorted(in_game[0].players)[0]))
    names = ("total", "cpu", "embed", "model", "decode", "embed_row")
    parts = {name: {k: np.zeros(frames, np.int64) for k in names} for name in models}
    # the replay's thousands of GameStates are not what a live bot holds: keep the garbage
    # collector from rescanning them during the timed loop
    gc.collect()
    gc.freeze()
    try:
        for _, agent in agents.values():
            _timed_loop(agent, in_game, 0, warmup, None)
        for start in range(0, frames, block):
            for name, (_, agent) in agents.items():
                _timed_loop(agent, in_game, start, min(block, frames - start), parts[name])
    finally:
        gc.unfreeze()
    return {name: _result(models[name], policy, agent, parts[name], frames) for name, (policy, agent) in agents.items()}


def _result(model, policy: OnnxPolicy, agent: Agent, parts: dict, frames: int) -> dict:
    cpu = _stats(parts["cpu"])
    return {
        "model": str(model),
        "quantization": policy.sidecar.quantization.get("mode", "none"),
        "backbone": policy.sidecar.policy_config.get("backbone", {}),
        "nodes": policy.sidecar.graph.get("nodes"),
        "frames": frames,
        "threads": 1,
        "loadavg": list(os.getloadavg()),
        "warnings": dict(agent.warnings),
        **_stats(parts["total"]),
        "cpu_p50_ms": cpu["p50_ms"],
        "cpu_p99_ms": cpu["p99_ms"],
        "breakdown": {k: _stats(v) for k, v in parts.items() if k not in ("total", "cpu")},
    }


def _timed_loop(agent: Agent, states: list, first: int, count: int, parts: dict | None) -> None:
    """Step ``agent`` over frames ``first .. first + count`` of ``states`` (looped) and
    record each frame's times in ``parts`` (None: warm-up, not recorded)."""
    for k in range(first, first + count):
        state = states[k % len(states)]
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        agent.step(state)
        took, took_cpu = time.perf_counter_ns() - start, time.thread_time_ns() - start_cpu
        if parts is not None:
            parts["total"][k], parts["cpu"][k] = took, took_cpu
            for name, value in agent.timing.items():
                parts[name][k] = value


def profile_ops(model: str | Path, states: list, frames: int = 500) -> list[dict]:
    """onnxruntime's per-node profile of the model over ``frames`` frames, summed by op
    type: [{op, us_per_frame, nodes}], slowest first (profiling inflates the absolute
    numbers; the shares are what it tells)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        policy = OnnxPolicy(model, profile_prefix=str(Path(tmp) / "ort"))
        in_game = [s for s in states if s.frame >= 0 and len(s.players) >= 2]
        agent = Agent(policy, port=sorted(in_game[0].players)[0])
        for k in range(frames):
            agent.step(in_game[k % len(in_game)])
        events = json.loads(Path(policy.session.end_profiling()).read_text())
    total, count = defaultdict(float), defaultdict(int)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            total[event["args"]["op_name"]] += event["dur"]
            count[event["args"]["op_name"]] += 1
    played = max(agent.frames_played, 1)
    return sorted(
        ({"op": op, "us_per_frame": us / played, "nodes": count[op] // played} for op, us in total.items()),
        key=lambda row: -row["us_per_frame"],
    )


def format_latency(result: dict) -> str:
    nodes = f", {result['nodes']} graph nodes" if result.get("nodes") else ""
    lines = [
        f"{result['model']} ({result['quantization']}{nodes}): {result['frames']:,} frames, "
        f"p50 {result['p50_ms']:.3f} ms, p99 {result['p99_ms']:.3f} ms per frame "
        f"(one thread; load average {result['loadavg'][0]:.2f})",
        f"  thread CPU time p50 {result['cpu_p50_ms']:.3f} ms, p99 {result['cpu_p99_ms']:.3f} ms "
        "(the frame's own cost; wall minus CPU is time the machine gave to others)",
    ]
    for part, stats in result["breakdown"].items():
        lines.append(
            f"  {part:9s} p50 {stats['p50_ms']:.3f} ms  p99 {stats['p99_ms']:.3f} ms  mean {stats['mean_ms']:.3f} ms"
        )
    if result.get("warnings"):
        lines.append(f"  warnings: {result['warnings']}")
    return "\n".join(lines)
