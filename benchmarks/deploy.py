"""Deployment latency and quantization cost for every backbone, measured in one run.

    python benchmarks/deploy.py [--frames 10000] [--backbones gru,mamba] [--sizes 256x2]

Latency (random weights; latency does not depend on them): each backbone at each size
is exported as fp32, INT8 dynamic, INT8 static and INT4 (the fused graph of
:mod:`workbench.deploy.fused`), plus ``reference``: the fp32 graph of the reference
modules node for node (the "before"). All loop a replay's frames through the bot
(embedding + onnxruntime step + decoding, one thread; :func:`bench_interleaved`, the
function ``workbench bench-latency`` calls) taking turns every 500 frames, so a shared
machine's busy spells fall on all of them alike; p50/p99 per frame over 10,000 frames
each, in wall time and in the thread's CPU time. Node counts: the ONNX graph and what
onnxruntime runs after its fusions. The embedding before/after: the reference
``live_context`` + ``embed_state`` route timed beside the bot's ``LiveEmbedder`` on the
same frames. Beside them, on the same embedded frames and one thread: PyTorch eager
``policy.step`` and a full-window recompute (``forward`` over the last T=60 frames each
frame), the baselines every ONNX number is a ratio against.

Streaming step against its floor: each backbone's own ``step`` exported alone as
``workbench export`` ships it (a GRU/LSTM as onnxruntime's own recurrent op, its
decomposed cell beside it) and run in onnxruntime, beside that runtime's weight-streaming
floor (one matrix-vector product per weight matrix, ``benchmarks/backbones.py``'s
``WeightStream``): ``step / floor``.

Accuracy (weights trained briefly at production size): each variant streams held-out
replay frames (clips the run never trained on); reported beside fp32: accuracy against
the recorded next input, agreement with fp32's choices, max probability drift, mean KL.

Prints a table and writes ``benchmarks/results/deploy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from common import RESULTS, ROOT, machine, write_json
from workbench.deploy.quantize import MODES

REPLAY = ROOT / "data" / "replays" / "games" / "Walnut356-falcon_throws.slp"
HELD_OUT = [
    ROOT / "data" / "replays" / "clips" / "PMcca-item-export.slp",
    ROOT / "data" / "replays" / "clips" / "peppi-v3.18.slp",
]
BACKBONES = (
    "mlp",
    "lstm",
    "gru",
    "attention",
    "attention+opponent",
    "mamba",
    "mamba2",
    "jamba",
    "zamba",
    "gla",
    "rwkv7",
    "s5",
    "dt",
)
PRODUCTION = (256, 2)
# the latency table's ONNX variants; bot-cells: a GRU/LSTM bot graph with the decomposed
# cell instead of onnxruntime's own recurrent op (the before of workbench.deploy.native)
COLUMNS = (*MODES, *(f"bot-{m}" for m in MODES), "bot-cells")


def stats(ns: np.ndarray) -> dict:
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "min_ms": float(ms.min()),
        "frames": int(len(ms)),
    }


def build_policy(name: str, hidden: int, layers: int, seed: int = 0):
    from workbench.embed import EmbedConfig
    from workbench.models.backbones import variant_backbone
    from workbench.models.policy import Policy, PolicyConfig

    torch.manual_seed(seed)
    backbone = {**variant_backbone(name), "hidden_size": hidden, "num_layers": layers}
    # dt without a return feature feeds a zero return: the same tokens and cost per frame
    return Policy(EmbedConfig(), PolicyConfig(backbone=backbone)).eval()


@torch.no_grad()
def torch_step_latency(policy, game, frames: int) -> dict:
    """PyTorch eager ``policy.step`` per frame on embedded frames (model only)."""
    state, times = policy.initial_state(1), []
    rows = np.arange(frames) % (len(game) - 1)
    for k, i in enumerate(rows):
        args = [torch.from_numpy(a[i : i + 1]) for a in (game.floats, game.ids, game.controller)]
        start = time.perf_counter_ns()
        _, _, state = policy.step(*args, state)
        times.append(time.perf_counter_ns() - start)
    return stats(times[min(50, frames // 10) :])


@torch.no_grad()
def torch_window_latency(policy, game, frames: int, window: int = 60) -> dict:
    """Recompute the last ``window`` frames from scratch every frame (no carried state)."""
    floats, ids, ctrl = (torch.from_numpy(a) for a in (game.floats, game.ids, game.controller))
    times = []
    for k in range(frames):
        end = window + k % (len(game) - window - 1)
        start = time.perf_counter_ns()
        x = policy.inputs(
            floats[None, end - window : end], ids[None, end - window : end], ctrl[None, end - window : end]
        )  # (1, T, D)
        h, _ = policy.backbone(x)  # (1, T, H)
        targets, _ = policy.head.sample(h[:, -1])
        policy.decoder(targets)
        times.append(time.perf_counter_ns() - start)
    return stats(times[min(10, frames // 10) :])


def export_all(
    policy, folder: Path, calibration: list[Path], reference: bool = False, bots: bool = False
) -> dict[str, Path]:
    """Every quantization mode of ``policy`` in ``folder``, as ``workbench export`` writes
    them; with ``bots``, each also as a bot graph (``bot-<mode>``: ``workbench export
    --no-probs``) and, for a GRU/LSTM, the fp32 bot graph with the decomposed cell
    (``bot-cells``); with ``reference``, also the unfused fp32 graph as ``reference``."""
    from workbench.deploy import export_variants
    from workbench.deploy.native import native_step

    paths = {mode: folder / f"{mode}.onnx" for mode in MODES}
    export_variants(policy, paths, calibration=[str(p) for p in calibration], calibration_frames=300)
    if bots:
        bot_paths = {mode: folder / f"bot-{mode}.onnx" for mode in MODES}
        export_variants(
            policy, bot_paths, calibration=[str(p) for p in calibration], calibration_frames=300, probs=False
        )
        paths |= {f"bot-{mode}": path for mode, path in bot_paths.items()}
        if native_step(policy.backbone) is not None:
            export_variants(policy, {"none": folder / "bot-cells.onnx"}, probs=False, native=False)
            paths["bot-cells"] = folder / "bot-cells.onnx"
    if reference:
        export_variants(policy, {"none": folder / "reference.onnx"}, fused=False)
        paths = {"reference": folder / "reference.onnx", **paths}
    return paths


def graph_nodes(path: Path) -> dict:
    """Nodes of the ONNX graph and of what onnxruntime runs after its graph fusions."""
    import onnx

    from workbench.deploy.runtime import import_ort, session_options

    with tempfile.TemporaryDirectory() as tmp:
        options = session_options(1)
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        import_ort().InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        optimized = len(onnx.load(options.optimized_model_filepath).graph.node)
    return {"onnx": len(onnx.load(str(path)).graph.node), "onnxruntime": optimized}


def embed_routes(states, frames: int) -> dict:
    """p50/p99 of one live frame's embedding (player blocks ready) by the reference route
    (``live_context`` + ``embed_state``) and by the bot's ``LiveEmbedder``, interleaved."""
    from workbench.embed import EmbedConfig, StateLayout, embed_state
    from workbench.embed.game import live_context
    from workbench.embed.live import LiveEmbedder
    from workbench.replay.live import gamestate_blocks

    layout = StateLayout(EmbedConfig())
    embedder = LiveEmbedder(layout)
    floats = np.zeros((1, layout.float_dim), np.float32)
    ids = np.zeros((1, layout.id_dim), np.int32)
    in_game = [s for s in states if s.frame >= 0 and len(s.players) >= 2]
    ports = sorted(in_game[0].players)[:2]
    lives = [gamestate_blocks(s, [p - 1 for p in ports]) for s in in_game]
    times = {"reference": [], "live_embedder": [], "player_blocks": []}
    for k in range(frames):
        live, state = lives[k % len(lives)], in_game[k % len(in_game)]
        start = time.perf_counter_ns()
        embed_state(live_context(live, 0, 31, tuple(ports)), layout)
        middle = time.perf_counter_ns()
        embedder.embed_live(live, 0, 31, tuple(ports), (0, 0), floats, ids)
        end = time.perf_counter_ns()
        gamestate_blocks(state, [p - 1 for p in ports])
        times["reference"].append(middle - start)
        times["live_embedder"].append(end - middle)
        times["player_blocks"].append(time.perf_counter_ns() - end)
    return {k: stats(v) for k, v in times.items()}


