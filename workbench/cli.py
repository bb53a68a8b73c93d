"""The ``workbench`` command. Each subcommand is a thin call into the library.

Errors: :func:`main` is the one handler. A :class:`~workbench.errors.WorkbenchError`
(every error a user can cause derives from it: a bad replay, path, option, config key
or checkpoint), an ``OSError`` on a user's path, or a command line that does not parse
prints ONE line, ``workbench CMD: error: ...``, on stderr and exits 2. Anything else is
a bug: one line and exit 1. ``WORKBENCH_DEBUG=1`` shows the traceback instead.

Adding a subcommand ``NAME``:

1. ``def add_NAME(sub)``: ``p = sub.add_parser("NAME", help=..., description=...)``, its
   arguments (numbers through :func:`count`/:func:`number` so a negative or zero value
   is a one-line error), then ``p.set_defaults(func=run_NAME)``. Arguments that need
   heavy imports (torch, the config tree) go in ``p.defer(lambda p: ...)``: they are
   added only when NAME is the command, so ``workbench --help`` stays fast.
2. ``def run_NAME(args) -> int``: import the library inside, call it, print, return the
   exit status. Raise WorkbenchError subclasses for anything the user got wrong.
3. Append ``add_NAME`` to ``SUBCOMMANDS`` (the order of ``workbench --help``), and add
   a row or two to ``tests/test_cli_invocations.py``'s table of wrong invocations.

Flags from a config dataclass: declare the field with ``configtree.option(default,
flag="--x", help=...)``, call ``add_flags(p, YourConfig)`` (in ``p.defer``), and build
with ``configtree.build(YourConfig, args.config, flag_updates(vars(args), YourConfig,
strict=False), args.overrides)``; see ``add_train``. Adding an option is adding a field.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

from workbench.errors import UsageError, WorkbenchError
from workbench.io import load_config_file


class WorkbenchParser(argparse.ArgumentParser):
    """argparse whose errors are a :class:`UsageError` (one line, exit 2, by
    :func:`main`) and whose subcommands can defer adding heavy arguments."""

    def error(self, message: str):
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)

    def defer(self, add: Callable[[argparse.ArgumentParser], None]) -> None:
        """Run ``add(self)`` just before this parser parses (only when it is the command)."""
        self._deferred = [*getattr(self, "_deferred", []), add]

    def parse_known_args(self, args=None, namespace=None):
        for add in getattr(self, "_deferred", []):
            add(self)
        self._deferred = []
        namespace, extra = super().parse_known_args(args, namespace)
        if not hasattr(namespace, "parser_"):
            namespace.parser_ = self  # the innermost (sub)command's parser
        return namespace, extra

    def unrecognized(self, extra: list[str]) -> UsageError:
        """'unrecognized arguments: --hiden 3 (did you mean --hidden?)'."""
        import difflib

        flags = [f for f in extra if f.startswith("-")]
        close = (
            difflib.get_close_matches(flags[0].split("=")[0], list(self._option_string_actions), n=1, cutoff=0.6)
            if flags
            else []
        )
        hint = f"; did you mean {close[0]}?" if close else ""
        return UsageError(f"unrecognized arguments: {' '.join(extra)}{hint} (see {self.prog} --help)", prog=self.prog)


def count(low: int = 0, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            span = f"{low} to {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{value}: use {span}{' ' + what if what else ''}")
        return value

    return parse


def number(low: float = 0.0, strict: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number >= low (> low when ``strict``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (value > low if strict else value >= low) or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{value}: use a number {'>' if strict else '>='} {low:g}")
        return value

    return parse


def output_file(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check that a file can be written at ``path`` (before any work is done)."""
    target = Path(path)
    if target.is_dir():
        raise WorkbenchError(f"{flag} {path}: is a folder; give a file name")
    parent = target.parent if str(target.parent) else Path(".")
    _check_folder(parent, flag, path)
    if target.exists() and not os.access(target, os.W_OK):
        raise WorkbenchError(f"{flag} {path}: the file exists and cannot be written")
    return target


