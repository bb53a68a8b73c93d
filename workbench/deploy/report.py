"""One table for the deploy notebook: every quantization of a checkpoint exported, its
drift from PyTorch and its accuracy change on a held-out game, and its per-frame latency
(embedding and decoding included), measured side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from workbench.deploy.export import export_variants
from workbench.deploy.quantize import MODES
from workbench.deploy.latency import DEFAULT_REPLAY, bench_interleaved, replay_states
from workbench.deploy.rollout import accuracy, compare, load_games, rollout_onnx, rollout_torch


def held_out_replays(checkpoint: str | Path) -> list[str]:
    """Replay files of the games the checkpoint's run did not train on, longest first."""
    from workbench.eval import held_out
    from workbench.replay import FrameStore

    _, cfg, cache, segments = held_out(checkpoint)
    rows = {r["md5"]: r for r in FrameStore(cfg.store).games()}
    md5s = sorted({s.md5 for s in segments}, key=lambda m: -(rows[m]["frames"] or 0))
    return [rows[m]["path"] for m in md5s]


def quantization_table(
    checkpoint: str | Path,
    out_dir: str | Path,
    replay: str | Path,
    modes: tuple[str, ...] = MODES,
    frames: int = 320,
    latency_frames: int = 2000,
    latency_replay: str | Path = DEFAULT_REPLAY,
) -> pd.DataFrame:
    """Export ``checkpoint`` in each mode to ``out_dir``; roll ``frames`` steps of
    ``replay`` (player 1's view) through PyTorch and each model; time the bot loop over
    ``latency_replay`` (libmelee plays Slippi 3.0+ replays only)."""
    from workbench.train.checkpoint import load_policy

    policy, _, folder = load_policy(checkpoint)
    game = load_games([replay], policy.embed_config, perspectives=(0,))[0]
    reference = rollout_torch(policy, game, frames)
    base_acc = accuracy(reference, game)
    rows_next = np.arange(reference.start, reference.start + len(reference)) + 1
    repeat_acc = float((game.targets[rows_next] == game.targets[rows_next - 1]).mean())
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {mode: out_dir / f"model-{mode}.onnx" for mode in modes}
    export_variants(policy, models, calibration=[str(replay)], checkpoint=folder)  # one export
    rows = []
    for mode, path in models.items():
        rollout = rollout_onnx(path, game, frames)
        acc = accuracy(rollout, game)
        rows.append(
            {
                "quantization": mode,
                **compare(reference, rollout),
                "accuracy": acc,
                "accuracy_change": acc - base_acc,
                "change_noise": change_noise(reference, rollout, game),
                "repeat_last_accuracy": repeat_acc,
                "frames": len(rollout),
                "size_kb": round(path.stat().st_size / 1024, 1),
            }
        )
    latency = bench_interleaved(models, replay_states(latency_replay), latency_frames)
    for row in rows:
        result = latency[row["quantization"]]
        row.update(
            p50_ms=result["p50_ms"],
            p99_ms=result["p99_ms"],
            embed_p50_ms=result["breakdown"]["embed"]["p50_ms"],
            model_p50_ms=result["breakdown"]["model"]["p50_ms"],
            decode_p50_ms=result["breakdown"]["decode"]["p50_ms"],
        )
    return pd.DataFrame(rows)


def change_noise(reference, rollout, game) -> float:
    """95% half-width of an accuracy change on these frames: the per-frame difference in
    hits (over heads) between ``rollout`` and ``reference``, paired. A change smaller than
    this is noise from a few frames whose choice flipped, not a better model."""
    rows = np.arange(reference.start, reference.start + len(reference)) + 1
    truth = game.targets[rows]
    diff = (rollout.targets == truth).mean(1) - (reference.targets == truth).mean(1)  # (N,)
    if len(diff) < 2 or not diff.any():
        return 0.0
    return float(1.96 * diff.std(ddof=1) / np.sqrt(len(diff)))


def quantization_verdict(table: pd.DataFrame) -> str:
    """The deploy page's verdict: PyTorch versus repeat-last on the parity frames, and each
    quantization's accuracy change beside its noise level."""
    none = table[table["quantization"] == "none"].iloc[0]
    fp32 = none["accuracy"] - none["accuracy_change"]
    gap = 100 * (fp32 - none["repeat_last_accuracy"])
    text = (
        f"On {int(none['frames'])} frames of one held-out game, the exported model's choices "
        f"are right on {fp32:.3f} of frames x heads against repeat-last's "
        f"{none['repeat_last_accuracy']:.3f} ({gap:+.1f} points: "
        f"{'better' if gap > 0 else 'worse'} than repeating the last input). "
    )
    parts = []
    for row in table.itertuples():
        change, noise = 100 * row.accuracy_change, 100 * row.change_noise
        within = abs(change) <= noise
        parts.append(
            f"{row.quantization} {change:+.2f} ± {noise:.2f} points ({'within noise' if within else 'beyond noise'})"
        )
    return (
        text + "Accuracy change from quantization, with its 95% noise level on these "
        "frames: "
        + "; ".join(parts)
        + ". p50 latency per frame: "
        + ", ".join(f"{r.quantization} {r.p50_ms:.2f} ms" for r in table.itertuples())
        + "."
    )
