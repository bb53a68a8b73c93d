"""Simulator throughput: env frames per second at N games in one process, one thread,
with the cost split (physics, hit detection, observation, the rest of ``env.step``),
beside the plain-Python reference step (the baseline, same run) and the batched policy
inference that self-play adds per frame.

    .venv/bin/python benchmarks/sim.py [--games 1 64 1024 4096] [--frames 300] [--json PATH]

Times are CPU seconds of this process (``time.process_time``; the machine is shared, so
wall time would count other people's work); wall-clock figures are in the JSON too.
melee-sim-light reports about 120k frames/s per core for its (ISO-extracted, far less
faithful) simulation; the goal here is 1,000,000 frames/s at N = 4096.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from common import RESULTS, machine, write_json

MELEE_SIM_LIGHT_PER_CORE = 120_000


def cpu_time(fn, repeats: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call of ``fn``, the mean of ``repeats`` calls."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.process_time() - cpu) / repeats, (time.perf_counter() - wall) / repeats


def sticky_tape(n: int, steps: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tape = rng.uniform(-1, 1, (steps, n, 2, 13)).astype(np.float32)
    tape[..., 4:] = tape[..., 4:] > 0.85
    return tape


def measure(n: int, frames: int) -> dict:
    from workbench.sim import make_env
    from workbench.sim.hits import end_kernel, hits_kernel, physics_kernel

    env = make_env(num_games=n, characters=("fox", "marth"), jit=True)
    tape = sticky_tape(n)
    env.reset()
    for k in range(64):  # compile (or load the cache) and leave the start position
        env.step(tape[k])
    counter = iter(range(10**9))
    step_cpu, step_wall = cpu_time(lambda: env.step(tape[next(counter) % 64]), frames)
    d, s = env.data, env.state
    ctrl = tape[0]

    def physics() -> None:
        physics_kernel(s.pf, s.pi, s.gi, ctrl, *d.physics_tables, env.stage_array)

    def hits() -> None:
        hits_kernel(s.pf, s.pi, s.gi, d.chars, d.hitboxes, d.first_frame)

    def end() -> None:
        end_kernel(s.pf, s.pi, s.gi, env.stage_array, env.max_frames)

    for kernel in (physics, hits, end):
        kernel()  # compile (or load) the split kernels outside the timing
    physics_s, hits_s, end_s = (cpu_time(kernel, frames)[0] for kernel in (physics, hits, end))
    observe = cpu_time(env.observe, frames)[0]
    return {
        "games": n,
        "frames": frames,
        "frames_per_s": n / step_cpu,
        "frames_per_wall_s": n / step_wall,
        "us_per_step": step_cpu * 1e6,
        "physics_us": physics_s * 1e6,
        "hits_us": hits_s * 1e6,
        "end_us": end_s * 1e6,
        "observe_us": observe * 1e6,
        "other_us": max(step_cpu - physics_s - hits_s - end_s - observe, 0.0) * 1e6,
    }


def reference(n: int, frames: int) -> float:
    """The plain-Python step's frames/s (the baseline)."""
    from workbench.sim import make_env

    env = make_env(num_games=n, characters=("fox", "marth"), jit=False)
    tape = sticky_tape(n)
    env.reset()
    counter = iter(range(10**9))
    cpu, _ = cpu_time(lambda: env.step(tape[next(counter) % 64]), frames)
    return n / cpu


def policy_cost(n: int, repeats: int = 5) -> dict:
    """Per-frame cost of embedding N frames and one batched GRU 256x2 step (torch, one thread)."""
    import torch

    from workbench.embed import EmbedConfig, StateLayout, embed_state
    from workbench.models.policy import Policy
    from workbench.sim import make_env

    torch.set_num_threads(1)
    env = make_env(num_games=n, jit=True)
    obs = env.reset()
    policy = Policy(EmbedConfig()).eval()
    layout = StateLayout(EmbedConfig())
    state = policy.initial_state(n)
    controller = torch.zeros(n, 13)
    embed_cpu, _ = cpu_time(lambda: embed_state(obs.context(0), layout), repeats)
    floats, ids = (torch.as_tensor(a) for a in embed_state(obs.context(0), layout))
    with torch.no_grad():
        policy.step(floats, ids, controller, state)
        step_cpu, _ = cpu_time(lambda: policy.step(floats, ids, controller, state), repeats)
    return {"embed_us_per_frame": embed_cpu / n * 1e6, "gru256x2_us_per_frame": step_cpu / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--no-policy", action="store_true")
    parser.add_argument("--json", default=str(RESULTS / "sim.json"))
    args = parser.parse_args()
    base = reference(64, 20)
    rows = []
    print(
        f"{'N':>5} {'frames/s':>11} {'x ref':>7} {'x msl':>6} {'step us':>9} {'physics':>8} "
        f"{'hits':>7} {'end':>6} {'obs':>7} {'other':>7} {'embed/f':>8} {'gru/f':>8}"
    )
    for n in args.games:
        row = measure(n, max(20, args.frames if n >= 64 else args.frames * 10))
        row["x_reference"] = row["frames_per_s"] / base
        row["x_melee_sim_light"] = row["frames_per_s"] / MELEE_SIM_LIGHT_PER_CORE
        if not args.no_policy:
            row.update(policy_cost(n))
        rows.append(row)
        print(
            f"{n:>5} {row['frames_per_s']:>11,.0f} {row['x_reference']:>7.0f} {row['x_melee_sim_light']:>6.2f} "
            f"{row['us_per_step']:>9.1f} {row['physics_us']:>8.1f} {row['hits_us']:>7.1f} {row['end_us']:>6.1f} "
            f"{row['observe_us']:>7.1f} {row['other_us']:>7.1f} {row.get('embed_us_per_frame', 0):>8.2f} "
            f"{row.get('gru256x2_us_per_frame', 0):>8.2f}"
        )
    print(
        f"baseline: plain-Python reference step {base:,.0f} frames/s (N=64); "
        f"melee-sim-light reports {MELEE_SIM_LIGHT_PER_CORE:,} frames/s per core"
    )
    load = os.getloadavg()[0]
    write_json(args.json, {"rows": rows, "reference_frames_per_s": base, "machine": machine(load_1min=load)})


if __name__ == "__main__":
    main()
