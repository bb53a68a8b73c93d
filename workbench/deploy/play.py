"""``workbench play``: a bot in Dolphin through libmelee.

:func:`play_loop` is the game loop for any libmelee console: in game, each frame's
``GameState`` goes to the :class:`~workbench.deploy.agent.Agent` and its controller to
a :class:`~workbench.deploy.controller.ControllerAdapter`; in the menus a callback
navigates (libmelee's ``MenuHelper`` in :func:`play`). The tests run the same loop on
libmelee's file console over real replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.deploy.agent import Agent
from workbench.deploy.controller import ControllerAdapter, LibmeleeController
from workbench.deploy.errors import DeployError, require
from workbench.types import EXTERNAL_TO_INTERNAL, STAGE_TO_LIBMELEE, character_id, stage_id


@dataclass
class PlayOptions:
    model: str
    dolphin: str
    iso: str
    port: int
    character: str
    delay: int = 0
    stage: str = "fd"
    opponent_port: int | None = None
    connect_code: str = ""  # Slippi direct-connect code; empty plays locally
    games: int = 0  # stop after this many games (0: until interrupted)
    autostart: bool = False  # start the game from the stage screen (no human to press start)
    sample: bool = False
    seed: int | None = None


def _melee():
    return require("melee", "melee")


def check_options(options: PlayOptions):
    """Paths, port, character and stage, checked before Dolphin starts; returns the
    libmelee (character, stage) enums."""
    melee = _melee()
    if not Path(options.dolphin).exists():
        raise DeployError(
            f"no Dolphin at {options.dolphin}: give --dolphin the Slippi Dolphin executable or its folder"
        )
    if not Path(options.iso).is_file():
        raise DeployError(f"no Melee ISO at {options.iso}: give --iso the path to an NTSC 1.02 ISO")
    if options.port not in (1, 2, 3, 4):
        raise DeployError(f"--port {options.port}: choose 1 to 4")
    try:
        character = melee.enums.Character(EXTERNAL_TO_INTERNAL[character_id(options.character)])
        stage = melee.enums.Stage(STAGE_TO_LIBMELEE[stage_id(options.stage)])
    except (ValueError, KeyError) as err:
        raise DeployError(str(err).strip("'\"") or f"unknown stage {options.stage!r}") from None
    return character, stage


def play_loop(
    console,
    agent: Agent,
    adapter: ControllerAdapter,
    on_menu: Callable[[object], None] | None = None,
    max_games: int = 0,
    max_frames: int = 0,
    live: bool = False,
) -> dict:
    """Step ``console`` until it ends (or ``max_games``/``max_frames``): the agent plays
    in-game frames, ``on_menu`` handles the rest. A file console ends at its first
    ``None``; a ``live`` one (Dolphin) skips a ``None`` (no frame yet) while it stays
    connected. Returns counts and agent warnings."""
    melee = _melee()
    playing = (melee.enums.Menu.IN_GAME, melee.enums.Menu.SUDDEN_DEATH)
    frames = games = 0
    in_game = False
    while True:
        gamestate = console.step()
        if gamestate is None:
            if live and getattr(console, "connected", False):
                continue
            break
        if gamestate.menu_state in playing:
            in_game = True
            adapter.press(agent.step(gamestate))
            frames += 1
            if max_frames and frames >= max_frames:
                break
            continue
        if in_game:  # a game just ended
            in_game, games = False, games + 1
            agent.reset()
            if max_games and games >= max_games:
                break
        if on_menu is not None:
            on_menu(gamestate)
    return {"frames": frames, "games": games + int(in_game), "warnings": dict(agent.warnings)}


def play(options: PlayOptions) -> dict:
    """Start Dolphin with the ISO, navigate the menus, and play with the model."""
    character, stage = check_options(options)
    melee = _melee()
    agent = Agent(options.model, options.port, options.opponent_port, options.delay, options.sample, options.seed)
    try:
        console = melee.Console(path=options.dolphin)
        pad = melee.Controller(console=console, port=options.port, type=melee.ControllerType.STANDARD)
        console.run(iso_path=options.iso)
        if not console.connect():
            raise DeployError("could not connect to Dolphin: is it Slippi Dolphin with the ISO?")
        if not pad.connect():
            raise DeployError(f"could not plug a virtual controller into port {options.port}")
    except melee.console.InvalidDolphinPath as err:
        raise DeployError(f"libmelee rejects --dolphin {options.dolphin}: {err.message}") from None
    menu = melee.MenuHelper()
    adapter = LibmeleeController(pad)

    def navigate(gamestate) -> None:
        menu.menu_helper_simple(gamestate, pad, character, stage, options.connect_code, autostart=options.autostart)

    try:
        return play_loop(console, agent, adapter, navigate, max_games=options.games, live=True)
    finally:
        console.stop()
