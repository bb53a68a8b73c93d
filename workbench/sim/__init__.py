"""An open, vectorised, ISO-free Melee-LIKE simulator, and one environment interface over
three backends: ``sim`` (this simulator), ``dolphin`` (real Melee through libmelee) and
``melee-sim`` (melee-sim-light's ``melee_sim`` package, when installed).

It is a Melee-*like* game, not Melee: it is built from real numbers (character
attributes, every simulated move's frame data and hitboxes, stage geometry, the knockback
formulas; ``data/sim/README.md`` cites each table) but simulates a subset of the game
(the README's "Simulator" section lists what is and is not simulated).

The interface (every backend)::

    env = make_env(backend="sim", num_games=N, characters=("fox", "fox"), stage="fd",
                   seed=0, max_frames=28800, reward=RewardConfig.preset("sparse"))
    obs = env.reset(seed=None)            # Frames: the frame store's columns, (N,) each
    obs, rewards, done, info = env.step(controllers)   # controllers (N, 2, 13) float32

* ``obs`` is a :class:`Frames`: ``obs.columns["p0_x"]`` etc. with the names, dtypes,
  units and action-state ids of the frame store (:data:`workbench.types.PLAYER_FIELDS`),
  ``obs.frame`` (N,), ``obs.stage``; ``embed_state(obs.context(perspective), layout)``
  embeds it exactly as a stored game (a test checks the equality through the store).
* ``controllers[g, p]`` is player p's controller in the policy's 13-component layout
  (``workbench.embed.controller.CONTROLLER_COLUMNS``: main x, main y, c x, c y in
  [-1, 1], trigger in [0, 1], then A B X Y Z L R D_UP as 0/1): what a Policy predicts and
  ``ControllerSpec.decode`` returns. Wrong shapes and NaN/inf raise :class:`SimError`;
  finite values out of range are clamped.
* ``rewards`` (N, 2) float32, zero-sum, from :class:`RewardConfig` (sparse result,
  stocks, damage; presets ``sparse``, ``slippi-ai``, ``hal``).
* ``done`` (N,) bool: the game ended this step (a stock-out or the frame limit).
  **Auto-reset**: a game that is done is put back to its start at the beginning of the
  next ``step`` (so the obs returned with ``done`` is the final frame);
  ``info["final"]`` holds the ended games' indices, winners (0, 1, or 2 = draw), frame
  counts, stocks and KOs; ``info["reset"]`` marks the games this step restarted.
* ``env.save(games=None) -> SimState`` and ``env.restore(saved, games=None)`` copy any
  games' full state (struct of arrays); the simulator is deterministic, so a restored
  game replays exactly under the same controllers.

The simulator's step runs N games in one numba-compiled pass (no Python loop per game);
``WORKBENCH_SIM_JIT=0`` runs the same code as plain Python (the reference).
"""

from __future__ import annotations

from workbench.sim.env import CONTROLLER_DIM, RewardConfig, SimEnv, SimError, check_controllers
from workbench.sim.frames import Frames, observe
from workbench.sim.state import SimState
from workbench.sim.tables import GameData, SimDataError, load_game_data

BACKENDS = ("sim", "dolphin", "melee-sim")


def make_env(backend: str = "sim", **kwargs):
    """An environment of ``backend`` with the common interface (see the module docstring)."""
    if backend == "sim":
        return SimEnv(**kwargs)
    if backend == "dolphin":
        from workbench.sim.backends.dolphin import DolphinEnv

        return DolphinEnv(**kwargs)
    if backend in ("melee-sim", "melee_sim"):
        from workbench.sim.backends.meleesim import MeleeSimEnv

        return MeleeSimEnv(**kwargs)
    raise SimError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")


__all__ = [
    "BACKENDS",
    "CONTROLLER_DIM",
    "Frames",
    "GameData",
    "RewardConfig",
    "SimDataError",
    "SimEnv",
    "SimError",
    "SimState",
    "check_controllers",
    "load_game_data",
    "make_env",
    "observe",
]
