"""One flat row of scalars from an eval report: what a sweep arm records and a table
compares (``workbench sweep`` aggregates these names over seeds)."""

from __future__ import annotations

from workbench.eval.diagnostics import ABLATIONS, BITS, baseline_bits

TABLE_HEADS = ("main_x", "main_y")  # heads whose accuracy and NLL get their own columns


def _nll_below_baseline(heads: dict[str, dict]) -> int:
    return sum(m["nll"] < m["baseline_nll"] for m in heads.values())


def arm_metrics(report: dict, delay: int = 0, far_delay: int | None = None) -> dict[str, float]:
    """Scalars of ``report`` (:func:`workbench.eval.evaluate`) at ``delay``, each beside
    repeat-last's (``eval/repeat_baseline/...``): bits per frame, per-head accuracy and NLL
    of :data:`TABLE_HEADS`, main_x accuracy on change frames, the mean NLL over heads, how
    many heads reach repeat-last's accuracy and beat its NLL, the input ablations scored at
    ``delay``; at ``far_delay`` (when scored) its bits per frame and the relative gap
    ``(far - near) / far``, which a model that reacts to the state makes large; per
    character scored (``eval/character/<name>/...``, name lower case with ``_`` for
    spaces) its frames, bits per frame and main_x accuracy, so a specialist and a
    multi-character model compare on the same players."""
    delays = report["delays"]
    if str(delay) not in delays:
        raise KeyError(f"the report has no delay {delay}; it scored {sorted(delays, key=int)}")
    block = delays[str(delay)]
    heads = block["heads"]
    out = {
        "eval/bits_per_frame": block["bits_per_frame"],
        "eval/repeat_baseline/bits_per_frame": block["baseline_bits_per_frame"],
        "eval/mean_nll": sum(m["nll"] for m in heads.values()) / len(heads),
        "eval/repeat_baseline/mean_nll": sum(m["baseline_nll"] for m in heads.values()) / len(heads),
        "eval/main_x_acc_change": heads["main_x"]["acc_change"],
        "eval/heads": len(heads),
        "eval/heads_acc_at_least_baseline": sum(m["acc"] >= m["baseline_acc"] for m in heads.values()),
        "eval/heads_nll_below_baseline": _nll_below_baseline(heads),
        "eval/ms_per_frame": report["ms_per_frame"],
    }
    for name in TABLE_HEADS:
        m = heads[name]
        out |= {
            f"eval/{name}_acc": m["acc"],
            f"eval/repeat_baseline/{name}_acc": m["baseline_acc"],
            f"eval/{name}_nll": m["nll"],
            f"eval/repeat_baseline/{name}_nll": m["baseline_nll"],
        }
    for name in ABLATIONS:
        ablated = block.get("ablations", {}).get(name)
        if ablated is not None:
            out[f"eval/{name}/bits_per_frame"] = ablated["bits_per_frame"]
    for character, block_c in block.get("per_character", {}).items():
        key = character.lower().replace(" ", "_")
        heads_c = {k: v for k, v in block_c.items() if isinstance(v, dict)}
        out[f"eval/character/{key}/frames"] = block_c["frames"]
        out[f"eval/character/{key}/bits_per_frame"] = sum(m["nll"] for m in heads_c.values()) * BITS
        out[f"eval/repeat_baseline/character/{key}/bits_per_frame"] = baseline_bits(heads_c)
        out[f"eval/character/{key}/main_x_acc"] = heads_c["main_x"]["acc"]
        out[f"eval/repeat_baseline/character/{key}/main_x_acc"] = heads_c["main_x"]["baseline_acc"]
    if far_delay is not None and far_delay != delay and str(far_delay) in delays:
        far = delays[str(far_delay)]
        out["eval/far/bits_per_frame"] = far["bits_per_frame"]
        out["eval/far/heads_nll_below_baseline"] = _nll_below_baseline(far["heads"])
        out["eval/delay_gap"] = (far["bits_per_frame"] - block["bits_per_frame"]) / far["bits_per_frame"]
    return {key: float(value) for key, value in out.items()}
