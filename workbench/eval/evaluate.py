"""``workbench eval``: a checkpoint on held-out games, per delay and per head, every
number beside the repeat-last-action baseline.

Each game is run start to end in chunks with the backbone state carried, so every
frame has its full history. Heads are teacher-forced on the true earlier components
(the autoregressive factorisation): the per-head NLLs sum to the joint NLL.

``eval.json`` schema (stable; documented in the README)::

    {"checkpoint", "replays": [...], "games": [...], "split", "characters": [...], "frames",
     "delays": {"0": {"heads": {"main_x": {"acc", "nll", "acc_change", "baseline_acc",
                                           "baseline_nll", ...}, ...},
                      "buttons": {"A": {"acc", "true_rate", "pred_rate", ...}, ...},
                      "sticks": {"main_x": {"confusion", "top_confusions", ...}, ...},
                      "bits_per_frame", "baseline_bits_per_frame",
                      "situations": {"hitstun": {"frames", "heads": {"main_x": {"acc",
                                     "baseline_acc", "acc_change", "change_frames"}}}, ...},
                      "ablations": {"state_removed": {"bits_per_frame", "bits_gap", "heads"},
                                    "own_inputs_removed": {...}},   # ablation delays only
                      "per_character": {...}, "per_stage": {...}}, ...},
     "delay_curve": [{"delay", "bits_per_frame", "baseline_bits_per_frame", "main_x_acc",
                      "main_x_baseline_acc", ...}],
     "ms_per_frame", "eval_frames_per_s"}
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.data import EmbeddingCache, Segment, Split, build_cache
from workbench.data.align import segment_steps, step_count
from workbench.errors import WorkbenchError
from workbench.eval import diagnostics
from workbench.eval.metrics import Predictions, breakdown, button_metrics, head_metrics, stick_metrics
from workbench.models.policy import Policy
from workbench.replay import FrameStore
from workbench.replay.quality import check_filters
from workbench.train.checkpoint import load_policy, run_dir_of
from workbench.train.data import quality_games, stored_games
from workbench.types import character_keys

CHUNK = 512


@torch.no_grad()
def predict_segment(
    policy: Policy,
    cache: EmbeddingCache,
    seg: Segment,
    delay: int,
    chunk: int = CHUNK,
    replace: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray] | None:
    """Teacher-forced predictions for every step of one game: i = 0 .. L - D - 2.
    ``replace`` maps input arrays (floats, ids, controller) to a constant row that
    stands in for every frame of them (:mod:`workbench.eval.diagnostics`)."""
    steps = step_count(seg.length, delay)
    if steps <= 0:
        return None
    arrays, replace = cache.arrays, replace or {}
    state = policy.initial_state(1)
    parts: dict[str, list] = {"targets": [], "previous": [], "predicted": [], "nll": []}
    probs: dict[str, list] = {c.name: [] for c in policy.head.components}
    for first in range(0, steps, chunk):
        rows = segment_steps(seg.start, seg.length, delay, first, chunk)

        def t(name: str, r: np.ndarray) -> torch.Tensor:  # (1, C, .)
            if name in replace:  # an ablated input: one constant row for every step
                return torch.from_numpy(np.broadcast_to(replace[name], (len(r), *replace[name].shape)).copy())[None]
            return torch.from_numpy(np.asarray(arrays[name][r]))[None]

        targets = t("targets", rows.target).long()
        out = policy(
            t("floats", rows.state),
            t("ids", rows.state),
            t("controller", rows.controller),
            targets,
            state,
            delay=torch.tensor([delay]),
        )
        state = out.state
        predicted, nll = _score(policy, out.logits, targets[0], probs)
        parts["targets"].append(targets[0].numpy())
        parts["previous"].append(np.asarray(arrays["targets"][rows.controller]))  # repeat-last
        parts["predicted"].append(predicted)
        parts["nll"].append(nll)
    result = {k: np.concatenate(v) for k, v in parts.items()}
    result.update({f"prob_{k}": np.concatenate(v) for k, v in probs.items()})
    return result


def _score(
    policy: Policy, logits: dict[str, torch.Tensor], targets: torch.Tensor, probs: dict[str, list]
) -> tuple[np.ndarray, np.ndarray]:
    """(C, heads) argmax classes and per-head NLL from one chunk's logits."""
    n, heads = targets.shape
    predicted = np.zeros((n, heads), dtype=np.int16)
    nll = np.zeros((n, heads), dtype=np.float32)
    for comp in policy.head.components:
        z = logits[comp.name][0].float()  # (C, classes)
        cols = list(comp.heads)
        if comp.binary:
            y = targets[:, cols].float()
            nll[:, cols] = F.binary_cross_entropy_with_logits(z, y, reduction="none").numpy()
            predicted[:, cols] = (z > 0).numpy()
            probs[comp.name].append(torch.sigmoid(z).numpy())
        else:
            log_p = F.log_softmax(z, -1)
            nll[:, cols[0]] = -log_p.gather(-1, targets[:, cols[0] : cols[0] + 1].long())[:, 0].numpy()
            predicted[:, cols[0]] = z.argmax(-1).numpy()
            probs[comp.name].append(log_p.exp().numpy())
    return predicted, nll


