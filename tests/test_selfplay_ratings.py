"""Ratings from the game log (Elo and OpenSkill agree on the order), the leaderboard,
the matchup matrix, the Parquet game log, and the league's opponent choices."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.selfplay.config import CurriculumConfig, LeagueConfig, PopulationConfig
from workbench.selfplay.league import League, pfsp_weights
from workbench.selfplay.ratings import (
    GameLog,
    GameRecord,
    elo_ratings,
    leaderboard,
    matchup_matrix,
    openskill_ratings,
    wilson_interval,
)


def _log(results: list[tuple[str, str, int]]) -> GameLog:
    return GameLog([GameRecord(i, a, b, w, 1, 0, 50.0, 20.0, 600) for i, (a, b, w) in enumerate(results)])


def _ladder() -> GameLog:
    """strong beats medium 80% and weak 90%; medium beats weak 70%."""
    rng = np.random.default_rng(0)
    games = []
    for a, b, p in (("strong", "medium", 0.8), ("strong", "weak", 0.9), ("medium", "weak", 0.7)):
        for _ in range(60):
            first = rng.random() < 0.5  # sides alternate at random
            win_a = rng.random() < p
            games.append((a, b, 1 if win_a else 2) if first else (b, a, 2 if win_a else 1))
    rng.shuffle(games)
    return _log(games)


def test_elo_and_openskill_rank_the_ladder_the_same_way():
    pytest.importorskip("openskill")
    log = _ladder()
    elo, skill = elo_ratings(log), openskill_ratings(log)
    assert sorted(elo, key=elo.get) == ["weak", "medium", "strong"]
    assert sorted(skill, key=lambda n: skill[n][0]) == ["weak", "medium", "strong"]
    board = leaderboard(log)
    assert list(board["player"]) == ["strong", "medium", "weak"]
    assert board["games"].tolist() == [120, 120, 120]
    assert (board["win_rate_lo"] < board["win_rate"]).all() and (board["win_rate"] < board["win_rate_hi"]).all()


def test_elo_is_zero_sum_and_draws_move_ratings_toward_each_other():
    log = _log([("a", "b", 1), ("a", "b", 1), ("a", "b", 0)])
    elo = elo_ratings(log)
    assert elo["a"] + elo["b"] == pytest.approx(2000.0)
    before = elo_ratings(_log([("a", "b", 1), ("a", "b", 1)]))
    assert elo["a"] < before["a"]


def test_games_against_itself_are_not_scored():
    log = _log([("a", "a", 1), ("a", "b", 1)])
    assert log.score("a") == (1.0, 1)
    assert leaderboard(log).set_index("player").loc["a", "games"] == 1


def test_matchup_matrix_counts_both_sides_and_draws_half():
    rate, games = matchup_matrix(_log([("a", "b", 1), ("b", "a", 1), ("a", "b", 0), ("a", "c", 2)]))
    assert games.loc["a", "b"] == 3 and games.loc["b", "a"] == 3
    assert rate.loc["a", "b"] == pytest.approx(1.5 / 3) and rate.loc["b", "a"] == pytest.approx(1.5 / 3)
    assert rate.loc["c", "a"] == 1.0 and np.isnan(rate.loc["b", "c"])


def test_game_log_round_trips_through_parquet_and_state(tmp_path):
    log = _ladder()
    log.save(tmp_path / "games.parquet")
    again = GameLog.load(tmp_path / "games.parquet")
    assert again.records == log.records
    assert GameLog.from_state(log.to_state()).records == log.records


def test_wilson_interval():
    lo, hi = wilson_interval(140, 200)
    assert lo == pytest.approx(0.6332, abs=1e-3) and hi == pytest.approx(0.7593, abs=1e-3)  # 70% of 200
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pfsp_prefers_hard_opponents():
    w = pfsp_weights(np.array([0.9, 0.5, 0.1]), "hard", 2.0)
    assert w[2] > w[1] > w[0]
    even = pfsp_weights(np.array([0.9, 0.5, 0.1]), "even", 2.0)
    assert even[1] > even[0] and even[1] > even[2]


def _league(bot_ratio: float = 0.0, max_updates: int = 0, **league) -> League:
    return League(
        LeagueConfig(**league),
        PopulationConfig(latest_ratio=0.5, teacher_ratio=0.25, opponent_slots=3, bot_ratio=bot_ratio),
        CurriculumConfig(stages=["idle", "random", "self"], threshold=0.7, window=10, max_updates=max_updates),
        "runs/bc",
    )


def test_curriculum_advances_on_win_rate_then_self_play():
    league = _league()
    assert league.distribution("main-0", GameLog()) == {"idle": 1.0}
    log = _log([("main-0", "idle", 1)] * 6 + [("idle", "main-0", 1)] * 4)  # 60%: stays
    assert not league.advance_curriculum("main-0", log)
    log = _log([("main-0", "idle", 1)] * 9 + [("idle", "main-0", 1)])  # 90%: moves on
    assert league.advance_curriculum("main-0", log) == "passed" and league.curriculum_bot("main-0") == "random"
    league.stage["main-0"] = 2
    dist = league.distribution("main-0", GameLog())
    assert dist == pytest.approx({"main-0": 0.75, "teacher": 0.25})  # no snapshots yet


def test_curriculum_times_out_and_self_play_keeps_a_share_of_the_heuristic():
    league = _league(bot_ratio=0.2, max_updates=5)
    losing = _log([("idle", "main-0", 1)] * 10)
    assert league.advance_curriculum("main-0", losing, update=4) == ""
    assert league.advance_curriculum("main-0", losing, update=5) == "timed out"
    assert league.curriculum_bot("main-0") == "random"
    assert league.advance_curriculum("main-0", losing, update=9) == ""  # its own clock
    assert league.advance_curriculum("main-0", losing, update=10) == "timed out"
    dist = league.distribution("main-0", GameLog())
    assert dist == pytest.approx({"main-0": 0.55, "teacher": 0.25, "heuristic": 0.2})
    again = _league(bot_ratio=0.2, max_updates=5)
    again.load_state_dict(league.state_dict())
    assert again.stage_began == league.stage_began


def test_league_roles_have_their_own_opponents():
    league = _league(roles={"main": 1, "main_exploiter": 1, "league_exploiter": 1})
    league.stage["main-0"] = 2
    for update in (10, 20):
        league.add_snapshot("main-0", update, f"snap{update}")
    log = _log([("main-0", "main-0@00000010", 1)] * 20 + [("main-0", "main-0@00000020", 2)] * 20)
    main = league.distribution("main-0", log)
    assert main["main-0"] == pytest.approx(0.5) and main["teacher"] == pytest.approx(0.25)
    assert main["main-0@00000020"] > main["main-0@00000010"]  # PFSP: the one it loses to
    assert league.distribution("main_exploiter-0", log) == {"main-0": 1.0}
    assert "league_exploiter-0" not in league.distribution("league_exploiter-0", log)
    plan = league.plan("main-0", log, np.random.default_rng(0))
    assert len(plan) <= 3 and sum(plan.values()) == pytest.approx(1.0)
    # the exploiter restarts once it beats the main agent
    beaten = _log([("main_exploiter-0", "main-0", 1)] * 60)
    assert league.exploiter_should_restart("main_exploiter-0", 5, beaten)
    assert not league.exploiter_should_restart("main-0", 5, beaten)
    state = league.state_dict()
    again = _league(roles={"main": 1, "main_exploiter": 1, "league_exploiter": 1})
    again.load_state_dict(state)
    assert again.members == league.members and again.stage == league.stage