def output_folder(path: str | os.PathLike, flag: str = "--out") -> Path:
    """Check that ``path`` is, or can be made, a writable folder."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise WorkbenchError(f"{flag} {path}: is an existing file, not a folder")
    _check_folder(target, flag, path)
    return target


def _check_folder(folder: Path, flag: str, path) -> None:
    probe = folder
    while not probe.exists():  # the nearest existing ancestor decides
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise WorkbenchError(f"{flag} {path}: {probe} is a file, not a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise WorkbenchError(f"{flag} {path}: {probe} is not writable")


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _unit_interval(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number in [0, 1]") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: use a score in [0, 1]")
    return value


def _flag_names(text: str) -> list[str]:
    from workbench.replay.quality import parse_flags

    try:
        return parse_flags(text)
    except WorkbenchError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _quality_flags(p: argparse.ArgumentParser) -> None:
    """``--quality-threshold`` / ``--exclude-flags`` (ingest and eval; train derives its
    own from TrainConfig)."""
    p.add_argument(
        "--quality-threshold",
        type=_unit_interval,
        default=0.0,
        metavar="SCORE",
        help="leave out games whose quality score (0..1) is below SCORE",
    )
    p.add_argument(
        "--exclude-flags",
        type=_flag_names,
        default=[],
        metavar="FLAGS",
        help="leave out games with any of these flags, e.g. sd_chain,idle,quit_early,sandbagging",
    )


def add_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="parse replays into a frame store",
        description="Walk .slp files and folders, parse them (peppi-py, "
        "py-slippi fallback) and write a Parquet frame store.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help=".slp files or folders")
    p.add_argument("--out", required=True, help="store folder (created if missing)")
    p.add_argument("--workers", type=count(1), default=1, help="parser processes (default 1)")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="read the files in tasks on this Ray cluster ('auto' to join the one "
        "this machine belongs to, 'local' to start one here); the store and "
        "the replays must be on a filesystem every node sees",
    )
    p.add_argument(
        "--characters",
        type=_csv_list,
        default=[],
        nargs="?",
        const=[],
        help="keep games with any of these characters, e.g. fox,marth",
    )
    p.add_argument("--stages", type=_csv_list, default=[], help="keep games on these stages, e.g. fd,bf")
    p.add_argument("--min-frames", type=count(0), default=300, help="shortest game kept (default 300)")
    p.add_argument("--allow-multiplayer", action="store_true", help="keep 3-4 player games and doubles")
    p.add_argument(
        "--cpu",
        choices=("human", "none", "any"),
        default="human",
        help="games with CPUs: keep when a human plays (default), none, or any",
    )
    p.add_argument("--parser", choices=("auto", "peppi", "py-slippi"), default="auto")
    _quality_flags(p)
    p.add_argument("--force", action="store_true", help="re-parse files already in the store")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from workbench.replay import IngestPolicy, format_summary, ingest
    from workbench.types import character_id, stage_id

    output_folder(args.out)
    try:
        policy = IngestPolicy(
            min_frames=args.min_frames,
            max_players=4 if args.allow_multiplayer else 2,
            cpu=args.cpu,
            characters=[character_id(c) for c in args.characters],
            stages=[stage_id(s) for s in args.stages],
            quality_threshold=args.quality_threshold,
            exclude_flags=args.exclude_flags,
        )
    except ValueError as err:
        raise WorkbenchError(str(err)) from None
    result = ingest(
        args.paths,
        args.out,
        workers=args.workers,
        policy=policy,
        parser=args.parser,
        progress=sys.stderr.isatty(),
        force=args.force,
        ray_address=args.ray,
    )
    print(json.dumps(result.summary, indent=1) if args.json else format_summary(result))
    # non-zero only when nothing at all could be read
    readable = result.summary["ok"] + result.summary["skipped"]
    return 0 if readable or not result.report else 1


def add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a notebook over a parameter grid and publish a report",
        description="Run NOTEBOOK once per arm of a grid file with papermill "
        "(local process pool or a Ray cluster), skip arms finished "
        "before, aggregate their metrics and publish an HTML report. "
        "Grid format: see workbench.report.sweep.",
    )
    p.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb to run")
    p.add_argument("--grid", required=True, help="grid YAML: parameters, grid, arms, resources")
    p.add_argument("--out", required=True, help="run folder, e.g. papermill_runs/NAME")
    p.add_argument("--workers", type=count(1), default=1, help="arms run at once locally (default 1)")
    p.add_argument("--retries", type=count(0), default=0, help="extra attempts of a failing arm")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="submit arms to this Ray cluster ('auto' for the local one) instead of a process pool",
    )
    p.add_argument("--cpus", type=number(0), help="CPUs one arm asks of Ray (overrides the grid)")
    p.add_argument("--gpus", type=number(0), help="GPUs one arm asks of Ray (overrides the grid)")
    p.add_argument("--cwd", help="working directory of the notebooks (default: their folder)")
    p.add_argument("--timeout", type=number(0, strict=True), help="seconds one cell may run (default: no limit)")
    p.add_argument("--kernel", help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--report", help="report folder (default: reports/<name of --out>)")
    p.add_argument("--no-report", action="store_true", help="run and aggregate, publish nothing")
    p.add_argument("--seed-param", default="seed", help="parameter whose arms form error bars")
    p.set_defaults(func=run_sweep)


def run_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.report import format_results, load_grid, publish_sweep, run_sweep as sweep
    from workbench.report.results import collect_results, write_results

    grid = load_grid(args.grid)
    output_folder(args.out)

    def report(result) -> None:
        print(format_results([result]), flush=True)

    results = sweep(
        args.notebook,
        grid,
        args.out,
        workers=args.workers,
        retries=args.retries,
        ray_address=args.ray,
        cwd=args.cwd,
        timeout_s=args.timeout,
        kernel_name=args.kernel,
        num_cpus=args.cpus,
        num_gpus=args.gpus,
        on_result=report,
    )
    failed = sum(r.status == "failed" for r in results)
    print(
        f"{len(results)} arms: {len(results) - failed} ok, {failed} failed "
        f"({sum(r.status == 'skipped' for r in results)} finished before)"
    )
    if args.no_report:
        csv, _ = write_results(collect_results(args.out, [r.arm for r in results]), args.out)
        print(f"results: {csv}")
    else:
        index = publish_sweep(
            args.out, args.report or Path("reports") / Path(args.out).name, seed_parameter=args.seed_param
        )
        print(f"results: {Path(args.out) / 'results.csv'}\nreport: {index}")
    return 1 if failed else 0


def add_publish(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "publish",
        help="render executed notebooks to a standalone HTML report",
        description="Render executed notebooks without their code (charts "
        "inlined, no network needed) and an index page linking them.",
    )
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="executed .ipynb files")
    p.add_argument("--out", required=True, help="report folder, e.g. reports/NAME")
    p.add_argument("--title", default="Reports", help="title of the index page")
    p.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.report import ReportEntry, build_index, publish_notebook

    output_folder(args.out)
    entries = []
    for notebook in map(Path, args.notebooks):
        if not notebook.is_file():
            raise WorkbenchError(f"no such notebook: {notebook}")
        publish_notebook(notebook, Path(args.out) / f"{notebook.stem}.html")
        entries.append(ReportEntry(notebook.stem, f"{notebook.stem}.html", str(notebook)))
    print(f"report: {build_index(args.title, entries, Path(args.out) / 'index.html')}")
    return 0


def add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embedding tools: fit k-means stick centres, show layouts")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    fit = tools.add_parser("fit-sticks", help="fit k-means stick centres on replay data")
    fit.add_argument("paths", nargs="+", metavar="REPLAYS", help=".slp files, folders or stores")
    fit.add_argument("--k", type=count(2, 4096), default=21, help="centres per stick (default 21)")
    fit.add_argument("--out", required=True, help="centres JSON to write")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument(
        "--uniform-buckets", type=count(3, 255), default=17, help="uniform grid to compare the quantisation error with"
    )
    fit.set_defaults(func=run_fit_sticks)
    info = tools.add_parser("info", help="print the feature layout of an embedding config")
    info.add_argument("--config", help="JSON/YAML file with an EmbedConfig (default: the default)")
    info.set_defaults(func=run_embed_info)


def run_fit_sticks(args: argparse.Namespace) -> int:
    from workbench.embed.controller import save_centers
    from workbench.embed.fit import fit_sticks

    output_file(args.out)
    result = fit_sticks(args.paths, k=args.k, seed=args.seed, uniform_buckets=args.uniform_buckets)
    save_centers(result, args.out)
    for stick in ("main", "c"):
        err = result["mean_error"][stick]
        print(
            f"{stick:4s} stick: k-means ({args.k} classes) mean error {err['kmeans']:.4f}, "
            f"uniform {err['uniform_buckets']}x{err['uniform_buckets']} "
            f"({err['uniform_classes']} classes) {err['uniform']:.4f}  (libmelee units)"
        )
    print(f"fitted on {result['frames']:,} frames; wrote {args.out}")
    return 0


def run_embed_info(args: argparse.Namespace) -> int:
    from workbench.embed import EmbedConfig, StateLayout

    config = EmbedConfig()
    if args.config:
        config = EmbedConfig.from_dict(load_config_file(args.config))
    print(StateLayout(config).describe())
    return 0


def add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="behavioural cloning on replays",
        description="Train a policy. Options come from defaults, then --config, "
        "then the flags below, then --set KEY=VALUE (any config "
        "field, e.g. --set loss.focal_gamma=2).",
    )
    p.add_argument("--config", help="YAML/JSON experiment config")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config field, e.g. --set loss.focal_gamma=2 (repeatable)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out exactly, with the config saved in it (flags "
        "given change it, e.g. --max-steps to train longer)",
    )
    p.add_argument("--dry-run", action="store_true", help="print config, data and parameters, then exit")
    p.defer(_train_flags)
    p.set_defaults(func=run_train)


def _train_flags(p: argparse.ArgumentParser) -> None:
    """The experiment config's flags, derived from its dataclass fields."""
    from workbench.configtree import add_flags
    from workbench.train.config import ExperimentConfig

    add_flags(p, ExperimentConfig)


