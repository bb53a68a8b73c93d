"""Ingest throughput on a replay corpus, all measured in one run, as ratios to peppi-py.

    python benchmarks/ingest.py [--replays ../shared/replays/games] [--repeats 5]

(a) peppi-py's parse (``peppi_py.read_slippi``), (b) py-slippi's parse with every frame's
pre/post data decoded, (c) ``workbench ingest`` end to end into a fresh store in one
process (hash, parse, validate, quality flags, Parquet write, manifest), (d) loading the
whole store back into numpy arrays (one thread per core; ``d1``: one thread). Frames are the finalized frames of the files each
step read. Each step is timed ``--repeats`` times, (a) and (c) taking turns, and the
fastest run is kept (the machine is shared; the minimum is the least disturbed
measurement, and taking turns puts a slow stretch on both sides of a ratio).

Also: (c) with ``--workers 2`` (scaling; near-linear needs two free cores) and how many
cores each keeps busy (CPU seconds of the process and its workers over wall seconds: one
worker already overlaps hashing and Parquet writing with parsing in threads, so on a
machine of C cores two workers can gain at most C / (cores one worker keeps busy)), and the
Parquet codec measured on the games themselves (encode and decode CPU time per game and
the bytes on disk for each candidate; the store's ``COMPRESSION``/``COMPRESSION_LEVEL``
is the one chosen from this table).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from pathlib import Path

from common import DEFAULT_REPLAYS, RESULTS, best_of, interleaved_best, machine, write_json


def bench_peppi(files: list[Path]) -> int:
    import peppi_py

    frames = 0
    for path in files:
        try:
            game = peppi_py.read_slippi(str(path))
        except Exception:  # the corpus has files only py-slippi reads
            continue
        frames += len(set(game.frames.id.to_numpy().tolist())) if game.frames else 0
    return frames


def bench_pyslippi(files: list[Path]) -> int:
    import slippi

    logging.disable(logging.WARNING)
    frames = 0
    for path in files:
        try:
            game = slippi.Game(str(path))
        except Exception:
            continue
        for frame in game.frames:
            for port in frame.ports:
                if port is not None:
                    port.leader.pre, port.leader.post  # noqa: B018 - forces the decode
        frames += len(game.frames)
    return frames


CODECS = (("none", None), ("snappy", None), ("lz4", None), ("zstd", -1), ("zstd", 1), ("zstd", 3))


def bench_codecs(files: list[Path], limit: int = 12) -> dict:
    """Per codec: encode and decode CPU seconds (thread time, robust to a busy machine)
    summed over up to ``limit`` games, and their bytes on disk."""
    import io
    import time

    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.replay import read_replay
    from workbench.replay.store import to_arrow

    tables = []
    for path in files:
        try:
            tables.append(to_arrow(read_replay(path)))
        except Exception:
            continue
        if len(tables) >= limit:
            break
    out = {}
    for codec, level in CODECS:
        encode = decode = 0.0
        size = 0
        for arrow in tables:
            buffer = io.BytesIO()
            start = time.thread_time()
            pq.write_table(
                arrow, buffer, compression=codec, compression_level=level, write_statistics=False, use_dictionary=False
            )
            encode += time.thread_time() - start
            data = buffer.getvalue()
            start = time.thread_time()
            pq.read_table(pa.BufferReader(data))
            decode += time.thread_time() - start
            size += len(data)
        out[f"{codec}{'' if level is None else level}"] = {
            "encode_s": encode,
            "decode_s": decode,
            "bytes": size,
            "games": len(tables),
        }
    return out


def bench_ingest(files: list[Path], root: Path, workers: int = 1) -> tuple[int, object]:
    from workbench.replay import IngestPolicy, ingest

    shutil.rmtree(root, ignore_errors=True)
    result = ingest(
        files,
        root,
        workers=workers,
        progress=False,
        force=True,
        policy=IngestPolicy(min_frames=0, cpu="any", max_players=4),
    )
    frames = sum(r.get("frames") or 0 for r in result.rows if r.get("file"))
    return frames, result


def cores_busy(fn) -> float:
    """CPU seconds (this process and its finished worker processes) over wall seconds of
    one call of ``fn``."""
    import resource
    import time

    def cpu() -> float:
        own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime

    start, used = time.perf_counter(), cpu()
    fn()
    return (cpu() - used) / (time.perf_counter() - start)


def bench_load(root: Path, threads: int) -> int:
    from workbench.replay import FrameStore

    store = FrameStore(root)
    md5s = [row["md5"] for row in store.games(status=None)]
    tables = store.load_many(md5s, threads=threads)  # every column as numpy
    return sum(len(table.frames) for table in tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replays", default=str(DEFAULT_REPLAYS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "ingest.json"))
    parser.add_argument("--skip-pyslippi", action="store_true", help="(b) takes ~30x longer")
    args = parser.parse_args()

    from workbench.replay import find_replays

    files = find_replays([args.replays])
    store_root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    rows = {}
    # (a), (c) and (c2) take turns, so the host's slow stretches fall on all three alike
    timed = interleaved_best(
        {
            "a_peppi_parse": lambda: bench_peppi(files),
            "c_workbench_ingest": lambda: bench_ingest(files, store_root),
            "c2_ingest_2_workers": lambda: bench_ingest(files, store_root, workers=2),
        },
        args.repeats,
    )
    rows["a_peppi_parse"] = timed["a_peppi_parse"]
    if not args.skip_pyslippi:
        t, frames = best_of(lambda: bench_pyslippi(files), 1)
        rows["b_pyslippi_parse"] = (t, frames)
    t, (frames, result) = timed["c_workbench_ingest"]
    rows["c_workbench_ingest"] = (t, frames)
    t, (frames, _) = timed["c2_ingest_2_workers"]
    rows["c2_ingest_2_workers"] = (t, frames)
    busy = {workers: cores_busy(lambda: bench_ingest(files, store_root, workers)) for workers in (1, 2)}
    # Same measurement restricted to the files ingest reads with peppi-py (the rest go
    # through py-slippi at ~1/80 of peppi's speed): the overhead of the workbench itself.
    peppi_files = [Path(r["path"]) for r in result.rows if r.get("parser") == "peppi"]
    same = interleaved_best(
        {"a": lambda: bench_peppi(peppi_files), "c": lambda: bench_ingest(peppi_files, store_root)}, args.repeats
    )
    rows["a_peppi_parse_same_files"] = same["a"]
    t, (frames, _) = same["c"]
    rows["c_ingest_peppi_files"] = (t, frames)
    bench_ingest(files, store_root)  # (d) loads the whole corpus
    threads = os.cpu_count() or 1
    t, frames = best_of(lambda: bench_load(store_root, threads), args.repeats)
    rows["d_store_load_numpy"] = (t, frames)
    t, frames = best_of(lambda: bench_load(store_root, 1), args.repeats)
    rows["d1_store_load_1thread"] = (t, frames)
    shutil.rmtree(store_root, ignore_errors=True)

    rate = {k: f / t for k, (t, f) in rows.items()}
    base = rate["a_peppi_parse"]
    print(f"{len(files)} files from {args.replays}  (best of {args.repeats})")
    print(f"{'step':24s} {'seconds':>9s} {'frames':>9s} {'frames/s':>12s} {'vs (a)':>8s}")
    for key, (t, frames) in rows.items():
        print(f"{key:24s} {t:9.3f} {frames:9d} {rate[key]:12,.0f} {rate[key] / base:8.2f}")
    ratios = {
        "c_over_a": rate["c_workbench_ingest"] / base,
        "c2_over_c": rate["c2_ingest_2_workers"] / rate["c_workbench_ingest"],
        "c_over_a_peppi_files": rate["c_ingest_peppi_files"] / rate["a_peppi_parse_same_files"],
        "d_over_a": rate["d_store_load_numpy"] / base,
        "d1_over_a": rate["d1_store_load_1thread"] / base,
    }
    print(
        f"(c)/(a) = {ratios['c_over_a']:.2f} all files, {ratios['c_over_a_peppi_files']:.2f} "
        f"on the {len(peppi_files)} files read by peppi-py  (target >= 0.5)"
    )
    print(f"(d)/(a) = {ratios['d_over_a']:.2f}, one thread {ratios['d1_over_a']:.2f}  (target >= 2)")
    cores = os.cpu_count() or 1
    bound = min(2.0, cores / busy[1])
    print(
        f"--workers 2 / --workers 1 = {ratios['c2_over_c']:.2f}  (one worker keeps {busy[1]:.2f} cores busy, "
        f"two keep {busy[2]:.2f}; on {cores} cores two workers can gain at most {bound:.2f}x: "
        f"{ratios['c2_over_c'] / bound:.0%} of that)"
    )
    codecs = bench_codecs(files)
    from workbench.replay.store import COMPRESSION, COMPRESSION_LEVEL

    chosen = f"{COMPRESSION}{COMPRESSION_LEVEL if COMPRESSION == 'zstd' else ''}"
    print(
        f"\nParquet codec on {next(iter(codecs.values()))['games']} games (CPU s encode / decode, MB; "
        f"store uses {chosen})"
    )
    for name, c in codecs.items():
        print(
            f"{name:8s} {c['encode_s']:7.3f} {c['decode_s']:7.3f} {c['bytes'] / 2**20:8.1f}"
            f"{'  <- store' if name == chosen else ''}"
        )
    print(f"load average {os.getloadavg()[0]:.1f}")
    out = {
        "files": len(files),
        "replays": args.replays,
        "repeats": args.repeats,
        "machine": machine(),
        "steps": {k: {"seconds": t, "frames": f, "frames_per_s": rate[k]} for k, (t, f) in rows.items()},
        "ratios": ratios,
        "cores_busy": {"1_worker": busy[1], "2_workers": busy[2], "cpu_count": os.cpu_count()},
        "codecs": codecs,
        "loadavg_end": list(os.getloadavg()),
        "ingest_summary": result.summary,
    }
    write_json(args.out, out)


if __name__ == "__main__":
    main()