def step_over_floor(policy, work: Path) -> dict:
    """The backbone's streaming step alone in onnxruntime, as ``workbench export`` ships
    it, beside that runtime's weight-streaming floor (both timed best-of-7 over 200 calls,
    one thread); for the GRU and LSTM also the decomposed cell (``cells_*``: the step
    before it became onnxruntime's own recurrent operator)."""
    from backbones import best_time, onnx_floor_call, onnx_step_call

    from workbench.deploy.native import native_step

    backbone = policy.backbone.eval()
    frame = torch.randn(1, backbone.input_dim)
    state = backbone.initial_state(1)
    device = torch.device("cpu")
    forms = (True, False) if native_step(backbone) is not None else (True,)
    with torch.no_grad():
        floor = onnx_floor_call(backbone, work)
        steps = {}
        for native in forms:  # each form in its own folder: both write step.onnx
            folder = work / ("step-native" if native else "step-cells")
            folder.mkdir(exist_ok=True)
            steps[native] = onnx_step_call(backbone, frame, state, folder, native)
        for call in (floor, *steps.values()):  # warm up outside the timed repetitions
            call()
        timed = {native: best_time(step, 200, 7, device) for native, step in steps.items()}
        floor_s = best_time(floor, 200, 7, device)
    step_s = timed[True]
    matrices = sum(1 for p in backbone.parameters() if p.dim() >= 2)
    cells = {}
    if False in timed:
        cells = {"cells_step_ms": timed[False] * 1e3, "cells_over_floor": timed[False] / floor_s}
    return {
        "step_ms": step_s * 1e3,
        "floor_ms": floor_s * 1e3,
        "step_over_floor": step_s / floor_s,
        "weight_matrices": matrices,
        "within_1_5x": step_s / floor_s <= 1.5,
        **cells,
    }