def train_config(args: argparse.Namespace):
    """The experiment config of a ``workbench train`` command line (checked at once)."""
    from workbench.configtree import flag_fields
    from workbench.train.config import ExperimentConfig, experiment

    dests = {flag.dest for _, flag, _ in flag_fields(ExperimentConfig)}
    flags = {dest: value for dest, value in vars(args).items() if dest in dests}
    config = args.config
    if args.resume:
        config = resumed_config(args, ExperimentConfig().out)
        flags["out"] = flags.get("out") or ExperimentConfig().out
    return experiment(config, args.overrides, **flags)


def resumed_config(args: argparse.Namespace, default_out: str) -> dict | str | None:
    """``--resume``: the run's own ``config.json`` is the base (flags and ``--set`` still
    apply over it, e.g. a longer ``--max-steps``), so ``train --resume --out RUN`` needs
    no other flag. A run folder without one (never started) falls back to ``--config``."""
    saved = Path(args.out or default_out) / "config.json"
    if not saved.exists():
        return args.config
    if args.config:
        raise WorkbenchError(
            f"--resume takes the config from {saved}; drop --config (flags and --set still apply on top of it)"
        )
    data = json.loads(saved.read_text())
    data.pop("out", None)  # the folder given now, wherever the run was moved to
    return data


