"""Where a bot's controller goes: anything with ``press(ControllerState)``.

:class:`LibmeleeController` drives a virtual controller in Dolphin through libmelee;
:class:`RecordingController` keeps every press (tests, dry runs) and checks each is a
controller Melee accepts.
"""

from __future__ import annotations

from typing import Protocol

from workbench.deploy.errors import DeployError
from workbench.types import ControllerState


class ControllerAdapter(Protocol):
    """Receives one controller state per frame (libmelee units)."""

    def press(self, state: ControllerState) -> None: ...


class RecordingController:
    """Records every press; ``strict`` raises on an out-of-range or non-finite value."""

    def __init__(self, strict: bool = True):
        self.presses: list[ControllerState] = []
        self.strict = strict

    def press(self, state: ControllerState) -> None:
        if self.strict and not state.is_valid():
            raise DeployError(f"invalid controller state pressed: {state}")
        self.presses.append(state)


class LibmeleeController:
    """A ``melee.Controller`` fed with :class:`ControllerState` (sticks, the analog L
    trigger and the 8 trained buttons). ``console.step()`` flushes it. Every button is
    written every frame: the menu helper presses buttons on the same controller between
    games, so a cache of what is held would go stale."""

    def __init__(self, controller):
        import melee

        from workbench.replay.live import BUTTON_NAMES

        self.controller = controller
        self.enums = melee.enums.Button
        self.buttons = {b: getattr(melee.enums.Button, name) for b, name in BUTTON_NAMES.items()}

    def press(self, state: ControllerState) -> None:
        c, buttons = self.controller, self.enums
        c.tilt_analog(buttons.BUTTON_MAIN, state.main_x, state.main_y)
        c.tilt_analog(buttons.BUTTON_C, state.c_x, state.c_y)
        c.press_shoulder(buttons.BUTTON_L, state.trigger)
        for button, down in state.buttons.items():
            (c.press_button if down else c.release_button)(self.buttons[button])