def step_latency_ms(policy: Policy, cache: EmbeddingCache, frames: int = 300) -> float:
    """Mean streaming ``policy.step`` time per frame, batch 1 (no embedding/decoding)."""
    rows = np.arange(min(frames, len(cache.arrays["floats"])))
    floats = torch.from_numpy(np.asarray(cache.arrays["floats"][rows]))
    ids = torch.from_numpy(np.asarray(cache.arrays["ids"][rows]))
    ctrl = torch.from_numpy(np.asarray(cache.arrays["controller"][rows]))
    state = policy.initial_state(1)
    with torch.no_grad():
        for k in range(min(20, len(rows))):  # warm-up
            _, _, state = policy.step(floats[k : k + 1], ids[k : k + 1], ctrl[k : k + 1], state)
        start = time.perf_counter()
        for k in range(len(rows)):
            _, _, state = policy.step(floats[k : k + 1], ids[k : k + 1], ctrl[k : k + 1], state)
    return (time.perf_counter() - start) * 1000 / max(len(rows), 1)


def eval_games(cache_games: set[str], run_dir: Path | None, split: str) -> tuple[set[str], str]:
    """Which games to score: "val" (the run's held-out games), "auto" (everything except
    the run's training games), or "all"."""
    split_file = run_dir / "split.json" if run_dir else None
    if split == "all" or split_file is None or not split_file.exists():
        return cache_games, "all"
    saved = Split.load(split_file)
    if split == "val":
        return cache_games & set(saved.val), "val"
    return cache_games - set(saved.train), "held-out"


def scored_segments(
    cfg,
    folder: Path,
    frame_store: FrameStore,
    wanted: set[str],
    split: str,
    cache: str | None = None,
    characters: list[str] | tuple = (),
) -> tuple[EmbeddingCache, list[Segment], str]:
    """The embedding cache of ``frame_store`` and the original-variant segments of the
    ``wanted`` games to score for the checkpoint in ``folder`` (see :func:`eval_games`),
    and which split that was; an empty list when none is left. ``characters``: only
    the segments of players on these characters (any spelling :func:`character_id`
    takes), e.g. to score a multi-character model and a specialist on the same frames."""
    emb = build_cache(frame_store, cache or cfg.cache, cfg.embed, perspectives=cfg.train.perspectives)
    games, split_used = eval_games(wanted, run_dir_of(folder), split)
    return emb, emb.select(md5s=games, variants={0}, characters=character_keys(characters)), split_used


def held_out(checkpoint: str | Path) -> tuple[Policy, object, EmbeddingCache, list[Segment]]:
    """A trained policy, its config, its embedding cache and the segments of the games
    it did not train on (for analysis notebooks), from the run's store as it is."""
    policy, cfg, folder = load_policy(checkpoint)
    store = FrameStore(cfg.store)
    emb, segments, _ = scored_segments(cfg, folder, store, store.games_under(cfg.replays), "auto")
    if not segments:
        raise WorkbenchError(f"{folder}: every game in its store is a training game")
    return policy, cfg, emb, segments