def run_train(args: argparse.Namespace) -> int:
    from workbench.train import train

    cfg = train_config(args)
    if args.dry_run:
        return _dry_run(cfg)
    output_folder(cfg.out)
    result = train(cfg, resume=args.resume, progress=sys.stderr.isatty())
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        print(_format_train_result(result))
    return 0


def _dry_run(cfg) -> int:
    from workbench.models import Policy
    from workbench.train.data import prepare_data

    data = prepare_data(cfg)
    policy = Policy(cfg.embed, cfg.policy)
    print(
        json.dumps(
            {
                "config": cfg.to_dict(),
                "data": data.summary(),
                "parameters": {
                    "total": policy.num_parameters(),
                    **{name: sum(p.numel() for p in module.parameters()) for name, module in policy.named_children()},
                },
                "input_dim": policy.input_dim,
            },
            indent=1,
        )
    )
    return 0


def _format_train_result(result) -> str:
    final = result.final
    import math

    val = (
        f"best val loss {result.best_val_loss:.4f}"
        if math.isfinite(result.best_val_loss)
        else "no validation loss (no held-out window)"
    )
    lines = [f"trained {result.steps} steps in {result.seconds / 60:.1f} min; {val}; checkpoint {result.checkpoint}"]
    if "val/bits_per_frame" in final:
        lines.append(
            f"  val bits/frame {final['val/bits_per_frame']:.3f}   repeat-last "
            f"{final['val/repeat_baseline/bits_per_frame']:.3f}"
        )
    for head in ("main_x", "main_y", "c_x", "A", "B", "trigger"):
        if f"val/{head}_acc" in final:
            lines.append(
                f"  val {head:7s} acc {final[f'val/{head}_acc']:.4f}   repeat-last "
                f"{final[f'val/repeat_baseline/{head}_acc']:.4f}"
            )
    return "\n".join(lines)


def add_selfplay(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "selfplay",
        help="PPO self-play from a BC checkpoint in the simulator",
        description="Self-play reinforcement learning from a behavioural-cloning "
        "checkpoint: PPO with a KL penalty to it, a population with "
        "ratings, an optional league. Options: defaults, then --config, "
        "then the flags, then --set KEY=VALUE (workbench.selfplay.config).",
    )
    p.add_argument("--config", help="YAML/JSON self-play config")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any self-play option, e.g. --set ppo.kl_teacher=0.1 (repeatable)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.defer(_selfplay_flags)
    p.set_defaults(func=run_selfplay_cmd)


def _selfplay_flags(p: argparse.ArgumentParser) -> None:
    from workbench.configtree import add_flags
    from workbench.selfplay.config import SelfPlayConfig

    add_flags(p, SelfPlayConfig)


def run_selfplay_cmd(args: argparse.Namespace) -> int:
    from workbench.configtree import flag_fields
    from workbench.selfplay.config import SelfPlayConfig, selfplay_config
    from workbench.selfplay.trainer import run_selfplay

    dests = {flag.dest for _, flag, _ in flag_fields(SelfPlayConfig)}
    cfg = selfplay_config(args.config, args.overrides, **{d: v for d, v in vars(args).items() if d in dests})
    result = run_selfplay(cfg, resume=args.resume, progress=sys.stderr.isatty())
    m = result["metrics"]
    print(
        f"self-play: {result['update']} updates, {result['frames']:,} frames in "
        f"{result['seconds'] / 60:.1f} min; checkpoint {result['checkpoint']}; "
        f"KL to teacher {m.get('selfplay/kl_teacher', float('nan')):.3f}, "
        f"train win rate vs teacher {m.get('selfplay/win_rate_vs_teacher', float('nan')):.2f}"
    )
    return 0


