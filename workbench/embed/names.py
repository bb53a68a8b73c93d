"""Player-name ids for the optional name embedding, persisted as JSON."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path


def normalize_name(name: str) -> str:
    return unicodedata.normalize("NFKC", name or "").strip().lower()


class NameRegistry:
    """Maps player names (netplay codes first) to ids 1..vocab-1; 0 is "unknown"."""

    def __init__(self, ids: dict[str, int] | None = None, vocab: int = 256):
        self.ids = dict(ids or {})
        self.vocab = vocab

    @classmethod
    def build(cls, names: list[str], vocab: int = 256, min_games: int = 1) -> "NameRegistry":
        """Most frequent names first, until the vocab is full."""
        counts = Counter(normalize_name(n) for n in names if normalize_name(n))
        ranked = [n for n, c in counts.most_common() if c >= min_games][: vocab - 1]
        return cls({name: i + 1 for i, name in enumerate(sorted(ranked))}, vocab)

    def id_of(self, name: str) -> int:
        return self.ids.get(normalize_name(name), 0)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"vocab": self.vocab, "ids": self.ids}, indent=1, ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> "NameRegistry":
        data = json.loads(Path(path).read_text())
        return cls(data["ids"], data["vocab"])