def frame_matrices(policy) -> list[Tensor]:
    """Every weight matrix a bot frame multiplies by: the policy's parameters with 2+ dims,
    less the embedding tables (a frame gathers a few of their rows) and the value head
    (not in the exported step)."""
    from torch import nn

    tables = {id(m.weight) for m in policy.modules() if isinstance(m, nn.Embedding)}
    return [
        w.detach()
        for name, w in policy.named_parameters()
        if w.dim() >= 2 and id(w) not in tables and not name.startswith("value.")
    ]


def frame_floor(policy, work: Path) -> dict:
    """The least an fp32 bot frame's arithmetic can cost on this machine: one
    matrix-vector product per matrix of :func:`frame_matrices` and nothing else, timed in
    onnxruntime (``WeightStream``, one graph) and as bare numpy/MKL ``dot`` calls (the
    hardware's streaming rate, no runtime), best-of-7 over 200 frames, one thread."""
    from backbones import best_time, onnx_floor_call
    from torch import nn

    matrices = frame_matrices(policy)
    folder = work / "frame-floor"  # apart from step_over_floor's floor0.onnx
    folder.mkdir(exist_ok=True)
    onnxruntime = onnx_floor_call(nn.ParameterList(nn.Parameter(w, requires_grad=False) for w in matrices), folder)
    arrays = [w.reshape(w.shape[0], -1).numpy() for w in matrices]
    inputs = [np.random.default_rng(0).standard_normal(a.shape[1]).astype(np.float32) for a in arrays]
    outs = [np.empty(a.shape[0], np.float32) for a in arrays]

    def bare() -> None:
        for a, v, o in zip(arrays, inputs, outs):
            np.dot(a, v, out=o)

    cpu = torch.device("cpu")
    return {
        "matrices": len(matrices),
        "megabytes": sum(a.nbytes for a in arrays) / 1e6,
        "onnxruntime_ms": best_time(onnxruntime, 200, 7, cpu) * 1e3,
        "numpy_ms": best_time(bare, 200, 7, cpu) * 1e3,
    }


