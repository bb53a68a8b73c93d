"""Backbone benchmark: size, training throughput and streaming vs window latency.

For every registered backbone at three sizes (hidden 128 / 2 layers, hidden 256 /
2 layers = production, hidden 512 / 4 layers):

* parameter count;
* training throughput in frames/s: forward + backward + AdamW step on B=64, T=64;
* latency at batch 1 without autograd (``torch.inference_mode``, 1 thread): recomputing a
  60-frame window with ``forward`` (what a stateless policy does to get one action)
  versus one streaming ``step`` with a carried state; their ratio is the baseline
  comparison (target: step >= 20x faster than the window for temporal backbones).
  Each runtime times both sides itself: ``eager`` PyTorch, ``compiled`` (torch.compile
  of ``forward`` and of ``step``), ``onnx`` (both exported, run by onnxruntime);
* the weight-streaming floor, in each runtime: one matrix-vector product per weight matrix
  and nothing else, the least a batch-1 step costs there without changing the model's
  arithmetic; ``window / floor`` is the highest window/step ratio that runtime could reach;
  ``step / floor`` is the step as a multiple of it (goal: 1.5x in onnxruntime). In
  onnxruntime also the floor with one elementwise pass over the carried state added
  (``+state``): a step cannot do less than read and rewrite its state once.

On CUDA with mamba-ssm installed it also times mamba-ssm's kernels against the pure
PyTorch scan at T=256. Prints a table and writes JSON.

    python benchmarks/backbones.py                  # full run, CPU
    python benchmarks/backbones.py --quick          # fewer iterations
    python benchmarks/backbones.py --runtimes eager compiled onnx --sizes production
    python benchmarks/backbones.py --device cuda --out results/gpu.json
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from common import RESULTS, write_json  # noqa: E402
from workbench.models.backbones import BACKBONES, VARIANTS, Backbone, build_backbone, variant_backbone  # noqa: E402
from workbench.models.backbones.ssm_ops import kernels_available  # noqa: E402

SIZES = {
    "small": dict(hidden_size=128, num_layers=2),
    "production": dict(hidden_size=256, num_layers=2),
    "large": dict(hidden_size=512, num_layers=4),
}
TARGET_RATIO = 20.0
STEP_FLOOR_GOAL = 1.5  # a streaming step within 1.5x of its runtime's weight-streaming floor
RUNTIMES = ("eager", "compiled", "onnx")


@dataclass
class BenchSettings:
    """What to run and how long; ``quick`` trades precision for time."""

    device: str = "cpu"
    quick: bool = False
    backbones: list[str] = field(default_factory=lambda: [*sorted(BACKBONES), *VARIANTS])
    sizes: list[str] = field(default_factory=lambda: list(SIZES))
    input_dim: int = 64
    train_batch: int = 64
    train_seq_len: int = 64
    window: int = 60
    latency_threads: int = 1
    runtimes: list[str] = field(default_factory=lambda: ["eager"])

    @property
    def train_iters(self) -> tuple[int, int]:
        """(warmup, timed) optimizer steps."""
        return (1, 3) if self.quick else (2, 5)

    @property
    def latency_reps(self) -> int:
        return 3 if self.quick else 7


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn: Callable[[], object], iters: int, reps: int, device: torch.device) -> float:
    """Best-of-``reps`` mean seconds per call over ``iters`` calls (after one warm rep).

    The minimum is the least noisy estimate on a shared machine: interference only adds.
    """
    times = []
    for rep in range(reps + 1):
        sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        sync(device)
        if rep:  # the first rep warms caches and allocators
            times.append((time.perf_counter() - start) / iters)
    return min(times)


def training_throughput(model: Backbone, settings: BenchSettings, device: torch.device) -> dict[str, float]:
    """Frames per second of forward + backward + AdamW on (B, T) batches: the best and
    the median over individually timed optimizer steps."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(settings.train_batch, settings.train_seq_len, settings.input_dim, device=device)
    target = torch.randn(settings.train_batch, settings.train_seq_len, model.output_dim, device=device)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        y, _ = model(x)
        torch.nn.functional.mse_loss(y, target).backward()
        optimizer.step()

    warmup, timed = settings.train_iters
    for _ in range(warmup):
        train_step()
    seconds, cpu_seconds = [], []
    for _ in range(timed):
        sync(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        train_step()
        sync(device)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - start_cpu)
    frames = settings.train_batch * settings.train_seq_len
    return {
        "train_frames_per_s": frames / min(seconds),
        "train_frames_per_s_median": frames / statistics.median(seconds),
        # all threads' CPU time: robust to other processes, not comparable to wall time
        "train_frames_per_cpu_s": frames / min(cpu_seconds),
    }


