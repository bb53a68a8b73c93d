"""Trained players in the simulator: a checkpoint (PyTorch, all N games in one batched
step) or an exported ONNX model (onnxruntime, one game at a time).

Both embed the env's frames with the training code path (``embed_state`` on
``Frames.context``) and feed back their own last output as the controller input, the
delay-0 alignment of :mod:`workbench.data.dataset` (step i sees frame i and the
controller pressed at frame i, and predicts frame i + 1). Argmax play by default;
``sample=True`` draws with seeded noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.sim.frames import Frames


class CheckpointBot:
    """A checkpoint folder's policy, stepped for every game at once."""

    def __init__(self, path: str | Path, seed: int = 0, device: str = "cpu", sample: bool = False):
        import torch

        from workbench.embed import ControllerSpec, StateLayout
        from workbench.train.checkpoint import load_policy

        self.torch = torch
        self.policy, config, self.folder = load_policy(path)
        self.policy.to(device)
        self.device, self.sample = device, sample
        self.layout = StateLayout(config.embed)
        spec = ControllerSpec(config.embed.controller)
        self.neutral = spec.decode(spec.encode(np.zeros((1, 13), np.float32)))  # (1, 13)
        self.generator = torch.Generator().manual_seed(seed)
        self.name = str(path)
        self.state = None
        self.last: np.ndarray | None = None

    def reset(self, games=None) -> None:
        if games is None or self.state is None:
            self.state, self.last = None, None
            return
        games = np.atleast_1d(games)
        index = self.torch.as_tensor(games, device=self.device)
        fresh = self.policy.initial_state(len(games), device=self.device)
        self.state = _put_state(self.state, index, fresh)
        self.last[games] = self.neutral

    def act(self, obs: Frames, port: int) -> np.ndarray:
        from workbench.embed import embed_state

        torch = self.torch
        n = len(obs)
        if self.state is None:
            self.state = self.policy.initial_state(n, device=self.device)
            self.last = np.repeat(self.neutral, n, axis=0)
        floats, ids = embed_state(obs.context(port), self.layout)  # (N, F), (N, K)
        with torch.no_grad():
            uniform = torch.rand((n, self.policy.noise_size), generator=self.generator) if self.sample else None
            _, controller, self.state = self.policy.step(
                torch.as_tensor(floats, device=self.device),
                torch.as_tensor(ids, device=self.device),
                torch.as_tensor(self.last, device=self.device),
                self.state,
                uniform=uniform,
            )
        self.last = controller.float().cpu().numpy()  # (N, 13)
        return self.last.copy()


def _put_state(state, index, fresh):
    """Rows ``index`` of a (nested) recurrent state replaced by ``fresh``'s."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return type(state)(_put_state(s, index, f) for s, f in zip(state, fresh))
    if isinstance(state, dict):
        return {k: _put_state(state[k], index, fresh[k]) for k in state}
    state = state.clone()
    state[index] = fresh.to(state.dtype)
    return state


class OnnxBot:
    """An exported model; each game keeps its own recurrent state and last controller."""

    def __init__(self, path: str | Path, seed: int = 0, sample: bool = False):
        from workbench.deploy.runtime import OnnxPolicy
        from workbench.embed import StateLayout

        self.model = OnnxPolicy(path)
        self.layout = StateLayout(self.model.sidecar.embed())
        spec = self.model.sidecar.spec()
        self.neutral = spec.decode(spec.encode(np.zeros((1, 13), np.float32)))
        self.rng = np.random.default_rng(seed)
        self.sample, self.name = sample, str(path)
        self.states: list[dict] | None = None
        self.last: np.ndarray | None = None

    def reset(self, games=None) -> None:
        if games is None or self.states is None:
            self.states = None
            return
        for g in np.atleast_1d(games):
            self.states[g] = self.model.initial_state(warm=True)
            self.last[g] = self.neutral[0]

    def act(self, obs: Frames, port: int) -> np.ndarray:
        from workbench.embed import embed_state

        n = len(obs)
        if self.states is None:
            self.states = [self.model.initial_state(warm=True) for _ in range(n)]
            self.last = np.repeat(self.neutral, n, axis=0)
        floats, ids = embed_state(obs.context(port), self.layout)  # (N, F), (N, K)
        for g in range(n):  # the exported step takes one game (batch 1)
            uniform = self.rng.random((1, self.model.sidecar.noise_size), dtype=np.float32) if self.sample else None
            outputs, self.states[g] = self.model.step(
                floats[g : g + 1], ids[g : g + 1], self.last[g : g + 1], self.states[g], uniform
            )
            self.last[g] = outputs["next_controller"][0]
        return self.last.copy()