def latency_block(name: str, hidden: int, layers: int, args, states, game, work: Path) -> dict:
    from workbench.deploy.latency import bench_interleaved
    from workbench.deploy.rollout import torch_threads

    policy = build_policy(name, hidden, layers)
    folder = work / f"{name}-{hidden}x{layers}"
    folder.mkdir(parents=True, exist_ok=True)
    variants = export_all(policy, folder, [REPLAY], reference=True, bots=True)
    block = {
        "backbone": name,
        "hidden": hidden,
        "layers": layers,
        "parameters": policy.num_parameters(),
        "onnx": {},
        "reference": {},
    }
    for mode, result in bench_interleaved(variants, states, args.frames).items():
        row = {
            k: result[k]
            for k in ("p50_ms", "p99_ms", "mean_ms", "min_ms", "cpu_p50_ms", "cpu_p99_ms", "breakdown", "loadavg")
        }
        row["nodes"] = graph_nodes(variants[mode])
        if mode == "reference":
            block["reference"] = row
        else:
            block["onnx"][mode] = row
    with torch_threads(1):
        block["floor"] = step_over_floor(policy, folder)
        block["frame_floor"] = frame_floor(policy, folder)
    with torch_threads(1):
        block["torch_step"] = torch_step_latency(policy, game, args.torch_frames)
        block["torch_window"] = torch_window_latency(policy, game, args.window_frames, args.window)
    fastest = min(block["onnx"], key=lambda m: block["onnx"][m]["p50_ms"])
    block["fastest"] = fastest
    model_p50 = block["onnx"][fastest]["breakdown"]["model"]["p50_ms"]
    block["speedup_vs_torch_step"] = block["torch_step"]["p50_ms"] / model_p50
    block["speedup_vs_torch_window"] = block["torch_window"]["p50_ms"] / model_p50
    return block


def train_briefly(name: str, steps: int, work: Path):
    """Production-size policy trained ``steps`` steps on the bundled games."""
    from workbench.models.backbones import variant_backbone
    from workbench.train import load_experiment, train
    from workbench.train.checkpoint import load_policy

    hidden, layers = PRODUCTION
    cfg = load_experiment(
        None,
        [
            f"replays={[str(ROOT / 'data' / 'replays' / 'games')]}",
            f"store={work / 'store'}",
            f"cache={work / 'cache'}",
            f"out={work / 'train' / name}",
            f"policy.backbone={json.dumps({**variant_backbone(name), 'hidden_size': hidden, 'num_layers': layers})}",
            "train.window=32",
            "train.batch_size=16",
            f"train.max_steps={steps}",
            f"train.eval_every={steps}",
            "train.warmup_steps=10",
            'train.device="cpu"',
        ],
    )
    run = train(cfg, progress=False).run_dir
    return load_policy(run)[0]


def accuracy_block(name: str, args, work: Path) -> dict:
    from workbench.deploy.rollout import accuracy, compare, load_games, rollout_onnx

    policy = train_briefly(name, args.accuracy_steps, work)
    variants = export_all(policy, work / f"{name}-trained", [REPLAY])
    games = load_games(HELD_OUT, policy.embed_config, (0, 1))
    frames = args.accuracy_frames
    sticks = [i for i, h in enumerate(policy.spec.heads) if h.kind != "button"]
    reference = [rollout_onnx(variants["none"], g, frames) for g in games]
    out = {}
    for mode, path in variants.items():
        rolled = reference if mode == "none" else [rollout_onnx(path, g, frames) for g in games]
        drift = [compare(r, q) for r, q in zip(reference, rolled)]
        out[mode] = {
            "accuracy": float(np.mean([accuracy(r, g) for r, g in zip(rolled, games)])),
            "stick_trigger_accuracy": float(np.mean([accuracy(r, g, sticks) for r, g in zip(rolled, games)])),
            "agreement_with_fp32": float(np.mean([d["target_agreement"] for d in drift])),
            "max_abs_prob_drift": max(d["max_abs_error"] for d in drift),
            "mean_kl": float(np.mean([d["mean_kl"] for d in drift])),
            "frames": int(sum(len(r) for r in rolled)),
        }
        base = out.get("none", out[mode])
        out[mode]["accuracy_change"] = out[mode]["accuracy"] - base["accuracy"]
        out[mode]["stick_trigger_accuracy_change"] = (
            out[mode]["stick_trigger_accuracy"] - base["stick_trigger_accuracy"]
        )
    return out