class StepGraph(nn.Module):
    """``backbone.step`` with the state as positional tensors (ONNX has no dicts);
    ``native``: a GRU/LSTM step as ONNX's own recurrent node, as ``workbench export``
    writes it (:mod:`workbench.deploy.native`)."""

    def __init__(self, model: Backbone, keys: list[str], native: bool = False) -> None:
        super().__init__()
        from workbench.deploy.native import native_step

        self.model, self.keys = model, keys
        self.native = native_step(model) if native else None
        self.step = self.native.step if self.native is not None else model.step

    def forward(self, x: Tensor, *states: Tensor) -> tuple[Tensor, ...]:
        y, new_state = self.step(x, dict(zip(self.keys, states)))
        return (y, *(new_state[k] for k in self.keys))


class WindowGraph(nn.Module):
    """``backbone(x)`` from a fresh state, features only."""

    def __init__(self, model: Backbone) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)[0]


class WeightStream(nn.Module):
    """One matrix-vector product per weight matrix of ``model`` (every parameter with 2+
    dims, as (out, in)) and nothing else: streaming each weight once, the least a batch-1
    step can cost without changing the model's arithmetic. Timed in each runtime.

    Arguments past the vectors are state tensors, each given one elementwise pass (read
    once, written once, as a step that carries it must at least do): the floor of a step
    whose state is large beside its weights (Mamba-2's is 128 KB per layer at 256x2)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.weights = nn.ParameterList(
            nn.Parameter(p.detach().reshape(p.shape[0], -1), requires_grad=False)
            for p in model.parameters()
            if p.dim() >= 2
        )
        self.matrices = list(self.weights)  # iterating a ParameterList costs ~1 us per item

    def example_inputs(self, device: torch.device) -> tuple[Tensor, ...]:
        return tuple(torch.randn(1, w.shape[1], device=device) for w in self.matrices)

    def forward(self, *args: Tensor) -> tuple[Tensor, ...]:
        vectors, states = args[: len(self.matrices)], args[len(self.matrices) :]
        passes = tuple(torch.logical_not(s) if s.dtype == torch.bool else torch.neg(s) for s in states)
        return (*(F.linear(v, w) for v, w in zip(vectors, self.matrices)), *passes)


def onnx_session(module: nn.Module, args: tuple[Tensor, ...], input_names: list[str], path: Path):
    """Export ``module`` at ``args`` to ``path`` as ``workbench export`` does
    (:func:`~workbench.deploy.export.export_module`) and open it in onnxruntime, one thread."""
    from workbench.deploy.export import export_module
    from workbench.deploy.runtime import import_ort, session_options

    export_module(module, args, path, input_names)
    return import_ort().InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])


def onnx_floor_call(model: nn.Module, workdir: Path, state: dict | None = None) -> Callable[[], object]:
    """``model``'s :class:`WeightStream` in onnxruntime as a zero-argument callable; with
    ``state``, one pass over each of its tensors as well (the ``+state`` floor)."""
    stream = WeightStream(model)
    states = [v.cpu() for v in (state or {}).values()]
    args = (*stream.example_inputs(torch.device("cpu")), *states)
    names = [f"v{i}" for i in range(len(args) - len(states))] + [f"s{i}" for i in range(len(states))]
    session = onnx_session(stream, args, names, workdir / f"floor{len(states)}.onnx")
    feed = {name: a.numpy() for name, a in zip(names, args)}
    return lambda: session.run(None, feed)


def onnx_step_call(model: Backbone, frame: Tensor, state: dict, workdir: Path, native: bool = True):
    """The backbone's step in onnxruntime as a zero-argument callable that feeds its state
    outputs back in: the step ``workbench export`` ships (``native=False``: a GRU/LSTM's
    decomposed cell)."""
    keys = list(state)
    session = onnx_session(
        StepGraph(model, keys, native), (frame, *state.values()), ["x", *keys], workdir / "step.onnx"
    )
    frame_np = frame.cpu().numpy()
    carried = {"feed": {"x": frame_np, **{k: v.cpu().numpy() for k, v in state.items()}}}

    def step() -> None:
        outputs = session.run(None, carried["feed"])
        carried["feed"] = {"x": frame_np, **dict(zip(keys, outputs[1:]))}

    return step


def onnx_calls(model: Backbone, window_x: Tensor, frame: Tensor, state: dict, workdir: Path):
    """Export window, step and the weight stream to ONNX, open each in onnxruntime, and
    return (window, step, floor) callables (see :func:`onnx_step_call`)."""
    window_session = onnx_session(WindowGraph(model), (window_x,), ["x"], workdir / "window.onnx")
    window_feed = {"x": window_x.cpu().numpy()}
    step = onnx_step_call(model, frame, state, workdir)
    return (lambda: window_session.run(None, window_feed)), step, onnx_floor_call(model, workdir)


def runtime_calls(runtime: str, model: Backbone, window_x: Tensor, frame: Tensor, state: dict, workdir: Path):
    """(window, step, floor) zero-argument callables for ``runtime``; ``step`` carries its
    state, ``floor`` runs the model's :class:`WeightStream`."""
    if runtime == "onnx":
        return onnx_calls(model, window_x, frame, state, workdir)
    stream = WeightStream(model)
    vectors = stream.example_inputs(frame.device)
    forward, step_fn = model, model.step
    if runtime == "compiled":  # the same compiler settings on all three
        torch._dynamo.reset()
        forward = torch.compile(model, dynamic=False)  # graph breaks allowed: nn.GRU/LSTM
        step_fn = torch.compile(model.step, dynamic=False)
        stream = torch.compile(stream, dynamic=False)
    carried = {"state": state}

    def step() -> None:
        _, carried["state"] = step_fn(frame, carried["state"])

    return (lambda: forward(window_x)), step, (lambda: stream(*vectors))


