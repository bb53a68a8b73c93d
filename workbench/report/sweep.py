"""Parameter sweeps over a notebook: a grid of arms, each arm one papermill run.

A grid file (YAML) holds parameters shared by every arm, a cross product of lists, and
explicit arms (each a dict of parameters merged over the shared ones)::

    # grid.yaml
    parameters:            # every arm gets these (optional)
      max_frames: 300
    grid:                  # cross product: 2 x 2 = 4 arms (optional)
      backbone: [gru, mamba]
      seed: [0, 1]
    arms:                  # explicit extra arms (optional)
      - {backbone: transformer, seed: 0, learning_rate: 0.001}
    resources:             # what one arm asks of a Ray cluster (optional)
      num_cpus: 1
      num_gpus: 0

An arm is named by the parameters that vary, sorted by name: ``backbone=gru__seed=1``
(characters other than letters, digits and ``.+-`` become ``-``). Each arm runs into
``OUT/<arm>.ipynb``, its metrics (see :mod:`workbench.report.metrics`) into
``OUT/<arm>.metrics.json``, and its outcome into ``OUT/<arm>.status.json``. An arm whose
status says ``ok`` is skipped on the next run, so rerunning the same command resumes.
A failing arm is retried ``retries`` times, then recorded with a one-line error; the
other arms finish regardless.

Notebooks run with their own folder as working directory (as in Jupyter and nbval), so
relative paths in parameters are relative to the notebook, unless ``cwd`` says otherwise.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from workbench.errors import WorkbenchError
from workbench.report.metrics import METRICS_ENV, load_metrics, metrics_path_for

log = logging.getLogger(__name__)

MAX_NAME = 120
MAX_ERROR = 300
# After the last cell papermill asks the kernel for its language info and, with no timeout,
# can wait forever for a reply that went missing (nteract/papermill#711). The wait is
# bounded by this; cells are bounded by ArmTask.timeout_s alone (None: no limit).
REPLY_TIMEOUT_S = 120


# Our kernels listen on localhost TCP ports, and ipykernel warns on every start that the
# traffic is not encrypted (a note for kernels exposed on a network; it buries the arm's
# own messages here). Kernel-app warnings are silenced for the kernels we start, errors
# still show; user code's warnings are untouched.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR",)


class SweepError(WorkbenchError):
    """A grid file or sweep request that cannot run as written."""


@dataclass(frozen=True)
class Arm:
    """One run of the notebook: its name, all injected parameters, and its resources."""

    name: str
    parameters: dict[str, Any]
    varying: dict[str, Any]  # the parameters that name it
    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass
class Grid:
    """A parsed grid file."""

    parameters: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    arms: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)


@dataclass
class ArmResult:
    """What one arm did: ``status`` is ``ok``, ``failed`` or ``skipped`` (finished before)."""

    arm: str
    status: str
    attempts: int
    error: str
    seconds: float
    parameters: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    notebook: str | None = None  # the executed notebook's JSON (not kept in status)


def load_grid(path: str | os.PathLike) -> Grid:
    """Parse and check a grid file (see the module docstring for the format)."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise SweepError(f"no such grid file: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SweepError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    return parse_grid(data, source=str(path))


def parse_grid(data: dict, source: str = "grid") -> Grid:
    """Check a grid given as a dict (the YAML file's content)."""
    if not isinstance(data, dict):
        raise SweepError(f"{source}: expected a mapping with parameters/grid/arms keys")
    unknown = set(data) - {"parameters", "grid", "arms", "resources"}
    if unknown:
        raise SweepError(f"{source}: unknown keys {sorted(unknown)}; use parameters, grid, arms and resources")
    grid = Grid(
        dict(data.get("parameters") or {}),
        dict(data.get("grid") or {}),
        list(data.get("arms") or []),
        dict(data.get("resources") or {}),
    )
    for name, values in grid.grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{source}: grid.{name} must be a non-empty list of values")
    for index, arm in enumerate(grid.arms):
        if not isinstance(arm, dict) or not arm:
            raise SweepError(f"{source}: arms[{index}] must be a mapping of parameters")
    extra = set(grid.resources) - {"num_cpus", "num_gpus"}
    if extra:
        raise SweepError(f"{source}: resources take num_cpus and num_gpus, not {sorted(extra)}")
    return grid


def _value_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return str(value)


