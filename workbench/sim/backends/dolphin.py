"""The ``dolphin`` backend: real Melee in Slippi Dolphin through libmelee, behind the
same interface as the simulator (one game per env: one Dolphin per process).

Each step presses both players' controllers (``(1, 2, 13)``, the policy layout, converted
by :func:`workbench.embed.controller.controller_state` into libmelee units) and advances
the console one frame; the observation is the frame as the store would hold it (the one
libmelee adapter, :func:`workbench.replay.live.gamestate_row`). Menus are handled by
libmelee's ``MenuHelper`` for both ports (or a ``menu`` callback). Tests drive it with
libmelee's file console (a replay played back) and recording controllers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from workbench.sim.env import DEFAULT_MAX_FRAMES, RewardConfig, SimError, check_controllers, frame_rewards
from workbench.sim.frames import Frames, empty_items
from workbench.types import (
    EXTERNAL_TO_INTERNAL,
    LIBMELEE_TO_STAGE,
    PLAYER_FIELDS,
    STAGE_TO_LIBMELEE,
    character_id,
    stage_id,
)


def _melee():
    try:
        import melee
    except ImportError:  # a core dependency; the message says what to install if it is gone
        raise SimError("the dolphin backend needs libmelee: pip install melee") from None
    return melee


class DolphinEnv:
    """``make_env(backend="dolphin", dolphin_path=..., iso_path=...)``, or with a ready
    ``console`` (anything with ``step() -> GameState | None``) and two ``pads`` (anything
    with ``press(ControllerState)``)."""

    backend = "dolphin"

    def __init__(
        self,
        num_games: int = 1,
        characters: tuple[str, str] = ("fox", "fox"),
        stage: str | int = "fd",
        seed: int = 0,
        max_frames: int = DEFAULT_MAX_FRAMES,
        reward: RewardConfig | None = None,
        dolphin_path: str | None = None,
        iso_path: str | None = None,
        console=None,
        pads=None,
        menu=None,
        ports: tuple[int, int] = (1, 2),
        **_ignored,
    ):
        if num_games != 1:
            raise SimError(
                f"the dolphin backend runs one game per env (one Dolphin per process); got num_games={num_games}"
            )
        self.num_games, self.max_frames, self.seed = 1, int(max_frames), seed
        self.reward = reward or RewardConfig()
        self.ports = tuple(ports)
        try:
            self.stage = stage if isinstance(stage, int) else stage_id(stage)
            self.characters = tuple(EXTERNAL_TO_INTERNAL[character_id(c)] for c in characters)
        except ValueError as err:
            raise SimError(str(err)) from None
        if console is None:
            console, pads = self._start_dolphin(dolphin_path, iso_path)
            menu = menu or self._menu_helper()
        if pads is None or len(pads) != 2:
            raise SimError("the dolphin backend needs two controllers (pads), one per player")
        self.console, self.pads, self.menu = console, pads, menu
        self._last = None
        self._frames = 0
        self._items = empty_items(1)

    # -- starting Dolphin ---------------------------------------------------------------
    def _start_dolphin(self, dolphin_path, iso_path):
        from workbench.deploy.controller import LibmeleeController

        melee = _melee()
        if not dolphin_path or not Path(dolphin_path).exists():
            raise SimError(f"no Dolphin at {dolphin_path}: pass dolphin_path (Slippi Dolphin)")
        if not iso_path or not Path(iso_path).is_file():
            raise SimError(f"no Melee ISO at {iso_path}: pass iso_path (an NTSC 1.02 ISO)")
        console = melee.Console(path=dolphin_path)
        raw = [melee.Controller(console=console, port=p, type=melee.ControllerType.STANDARD) for p in self.ports]
        console.run(iso_path=iso_path)
        if not console.connect():
            raise SimError("could not connect to Dolphin: is it Slippi Dolphin with the ISO?")
        for pad in raw:
            if not pad.connect():
                raise SimError("could not plug a virtual controller into Dolphin")
        self._raw_pads = raw
        return console, [LibmeleeController(pad) for pad in raw]

    def _menu_helper(self):
        melee = _melee()
        helper = melee.MenuHelper()
        character = [melee.enums.Character(c) for c in self.characters]
        stage = melee.enums.Stage(STAGE_TO_LIBMELEE[self.stage])

        def navigate(gamestate):
            for k, pad in enumerate(self._raw_pads):
                helper.menu_helper_simple(gamestate, pad, character[k], stage, autostart=(k == 0))

        return navigate

    # -- the interface ------------------------------------------------------------------
    def _in_game(self, gamestate) -> bool:
        melee = _melee()
        return gamestate.menu_state in (melee.enums.Menu.IN_GAME, melee.enums.Menu.SUDDEN_DEATH)

    def _next_game_frame(self):
        """Step the console (navigating menus) until an in-game frame; None at its end."""
        while True:
            gamestate = self.console.step()
            if gamestate is None:
                if getattr(self.console, "connected", False) and getattr(self.console, "is_dolphin", False):
                    continue
                return None
            if self._in_game(gamestate):
                return gamestate
            if self.menu is not None:
                self.menu(gamestate)

    def frames_of(self, gamestate) -> Frames:
        from workbench.replay.live import gamestate_row

        row = gamestate_row(gamestate, [p - 1 for p in self.ports])
        columns = {}
        for p in range(2):
            for name, (dtype, _) in PLAYER_FIELDS.items():
                columns[f"p{p}_{name}"] = row[f"p{p}_{name}"].astype(dtype)
            columns[f"p{p}_present"] = row[f"p{p}_present"].astype(bool)
        items = {k: v for k, v in row.items() if k.startswith("item_")} or self._items
        stage = LIBMELEE_TO_STAGE.get(int(getattr(gamestate.stage, "value", gamestate.stage)), self.stage)
        return Frames(row["frame"].astype(np.int32), columns, stage, items)

    def reset(self, seed: int | None = None) -> Frames:
        gamestate = self._next_game_frame()
        if gamestate is None:
            raise SimError("the console ended before a game started")
        self._last, self._frames = self.frames_of(gamestate), 0
        return self._last

    def step(self, controllers) -> tuple[Frames, np.ndarray, np.ndarray, dict]:
        from workbench.embed.controller import controller_state

        ctrl = check_controllers(controllers, 1)
        for p, pad in enumerate(self.pads):
            pad.press(controller_state(ctrl[0, p]))
        before = self._last
        gamestate = self._next_game_frame()
        self._frames += 1
        ended = gamestate is None
        frames = before if ended else self.frames_of(gamestate)
        stocks = np.stack([frames.columns[f"p{p}_stocks"] for p in range(2)], 1).astype(np.int64)
        percent = np.stack([frames.columns[f"p{p}_percent"] for p in range(2)], 1)
        done = np.array([ended or (stocks == 0).any() or self._frames >= self.max_frames])
        winner = np.array([_winner(stocks[0], percent[0]) if done[0] else -1])
        s0 = np.stack([before.columns[f"p{p}_stocks"] for p in range(2)], 1).astype(np.int64)
        p0 = np.stack([before.columns[f"p{p}_percent"] for p in range(2)], 1)
        rewards = frame_rewards(self.reward, s0, p0, stocks, percent, done, winner)
        info = {
            "reset": np.zeros(1, bool),
            "final": {
                "games": np.nonzero(done)[0],
                "winner": winner[done],
                "frames": np.array([self._frames])[done],
                "stocks": stocks[done],
            },
        }
        self._last = frames
        return frames, rewards, done, info

    def close(self) -> None:
        stop = getattr(self.console, "stop", None)
        if stop is not None and getattr(self.console, "is_dolphin", False):
            stop()


def _winner(stocks: np.ndarray, percent: np.ndarray) -> int:
    if stocks[0] != stocks[1]:
        return 0 if stocks[0] > stocks[1] else 1
    if percent[0] != percent[1]:
        return 0 if percent[0] < percent[1] else 1
    return 2
