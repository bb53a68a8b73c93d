"""Train the reference model the main job ships (``data/models/reference``).

Run from the repository root (needs ``../shared/replays``)::

    .venv/bin/python scripts/train_reference.py [--shared ../shared/replays/games]
        [--time-budget 40m] [--out data/models/reference] [--set KEY=VALUE ...]

What it does:

1. Ingests the bundled games (``data/replays/games``) first, then the shared games, into
   one store. A shared file that holds the same game as a bundled one (same MD5, or the
   same game saved twice, which the store's dedup reports) is therefore never stored
   under the shared folder: the bundled games stay held out.
2. Trains ``workbench train``'s default recipe (GRU size below, for a CPU budget) on the
   shared games minus the bundled ones, for ``--time-budget`` of wall clock.
3. Copies the final weights and config into ``--out`` (no optimizer state; the config's
   replay, store and cache paths become repository-relative defaults, so a plain
   ``workbench eval --checkpoint data/models/reference`` scores the bundled games) with
   ``reference.json``: the command, the training and held-out games, steps, seconds,
   the machine's load, and its scores on the bundled games at delays 0 and 18 beside
   repeat-last (``workbench eval --split all``: none of them was seen in training).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "data" / "replays" / "games"
# the CPU-sized network and one model for delays 0 to 18; everything else is workbench
# train's default recipe
SIZE = ["policy.backbone.hidden_size=128", "policy.backbone.num_layers=1", "train.delay_min=0", "train.delay_max=18"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "replays" / "games"))
    parser.add_argument("--time-budget", default="40m")
    parser.add_argument("--out", default=str(ROOT / "data" / "models" / "reference"))
    parser.add_argument(
        "--work", default=str(ROOT / ".cache" / "reference"), help="store, embedding cache and run folder"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import torch

    from workbench.eval import evaluate
    from workbench.train import experiment, train
    from workbench.train.data import stored_games

    torch.set_num_threads(1)
    work = Path(args.work)
    store_path = work / "store"
    store, held_out = stored_games([str(BUNDLED)], store_path)  # bundled first
    store, shared = stored_games([args.shared], store_path)
    train_md5 = sorted(shared - held_out)
    paths = sorted(row["path"] for row in store.games() if row["md5"] in set(train_md5))
    print(f"{len(paths)} training games from {args.shared}; {len(held_out)} bundled games held out")
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    cfg = experiment(
        replays=paths,
        out=str(run),
        time_budget=args.time_budget,
        overrides=[
            f"store={store_path}",
            f"cache={work / 'embeddings'}",
            "train.eval_every=250",
            "train.checkpoint_every=250",
            *SIZE,
            *args.overrides,
        ],
    )
    load_before = os.getloadavg()
    result = train(cfg, progress=False)
    load_after = os.getloadavg()

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copy2(result.checkpoint / "model.safetensors", out / "model.safetensors")
    _portable_config(result.checkpoint / "config.json", out / "config.json")
    scores = evaluate(
        out,
        replays=[str(BUNDLED)],
        delays=(0, 18),
        split="all",
        store=str(store_path),
        cache=str(work / "embeddings"),
        ablation_delays=(0,),
    )
    command = "python scripts/train_reference.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    info = {
        "command": command.strip(),
        "made": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "recipe": "workbench train defaults with " + ", ".join(SIZE + args.overrides),
        "train_games": [Path(p).name for p in paths],
        "held_out_games": sorted(held_out),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "load_average": {"start": [round(x, 2) for x in load_before], "end": [round(x, 2) for x in load_after]},
        "bundled_eval": _headline(scores),
    }
    (out / "reference.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info["bundled_eval"], indent=1))
    return 0


def _portable_config(source: Path, target: Path) -> None:
    """The checkpoint's config with this machine's paths replaced by repository-relative
    defaults, so ``workbench eval --checkpoint data/models/reference`` on a fresh clone
    scores the bundled (held-out) games in ``.cache``; reference.json lists the games it
    trained on."""
    meta = json.loads(source.read_text())
    cfg = meta["config"]
    cfg.update(
        replays=["data/replays/games"], store=".cache/store", cache=".cache/embeddings", out="data/models/reference"
    )
    target.write_text(json.dumps(meta, indent=1))


def _headline(report: dict) -> dict:
    """Per delay: bits per frame and per-head accuracy, each beside repeat-last."""
    out = {}
    for delay, block in report["delays"].items():
        out[delay] = {
            "frames": block["frames"],
            "bits_per_frame": block["bits_per_frame"],
            "baseline_bits_per_frame": block["baseline_bits_per_frame"],
            "heads": {
                name: {k: round(m[k], 4) for k in ("acc", "baseline_acc", "nll", "baseline_nll", "acc_change")}
                for name, m in block["heads"].items()
            },
        }
        if "ablations" in block:
            out[delay]["state_removed_bits_per_frame"] = block["ablations"]["state_removed"]["bits_per_frame"]
            out[delay]["own_inputs_removed_bits_per_frame"] = block["ablations"]["own_inputs_removed"]["bits_per_frame"]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
