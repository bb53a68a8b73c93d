"""``workbench ingest``: replay files and folders into a frame store, in worker processes,
with a per-file report and a corpus summary. One bad file never stops the run."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from tqdm import tqdm

from workbench.replay.errors import (
    CorruptReplayError,
    DuplicateGameError,
    LowQualityError,
    ReplayError,
    WorkbenchError,
)
from workbench.replay.files import printable_path, read_replay_bytes
from workbench.replay.reader import read_replay
from workbench.replay.store import FrameStore, game_key
from workbench.replay.table import META_KEY, GameTable
from workbench.replay.quality import quality_flags
from workbench.replay.validate import IngestPolicy, check_policy
from workbench.types import GameMeta, stage_name

REPORT_KEYS = ("path", "md5", "status", "reason", "frames", "characters", "stage", "slippi_version", "parser")
FLUSH_SECONDS = 20.0


class MissingPathError(WorkbenchError):
    pass


def find_replays(paths: list[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """Every .slp entry under the given files and folders, sorted, without repeats.

    Entries named ``*.slp`` that are not regular files (a folder, a FIFO, a broken or
    looping link) are listed too, so the ingest report says what each one was; a folder
    named ``.slp`` is also walked. A path given that does not exist is an error."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: set[Path] = set()
    for raw in paths:
        try:
            path = Path(raw).resolve()  # the manifest's paths must not depend on the cwd
        except (RuntimeError, OSError):  # a symlink loop (RuntimeError before Python 3.13)
            path = Path(os.path.abspath(raw))
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix.lower() == ".slp")
            if path.suffix.lower() == ".slp":
                found.add(path)
        elif path.is_file() or os.path.lexists(path):
            found.add(path)  # a file, or something read_replay_bytes will name
        else:
            raise MissingPathError(f"no such file or folder: {printable_path(raw)} (give .slp files or folders)")
    return sorted(found)


@dataclass
class IngestResult:
    report: list[dict]
    rows: list[dict]
    seconds: float
    store: FrameStore
    cache_hits: int = 0
    summary: dict = field(default_factory=dict)

    @property
    def ok(self) -> list[dict]:
        return [r for r in self.report if r["status"] == "ok"]


def _row(
    path: Path, md5: str, table: GameTable | None = None, err: ReplayError | None = None, parser: str = ""
) -> dict:
    """Manifest row for a file: game facts when it was read, the reason when not."""
    row = {
        "md5": md5,
        "path": printable_path(path),
        "status": "ok",
        "reason": "",
        "detail": "",
        "parser": parser,
        "file": "",
        "has_cpu": False,
    }
    if err is not None:
        row.update(status=err.status, reason=err.reason, detail=err.detail)
    if table is not None:
        meta = table.meta
        row.update(
            frames=len(table),
            playable_frames=int((table.frames >= 0).sum()),
            num_players=len(meta.players),
            characters=[p.character_name for p in meta.players],
            character_ids=[p.character for p in meta.players],
            stage=meta.stage,
            stage_name=stage_name(meta.stage),
            slippi_version=meta.slippi_version,
            names=[p.display_name for p in meta.players],
            duration_s=round(max(0, meta.last_frame + 1) / 60.0, 2),
            mode=meta.mode,
            end_method=meta.end_method,
            winner_port=meta.winner_port,
            game_key=game_key(table),
            has_cpu=any(p.type == "cpu" for p in meta.players),
            start_at=meta.start_at,
            **quality_flags(table),
        )
    return row


def _policy_row(row: dict, meta: GameMeta, policy: IngestPolicy) -> dict:
    """Re-judge a stored game against this run's policy (a cache hit needs no parse)."""
    try:
        check_policy(meta, row["playable_frames"], policy, row["path"], quality=row)
        row.update(status="ok", reason="", detail="")
    except ReplayError as err:
        row.update(status=err.status, reason=err.reason, detail=err.detail)
    return row


_CACHE: dict[str, dict] = {}  # md5 -> manifest row
_BY_STAT: dict[tuple, str] = {}  # (path, size, mtime_ns) -> md5
_HASHER: tuple[int, ThreadPoolExecutor] | None = None  # (owner pid, executor)


def _hasher() -> ThreadPoolExecutor:
    """This process's hashing thread. A forked worker inherits the parent's executor
    object but not its thread, so each process makes its own."""
    global _HASHER
    if _HASHER is None or _HASHER[0] != os.getpid():
        _HASHER = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="md5"))
    return _HASHER[1]


