"""The ``workbench`` command. Each subcommand is a thin call into the library; errors a
user can cause print one line and exit 2, never a traceback."""
from __future__ import annotations

import argparse
import json
import sys

from workbench.replay.errors import WorkbenchError


def _csv_list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="parse replays into a frame store",
                       description="Walk .slp files and folders, parse them (peppi-py, "
                                   "py-slippi fallback) and write a Parquet frame store.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".slp files or folders")
    p.add_argument("--out", required=True, help="store folder (created if missing)")
    p.add_argument("--workers", type=int, default=1, help="parser processes (default 1)")
    p.add_argument("--characters", type=_csv_list, default=[], nargs="?", const=[],
                   help="keep games with any of these characters, e.g. fox,marth")
    p.add_argument("--stages", type=_csv_list, default=[], help="keep games on these stages, e.g. fd,bf")
    p.add_argument("--min-frames", type=int, default=300, help="shortest game kept (default 300)")
    p.add_argument("--allow-multiplayer", action="store_true", help="keep 3-4 player games and doubles")
    p.add_argument("--cpu", choices=("human", "none", "any"), default="human",
                   help="games with CPUs: keep when a human plays (default), none, or any")
    p.add_argument("--parser", choices=("auto", "peppi", "py-slippi"), default="auto")
    p.add_argument("--force", action="store_true", help="re-parse files already in the store")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from workbench.replay import IngestPolicy, format_summary, ingest
    from workbench.types import character_id, stage_id

    try:
        policy = IngestPolicy(
            min_frames=args.min_frames, max_players=4 if args.allow_multiplayer else 2,
            cpu=args.cpu, characters=[character_id(c) for c in args.characters],
            stages=[stage_id(s) for s in args.stages])
    except ValueError as err:
        raise WorkbenchError(str(err)) from None
    result = ingest(args.paths, args.out, workers=args.workers, policy=policy,
                    parser=args.parser, progress=sys.stderr.isatty(), force=args.force)
    print(json.dumps(result.summary, indent=1) if args.json else format_summary(result))
    # non-zero only when nothing at all could be read
    readable = result.summary["ok"] + sum(
        1 for e in result.report if e["status"] == "skipped")
    return 0 if readable or not result.report else 1


def add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a notebook over a parameter grid and publish a report",
                       description="Run NOTEBOOK once per arm of a grid file with papermill "
                                   "(local process pool or a Ray cluster), skip arms finished "
                                   "before, aggregate their metrics and publish an HTML report. "
                                   "Grid format: see workbench.report.sweep.")
    p.add_argument("notebook", metavar="NOTEBOOK", help="the .ipynb to run")
    p.add_argument("--grid", required=True, help="grid YAML: parameters, grid, arms, resources")
    p.add_argument("--out", required=True, help="run folder, e.g. papermill_runs/NAME")
    p.add_argument("--workers", type=int, default=1, help="arms run at once locally (default 1)")
    p.add_argument("--retries", type=int, default=0, help="extra attempts of a failing arm")
    p.add_argument("--ray", metavar="ADDRESS", help="submit arms to this Ray cluster ('auto' for "
                                                    "the local one) instead of a process pool")
    p.add_argument("--cpus", type=float, help="CPUs one arm asks of Ray (overrides the grid)")
    p.add_argument("--gpus", type=float, help="GPUs one arm asks of Ray (overrides the grid)")
    p.add_argument("--cwd", help="working directory of the notebooks (default: their folder)")
    p.add_argument("--timeout", type=float, help="seconds one cell may run (default: no limit)")
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
    done = []

    def report(result) -> None:
        done.append(result)
        print(format_results([result]), flush=True)

    results = sweep(args.notebook, grid, args.out, workers=args.workers, retries=args.retries,
                    ray_address=args.ray, cwd=args.cwd, timeout_s=args.timeout,
                    kernel_name=args.kernel, num_cpus=args.cpus, num_gpus=args.gpus,
                    on_result=report)
    failed = sum(r.status == "failed" for r in results)
    print(f"{len(results)} arms: {len(results) - failed} ok, {failed} failed "
          f"({sum(r.status == 'skipped' for r in results)} finished before)")
    if args.no_report:
        csv, _ = write_results(collect_results(args.out, [r.arm for r in results]), args.out)
        print(f"results: {csv}")
    else:
        index = publish_sweep(args.out, args.report or Path("reports") / Path(args.out).name,
                              seed_parameter=args.seed_param)
        print(f"results: {Path(args.out) / 'results.csv'}\nreport: {index}")
    return 1 if failed else 0


def add_publish(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("publish", help="render executed notebooks to a standalone HTML report",
                       description="Render executed notebooks without their code (charts "
                                   "inlined, no network needed) and an index page linking them.")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="executed .ipynb files")
    p.add_argument("--out", required=True, help="report folder, e.g. reports/NAME")
    p.add_argument("--title", default="Reports", help="title of the index page")
    p.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workbench.report import ReportEntry, build_index, publish_notebook

    entries = []
    for notebook in map(Path, args.notebooks):
        publish_notebook(notebook, Path(args.out) / f"{notebook.stem}.html")
        entries.append(ReportEntry(notebook.stem, f"{notebook.stem}.html", str(notebook)))
    print(f"report: {build_index(args.title, entries, Path(args.out) / 'index.html')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_ingest(sub)
    add_sweep(sub)
    add_publish(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as err:
        print(f"workbench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"workbench {args.command}: interrupted; work written so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
