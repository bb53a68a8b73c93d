"""The trainer end to end on real replays: exact resume after SIGKILL, seeds, TBPTT,
EMA, early stopping, distillation, architecture mismatch, DDP on gloo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import DATA, tiny_experiment
from workbench.errors import WorkbenchWarning
from workbench.train import CheckpointError, ExperimentConfig, load_policy, train
from workbench.train.distill import DistillLoss


def tiny(tmp: Path, name: str, *extra: str, shared: Path | None = None) -> ExperimentConfig:
    """A few-second GRU run on the bundled games."""
    return tiny_experiment(
        tmp,
        name,
        {"name": "gru", "hidden_size": 16, "num_layers": 2, "dropout": 0.2},
        "train.window=8",
        "train.batch_size=8",
        "train.max_steps=12",
        "train.eval_every=6",
        "train.eval_batches=2",
        "train.checkpoint_every=4",
        "train.log_every=2",
        *extra,
        data=shared,
    )


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("shared")


def weights(run: Path, step: int, name: str = "model") -> dict:
    return load_file(str(run / "checkpoints" / f"step-{step:08d}" / f"{name}.safetensors"))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights(tmp_path, shared):
    a = train(tiny(tmp_path, "a", shared=shared), progress=False)
    b = train(tiny(tmp_path, "b", shared=shared), progress=False)
    c = train(tiny(tmp_path, "c", "train.seed=1", shared=shared), progress=False)
    assert same(weights(a.run_dir, 12), weights(b.run_dir, 12))
    assert not same(weights(a.run_dir, 12), weights(c.run_dir, 12))
    assert (a.run_dir / "metrics.jsonl").read_text().count("val/loss") >= 2
    assert (a.run_dir / "summary.json").exists() and (a.run_dir / "split.json").exists()
    # arms of a sweep that differ by seed are scored on the same held-out games
    assert (
        json.loads((a.run_dir / "split.json").read_text())["val"]
        == json.loads((c.run_dir / "split.json").read_text())["val"]
    )


def test_split_seed_moves_the_held_out_games(tmp_path, shared):
    from workbench.train.data import prepare_data

    splits = {
        seed: prepare_data(
            tiny(tmp_path, f"s{seed}", f"train.split_seed={seed}", "train.val_fraction=0.3", shared=shared)
        ).split
        for seed in range(4)
    }
    assert len({tuple(s.val) for s in splits.values()}) > 1
    assert all(not set(s.val) & set(s.train) for s in splits.values())


def test_sigkill_then_resume_ends_with_the_same_weights(tmp_path, shared):
    args = [
        "--replays",
        str(DATA / "games"),
        "--backbone",
        "gru",
        "--hidden",
        "16",
        "--layers",
        "2",
        "--window",
        "16",
        "--batch-size",
        "16",
        "--max-steps",
        "120",
        "--set",
        "train.log_every=1",
        "--set",
        "policy.backbone.dropout=0.2",
        "--set",
        "train.checkpoint_every=30",
        "--set",
        "train.eval_every=60",
        "--set",
        "train.eval_batches=2",
        "--set",
        "train.ema_decay=0.9",
        "--set",
        f"store={shared / 'store'}",
        "--set",
        f"cache={shared / 'cache'}",
    ]
    cli = [sys.executable, "-m", "workbench.cli", "train"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(
        cli + args + ["--out", str(tmp_path / "whole")], check=True, env=env, capture_output=True, timeout=600
    )
    proc = subprocess.Popen(
        cli + args + ["--out", str(tmp_path / "killed")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # kill it between checkpoints (after step 40, checkpoint at 30): the resume must
    # replay steps 31-40 exactly
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and '"step": 40,' in metrics.read_text():
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "checkpoints" / "step-00000120").exists(), "killed too late"
    subprocess.run(
        cli + args + ["--out", str(tmp_path / "killed"), "--resume"],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    for name in ("model", "ema"):
        assert same(weights(tmp_path / "whole", 120, name), weights(tmp_path / "killed", 120, name)), name


def test_truncated_bptt_carries_state_and_ema(tmp_path, shared):
    cfg = tiny(tmp_path, "tbptt", "train.truncate_bptt=8", "train.ema_decay=0.5", shared=shared)
    result = train(cfg, progress=False)
    assert result.steps == 12
    raw, ema = weights(result.run_dir, 12, "model"), weights(result.run_dir, 12, "ema")
    assert not same(raw, ema)
    policy, _, _ = load_policy(result.run_dir)  # loads the EMA weights by default
    assert torch.equal(policy.state_dict()["head.mlps.0.net.1.weight"], ema["head.mlps.0.net.1.weight"])


def test_early_stopping(tmp_path, shared):
    cfg = tiny(
        tmp_path,
        "early",
        "train.lr=0.0",
        "train.max_steps=60",
        "train.eval_every=2",
        "train.early_stopping=2",
        shared=shared,
    )
    result = train(cfg, progress=False)
    assert result.steps < 60
    import json

    assert json.loads((result.run_dir / "summary.json").read_text())["stop"] == "early stopping"


def test_existing_run_needs_resume_and_matching_architecture(tmp_path, shared):
    train(tiny(tmp_path, "arch", shared=shared), progress=False)
    with pytest.raises(Exception, match="--resume"):
        train(tiny(tmp_path, "arch", shared=shared), progress=False)
    other = tiny(
        tmp_path, "arch", 'policy.backbone={"name": "lstm", "hidden_size": 16, "num_layers": 2}', shared=shared
    )
    with pytest.raises(CheckpointError, match="policy.backbone"):
        train(other, resume=True, progress=False)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _steps_of(rows: list[dict], key: str) -> list[int]:
    return [r["step"] for r in rows if key in r]


def test_resume_falls_back_past_a_truncated_checkpoint(tmp_path, shared):
    """A real run (checkpoints at steps 4, 6, 8, 12) whose newest trainer.pt is cut in
    half and whose killed save left a .tmp-* folder: the resume warns, starts again from
    step 8, removes the stale folder, ends with the uninterrupted run's weights, and
    metrics.jsonl holds each step once."""
    run = train(tiny(tmp_path, "cut", "train.log_every=1", shared=shared), progress=False).run_dir
    whole = weights(run, 12)
    trainer_pt = run / "checkpoints" / "step-00000012" / "trainer.pt"
    trainer_pt.write_bytes(trainer_pt.read_bytes()[: trainer_pt.stat().st_size // 2])
    stale = run / "checkpoints" / ".tmp-killed"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half a save")
    rows_before = _rows(run)
    assert _steps_of(rows_before, "train/loss") == list(range(1, 13))
    with pytest.warns(WorkbenchWarning, match=r"step-00000012/trainer.pt: unreadable.*resuming from step-00000008"):
        result = train(tiny(tmp_path, "cut", "train.log_every=1", shared=shared), resume=True, progress=False)
    assert result.steps == 12 and not stale.exists()
    assert same(weights(run, 12), whole), "the resume from step 8 replays steps 9-12 exactly"
    rows = _rows(run)
    assert _steps_of(rows, "train/loss") == list(range(1, 13)), "one training row per step"
    assert _steps_of(rows, "val/loss") == [6, 12], "one evaluation row per evaluation"


def test_resume_with_no_readable_checkpoint_is_one_line(tmp_path, shared):
    run = train(tiny(tmp_path, "broken", "train.keep_last=1", shared=shared), progress=False).run_dir
    for folder in (run / "checkpoints").glob("step-*"):
        (folder / "model.safetensors").write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match="no readable checkpoint") as info:
        train(tiny(tmp_path, "broken", "train.keep_last=1", shared=shared), resume=True, progress=False)
    assert "\n" not in str(info.value)


def test_loading_weights_into_another_architecture_names_the_mismatch(tmp_path, shared):
    from workbench.models import Policy, PolicyConfig
    from workbench.train.checkpoint import load_state_strict, read_weights, resolve_checkpoint

    result = train(tiny(tmp_path, "gru", shared=shared), progress=False)
    policy, cfg, _ = load_policy(result.run_dir)
    bigger = Policy(cfg.embed, PolicyConfig(backbone={"name": "gru", "hidden_size": 32, "num_layers": 2}))
    with pytest.raises(CheckpointError, match=r"backbone\.rnn\.weight_ih_l0 is \(48, \d+\) in the checkpoint but \(96"):
        load_state_strict(bigger, read_weights(resolve_checkpoint(result.run_dir)), "x")
    mamba = Policy(cfg.embed, PolicyConfig(backbone={"name": "mamba", "hidden_size": 16, "num_layers": 2}))
    with pytest.raises(CheckpointError) as info:
        load_state_strict(mamba, read_weights(resolve_checkpoint(result.run_dir)), "x")
    assert "\n" not in str(info.value) and "missing" in str(info.value)


def test_distillation_trains_a_student(tmp_path, shared):
    teacher = train(tiny(tmp_path, "teacher", shared=shared), progress=False)
    cfg = tiny(
        tmp_path,
        "student",
        f"distill.teacher={teacher.run_dir}",
        "distill.alpha=0.7",
        'policy.backbone={"name": "mlp", "hidden_size": 16, "num_layers": 1}',
        "train.window=4",
        shared=shared,
    )
    result = train(cfg, progress=False)
    rows = (result.run_dir / "metrics.jsonl").read_text()
    assert "train/loss_distill" in rows and "train/loss_labels" in rows
    # Under truncated BPTT the (GRU) teacher carries its state across chunks: two chunks of
    # 4 frames end where one pass over all 8 does, and a reset row starts afresh.
    distill = DistillLoss(cfg.distill, load_policy(result.run_dir)[0])
    teacher, batch_size = distill.teacher, 3
    torch.manual_seed(0)
    batch = {
        "floats": torch.randn(batch_size, 8, teacher.layout.float_dim),
        "ids": torch.zeros(batch_size, 8, len(teacher.id_columns), dtype=torch.long),
        "controller": torch.rand(batch_size, 8, 13),
        "targets": torch.zeros(batch_size, 8, teacher.spec.num_heads, dtype=torch.long),
    }
    chunks = [{k: v[:, :4] for k, v in batch.items()}, {k: v[:, 4:] for k, v in batch.items()}]
    logits = {
        c.name: torch.zeros(batch_size, 4, len(c.heads) if c.binary else c.classes) for c in teacher.head.components
    }
    distill(torch.tensor(0.0), {}, logits, chunks[0], torch.ones(batch_size, dtype=torch.bool))
    distill(torch.tensor(0.0), {}, logits, chunks[1], torch.tensor([False, True, False]))
    with torch.no_grad():
        whole = teacher(*(batch[k] for k in ("floats", "ids", "controller", "targets"))).state
        fresh = teacher(*(chunks[1][k] for k in ("floats", "ids", "controller", "targets"))).state
    for key, value in distill.carried.items():
        torch.testing.assert_close(value[[0, 2]], whole[key][[0, 2]])
        torch.testing.assert_close(value[1], fresh[key][1])


@pytest.mark.skipif(sys.platform != "linux", reason="gloo test uses torchrun on linux")
@pytest.mark.parametrize("budget", [("--max-steps", "6"), ("--time-budget", "3s")], ids=["steps", "time"])
def test_ddp_two_processes_on_gloo(tmp_path, shared, budget):
    """Two ranks train and stop together: after a step count, or on a time budget that
    each rank reads from its own clock (they agree before stopping, none is left waiting)."""
    # prepare the store and cache once so both ranks only read them
    train(tiny(tmp_path, "warm", shared=shared), progress=False)
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "workbench.cli",
        "train",
        "--replays",
        str(DATA / "games"),
        "--backbone",
        "gru",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--window",
        "8",
        "--batch-size",
        "4",
        *budget,
        "--set",
        "train.eval_every=3",
        "--set",
        "train.eval_batches=1",
        "--set",
        "train.device=cpu",
        "--set",
        f"store={shared / 'store'}",
        "--set",
        f"cache={shared / 'cache'}",
        "--out",
        str(run),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2
    if budget[0] == "--max-steps":
        assert summary["steps"] == 6 and summary["stop"] == "steps"
        assert (run / "checkpoints" / "step-00000006" / "model.safetensors").exists()
    else:
        assert summary["stop"] == "time budget" and summary["steps"] > 0


def test_loading_a_run_skips_a_broken_newest_checkpoint(tmp_path, shared):
    run = train(tiny(tmp_path, "load", shared=shared), progress=False).run_dir
    newest = run / "checkpoints" / "step-00000012"
    (run / "checkpoints" / "best.json").unlink()  # the newest is the one a run folder resolves to
    weights_file = newest / "model.safetensors"
    weights_file.write_bytes(weights_file.read_bytes()[:100])
    with pytest.warns(WorkbenchWarning, match="step-00000012/model.safetensors: unreadable.*using step-00000008"):
        _, _, folder = load_policy(run)
    assert folder.name == "step-00000008"
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_policy(newest)  # a checkpoint the user names is never swapped for another


def test_reuse_moves_a_run_of_another_config_aside_and_says_so(tmp_path, shared):
    from workbench.errors import WorkbenchWarning
    from workbench.train import train_or_reuse

    first = tiny(tmp_path, "run", "train.max_steps=2", shared=shared)
    assert train_or_reuse(first) == Path(first.out)
    assert train_or_reuse(first) == Path(first.out)  # same config: reused, no warning
    with pytest.warns(WorkbenchWarning, match=r"moved to .*run\.previous$"):
        train_or_reuse(tiny(tmp_path, "run", "train.max_steps=3", shared=shared))
    with pytest.warns(WorkbenchWarning, match="the older run.previous it replaces was deleted"):
        train_or_reuse(tiny(tmp_path, "run", "train.max_steps=4", shared=shared))
    saved = json.loads((tmp_path / "run.previous" / "config.json").read_text())
    assert saved["train"]["max_steps"] == 3
