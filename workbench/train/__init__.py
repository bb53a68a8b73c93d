"""Behavioural cloning: experiment config, losses, checkpoints, the trainer."""

from workbench.train.checkpoint import CheckpointError, load_policy, resolve_checkpoint
from workbench.train.config import (
    DistillConfig,
    ExperimentConfig,
    LossConfig,
    TrainConfig,
    apply_overrides,
    load_experiment,
)
from workbench.train.config import experiment
from workbench.train.trainer import TrainResult, Trainer, train, train_or_reuse

__all__ = [
    "CheckpointError",
    "load_policy",
    "resolve_checkpoint",
    "DistillConfig",
    "ExperimentConfig",
    "LossConfig",
    "TrainConfig",
    "apply_overrides",
    "load_experiment",
    "TrainResult",
    "Trainer",
    "train",
    "train_or_reuse",
    "experiment",
]