def arm_name(varying: dict[str, Any]) -> str:
    """Deterministic file-safe name of an arm: ``a=1__b=x`` over the sorted keys."""
    if not varying:
        return "default"
    text = "__".join(f"{key}={_value_text(varying[key])}" for key in sorted(varying))
    name = re.sub(r"[^A-Za-z0-9.+=_-]", "-", text)
    if len(name) > MAX_NAME or name != text:
        # keep names unique when sanitising or truncating folds two arms together
        digest = hashlib.sha1(text.encode()).hexdigest()[:8]
        name = f"{name[:MAX_NAME]}~{digest}"
    return name


def expand_grid(grid: Grid, num_cpus: float | None = None, num_gpus: float | None = None) -> list[Arm]:
    """The arms of a grid: the cross product first, then the explicit arms (duplicates
    dropped). CPU/GPU requests come from ``resources``, overridden by the arguments."""
    cpus = float(num_cpus if num_cpus is not None else grid.resources.get("num_cpus", 1))
    gpus = float(num_gpus if num_gpus is not None else grid.resources.get("num_gpus", 0))
    keys = list(grid.grid)
    varyings = [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.grid.values())]
    if not keys:
        varyings = [] if grid.arms else [{}]
    varyings += [dict(arm) for arm in grid.arms]
    arms, seen = [], set()
    for varying in varyings:
        name = arm_name(varying)
        if name in seen:
            continue
        seen.add(name)
        arms.append(Arm(name, {**grid.parameters, **varying}, varying, cpus, gpus))
    return arms


# --------------------------------------------------------------------------------------
# Running one arm: the same function runs in a local process pool and as a Ray task.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmTask:
    """Everything a worker needs to run one arm (picklable, paths not shared required)."""

    arm: Arm
    notebook_text: str  # the input notebook's JSON
    cwd: str  # working directory of the kernel
    retries: int = 0
    timeout_s: float | None = None  # per cell; None for no limit
    kernel_name: str | None = None


def one_line_error(err: BaseException) -> str:
    """A short, single-line description of why an arm failed."""
    ename, evalue = getattr(err, "ename", None), getattr(err, "evalue", None)
    if ename:
        cell = getattr(err, "exec_count", None)
        text = f"{ename}: {evalue}" + (f" (cell [{cell}])" if cell else "")
    else:
        text = f"{type(err).__name__}: {err}"
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # ANSI colours from IPython tracebacks
    text = " ".join(text.split())
    return text[: MAX_ERROR - 3] + "..." if len(text) > MAX_ERROR else text


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def kernel_environment(metrics_file: str, num_cpus: float | None = None) -> dict[str, str]:
    """Variables for the arm's kernel: where to record metrics, this ``workbench`` first
    on the path, so the kernel runs the same code as the sweep (a checkout, a worktree),
    and, given the arm's ``num_cpus``, that many math threads (torch otherwise starts one
    per core in every arm, and arms running side by side oversubscribe the machine)."""
    root = str(Path(__file__).resolve().parents[2])
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env = {METRICS_ENV: metrics_file, "PYTHONPATH": os.pathsep.join([root, *path])}
    if num_cpus:
        env |= dict.fromkeys(THREAD_VARIABLES, str(max(1, int(num_cpus))))
    return env


def ran_to_the_end(path: Path) -> bool:
    """Whether an executed notebook has every non-empty code cell run and no error."""
    import nbformat

    if not path.exists():
        return False
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and c.source.strip()]
    return all(c.execution_count is not None for c in cells) and not any(
        o.get("output_type") == "error" for c in cells for o in c.get("outputs", [])
    )


@contextmanager
def kernel_env(metrics_file: Path, num_cpus: float | None = None) -> Iterator[None]:
    """Set :func:`kernel_environment` for the kernels started inside, then restore."""
    env = kernel_environment(str(metrics_file), num_cpus)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_attempt(task: ArmTask, source: Path, output: Path) -> str:
    """One papermill run of an arm: ``""`` when it ran through, else its one-line error."""
    import papermill

    output.unlink(missing_ok=True)
    try:
        papermill.execute_notebook(
            str(source),
            str(output),
            parameters=task.arm.parameters,
            cwd=task.cwd,
            kernel_name=task.kernel_name,
            progress_bar=False,
            log_output=False,
            execution_timeout=REPLY_TIMEOUT_S,
            timeout_func=lambda cell: task.timeout_s,
            extra_arguments=list(KERNEL_ARGUMENTS),
        )
    except Exception as err:  # any failure of the arm is recorded, not raised
        if ran_to_the_end(output):  # every cell ran: only the final kernel_info reply was lost
            log.warning("arm %s: %s after its last cell; the run is complete", task.arm.name, one_line_error(err))
            return ""
        return one_line_error(err)
    return ""


