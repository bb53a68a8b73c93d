"""Replay rollouts: a real game's frames streamed through an exported step (or through
PyTorch), one frame at a time with the state fed back, as a bot runs.

The controller input is teacher-forced with the player's own recorded controller at the
same frame (delay 0: step i sees the state of frame i and the controller of frame i, and
predicts frame i + 1; see :mod:`workbench.data.dataset`). Used for parity against
PyTorch, static-quantization calibration, warm-start states and quantization accuracy.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from workbench.deploy.errors import DeployError
from workbench.deploy.graph import StepGraph
from workbench.deploy.runtime import OnnxPolicy
from workbench.embed import EmbedConfig, EmbeddedGame, embed_game
from workbench.models.policy import Policy

REL_FLOOR = 1e-3  # probabilities below this are compared absolutely (at this scale)


@dataclass
class Rollout:
    """Per-frame outputs of a rollout; row r is step ``start + r`` of the game."""

    start: int
    targets: np.ndarray  # (N, heads) int64
    controller: np.ndarray  # (N, 13) float32
    probs: dict[str, np.ndarray]  # component -> (N, classes)
    feeds: list[dict] = field(default_factory=list)  # per-frame graph inputs, when kept
    final_state: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.targets)


def load_games(paths: list, config: EmbedConfig, perspectives: tuple[int, ...] = (0, 1)) -> list[EmbeddedGame]:
    """Replays (files or folders) embedded from each perspective, training's code path.
    Unreadable replays are skipped; none readable is an error."""
    from workbench.replay import ReplayError, find_replays, read_replay

    games = []
    for path in find_replays(paths):
        try:
            table = read_replay(path)
        except ReplayError:
            continue
        games += [embed_game(table, config, p) for p in perspectives if p < table.num_players]
    if not games:
        raise DeployError(f"no readable replay in {', '.join(map(str, paths))}")
    return games


def _steps(game: EmbeddedGame, frames: int, start: int) -> range:
    stop = min(start + frames, len(game) - 1)  # the last step needs a next frame to score
    if stop <= start:
        raise DeployError(f"a rollout of {frames} frames from {start} needs a longer game ({len(game)} frames)")
    return range(start, stop)


def _collect(rows: list[dict], start: int) -> Rollout:
    probs = {k[len("probs_") :]: np.concatenate([r[k] for r in rows]) for k in rows[0] if k.startswith("probs_")}
    return Rollout(
        start, np.concatenate([r["targets"] for r in rows]), np.concatenate([r["next_controller"] for r in rows]), probs
    )


def rollout_onnx(
    model: OnnxPolicy | str | Path,
    game: EmbeddedGame,
    frames: int,
    start: int = 0,
    keep_feeds: bool = False,
    state: dict | None = None,
) -> Rollout:
    """Stream ``frames`` steps of ``game`` through an exported model (argmax play)."""
    model = model if isinstance(model, OnnxPolicy) else OnnxPolicy(model)
    state = model.initial_state(warm=False) if state is None else state
    rows, feeds = [], []
    for i in _steps(game, frames, start):
        inputs = (game.floats[i], game.ids[i], game.controller[i])
        if keep_feeds:  # static quantization calibrates on these
            feeds.append(model.feed(*inputs, state))
        out, state = model.step(*inputs, state)
        rows.append(out)
    result = _collect(rows, start)
    result.feeds, result.final_state = feeds, state
    return result


@contextmanager
def torch_threads(count: int = 1):
    """Run PyTorch with ``count`` intra-op threads, then restore. Batch-1 steps are op
    overhead, and a thread pool on a busy machine makes them many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def rollout_torch(policy: Policy, game: EmbeddedGame, frames: int, start: int = 0, temperature: float = 1.0) -> Rollout:
    """The same rollout through PyTorch: the exported function run eagerly, which is
    ``policy.step`` plus the distributions, through the reference modules (not the fused
    ones the export uses: the parity test checks both agree)."""
    graph = StepGraph(policy, temperature, fused=False)
    state = list(policy.initial_state(1).values())
    uniform = torch.full((1, policy.noise_size), 0.5)
    names, rows = graph.output_names, []
    with torch_threads(1):
        for i in _steps(game, frames, start):
            t = lambda a: torch.from_numpy(np.asarray(a[i : i + 1]))  # noqa: E731  (1, .)
            values = graph(t(game.floats), t(game.ids), t(game.controller), uniform, *state)
            out = {n: v.numpy() for n, v in zip(names, values)}
            state = list(values[len(names) - len(state) :]) if state else []
            rows.append(out)
    return _collect(rows, start)


