"""The ``melee-sim`` backend: an adapter to melee-sim-light's ``melee_sim`` package, for
users who have it installed with their own ISO-extracted data (it is not on the package
index; nothing here ships or fetches it).

What the adapter expects of ``melee_sim`` (its libmelee-style vectorised interface):
``melee_sim.make_env(num_envs=N, characters=(internal_id, internal_id), stage=libmelee
stage id, seed=S)`` returning an object whose ``reset()`` and ``step(controllers)`` give a
dict of ``(N, 2)`` arrays named like libmelee's ``PlayerState`` attributes
(``position_x``, ``position_y``, ``percent``, ``stock``, ``action``, ``action_frame``,
``facing``, ``on_ground``, ``jumps_left``, ``shield_strength``, ``hitlag_left``,
``hitstun_frames_left``, ``invulnerable``, ``speed_air_x_self``, ``speed_y_self``,
``speed_x_attack``, ``speed_y_attack``, ``speed_ground_x_self``) plus ``frame`` (N,) and
``done`` (N,). ``controllers`` are passed in libmelee units (N, 2, 13): sticks in [0, 1].
The adapter turns its output into store frames, so the rest of the workbench is unchanged.
"""

from __future__ import annotations

import numpy as np

from workbench.sim.env import DEFAULT_MAX_FRAMES, RewardConfig, SimError, check_controllers, frame_rewards
from workbench.sim.frames import Frames, empty_items
from workbench.types import (
    EXTERNAL_TO_INTERNAL,
    PLAYER_FIELDS,
    STAGE_TO_LIBMELEE,
    character_id,
    stage_id,
    stick_to_libmelee,
)

INSTALL_HINT = (
    "the melee-sim backend needs melee-sim-light's `melee_sim` package, which is not "
    "on PyPI: install it from its repository with your ISO-extracted data "
    "(pip install -e path/to/melee-sim-light)"
)
# store field <- melee_sim (libmelee) name
FIELDS = {
    "x": "position_x",
    "y": "position_y",
    "percent": "percent",
    "stocks": "stock",
    "action": "action",
    "action_frame": "action_frame",
    "on_ground": "on_ground",
    "jumps_left": "jumps_left",
    "shield": "shield_strength",
    "hitlag": "hitlag_left",
    "hitstun": "hitstun_frames_left",
    "speed_air_x_self": "speed_air_x_self",
    "speed_y_self": "speed_y_self",
    "speed_x_attack": "speed_x_attack",
    "speed_y_attack": "speed_y_attack",
    "speed_ground_x_self": "speed_ground_x_self",
}


def import_melee_sim():
    try:
        import melee_sim
    except ImportError:
        raise SimError(INSTALL_HINT) from None
    return melee_sim


class MeleeSimEnv:
    backend = "melee-sim"

    def __init__(
        self,
        num_games: int = 1,
        characters: tuple[str, str] = ("fox", "fox"),
        stage: str | int = "fd",
        seed: int = 0,
        max_frames: int = DEFAULT_MAX_FRAMES,
        reward: RewardConfig | None = None,
        **_ignored,
    ):
        module = import_melee_sim()
        try:
            self.stage = stage if isinstance(stage, int) else stage_id(stage)
            internal = tuple(EXTERNAL_TO_INTERNAL[character_id(c)] for c in characters)
        except ValueError as err:
            raise SimError(str(err)) from None
        self.num_games, self.max_frames, self.seed = int(num_games), int(max_frames), seed
        self.reward = reward or RewardConfig()
        self.characters = internal
        self.sim = module.make_env(
            num_envs=self.num_games, characters=internal, stage=STAGE_TO_LIBMELEE[self.stage], seed=seed
        )
        self._items = empty_items(self.num_games)
        self._last: Frames | None = None
        self._ctrl = np.zeros((self.num_games, 2, 13), np.float32)

    def frames_of(self, out: dict, ctrl: np.ndarray) -> Frames:
        n = self.num_games
        columns = {}
        for p in range(2):
            values = {name: np.asarray(out[src])[:, p] for name, src in FIELDS.items()}
            values["facing"] = np.where(np.asarray(out["facing"])[:, p], 1, -1)
            values["hurtbox"] = np.asarray(out["invulnerable"])[:, p].astype(np.uint8)
            values["character"] = np.full(n, self.characters[p])
            for k, name in enumerate(("stick_x", "stick_y", "cstick_x", "cstick_y", "trigger")):
                values[name] = ctrl[:, p, k]
            bits = np.zeros(n, np.uint16)
            for k, bit in enumerate((0x0100, 0x0200, 0x0400, 0x0800, 0x0010, 0x0040, 0x0020, 0x0008)):
                bits |= np.where(ctrl[:, p, 5 + k] > 0.5, bit, 0).astype(np.uint16)
            values["buttons"], values["last_hit_by"], values["l_cancel"] = bits, np.full(n, 6), np.zeros(n)
            for name, (dtype, _) in PLAYER_FIELDS.items():
                columns[f"p{p}_{name}"] = np.asarray(values[name]).astype(dtype)
            columns[f"p{p}_present"] = np.ones(n, bool)
        return Frames(np.asarray(out["frame"], np.int32), columns, self.stage, self._items)

    def reset(self, seed: int | None = None) -> Frames:
        self._ctrl[:] = 0.0
        self._last = self.frames_of(self.sim.reset(), self._ctrl)
        return self._last

    def step(self, controllers):
        ctrl = check_controllers(controllers, self.num_games)
        libmelee = ctrl.copy()
        libmelee[..., :4] = stick_to_libmelee(ctrl[..., :4])
        out = self.sim.step(libmelee)
        before, frames = self._last, self.frames_of(out, ctrl)
        stock = lambda f: np.stack([f.columns[f"p{p}_stocks"] for p in range(2)], 1).astype(np.int64)  # noqa: E731
        pct = lambda f: np.stack([f.columns[f"p{p}_percent"] for p in range(2)], 1)  # noqa: E731
        done = np.asarray(out["done"], bool) | (frames.frame + 1 >= self.max_frames)
        s, pc = stock(frames), pct(frames)
        winner = np.where(
            s[:, 0] != s[:, 1],
            np.where(s[:, 0] > s[:, 1], 0, 1),
            np.where(pc[:, 0] != pc[:, 1], np.where(pc[:, 0] < pc[:, 1], 0, 1), 2),
        )
        rewards = frame_rewards(self.reward, stock(before), pct(before), s, pc, done, winner)
        games = np.nonzero(done)[0]
        info = {
            "reset": np.zeros(self.num_games, bool),
            "final": {"games": games, "winner": winner[games], "frames": frames.frame[games] + 1, "stocks": s[games]},
        }
        self._last = frames
        return frames, rewards, done, info

    def close(self) -> None:
        close = getattr(self.sim, "close", None)
        if close is not None:
            close()