def add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="score a checkpoint on held-out games beside repeat-last")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    p.add_argument("--replays", nargs="+", help="replay files/folders (default: the run's)")
    p.add_argument("--delays", type=_delays, default=(0,), help="comma-separated frame delays, e.g. 0,6,18")
    p.add_argument("--out", help="eval.json to write")
    p.add_argument("--export-predictions", metavar="FILE.parquet", help="per-frame predicted distributions and truths")
    p.add_argument(
        "--average-last",
        type=count(0),
        default=0,
        metavar="N",
        help="average the weights of the run's last N checkpoints",
    )
    p.add_argument(
        "--split",
        choices=("auto", "val", "all"),
        default="auto",
        help="auto: every game but the run's training games; val: its held-out games; all: every game given",
    )
    p.add_argument(
        "--ablation-delays",
        type=_delays_or_none,
        default=None,
        metavar="D,D",
        help="delays at which the model is also scored with the state, then its "
        "own inputs, held constant (default: the first delay; 'none' skips)",
    )
    _quality_flags(p)
    p.add_argument(
        "--characters",
        type=_csv_list,
        default=[],
        metavar="NAMES",
        help="score only the players on these characters, e.g. falco or fox,marth",
    )
    p.add_argument(
        "--target-return",
        type=_targets,
        metavar="R[,R...]",
        help="Decision Transformer: behaviour (attack, approach rates) on held-out "
        "games conditioned on each target return, beside the human rates",
    )
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from workbench.eval import evaluate

    for path in (args.out, args.export_predictions):
        if path:
            output_file(path, "--out" if path == args.out else "--export-predictions")
    report = evaluate(
        args.checkpoint,
        args.replays,
        args.delays,
        args.out,
        args.export_predictions,
        args.average_last,
        args.split,
        progress=sys.stderr.isatty(),
        quality_threshold=args.quality_threshold,
        exclude_flags=args.exclude_flags,
        ablation_delays=args.ablation_delays,
        characters=args.characters,
    )
    print(format_eval(report))
    if args.target_return:
        from workbench.eval.evaluate import _clean
        from workbench.eval.target_return import format_behaviour, target_return_report

        report["target_return"] = target_return_report(
            args.checkpoint, list(args.target_return), args.replays, args.split
        )
        print(format_behaviour(report["target_return"]))
        if args.out:  # eval.json gains the table
            Path(args.out).write_text(json.dumps(_clean(report), indent=1))
    for label, path in (("eval report", args.out), ("predictions", args.export_predictions)):
        if path:
            print(f"wrote {label} {path} ({human_size(Path(path).stat().st_size)})")
    return 0


def human_size(size: float) -> str:
    """1234567 -> '1.2 MB'."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _targets(text: str) -> tuple[float, ...]:
    """``--target-return -1,0,1.5`` -> (-1.0, 0.0, 1.5)."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write comma-separated numbers, e.g. -1,0,1") from None
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one target return")
    return values


def _delays(text: str) -> tuple[int, ...]:
    """``--delays 0,6,18`` -> (0, 6, 18); each a frame count >= 0."""
    try:
        delays = tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write comma-separated integers, e.g. 0,6,18") from None
    if not delays or min(delays) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give frame delays >= 0, e.g. 0,6,18")
    return delays


def _delays_or_none(text: str) -> tuple[int, ...]:
    """``--ablation-delays none`` -> (); otherwise as ``--delays``."""
    return () if text.strip().lower() == "none" else _delays(text)


