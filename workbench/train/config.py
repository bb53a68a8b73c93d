"""The experiment config: one typed tree, loaded from YAML/JSON and CLI overrides,
saved (resolved) in the run folder and with every checkpoint."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.data.cache import AugmentConfig
from workbench.embed.config import ConfigError, DictMixin, EmbedConfig
from workbench.embed.controller import load_centers
from workbench.io import load_config_file
from workbench.models.policy import PolicyConfig

SCHEDULES = ("constant", "cosine", "linear", "warmup_cosine")
CONFIG_VERSION = 1


@dataclass
class LossConfig(DictMixin):
    label_smoothing: float = 0.0
    focal_gamma: float = 0.0                 # 0: plain cross-entropy / BCE
    button_weight: float = 1.0               # per-head weights
    stick_weight: float = 1.0
    trigger_weight: float = 1.0
    stick_edge_weight: float = 0.0           # extra weight on far-from-neutral stick classes
    balance_stick_classes: bool = False      # inverse-frequency weights over stick classes
    aux_action_lambda: float = 0.0           # > 0 adds the next-action-state head

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing={self.label_smoothing}: use [0, 1)")
        if self.focal_gamma < 0:
            raise ConfigError(f"loss.focal_gamma={self.focal_gamma}: use >= 0")


@dataclass
class TrainConfig(DictMixin):
    batch_size: int = 64
    window: int = 64                  # T; 1 trains single frames (MLP)
    stride: int | None = None         # None: random windows each epoch
    delay_min: int = 0
    delay_max: int = 0                # D per sequence, drawn from [delay_min, delay_max]
    truncate_bptt: int = 0            # > 0: stream games in chunks of this many frames,
                                      # carrying the state across chunks, reset per game
    epochs: int = 1
    max_steps: int = 0                # > 0 stops there (overrides epochs)
    time_budget: float = 0.0          # seconds; > 0 stops there
    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "warmup_cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0            # 0 disables
    grad_accum: int = 1
    ema_decay: float = 0.0            # > 0 keeps an EMA of the weights (used for eval/export)
    early_stopping: int = 0           # evals without val-loss improvement before stopping
    eval_every: int = 200             # steps
    eval_batches: int = 20
    checkpoint_every: int = 200
    keep_last: int = 3
    seed: int = 0                     # initialisation, sampling order, augmentation
    split_seed: int = 0               # which games are held out: fixed while seeds vary,
    val_fraction: float = 0.15        # so arms of a sweep are scored on the same games
    workers: int = 0
    device: str = "auto"              # auto, cpu, cuda
    amp: str = "auto"                 # auto: bf16 autocast on GPU, fp32 on CPU; or off
    characters: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    balance_characters: bool = False
    perspectives: str = "humans"      # "humans" or "all" (CPU ports too)
    wandb: str = ""                   # W&B project name; empty disables
    log_every: int = 10

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"train.schedule={self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.delay_max < self.delay_min or self.delay_min < 0:
            raise ConfigError(f"delay range [{self.delay_min}, {self.delay_max}] is not valid")
        if self.window < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ConfigError("window, batch_size and grad_accum must be at least 1")


@dataclass
class DistillConfig(DictMixin):
    teacher: str = ""                 # checkpoint folder; empty disables distillation
    temperature: float = 2.0
    alpha: float = 0.5                # weight of the soft-target loss; 1 - alpha on the labels


@dataclass
class ExperimentConfig(DictMixin):
    replays: list[str] = field(default_factory=lambda: ["data/replays"])
    store: str = ".cache/store"
    cache: str = ".cache/embeddings"
    out: str = "runs/default"
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if self.loss.aux_action_lambda > 0:
            if self.embed.player.action != "learned":
                raise ConfigError("loss.aux_action_lambda needs embed.player.action=learned "
                                  "(the next action is read from the action ids)")
            self.policy.aux_action_head = True  # derived: the loss needs the head

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``["train.lr=3e-4", "policy.backbone.name=mamba"]`` applied to a config dict."""
    for item in overrides:
        match = re.fullmatch(r"([A-Za-z_][\w.]*)=(.*)", item)
        if not match:
            raise ConfigError(f"override {item!r}: write KEY=VALUE, e.g. train.lr=3e-4")
        keys, value = match.group(1).split("."), _parse_value(match.group(2))
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {key} is not a section")
        node[keys[-1]] = value
    return data


