"""AdamW, learning-rate schedules and the weight EMA."""

from __future__ import annotations

import math

import torch
from torch import nn

from workbench.train.config import TrainConfig


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and embeddings."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "embedding" in name or "norm" in name else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def warmup_steps(total: int, cfg: TrainConfig) -> int:
    """The warm-up a run of ``total`` steps gets: ``cfg.warmup_steps``, but never more
    than a tenth of the run (a 10-step run with a 100-step warm-up never reaches its
    learning rate)."""
    return min(cfg.warmup_steps, max(total // 10, 1)) if cfg.warmup_steps else 0


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """Multiplier of the base LR at ``step`` of ``total`` optimizer steps."""
    total = max(total, 1)
    if cfg.schedule == "constant":
        return 1.0
    progress = min(step / total, 1.0)
    if cfg.schedule == "linear":
        return 1.0 - (1.0 - cfg.min_lr_ratio) * progress
    warmup = warmup_steps(total, cfg) if cfg.schedule == "warmup_cosine" else 0
    if step < warmup:
        return (step + 1) / warmup
    progress = min((step - warmup) / max(total - warmup, 1), 1.0)
    return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, cfg: TrainConfig
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total_steps, cfg))


class EMA:
    """Exponential moving average of the weights: ``ema = decay * ema + (1 - decay) * w``."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for key, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                self.shadow[key].mul_(self.decay).add_(value.detach(), alpha=1 - self.decay)
            else:
                self.shadow[key].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}
