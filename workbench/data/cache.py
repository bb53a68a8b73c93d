"""The embedding cache: every (game, perspective, variant) embedded once, on disk,
memory-mapped for training.

Keyed by the embedding config, the augmentation variants and the store manifest (the
md5s of its ok games): change either and a new cache is built beside the old one.
Layout of ``<root>/<key>/``::

    meta.json        config, variants, per-segment table (game, perspective, variant, rows)
    floats.npy       (rows, F) float32 state features
    ids.npy          (rows, K) int16 learned-embedding ids
    targets.npy      (rows, heads) int16 controller classes of the segment's player
    controller.npy   (rows, 13) float32 that controller at bucket centres (model input)

Variants: 0 is the game as played, 1 the left-right mirror (when ``mirror``), then
``noise_copies`` copies with Gaussian noise on continuous features. Sampling a variant
per sequence makes augmented training as fast as plain training.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from workbench.embed.augment import add_noise, mirror_floats
from workbench.embed.config import DictMixin, EmbedConfig
from workbench.embed.controller import ControllerSpec
from workbench.embed.game import EmbeddedGame, embed_game
from workbench.embed.names import NameRegistry
from workbench.embed.state import StateLayout
from workbench.errors import WorkbenchError
from workbench.replay.store import FrameStore

CACHE_VERSION = 1
ARRAYS = ("floats", "ids", "targets", "controller")


@dataclass
class AugmentConfig(DictMixin):
    """Precomputed augmented variants (the cache holds each as its own segments)."""

    mirror: bool = False
    noise_copies: int = 0
    noise_std: float = 0.02
    seed: int = 0

    @property
    def variants(self) -> list[str]:
        names = ["original"] + (["mirrored"] if self.mirror else [])
        return names + [f"noise{i}" for i in range(self.noise_copies)]


@dataclass
class Segment:
    """Rows ``start:start + length`` hold one game seen by one player, in one variant."""

    md5: str
    perspective: int
    variant: int
    start: int
    length: int
    character: str = ""
    opponent: str = ""
    stage: str = ""
    name: str = ""

    def to_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass
class EmbeddingCache:
    root: Path
    config: EmbedConfig
    augment: AugmentConfig
    segments: list[Segment] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @cached_property
    def layout(self) -> StateLayout:
        return StateLayout(self.config)

    @cached_property
    def spec(self) -> ControllerSpec:
        return ControllerSpec(self.config.controller)

    def games(self) -> list[str]:
        return sorted({s.md5 for s in self.segments})

    def select(
        self,
        md5s: set[str] | None = None,
        variants: set[int] | None = None,
        characters: set[str] | None = None,
        stages: set[str] | None = None,
        names: set[str] | None = None,
    ) -> list[Segment]:
        """Segments matching every filter given (characters/stages/names by name)."""

        def keep(s: Segment) -> bool:
            return (
                (md5s is None or s.md5 in md5s)
                and (variants is None or s.variant in variants)
                and (not characters or s.character.lower() in characters)
                and (not stages or s.stage.lower() in stages)
                and (not names or s.name.lower() in names)
            )

        return [s for s in self.segments if keep(s)]


def cache_key(
    config: EmbedConfig,
    augment: AugmentConfig,
    manifest_md5s: list[str],
    perspectives: str,
    names: NameRegistry | None = None,
) -> str:
    inputs = {
        "v": CACHE_VERSION,
        "embed": config.to_dict(),
        "augment": augment.to_dict(),
        "games": sorted(manifest_md5s),
        "perspectives": perspectives,
    }
    if names is not None:  # only then: caches built without names keep their keys
        inputs["names"] = names.ids
    payload = json.dumps(inputs, sort_keys=True)
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def load_cache(root: str | Path, key: str) -> EmbeddingCache:
    folder = Path(root) / key
    meta = json.loads((folder / "meta.json").read_text())
    cache = EmbeddingCache(
        folder,
        EmbedConfig.from_dict(meta["embed"]),
        AugmentConfig.from_dict(meta["augment"]),
        [Segment(**s) for s in meta["segments"]],
    )
    cache.arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
    return cache


def build_cache(
    store: FrameStore,
    root: str | Path,
    config: EmbedConfig,
    augment: AugmentConfig | None = None,
    perspectives: str = "humans",
    names: NameRegistry | None = None,
    progress: bool = False,
) -> EmbeddingCache:
    """Embed every ok game of ``store`` (or reuse the cache built for the same inputs).

    ``names``: the registry that turns player names into ids, required by
    ``config.names`` (the ids are part of the cache key)."""
    if config.names and names is None:
        raise WorkbenchError(
            "embed.names needs a NameRegistry of player names; training does not "
            "build one yet, so leave embed.names off"
        )
    augment = augment or AugmentConfig()
    rows = store.games()
    key = cache_key(config, augment, [r["md5"] for r in rows], perspectives, names if config.names else None)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder per cache root at a time
        if (root / key / "meta.json").exists():
            return load_cache(root, key)
        _write_cache(store, rows, root, key, config, augment, perspectives, names, progress)
    return load_cache(root, key)


def _embed_variants(table, config, augment, perspective, layout, spec, name_ids, rng):
    base = embed_game(table, config, perspective, layout, spec, name_ids)
    yield base
    if augment.mirror:
        targets = spec.mirror_targets(base.targets)
        yield EmbeddedGame(base.frames, mirror_floats(base.floats, layout), base.ids, targets, spec.decode(targets))
    for _ in range(augment.noise_copies):
        yield EmbeddedGame(
            base.frames, add_noise(base.floats, layout, augment.noise_std, rng), base.ids, base.targets, base.controller
        )


def _write_cache(store, rows, root, key, config, augment, perspectives, names, progress) -> None:
    from tqdm import tqdm

    layout, spec = StateLayout(config), ControllerSpec(config.controller)
    rng = np.random.default_rng(augment.seed)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{key}-"))
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in ARRAYS}
    segments: list[Segment] = []
    offset = 0
    for row in tqdm(rows, desc="embed", unit="game", disable=not progress):
        table = store.load(row["md5"])
        cpu = {i for i, p in enumerate(table.meta.players) if p.type == "cpu"}
        chosen = [] if table.num_players != 2 else [i for i in range(2) if perspectives == "all" or i not in cpu]
        for perspective in chosen:
            me, opp = table.meta.players[perspective], table.meta.players[1 - perspective]
            name_ids = (names.id_of(me.display_name), names.id_of(opp.display_name)) if names else (0, 0)
            for variant, game in enumerate(
                _embed_variants(table, config, augment, perspective, layout, spec, name_ids, rng)
            ):
                segments.append(
                    Segment(
                        row["md5"],
                        perspective,
                        variant,
                        offset,
                        len(game),
                        me.character_name,
                        opp.character_name,
                        row.get("stage_name") or "",
                        me.display_name,
                    )
                )
                offset += len(game)
                for name in ARRAYS:
                    values = getattr(game, name)
                    chunks[name].append(values.astype(np.int16) if name == "ids" else values)
    try:
        for name in ARRAYS:
            width = {"floats": layout.float_dim, "ids": layout.id_dim, "targets": spec.num_heads, "controller": 13}[
                name
            ]
            dtype = {"floats": np.float32, "ids": np.int16, "targets": np.int16, "controller": np.float32}[name]
            data = np.concatenate(chunks[name]) if chunks[name] else np.zeros((0, width), dtype)
            np.save(tmp / f"{name}.npy", data)
            chunks[name] = []
        meta = {
            "version": CACHE_VERSION,
            "embed": config.to_dict(),
            "augment": augment.to_dict(),
            "perspectives": perspectives,
            "store": str(store.root),
            "segments": [s.to_dict() for s in segments],
            "rows": offset,
        }
        (tmp / "meta.json").write_text(json.dumps(meta))
        os.replace(tmp, root / key)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