def evaluate(
    checkpoint: str | Path,
    replays: list[str] | None = None,
    delays: tuple[int, ...] = (0,),
    out: str | Path | None = None,
    export_predictions: str | Path | None = None,
    average_last: int = 0,
    split: str = "auto",
    store: str | None = None,
    cache: str | None = None,
    progress: bool = False,
    quality_threshold: float = 0.0,
    exclude_flags: list[str] | tuple = (),
    ablation_delays: tuple[int, ...] | None = None,
    characters: list[str] | tuple = (),
) -> dict:
    """Score ``checkpoint`` (see the module docstring); ``progress`` shows a bar over
    (delay, game) pairs; games below ``quality_threshold`` or carrying one of
    ``exclude_flags`` (:mod:`workbench.replay.quality`) are left out. At each of
    ``ablation_delays`` (default: the first delay) the model is also scored with the
    state, then its own inputs, held constant (:mod:`workbench.eval.diagnostics`)."""
    from tqdm.auto import tqdm

    check_filters(quality_threshold, exclude_flags, "--quality-threshold")
    ablation_delays = tuple(delays[:1]) if ablation_delays is None else tuple(ablation_delays)
    policy, cfg, folder = load_policy(checkpoint, average_last=average_last)
    if isinstance(replays, (str, Path)):  # one file or folder, as notebooks pass it
        replays = [str(replays)]
    replays = replays or cfg.replays
    frame_store, wanted = stored_games(replays, store or cfg.store)
    if not wanted:
        raise WorkbenchError(
            f"no usable 1v1 game among {', '.join(map(str, replays))} (see "
            f"{frame_store.root / 'ingest_report.json'} for why each was left out)"
        )
    kept = quality_games(frame_store, wanted, quality_threshold, exclude_flags)
    if not kept:
        raise WorkbenchError(
            f"all {len(wanted)} games are below the quality filters "
            f"(--quality-threshold {quality_threshold}, --exclude-flags "
            f"{','.join(exclude_flags) or '-'})"
        )
    wanted = kept
    emb, segments, split_used = scored_segments(cfg, folder, frame_store, wanted, split, cache, characters)
    if not segments:
        if characters:
            raise WorkbenchError(
                f"no held-out player on {', '.join(characters)} among the games given "
                "(drop --characters, or pass --split all to score training games too)"
            )
        raise WorkbenchError(
            "no held-out game to evaluate: the replays given are all training "
            "games of this run (pass --split all to score them anyway)"
        )
    report = {
        "checkpoint": str(folder),
        "replays": [str(r) for r in replays],
        "games": sorted({s.md5 for s in segments}),
        "split": split_used,
        "quality_threshold": quality_threshold,
        "exclude_flags": list(exclude_flags),
        "characters": sorted({s.character for s in segments}) if characters else [],
        "average_last": average_last,
        "delays": {},
        "delay_curve": [],
    }
    longest = max(s.length for s in segments)
    too_long = [d for d in delays if step_count(longest, d) == 0]
    if too_long:
        raise WorkbenchError(
            f"--delays {too_long[0]}: longer than every game scored (the longest "
            f"has {longest} frames); use delays below {longest - 1}"
        )
    started, frames = time.perf_counter(), 0
    exports = []
    bar = tqdm(total=len(delays) * len(segments), unit="game", desc="eval", disable=not progress)
    for delay in delays:
        preds = _collect(policy, emb, segments, delay, bar)
        frames += len(preds.targets)
        report["delays"][str(delay)] = _delay_report(preds, emb)
        if delay in ablation_delays:
            report["delays"][str(delay)]["ablations"] = _ablations(
                policy, emb, segments, delay, report["delays"][str(delay)]
            )
        report["delay_curve"].append(_curve_point(delay, report["delays"][str(delay)]))
        if export_predictions:
            exports.append((delay, preds))
    report["frames"] = frames
    report["eval_frames_per_s"] = frames / max(time.perf_counter() - started, 1e-9)
    bar.close()
    report["ms_per_frame"] = step_latency_ms(policy, emb)
    if export_predictions:
        write_predictions(exports, policy, export_predictions)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(_clean(report), indent=1))
    return report