def format_eval(report: dict) -> str:
    # frames per delay (a longer delay leaves fewer scoreable frames), never their sum
    per_delay = ", ".join(f"{block['frames']:,} at delay {d}" for d, block in report["delays"].items())
    lines = [
        f"{report['checkpoint']}: {len(report['games'])} games ({report['split']}), "
        f"frames scored {per_delay}; step latency {report['ms_per_frame']:.3f} ms/frame"
    ]
    for delay, block in report["delays"].items():
        line = (
            f"delay {delay}: {block['bits_per_frame']:.3f} bits/frame, repeat-last "
            f"{block['baseline_bits_per_frame']:.3f}"
        )
        for name, ablated in block.get("ablations", {}).items():
            line += f"; {name.replace('_', ' ')} {ablated['bits_per_frame']:.3f}"
        lines.append(line)
    # change frames split into onsets (a press, a stick leaving rest) and releases, each
    # beside the best constant predictor's score (a model that never presses gets 1 on
    # releases and 0 on onsets)
    lines.append(
        f"{'delay':>5s} {'head':8s} {'acc':>7s} {'repeat':>7s} {'const':>7s} {'nll':>7s} "
        f"{'repeat':>7s} {'onset':>7s} {'const':>7s} {'release':>7s} {'const':>7s}"
    )
    for delay, block in report["delays"].items():
        for name, m in block["heads"].items():
            lines.append(
                f"{delay:>5s} {name:8s} {m['acc']:7.4f} {m['baseline_acc']:7.4f} "
                f"{m['constant_acc']:7.4f} {m['nll']:7.4f} {m['baseline_nll']:7.4f} "
                f"{m['acc_onset']:7.4f} {m['constant_acc_onset']:7.4f} "
                f"{m['acc_release']:7.4f} {m['constant_acc_release']:7.4f}"
            )
    lines.append(
        "const: the most frequent class of each head; onset/release: accuracy on frames "
        "where the input changes away from rest / back to rest (repeat-last scores 0)"
    )
    return "\n".join(lines)


def add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="the main job: every notebook on a replay folder, one HTML report",
        description="Run the notebooks headless (explore, train and eval, stick "
        "confusions, attention, deployment) and publish reports/index.html.",
    )
    p.add_argument("--replays", nargs="+", help="replay files/folders (default: data/replays)")
    # defaults under the project folder, whatever the current directory
    p.add_argument("--out", help="report folder (default: the project's reports/)")
    p.add_argument("--runs", help="executed notebooks (default: the project's papermill_runs/main)")
    p.add_argument("--work", help="stores, caches and training runs (default: the project's .cache/main_job)")
    p.add_argument("--train-steps", type=count(1), default=400, help="training steps of the small model")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from workbench.report.main_job import run_main_job

    from workbench.io import default_path

    out = args.out or default_path("reports")
    output_folder(out)
    result = run_main_job(
        args.replays,
        out,
        args.runs or default_path("papermill_runs/main"),
        args.work or default_path(".cache/main_job"),
        args.train_steps,
    )
    for step in result.steps:
        line = f"  {step['status']:6s} {step['step']:16s} {step['seconds']:6.0f}s"
        print(line + (f"  {step['error']}" if step["error"] else ""))
    print(f"report: {result.index}  ({result.seconds / 60:.1f} min)")
    return 1 if result.failed else 0


def add_average(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "average",
        help="average a run's last N checkpoints into a checkpoint folder",
        description="Write DIR: the mean weights (and EMA weights) of the run's last N "
        "checkpoints, a checkpoint that eval, export and play take.",
    )
    p.add_argument("run", metavar="RUN", help="run folder (or its checkpoints folder)")
    p.add_argument("--last", type=count(1), required=True, metavar="N", help="how many checkpoints")
    p.add_argument("--out", required=True, metavar="DIR", help="checkpoint folder to write")
    p.set_defaults(func=run_average)


def run_average(args: argparse.Namespace) -> int:
    from workbench.train.checkpoint import write_average

    output_folder(args.out)
    out = write_average(args.run, args.last, args.out)
    meta = json.loads((out / "config.json").read_text())
    print(f"wrote {out}: mean of {', '.join(meta['averaged_from'])}")
    return 0


def add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a checkpoint's single-frame step to ONNX",
        description="Write MODEL.onnx (one frame of Policy.step, every state as a "
        "named input/output, batch 1, fixed shapes) and MODEL.onnx.json.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint folder or run folder")
    p.add_argument("--out", required=True, help="model.onnx to write (the sidecar goes beside it)")
    p.add_argument(
        "--quantize",
        default="none",
        choices=("none", "int8", "int8-dynamic", "int8-static", "int4"),
        help="int8: static with --calibration, else dynamic; int4: weight-only",
    )
    p.add_argument(
        "--calibration",
        nargs="+",
        metavar="REPLAYS",
        help="replay files/folders for static INT8 calibration and --warm-start",
    )
    p.add_argument("--calibration-frames", type=count(1), default=600, help="frames to calibrate on")
    p.add_argument(
        "--warm-start",
        type=count(0),
        default=0,
        metavar="N",
        help="save the mean state after N frames of the calibration games as the start state",
    )
    p.add_argument("--temperature", type=number(0, strict=True), default=1.0, help="sampling temperature baked in")
    p.add_argument(
        "--no-probs",
        action="store_true",
        help="a bot graph: the chosen controller without the per-component distributions (fewer nodes, faster frames)",
    )
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from workbench.deploy import export_checkpoint

    output_file(args.out)
    sidecar = export_checkpoint(
        args.checkpoint,
        args.out,
        quantize=args.quantize,
        calibration=args.calibration,
        temperature=args.temperature,
        warm_start_frames=args.warm_start,
        calibration_frames=args.calibration_frames,
        progress=sys.stderr.isatty(),
        probs=not args.no_probs,
    )
    states = ", ".join(f"{s['name']}{tuple(s['shape'])}" for s in sidecar.states) or "none"
    fp32 = sidecar.graph.get("fp32_nodes")
    nodes = f"{sidecar.graph['nodes']} nodes" + (f" (fp32: {fp32})" if fp32 else "")
    print(
        f"wrote {args.out} ({sidecar.quantization['mode']}, {nodes}, "
        f"backbone {sidecar.policy_config['backbone']['name']}); states: {states}"
    )
    return 0


