"""The delay alignment, written once.

With a delay of D frames, step i of a game sees

* the post-frame state of frame i (``floats``/``ids`` row i), and
* the agent's own controller at frame i + D (``controller`` row i + D),

and its target is the controller at frame i + D + 1 (``targets`` row i + D + 1). With
D = 0 the agent sees the result of frame i and the input it pressed at frame i, and
predicts frame i + 1. The agent always knows its own past inputs; delay only hides the
game state. No input row is ever later than i + D, so a target never leaks into an
input. The repeat-last baseline predicts the target row i + D + 1 to equal row i + D.

Every user (training windows in :func:`workbench.data.dataset.gather`, evaluation in
:func:`workbench.eval.evaluate.predict_segment`, attention traces and the repeat-last
baseline) takes its rows from :func:`align`; ``tests/test_data_align.py`` rewrites a
target frame and checks, for all four, that nothing the model sees moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlignedRows:
    """Cache rows of one or more steps, all the same shape as the state rows."""

    state: np.ndarray  # frame i: floats, ids
    controller: np.ndarray  # frame i + D: the agent's own controller (and the baseline's guess)
    target: np.ndarray  # frame i + D + 1: what the policy predicts


def align(state_rows: np.ndarray, delay: int | np.ndarray) -> AlignedRows:
    """Rows for steps whose state rows are ``state_rows`` (any shape) at ``delay``
    (an int or an array that broadcasts against ``state_rows``, e.g. ``(B, 1)``)."""
    state_rows = np.asarray(state_rows)
    controller = state_rows + delay
    return AlignedRows(state=state_rows, controller=controller, target=controller + 1)


def step_count(frames: int, delay: int) -> int:
    """How many steps a game of ``frames`` cache rows has at ``delay`` (its last target
    row is ``frames - 1``); at most 0."""
    return max(frames - delay - 1, 0)


def segment_steps(start_row: int, frames: int, delay: int, first: int = 0, count: int | None = None) -> AlignedRows:
    """The aligned rows of steps ``first .. first + count - 1`` of a game whose rows start
    at ``start_row`` (all its remaining steps when ``count`` is None)."""
    last = step_count(frames, delay)
    stop = last if count is None else min(first + count, last)
    return align(start_row + np.arange(first, max(stop, first)), delay)