def _init_worker(cache: dict[str, dict]) -> None:
    global _CACHE, _BY_STAT
    _CACHE = cache
    _BY_STAT = {(r["path"], r.get("size"), r.get("mtime_ns")): md5 for md5, r in cache.items()}


def _cached_row(md5: str, path: Path, store: FrameStore, policy: IngestPolicy) -> dict | None:
    """The manifest row of an already-ingested file, re-judged by this run's policy."""
    cached = _CACHE.get(md5)
    if cached is None:
        return None
    if cached.get("file") and store.has_game(md5):
        info = pq.read_schema(store.game_path(md5)).metadata[META_KEY]
        meta = GameMeta.from_dict(json.loads(info)["meta"])
        row = dict(cached, path=printable_path(path))
        if row.get("quality") is None:  # stored before quality scores: score it once
            row.update(quality_flags(store.load(md5)))
        return dict(_policy_row(row, meta, policy), cache_hit=True)
    if cached["status"] == "error":
        return dict(cached, path=printable_path(path), cache_hit=True)
    return None


def ingest_file(path: Path, root: str, policy: IngestPolicy, parser: str = "auto", write=None) -> dict:
    """Read one file into the store and return its manifest row (runs in a worker).

    A file whose path, size and modification time match a manifest row is a cache hit
    without reading it. Otherwise its MD5 is computed in a thread while it is parsed
    (hashlib releases the GIL). ``write(store, md5, table)`` stores the table; by default
    synchronously, while the single-process ingest hands it to a writer thread.
    """
    store = FrameStore(root)
    try:
        stat = os.stat(path)
    except OSError:  # a symlink loop, a broken link: read_replay_bytes says which
        stat = None
    if stat is not None:
        md5 = _BY_STAT.get((printable_path(path), stat.st_size, stat.st_mtime_ns))
        if md5 is not None and (row := _cached_row(md5, path, store, policy)) is not None:
            return row
    try:
        data = read_replay_bytes(path, policy.max_bytes)
    except ReplayError as error:  # not read at all: keyed by its path, not its content
        key = hashlib.md5(os.fsencode(path)).hexdigest()
        return _row(path, f"unread:{key}", err=error)
    md5_future = _hasher().submit(lambda: hashlib.md5(data).hexdigest())
    try:
        table, err = read_replay(path, parser=parser, data=data), None
    except ReplayError as error:
        table, err = None, error
    except Exception as error:  # a bug in a check must not take the run down
        table, err = None, CorruptReplayError(path, f"internal error: {type(error).__name__}: {error}")
    md5 = md5_future.result()
    if (row := _cached_row(md5, path, store, policy)) is not None:  # a renamed copy
        return row
    row = _row(path, md5, table, err=err, parser=table.parser if table else "")
    if stat is not None:
        row.update(size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    if table is None:
        return row
    (write or _write_now)(store, md5, table)
    row["file"] = f"games/{md5}.parquet"
    try:
        check_policy(table.meta, row["playable_frames"], policy, str(path), quality=row)
    except ReplayError as error:
        row.update(status=error.status, reason=error.reason, detail=error.detail)
    return row


def _write_now(store: FrameStore, md5: str, table: GameTable) -> None:
    store.write_game(md5, table)


def _dedup(existing: list[dict], new_rows: list[dict]) -> list[dict]:
    """Mark later copies of a game already in the store (or earlier in this batch)."""
    new_md5 = {r["md5"] for r in new_rows}
    owner = {
        r["game_key"]: r["md5"]
        for r in existing
        if r["status"] == "ok" and r.get("game_key") and r["md5"] not in new_md5
    }
    for row in new_rows:
        if row["status"] == "ok" or row["reason"] == DuplicateGameError.reason:
            key = row.get("game_key")
            if key in owner and owner[key] != row["md5"]:
                row.update(
                    status="skipped",
                    reason=DuplicateGameError.reason,
                    detail=f"same game as {owner[key]}",
                    duplicate_of=owner[key],
                )
            elif row["status"] == "ok" or row["reason"] == DuplicateGameError.reason:
                row.update(status="ok", reason="", detail="", duplicate_of="")
                owner.setdefault(key, row["md5"])
    return new_rows


def ingest(
    paths: list[str | os.PathLike],
    out: str | os.PathLike,
    workers: int = 1,
    policy: IngestPolicy | None = None,
    parser: str = "auto",
    progress: bool = True,
    force: bool = False,
    ray_address: str | None = None,
) -> IngestResult:
    """Ingest replays into the store at ``out``; see the module docstring.

    ``ray_address``: read the files in tasks on that Ray cluster ("local" starts one
    here) instead of local processes. Every task writes its games straight into the
    store (``out`` must be a filesystem every node sees, as the replay paths must be);
    the rows come back to this process, which alone writes the manifest and the
    report, with the same dedup, so the store equals a local ingest's.
    """
    policy = policy or IngestPolicy()
    files = find_replays(paths)
    store = FrameStore(out)
    store.root.mkdir(parents=True, exist_ok=True)
    cache = {} if force else {r["md5"]: r for r in store.manifest()}
    start = time.perf_counter()
    rows: list[dict] = []
    pending: list[dict] = []
    last_flush = time.perf_counter()

    def flush() -> None:
        nonlocal pending, last_flush
        if pending:
            pending.sort(key=lambda r: r["path"])
            store.merge_manifest(pending, transform=_dedup)
            pending = []
        last_flush = time.perf_counter()

    bar = tqdm(total=len(files), unit="file", desc="ingest", disable=not progress, dynamic_ncols=True)
    rows_in = (
        _run_ray(files, str(store.root), policy, parser, cache, ray_address)
        if ray_address
        else _run(files, str(store.root), policy, parser, workers, cache)
    )
    for row in rows_in:
        rows.append(row)
        pending.append(row)
        bar.update(1)
        bar.set_postfix_str(f"{row['status']} {Path(row['path']).name[:30]}")
        if time.perf_counter() - last_flush > FLUSH_SECONDS:
            flush()
    bar.close()
    flush()
    # dedup may have re-labelled rows inside the lock: report what the manifest says
    final = {r["md5"]: r for r in store.manifest()}
    rows.sort(key=lambda r: r["path"])
    report = [_report_entry(row, final.get(row["md5"], row)) for row in rows]
    store.write_report(report)
    result = IngestResult(
        report, rows, time.perf_counter() - start, store, cache_hits=sum(bool(r.get("cache_hit")) for r in rows)
    )
    result.summary = summarize(report, final)
    return result


def _run(files, root, policy, parser, workers, cache):
    if workers <= 1:
        _init_worker(cache)
        # Parquet encoding releases the GIL: a writer thread overlaps it with parsing.
        # A row is yielded (and can reach the manifest) only once its game is written.
        with ThreadPoolExecutor(1) as writer:
            in_flight: list[tuple[dict, object]] = []
            for path in files:
                futures = []
                try:
                    row = ingest_file(
                        path,
                        root,
                        policy,
                        parser,
                        write=lambda store, md5, table: futures.append(writer.submit(store.write_game, md5, table)),
                    )
                except Exception as err:  # a bug: this file fails, the run goes on
                    row, futures = _crash_row(path, err), []
                in_flight.append((row, futures[0] if futures else None))
                while len(in_flight) > 2 or (in_flight and in_flight[0][1] is None):
                    done, future = in_flight.pop(0)
                    if future is not None:
                        future.result()
                    yield done
            for done, future in in_flight:
                if future is not None:
                    future.result()
                yield done
        return
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(cache,)) as pool:
        futures = {pool.submit(ingest_file, path, root, policy, parser): path for path in files}
        for future in as_completed(futures):
            try:
                yield future.result()
            except Exception as err:  # a worker crash must not stop the run
                yield _crash_row(futures[future], err)


