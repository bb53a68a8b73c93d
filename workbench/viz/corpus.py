"""Charts of a whole frame store, built from its manifest rows (``FrameStore.manifest()``
or ``.games()``): who plays, where, how long, which Slippi versions, what was flagged."""

from __future__ import annotations

from collections import Counter
from typing import Iterable

import altair as alt
import pandas as pd

BAR_WIDTH = 260


def _ok(rows: Iterable[dict]) -> list[dict]:
    return [row for row in rows if row.get("status", "ok") == "ok"]


def _count_bars(counts: Counter, field: str, title: str) -> alt.Chart:
    frame = pd.DataFrame({field: list(counts), "games": list(counts.values())})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("games:Q", title="games"),
            y=alt.Y(f"{field}:N", sort="-x", title=None),
            tooltip=[f"{field}:N", "games:Q"],
        )
        .properties(width=BAR_WIDTH)
    )


def character_chart(rows: Iterable[dict]) -> alt.Chart:
    """Games per character (a game counts once for each player's character)."""
    counts = Counter(name for row in _ok(rows) for name in row.get("characters") or [])
    return _count_bars(counts, "character", "Characters")


def stage_chart(rows: Iterable[dict]) -> alt.Chart:
    """Games per stage."""
    return _count_bars(Counter(row.get("stage_name") or "?" for row in _ok(rows)), "stage", "Stages")


def version_chart(rows: Iterable[dict]) -> alt.Chart:
    """Games per Slippi replay version."""
    return _count_bars(
        Counter(row.get("slippi_version") or "?" for row in _ok(rows)), "slippi_version", "Slippi versions"
    )


def quality_flag_chart(rows: Iterable[dict]) -> alt.Chart:
    """How many kept games carry each quality flag (``none`` for clean games)."""
    counts = Counter(flag for row in _ok(rows) for flag in (row.get("quality_flags") or ["none"]))
    return _count_bars(counts, "flag", "Quality flags")


def status_chart(rows: Iterable[dict]) -> alt.Chart:
    """Files per ingest outcome: ``ok`` or the reason a file was skipped or failed."""
    counts = Counter(row.get("reason") or row.get("status") or "?" for row in rows)
    return _count_bars(counts, "outcome", "Ingest outcomes")


def duration_chart(rows: Iterable[dict], bins: int = 20) -> alt.Chart:
    """Histogram of game lengths in minutes."""
    minutes = [float(row.get("duration_s") or 0.0) / 60.0 for row in _ok(rows)]
    frame = pd.DataFrame({"minutes": minutes})
    return (
        alt.Chart(frame, title="Game lengths")
        .mark_bar()
        .encode(
            x=alt.X("minutes:Q", bin=alt.Bin(maxbins=bins), title="minutes"),
            y=alt.Y("count():Q", title="games"),
        )
        .properties(width=BAR_WIDTH, height=160)
    )


def corpus_summary(rows: Iterable[dict]) -> alt.VConcatChart:
    """All corpus charts in a grid: outcomes, characters, stages, lengths, versions, flags."""
    rows = list(rows)
    top = alt.hconcat(status_chart(rows), character_chart(rows))
    middle = alt.hconcat(stage_chart(rows), duration_chart(rows))
    bottom = alt.hconcat(version_chart(rows), quality_flag_chart(rows))
    return alt.vconcat(top, middle, bottom)


def corpus_stats(rows: Iterable[dict]) -> dict[str, float]:
    """Headline numbers of a manifest: files, kept games, frames, hours, characters."""
    rows = list(rows)
    kept = _ok(rows)
    seconds = sum(float(row.get("duration_s") or 0.0) for row in kept)
    return {
        "files": len(rows),
        "games_ok": len(kept),
        "games_failed": sum(row.get("status") == "error" for row in rows),
        "frames": int(sum(int(row.get("frames") or 0) for row in kept)),
        "hours": round(seconds / 3600.0, 4),
        "characters": len({name for row in kept for name in row.get("characters") or []}),
        "stages": len({row.get("stage") for row in kept}),
    }


def corpus_verdict(rows: Iterable[dict]) -> str:
    """The explore page's opening sentence: what the data is (this page trains no model)."""
    stats = corpus_stats(rows)
    return (
        f"{stats['games_ok']} usable games of {stats['files']} files ({stats['frames']:,} frames, "
        f"{60 * stats['hours']:.1f} minutes of play, {stats['characters']} characters on "
        f"{stats['stages']} stages); {stats['games_failed']} files could not be read. This page "
        "describes the data only: no model is scored here (the training page compares one "
        "with repeat-last)."
    )


def game_label(row: dict) -> str:
    """A short human label of a manifest row: ``Fox vs Marth, Yoshi's Story, 1:27 (file)``.

    Plain text (no markup): callers that put it in HTML escape it, as with any replay text."""
    seconds = int(float(row.get("duration_s") or 0.0))
    characters = " vs ".join(row.get("characters") or ["?"])
    file = str(row.get("path") or row.get("md5") or "").replace("\\", "/").rsplit("/", 1)[-1]
    stage = row.get("stage_name") or "?"
    return f"{characters}, {stage}, {seconds // 60}:{seconds % 60:02d} ({file})"