def _collect(
    policy: Policy,
    cache: EmbeddingCache,
    segments: list[Segment],
    delay: int,
    bar=None,
    replace: dict[str, np.ndarray] | None = None,
) -> Predictions:
    pieces, meta = [], []
    for seg in segments:
        result = predict_segment(policy, cache, seg, delay, replace=replace)
        if bar is not None:
            bar.update(1)
        if result is None:
            continue
        n = len(result["targets"])
        pieces.append(result)
        rows = segment_steps(seg.start, seg.length, delay)
        meta.append(
            (np.full(n, seg.character), np.full(n, seg.stage), np.full(n, seg.md5), rows.target - seg.start, rows.state)
        )  # segment frame of each target
    cat = lambda key: np.concatenate([p[key] for p in pieces])  # noqa: E731
    probs = {c.name: cat(f"prob_{c.name}") for c in policy.head.components}
    return Predictions(
        cat("targets"),
        cat("previous"),
        cat("predicted"),
        cat("nll"),
        probs,
        *[np.concatenate([m[k] for m in meta]) for k in range(5)],
    )


def _delay_report(preds: Predictions, cache: EmbeddingCache) -> dict:
    spec = cache.spec
    heads = head_metrics(preds, spec)
    masks = diagnostics.situation_masks(cache, preds.state_row)
    return {
        "frames": int(len(preds.targets)),
        "heads": heads,
        "bits_per_frame": diagnostics.bits_per_frame(preds.nll),
        "baseline_bits_per_frame": diagnostics.baseline_bits(heads),
        "buttons": button_metrics(preds, spec),
        "sticks": stick_metrics(preds, spec),
        "situations": diagnostics.situation_report(
            preds.targets, preds.previous, preds.predicted, masks, [h.name for h in spec.heads]
        ),
        "per_character": breakdown(preds, spec, "character"),
        "per_stage": breakdown(preds, spec, "stage"),
    }


def _ablations(policy: Policy, cache: EmbeddingCache, segments: list[Segment], delay: int, full: dict) -> dict:
    """The same model with the state, then its own past inputs, held at a constant."""
    out = {}
    for name in diagnostics.ABLATIONS:
        replace = diagnostics.ablation_constants(cache, segments, name)
        preds = _collect(policy, cache, segments, delay, replace=replace)
        ablated = {"heads": head_metrics(preds, cache.spec), "bits_per_frame": diagnostics.bits_per_frame(preds.nll)}
        out[name] = diagnostics.ablation_summary(full, ablated)
    return out


def _curve_point(delay: int, block: dict) -> dict:
    heads = block["heads"]
    point = {
        "delay": delay,
        "bits_per_frame": block["bits_per_frame"],
        "baseline_bits_per_frame": block["baseline_bits_per_frame"],
    }
    for name, m in heads.items():
        point[f"{name}_acc"], point[f"{name}_baseline_acc"] = m["acc"], m["baseline_acc"]
        point[f"{name}_nll"] = m["nll"]
    return point


def write_predictions(exports: list[tuple[int, Predictions]], policy: Policy, path: str | Path) -> None:
    """Per-frame predicted distributions and truths, one row per (delay, frame)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for delay, p in exports:
        columns = {
            "delay": np.full(len(p.targets), delay),
            "game": p.game,
            "frame": p.frame,
            "character": p.character,
            "stage": p.stage,
        }
        for col, head in enumerate(policy.spec.heads):
            columns[f"true_{head.name}"] = p.targets[:, col]
            columns[f"pred_{head.name}"] = p.predicted[:, col]
            columns[f"prev_{head.name}"] = p.previous[:, col]
            columns[f"nll_{head.name}"] = p.nll[:, col]
        arrays = {k: pa.array(v) for k, v in columns.items()}
        for name, probs in p.probs.items():
            arrays[f"prob_{name}"] = pa.FixedSizeListArray.from_arrays(pa.array(probs.reshape(-1)), probs.shape[1])
        tables.append(pa.table(arrays))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables(tables), path, compression="zstd")


def _clean(obj):
    """NaN -> None so eval.json is strict JSON."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj
