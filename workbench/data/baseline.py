"""The repeat-last-action baseline: predict that the controller at frame i + D + 1 is
the one at frame i + D (rows from :func:`workbench.data.align.align`). Every accuracy and NLL the workbench reports stands beside it."""

from __future__ import annotations

import numpy as np

from workbench.data.align import segment_steps
from workbench.data.cache import EmbeddingCache, Segment
from workbench.embed.controller import ControllerSpec

DEFAULT_EPS = 0.01


def baseline_scores(
    targets: np.ndarray, previous: np.ndarray, spec: ControllerSpec, eps: float = DEFAULT_EPS
) -> dict[str, dict[str, float]]:
    """Per head: accuracy and NLL of predicting ``previous`` for ``targets``, both
    ``(N, heads)``. The prediction puts ``1 - eps`` on the repeated class and spreads
    ``eps`` over the others, so a changed input costs ``-log(eps / (K - 1))`` nats."""
    same = targets == previous
    out = {}
    for col, head in enumerate(spec.heads):
        hit = same[:, col]
        nll_hit, nll_miss = -np.log1p(-eps), -np.log(eps / (head.classes - 1))
        out[head.name] = {
            "acc": float(hit.mean()) if len(hit) else float("nan"),
            "nll": float(np.where(hit, nll_hit, nll_miss).mean()) if len(hit) else float("nan"),
            "frames": int(len(hit)),
        }
    return out


def aligned_targets(cache: EmbeddingCache, segments: list[Segment], delay: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets (frame i + D + 1) and the controller before them (frame i + D) for every
    valid step of every segment, concatenated."""
    targets, previous = [], []
    data = cache.arrays["targets"]
    for s in segments:
        rows = segment_steps(s.start, s.length, delay)
        if len(rows.target) == 0:
            continue
        targets.append(np.asarray(data[rows.target]))
        previous.append(np.asarray(data[rows.controller]))
    if not targets:
        width = cache.spec.num_heads
        return np.zeros((0, width), np.int16), np.zeros((0, width), np.int16)
    return np.concatenate(targets), np.concatenate(previous)


def repeat_last_baseline(
    cache: EmbeddingCache, segments: list[Segment], delay: int = 0, eps: float = DEFAULT_EPS
) -> dict[str, dict[str, float]]:
    """The baseline over the original (un-augmented) variant of ``segments``."""
    originals = [s for s in segments if s.variant == 0]
    targets, previous = aligned_targets(cache, originals, delay)
    return baseline_scores(targets, previous, cache.spec, eps)


def rest_class(spec: ControllerSpec, name: str) -> int:
    """The class a head sits at when the player does nothing: released for buttons and
    the trigger, the centre for a stick axis, the centre nearest (0, 0) for a 2-D stick."""
    head = spec.heads[spec.index[name]]
    if head.kind in ("button", "trigger"):
        return 0
    if head.kind == "stick_axis":
        return head.classes // 2
    centers = spec.main_centers if name == "main" else spec.c_centers
    return int(np.argmin(np.square(centers).sum(-1)))


def constant_scores(targets: np.ndarray, previous: np.ndarray, spec: ControllerSpec) -> dict[str, dict[str, float]]:
    """Per head, the best constant predictor in hindsight (the most frequent class of
    ``targets``) and the always-at-rest predictor: accuracy on every frame, on change
    frames, on onsets (a change to a non-rest class: a press, a stick leaving the
    centre or moving on) and on releases (a change back to rest). A model that never
    presses scores 1 on releases and 0 on onsets; both beside the model's keep a
    change-frame accuracy of 0.5 from passing for skill."""
    out = {}
    for col, head in enumerate(spec.heads):
        truth, before = targets[:, col], previous[:, col]
        rest = rest_class(spec, head.name)
        counts = np.bincount(truth.astype(np.int64), minlength=head.classes)
        majority = int(counts.argmax()) if len(truth) else rest
        changed = truth != before
        onset, release = changed & (truth != rest), changed & (truth == rest)
        row = {"majority_class": majority, "rest_class": rest}
        for label, guess in (("constant", majority), ("rest", rest)):
            right = truth == guess
            row.update(
                {
                    f"{label}_acc": _mean(right),
                    f"{label}_acc_change": _mean(right[changed]),
                    f"{label}_acc_onset": _mean(right[onset]),
                    f"{label}_acc_release": _mean(right[release]),
                }
            )
        out[head.name] = row
    return out


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
