"""What the self-play notebook shows, as library calls: a run's metric curves (rating,
win rates, KL to the teacher, entropy, throughput), its leaderboard and matchup matrix
from the game log, head-to-head evaluations, and a tiny run to show when none is given."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from workbench.selfplay.ratings import GameLog, leaderboard, matchup_matrix

CURVES = {
    "ratings": ("selfplay/rating", "selfplay/elo"),
    "win rates (training games)": (
        "selfplay/win_rate_vs_teacher",
        "selfplay/win_rate_vs_idle",
        "selfplay/win_rate_vs_random",
        "selfplay/win_rate_vs_heuristic",
    ),
    "collapse and drift": ("selfplay/kl_teacher", "selfplay/entropy", "losses/approx_kl"),
    "throughput (frames/s)": (
        "selfplay/env_frames_per_s",
        "selfplay/rollout_frames_per_s",
        "selfplay/learner_frames_per_s",
    ),
}


def run_metrics(run: str | Path) -> pd.DataFrame:
    """``metrics.jsonl`` as a frame; a resumed run's repeated updates keep their last row."""
    rows = pd.read_json(Path(run) / "metrics.jsonl", lines=True)
    return rows.drop_duplicates("step", keep="last").sort_values("step", ignore_index=True)


def curves_chart(metrics: pd.DataFrame, title: str, keys: tuple[str, ...], width: int = 300) -> alt.Chart:
    present = [k for k in keys if k in metrics]
    long = metrics.melt(id_vars=["step"], value_vars=present, var_name="metric").dropna()
    return (
        alt.Chart(long, title=title)
        .mark_line(point=len(metrics) < 30)
        .encode(
            x=alt.X("step:Q", title="update"),
            y=alt.Y("value:Q", title=None),
            color="metric:N",
            tooltip=["step", "metric", alt.Tooltip("value:Q", format=".4g")],
        )
        .properties(width=width, height=180)
    )


def dashboard(run: str | Path) -> alt.VConcatChart:
    """Every curve group of :data:`CURVES`, two per row."""
    metrics = run_metrics(run)
    charts = [curves_chart(metrics, title, keys) for title, keys in CURVES.items() if any(k in metrics for k in keys)]
    rows = [alt.hconcat(*charts[i : i + 2]) for i in range(0, len(charts), 2)]
    return alt.vconcat(*rows)


def game_log(run: str | Path) -> GameLog:
    path = Path(run) / "games.parquet"
    return GameLog.load(path) if path.exists() else GameLog()


def matchup_chart(log: GameLog, players: list[str] | None = None) -> alt.Chart:
    """Win rate of the row player against the column player (draws half), with counts."""
    rate, games = matchup_matrix(log, players)
    long = rate.stack(future_stack=True).rename("win_rate").reset_index()
    long.columns = ["player", "opponent", "win_rate"]
    long["games"] = games.stack().values
    long = long[long["games"] > 0]
    return (
        alt.Chart(long, title="matchups (row's win rate)")
        .mark_rect()
        .encode(
            x=alt.X("opponent:N"),
            y=alt.Y("player:N"),
            color=alt.Color("win_rate:Q", scale=alt.Scale(domain=[0, 1], scheme="redblue")),
            tooltip=["player", "opponent", alt.Tooltip("win_rate:Q", format=".2f"), "games"],
        )
    )


def snapshot_ratings(log: GameLog) -> pd.DataFrame:
    """The leaderboard rows of population snapshots, by the update they were taken at:
    a rising rating across snapshots is the learner getting better."""
    board = leaderboard(log)
    if board.empty:
        return board
    snaps = board[board["player"].str.contains("@")].copy()
    snaps["update"] = snaps["player"].str.split("@").str[1].astype(int)
    return snaps.sort_values("update", ignore_index=True)


def selfplay_verdict(table: pd.DataFrame) -> str:
    """The self-play page's verdict: win rates against each opponent, with the game count
    and the 95% interval (BC's repeat-last baseline has no win rate; the teacher is the
    baseline here)."""
    parts = [
        f"{r.win_rate:.2f} against {r.opponent} over {r.games} games (95% interval {r.ci95_lo:.2f} to {r.ci95_hi:.2f})"
        for r in table.itertuples()
    ]
    return "The self-play agent's win rate: " + "; ".join(parts) + "."


def evaluation_table(results: list) -> pd.DataFrame:
    """:class:`MatchResult` rows as a table."""
    rows = []
    for r in results:
        lo, hi = r.win_rate_ci95
        rows.append(
            {
                "player": Path(r.player).name,
                "opponent": Path(r.opponent).name,
                "games": r.games,
                "wins": r.wins,
                "losses": r.losses,
                "draws": r.draws,
                "win_rate": r.win_rate,
                "ci95_lo": lo,
                "ci95_hi": hi,
                "stocks_taken_per_min": r.stocks_taken_per_min,
                "damage_per_min": r.damage_per_min,
            }
        )
    return pd.DataFrame(rows)
