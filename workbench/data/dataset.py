"""Windows over the embedding cache, batched, with the delay alignment built in.

The alignment (state frame i, own controller i + D, target i + D + 1) comes from
:mod:`workbench.data.align`, the one place it is written; ``tests/test_data_align.py``
changes a target frame and checks that no input moves.

A window is (segment, start, delay): steps ``start .. start + T - 1`` of that segment,
valid when ``start + T <= step_count(length, D)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from workbench.data.align import align, step_count
from workbench.data.cache import EmbeddingCache, Segment
from workbench.errors import ConfigError


@dataclass
class WindowSpec:
    """How sequences are cut: T steps, a stride or random starts, a delay range."""

    length: int = 64  # T; 1 gives single frames for MLPs
    stride: int | None = None  # None: random windows; else every `stride` frames
    delay_min: int = 0
    delay_max: int = 0  # D drawn per sequence from [delay_min, delay_max]
    balance_characters: bool = False
    variants: tuple[int, ...] = (0,)  # cache variants sampled per sequence


def max_start(segment: Segment, length: int, delay: int) -> int:
    """Last valid start of a window in ``segment`` (negative: none fits)."""
    return step_count(segment.length, delay) - length


def enumerate_windows(segments: list[Segment], spec: WindowSpec, epoch: int, seed: int) -> np.ndarray:
    """The windows of one epoch, ``(n, 4)`` int64 rows (segment, start, delay, row_base),
    shuffled deterministically by (seed, epoch) so a resumed run sees the same batches."""
    rng = np.random.default_rng([seed, epoch])
    usable = [(k, s) for k, s in enumerate(segments) if s.variant in spec.variants]
    if not usable:
        return np.zeros((0, 4), dtype=np.int64)
    windows = []
    if spec.stride:
        for k, s in usable:
            last = max_start(s, spec.length, spec.delay_max)
            for start in range(0, last + 1, spec.stride):
                windows.append((k, start))
    else:
        weights = _segment_weights([s for _, s in usable], spec)
        total_rows = sum(s.length for _, s in usable if s.variant == spec.variants[0])
        count = max(1, total_rows // spec.length)
        picks = rng.choice(len(usable), size=count, p=weights)
        for pick in picks:
            k, s = usable[pick]
            last = max_start(s, spec.length, spec.delay_max)
            if last >= 0:
                windows.append((k, int(rng.integers(0, last + 1))))
    if not windows:
        return np.zeros((0, 4), dtype=np.int64)
    out = np.zeros((len(windows), 4), dtype=np.int64)
    out[:, :2] = windows
    out[:, 2] = rng.integers(spec.delay_min, spec.delay_max + 1, size=len(windows))
    out[:, 3] = [segments[k].start for k in out[:, 0]]
    return out[rng.permutation(len(out))]


def _segment_weights(segments: list[Segment], spec: WindowSpec) -> np.ndarray:
    """Sampling weight per segment: its length, or its length over its character's total."""
    # the number of window starts that fit (max_start + 1), at least 0
    lengths = np.array([max(max_start(s, spec.length, spec.delay_max) + 1, 0) for s in segments], float)
    if spec.balance_characters:
        totals: dict[str, float] = {}
        for s, n in zip(segments, lengths):
            totals[s.character] = totals.get(s.character, 0.0) + n
        lengths = np.array([n / totals[s.character] if totals[s.character] else 0.0 for s, n in zip(segments, lengths)])
    if lengths.sum() == 0:
        longest = max(s.length for s in segments)
        fits = longest - spec.delay_max - 1
        hint = f"use --window {fits} or less" if fits >= 1 else "add longer games"
        raise ConfigError(
            f"no training window of {spec.length} steps at delay {spec.delay_max}: "
            f"the longest game has {longest} frames; {hint} (or lower --delay)"
        )
    return lengths / lengths.sum()


def gather(cache: EmbeddingCache, windows: np.ndarray, length: int) -> dict[str, np.ndarray]:
    """Batch arrays for windows ``(B, 4)``: the aligned inputs and targets, ``(B, T, .)``."""
    steps = np.arange(length)
    rows = align(windows[:, 3, None] + windows[:, 1, None] + steps, windows[:, 2, None])  # (B, T) each
    state_rows, input_rows, target_rows = rows.state, rows.controller, rows.target
    arrays = cache.arrays
    names = cache.layout.id_names if cache.config is not None else []
    extra = {}
    if "self_action" in names:  # the agent's action state after its target input lands
        extra["next_action"] = np.asarray(arrays["ids"][target_rows, names.index("self_action")])
    return {
        **extra,
        "floats": np.asarray(arrays["floats"][state_rows]),  # (B, T, F)
        "ids": np.asarray(arrays["ids"][state_rows]),  # (B, T, K)
        "controller": np.asarray(arrays["controller"][input_rows]),  # (B, T, 13) own input
        "targets": np.asarray(arrays["targets"][target_rows]),  # (B, T, heads)
        "prev_targets": np.asarray(arrays["targets"][input_rows]),  # repeat-last baseline
        "delay": windows[:, 2].copy(),  # (B,)
    }


class WindowBatches(torch.utils.data.Dataset):
    """Map-style dataset whose item k is batch k of an epoch (deterministic, resumable).

    Use with ``DataLoader(ds, batch_size=None, num_workers=..., pin_memory=True)``.
    """

    def __init__(
        self,
        cache: EmbeddingCache,
        segments: list[Segment],
        spec: WindowSpec,
        batch_size: int,
        seed: int = 0,
        epoch: int = 0,
        drop_last: bool = True,
    ):
        self.cache, self.segments, self.spec = cache, segments, spec
        self.batch_size, self.seed, self.drop_last = batch_size, seed, drop_last
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        windows = enumerate_windows(self.segments, self.spec, epoch, self.seed)
        # segment index -> absolute row base already in column 3
        self.windows = windows

    def __len__(self) -> int:
        n = len(self.windows)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        chunk = self.windows[index * self.batch_size : (index + 1) * self.batch_size]
        batch = gather(self.cache, chunk, self.spec.length)
        return {name: torch.from_numpy(values) for name, values in batch.items()}


def make_loader(
    dataset: WindowBatches, workers: int = 0, start_batch: int = 0, pin_memory: bool | None = None
) -> torch.utils.data.DataLoader:
    """A DataLoader over batches ``start_batch..`` of the dataset's epoch."""
    indices = list(range(start_batch, len(dataset)))
    pin = torch.cuda.is_available() if pin_memory is None else pin_memory
    return torch.utils.data.DataLoader(
        dataset, batch_size=None, sampler=indices, num_workers=workers, pin_memory=pin, persistent_workers=False
    )
