"""The experiment config: one typed tree, loaded from YAML/JSON, flags and ``--set``
overrides (:mod:`workbench.configtree`), saved (resolved) in the run folder and with
every checkpoint. Fields declared with ``option(..., flag="--x")`` are ``workbench
train`` flags and keyword arguments of :func:`experiment`; every field is reachable as
``--set section.field=VALUE``."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.configtree import build, flag_updates, option, parse_override, set_path
from workbench.data.cache import AugmentConfig
from workbench.embed.config import DictMixin, EmbedConfig
from workbench.errors import ConfigError
from workbench.io import default_path
from workbench.models.policy import PolicyConfig
from workbench.replay.quality import check_filters, parse_flags

SCHEDULES = ("constant", "cosine", "linear", "warmup_cosine")
CONFIG_VERSION = 3
BUDGET_STEPS = 10**9  # max_steps under a time budget: the clock decides when to stop


def parse_duration(text: str | float | int) -> float:
    """'20m', '1h30m', '90s' or plain seconds -> seconds (> 0)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        total = float(text)
    else:
        rest = str(text).strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", rest)
        if re.fullmatch(r"\d+(\.\d+)?", rest):
            total = float(rest)
        elif parts and "".join(a + b for a, b in parts) == rest:
            total = sum(float(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts)
        else:
            raise ConfigError(f"--time-budget {text!r}: write e.g. 20m, 1h30m, 90s or seconds")
    if not total > 0:
        raise ConfigError(f"--time-budget {text!r}: must be more than 0 seconds")
    return total


def _budget(text) -> dict:
    return {"time_budget": parse_duration(text), "max_steps": BUDGET_STEPS}


def _delay_range(text) -> dict:
    """``--delay D`` or ``--delay A-B`` (D drawn per sequence from [A, B])."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", str(text))
    if not match:
        raise ConfigError(f"--delay {text!r}: write a frame count D or a range A-B, e.g. 6 or 2-8")
    low, high = int(match.group(1)), int(match.group(2) or match.group(1))
    if high < low:
        raise ConfigError(f"--delay {text!r}: the range must go up, e.g. 2-8")
    return {"delay_min": low, "delay_max": high}


def _at_least(section: str, low: float, **values: float) -> None:
    for name, value in values.items():
        if value < low:
            raise ConfigError(f"{section}.{name}={value}: use >= {low:g}")


@dataclass
class LossConfig(DictMixin):
    label_smoothing: float = 0.0
    focal_gamma: float = 0.0  # 0: plain cross-entropy / BCE
    button_weight: float = 1.0  # per-head weights
    stick_weight: float = 1.0
    trigger_weight: float = 1.0
    stick_edge_weight: float = 0.0  # extra weight on far-from-neutral stick classes
    balance_stick_classes: bool = False  # inverse-frequency weights over stick classes
    aux_action_lambda: float = 0.0  # > 0 adds the next-action-state head
    # extra weight on change frames: a component's loss on a frame whose target differs
    # from the input before it counts 1 + change_weight times (rewards reacting)
    change_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"loss.label_smoothing={self.label_smoothing}: use [0, 1)")
        if self.focal_gamma < 0:
            raise ConfigError(f"loss.focal_gamma={self.focal_gamma}: use >= 0")
        _at_least(
            "loss",
            0,
            button_weight=self.button_weight,
            stick_weight=self.stick_weight,
            trigger_weight=self.trigger_weight,
            stick_edge_weight=self.stick_edge_weight,
            aux_action_lambda=self.aux_action_lambda,
            change_weight=self.change_weight,
        )


@dataclass
class TrainConfig(DictMixin):
    batch_size: int = option(64, flag="--batch-size", help="sequences per batch")
    window: int = option(64, flag="--window", help="sequence length T (1 for MLPs)")
    stride: int | None = None  # None: random windows each epoch
    delay_min: int = option(
        0,
        flag="--delay",
        metavar="D|A-B",
        parse=_delay_range,
        expand=True,
        help="frame delay D, or a range A-B sampled per sequence",
    )
    delay_max: int = 0  # D per sequence, drawn from [delay_min, delay_max]
    truncate_bptt: int = option(
        0, flag="--truncate-bptt", metavar="K", help="stream games in chunks of K frames, carrying state"
    )
    # > 0: stream games in chunks of this many frames, carrying the state across chunks,
    # reset per game
    epochs: int = option(
        1, flag="--epochs", group="budget", help="passes over the data (at least train.min_steps steps)"
    )
    # a budget in epochs runs at least this many optimizer steps: one pass over a small
    # corpus (the bundled replays: about 10 batches) is too few to learn anything
    min_steps: int = 300
    max_steps: int = option(
        0, flag="--max-steps", group="budget", help="optimizer steps (overrides --epochs)"
    )  # > 0 stops there
    time_budget: float = option(
        0.0,
        flag="--time-budget",
        group="budget",
        parse=_budget,
        expand=True,
        help="wall-clock budget, e.g. 20m, 1h30m, 90s",
    )
    lr: float = option(1e-3, flag="--lr", help="peak learning rate")
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "warmup_cosine"
    warmup_steps: int = 100  # at most a tenth of a run's steps (optim.warmup_steps)
    min_lr_ratio: float = 0.1
    grad_clip: float = 1.0  # 0 disables
    grad_accum: int = 1
    ema_decay: float = 0.0  # > 0 keeps an EMA of the weights (used for eval/export)
    early_stopping: int = 0  # evals without val-loss improvement before stopping
    eval_every: int = 200  # steps
    eval_batches: int = 20
    checkpoint_every: int = 200
    keep_last: int = 3
    seed: int = option(0, flag="--seed", help="initialisation, sampling order, augmentation")
    split_seed: int = 0  # which games are held out: fixed while seeds vary,
    val_fraction: float = 0.15  # so arms of a sweep are scored on the same games
    workers: int = option(0, flag="--workers", help="data-loader worker processes")
    device: str = option("auto", flag="--device", help="auto, cpu or cuda")
    amp: str = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU; or off
    characters: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    # replay quality (workbench.replay.quality): games scoring below the threshold, or
    # carrying any of the flags, are left out of training
    quality_threshold: float = option(
        0.0,
        flag="--quality-threshold",
        metavar="SCORE",
        help="train on games whose quality score (0..1) is at least SCORE",
    )
    exclude_flags: list[str] = option(
        default_factory=list,
        flag="--exclude-flags",
        metavar="FLAGS",
        parse=parse_flags,
        help="leave out games with any of these quality flags, e.g. sd_chain,idle,quit_early,sandbagging",
    )
    balance_characters: bool = False
    perspectives: str = "humans"  # "humans" or "all" (CPU ports too)
    wandb: str = ""  # W&B project name; empty disables
    log_every: int = 10

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"train.schedule={self.schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.delay_max < self.delay_min or self.delay_min < 0:
            raise ConfigError(f"delay range [{self.delay_min}, {self.delay_max}] is not valid")
        _at_least(
            "train",
            1,
            window=self.window,
            batch_size=self.batch_size,
            grad_accum=self.grad_accum,
            eval_every=self.eval_every,
            eval_batches=self.eval_batches,
            checkpoint_every=self.checkpoint_every,
            log_every=self.log_every,
        )
        _at_least(
            "train",
            0,
            epochs=self.epochs,
            max_steps=self.max_steps,
            time_budget=self.time_budget,
            truncate_bptt=self.truncate_bptt,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            grad_clip=self.grad_clip,
            early_stopping=self.early_stopping,
            keep_last=self.keep_last,
            workers=self.workers,
            min_steps=self.min_steps,
            quality_threshold=self.quality_threshold,
        )
        if not (self.epochs or self.max_steps or self.time_budget):
            raise ConfigError("train.epochs, max_steps and time_budget are all 0: nothing to train")
        if not self.lr >= 0:  # 0 freezes the weights (tests of early stopping use it)
            raise ConfigError(f"train.lr={self.lr}: use a learning rate >= 0")
        if not 0.0 <= self.val_fraction < 1.0 or not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError("train.val_fraction and train.ema_decay must be in [0, 1)")
        if self.stride is not None and self.stride < 1:
            raise ConfigError(f"train.stride={self.stride}: use >= 1 (or null for random windows)")
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise ConfigError(f"train.device={self.device!r}: use auto, cpu, cuda or cuda:N")
        check_filters(self.quality_threshold, self.exclude_flags, "train.quality_threshold=")
        if self.perspectives not in ("humans", "all"):
            raise ConfigError(f"train.perspectives={self.perspectives!r}: use humans or all")


@dataclass
class DistillConfig(DictMixin):
    teacher: str = ""  # checkpoint folder; empty disables distillation
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the soft-target loss; 1 - alpha on the labels


def _v1_to_v2(data: dict) -> dict:
    """v2 added the replay-quality filters; v1 runs trained on every game."""
    train = data.setdefault("train", {})
    train.setdefault("quality_threshold", 0.0)
    train.setdefault("exclude_flags", [])
    return data


def _v2_to_v3(data: dict) -> dict:
    """v3 made the copy prior and the delay input defaults; v2 runs had neither."""
    policy = data.setdefault("policy", {})
    policy.setdefault("copy_prior", False)
    policy.setdefault("delay_input", False)
    return data


#: version -> the step that brings a config dict of that version to the next
UPGRADES = {1: _v1_to_v2, 2: _v2_to_v3}


@dataclass
class ExperimentConfig(DictMixin):
    replays: list[str] = option(
        default_factory=lambda: ["data/replays"],
        flag="--replays",
        nargs="+",
        help="replay files/folders (default: data/replays)",
    )
    store: str = ".cache/store"
    cache: str = ".cache/embeddings"
    out: str = option("runs/default", flag="--out", help="run folder (checkpoints, config, metrics)")
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if self.version != CONFIG_VERSION:
            raise ConfigError(
                f"config version {self.version}: this workbench builds version "
                f"{CONFIG_VERSION} (older saved configs are upgraded when loaded)"
            )
        if self.loss.aux_action_lambda > 0:
            if self.embed.player.action != "learned":
                raise ConfigError(
                    "loss.aux_action_lambda needs embed.player.action=learned "
                    "(the next action is read from the action ids)"
                )
            self.policy.aux_action_head = True  # derived: the loss needs the head
        if self.policy.backbone.name == "dt":
            self.embed.returns.enabled = True  # derived: a Decision Transformer reads the return

    @classmethod
    def upgrade(cls, data: dict) -> dict:
        """A saved config dict of any earlier version brought to this one (a dict with no
        version is taken as current: a hand-written YAML file)."""
        data = json.loads(json.dumps(data))  # a copy, tuples as lists
        version = data.get("version", CONFIG_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ConfigError(f"config version {version!r}: expected a positive integer")
        if version > CONFIG_VERSION:
            raise ConfigError(
                f"config version {version} is newer than this workbench reads ({CONFIG_VERSION}); upgrade the workbench"
            )
        while version < CONFIG_VERSION:
            data = UPGRADES[version](data)
            version += 1
        data["version"] = CONFIG_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ExperimentConfig:
        return super().from_dict(cls.upgrade(data))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """``["train.lr=3e-4", "policy.backbone.name=mamba"]`` applied to a (sparse) config
    dict; every key checked against the experiment tree."""
    for text in overrides:
        key, value = parse_override(text)
        set_path(ExperimentConfig, data, key, value)
    return data


def load_experiment(path: str | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Defaults, then the file (YAML or JSON), then overrides; unknown keys are errors."""
    return build(ExperimentConfig, path, (), overrides or [])


def experiment(
    config: str | dict | None = None, overrides: list[str] | tuple[str, ...] = (), **flags: Any
) -> ExperimentConfig:
    """Defaults, then a config file, then the ``workbench train`` flags as keyword
    arguments (``backbone="gru", hidden=32, delay="2-6", time_budget="20m"``), then
    ``KEY=VALUE`` overrides: the one way both the CLI and notebooks build an experiment.
    A flag name or key that does not exist is an error naming the closest one."""
    if isinstance(flags.get("replays"), (str, os.PathLike)):
        flags["replays"] = [str(flags["replays"])]
    cfg = build(ExperimentConfig, config, flag_updates(flags, ExperimentConfig), overrides)
    # absolute paths: a run's config is read later from other folders (eval, notebooks);
    # the defaults live under the project, whatever the current directory
    defaults = ExperimentConfig()
    if cfg.replays == defaults.replays:
        cfg.replays = [default_path(p) for p in cfg.replays]
    for name in ("store", "cache", "out"):
        value = getattr(cfg, name)
        setattr(cfg, name, default_path(value) if value == getattr(defaults, name) else value)
    cfg.replays = [os.path.abspath(p) for p in cfg.replays]
    cfg.store, cfg.cache, cfg.out = (os.path.abspath(p) for p in (cfg.store, cfg.cache, cfg.out))
    if cfg.distill.teacher:
        cfg.distill.teacher = os.path.abspath(cfg.distill.teacher)
    return cfg
