"""The ``workbench`` command. Each subcommand is a thin call into the library; errors a
user can cause print one line and exit 2, never a traceback."""
from __future__ import annotations

import argparse
import json
import os
import sys

from workbench.errors import WorkbenchError


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


def add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embedding tools: fit k-means stick centres, show layouts")
    tools = p.add_subparsers(dest="tool", required=True, metavar="TOOL")
    fit = tools.add_parser("fit-sticks", help="fit k-means stick centres on replay data")
    fit.add_argument("paths", nargs="+", metavar="REPLAYS", help=".slp files, folders or stores")
    fit.add_argument("--k", type=int, default=21, help="centres per stick (default 21)")
    fit.add_argument("--out", required=True, help="centres JSON to write")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--uniform-buckets", type=int, default=17,
                     help="uniform grid to compare the quantisation error with")
    fit.set_defaults(func=run_fit_sticks)
    info = tools.add_parser("info", help="print the feature layout of an embedding config")
    info.add_argument("--config", help="JSON/YAML file with an EmbedConfig (default: the default)")
    info.set_defaults(func=run_embed_info)


def run_fit_sticks(args: argparse.Namespace) -> int:
    from workbench.embed.controller import save_centers
    from workbench.embed.fit import fit_sticks

    result = fit_sticks(args.paths, k=args.k, seed=args.seed, uniform_buckets=args.uniform_buckets)
    save_centers(result, args.out)
    for stick in ("main", "c"):
        err = result["mean_error"][stick]
        print(f"{stick:4s} stick: k-means ({args.k} classes) mean error {err['kmeans']:.4f}, "
              f"uniform {err['uniform_buckets']}x{err['uniform_buckets']} "
              f"({err['uniform_classes']} classes) {err['uniform']:.4f}  (libmelee units)")
    print(f"fitted on {result['frames']:,} frames; wrote {args.out}")
    return 0


def run_embed_info(args: argparse.Namespace) -> int:
    from workbench.embed import EmbedConfig, StateLayout

    config = EmbedConfig()
    if args.config:
        config = EmbedConfig.from_dict(load_config_file(args.config))
    print(StateLayout(config).describe())
    return 0


def load_config_file(path: str) -> dict:
    """A JSON or YAML config file as a dict, with a one-line error when it is not."""
    from pathlib import Path

    import yaml

    file = Path(path)
    if not file.exists():
        raise WorkbenchError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise WorkbenchError(f"{path}: not valid YAML/JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_ingest(sub)
    add_embed(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as err:
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
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