def latencies(
    model: Backbone, runtime: str, settings: BenchSettings, device: torch.device, workdir: Path
) -> dict[str, float]:
    """Batch-1 latency (ms) of a full-window forward vs one streaming step in ``runtime``.

    Window and step repetitions alternate, so load from other processes hits both alike;
    each keeps its best repetition.
    """
    model.eval()
    window_x = torch.randn(1, settings.window, settings.input_dim, device=device)
    frame = torch.randn(1, settings.input_dim, device=device)
    with torch.inference_mode():
        state = model.initial_state(1, device)
        for _ in range(settings.window):  # a realistic, filled state
            _, state = model.step(frame, state)
        window, step, floor = runtime_calls(runtime, model, window_x, frame, state, workdir)
        state_floor = onnx_floor_call(model, workdir, state) if runtime == "onnx" else None
        window(), step(), floor()  # compile / warm up outside the timed repetitions
        window_iters = 3 if settings.quick else 10
        step_iters = 50 if settings.quick else 200
        window_s, step_s, floor_s, window_cpu, step_cpu, state_s = [], [], [], [], [], []
        for _ in range(settings.latency_reps):
            window_s.append(best_time(window, window_iters, 1, device))
            window_cpu.append(cpu_time(window, window_iters))
            step_s.append(best_time(step, step_iters, 1, device))
            step_cpu.append(cpu_time(step, step_iters))
            floor_s.append(best_time(floor, step_iters, 1, device))
            if state_floor is not None:
                state_s.append(best_time(state_floor, step_iters, 1, device))
    result = {
        "runtime": runtime,
        "window_ms": min(window_s) * 1e3,
        "step_ms": min(step_s) * 1e3,
        "window_over_step": min(window_s) / min(step_s),
        "weights_floor_ms": min(floor_s) * 1e3,
        "window_over_floor": min(window_s) / min(floor_s),
        "step_over_floor": min(step_s) / min(floor_s),
    }
    if state_s:  # onnxruntime: the floor with one pass over the state added
        result["weights_state_floor_ms"] = min(state_s) * 1e3
        result["step_over_weights_state_floor"] = min(step_s) / min(state_s)
    if device.type == "cpu":  # CPU time of this thread: what the work costs when not preempted
        result.update(
            {
                "window_cpu_ms": min(window_cpu) * 1e3,
                "step_cpu_ms": min(step_cpu) * 1e3,
                "window_over_step_cpu": min(window_cpu) / min(step_cpu),
            }
        )
    return result