def print_before_after(blocks: list[dict], embed: dict | None) -> None:
    print(
        "\nbefore (reference graph) -> after (fused graph) -> bot graph (fused, --no-probs; a GRU/LSTM's "
        "with onnxruntime's own recurrent op, its decomposed cell beside it), fp32; "
        "nodes ONNX/onnxruntime; p50/p99 ms wall, p50/p99 ms thread CPU; model part p50"
    )
    for b in blocks:
        before, after = b["reference"], b["onnx"]["none"]

        def cell(r: dict) -> str:
            return (
                f"{r['nodes']['onnx']:4d}/{r['nodes']['onnxruntime']:4d} nodes "
                f"{r['p50_ms']:.3f}/{r['p99_ms']:.3f} cpu {r['cpu_p50_ms']:.3f}/{r['cpu_p99_ms']:.3f} "
                f"model {r['breakdown']['model']['p50_ms']:.3f}"
            )

        bot = f"  ->  {cell(b['onnx']['bot-none'])}" if "bot-none" in b["onnx"] else ""
        cells = f"  (decomposed cell: {cell(b['onnx']['bot-cells'])})" if "bot-cells" in b["onnx"] else ""
        print(f"{b['backbone']:10s} {b['hidden']:>4d}x{b['layers']}  {cell(before)}  ->  {cell(after)}{bot}{cells}")
    if embed:
        print(
            f"live-frame embedding p50/p99 ms: reference {embed['reference']['p50_ms']:.4f}/"
            f"{embed['reference']['p99_ms']:.4f} -> LiveEmbedder {embed['live_embedder']['p50_ms']:.4f}/"
            f"{embed['live_embedder']['p99_ms']:.4f} (libmelee -> player blocks, before both: "
            f"{embed['player_blocks']['p50_ms']:.4f})"
        )
    print("\nstreaming step / weight-streaming floor, onnxruntime (goal <= 1.5x)")
    for b in blocks:
        f = b.get("floor")
        if f:
            print(
                f"{b['backbone']:10s} {b['hidden']:>4d}x{b['layers']}  step {f['step_ms']:.4f} ms  "
                f"floor {f['floor_ms']:.4f} ms  {f['step_over_floor']:.2f}x"
                f"{'' if f['within_1_5x'] else '  (over 1.5x)'}"
                + (
                    f" (onnxruntime's own {b['backbone'].upper()} op; the decomposed cell "
                    f"{f['cells_step_ms']:.4f} ms {f['cells_over_floor']:.2f}x)"
                    if "cells_step_ms" in f
                    else ""
                )
            )


def print_latency(blocks: list[dict]) -> None:
    head = (
        f"{'backbone':10s} {'size':>6s} {'params':>7s} | "
        + " | ".join(f"{m:>17s}" for m in COLUMNS)
        + f" | {'torch step':>17s} | {'torch T=60':>17s} | fastest (model x torch step)"
    )
    print("per-frame p50/p99 ms; ONNX columns include embedding and decoding")
    print(head)
    for b in blocks:
        cells = [
            f"{b['onnx'][m]['p50_ms']:7.3f}/{b['onnx'][m]['p99_ms']:8.3f}" if m in b["onnx"] else f"{'':17s}"
            for m in COLUMNS
        ]
        torch_cells = [f"{b[k]['p50_ms']:7.3f}/{b[k]['p99_ms']:8.3f}" for k in ("torch_step", "torch_window")]
        print(
            f"{b['backbone']:10s} {b['hidden']:>4d}x{b['layers']} {b['parameters'] / 1e6:6.2f}M | "
            + " | ".join(cells + torch_cells)
            + f" | {b['fastest']} ({b['speedup_vs_torch_step']:.1f}x)"
        )
    print("\nbreakdown of the fastest variant (p50 ms): embed (of which libmelee row) / model / decode")
    for b in blocks:
        part = b["onnx"][b["fastest"]]["breakdown"]
        print(
            f"{b['backbone']:10s} {b['hidden']:>4d}x{b['layers']} {b['fastest']:13s} "
            f"{part['embed']['p50_ms']:.3f} ({part['embed_row']['p50_ms']:.3f}) / "
            f"{part['model']['p50_ms']:.3f} / {part['decode']['p50_ms']:.3f}"
        )