RAY_BATCH_FILES = 16  # files per Ray task: a task costs milliseconds, a file ~50 ms


def _ingest_batch(paths: list[str], root: str, policy: IngestPolicy, parser: str, cache: dict[str, dict]) -> list[dict]:
    """One Ray task: ingest ``paths`` (writing their games into the store at ``root``)
    and return their manifest rows."""
    if _CACHE is not cache:
        _init_worker(cache)
    rows = []
    for path in map(Path, paths):
        try:
            rows.append(ingest_file(path, root, policy, parser))
        except Exception as err:  # a bug: this file fails, the batch goes on
            rows.append(_crash_row(path, err))
    return rows


def _run_ray(files, root, policy, parser, cache, address: str):
    """Rows of every file, read in Ray tasks of :data:`RAY_BATCH_FILES` files each."""
    try:
        import ray
    except ImportError:
        raise WorkbenchError("--ray needs Ray: pip install -e '.[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, ignore_reinit_error=True, log_to_driver=False)
    remote = ray.remote(num_cpus=1, max_retries=2)(_ingest_batch)
    cache_ref = ray.put(cache)
    batches = [[str(p) for p in files[k : k + RAY_BATCH_FILES]] for k in range(0, len(files), RAY_BATCH_FILES)]
    pending = {remote.remote(batch, root, policy, parser, cache_ref): batch for batch in batches}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        batch = pending.pop(done[0])
        try:
            rows = ray.get(done[0])
        except Exception as err:  # a task that died (its node lost): its files say so
            rows = [_crash_row(Path(path), err) for path in batch]
        yield from rows


def _crash_row(path: Path, err: BaseException) -> dict:
    return {
        "md5": _safe_md5(path),
        "path": printable_path(path),
        "status": "error",
        "reason": "worker crashed",
        "detail": f"{type(err).__name__}: {err}",
        "parser": "",
        "file": "",
        "has_cpu": False,
    }


def _safe_md5(path: Path) -> str:
    """The md5 of a file a worker crashed on, without blocking on a FIFO."""
    try:
        return hashlib.md5(read_replay_bytes(path)).hexdigest()
    except ReplayError:
        return f"unread:{hashlib.md5(os.fsencode(path)).hexdigest()}"


def _report_entry(row: dict, final: dict) -> dict:
    entry = {key: final.get(key, row.get(key)) for key in REPORT_KEYS}
    entry["path"] = row["path"]
    entry["stage"] = final.get("stage_name") or None
    entry["detail"] = final.get("detail") or ""
    if final.get("duplicate_of"):
        entry["duplicate_of"] = final["duplicate_of"]
    return entry


def summarize(report: list[dict], manifest: dict[str, dict]) -> dict:
    """Counts by status and reason, frames, and character/stage/version distributions."""
    by_status = Counter(e["status"] for e in report)
    reasons = Counter(f"{e['status']}: {e['reason']}" for e in report if e["status"] != "ok")
    ok = [manifest.get(e["md5"], e) for e in report if e["status"] == "ok"]
    characters = Counter(c for r in ok for c in (r.get("characters") or []))
    stages = Counter(r.get("stage_name") for r in ok)
    versions = Counter(r.get("slippi_version") for r in ok)
    flags = Counter(f for r in ok for f in (r.get("quality_flags") or []))
    low = [manifest.get(e["md5"], e) for e in report if e["reason"] == LowQualityError.reason]
    low_flags = Counter(f for r in low for f in (r.get("quality_flags") or ["none"]))
    scores = [r["quality"] for r in ok if r.get("quality") is not None]
    return {
        "files": len(report),
        "ok": by_status["ok"],
        "skipped": by_status["skipped"],
        "error": by_status["error"],
        "reasons": dict(reasons.most_common()),
        "frames": int(sum(r.get("frames") or 0 for r in ok)),
        "characters": dict(characters.most_common()),
        "stages": dict(stages.most_common()),
        "versions": dict(versions.most_common()),
        "quality_flags": dict(flags.most_common()),
        "low_quality": len(low),
        "low_quality_flags": dict(low_flags.most_common()),
        "quality_mean": round(sum(scores) / len(scores), 4) if scores else None,
        "parsers": dict(Counter(r.get("parser") for r in ok)),
    }


def format_summary(result: IngestResult) -> str:
    s = result.summary
    lines = [
        f"{s['files']} files in {result.seconds:.1f}s ({result.cache_hits} cache hits): "
        f"{s['ok']} ok, {s['skipped']} skipped, {s['error']} errors",
        f"frames in ok games: {s['frames']:,} ({s['frames'] / 3600:.1f} min of play)",
    ]
    if s.get("quality_mean") is not None:
        lines.append(
            f"quality score of kept games: mean {s['quality_mean']:.2f} ({s['low_quality']} left out as low quality)"
        )
    for title, key in (
        ("skipped/errors", "reasons"),
        ("characters", "characters"),
        ("stages", "stages"),
        ("slippi versions", "versions"),
        ("quality flags (kept games)", "quality_flags"),
        (f"left out as low quality ({s['low_quality']} games), by flag", "low_quality_flags"),
        ("parsers", "parsers"),
    ):
        if s[key]:
            lines.append(f"{title}:")
            lines += [f"  {count:5d}  {name}" for name, count in s[key].items()]
    lines.append(f"store: {result.store.root}  (report: {result.store.root / 'ingest_report.json'})")
    return "\n".join(lines)