def cpu_time(fn: Callable[[], object], iters: int) -> float:
    """Mean CPU seconds of the calling thread per call (latency runs use one thread,
    so this excludes time the OS gave to other processes on a shared machine)."""
    start = time.thread_time()
    for _ in range(iters):
        fn()
    return (time.thread_time() - start) / iters


def bench_one(name: str, size: str, settings: BenchSettings, device: torch.device) -> list[dict]:
    """One row per runtime for backbone ``name`` at ``size``; training throughput is
    measured once and repeated on each row."""
    gc.collect()  # drop the previous model's buffers before timing the next one
    torch.manual_seed(0)
    model = build_backbone({**variant_backbone(name), **SIZES[size]}, settings.input_dim).to(device)
    common = {
        "backbone": name,
        "size": size,
        **SIZES[size],
        "params": sum(p.numel() for p in model.parameters()),
        **training_throughput(model, settings, device),
    }
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.latency_threads)
    try:
        for runtime in settings.runtimes:
            with tempfile.TemporaryDirectory() as workdir:
                row = {**common, **latencies(model, runtime, settings, device, Path(workdir))}
            row["loadavg_1min"] = os.getloadavg()[0]  # other processes on the machine skew timings
            rows.append(row)
    finally:
        torch.set_num_threads(threads)
    return rows


def kernel_comparison(settings: BenchSettings, device: torch.device, seq_len: int = 256) -> dict | None:
    """mamba-ssm CUDA kernels vs the pure chunked scan, production size, T=256."""
    if device.type != "cuda" or not kernels_available():
        return None
    x = torch.randn(settings.train_batch, seq_len, settings.input_dim, device=device)
    timings = {}
    for label, use_kernels in (("kernels", True), ("pure", False)):
        torch.manual_seed(0)
        model = build_backbone("mamba", settings.input_dim, **SIZES["production"], use_kernels=use_kernels).to(device)

        def train_step() -> None:
            y, _ = model(x)
            y.square().mean().backward()

        with torch.no_grad():
            timings[f"{label}_forward_ms"] = best_time(lambda: model(x), 5, settings.latency_reps, device) * 1e3
        timings[f"{label}_train_step_ms"] = best_time(train_step, 3, settings.latency_reps, device) * 1e3
    timings["forward_speedup"] = timings["pure_forward_ms"] / timings["kernels_forward_ms"]
    timings["train_speedup"] = timings["pure_train_step_ms"] / timings["kernels_train_step_ms"]
    return {"batch": settings.train_batch, "seq_len": seq_len, **timings}


