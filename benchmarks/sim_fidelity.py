"""The simulator against real games: launch speed, launch angle and hitstun of every real
hit of a simulated attack (Slippi 3.5+), and jump take-off speed, jump rise and first dash
speed, each beside the table value the simulator uses.

    .venv/bin/python benchmarks/sim_fidelity.py [REPLAYS ...] [--json PATH]

The baseline beside the launch-speed error: predicting every hit's launch speed as the
mean measured one (what a simulator that ignores damage, percent and weight could do).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from common import DEFAULT_REPLAYS, RESULTS, machine, write_json


def main() -> None:
    from workbench.replay import ReplayError, find_replays, read_replay
    from workbench.sim.fidelity import jump_measurements, real_hits, summarize_hits, summarize_moves
    from workbench.sim.tables import load_game_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("replays", nargs="*", default=[str(DEFAULT_REPLAYS)])
    parser.add_argument("--json", default=str(RESULTS / "sim_fidelity.json"))
    args = parser.parse_args()
    data = load_game_data()
    hits, moves, games = [], [], 0
    for path in find_replays(args.replays):
        try:
            table = read_replay(path)
        except ReplayError:
            continue
        games += 1
        hits += real_hits(table, data)
        moves += jump_measurements(table, data)
    summary, movement = summarize_hits(hits), summarize_moves(moves)
    # baseline: a launch speed that ignores percent, damage and weight (the mean measured speed)
    measured = np.array([h.speed for h in hits])
    base = float(np.median(np.abs(measured.mean() - measured) / np.maximum(measured, 1e-6))) if hits else math.nan
    summary["baseline_speed_rel_err_median"] = base
    print(f"{games} games, {summary['hits']} real hits of simulated attacks")
    print(
        f"  launch speed  median rel err {summary['speed_rel_err_median']:.4f} (p90 {summary['speed_rel_err_p90']:.3f}); "
        f"baseline (mean speed for every hit) {base:.3f}"
    )
    print(
        f"  launch angle  median err {summary['angle_err_deg_median']:.2f} deg (p90 {summary['angle_err_deg_p90']:.1f}) "
        f"over {summary['angle_hits']} airborne launches"
    )
    print(
        f"  hitstun       median err {summary['hitstun_err_frames_median']:.1f} frames (p90 "
        f"{summary['hitstun_err_frames_p90']:.1f}); exact on {summary['hitstun_exact_share']:.1%}"
    )
    for what, row in movement.items():
        extra = f", rise median err {row['rise_abs_err_median']:.4f}" if "rise_abs_err_median" in row else ""
        print(f"  {what:10s} n={row['n']:5d} speed median err {row['speed_abs_err_median']:.4f}{extra}")
    write_json(args.json, {"games": games, "hits": summary, "movement": movement, "machine": machine()})


if __name__ == "__main__":
    main()
