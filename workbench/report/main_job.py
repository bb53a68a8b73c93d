"""``workbench report``, the main job: the notebooks run headless on a replay folder, in
pipeline order, then one standalone HTML report links them all.

Steps (each a notebook under ``notebooks/``, run by papermill into ``papermill_runs/``,
published without code to ``reports/``): explore the replays, train a small model and
evaluate it beside the repeat-last baseline, stick confusions, attention, deployment.
A step that fails is recorded with its one-line error and the others still run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from workbench.errors import WorkbenchError
from workbench.report.publish import ReportEntry, build_index, publish_notebook
from workbench.report.sweep import Arm, ArmTask, Grid, check_parameters, execute_arm, write_result

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass
class Step:
    notebook: str
    title: str
    description: str
    parameters: Callable[["JobPaths"], dict]
    headline: tuple[str, ...] = ()  # metrics quoted on the index page


@dataclass
class JobPaths:
    replays: list[str]
    work: Path  # stores, caches, runs of the job
    train_steps: int

    @property
    def train_run(self) -> str:
        return str(self.work / "runs" / "train")

    def common(self) -> dict:
        # every output of the job under its own work folder: never the notebooks' default
        # ../.cache/notebook_runs, which `make test` (nbval) uses
        return {"replays": self.replays, "store": str(self.work / "store"), "cache": str(self.work / "embeddings")}

    def own_runs(self) -> dict:
        """The folder of the runs a notebook trains for itself (comparison models)."""
        return {**self.common(), "runs": str(self.work / "notebook_runs")}


STEPS = [
    Step(
        "explore_replays",
        "Replays",
        "corpus summary, one game's timeline, stick heatmaps, frames on the stage",
        lambda p: {"replays": p.replays, "store": str(p.work / "store")},
        ("explore/games_ok", "explore/frames"),
    ),
    Step(
        "reference",
        "Reference model",
        "the shipped GRU (data/models/reference: trained on the shared corpus, the bundled games held "
        "out) scored on the bundled games beside repeat-last, with bits per frame and the state-removed check",
        lambda p: {
            **p.common(),
            "checkpoint": str(NOTEBOOKS.parent / "data" / "models" / "reference"),
            "delays": "0,6,12,18,24",
        },
        (
            "reference/bits_per_frame@0",
            "reference/repeat_baseline/bits_per_frame@0",
            "reference/main_x_acc@0",
            "reference/repeat_baseline/main_x_acc@0",
        ),
    ),
    Step(
        "train",
        "Training and evaluation",
        "a small GRU with live loss curves, then eval beside repeat-last",
        lambda p: {
            **p.common(),
            "out": p.train_run,
            "hidden": 64,
            "layers": 1,
            "window": 32,
            "batch_size": 32,
            "max_steps": p.train_steps,
            "delay": "0-6",
            "eval_delays": "0,6",
        },
        ("eval/main_x_acc@0", "eval/repeat_baseline/main_x_acc@0"),
    ),
    Step(
        "stick_confusion",
        "Stick confusions",
        "confusion matrices, change frames, neutral vs edge, per character",
        lambda p: {**p.own_runs(), "checkpoint": p.train_run, "max_steps": 60},
        ("confusion/main_x_acc", "confusion/main_x_acc_change"),
    ),
    Step(
        "attention",
        "Attention",
        "what an attention policy looks at, around hits, shields and action changes",
        lambda p: {**p.own_runs(), "max_steps": 60},
        ("attention/mean_entropy", "attention/uniform_entropy"),
    ),
    Step(
        "deploy",
        "Deployment",
        "ONNX export, parity, INT8/INT4 and per-frame latency",
        lambda p: {**p.own_runs(), "checkpoint": p.train_run, "out_dir": str(p.work / "deploy")},
        ("deploy/none/p50_ms", "deploy/none/max_rel_error", "deploy/int8-dynamic/accuracy_change"),
    ),
    Step(
        "selfplay",
        "Self-play",
        "a few PPO updates from the trained GRU in the simulator, ratings, head to head",
        lambda p: {"init": p.train_run, "out": str(p.work / "runs" / "selfplay")},
        ("selfplay/kl_teacher", "selfplay/eval_win_rate_vs_teacher"),
    ),
]


@dataclass
class JobResult:
    index: Path
    seconds: float
    steps: list[dict] = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        return [s for s in self.steps if s["status"] != "ok"]


def run_main_job(
    replays: list[str] | None = None,
    out: str | Path = "reports",
    runs: str | Path = "papermill_runs/main",
    work: str | Path = ".cache/main_job",
    train_steps: int = 400,
    timeout_s: float = 900.0,
    progress: Callable[[str], None] = print,
) -> JobResult:
    """Run every step on ``replays`` (default: the bundled ``data/replays``) and publish
    ``out/index.html``. Missing replay paths fail here, before any notebook runs."""
    from workbench.eval.verdict import eval_verdict, metric_label  # here: importing
    from workbench.replay import find_replays  # workbench.report stays light (no torch)

    replays = [str(Path(r).resolve()) for r in (replays or [NOTEBOOKS.parent / "data" / "replays"])]
    if not find_replays(replays):
        raise WorkbenchError(f"no .slp replays under {', '.join(replays)}")
    paths = JobPaths(replays, Path(work).resolve(), train_steps)
    for step in STEPS:  # a parameter a notebook does not take would be ignored silently
        source = NOTEBOOKS / f"{step.notebook}.ipynb"
        if source.exists():
            check_parameters(source, Grid(parameters=step.parameters(paths)))
    out, runs = Path(out), Path(runs)
    out.mkdir(parents=True, exist_ok=True)
    runs.mkdir(parents=True, exist_ok=True)
    started, entries, summary = time.monotonic(), [], []
    for step in STEPS:
        source = NOTEBOOKS / f"{step.notebook}.ipynb"
        if not source.exists():
            continue
        progress(f"[{time.monotonic() - started:6.0f}s] {step.title} ({step.notebook}.ipynb)")
        task = ArmTask(
            Arm(step.notebook, step.parameters(paths), {}),
            source.read_text(),
            str(NOTEBOOKS),
            retries=0,
            timeout_s=timeout_s,
        )
        result = execute_arm(task)
        write_result(runs, result)  # the executed notebook, its metrics and status
        if result.notebook:
            publish_notebook(runs / f"{step.notebook}.ipynb", out / f"{step.notebook}.html")
        quoted = ", ".join(
            f"{metric_label(k)} {_fmt(result.metrics.get(k))}" for k in step.headline if k in result.metrics
        )
        description = step.description + (f" ({quoted})" if quoted else "")
        if result.error:
            description += f". Failed: {result.error}"
        entries.append(
            ReportEntry(step.title, f"{step.notebook}.html" if result.notebook else "", description, result.status)
        )
        summary.append(
            {
                "step": step.notebook,
                "status": result.status,
                "seconds": result.seconds,
                "error": result.error,
                "metrics": result.metrics,
            }
        )
    seconds = time.monotonic() - started
    intro = (
        f"The main job on {', '.join(replays)}: {len(summary)} notebooks in {seconds / 60:.1f} min. "
        "Every accuracy stands beside the repeat-last-action baseline. Two models appear: the "
        "reference model (data/models/reference, trained on the shared corpus with the bundled "
        f"games held out, never on these replays) and a small GRU trained here for {train_steps} "
        "steps on these replays to show the training loop (the later steps use that one)."
    )
    evaluation = Path(paths.train_run) / "eval.json"
    if evaluation.exists():  # the verdict first: is the trained model better than repeat-last?
        intro = (
            f"Verdict: {eval_verdict(json.loads(evaluation.read_text()), model='the small GRU trained here')} " + intro
        )
    reference = next((s["metrics"] for s in summary if s["step"] == "reference"), {})
    if "reference/bits_per_frame@0" in reference:  # the shipped model's verdict, in numbers
        intro = (
            f"The reference model scores {reference['reference/bits_per_frame@0']:.3f} bits per frame "
            f"on these games against repeat-last's {reference['reference/repeat_baseline/bits_per_frame@0']:.3f}, "
            f"main-stick x accuracy {reference['reference/main_x_acc@0']:.4f} against "
            f"{reference['reference/repeat_baseline/main_x_acc@0']:.4f}. " + intro
        )
    index = build_index("ExPhil Workbench report", entries, out / "index.html", intro=intro)
    (out / "summary.json").write_text(json.dumps({"seconds": seconds, "steps": summary}, indent=1))
    return JobResult(index, seconds, summary)


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
