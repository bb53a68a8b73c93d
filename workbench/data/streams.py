"""Game streams for truncated backpropagation through time: B lanes, each walking one
game after another in consecutive chunks of T steps, so a recurrent or SSM state can be
carried from chunk to chunk and reset where a lane starts a new game."""

from __future__ import annotations

import numpy as np

from workbench.data.cache import EmbeddingCache, Segment
from workbench.data.dataset import gather, max_start
from workbench.errors import ConfigError


class GameStreams:
    def __init__(
        self,
        cache: EmbeddingCache,
        segments: list[Segment],
        batch_size: int,
        chunk: int,
        delay_min: int = 0,
        delay_max: int = 0,
        seed: int = 0,
        variants: tuple[int, ...] = (0,),
    ):
        self.cache, self.chunk, self.batch_size = cache, chunk, batch_size
        self.delay_min, self.delay_max, self.seed = delay_min, delay_max, seed
        self.segments = [s for s in segments if s.variant in variants and max_start(s, chunk, delay_max) >= 0]
        if not self.segments:
            raise ConfigError(f"no game is long enough for chunks of {chunk} with delay {delay_max}")
        self.epoch, self.queue_pos = 0, 0
        self.queue = self._order(0)
        # per lane: segment index (into self.segments), position, delay
        self.lanes = np.full((batch_size, 3), -1, dtype=np.int64)
        self.fresh = np.ones(batch_size, dtype=bool)
        for lane in range(batch_size):
            self._next_game(lane)

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.segments))

    def _next_game(self, lane: int) -> None:
        if self.queue_pos >= len(self.queue):
            self.epoch += 1
            self.queue, self.queue_pos = self._order(self.epoch), 0
        k = int(self.queue[self.queue_pos])
        self.queue_pos += 1
        rng = np.random.default_rng([self.seed, self.epoch, self.queue_pos, 7])
        self.lanes[lane] = (k, 0, rng.integers(self.delay_min, self.delay_max + 1))
        self.fresh[lane] = True

    def next_batch(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The next chunk of every lane, ``(B, T, .)`` arrays, and ``reset`` (B,): lanes
        whose chunk opens a new game (their carried state must be cleared)."""
        windows = np.array([(k, pos, delay, self.segments[k].start) for k, pos, delay in self.lanes])
        batch = gather(self.cache, windows, self.chunk)
        reset = self.fresh.copy()
        self.fresh[:] = False
        for lane, (k, pos, delay) in enumerate(self.lanes):
            pos += self.chunk
            if pos > max_start(self.segments[k], self.chunk, delay):
                self._next_game(lane)
            else:
                self.lanes[lane, 1] = pos
        return batch, reset

    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "queue_pos": self.queue_pos,
            "lanes": self.lanes.tolist(),
            "fresh": self.fresh.tolist(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.queue_pos = state["epoch"], state["queue_pos"]
        self.queue = self._order(self.epoch)
        self.lanes = np.array(state["lanes"], dtype=np.int64)
        self.fresh = np.array(state["fresh"], dtype=bool)
