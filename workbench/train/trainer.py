"""Behavioural cloning: ``train(config)`` runs one experiment and resumes exactly.

A run folder holds ``config.json`` (resolved), ``split.json``, ``metrics.jsonl``,
``tensorboard/``, ``summary.json`` and ``checkpoints/step-*``. A run killed at any point
and restarted with ``resume=True`` ends with the same weights as an uninterrupted run
(CPU): every source of randomness is seeded or saved, and batches are a pure function
of (seed, epoch, index).
"""

from __future__ import annotations

import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from workbench.data.baseline import baseline_scores
from workbench.errors import WorkbenchError
from workbench.models.heads import components_of
from workbench.models.policy import Policy
from workbench.train.checkpoint import (
    CheckpointError,
    CheckpointWriter,
    latest_good_checkpoint,
    list_checkpoints,
    load_policy,
    load_state_strict,
)
from workbench.train.config import ExperimentConfig
from workbench.train.data import RunData, TrainBatches, prepare_data, val_batches
from workbench.train.distill import DistillLoss
from workbench.train.losses import BITS, BCLoss, class_balance_weights, joint_nll
from workbench.train.optim import EMA, make_optimizer, make_scheduler
from workbench.train.run_log import RunLog, truncate_metrics


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    best_val_loss: float
    final: dict = field(default_factory=dict)
    checkpoint: Path | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    return {
        "python": list(random.getstate()[1]),
        "python_pos": random.getstate()[2],
        "numpy": np.random.get_state()[1].tolist(),
        "numpy_pos": int(np.random.get_state()[2]),
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict) -> None:
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), state["numpy_pos"], 0, 0.0))
    torch.set_rng_state(state["torch"])


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise WorkbenchError("train.device=cuda but no CUDA device is available; use --device cpu")
    return torch.device(name)


