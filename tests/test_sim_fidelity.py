"""The simulator's physics against real games: hits (launch speed, angle, hitstun),
jumps and dashes in the bundled replays must agree within the stated bounds (the
benchmark `benchmarks/sim_fidelity.py` reports the same errors on the 44 shared games)."""

from __future__ import annotations

import pytest

from conftest import DATA, SHARED
from workbench.replay import ReplayError, find_replays, read_replay
from workbench.sim.fidelity import jump_measurements, real_hits, summarize_hits, summarize_moves
from workbench.sim.tables import load_game_data

# the bounds the README states for the simulator's fidelity
SPEED_MEDIAN_REL = 0.03  # launch speed, median relative error
ANGLE_MEDIAN_DEG = 1.0  # launch angle, median error (airborne launches)
HITSTUN_MEDIAN_FRAMES = 1.0  # hitstun, median error
MOVE_MEDIAN = 0.01  # jump take-off and dash speeds, jump rise (world units)


def measure(folder):
    data = load_game_data()
    hits, moves = [], []
    for path in find_replays([folder]):
        try:
            table = read_replay(path)
        except ReplayError:
            continue
        hits += real_hits(table, data)
        moves += jump_measurements(table, data)
    return summarize_hits(hits), summarize_moves(moves)


def check(hits, moves, min_hits):
    assert hits["hits"] >= min_hits and hits["angle_hits"] >= min_hits // 2
    assert hits["speed_rel_err_median"] < SPEED_MEDIAN_REL
    assert hits["angle_err_deg_median"] < ANGLE_MEDIAN_DEG
    assert hits["hitstun_err_frames_median"] <= HITSTUN_MEDIAN_FRAMES
    for what in ("dash", "full_hop", "short_hop"):
        assert moves[what]["n"] >= 10 and moves[what]["speed_abs_err_median"] < MOVE_MEDIAN, what
    for what in ("full_hop", "short_hop"):
        assert moves[what]["rise_abs_err_median"] < MOVE_MEDIAN, what


def test_fidelity_on_the_bundled_replays():
    hits, moves = measure(DATA / "games")
    check(hits, moves, min_hits=30)


@pytest.mark.slow
def test_fidelity_on_the_shared_corpus():
    if not (SHARED / "games").exists():
        pytest.skip("shared corpus not available")
    hits, moves = measure(SHARED / "games")
    check(hits, moves, min_hits=1000)
    assert hits["speed_rel_err_p90"] < 0.2 and hits["angle_err_deg_p90"] < 10