def execute_arm(task: ArmTask) -> ArmResult:
    """Run one arm with papermill, up to ``retries + 1`` times, in a scratch folder; the
    executed notebook and metrics come back in the result (the caller writes them)."""
    started, error, attempts = time.monotonic(), "", 0
    with tempfile.TemporaryDirectory(prefix="workbench-arm-") as scratch:
        source = Path(scratch) / "input.ipynb"
        source.write_text(task.notebook_text)
        output = Path(scratch) / f"{task.arm.name}.ipynb"
        metrics_file = metrics_path_for(output)
        with kernel_env(metrics_file, task.arm.num_cpus):  # the kernel inherits it
            for attempts in range(1, task.retries + 2):  # noqa: B007 (counted after the loop)
                metrics_file.unlink(missing_ok=True)
                error = run_attempt(task, source, output)
                if not error:
                    break
        return ArmResult(
            task.arm.name,
            "failed" if error else "ok",
            attempts,
            error,
            round(time.monotonic() - started, 2),
            task.arm.parameters,
            load_metrics(metrics_file),
            output.read_text() if output.exists() else None,
        )


def run_local(tasks: list[ArmTask], workers: int = 1) -> Iterator[ArmResult]:
    """Run arms in this process (one worker) or a process pool; results as they finish."""
    if workers <= 1 or len(tasks) <= 1:
        yield from map(execute_arm, tasks)
        return
    with ProcessPoolExecutor(min(workers, len(tasks)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute_arm, task): task for task in tasks}
        try:
            for future in as_completed(futures):
                task = futures[future]
                try:
                    yield future.result()
                except Exception as err:  # a worker process died: record it, keep going
                    yield ArmResult(task.arm.name, "failed", 1, one_line_error(err), 0.0, task.arm.parameters)
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


# --------------------------------------------------------------------------------------
# Ray: each arm is one task with its CPU/GPU request; retries stay inside execute_arm.
# --------------------------------------------------------------------------------------


def import_ray():
    """The optional ``ray`` package, or a SweepError that says how to get it."""
    try:
        import ray
    except ImportError:
        raise SweepError(
            "--ray needs the optional 'ray' package: pip install "
            "'exphil-workbench[ray]' (or leave out --ray to run arms in a local "
            "process pool)"
        ) from None
    return ray


def ray_task_options(arm: Arm) -> dict[str, Any]:
    """``ray.remote(...).options`` of one arm: its resources, no Ray-level retries
    (``execute_arm`` retries itself, so attempts are counted in one place)."""
    return {"num_cpus": arm.num_cpus, "num_gpus": arm.num_gpus, "max_retries": 0, "name": f"sweep:{arm.name}"}


def submit_ray(tasks: list[ArmTask], ray: Any) -> dict[Any, ArmTask]:
    """Submit every arm to an initialised Ray module; returns object ref -> task."""
    remote = ray.remote(execute_arm)
    return {remote.options(**ray_task_options(task.arm)).remote(task): task for task in tasks}


def run_ray(tasks: list[ArmTask], address: str, ray: Any | None = None) -> Iterator[ArmResult]:
    """Run arms as Ray tasks on the cluster at ``address``; results as they finish.

    Workers need the notebook's imports and the same ``cwd`` path (a shared checkout);
    the executed notebooks and metrics travel back in the results."""
    ray = ray or import_ray()
    if not ray.is_initialized():
        ray.init(address=address)
    pending = submit_ray(tasks, ray)
    waiting = list(pending)
    while waiting:
        done, waiting = ray.wait(waiting, num_returns=1)
        for ref in done:
            task = pending[ref]
            try:
                yield ray.get(ref)
            except Exception as err:  # the task itself died (node lost, out of memory)
                yield ArmResult(task.arm.name, "failed", 1, one_line_error(err), 0.0, task.arm.parameters)


# --------------------------------------------------------------------------------------
# The driver: skip finished arms, run the rest, write each result as it arrives.
# --------------------------------------------------------------------------------------


