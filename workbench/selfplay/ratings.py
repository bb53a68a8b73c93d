"""The game log and the ratings computed from it: Elo and OpenSkill from the same
games, a leaderboard and a matchup matrix.

One row per finished game (:class:`GameRecord`): who played whom on which side, the
result, stocks and damage. Ratings are a pure function of the log's order, so they can
be recomputed at any time from ``games.parquet`` and always agree with it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

ELO_BASE, ELO_K = 1000.0, 16.0


@dataclass
class GameRecord:
    """One finished game. ``winner``: 1 or 2 (the side), 0 for a draw or timeout tie."""

    update: int  # the learner's update counter when the game ended
    p1: str  # population member (or scripted bot) on each side
    p2: str
    winner: int
    p1_stocks: int  # stocks left at the end
    p2_stocks: int
    p1_damage: float  # percent dealt to the other side over the game
    p2_damage: float
    frames: int
    kind: str = "train"  # "train" (a rollout game) or "eval"


def wilson_interval(wins: float, games: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a win rate (draws count half, in ``wins``)."""
    if games == 0:
        return 0.0, 1.0
    p = wins / games
    denom = 1 + z * z / games
    centre = (p + z * z / (2 * games)) / denom
    half = z * math.sqrt(p * (1 - p) / games + z * z / (4 * games * games)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class GameLog:
    """Append-only list of :class:`GameRecord`, saved as Parquet."""

    def __init__(self, records: list[GameRecord] | None = None):
        self.records: list[GameRecord] = list(records or [])

    def add(self, record: GameRecord) -> None:
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def to_frame(self):
        import pandas as pd

        columns = [f.name for f in fields(GameRecord)]
        return pd.DataFrame([asdict(r) for r in self.records], columns=columns)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_suffix(".tmp")
        self.to_frame().to_parquet(tmp, index=False)
        tmp.replace(path)  # a reader never sees half a file

    @classmethod
    def load(cls, path: str | Path) -> "GameLog":
        import pandas as pd

        frame = pd.read_parquet(path)
        return cls([GameRecord(**row) for row in frame.to_dict("records")])

    def to_state(self) -> list[list]:
        """Plain lists (``torch.load(weights_only=True)`` reads them back)."""
        return [list(asdict(r).values()) for r in self.records]

    @classmethod
    def from_state(cls, rows: list[list]) -> "GameLog":
        names = [f.name for f in fields(GameRecord)]
        return cls([GameRecord(**dict(zip(names, row))) for row in rows])

    def score(
        self, player: str, opponent: str | None = None, last: int = 0, kind: str | None = None
    ) -> tuple[float, int]:
        """(wins + draws / 2, games) of ``player`` (against ``opponent`` if given) over
        its last ``last`` games (all if 0). Games against itself (the latest self on both
        ports) say nothing about it and are left out."""
        results = []
        for r in self.records:
            if (kind is not None and r.kind != kind) or r.p1 == r.p2:
                continue
            for side, me, them in ((1, r.p1, r.p2), (2, r.p2, r.p1)):
                if me == player and (opponent is None or them == opponent):
                    results.append(1.0 if r.winner == side else 0.5 if r.winner == 0 else 0.0)
        if last:
            results = results[-last:]
        return float(sum(results)), len(results)


def _outcomes(log: GameLog):
    """(p1, p2, score of p1 in {1, 0.5, 0}) per game, in order; self-mirror games (a
    member against itself) carry no rating information and are skipped."""
    for r in log.records:
        if r.p1 != r.p2:
            yield r.p1, r.p2, 1.0 if r.winner == 1 else 0.5 if r.winner == 0 else 0.0


def elo_ratings(log: GameLog, k: float = ELO_K, base: float = ELO_BASE) -> dict[str, float]:
    """Sequential Elo over the log: expected score 1 / (1 + 10^((Rb - Ra) / 400))."""
    ratings: dict[str, float] = {}
    for a, b, score in _outcomes(log):
        ra, rb = ratings.setdefault(a, base), ratings.setdefault(b, base)
        expected = 1.0 / (1.0 + 10 ** ((rb - ra) / 400.0))
        ratings[a], ratings[b] = ra + k * (score - expected), rb - k * (score - expected)
    return ratings


def openskill_ratings(log: GameLog) -> dict[str, tuple[float, float]]:
    """OpenSkill (Weng-Lin Plackett-Luce) ``{name: (mu, sigma)}`` over the same games.
    Falls back to an empty table, with a warning, when openskill is not installed."""
    try:
        from openskill.models import PlackettLuce
    except ImportError:  # the Elo column still fills the leaderboard
        import warnings

        warnings.warn("openskill is not installed: OpenSkill ratings skipped (pip install openskill)")
        return {}
    model = PlackettLuce()
    ratings: dict = {}
    for a, b, score in _outcomes(log):
        ra = ratings.setdefault(a, model.rating(name=a))
        rb = ratings.setdefault(b, model.rating(name=b))
        ranks = [0, 0] if score == 0.5 else ([0, 1] if score == 1.0 else [1, 0])
        [[ra], [rb]] = model.rate([[ra], [rb]], ranks=ranks)
        ratings[a], ratings[b] = ra, rb
    return {name: (float(r.mu), float(r.sigma)) for name, r in ratings.items()}


def leaderboard(log: GameLog):
    """One row per player: OpenSkill mu, sigma and ordinal (mu - 3 sigma), Elo, games,
    win rate with its 95% interval; sorted by ordinal (Elo without openskill)."""
    import pandas as pd

    elo, skill = elo_ratings(log), openskill_ratings(log)
    rows = []
    for name in sorted(set(elo) | {r.p1 for r in log.records} | {r.p2 for r in log.records}):
        wins, games = log.score(name)
        lo, hi = wilson_interval(wins, games)
        mu, sigma = skill.get(name, (float("nan"), float("nan")))
        rows.append(
            {
                "player": name,
                "openskill_mu": mu,
                "openskill_sigma": sigma,
                "openskill_ordinal": mu - 3 * sigma,
                "elo": elo.get(name, ELO_BASE),
                "games": games,
                "win_rate": wins / games if games else float("nan"),
                "win_rate_lo": lo,
                "win_rate_hi": hi,
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    key = "openskill_ordinal" if skill else "elo"
    return frame.sort_values(key, ascending=False, ignore_index=True)


def matchup_matrix(log: GameLog, players: list[str] | None = None):
    """(win rate, games) DataFrames, rows = player, columns = opponent; NaN where two
    never met. Draws count half."""
    import pandas as pd

    players = players or sorted({r.p1 for r in log.records} | {r.p2 for r in log.records})
    index = {p: i for i, p in enumerate(players)}
    wins = np.zeros((len(players), len(players)))
    games = np.zeros_like(wins)
    for a, b, score in _outcomes(log):
        if a in index and b in index:
            i, j = index[a], index[b]
            wins[i, j] += score
            wins[j, i] += 1 - score
            games[i, j] += 1
            games[j, i] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, wins / games, np.nan)
    return (
        pd.DataFrame(rate, index=players, columns=players),
        pd.DataFrame(games.astype(int), index=players, columns=players),
    )
