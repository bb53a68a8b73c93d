"""The data side of a run: replays -> store -> embedding cache -> split -> batches."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.data import (
    EmbeddingCache,
    Segment,
    Split,
    WindowBatches,
    WindowSpec,
    build_cache,
    split_games,
)
from workbench.data.streams import GameStreams
from workbench.errors import ConfigError, WorkbenchError, WorkbenchWarning
from workbench.replay import FrameStore, ingest
from workbench.replay.quality import passes
from workbench.train.config import ExperimentConfig
from workbench.types import character_keys


@dataclass
class RunData:
    store: FrameStore
    cache: EmbeddingCache
    split: Split
    train_segments: list[Segment]
    val_segments: list[Segment]

    def summary(self) -> dict:
        frames = lambda segs: sum(s.length for s in segs if s.variant == 0)  # noqa: E731
        chars = sorted({s.character for s in self.train_segments})
        return {
            "store": str(self.store.root),
            "cache": str(self.cache.root),
            "train_games": len(self.split.train),
            "val_games": len(self.split.val),
            "train_frames": frames(self.train_segments),
            "val_frames": frames(self.val_segments),
            "train_characters": chars,
            "variants": self.cache.augment.variants,
        }


def stored_games(
    replays: list[str], store: str | Path, workers: int = 1, progress: bool = False
) -> tuple[FrameStore, set[str]]:
    """Ingest ``replays`` into ``store`` (a cache hit for files already stored) and return
    the store with the md5s of the usable games among them."""
    missing = [str(p) for p in replays if not Path(p).exists()]
    if missing:
        relative = [p for p in missing if not Path(p).is_absolute()]
        where = f" (relative to the current folder {Path.cwd()})" if relative else ""
        raise WorkbenchError(f"replays not found: {', '.join(missing)}{where}")
    ingest(replays, store, workers=workers, progress=progress)
    frame_store = FrameStore(store)
    return frame_store, frame_store.games_under(replays)


def quality_games(
    store: FrameStore, md5s: set[str], threshold: float = 0.0, exclude_flags: list[str] | tuple = ()
) -> set[str]:
    """The games among ``md5s`` that clear the quality filters (see
    :func:`workbench.replay.quality.passes`)."""
    if threshold <= 0 and not exclude_flags:
        return set(md5s)
    return {r["md5"] for r in store.games() if r["md5"] in md5s and passes(r, threshold, exclude_flags)}


def prepare_data(cfg: ExperimentConfig, progress: bool = False, split: Split | None = None) -> RunData:
    """Ingest the replays (a cache hit when already stored), embed, split by game."""
    store, wanted = stored_games(cfg.replays, cfg.store, min(4, os.cpu_count() or 1), progress)
    if not wanted:
        raise WorkbenchError(
            f"no usable 1v1 game among {', '.join(cfg.replays)} (see {store.root / 'ingest_report.json'})"
        )
    cache = build_cache(store, cfg.cache, cfg.embed, cfg.augment, cfg.train.perspectives, progress=progress)
    if split is None:
        split = split_games(sorted(wanted), cfg.train.val_fraction, cfg.train.split_seed)
    t = cfg.train
    filters = dict(
        characters=character_keys(t.characters),
        stages={s.lower() for s in t.stages} or None,
        names={n.lower() for n in t.names} or None,
    )
    # the split is drawn over every usable game, so runs that differ only in their quality
    # filters are scored on the same held-out games (less the ones they leave out)
    kept = quality_games(store, wanted, t.quality_threshold, t.exclude_flags)
    train = cache.select(md5s=set(split.train) & kept, **filters)
    val = cache.select(md5s=set(split.val) & kept, variants={0}, **filters)
    if not train:
        raise WorkbenchError(
            "no training games left after the split and filters "
            f"(characters={t.characters}, stages={t.stages}, names={t.names}, "
            f"quality_threshold={t.quality_threshold}, exclude_flags={t.exclude_flags}; "
            f"{len(wanted) - len(kept)} of {len(wanted)} games below the quality filters)"
        )
    return RunData(store, cache, split, train, val)


class TrainBatches:
    """Yields training batches with an exact, checkpointable position: (epoch, batch)
    for random or strided windows, or the lanes of :class:`GameStreams` under TBPTT."""

    def __init__(self, data: RunData, cfg: ExperimentConfig, rank: int = 0, world: int = 1):
        t = cfg.train
        self.rank, self.world = rank, world
        variants = tuple(range(len(data.cache.augment.variants)))
        self.streams = None
        if t.truncate_bptt > 0:
            self.streams = GameStreams(
                data.cache,
                data.train_segments,
                t.batch_size,
                t.truncate_bptt,
                t.delay_min,
                t.delay_max,
                seed=t.seed + 1000 * rank,
                variants=variants,
            )
            self.batches_per_epoch = max(
                1, sum(s.length for s in self.streams.segments) // (t.batch_size * t.truncate_bptt)
            )
        else:
            spec = WindowSpec(t.window, t.stride, t.delay_min, t.delay_max, t.balance_characters, variants)
            self.dataset = WindowBatches(data.cache, data.train_segments, spec, t.batch_size, seed=t.seed)
            self.dataset.batch_size = fit_batch_size(data, spec, len(self.dataset.windows), t.batch_size, world)
            self.batches_per_epoch = max(1, len(self.dataset) // world)
        self.batch_size = self.dataset.batch_size if self.streams is None else t.batch_size
        self.epoch, self.index = 0, 0
        self.workers = t.workers

    def state_dict(self) -> dict:
        out = {"epoch": self.epoch, "index": self.index}
        if self.streams is not None:
            out["streams"] = self.streams.state_dict()
        return out

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index = state["epoch"], state["index"]
        if self.streams is not None:
            self.streams.load_state_dict(state["streams"])

    def __iter__(self):
        """Endless: yields (batch tensors, reset mask or None)."""
        while True:
            if self.streams is not None:
                batch, reset = self.streams.next_batch()
                self.index += 1
                yield _tensors(batch), torch.from_numpy(reset)
                continue
            self.dataset.set_epoch(self.epoch)
            mine = list(range(self.rank, len(self.dataset), self.world))
            loader = torch.utils.data.DataLoader(
                self.dataset,
                batch_size=None,
                sampler=mine[self.index :],
                num_workers=self.workers,
                pin_memory=torch.cuda.is_available(),
                generator=torch.Generator().manual_seed(self.epoch),
            )  # keeps the global RNG untouched
            yielded = False
            for batch in loader:
                self.index += 1
                yielded = True
                yield batch, None
            if not yielded and self.index == 0:  # an epoch without a batch would loop forever
                raise ConfigError(
                    f"epoch {self.epoch} has no full batch of {self.dataset.batch_size} "
                    "windows; lower --batch-size or --window, or add replays"
                )
            self.epoch, self.index = self.epoch + 1, 0


def fit_batch_size(data: RunData, spec: WindowSpec, windows: int, batch_size: int, world: int = 1) -> int:
    """The batch size a run can use: ``batch_size``, or the number of training windows
    per rank when there are fewer (with a warning). No window at all is a one-line error
    saying what to change, before training starts (an empty epoch never ends)."""
    per_rank = windows // world
    if per_rank >= batch_size:
        return batch_size
    if per_rank == 0:
        longest = max((s.length for s in data.train_segments), default=0)
        fits = max(longest - spec.delay_max - 1, 0)
        hint = f"use --window {fits} or less" if fits >= 1 else "add longer games"
        raise ConfigError(
            f"no training window of {spec.length} steps at delay {spec.delay_max}: "
            f"the longest of {len(data.split.train)} training games has {longest} "
            f"frames; {hint} (or lower --delay)"
        )
    warnings.warn(
        f"only {windows} training windows of {spec.length} steps for --batch-size "
        f"{batch_size}: training with batch size {per_rank} (lower --window or add "
        "replays for full batches)",
        WorkbenchWarning,
        stacklevel=2,
    )
    return per_rank


def _tensors(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}


def val_batches(data: RunData, cfg: ExperimentConfig, limit: int) -> list[dict[str, torch.Tensor]]:
    """Fixed validation batches (same every eval): strided windows over held-out games at
    the largest training delay."""
    t = cfg.train
    spec = WindowSpec(t.window, t.window, t.delay_max, t.delay_max)
    ds = WindowBatches(data.cache, data.val_segments, spec, t.batch_size, seed=12345, drop_last=False)
    if len(ds) == 0:
        what = (
            f"the {len(data.split.val)} validation games have no window of {t.window} steps"
            if data.split.val
            else "no game is held out for validation (one game given)"
        )
        warnings.warn(
            f"{what}: validation loss is not computed (add replays or lower --window)", WorkbenchWarning, stacklevel=2
        )
    return [ds[k] for k in range(min(limit, len(ds)))]


__all__ = ["RunData", "prepare_data", "stored_games", "TrainBatches", "fit_batch_size", "val_batches"]
