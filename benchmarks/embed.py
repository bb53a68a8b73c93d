"""Embedding and loader throughput on a replay corpus, measured in one run.

    python benchmarks/embed.py [--replays ../shared/replays/games] [--batches 20]

Rows: the store's raw load rate (Parquet -> numpy, one thread); embedding frames/s on
one core (state features + controller targets, every human perspective); the loader's
(256, 64) batches/s next to a GRU (hidden 256) training on the same batches on this CPU;
k-means versus uniform stick quantisation error.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch

from common import DEFAULT_REPLAYS, RESULTS, best_of, machine, write_json


def gru_trainer(input_dim: int, id_vocab: list[int], heads: list[int], hidden: int = 256):
    """A GRU policy-shaped model: id embeddings, 2-layer GRU, one linear per head."""
    torch.manual_seed(0)
    emb = torch.nn.ModuleList(torch.nn.Embedding(v, 16) for v in id_vocab)
    gru = torch.nn.GRU(input_dim + 16 * len(id_vocab), hidden, num_layers=2, batch_first=True)
    out = torch.nn.Linear(hidden, sum(heads))
    params = [*emb.parameters(), *gru.parameters(), *out.parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3)

    def step(batch: dict) -> float:
        x = torch.cat(
            [batch["floats"], batch["controller"]] + [e(batch["ids"][..., i].long()) for i, e in enumerate(emb)], -1
        )
        h, _ = gru(x)  # (B, T, H)
        logits = out(h).split(heads, dim=-1)
        loss = sum(
            torch.nn.functional.cross_entropy(l.reshape(-1, l.shape[-1]), batch["targets"][..., i].reshape(-1).long())
            for i, l in enumerate(logits)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replays", default=str(DEFAULT_REPLAYS))
    parser.add_argument("--batches", type=int, default=20, help="batches timed for loader and GRU")
    parser.add_argument("--out", default=str(RESULTS / "embed.json"))
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)

    from workbench.data import WindowBatches, WindowSpec, build_cache, make_loader
    from workbench.embed import ControllerSpec, EmbedConfig, StateLayout, embed_game
    from workbench.embed.fit import fit_sticks
    from workbench.replay import FrameStore, IngestPolicy, ingest

    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    ingest([args.replays], work / "store", progress=False, policy=IngestPolicy(min_frames=0))
    store = FrameStore(work / "store")
    md5s = [r["md5"] for r in store.games()]
    load_s, tables = best_of(lambda: store.load_many(md5s, threads=1), repeats=3)
    raw_frames = sum(len(t) for t in tables)

    cfg = EmbedConfig()
    layout, spec = StateLayout(cfg), ControllerSpec(cfg.controller)
    perspectives = [(t, i) for t in tables for i, p in enumerate(t.meta.players) if p.type != "cpu"]

    def embed_all() -> int:
        return sum(len(embed_game(t, cfg, i, layout, spec)) for t, i in perspectives)

    embed_s, embed_frames = best_of(embed_all, repeats=3)

    cache = build_cache(store, work / "cache", cfg)
    ds = WindowBatches(cache, cache.segments, WindowSpec(length=64), batch_size=256, seed=0)
    n = min(args.batches, len(ds))
    loader_s, _ = best_of(lambda: [b for _, b in zip(range(n), make_loader(ds, workers=0))])
    batches = [ds[k] for k in range(min(n, 5))]
    step = gru_trainer(layout.float_dim + 13, layout.id_vocab, [h.classes for h in spec.heads])
    step(batches[0])  # warm-up
    gru_s, _ = best_of(lambda: [step(batches[k % len(batches)]) for k in range(min(n, 5))])
    gru_rate = min(n, 5) / gru_s

    sticks = fit_sticks([work / "store"], k=21)
    rows = {
        "store_load_frames_per_s": raw_frames / load_s,
        "embed_frames_per_s_one_core": embed_frames / embed_s,
        "loader_batches_per_s": n / loader_s,
        "gru256_train_batches_per_s": gru_rate,
        "loader_over_gru": (n / loader_s) / gru_rate,
    }
    print(
        f"{len(md5s)} games, {raw_frames:,} frames, {len(perspectives)} perspectives "
        f"({embed_frames:,} perspective-frames)"
    )
    print(f"{'measure':36s} {'value':>14s}")
    for key, value in rows.items():
        print(f"{key:36s} {value:14,.2f}")
    for stick in ("main", "c"):
        err = sticks["mean_error"][stick]
        print(
            f"{stick:4s} stick quantisation error (libmelee units): k-means k=21 {err['kmeans']:.4f}"
            f"  uniform 17x17 {err['uniform']:.4f}"
        )
    out = {
        "replays": args.replays,
        "games": len(md5s),
        "frames": raw_frames,
        "perspective_frames": embed_frames,
        "batch": [256, 64],
        "rates": rows,
        "stick_quantisation": sticks["mean_error"],
        "float_dim": layout.float_dim,
        "machine": machine(torch_threads=torch.get_num_threads()),
    }
    write_json(args.out, out)


if __name__ == "__main__":
    main()
