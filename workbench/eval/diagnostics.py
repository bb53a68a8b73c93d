"""Does the policy use the game state? Numbers that answer it.

* **Bits per frame**: the sum of the per-head NLLs in bits (the joint NLL of the
  autoregressive head, teacher-forced), beside the repeat-last baseline's.
* **Input ablations**: the same trained model scored with the game state replaced by a
  constant (it keeps its own past inputs) and with its own past inputs replaced by a
  constant (it keeps the state). The constants are the mean float row and the most
  common id per column over the scored games, so the ablated input is a plausible
  average frame rather than zeros the network never saw.
* **Situations**: per-head accuracy on change frames (the input at i + D + 1 differs
  from i + D) split by what the agent sees in the state frame i: in hitstun, on shield,
  at the ledge, after the opponent's action changed (in the last few frames), and
  neutral (none of those, neither player in hitstun).
"""

from __future__ import annotations

import numpy as np

from workbench.data.cache import EmbeddingCache, Segment
from workbench.train.losses import BITS

SHIELD_ACTIONS = tuple(range(178, 183))  # GUARD_ON .. GUARD_REFLECT (incl. shield stun)
LEDGE_ACTIONS = tuple(range(252, 264))  # CLIFF_CATCH .. CLIFF_JUMP_QUICK_2
OPPONENT_CHANGE_FRAMES = 10  # "after the opponent's action changes": this recent
ABLATIONS = {"state_removed": ("floats", "ids"), "own_inputs_removed": ("controller",)}


def bits_per_frame(nll: np.ndarray) -> float:
    """``nll (N, heads)`` in nats -> mean over frames of the summed NLL, in bits."""
    return float(nll.sum(axis=1).mean() * BITS) if len(nll) else float("nan")


def baseline_bits(heads: dict[str, dict[str, float]]) -> float:
    """The repeat-last baseline's bits per frame from :func:`head_metrics` output."""
    return float(sum(m["baseline_nll"] for m in heads.values()) * BITS)


def ablation_constants(
    cache: EmbeddingCache, segments: list[Segment], ablation: str, sample: int = 20000
) -> dict[str, np.ndarray]:
    """Constant rows replacing the inputs ``ablation`` removes: the mean of each float
    column and the most common value of each id column over (a sample of) the rows of
    ``segments``."""
    rows = np.concatenate([np.arange(s.start, s.start + s.length) for s in segments])
    if len(rows) > sample:
        rows = np.sort(np.random.default_rng(0).choice(rows, sample, replace=False))
    out = {}
    for name in ABLATIONS[ablation]:
        values = np.asarray(cache.arrays[name][rows])
        if name == "ids":
            out[name] = np.array(
                [np.bincount(col.astype(np.int64) - col.min()).argmax() + col.min() for col in values.T],
                dtype=values.dtype,
            )
        else:
            out[name] = values.mean(axis=0).astype(values.dtype)
    return out


def situation_masks(cache: EmbeddingCache, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean masks over state rows ``rows`` (N,): what the agent sees at frame i."""
    layout, arrays = cache.layout, cache.arrays
    floats, ids = np.asarray(arrays["floats"][rows]), np.asarray(arrays["ids"][rows])

    def column(who: str, name: str) -> np.ndarray:
        return floats[:, layout.slices[f"{who}_{name}"].start] if f"{who}_{name}" in layout.slices else None

    out: dict[str, np.ndarray] = {}
    stun_self, stun_opp = column("self", "hitstun"), column("opp", "hitstun")
    if stun_self is not None:
        out["hitstun"] = stun_self > 0
    if "self_action" in layout.id_names:
        action = ids[:, layout.id_names.index("self_action")]
        out["shield"] = np.isin(action, SHIELD_ACTIONS)
        out["ledge"] = np.isin(action, LEDGE_ACTIONS)
    if "opp_action" in layout.id_names:
        col = layout.id_names.index("opp_action")
        changed = np.zeros(len(rows), bool)
        current = ids[:, col]
        for back in range(1, OPPONENT_CHANGE_FRAMES + 1):
            earlier = np.asarray(arrays["ids"][np.maximum(rows - back, 0)])[:, col]
            changed |= earlier != current
            current = earlier
        out["opponent_action_change"] = changed
    busy = np.zeros(len(rows), bool)
    for mask in out.values():
        busy |= mask
    if stun_opp is not None:
        busy |= stun_opp > 0
    out["neutral"] = ~busy
    return out


def situation_report(
    targets: np.ndarray,
    previous: np.ndarray,
    predicted: np.ndarray,
    masks: dict[str, np.ndarray],
    head_names: list[str],
) -> dict[str, dict]:
    """Per situation: frames, and per head the accuracy on all and on change frames (the
    repeat-last baseline scores 0 on change frames by definition)."""
    right = predicted == targets
    changed = targets != previous
    out = {}
    for name, mask in masks.items():
        entry = {"frames": int(mask.sum()), "heads": {}}
        for col, head in enumerate(head_names):
            on_change = mask & changed[:, col]
            entry["heads"][head] = {
                "acc": _mean(right[mask, col]),
                "baseline_acc": _mean(~changed[mask, col]),
                "acc_change": _mean(right[on_change, col]),
                "change_frames": int(on_change.sum()),
            }
        out[name] = entry
    return out


def ablation_summary(full: dict, ablated: dict) -> dict:
    """Bits per frame and per-head accuracy of an ablated model beside the full one."""
    return {
        "bits_per_frame": ablated["bits_per_frame"],
        "bits_gap": ablated["bits_per_frame"] - full["bits_per_frame"],
        "heads": {
            name: {"acc": m["acc"], "nll": m["nll"], "acc_change": m["acc_change"]}
            for name, m in ablated["heads"].items()
        },
    }


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
