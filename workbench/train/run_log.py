"""Feedback while training runs: a progress bar with ETA and a loss sparkline (terminal
and notebooks), metrics to JSONL and TensorBoard, and to W&B when installed and asked."""

from __future__ import annotations

import json
import time
import warnings
from collections import deque
from pathlib import Path

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    values = list(values)[-width:]
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(SPARKS[min(int((v - low) / span * (len(SPARKS) - 1)), len(SPARKS) - 1)] for v in values)


def truncate_metrics(path: Path, step: int) -> int:
    """Drop the rows of ``metrics.jsonl`` logged after ``step``: a run killed after its
    last checkpoint logged steps that the resume trains (and logs) again. Rewritten
    atomically; a torn last line (the kill cut a write) goes too. Returns rows dropped."""
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] > step:
            dropped += 1
            continue
        kept.append(line)
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(path)
    return dropped


class RunLog:
    def __init__(
        self,
        run_dir: Path,
        total_steps: int,
        start_step: int,
        enabled: bool = True,
        progress: bool = True,
        wandb_project: str = "",
        config: dict | None = None,
        on_log=None,
        desc: str = "train",
        unit: str = "step",
    ):
        from tqdm.auto import tqdm

        self.enabled = enabled
        self.jsonl = (run_dir / "metrics.jsonl").open("a") if enabled else None
        self.losses: deque[float] = deque(maxlen=64)
        self.bar = tqdm(
            total=total_steps,
            initial=start_step,
            unit=unit,
            dynamic_ncols=True,
            disable=not (enabled and progress),
            desc=desc,
        )
        self.tb = self._tensorboard(run_dir) if enabled else None
        self.wandb = self._wandb(wandb_project, config, run_dir) if enabled and wandb_project else None
        self.started = time.perf_counter()
        self.on_log = on_log

    @staticmethod
    def _tensorboard(run_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard not installed: JSONL only
            return None
        return SummaryWriter(str(run_dir / "tensorboard"))

    @staticmethod
    def _wandb(project: str, config: dict | None, run_dir: Path):
        try:
            import wandb
        except ImportError:
            warnings.warn(
                "train.wandb is set but wandb is not installed; logging to JSONL and "
                "TensorBoard only (pip install wandb)"
            )
            return None
        return wandb.init(project=project, config=config, dir=str(run_dir))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, "time": round(time.perf_counter() - self.started, 3), **metrics}
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(metrics, step=step)
        if self.on_log is not None:
            self.on_log(step, metrics)

    def progress(self, step: int, loss: float, extra: str = "") -> None:
        self.losses.append(loss)
        if self.enabled:
            self.bar.n = step
            self.bar.set_postfix_str(f"loss {loss:.3f} {sparkline(self.losses)} {extra}".strip())

    def write(self, text: str) -> None:
        if self.enabled:
            self.bar.write(text)

    def close(self) -> None:
        if not self.enabled:
            return
        self.bar.close()
        self.jsonl.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
