"""onnxruntime sessions for an exported step.

:class:`OnnxPolicy` loads a model and its sidecar and runs one frame functionally
(``step(inputs, state) -> outputs, new_state``): simple, used by parity checks,
calibration and warm starts. :class:`BoundStep` is the bot's fast path: fixed input
arrays written in place, outputs written into fixed arrays, and two state buffers that
swap roles each frame (the outputs of frame t are the inputs of frame t+1), all bound
once through ``IOBinding`` so a frame is a single ``run_with_iobinding`` call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.deploy.errors import DeployError, require
from workbench.deploy.graph import STATE_IN, STATE_OUT
from workbench.deploy.sidecar import Sidecar, sidecar_path


def import_ort():
    """onnxruntime, or a one-line error saying how to install it."""
    return require("onnxruntime", "onnxruntime")


def session_options(threads: int = 1, profile_prefix: str | None = None):
    """One intra-op and one inter-op thread, sequential execution, all graph fusions."""
    ort = import_ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: the optimizer's notes are not the user's business
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return options


class OnnxPolicy:
    """An exported step and its sidecar, run on the CPU with one thread by default."""

    def __init__(self, path: str | Path, threads: int = 1, profile_prefix: str | None = None):
        ort = import_ort()
        self.path = Path(path)
        if not self.path.is_file():
            raise DeployError(
                f"no model at {self.path}: export one with `workbench export --checkpoint RUN --out model.onnx`"
            )
        self.sidecar = Sidecar.load(sidecar_path(self.path))
        try:
            self.session = ort.InferenceSession(
                str(self.path), session_options(threads, profile_prefix), providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise DeployError(f"onnxruntime cannot load {self.path}: {str(err).splitlines()[0]}") from None
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.state_keys = self.sidecar.state_keys

    def initial_state(self, warm: bool = True) -> dict[str, np.ndarray]:
        """The start state of a game: the saved warm start if there is one (and ``warm``),
        else zeros."""
        state = self.sidecar.zero_state()
        if warm and self.sidecar.warm_start:
            path = self.path.parent / self.sidecar.warm_start
            try:
                with np.load(path, allow_pickle=False) as saved:
                    state = {k: saved[k].astype(v.dtype).reshape(v.shape) for k, v in state.items()}
            except (OSError, KeyError, ValueError) as err:
                raise DeployError(
                    f"unreadable warm-start state {path} ({err}); re-export the "
                    "model or delete the file and its sidecar entry"
                ) from None
        return state

    def neutral_uniform(self) -> np.ndarray:
        """Noise of 0.5 everywhere: the graph then takes the argmax. (1, noise_size)."""
        return np.full((1, self.sidecar.noise_size), 0.5, dtype=np.float32)

    def step(
        self,
        floats: np.ndarray,
        ids: np.ndarray,
        controller: np.ndarray,
        state: dict[str, np.ndarray],
        uniform: np.ndarray | None = None,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One frame: floats (1, F), ids (1, K), controller (1, 13), state -> outputs
        (targets, next_controller, probs_*) and the new state."""
        feed = self.feed(floats, ids, controller, state, uniform)
        values = self.session.run(self.output_names, feed)
        outputs, new_state = {}, {}
        for name, value in zip(self.output_names, values):
            if name.startswith(STATE_OUT):
                new_state[name[len(STATE_OUT) :]] = value
            else:
                outputs[name] = value
        return outputs, new_state

    def feed(
        self,
        floats: np.ndarray,
        ids: np.ndarray,
        controller: np.ndarray,
        state: dict[str, np.ndarray],
        uniform: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """The input dict of one frame (also what static calibration reads)."""
        feed = {
            "floats": np.asarray(floats, np.float32).reshape(1, -1),
            "ids": np.asarray(ids, np.int32).reshape(1, -1),
            "controller": np.asarray(controller, np.float32).reshape(1, -1),
            "uniform": self.neutral_uniform() if uniform is None else np.asarray(uniform, np.float32),
        }
        feed.update({STATE_IN + k: state[k] for k in self.state_keys})
        return feed


class BoundStep:
    """The per-frame fast path over an :class:`OnnxPolicy` (see the module docstring).

    Write ``floats``, ``ids``, ``controller`` and ``uniform`` in place, call :meth:`run`,
    read ``outputs[name]``; :attr:`state` is the state after the last run.
    """

    def __init__(self, model: OnnxPolicy):
        ort = import_ort()
        self.model, sidecar = model, model.sidecar
        shapes = {t["name"]: (t["shape"], t["dtype"]) for t in sidecar.inputs + sidecar.outputs}
        make = lambda name: np.zeros(*shapes[name])  # noqa: E731
        self.floats, self.ids, self.controller = make("floats"), make("ids"), make("controller")
        self.uniform = model.neutral_uniform()
        self.outputs = {n: make(n) for n in model.output_names if not n.startswith(STATE_OUT)}
        self._states = [sidecar.zero_state(), sidecar.zero_state()]
        self._values = []  # OrtValues share the numpy arrays' memory: keep both alive
        self._bindings = [self._bind(ort, phase) for phase in (0, 1)]
        self._phase = 0

    def _value(self, ort, array: np.ndarray):
        value = ort.OrtValue.ortvalue_from_numpy(array)
        self._values.append(value)
        return value

    def _bind(self, ort, phase: int):
        """Binding that reads state set ``phase`` and writes state set ``1 - phase``."""
        binding = self.model.session.io_binding()
        for name, array in (
            ("floats", self.floats),
            ("ids", self.ids),
            ("controller", self.controller),
            ("uniform", self.uniform),
        ):
            binding.bind_ortvalue_input(name, self._value(ort, array))
        for name, array in self.outputs.items():
            binding.bind_ortvalue_output(name, self._value(ort, array))
        for key in self.model.state_keys:
            binding.bind_ortvalue_input(STATE_IN + key, self._value(ort, self._states[phase][key]))
            binding.bind_ortvalue_output(STATE_OUT + key, self._value(ort, self._states[1 - phase][key]))
        return binding

    @property
    def state(self) -> dict[str, np.ndarray]:
        """The state the next run reads (the one the last run wrote)."""
        return self._states[self._phase]

    def reset(self, state: dict[str, np.ndarray]) -> None:
        """Start from ``state`` (copied into the buffers; shapes must match)."""
        for key, array in self.state.items():
            np.copyto(array, state[key])

    def run(self) -> None:
        """One frame with the current inputs; the new state becomes :attr:`state`."""
        self.model.session.run_with_iobinding(self._bindings[self._phase])
        self._phase ^= 1
