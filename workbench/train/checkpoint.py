"""Checkpoints: one folder each, written atomically in a background thread.

``<run>/checkpoints/step-00001200/``::

    model.safetensors   policy weights
    ema.safetensors     EMA weights (when the run keeps an EMA)
    config.json         the full experiment config, its version, the step
    trainer.pt          optimizer, scheduler, RNG and data position; read with
                        ``torch.load(weights_only=True)``, so nothing is unpickled

``load_policy(folder)`` rebuilds the model from the folder alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from workbench.errors import WorkbenchError, WorkbenchWarning

CHECKPOINT_VERSION = 1


class CheckpointError(WorkbenchError):
    """A checkpoint that is missing, unreadable or for another architecture."""


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}


class CheckpointWriter:
    """Saves checkpoints without stalling training: the state is copied to CPU memory at
    the call, then a background thread writes it to a temporary folder and renames it."""

    def __init__(self, root: str | Path, keep_last: int = 3):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.keep_last = keep_last
        remove_stale_temporaries(self.root)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def save(
        self,
        step: int,
        model: dict,
        config: dict,
        trainer: dict,
        ema: dict | None = None,
        best: bool = False,
        blocking: bool = False,
    ) -> Path:
        self.wait()
        model, ema = _cpu_copy(model), (_cpu_copy(ema) if ema is not None else None)
        trainer = _detach_tree(trainer)
        target = self.root / f"step-{step:08d}"

        def write() -> None:
            try:
                tmp = Path(tempfile.mkdtemp(dir=self.root, prefix=".tmp-"))
                save_file(model, str(tmp / "model.safetensors"))
                if ema is not None:
                    save_file(ema, str(tmp / "ema.safetensors"))
                meta = {"version": CHECKPOINT_VERSION, "step": step, "config": config}
                (tmp / "config.json").write_text(json.dumps(meta, indent=1))
                torch.save(trainer, tmp / "trainer.pt")
                if target.exists():
                    shutil.rmtree(target)
                os.replace(tmp, target)
                if best:
                    (self.root / "best.json").write_text(json.dumps({"checkpoint": target.name, "step": step}))
                self._prune()
            except BaseException as err:  # surfaced by the next save or wait
                self._error = err

        self._thread = threading.Thread(target=write, name="checkpoint-writer", daemon=False)
        self._thread.start()
        if blocking:
            self.wait()
        return target

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            err, self._error = self._error, None
            raise CheckpointError(f"writing a checkpoint failed: {err}")

    def _prune(self) -> None:
        best = best_checkpoint(self.root)
        steps = list_checkpoints(self.root)
        for old in steps[: -self.keep_last] if self.keep_last > 0 else []:
            if best is None or old != best:
                shutil.rmtree(old, ignore_errors=True)


def _detach_tree(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _detach_tree(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_detach_tree(v) for v in obj)
    return obj


def remove_stale_temporaries(root: str | Path, older_than_s: float = 0.0) -> list[Path]:
    """Delete the ``.tmp-*`` folders a save that was killed midway leaves behind (a live
    save only exists inside a writer, and a run has one writer). Returns what was removed."""
    removed = []
    now = time.time()
    for tmp in Path(root).glob(".tmp-*"):
        try:
            if tmp.is_dir() and now - tmp.stat().st_mtime >= older_than_s:
                shutil.rmtree(tmp, ignore_errors=True)
                removed.append(tmp)
        except OSError:
            continue
    return removed


@dataclass
class Restored:
    """Everything a resume needs from one checkpoint, read and checked."""

    folder: Path
    meta: dict
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor] | None
    trainer: dict


def read_trainer_state(folder: str | Path) -> dict:
    """``trainer.pt`` with ``weights_only=True``; a cut or corrupt file is a CheckpointError."""
    path = Path(folder) / "trainer.pt"
    if not path.exists():
        raise CheckpointError(f"{folder}: no trainer.pt")
    try:
        state = torch.load(path, weights_only=True)
    except Exception as err:  # zipfile/pickle errors of a truncated or corrupt file
        raise CheckpointError(
            f"{path}: unreadable trainer state, truncated or corrupt ({' '.join(str(err).split())[:160]})"
        ) from None
    missing = {"optimizer", "scheduler", "data", "step"} - set(state if isinstance(state, dict) else ())
    if missing:
        raise CheckpointError(f"{path}: trainer state lacks {sorted(missing)}")
    return state


def read_checkpoint(folder: str | Path) -> Restored:
    """Read every file of one checkpoint; the first problem is a CheckpointError."""
    folder = Path(folder)
    meta = read_meta(folder)
    model = read_weights(folder, "model")
    ema = read_weights(folder, "ema") if (folder / "ema.safetensors").exists() else None
    return Restored(folder, meta, model, ema, read_trainer_state(folder))


def latest_good_checkpoint(root: str | Path) -> Restored | None:
    """The newest checkpoint under ``root`` that reads whole. A broken newer one (cut by a
    kill, a full disk, a bad copy) is skipped with a warning naming what was wrong; when
    checkpoints exist but none reads, a one-line CheckpointError. None when there are none."""
    folders = list_checkpoints(root)
    problems = []
    for folder in reversed(folders):
        try:
            restored = read_checkpoint(folder)
        except CheckpointError as err:
            problems.append(str(err))
            continue
        for problem in problems:
            warnings.warn(
                f"skipping a broken checkpoint: {problem}; resuming from {folder.name}", WorkbenchWarning, stacklevel=2
            )
        return restored
    if problems:
        raise CheckpointError(
            f"no readable checkpoint in {root} ({len(problems)} broken; newest: "
            f"{problems[0]}); start the run again with another --out"
        )
    return None


def list_checkpoints(root: str | Path) -> list[Path]:
    """Complete checkpoint folders under ``root``, oldest first."""
    root = Path(root)
    if not root.exists():
        return []
    return sorted(p for p in root.glob("step-*") if (p / "config.json").exists())


def best_checkpoint(root: str | Path) -> Path | None:
    marker = Path(root) / "best.json"
    if not marker.exists():
        return None
    path = Path(root) / json.loads(marker.read_text())["checkpoint"]
    return path if path.exists() else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder (its best, else its latest checkpoint)."""
    path = Path(path)
    if (path / "config.json").exists() and (path / "model.safetensors").exists():
        return path
    for root in (path / "checkpoints", path):
        found = best_checkpoint(root) or (list_checkpoints(root) or [None])[-1]
        if found is not None:
            return found
    raise CheckpointError(
        f"no checkpoint at {path}: give a checkpoint folder or a run folder that has checkpoints/step-*"
    )