def add_play(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "play",
        help="play Melee in Dolphin with an exported model",
        description="Start Slippi Dolphin with the ISO through libmelee, pick the "
        "character and stage, and play with the model.",
    )
    p.add_argument("--model", required=True, help="model.onnx (with its .json sidecar)")
    p.add_argument("--dolphin", required=True, help="Slippi Dolphin executable or folder")
    p.add_argument("--iso", required=True, help="Melee NTSC 1.02 ISO")
    p.add_argument("--port", type=count(1, 4), required=True, help="controller port of the bot (1-4)")
    p.add_argument("--character", required=True, help="e.g. fox, falco, marth")
    p.add_argument("--delay", type=count(0, 60), default=0, help="frames the bot's outputs are held (online delay)")
    p.add_argument("--stage", default="fd", help="stage to pick (default FD)")
    p.add_argument("--opponent-port", type=count(1, 4), help="default: the other player in the game")
    p.add_argument("--connect-code", default="", help="Slippi direct-connect code (online)")
    p.add_argument("--games", type=count(0), default=0, help="stop after N games (0: until Ctrl-C)")
    p.add_argument("--autostart", action="store_true", help="start the game from the stage screen")
    p.add_argument("--sample", action="store_true", help="sample from the policy instead of argmax")
    p.add_argument("--seed", type=int)
    p.set_defaults(func=run_play)


def run_play(args: argparse.Namespace) -> int:
    from workbench.deploy import PlayOptions, play

    options = PlayOptions(
        args.model,
        args.dolphin,
        args.iso,
        args.port,
        args.character,
        args.delay,
        args.stage,
        args.opponent_port,
        args.connect_code,
        args.games,
        args.autostart,
        args.sample,
        args.seed,
    )
    summary = play(options)
    print(f"played {summary['games']} games, {summary['frames']:,} frames; warnings {summary['warnings']}")
    return 0


def add_bench_latency(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench-latency",
        help="per-frame latency of the bot loop on one thread",
        description="Loop a replay's frames through the agent (embedding, the "
        "onnxruntime step, decoding) and report p50/p99 per frame.",
    )
    p.add_argument("--model", required=True, help="model.onnx (with its .json sidecar)")
    p.add_argument("--replay", help="replay to loop (default: a bundled game)")
    p.add_argument("--frames", type=count(1), default=10_000, help="timed frames (default 10000)")
    p.add_argument("--json", dest="json_out", metavar="OUT.json", help="write the result as JSON")
    p.add_argument("--profile", action="store_true", help="also print onnxruntime's time per op type")
    p.set_defaults(func=run_bench_latency)


def run_bench_latency(args: argparse.Namespace) -> int:
    from workbench.deploy.latency import (
        DEFAULT_REPLAY,
        bench_latency,
        format_latency,
        profile_ops,
        replay_states,
    )

    if args.json_out:
        output_file(args.json_out, "--json")
    states = replay_states(args.replay or DEFAULT_REPLAY)
    result = bench_latency(args.model, frames=args.frames, states=states)
    result["replay"] = str(args.replay or DEFAULT_REPLAY)
    if args.profile:
        result["profile"] = profile_ops(args.model, states)
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(result, handle, indent=1)
    print(format_latency(result))
    for row in result.get("profile", [])[:12]:
        print(f"  {row['op']:24s} {row['us_per_frame']:8.2f} us/frame (profiled) x{row['nodes']}")
    return 0