class Trainer:
    def __init__(self, cfg: ExperimentConfig, resume: bool = False, progress: bool = True):
        self.cfg, self.t = cfg, cfg.train
        self.run_dir = Path(cfg.out)
        self.rank, self.world = _distributed()
        self.main = self.rank == 0
        self.device = resolve_device(self.t.device)
        self.progress = progress
        self._check_resume(resume)
        seed_everything(self.t.seed)
        self.data: RunData = prepare_data(cfg, progress=progress and self.main, split=self._saved_split())
        self.policy = Policy(cfg.embed, cfg.policy)
        if cfg.policy.normalize_floats:  # before EMA and DDP copy the buffers (resume reloads them)
            self.policy.set_float_stats(torch.from_numpy(_float_sample(self.data)))
        self.policy = self.policy.to(self.device)
        self.model = self.policy
        if self.world > 1:
            # the value head is for RL and not run here: DDP must not wait for its gradients
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.policy, find_unused_parameters=self.policy.value is not None
            )
        self.batches = TrainBatches(self.data, cfg, self.rank, self.world)
        self.total_steps = planned_steps(self.t, self.batches.batches_per_epoch)
        self.optimizer = make_optimizer(self.policy, self.t)
        self.scheduler = make_scheduler(self.optimizer, self.total_steps, self.t)
        self.ema = EMA(self.policy, self.t.ema_decay) if self.t.ema_decay > 0 else None
        self.loss = self._make_loss()
        self.distill = DistillLoss(cfg.distill, self.policy) if cfg.distill.teacher else None
        self.writer = CheckpointWriter(self.run_dir / "checkpoints", self.t.keep_last) if self.main else None
        self.step, self.best_val, self.bad_evals, self.elapsed = 0, float("inf"), 0, 0.0
        self.val = val_batches(self.data, cfg, self.t.eval_batches)
        if resume:
            self._restore()

    # -- setup ---------------------------------------------------------------------------------
    def _check_resume(self, resume: bool) -> None:
        """Before any data is read: a run with checkpoints needs ``resume``, and resumes
        from its newest readable checkpoint, whose architecture must match the config."""
        root = self.run_dir / "checkpoints"
        self._restored = None
        if list_checkpoints(root) and not resume:
            raise WorkbenchError(
                f"{self.run_dir} already has checkpoints: pass --resume to continue it, or choose another --out"
            )
        if resume:
            self._restored = latest_good_checkpoint(root)
        if self._restored is not None:
            saved = ExperimentConfig.from_dict(self._restored.meta["config"])
            for section in ("embed", "policy"):
                a, b = getattr(saved, section).to_dict(), getattr(self.cfg, section).to_dict()
                if a != b:
                    diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)][0]
                    raise CheckpointError(
                        f"--resume: the run was trained with {section}.{diff}="
                        f"{a.get(diff)!r} but this config has {b.get(diff)!r}"
                    )
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)

    def _saved_split(self):
        from workbench.data import Split

        path = self.run_dir / "split.json"
        return Split.load(path) if path.exists() else None

    def _make_loss(self) -> BCLoss:
        comps, heads = components_of(self.policy.spec), self.policy.spec.heads
        weights = None
        if self.cfg.loss.balance_stick_classes:
            sample = torch.from_numpy(np.asarray(self.data.cache.arrays["targets"][::50]))
            weights = class_balance_weights(sample, comps, heads)
        centers = {}
        if self.policy.spec.kmeans:
            centers = {
                "main": torch.from_numpy(self.policy.spec.main_centers),
                "c": torch.from_numpy(self.policy.spec.c_centers),
            }
        return BCLoss(self.cfg.loss, comps, heads, weights, centers)

    def _restore(self) -> None:
        restored, self._restored = self._restored, None
        if restored is None:
            return
        load_state_strict(self.policy, restored.model, str(restored.folder))
        state = restored.trainer
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.ema is not None and restored.ema is not None:
            self.ema.load_state_dict(restored.ema)
        self.batches.load_state_dict(state["data"])
        self.step, self.best_val = state["step"], state["best_val"]
        self.bad_evals, self.elapsed = state["bad_evals"], state["elapsed"]
        set_rng_state(state["rng"])
        if self.main:  # the rows a killed run logged after this checkpoint are replayed
            truncate_metrics(self.run_dir / "metrics.jsonl", self.step)

    # -- one optimizer step ---------------------------------------------------------------------
    def _autocast(self):
        use_bf16 = self.device.type == "cuda" and self.t.amp in ("auto", "bf16")
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else nullcontext()

    def _micro_batch(self, batch: dict, reset, carried) -> tuple[torch.Tensor, dict, dict | None]:
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        state = None  # TBPTT: carry the state, cleared where a new game starts
        if reset is not None:
            state = self.policy.carry_state(carried, reset, b["floats"].shape[0], self.device)
        with self._autocast():
            out = self.model(b["floats"], b["ids"], b["controller"], b["targets"], state, delay=b.get("delay"))
            loss, parts = self.loss(
                out.logits,
                b["targets"],
                aux_logits=out.aux_action,
                next_action=b.get("next_action"),
                previous=b.get("prev_targets"),
            )
            if self.distill is not None:
                loss, parts = self.distill(loss, parts, out.logits, b, reset)
        return loss, parts, (out.state if reset is not None else None)

    def _optimizer_step(self, iterator, carried):
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, parts_sum, frames = 0.0, {}, 0
        for _ in range(self.t.grad_accum):
            batch, reset = next(iterator)
            loss, parts, carried = self._micro_batch(batch, reset, carried)
            (loss / self.t.grad_accum).backward()
            total += float(loss.detach()) / self.t.grad_accum
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + float(v) / self.t.grad_accum
            frames += batch["floats"].shape[0] * batch["floats"].shape[1]
        if self.t.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.t.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.policy)
        self.step += 1
        return total, parts_sum, frames, carried

    # -- evaluation during training ------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Loss and per-head accuracy on fixed held-out batches, beside repeat-last."""
        model = self.policy
        backup = None
        if self.ema is not None:
            backup = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(self.ema.state_dict())
        model.eval()
        totals, hits, base_hits, count, loss_sum, nll_sum = {}, {}, {}, 0, 0.0, 0.0
        truths, previous = [], []
        for batch in self.val:
            b = {k: v.to(self.device) for k, v in batch.items()}
            with self._autocast():
                out = model(b["floats"], b["ids"], b["controller"], b["targets"], delay=b.get("delay"))
                loss, parts = self.loss(out.logits, b["targets"])
            loss_sum += float(loss)
            nll_sum += float(joint_nll(out.logits, b["targets"], self.loss.components).sum())
            truths.append(batch["targets"].flatten(0, 1).numpy())
            previous.append(batch["prev_targets"].flatten(0, 1).numpy())
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + float(v)
            chosen = model.head.argmax(out.logits)
            right = (chosen == b["targets"].long()).float().flatten(0, 1).sum(0)
            base = (b["prev_targets"] == b["targets"]).float().flatten(0, 1).sum(0)
            for i, head in enumerate(model.spec.heads):
                hits[head.name] = hits.get(head.name, 0.0) + float(right[i])
                base_hits[head.name] = base_hits.get(head.name, 0.0) + float(base[i])
            count += b["targets"].shape[0] * b["targets"].shape[1]
        if backup is not None:
            model.load_state_dict(backup)
        n = len(self.val) or float("nan")  # no validation window: nan, not a perfect 0
        metrics = {"val/loss": loss_sum / n, **{f"val/loss_{k}": v / n for k, v in totals.items()}}
        for name in hits:
            metrics[f"val/{name}_acc"] = hits[name] / max(count, 1)
            metrics[f"val/repeat_baseline/{name}_acc"] = base_hits[name] / max(count, 1)
        if count:  # the joint NLL in bits, beside repeat-last's (the number other projects quote)
            base = baseline_scores(np.concatenate(truths), np.concatenate(previous), model.spec)
            metrics["val/bits_per_frame"] = nll_sum / count * BITS
            metrics["val/repeat_baseline/bits_per_frame"] = sum(m["nll"] for m in base.values()) * BITS
        return metrics

    # -- the loop ------------------------------------------------------------------------------
    def fit(self, on_log=None) -> TrainResult:
        """Train to the end. ``on_log(step, metrics)`` is called with every logged row
        (live loss curves in notebooks)."""
        cfg, t = self.cfg, self.t
        if self.main:
            cfg.save(self.run_dir / "config.json")
            self.data.split.save(self.run_dir / "split.json")
        log = RunLog(
            self.run_dir,
            self.total_steps,
            self.step,
            enabled=self.main,
            progress=self.progress,
            wandb_project=t.wandb,
            config=cfg.to_dict(),
            on_log=on_log,
        )
        iterator, carried = iter(self.batches), None
        started, last_eval = time.perf_counter() - self.elapsed, {}
        window_start, window_frames = time.perf_counter(), 0
        stop_reason = "steps"
        try:
            while self.step < self.total_steps:
                loss, parts, frames, carried = self._optimizer_step(iterator, carried)
                window_frames += frames * self.world
                if self.step % t.log_every == 0 or self.step == 1:
                    rate = window_frames / max(time.perf_counter() - window_start, 1e-9)
                    log.log(
                        self.step,
                        {
                            "train/loss": loss,
                            **{f"train/loss_{k}": v for k, v in parts.items()},
                            "train/lr": self.scheduler.get_last_lr()[0],
                            "train/frames_per_s": rate,
                        },
                    )
                    window_start, window_frames = time.perf_counter(), 0
                    _memory_warning(self.device, log)
                log.progress(self.step, loss, f"val {last_eval['val/loss']:.3f}" if last_eval else "")
                if self.step % t.eval_every == 0 or self.step == self.total_steps:
                    last_eval = self._eval_and_checkpoint(log, started)
                    if t.early_stopping and self.bad_evals >= t.early_stopping:
                        stop_reason = "early stopping"
                        break
                elif self.step % t.checkpoint_every == 0:
                    self._checkpoint(best=False, started=started)
                if t.time_budget and self._all_ranks_agree(time.perf_counter() - started >= t.time_budget):
                    stop_reason = "time budget"
                    break
            if not last_eval or self.step % t.eval_every:
                last_eval = self._eval_and_checkpoint(log, started, patience=False)
        finally:
            if self.writer is not None:
                self.writer.wait()
            log.close()
        seconds = time.perf_counter() - started
        result = TrainResult(
            self.run_dir,
            self.step,
            seconds,
            self.best_val,
            last_eval,
            (list_checkpoints(self.run_dir / "checkpoints") or [None])[-1],
        )
        if self.main:
            _write_summary(result, self, stop_reason)
        return result

    def _eval_and_checkpoint(self, log: RunLog, started: float, patience: bool = True) -> dict:
        """Score the validation games, log it, track the best loss and (``patience``) the
        evaluations without improvement for early stopping, and write a checkpoint."""
        metrics = self.evaluate()
        log.log(self.step, metrics)
        improved = metrics["val/loss"] < self.best_val - 1e-6
        self.best_val = min(self.best_val, metrics["val/loss"])
        if patience:
            self.bad_evals = 0 if improved else self.bad_evals + 1
        self._checkpoint(best=improved, started=started)
        return metrics

    def _all_ranks_agree(self, stop: bool) -> bool:
        """Under torchrun every rank stops when any rank's clock says so (each reads its
        own), so none is left waiting in a gradient all-reduce."""
        if self.world == 1:
            return stop
        flag = torch.tensor([float(stop)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _checkpoint(self, best: bool, started: float) -> None:
        if self.writer is None:
            return
        self.elapsed = time.perf_counter() - started
        trainer_state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "data": self.batches.state_dict(),
            "step": self.step,
            "best_val": self.best_val,
            "bad_evals": self.bad_evals,
            "elapsed": self.elapsed,
            "rng": rng_state(),
        }
        self.writer.save(
            self.step,
            self.policy.state_dict(),
            self.cfg.to_dict(),
            trainer_state,
            ema=self.ema.state_dict() if self.ema is not None else None,
            best=best,
        )


def _float_sample(data: RunData, rows: int = 50000) -> np.ndarray:
    """(<= rows, F) float state rows spread evenly over the training games."""
    segments = [s for s in data.train_segments if s.variant == 0] or data.train_segments
    every = np.concatenate([np.arange(s.start, s.start + s.length) for s in segments])
    picked = every[np.linspace(0, len(every) - 1, min(rows, len(every))).astype(np.int64)]
    return np.asarray(data.cache.arrays["floats"][picked], dtype=np.float32)


#: fewer optimizer steps than this leave the model near a constant predictor (measured on
#: the bundled replays: see the README's "Defaults that train")
MIN_LEARNING_STEPS = 100


def planned_steps(t, batches_per_epoch: int) -> int:
    """Optimizer steps of a run: ``max_steps``, else its epochs but at least
    ``min_steps``. A budget too small to learn from is said so (a warning), not hidden."""
    import warnings

    from workbench.errors import WorkbenchWarning

    by_epochs = t.epochs * batches_per_epoch // t.grad_accum
    total = t.max_steps or max(by_epochs, t.min_steps)
    if total < MIN_LEARNING_STEPS and not t.time_budget:
        warnings.warn(
            f"{total} optimizer steps are too few to learn from: expect a model near a "
            f"constant predictor (use --max-steps {MIN_LEARNING_STEPS * 3} or more)",
            WorkbenchWarning,
            stacklevel=3,
        )
    return max(total, 1)


def _memory_warning(device: torch.device, log: RunLog) -> None:
    if device.type != "cuda":
        return
    used = torch.cuda.max_memory_allocated(device)
    total = torch.cuda.get_device_properties(device).total_memory
    if used > 0.9 * total:
        log.write(
            f"warning: GPU memory at {used / total:.0%} of {total / 2**30:.0f} GiB; lower "
            "train.batch_size or train.window"
        )


def _write_summary(result: TrainResult, trainer: Trainer, stop_reason: str) -> None:
    import json

    summary = {
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "stop": stop_reason,
        "best_val_loss": result.best_val_loss,
        "final": result.final,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "parameters": trainer.policy.num_parameters(),
        "data": trainer.data.summary(),
        "seed": trainer.t.seed,
        "device": str(trainer.device),
        "world_size": trainer.world,
    }
    (result.run_dir / "summary.json").write_text(json.dumps(summary, indent=1))


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return dist.get_rank(), dist.get_world_size()


def train(cfg: ExperimentConfig, resume: bool = False, progress: bool = True, on_log=None) -> TrainResult:
    """Run one experiment (see the module docstring)."""
    trainer = Trainer(cfg, resume=resume, progress=progress)
    try:
        result = trainer.fit(on_log)
        if dist.is_initialized():  # under torchrun: no rank tears the group down while
            dist.barrier()  # another still writes its checkpoint (gloo may abort)
        return result
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def train_or_reuse(cfg: ExperimentConfig, progress: bool = False, on_log=None) -> Path:
    """Notebooks' training step: reuse ``cfg.out`` when it holds a finished run of the
    same config, resume it when it was cut short, otherwise train. A run of another config
    in that folder is moved aside to ``<out>.previous`` (replacing an older one) first,
    with a warning that says so.
    Returns the run folder."""
    import json
    import shutil

    run = Path(cfg.out)
    saved = run / "config.json"
    wanted = json.loads(json.dumps(cfg.to_dict()))  # as saved: tuples become lists
    finished = (run / "summary.json").exists() and saved.exists()
    if finished and json.loads(saved.read_text()) == wanted:
        return run
    if saved.exists() and json.loads(saved.read_text()) != wanted:
        import warnings

        from workbench.errors import WorkbenchWarning

        previous = run.with_name(run.name + ".previous")
        note = ""
        if previous.exists():
            shutil.rmtree(previous)
            note = f"; the older {previous.name} it replaces was deleted"
        run.rename(previous)
        warnings.warn(f"{run} held a run of another config: moved to {previous}{note}", WorkbenchWarning, stacklevel=2)
    has_checkpoints = bool(list_checkpoints(run / "checkpoints"))
    train(cfg, resume=has_checkpoints, progress=progress, on_log=on_log)
    return run


__all__ = ["train", "train_or_reuse", "Trainer", "TrainResult", "load_policy"]
