"""The runtime agent: a libmelee ``GameState`` in, a ``ControllerState`` out, every frame.

Per frame: the game state is embedded with the training layout (the bot route of
``workbench.embed``: ``gamestate_blocks`` -> ``live_context`` -> :class:`LiveEmbedder`,
the precompiled form of ``embed_state`` that writes straight into the session's bound
input rows; ``tests/test_embed_live.py`` checks it equals ``embed_state``, which
``tests/test_embed_state.py`` checks against stored frames), the exported step runs with
the agent's own most recent output as its controller input (the training alignment of
:mod:`workbench.data.dataset`), and the chosen controller goes through a delay queue:
with ``delay=D`` an output reaches the controller D frames later, as Slippi's online
delay would deliver it. Countdown frames (before frame 0) are not stepped when the
model was trained without them; a bot presses neutral there.

Bad input never raises: a missing player, a non-finite feature or an action id outside
the known range gives the neutral controller for that frame, counts one warning in
:attr:`Agent.warnings` and leaves the model's state untouched.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from pathlib import Path

import numpy as np

from workbench.deploy.runtime import BoundStep, OnnxPolicy
from workbench.embed import StateLayout
from workbench.embed.controller import controller_state
from workbench.embed.live import LiveEmbedder
from workbench.replay.live import PLAYER_COLUMNS, gamestate_blocks
from workbench.types import LIBMELEE_TO_STAGE, NUM_ACTIONS, ControllerState

NEUTRAL = ControllerState.neutral()
ACTION = PLAYER_COLUMNS.index("action")


class Agent:
    """Plays one port with an exported model (see the module docstring).

    ``port``/``opponent_port``: libmelee's 1-based ports (the opponent defaults to the
    other player in the game). ``sample``: draw from the policy with seeded noise instead
    of taking the most likely controller. ``warm_start``: start games from the model's
    saved warm-start state when it has one.
    """

    def __init__(
        self,
        model: OnnxPolicy | str | Path,
        port: int,
        opponent_port: int | None = None,
        delay: int = 0,
        sample: bool = False,
        seed: int | None = None,
        warm_start: bool = True,
        name_ids: tuple[int, int] = (0, 0),
    ):
        self.model = model if isinstance(model, OnnxPolicy) else OnnxPolicy(model)
        self.embed_config = self.model.sidecar.embed()
        self.layout = StateLayout(self.embed_config)
        self.embedder = LiveEmbedder(self.layout)
        self.port, self.opponent_port, self.delay = port, opponent_port, int(delay)
        self.sample, self.name_ids = sample, tuple(name_ids)
        self.rng = np.random.default_rng(seed)
        self.step_fn = BoundStep(self.model)
        self.start_state = self.model.initial_state(warm=warm_start)
        spec = self.model.sidecar.spec()
        self.neutral_input = spec.decode(spec.encode(np.zeros((1, 13), np.float32)))  # (1, 13)
        self.warnings: Counter[str] = Counter()
        # ns of the last frame; embed_row (libmelee -> player blocks) is part of embed
        self.timing = {"embed": 0, "model": 0, "decode": 0, "embed_row": 0}
        self._row_ns = 0
        self.reset()

    def reset(self) -> None:
        """A new game: start state, neutral controller history, empty delay queue."""
        self.step_fn.reset(self.start_state)
        np.copyto(self.step_fn.controller, self.neutral_input)
        self.queue: deque[ControllerState] = deque([NEUTRAL] * self.delay)
        self.frame: int | None = None
        self.frames_played = 0

    # -- one frame -------------------------------------------------------------------------
    def step(self, gamestate) -> ControllerState:
        """One frame: the controller to press now (libmelee units)."""
        frame = int(getattr(gamestate, "frame", 0))
        if self.frame is not None and frame < self.frame:
            self.reset()  # frames went back: a new game began without a reset
        self.frame = frame
        if frame < 0 and self.embed_config.skip_countdown:
            return NEUTRAL
        start = time.perf_counter_ns()
        try:
            problem = self._embed(gamestate)
        except Exception:  # a malformed GameState must not end the game loop
            problem = "embed_error"
        embedded = time.perf_counter_ns()
        if problem:
            return self._skip(problem)
        try:
            if self.sample:
                self.rng.random(out=self.step_fn.uniform, dtype=np.float32)
            self.step_fn.run()
        except Exception:
            return self._skip("model_error")
        stepped = time.perf_counter_ns()
        chosen = self.step_fn.outputs["next_controller"]  # (1, 13)
        np.copyto(self.step_fn.controller, chosen)  # the agent's own input next frame
        pressed = self._through_delay(controller_state(chosen[0]))
        self.timing = {
            "embed": embedded - start,
            "model": stepped - embedded,
            "decode": time.perf_counter_ns() - stepped,
            "embed_row": self._row_ns - start,
        }
        self.frames_played += 1
        return pressed

    def _embed(self, gamestate) -> str | None:
        """Write this frame's features into the model's inputs; a warning key on bad input."""
        players = gamestate.players
        opponent = self.opponent_port or next((p for p in sorted(players) if p != self.port), None)
        if self.port not in players or opponent not in players:
            return "missing_player"
        ports = (self.port - 1, opponent - 1)
        live = gamestate_blocks(gamestate, list(ports))
        self._row_ns = time.perf_counter_ns()
        for block in live.players:
            if not 0 <= block[0, ACTION] < NUM_ACTIONS:
                return "unknown_action"
        stage = LIBMELEE_TO_STAGE.get(int(getattr(gamestate.stage, "value", gamestate.stage)), 0)
        floats, ids = self.step_fn.floats, self.step_fn.ids  # (1, F), (1, K): bound inputs
        # every column is rewritten each frame, so a skipped frame leaves nothing behind
        if not self.embedder.embed_live(live, 0, stage, ports, self.name_ids, floats, ids):
            return "nan_state"  # a non-finite feature
        return None

    @property
    def last_floats(self) -> np.ndarray:
        """(1, F): the state features of the last embedded frame (the model's input row)."""
        return self.step_fn.floats

    @property
    def last_ids(self) -> np.ndarray:
        """(1, K): the id columns of the last embedded frame."""
        return self.step_fn.ids

    def _skip(self, problem: str) -> ControllerState:
        """Neutral in place of this frame's output (pressed ``delay`` frames later); what
        is due now is still pressed. The model's state is left as it was."""
        self.warnings[problem] += 1
        np.copyto(self.step_fn.controller, self.neutral_input)
        return self._through_delay(NEUTRAL)

    def _through_delay(self, chosen: ControllerState) -> ControllerState:
        self.queue.append(chosen)
        return self.queue.popleft()