def add_sim(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sim", help="the Melee-like simulator: play matches, benchmark the step")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    run = tools.add_parser(
        "run",
        help="play games between two players; results.json and stored games",
        description="Players (SPEC): idle, random, heuristic, a checkpoint folder "
        "or an .onnx file. p1 plays port 1 (the first character).",
    )
    run.add_argument("--p1", required=True, metavar="SPEC")
    run.add_argument("--p2", required=True, metavar="SPEC")
    run.add_argument("--games", type=count(1), default=100)
    run.add_argument("--stage", default="fd")
    run.add_argument("--characters", type=_csv_list, default=["fox", "fox"], help="p1,p2 (default fox,fox)")
    run.add_argument("--out", required=True, metavar="DIR")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--max-frames", type=count(1), default=8 * 60 * 60, help="frames per game (default: 8 minutes)")
    run.add_argument("--parallel", type=count(1), default=64, help="games simulated at once (default 64)")
    run.add_argument("--no-store", action="store_true", help="do not write the games as Parquet")
    run.add_argument(
        "--sample",
        action="store_true",
        help="checkpoint and ONNX players sample from their policies (seeded) instead of argmax",
    )
    run.set_defaults(func=run_sim_run)
    bench = tools.add_parser("bench", help="env frames per second on one core")
    bench.add_argument("--games", type=count(1), default=4096)
    bench.add_argument("--frames", type=count(1), default=600)
    bench.add_argument("--characters", type=_csv_list, default=["fox", "fox"])
    bench.add_argument("--stage", default="fd")
    bench.add_argument("--json", dest="json_out", metavar="PATH")
    bench.set_defaults(func=run_sim_bench)


def _two_characters(values: list[str]) -> tuple[str, str]:
    if len(values) == 1:
        return values[0], values[0]
    if len(values) != 2:
        raise WorkbenchError(f"--characters {','.join(values)}: give two names, e.g. fox,marth")
    return values[0], values[1]


def run_sim_run(args: argparse.Namespace) -> int:
    from workbench.sim.run import MatchConfig, run_matches

    config = MatchConfig(
        args.p1,
        args.p2,
        args.games,
        args.stage,
        _two_characters(args.characters),
        args.seed,
        args.max_frames,
        args.parallel,
        not args.no_store,
        args.sample,
    )
    result = run_matches(config, args.out)
    lo, hi = result["p1_win_rate_ci95"]
    print(
        f"{args.p1} vs {args.p2}: {result['p1_wins']}-{result['p2_wins']} ({result['draws']} draws) "
        f"in {result['games']} games; p1 win rate {result['p1_win_rate']:.3f} [{lo:.3f}, {hi:.3f}] "
        f"-> {args.out}/results.json"
    )
    return 0


def run_sim_bench(args: argparse.Namespace) -> int:
    from workbench.sim.run import bench

    result = bench(args.games, args.frames, _two_characters(args.characters), args.stage)
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(result, handle, indent=1)
    print(
        f"{result['frames_per_s']:,.0f} env frames/s ({result['games']} games x {result['frames']} "
        f"frames, one thread; {result['frames_per_cpu_s']:,.0f} per CPU-second)"
    )
    return 0


#: every subcommand's ``add_NAME(sub)``, in the order ``workbench --help`` lists them
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_ingest,
    add_embed,
    add_train,
    add_selfplay,
    add_eval,
    add_average,
    add_report,
    add_sweep,
    add_publish,
    add_export,
    add_play,
    add_bench_latency,
    add_sim,
]


DESCRIPTION = (
    "ExPhil Workbench: Slippi replays in; trained, evaluated and deployable Melee "
    "bots out. Run `workbench COMMAND --help` for a command's options."
)


def build_parser() -> argparse.ArgumentParser:
    parser = WorkbenchParser(prog="workbench", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _one_line_warnings(command: str) -> None:
    """Print the workbench's own warnings as ``workbench CMD: warning: ...`` lines."""
    import warnings

    from workbench.errors import WorkbenchWarning

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, WorkbenchWarning):
            print(f"{command.strip()}: warning: {_one_line(message)}", file=sys.stderr, flush=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> int:
    """Run one command; see the module docstring for what reaches the user how."""
    debug = bool(os.environ.get("WORKBENCH_DEBUG"))
    argv = sys.argv[1:] if argv is None else list(argv)
    command = "workbench " + next((a for a in argv if not a.startswith("-")), "").strip()
    _one_line_warnings(command)
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra:
            raise args.parser_.unrecognized(extra)
        command = f"workbench {args.command}"
        return int(args.func(args) or 0)
    except UsageError as err:
        if debug:
            raise
        print(f"{err.prog}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except WorkbenchError as err:
        if debug:
            raise
        print(f"{command.strip()}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except OSError as err:  # a path the user gave: missing folder, permissions, disk full
        if debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"{command.strip()}: error: {where}{err.strerror or _one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command.strip()}: interrupted; work written so far is kept", file=sys.stderr)
        return 130
    except (SystemExit, GeneratorExit):
        raise
    except BaseException as err:  # a bug (or a Rust panic that escaped a guard): still one line
        if debug:
            raise
        print(
            f"{command.strip()}: internal error: {type(err).__name__}: {_one_line(err)} "
            "(rerun with WORKBENCH_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