def print_accuracy(accuracy: dict) -> None:
    print(
        "\nheld-out accuracy (production size, briefly trained): all heads / sticks+trigger "
        "(change vs fp32), agreement with fp32's choices, max probability drift"
    )
    for name, modes in accuracy.items():
        cells = [
            f"{m}: {v['accuracy']:.4f} ({v['accuracy_change']:+.4f}) / "
            f"{v['stick_trigger_accuracy']:.4f} ({v['stick_trigger_accuracy_change']:+.4f}) "
            f"agree {v['agreement_with_fp32']:.3f} drift {v['max_abs_prob_drift']:.3f}"
            for m, v in modes.items()
        ]
        print(f"{name:10s} " + " | ".join(cells))


def frame_floor_row(block: dict) -> dict:
    """The fp32 frame's floor: reading the libmelee state (the fastest variant's p50) plus
    streaming every matrix the frame multiplies (the faster of onnxruntime and numpy)."""
    floor = block.get("frame_floor")
    if not floor:
        return {}
    read = block["onnx"][block["fastest"]]["breakdown"]["embed_row"]["p50_ms"]
    stream = min(floor["onnxruntime_ms"], floor["numpy_ms"])
    return {
        "frame_floor_ms": read + stream,
        "frame_floor_read_ms": read,
        "frame_floor_stream_ms": stream,
        "frame_floor_megabytes": floor["megabytes"],
    }


def summarise(result: dict, target_ms: float = 0.2) -> list[dict]:
    """Per backbone at production size: the fastest variant, its latency, whether it
    meets the p99 target, and its accuracy cost on held-out frames."""
    rows = []
    for b in result["latency"]:
        if (b["hidden"], b["layers"]) != PRODUCTION:
            continue
        best = b["onnx"][b["fastest"]]
        cost = result["accuracy"].get(b["backbone"], {}).get(b["fastest"], {})
        rows.append(
            {
                "backbone": b["backbone"],
                "fastest": b["fastest"],
                "p50_ms": best["p50_ms"],
                "p99_ms": best["p99_ms"],
                "cpu_p50_ms": best.get("cpu_p50_ms"),
                "cpu_p99_ms": best.get("cpu_p99_ms"),
                "meets_p50_target": best["p50_ms"] <= target_ms / 2,
                "model_p50_ms": best["breakdown"]["model"]["p50_ms"],
                "embed_p50_ms": best["breakdown"]["embed"]["p50_ms"],
                "meets_p99_target": best["p99_ms"] <= target_ms,
                "meets_p99_target_without_embedding": best["p99_ms"] - best["breakdown"]["embed"]["p50_ms"]
                <= target_ms,
                **frame_floor_row(b),
                "accuracy_change": cost.get("accuracy_change"),
                "stick_trigger_accuracy_change": cost.get("stick_trigger_accuracy_change"),
                "agreement_with_fp32": cost.get("agreement_with_fp32"),
            }
        )
    return rows


