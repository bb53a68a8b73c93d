"""What attention looks at: per-layer, per-head weights over past frames for policies
whose backbone has attention (``attention``, ``jamba``, ``zamba``).

A trace runs one held-out game through the policy with ``return_attention=True`` and
keeps, per attention layer, weights ``(heads, T, W)``: row t is frame t's attention
over the W most recent frames, column ``W - 1`` being frame t itself and ``W - 1 - k``
the frame k back. Event masks (hits dealt and taken, shielding, action changes) come
from the same cached features the policy saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from workbench.data.align import segment_steps
from workbench.data.cache import EmbeddingCache, Segment
from workbench.errors import WorkbenchError
from workbench.models.policy import Policy

SHIELD_ACTIONS = frozenset(range(178, 183))  # GUARD_ON .. GUARD_REFLECT (incl. shield stun)


@dataclass
class AttentionTrace:
    weights: list[np.ndarray]  # per attention layer, (heads, T, W)
    rows: np.ndarray  # (T,) cache rows of the state frames
    events: dict[str, np.ndarray]  # event name -> (T,) bool

    @property
    def window(self) -> int:
        return self.weights[0].shape[-1]


@torch.no_grad()
def attention_trace(
    policy: Policy, cache: EmbeddingCache, segment: Segment, delay: int = 0, start: int = 0, length: int = 600
) -> AttentionTrace:
    """Attention weights over ``length`` steps of one game, from step ``start``."""
    aligned = segment_steps(segment.start, segment.length, delay, start, length)
    if len(aligned.state) == 0:
        raise WorkbenchError(f"the game has no steps from {start} at delay {delay}")
    rows = aligned.state
    a = cache.arrays
    t = lambda name, r: torch.from_numpy(np.asarray(a[name][r]))[None]  # noqa: E731 (1, T, .)
    x = policy.inputs(t("floats", rows), t("ids", rows), t("controller", aligned.controller))
    try:
        _, _, weights = policy.backbone(x, None, return_attention=True)
    except TypeError:
        raise WorkbenchError(
            f"backbone {policy.backbone.config.name!r} has no attention to "
            "show: use an attention, jamba or zamba checkpoint"
        ) from None
    return AttentionTrace([w[0].numpy() for w in weights], rows, event_masks(cache, rows))


def event_masks(cache: EmbeddingCache, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Frames where the agent hits (opponent's percent rises), is hit, shields, or
    changes action, read from the embedded features."""
    layout = cache.layout
    floats, ids = np.asarray(cache.arrays["floats"][rows]), np.asarray(cache.arrays["ids"][rows])
    previous = np.asarray(cache.arrays["floats"][np.maximum(rows - 1, 0)])
    pct = lambda who, f: f[:, layout.slices[f"{who}_percent"].start]  # noqa: E731
    out = {
        "hit_dealt": pct("opp", floats) > pct("opp", previous) + 1e-6,
        "hit_taken": pct("self", floats) > pct("self", previous) + 1e-6,
    }
    if "self_action" in layout.id_names:
        action = ids[:, layout.id_names.index("self_action")]
        out["shield"] = np.isin(action, list(SHIELD_ACTIONS))
        prev_action = np.asarray(cache.arrays["ids"][np.maximum(rows - 1, 0)])[:, layout.id_names.index("self_action")]
        out["action_change"] = action != prev_action
    return out


def mean_by_offset(trace: AttentionTrace, mask: np.ndarray | None = None) -> pd.DataFrame:
    """Mean weight per (layer, head, frames back), over all frames or those in ``mask``."""
    rows = []
    w = trace.window
    for layer, weights in enumerate(trace.weights):
        chosen = weights if mask is None else weights[:, mask]
        if chosen.shape[1] == 0:
            continue
        mean = chosen.mean(axis=1)  # (heads, W)
        for head in range(mean.shape[0]):
            rows += [
                {"layer": layer, "head": head, "frames_back": w - 1 - j, "weight": float(mean[head, j])}
                for j in range(w)
            ]
    return pd.DataFrame(rows)


def around_events(trace: AttentionTrace) -> pd.DataFrame:
    """Mean attention by offset at each event's frames, beside all frames ("all")."""
    parts = [mean_by_offset(trace).assign(event="all")]
    for name, mask in trace.events.items():
        if mask.any():
            parts.append(mean_by_offset(trace, mask).assign(event=name, frames=int(mask.sum())))
    return pd.concat(parts, ignore_index=True)


def entropy(trace: AttentionTrace) -> pd.DataFrame:
    """Mean attention entropy (nats) per layer and head; low means focused. ``max``: the
    entropy of uniform attention over the frames each row could see."""
    out = []
    for layer, weights in enumerate(trace.weights):
        p = np.clip(weights, 1e-12, 1.0)
        h = -(weights * np.log(p)).sum(-1)  # (heads, T)
        visible = (weights > 0).sum(-1).clip(min=1)
        for head in range(weights.shape[0]):
            out.append(
                {
                    "layer": layer,
                    "head": head,
                    "entropy": float(h[head].mean()),
                    "max": float(np.log(visible[head]).mean()),
                }
            )
    return pd.DataFrame(out)


def at_moments(trace: AttentionTrace, steps: list[int]) -> pd.DataFrame:
    """The attention rows of chosen steps: (step, layer, head, frames_back, weight)."""
    rows = []
    w = trace.window
    for step in steps:
        if not 0 <= step < trace.weights[0].shape[1]:
            continue
        for layer, weights in enumerate(trace.weights):
            for head in range(weights.shape[0]):
                rows += [
                    {
                        "step": step,
                        "layer": layer,
                        "head": head,
                        "frames_back": w - 1 - j,
                        "weight": float(weights[head, step, j]),
                    }
                    for j in range(w)
                ]
    return pd.DataFrame(rows)