def read_meta(folder: str | Path) -> dict:
    try:
        meta = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{folder}: unreadable checkpoint config ({err})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("version", 0), int):
        raise CheckpointError(f"{folder}: config.json is not a checkpoint config")
    if meta.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{folder}: checkpoint version {meta['version']} is newer than this "
            f"workbench reads ({CHECKPOINT_VERSION}); upgrade the workbench"
        )
    return meta


def read_weights(folder: str | Path, which: str = "auto") -> dict[str, torch.Tensor]:
    """``which``: "model", "ema", or "auto" (EMA when the run kept one)."""
    folder = Path(folder)
    name = (
        "ema.safetensors"
        if which == "ema" or (which == "auto" and (folder / "ema.safetensors").exists())
        else "model.safetensors"
    )
    if not (folder / name).exists():
        raise CheckpointError(f"{folder}: no {name}")
    try:
        return load_file(str(folder / name))
    except Exception as err:  # safetensors raises its own SafetensorError on a cut file
        raise CheckpointError(
            f"{folder / name}: unreadable weights, truncated or corrupt ({' '.join(str(err).split())})"
        ) from None


def load_state_strict(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """Load weights; any missing, unexpected or reshaped tensor is one clear error."""
    own = model.state_dict()
    missing = [k for k in own if k not in weights]
    unexpected = [k for k in weights if k not in own]
    reshaped = [
        (k, tuple(weights[k].shape), tuple(v.shape))
        for k, v in own.items()
        if k in weights and weights[k].shape != v.shape
    ]
    if missing or unexpected or reshaped:
        detail = []
        if reshaped:
            k, a, b = reshaped[0]
            detail.append(f"{k} is {a} in the checkpoint but {b} in the model")
        if missing:
            detail.append(f"{len(missing)} tensors missing (e.g. {missing[0]})")
        if unexpected:
            detail.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise CheckpointError(f"checkpoint {source} does not fit this architecture: " + "; ".join(detail))
    model.load_state_dict(weights)


def weights_hash(folder: str | Path) -> str:
    digest = hashlib.sha256((Path(folder) / "model.safetensors").read_bytes())
    return digest.hexdigest()


def average_weights(folders: list[Path], which: str = "auto") -> dict[str, torch.Tensor]:
    """Element-wise mean of several checkpoints' weights (same architecture)."""
    total: dict[str, torch.Tensor] = {}
    for folder in folders:
        for key, value in read_weights(folder, which).items():
            if value.dtype.is_floating_point:
                total[key] = total.get(key, 0) + value.double()
            else:
                total[key] = value
    return {k: (v / len(folders)).float() if v.dtype == torch.float64 else v for k, v in total.items()}


def run_dir_of(folder: str | Path) -> Path:
    """The run folder a checkpoint belongs to (its split.json says which games it trained
    on): ``<run>/checkpoints/step-N``, or the run an averaged checkpoint names."""
    folder = Path(folder)
    try:
        run = json.loads((folder / "config.json").read_text()).get("run")
    except (OSError, ValueError, AttributeError):
        run = None
    return Path(run) if run else folder.parent.parent


def write_average(run: str | Path, last: int, out: str | Path) -> Path:
    """Average the weights (and EMA weights, when kept) of the run's last ``last``
    checkpoints into a checkpoint folder at ``out`` that eval, export and play load like
    any other: ``model.safetensors``, ``ema.safetensors``, and ``config.json`` with the
    newest checkpoint's config, its step, the run and the folders averaged (no
    ``trainer.pt``: an average is not a point training can resume from)."""
    run = Path(run)
    root = run / "checkpoints" if (run / "checkpoints").is_dir() else run
    folders = list_checkpoints(root)
    if not folders:
        raise CheckpointError(f"no checkpoint at {run}: give a run folder that has checkpoints/step-*")
    if last < 1:
        raise CheckpointError(f"--last {last}: average at least 1 checkpoint")
    if last > len(folders):
        raise CheckpointError(f"--last {last}: {run} has only {len(folders)} checkpoints")
    folders = folders[-last:]
    out = Path(out)
    if out.resolve() in {f.resolve() for f in list_checkpoints(root)}:
        raise CheckpointError(f"--out {out}: is one of the run's own checkpoints")
    meta = read_meta(folders[-1])
    meta.update(averaged_from=[f.name for f in folders], run=str(run.resolve()))
    model = average_weights(folders, "model")
    has_ema = all((f / "ema.safetensors").exists() for f in folders)
    ema = average_weights(folders, "ema") if has_ema else None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".tmp-{out.name}-"))
    try:
        save_file(model, str(tmp / "model.safetensors"))
        if ema is not None:
            save_file(ema, str(tmp / "ema.safetensors"))
        (tmp / "config.json").write_text(json.dumps(meta, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _readable(folder: Path, which: str, named: bool) -> tuple[Path, dict, dict[str, torch.Tensor]]:
    """``folder``'s config and weights. When the folder was picked from a run (not named
    by the user) and is broken, the newest earlier checkpoint that reads is taken instead,
    with a warning."""
    candidates = [folder] if named else [folder] + [c for c in reversed(list_checkpoints(folder.parent)) if c != folder]
    problems = []
    for candidate in candidates:
        try:
            meta, weights = read_meta(candidate), read_weights(candidate, which)
        except CheckpointError as err:
            if named:
                raise
            problems.append(str(err))
            continue
        for problem in problems:
            warnings.warn(
                f"skipping a broken checkpoint: {problem}; using {candidate.name}", WorkbenchWarning, stacklevel=3
            )
        return candidate, meta, weights
    raise CheckpointError(f"no readable checkpoint in {folder.parent} ({len(problems)} broken; newest: {problems[0]})")


def load_policy(path: str | Path, which: str = "auto", average_last: int = 0):
    """Rebuild the policy a checkpoint (or run folder) holds, from its folder alone."""
    from workbench.models.policy import Policy
    from workbench.train.config import ExperimentConfig

    folder = resolve_checkpoint(path)
    if average_last > 1:
        meta = read_meta(folder)
        folders = list_checkpoints(folder.parent)[-average_last:]
        weights, source = average_weights(folders, which), f"average of {len(folders)} in {folder.parent}"
    else:
        folder, meta, weights = _readable(folder, which, named=folder == Path(path))
        source = str(folder)
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{folder}: config.json has no experiment config")
    config = ExperimentConfig.from_dict(meta["config"])
    policy = Policy(config.embed, config.policy)
    load_state_strict(policy, weights, source)
    policy.eval()
    return policy, config, folder
