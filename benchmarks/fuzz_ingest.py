"""Fuzzed replays through the real ingest path: outcomes by mutation kind and reason.

    python benchmarks/fuzz_ingest.py [--count 3000] [--seed 1] [--sources clips|games|both]

Writes seeded mutants (``tests/fuzz/mutants.py``) of three bundled clips and/or three
full bundled games, runs ``workbench ingest`` over them in one process, and prints a
table of outcomes: every file must end with a status and a reason. The baseline beside
each count is the unmutated sources (all ok). Also reports how many mutants made
peppi-py panic (a Rust ``PanicException`` caught by the reader) and how many of those
py-slippi read instead.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import RESULTS, ROOT, machine, write_json

sys.path.insert(0, str(ROOT / "tests"))
from fuzz.mutants import mutants  # noqa: E402

CLIPS = ["clips/Walnut356-ics.slp", "clips/PMcca-ranked_game1_tiebreak.slp", "clips/peppi-v3.16.slp"]
GAMES = ["games/Walnut356-falcon_throws.slp", "games/PMcca-realtimeTest.slp", "games/peppi-transform.slp"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sources", choices=("clips", "games", "both"), default="both")
    parser.add_argument("--out", default=str(RESULTS / "fuzz_ingest.json"))
    args = parser.parse_args()

    from workbench.replay import ingest

    names = {"clips": CLIPS, "games": GAMES, "both": CLIPS + GAMES}[args.sources]
    data = ROOT / "data" / "replays"
    sources = {Path(n).stem: (data / n).read_bytes() for n in names}
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    folder = work / "mutants"
    folder.mkdir()
    for name, blob in mutants(sources, args.count, args.seed):
        (folder / f"{name}.slp").write_bytes(blob)
    started = time.perf_counter()
    result = ingest([folder], work / "store", progress=sys.stderr.isatty(), force=True, policy=_policy())
    seconds = time.perf_counter() - started
    outcome = Counter(f"{r['status']}: {r['reason'] or 'read'}" for r in result.report)
    by_kind = Counter((Path(r["path"]).name.split("-")[1], r["status"]) for r in result.report)
    # the baseline: what peppi-py alone does with each mutant
    alone = {Path(r["path"]).name: _peppi_alone(r["path"]) for r in result.report}
    crossed = Counter((alone[Path(r["path"]).name], r["status"]) for r in result.report)
    print(
        f"{args.count} mutants of {len(sources)} sources ({args.sources}), seed {args.seed}: "
        f"{seconds:.1f}s, {args.count / seconds:.0f} files/s"
    )
    print(f"{'peppi-py alone':16s} {'files':>6s}   -> workbench ok / skipped / error")
    for verdict in ("ok", "error", "panic"):
        total = sum(n for (v, _), n in crossed.items() if v == verdict)
        print(
            f"{verdict:16s} {total:6d}   -> {crossed[verdict, 'ok']} / "
            f"{crossed[verdict, 'skipped']} / {crossed[verdict, 'error']}"
        )
    print(f"{'outcome':44s} {'files':>6s}")
    for key, count in outcome.most_common():
        print(f"{key:44s} {count:6d}")
    print(f"{'kind':16s} {'ok':>5s} {'skipped':>8s} {'error':>6s}")
    for kind in sorted({k for k, _ in by_kind}):
        print(f"{kind:16s} {by_kind[kind, 'ok']:5d} {by_kind[kind, 'skipped']:8d} {by_kind[kind, 'error']:6d}")
    write_json(
        args.out,
        {
            "count": args.count,
            "seed": args.seed,
            "sources": names,
            "seconds": seconds,
            "outcomes": dict(outcome),
            "by_kind": {f"{k}:{s}": n for (k, s), n in by_kind.items()},
            "peppi_alone_to_workbench": {f"{v}->{s}": n for (v, s), n in crossed.items()},
            "machine": machine(),
        },
    )
    shutil.rmtree(work, ignore_errors=True)


def _peppi_alone(path: str) -> str:
    """'ok', 'error' (a Python exception) or 'panic' (pyo3's PanicException, a
    BaseException that ``except Exception`` misses) for peppi-py on ``path``."""
    from peppi_py import _peppi

    from workbench.replay.reader import _quiet_stderr

    try:
        with _quiet_stderr():
            _peppi.read_slippi(path, False)
        return "ok"
    except Exception:
        return "error"
    except BaseException as err:
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        return "panic"


def _policy():
    from workbench.replay import IngestPolicy

    return IngestPolicy(min_frames=0, cpu="any", max_players=4)


if __name__ == "__main__":
    main()
