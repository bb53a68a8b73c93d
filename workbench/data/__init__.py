"""Windows, splits, sampling and loaders over the embedding cache."""

from workbench.data.align import AlignedRows, align, segment_steps, step_count
from workbench.data.baseline import aligned_targets, baseline_scores, repeat_last_baseline
from workbench.data.cache import AugmentConfig, EmbeddingCache, Segment, build_cache, load_cache
from workbench.data.dataset import WindowBatches, WindowSpec, enumerate_windows, gather, make_loader
from workbench.data.split import Split, split_games

__all__ = [
    "AlignedRows",
    "align",
    "segment_steps",
    "step_count",
    "aligned_targets",
    "baseline_scores",
    "repeat_last_baseline",
    "AugmentConfig",
    "EmbeddingCache",
    "Segment",
    "build_cache",
    "load_cache",
    "WindowBatches",
    "WindowSpec",
    "enumerate_windows",
    "gather",
    "make_loader",
    "Split",
    "split_games",
]