def status_path(out: Path, arm: str) -> Path:
    return out / f"{arm}.status.json"


def finished(out: Path, arm: Arm) -> ArmResult | None:
    """The recorded result of an arm that already ran to the end, else None."""
    path = status_path(out, arm.name)
    if not path.exists() or not (out / f"{arm.name}.ipynb").exists():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    same_parameters = data.get("parameters") == json.loads(json.dumps(arm.parameters))
    if data.get("status") != "ok" or not same_parameters:
        return None
    return ArmResult(**{**data, "status": "skipped"})


def write_result(out: Path, result: ArmResult) -> None:
    """Write an arm's executed notebook, metrics file and status file."""
    if result.notebook is not None:
        (out / f"{result.arm}.ipynb").write_text(result.notebook)
    metrics = metrics_path_for(out / f"{result.arm}.ipynb")
    if result.metrics:
        metrics.write_text(json.dumps({"version": 1, "metrics": result.metrics}, indent=1))
    else:
        metrics.unlink(missing_ok=True)
    status = {k: v for k, v in asdict(result).items() if k != "notebook"}
    status_path(out, result.arm).write_text(json.dumps(status, indent=1, default=str))


def run_sweep(
    notebook: str | os.PathLike,
    grid: Grid,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    retries: int = 0,
    ray_address: str | None = None,
    cwd: str | os.PathLike | None = None,
    timeout_s: float | None = None,
    kernel_name: str | None = None,
    num_cpus: float | None = None,
    num_gpus: float | None = None,
    on_result: Callable[[ArmResult], None] | None = None,
) -> list[ArmResult]:
    """Run every arm of ``grid`` over ``notebook`` into ``out``; arms that finished in an
    earlier run are skipped. Returns one result per arm, in grid order."""
    notebook = Path(notebook)
    if not notebook.exists():
        raise SweepError(f"no such notebook: {notebook}")
    if retries < 0 or workers < 1:
        raise SweepError("--retries must be >= 0 and --workers >= 1")
    check_parameters(notebook, grid)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    arms = expand_grid(grid, num_cpus, num_gpus)
    (out / "sweep.json").write_text(
        json.dumps(
            {"notebook": str(notebook), "grid": asdict(grid), "arms": [arm.name for arm in arms]}, indent=1, default=str
        )
    )
    results = {}
    for arm in arms:
        done = finished(out, arm)
        if done is not None:
            results[arm.name] = done
            if on_result:
                on_result(done)
    text = notebook.read_text()
    work_dir = str(Path(cwd or notebook.parent).resolve())
    tasks = [ArmTask(arm, text, work_dir, retries, timeout_s, kernel_name) for arm in arms if arm.name not in results]
    stream = run_ray(tasks, ray_address) if ray_address and tasks else run_local(tasks, workers)
    for result in stream:
        write_result(out, result)
        result.notebook = None
        results[result.arm] = result
        if on_result:
            on_result(result)
    return [results[arm.name] for arm in arms]


def notebook_parameters(notebook: str | os.PathLike) -> list[str]:
    """The names set in ``notebook``'s cell tagged ``parameters`` (what papermill injects)."""
    import papermill

    return list(papermill.inspect_notebook(str(notebook)))


def check_parameters(notebook: str | os.PathLike, grid: Grid) -> None:
    """Every parameter the grid sets must be one of the notebook's: papermill would only
    warn and run the notebook's default instead (a misspelt ``backbon`` trains the default
    backbone and publishes a row named after the typo). Checked before any arm runs."""
    import difflib

    valid = notebook_parameters(notebook)
    if not valid:
        raise SweepError(f"{notebook} has no cell tagged 'parameters': a sweep cannot set anything in it")
    used = [*grid.parameters, *grid.grid, *(key for arm in grid.arms for key in arm)]
    for name in dict.fromkeys(used):
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SweepError(
                f"the grid sets {name!r}, which {Path(notebook).name} does not take; "
                f"{hint}its parameters: {', '.join(valid)}"
            )


def format_results(results: Iterable[ArmResult]) -> str:
    """One line per arm: status, attempts, seconds, and the error of failed arms."""
    lines = []
    for result in results:
        line = f"{result.status:<8} {result.arm}  ({result.attempts} attempt(s), {result.seconds:.1f} s)"
        lines.append(line + (f"\n         {result.error}" if result.error else ""))
    return "\n".join(lines)