def compare(reference: Rollout, other: Rollout) -> dict:
    """Drift of ``other`` from ``reference`` over the same frames.

    ``max_rel_error``: max over frames, components and classes of
    ``|p - p_ref| / max(p_ref, 1e-3)``; ``max_abs_error``; ``mean_kl`` (nats, per frame and
    component); ``target_agreement`` (fraction of frames x heads with the same choice).
    """
    missing = sorted(set(reference.probs) - set(other.probs))
    if missing:
        raise DeployError(
            f"no probabilities for {', '.join(missing)} to compare: a bot graph (exported with "
            "--no-probs) has only the choices; compare the full export instead"
        )
    rel, abs_err, kls = 0.0, 0.0, []
    for name, ref in reference.probs.items():
        got = other.probs[name].astype(np.float64)
        ref = ref.astype(np.float64)
        diff = np.abs(got - ref)
        rel = max(rel, float((diff / np.maximum(np.abs(ref), REL_FLOOR)).max()))
        abs_err = max(abs_err, float(diff.max()))
        kls.append(_kl(ref, got, binary=name == "buttons"))
    return {
        "max_rel_error": rel,
        "max_abs_error": abs_err,
        "mean_kl": float(np.mean(kls)),
        "target_agreement": float((reference.targets == other.targets).mean()),
        "frames": len(reference),
    }


def _kl(ref: np.ndarray, got: np.ndarray, binary: bool) -> float:
    eps = 1e-9
    if binary:  # independent Bernoullis, summed over buttons
        ref, got = np.stack([ref, 1 - ref], -1), np.stack([got, 1 - got], -1)
        return float((ref * (np.log(ref + eps) - np.log(got + eps))).sum((-1, -2)).mean())
    return float((ref * (np.log(ref + eps) - np.log(got + eps))).sum(-1).mean())


def accuracy(rollout: Rollout, game: EmbeddedGame, heads: list[int] | None = None) -> float:
    """Fraction of frames x heads (all, or the given target columns) where the chosen
    class is the recorded next input."""
    rows = np.arange(rollout.start, rollout.start + len(rollout)) + 1
    cols = slice(None) if heads is None else list(heads)
    return float((rollout.targets[:, cols] == game.targets[rows][:, cols]).mean())


def warm_start_state(model: OnnxPolicy | str | Path, games: list[EmbeddedGame], frames: int) -> dict[str, np.ndarray]:
    """The mean state after the first ``frames`` frames of each game (boolean masks: the
    majority), a start state closer to mid-game than zeros."""
    model = model if isinstance(model, OnnxPolicy) else OnnxPolicy(model)
    finals = [rollout_onnx(model, g, frames).final_state for g in games if len(g) > frames + 1]
    if not finals:
        raise DeployError(f"no calibration game is longer than {frames} frames")
    out = {}
    for key in model.state_keys:
        stacked = np.stack([f[key] for f in finals])
        mean = stacked.astype(np.float64).mean(0)
        out[key] = (mean >= 0.5) if stacked.dtype == bool else mean.astype(stacked.dtype)
    return out


def calibration_feeds(model: OnnxPolicy | str | Path, games: list[EmbeddedGame], frames: int) -> list[dict]:
    """About ``frames`` per-frame inputs (states included) spread over ``games``."""
    model = model if isinstance(model, OnnxPolicy) else OnnxPolicy(model)
    per_game = max(frames // max(len(games), 1), 2)
    feeds: list[dict] = []
    for game in games:
        if len(game) > 2:
            feeds += rollout_onnx(model, game, per_game, keep_feeds=True).feeds
    return feeds[: max(frames, 1)]