def load_experiment(path: str | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Defaults, then the file (YAML or JSON), then overrides; unknown keys are errors."""
    data: dict = ExperimentConfig().to_dict()
    if path:
        _merge(data, load_config_file(path))
    apply_overrides(data, overrides or [])
    return ExperimentConfig.from_dict(data)


def _merge(base: dict, update: dict) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "backbone":
            _merge(base[key], value)
        else:
            base[key] = value


def flag_overrides(replays: list[str] | None = None, backbone: str | None = None,
                   hidden: int | None = None, layers: int | None = None, window: int | None = None,
                   delay: str | int | None = None, epochs: int | None = None,
                   max_steps: int | None = None, time_budget: float | None = None,
                   truncate_bptt: int | None = None, batch_size: int | None = None,
                   lr: float | None = None, seed: int | None = None, device: str | None = None,
                   workers: int | None = None, out: str | None = None,
                   stick_centers: str | None = None) -> list[str]:
    """The common options (the ``workbench train`` flags) as ``KEY=VALUE`` overrides;
    None leaves an option at its configured value. ``delay`` is D or "A-B"; ``replays``
    one path or several; ``stick_centers`` a ``workbench embed fit-sticks`` file, which
    switches the sticks to its k-means classes."""
    if isinstance(replays, (str, os.PathLike)):
        replays = [str(replays)]
    flat = {"replays": replays, "out": out, "policy.backbone.name": backbone,
            "policy.backbone.hidden_size": hidden, "policy.backbone.num_layers": layers,
            "train.window": window, "train.epochs": epochs, "train.max_steps": max_steps,
            "train.time_budget": time_budget, "train.truncate_bptt": truncate_bptt,
            "train.batch_size": batch_size, "train.lr": lr, "train.seed": seed,
            "train.device": device, "train.workers": workers}
    if delay is not None:
        low, _, high = str(delay).partition("-")
        flat["train.delay_min"], flat["train.delay_max"] = int(low), int(high or low)
    if stick_centers is not None:
        centers = load_centers(stick_centers)
        flat.update({"embed.controller.stick_mode": "kmeans",
                     "embed.controller.main_centers": centers["main"],
                     "embed.controller.c_centers": centers["c"]})
    if time_budget is not None and max_steps is None:
        flat["train.max_steps"] = 10**9  # the budget decides when to stop
    return [f"{key}={json.dumps(value)}" for key, value in flat.items() if value is not None]


def experiment(config: str | None = None, overrides: list[str] | tuple[str, ...] = (),
               **flags) -> ExperimentConfig:
    """Defaults, then a config file, then the common flags, then ``KEY=VALUE``
    overrides: the one way both the CLI and notebooks build an experiment."""
    cfg = load_experiment(config, flag_overrides(**flags) + list(overrides))
    if flags.get("backbone") and not any(o.startswith("policy.backbone=") for o in overrides):
        cfg.policy.backbone = _backbone_fields(cfg.policy.backbone)
    # absolute paths: a run's config is read later from other folders (eval, notebooks)
    cfg.replays = [os.path.abspath(p) for p in cfg.replays]
    cfg.store, cfg.cache, cfg.out = (os.path.abspath(p) for p in (cfg.store, cfg.cache, cfg.out))
    if cfg.distill.teacher:
        cfg.distill.teacher = os.path.abspath(cfg.distill.teacher)
    return cfg


def _backbone_fields(backbone: dict) -> dict:
    """A backbone switch keeps only the options the new backbone has."""
    import dataclasses

    from workbench.models.backbones import backbone_config_class
    known = {f.name for f in dataclasses.fields(backbone_config_class(backbone["name"]))}
    return {k: v for k, v in backbone.items() if k == "name" or k in known}
