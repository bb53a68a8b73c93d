"""Metric arithmetic on aligned predictions: per-head accuracy and NLL beside the
repeat-last baseline, change-frame accuracy, button press rates, stick confusions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.data.baseline import DEFAULT_EPS, baseline_scores, constant_scores, rest_class
from workbench.embed.controller import ControllerSpec


@dataclass
class Predictions:
    """Everything eval keeps per frame, concatenated over games: ``(N, heads)`` arrays."""

    targets: np.ndarray  # true classes at frame i + D + 1
    previous: np.ndarray  # true classes at frame i + D (the repeat-last prediction)
    predicted: np.ndarray  # argmax of each head (teacher-forced on earlier components)
    nll: np.ndarray  # per head, nats
    probs: dict[str, np.ndarray]  # component -> (N, classes) or buttons (N, 8) press probs
    character: np.ndarray  # (N,) the agent's character name
    stage: np.ndarray  # (N,) stage name
    game: np.ndarray  # (N,) md5
    frame: np.ndarray  # (N,) frame number of the target
    state_row: np.ndarray | None = None  # (N,) cache row of the state frame i each step saw


def head_metrics(
    p: Predictions, spec: ControllerSpec, mask: np.ndarray | None = None, eps: float = DEFAULT_EPS
) -> dict[str, dict[str, float]]:
    """acc, nll and acc on change frames per head, each beside the baseline's; change
    frames split into onsets (to a non-rest class) and releases (back to rest), each
    beside the constant predictors' (:func:`~workbench.data.baseline.constant_scores`)."""
    sel = np.ones(len(p.targets), bool) if mask is None else mask
    targets, previous, predicted = p.targets[sel], p.previous[sel], p.predicted[sel]
    base = baseline_scores(targets, previous, spec, eps)
    constants = constant_scores(targets, previous, spec)
    out = {}
    for col, head in enumerate(spec.heads):
        changed = targets[:, col] != previous[:, col]
        at_rest = targets[:, col] == rest_class(spec, head.name)
        onset, release = changed & ~at_rest, changed & at_rest
        right = predicted[:, col] == targets[:, col]
        # paired per-frame difference from repeat-last; frames within a game are
        # correlated, so this 95% half-width is a lower bound on the real uncertainty
        gain = right.astype(np.float64) - (~changed)
        half_width = 1.96 * gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else float("nan")
        out[head.name] = {
            "acc": _mean(right),
            "nll": _mean(p.nll[sel][:, col]),
            "gain_ci95": float(half_width),
            "acc_change": _mean(right[changed]),
            "change_frames": int(changed.sum()),
            "acc_onset": _mean(right[onset]),
            "onset_frames": int(onset.sum()),
            "acc_release": _mean(right[release]),
            "release_frames": int(release.sum()),
            "baseline_acc": base[head.name]["acc"],
            "baseline_nll": base[head.name]["nll"],
            "baseline_acc_change": 0.0 if changed.any() else float("nan"),
            "frames": int(len(right)),
            **{k: v for k, v in constants[head.name].items() if k != "rest_class"},
        }
    return out


def button_metrics(p: Predictions, spec: ControllerSpec) -> dict[str, dict[str, float]]:
    """Per button: accuracy, predicted versus true press rate, the baseline's accuracy."""
    out = {}
    press = p.probs.get("buttons")
    for i, head in enumerate(h for h in spec.heads if h.kind == "button"):
        col = spec.index[head.name]
        out[head.name] = {
            "acc": _mean(p.predicted[:, col] == p.targets[:, col]),
            "true_rate": _mean(p.targets[:, col] == 1),
            "pred_rate": _mean(p.predicted[:, col] == 1),
            "mean_press_prob": float(press[:, i].mean()) if press is not None and len(press) else float("nan"),
            "baseline_acc": _mean(p.previous[:, col] == p.targets[:, col]),
        }
    return out


def axis_classes(spec: ControllerSpec, classes: np.ndarray, stick: str) -> dict[str, np.ndarray]:
    """Per-axis classes of one stick: the heads themselves (uniform), or the decoded
    k-means centre bucketed on the uniform axis grid."""
    if not spec.kmeans:
        return {axis: classes[:, spec.index[f"{stick}_{axis}"]] for axis in ("x", "y")}
    centers = spec.main_centers if stick == "main" else spec.c_centers
    xy = centers[classes[:, spec.index[stick]]]
    k = len(spec.axis_values)
    buckets = np.clip(np.rint((xy + 1) * 0.5 * (k - 1)), 0, k - 1).astype(np.int64)
    return {"x": buckets[:, 0], "y": buckets[:, 1]}


def stick_metrics(p: Predictions, spec: ControllerSpec, top: int = 10) -> dict[str, dict]:
    """Confusion matrix per stick axis (rows: true bucket, columns: predicted), the top
    off-diagonal confusions, and neutral-versus-edge accuracy."""
    k = len(spec.axis_values)
    centre = k // 2
    out = {}
    for stick in ("main", "c"):
        truth, guess = axis_classes(spec, p.targets, stick), axis_classes(spec, p.predicted, stick)
        for axis in ("x", "y"):
            t, g = truth[axis].astype(np.int64), guess[axis].astype(np.int64)
            matrix = np.bincount(t * k + g, minlength=k * k).reshape(k, k)
            off = matrix.copy()
            np.fill_diagonal(off, 0)
            order = np.argsort(off, axis=None)[::-1][:top]
            confusions = [
                {
                    "true": int(i // k),
                    "pred": int(i % k),
                    "count": int(off.flat[i]),
                    "true_value": float(spec.axis_values[i // k]),
                    "pred_value": float(spec.axis_values[i % k]),
                }
                for i in order
                if off.flat[i] > 0
            ]
            neutral, edge = t == centre, (t == 0) | (t == k - 1)
            out[f"{stick}_{axis}"] = {
                "confusion": matrix.tolist(),
                "top_confusions": confusions,
                "acc": _mean(t == g),
                "acc_neutral": _mean((t == g)[neutral]),
                "acc_edge": _mean((t == g)[edge]),
                "neutral_frames": int(neutral.sum()),
                "edge_frames": int(edge.sum()),
                "baseline_acc": _mean(axis_classes(spec, p.previous, stick)[axis] == t),
            }
    return out


def breakdown(p: Predictions, spec: ControllerSpec, key: str) -> dict[str, dict]:
    """Per character (or stage): frames, and main-stick and button accuracies beside the
    baseline's."""
    values = getattr(p, key)
    out = {}
    for value in sorted(set(values.tolist())):
        metrics = head_metrics(p, spec, values == value)
        out[value] = {
            "frames": int((values == value).sum()),
            **{name: {k: m[k] for k in ("acc", "baseline_acc", "nll", "baseline_nll")} for name, m in metrics.items()},
        }
    return out


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