def print_summary(rows: list[dict]) -> None:
    print("\nproduction size (256x2): fastest variant per backbone and its accuracy cost")
    for r in rows:
        change = (
            "n/a"
            if r["accuracy_change"] is None
            else (
                f"{r['accuracy_change']:+.4f} all heads, {r['stick_trigger_accuracy_change']:+.4f} sticks/trigger, "
                f"{r['agreement_with_fp32']:.3f} agreement"
            )
        )
        cpu = f", thread CPU p50 {r['cpu_p50_ms']:.3f} p99 {r['cpu_p99_ms']:.3f}" if r.get("cpu_p50_ms") else ""
        print(
            f"{r['backbone']:10s} {r['fastest']:13s} p50 {r['p50_ms']:.3f} p99 {r['p99_ms']:.3f} ms{cpu} "
            f"(model p50 {r['model_p50_ms']:.3f}, embed p50 {r['embed_p50_ms']:.3f}); "
            f"p50 <= 0.1 ms: {'yes' if r.get('meets_p50_target') else 'no'}; "
            f"p99 <= 0.2 ms: {'yes' if r['meets_p99_target'] else 'no'}; accuracy {change}"
        )
    floors = [r for r in rows if "frame_floor_ms" in r]
    if floors:
        print(
            "\nfp32 frame floor (production size): libmelee read p50 + one matrix-vector product per "
            "matrix the frame multiplies (faster of onnxruntime and numpy/MKL), nothing else"
        )
    for r in floors:
        print(
            f"{r['backbone']:10s} read {r['frame_floor_read_ms']:.3f} + stream {r['frame_floor_stream_ms']:.3f} ms "
            f"({r['frame_floor_megabytes']:.2f} MB) = {r['frame_floor_ms']:.3f} ms; p50 <= 0.1 ms at fp32 "
            f"{'possible' if r['frame_floor_ms'] <= 0.1 else 'impossible on this machine'}"
        )


def report(result: dict) -> None:
    print_latency(result["latency"])
    if all("reference" in b for b in result["latency"]):
        print_before_after(result["latency"], result.get("embed_routes"))
    if result["accuracy"]:
        print_accuracy(result["accuracy"])
    result["summary"] = summarise(result)
    print_summary(result["summary"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", default=",".join(BACKBONES))
    parser.add_argument("--sizes", default="128x2,256x2,512x4", help="HIDDENxLAYERS, comma-separated")
    parser.add_argument("--frames", type=int, default=10_000, help="ONNX frames timed per variant")
    parser.add_argument("--torch-frames", type=int, default=2000, help="eager step frames timed")
    parser.add_argument("--window-frames", type=int, default=300, help="full-window recompute frames timed")
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--accuracy-steps", type=int, default=60, help="training steps (0: skip accuracy)")
    parser.add_argument("--accuracy-frames", type=int, default=600, help="held-out frames per game")
    parser.add_argument("--out", default=str(RESULTS / "deploy.json"))
    parser.add_argument("--report", metavar="JSON", help="print the tables of a saved result and exit")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        report(saved)
        Path(args.report).write_text(json.dumps(saved, indent=1))
        return

    from workbench.deploy.latency import replay_states
    from workbench.deploy.rollout import load_games
    from workbench.embed import EmbedConfig

    names = [n for n in args.backbones.split(",") if n]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",") if s]
    work = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    states = replay_states(REPLAY)
    game = load_games([REPLAY], EmbedConfig(), (0,))[0]
    started = time.time()
    result = {
        "machine": machine(loadavg_start=list(os.getloadavg())),
        "frames": args.frames,
        "torch_frames": args.torch_frames,
        "window_frames": args.window_frames,
        "window": args.window,
        "latency": [],
        "accuracy": {},
    }
    result["embed_routes"] = embed_routes(states, min(args.frames, 5000))
    for name in names:
        for hidden, layers in sizes:
            block = latency_block(name, hidden, layers, args, states, game, work)
            result["latency"].append(block)
            print(
                f"{name} {hidden}x{layers}: fastest {block['fastest']} "
                f"p50 {block['onnx'][block['fastest']]['p50_ms']:.3f} ms",
                flush=True,
            )
        if args.accuracy_steps > 0:
            result["accuracy"][name] = accuracy_block(name, args, work)
    result["machine"]["loadavg_end"] = list(os.getloadavg())
    result["seconds"] = time.time() - started
    report(result)
    write_json(args.out, result)
    print(
        f"({result['seconds'] / 60:.1f} min; load average "
        f"{result['machine']['loadavg_start'][0]:.1f} -> {result['machine']['loadavg_end'][0]:.1f})"
    )


if __name__ == "__main__":
    main()