def environment(settings: BenchSettings, device: torch.device) -> dict:
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "train_threads": torch.get_num_threads(),
        "latency_threads": settings.latency_threads,
        "mamba_ssm_kernels": kernels_available(),
        "onnxruntime": _version("onnxruntime") if "onnx" in settings.runtimes else None,
        "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "LD_PRELOAD"},
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def print_table(rows: list[dict]) -> None:
    """One line per backbone, size and runtime. ``floor``: the weight-streaming floor;
    ``win/floor``: the highest win/step any runtime could reach on this machine;
    ``step/floor``: the step as a multiple of that floor (goal: at most 1.5x);
    ``+state``: the floor with one pass over the state added, and the step over it."""
    header = (
        f"{'backbone':<10} {'size':<10} {'runtime':<8} {'params':>10} {'train fr/s':>11} "
        f"{'window ms':>10} {'step ms':>8} {'win/step':>9} {'(cpu time)':>10} "
        f"{'floor ms':>9} {'win/floor':>9} {'step/floor':>10} {'+state ms':>9} {'step/it':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        flag = "" if r["backbone"] == "mlp" or r["window_over_step"] >= TARGET_RATIO else "  <20x"
        print(
            f"{r['backbone']:<10} {r['size']:<10} {r['runtime']:<8} {r['params']:>10,} "
            f"{r['train_frames_per_s']:>11,.0f} {r['window_ms']:>10.2f} {r['step_ms']:>8.3f} "
            f"{r['window_over_step']:>8.1f}x {r.get('window_over_step_cpu', float('nan')):>9.1f}x "
            f"{r['weights_floor_ms']:>9.3f} {r['window_over_floor']:>8.1f}x {r['step_over_floor']:>9.2f}x "
            f"{r.get('weights_state_floor_ms', float('nan')):>9.3f} "
            f"{r.get('step_over_weights_state_floor', float('nan')):>7.2f}x{flag}"
            + ("  >1.5x floor" if r["step_over_floor"] > STEP_FLOOR_GOAL else "")
        )


def parse_args(argv: list[str] | None = None) -> tuple[BenchSettings, Path]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--out", type=Path, default=RESULTS / "backbones.json")
    names = [*sorted(BACKBONES), *VARIANTS]
    parser.add_argument("--backbones", nargs="+", choices=names, default=names)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument(
        "--runtimes",
        nargs="+",
        choices=RUNTIMES,
        default=["eager"],
        help="where window and step run: eager PyTorch, torch.compile, onnxruntime (CPU)",
    )
    args = parser.parse_args(argv)
    if args.device != "cpu" and "onnx" in args.runtimes:
        parser.error("--runtimes onnx runs on the CPU only; drop it or use --device cpu")
    settings = BenchSettings(
        device=args.device, quick=args.quick, backbones=args.backbones, sizes=args.sizes, runtimes=args.runtimes
    )
    return settings, args.out


def main(argv: list[str] | None = None) -> dict:
    settings, out = parse_args(argv)
    device = torch.device(settings.device)
    rows = []
    for size in settings.sizes:
        for name in settings.backbones:
            rows.extend(bench_one(name, size, settings, device))
            print(f"  done {name:<10} {size}", file=sys.stderr, flush=True)
    print_table(rows)
    kernels = kernel_comparison(settings, device)
    if kernels:
        print(
            f"mamba-ssm kernels vs pure scan at T={kernels['seq_len']}: forward "
            f"{kernels['forward_speedup']:.1f}x, train step {kernels['train_speedup']:.1f}x"
        )
    report = {
        "settings": asdict(settings),
        "environment": environment(settings, device),
        "target_window_over_step": TARGET_RATIO,
        "results": rows,
        "mamba_kernels_vs_pure": kernels,
        "step_floor_goal": STEP_FLOOR_GOAL,
        "step_over_floor": {
            runtime: {f"{r['backbone']} {r['size']}": r["step_over_floor"] for r in rows if r["runtime"] == runtime}
            for runtime in settings.runtimes
        },
        "median_window_over_step": {
            runtime: statistics.median(r["window_over_step"] for r in rows if r["runtime"] == runtime)
            for runtime in settings.runtimes
        },
    }
    write_json(out, report, indent=2)
    return report


if __name__ == "__main__":
    main()
