"""Evaluation: per-delay, per-head metrics beside the repeat-last-action baseline."""

from workbench.eval import attention
from workbench.eval.evaluate import evaluate, held_out, predict_segment, step_latency_ms
from workbench.eval.metrics import Predictions, breakdown, button_metrics, head_metrics, stick_metrics

__all__ = [
    "attention",
    "evaluate",
    "held_out",
    "predict_segment",
    "step_latency_ms",
    "Predictions",
    "breakdown",
    "button_metrics",
    "head_metrics",
    "stick_metrics",
]
