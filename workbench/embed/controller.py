"""Controller targets: discretise sticks, trigger and buttons, and decode them back to
libmelee controller values.

Raw controller arrays are ``(N, 13)`` float32 in Slippi units, columns in
:data:`CONTROLLER_COLUMNS`: main stick x/y and c-stick x/y in [-1, 1], the analog
trigger in [0, 1], then the 8 trained buttons as 0/1. Targets are ``(N, heads)`` int16,
one column per head of :class:`ControllerSpec`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.embed.config import ConfigError, ControllerConfig
from workbench.types import TRAINED_BUTTONS, ControllerState, stick_from_libmelee, stick_to_libmelee

BUTTON_NAMES = tuple(b.name for b in TRAINED_BUTTONS)  # A B X Y Z L R D_UP
CONTROLLER_COLUMNS = ("main_x", "main_y", "c_x", "c_y", "trigger", *BUTTON_NAMES)
CONTROLLER_MIRROR = np.array([-1, 1, -1, 1] + [1] * 9, dtype=np.float32)  # x axes flip


@dataclass(frozen=True)
class Head:
    name: str
    classes: int  # 2 for a button (Bernoulli)
    kind: str  # "stick_axis", "stick_2d", "trigger" or "button"


def controller_from_columns(columns: dict[str, np.ndarray], player: int) -> np.ndarray:
    """A player's raw controller, ``(N, 13)`` float32, from frame-table columns."""
    prefix = f"p{player}_"
    n = len(columns[prefix + "stick_x"])
    out = np.empty((n, len(CONTROLLER_COLUMNS)), dtype=np.float32)
    for col, name in enumerate(("stick_x", "stick_y", "cstick_x", "cstick_y", "trigger")):
        out[:, col] = columns[prefix + name]
    buttons = columns[prefix + "buttons"]
    for col, button in enumerate(TRAINED_BUTTONS, start=5):
        out[:, col] = (buttons & int(button)) != 0
    return out


class ControllerSpec:
    """The heads a policy predicts and how each maps to and from controller values."""

    def __init__(self, config: ControllerConfig):
        self.config = config
        self.kmeans = config.stick_mode == "kmeans"
        k = config.stick_buckets
        # uniform bucket centres in Slippi units: -1, ..., 0, ..., 1
        self.axis_values = np.linspace(-1.0, 1.0, k).astype(np.float32)
        self.trigger_values = np.linspace(0.0, 1.0, config.trigger_buckets).astype(np.float32)
        if self.kmeans:
            self.main_centers = stick_from_libmelee(np.asarray(config.main_centers, np.float32))
            self.c_centers = stick_from_libmelee(np.asarray(config.c_centers, np.float32))
            sticks = [Head("main", len(self.main_centers), "stick_2d"), Head("c", len(self.c_centers), "stick_2d")]
        else:
            sticks = [Head(n, k, "stick_axis") for n in ("main_x", "main_y", "c_x", "c_y")]
        buttons = [Head(name, 2, "button") for name in BUTTON_NAMES]
        # autoregressive order: buttons, main stick, c-stick, trigger
        self.heads: list[Head] = buttons + sticks + [Head("trigger", config.trigger_buckets, "trigger")]
        self.index = {head.name: i for i, head in enumerate(self.heads)}

    @property
    def num_heads(self) -> int:
        return len(self.heads)

    # -- encode ------------------------------------------------------------------------
    def encode(self, raw: np.ndarray) -> np.ndarray:
        """Raw controller ``(N, 13)`` -> class targets ``(N, heads)`` int16."""
        out = np.empty((len(raw), self.num_heads), dtype=np.int16)
        for col, name in enumerate(BUTTON_NAMES, start=5):
            out[:, self.index[name]] = raw[:, col] > 0.5
        if self.kmeans:
            out[:, self.index["main"]] = _nearest(raw[:, 0:2], self.main_centers)
            out[:, self.index["c"]] = _nearest(raw[:, 2:4], self.c_centers)
        else:
            k = len(self.axis_values)
            for col, name in enumerate(("main_x", "main_y", "c_x", "c_y")):
                out[:, self.index[name]] = np.clip(np.rint((raw[:, col] + 1.0) * 0.5 * (k - 1)), 0, k - 1)
        t = len(self.trigger_values)
        out[:, self.index["trigger"]] = np.clip(np.rint(raw[:, 4] * (t - 1)), 0, t - 1)
        return out

    # -- decode ------------------------------------------------------------------------
    def decode(self, targets: np.ndarray) -> np.ndarray:
        """Class targets ``(N, heads)`` -> controller ``(N, 13)`` at bucket centres."""
        targets = np.asarray(targets)
        out = np.zeros((len(targets), len(CONTROLLER_COLUMNS)), dtype=np.float32)
        if self.kmeans:
            out[:, 0:2] = self.main_centers[targets[:, self.index["main"]]]
            out[:, 2:4] = self.c_centers[targets[:, self.index["c"]]]
        else:
            for col, name in enumerate(("main_x", "main_y", "c_x", "c_y")):
                out[:, col] = self.axis_values[targets[:, self.index[name]]]
        out[:, 4] = self.trigger_values[targets[:, self.index["trigger"]]]
        for col, name in enumerate(BUTTON_NAMES, start=5):
            out[:, col] = targets[:, self.index[name]]
        return out

    def to_libmelee(self, targets: np.ndarray) -> ControllerState:
        """One frame's targets ``(heads,)`` -> a libmelee-unit :class:`ControllerState`."""
        return controller_state(self.decode(np.asarray(targets).reshape(1, -1))[0])

    def mirror_targets(self, targets: np.ndarray) -> np.ndarray:
        """Targets of the left-right mirrored controller (exact in uniform mode)."""
        raw = self.decode(targets) * CONTROLLER_MIRROR
        return self.encode(raw)


def controller_state(values: np.ndarray) -> ControllerState:
    """A decoded controller row (13,) in Slippi units (sticks [-1, 1], trigger [0, 1]),
    clipped to range -> a libmelee-unit :class:`ControllerState`.

    Once per bot frame, so in plain Python floats (one ``tolist``): the numpy version
    (clip, four scalar conversions, eight array comparisons) cost 23-43 us a frame
    against this one's few; the same doubles, so the same state (NaN stays NaN, as
    ``np.clip`` leaves it)."""
    row = values.tolist() if isinstance(values, np.ndarray) else [float(x) for x in values]
    x, y, cx, cy, trigger = (-1.0 if v < -1.0 else 1.0 if v > 1.0 else v for v in row[:5])
    buttons = {button: row[column] > 0.5 for column, button in _BUTTON_COLUMNS}
    return ControllerState(
        stick_to_libmelee(x),
        stick_to_libmelee(y),
        stick_to_libmelee(cx),
        stick_to_libmelee(cy),
        0.0 if trigger < 0.0 else trigger,  # max(trigger, 0.0): NaN stays NaN
        buttons,
    )


_BUTTON_COLUMNS = tuple(enumerate(TRAINED_BUTTONS, start=5))  # (row column, button)


def _nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point, ``(N, 2)`` -> ``(N,)``."""
    out = np.empty(len(points), dtype=np.int16)
    for start in range(0, len(points), 65536):  # bound the (chunk, K) distance matrix
        chunk = points[start : start + 65536]
        d = ((chunk[:, None, :] - centers[None, :, :]) ** 2).sum(-1)
        out[start : start + 65536] = d.argmin(1)
    return out


# -- k-means centres ----------------------------------------------------------------------


def fit_kmeans(points: np.ndarray, k: int, seed: int = 0, iters: int = 100) -> np.ndarray:
    """Weighted k-means (k-means++ init, Lloyd iterations) on 2-D stick positions.

    Melee sticks take a few thousand distinct values, so points are collapsed to unique
    positions with counts first: exact, and fast on millions of frames.
    """
    unique, counts = np.unique(np.asarray(points, np.float32), axis=0, return_counts=True)
    if len(unique) < k:  # k-means++ would run out of new points (0/0 probabilities)
        raise ConfigError(
            f"only {len(unique)} distinct stick positions for k={k} centres: pass a smaller --k or more replays"
        )
    weights = counts.astype(np.float64)
    rng = np.random.default_rng(seed)
    centers = [unique[np.argmax(weights)]]
    for _ in range(1, k):
        d = np.min([((unique - c) ** 2).sum(1) for c in centers], axis=0)
        prob = weights * d
        centers.append(unique[rng.choice(len(unique), p=prob / prob.sum())])
    centers = np.array(centers, dtype=np.float64)
    for _ in range(iters):
        assign = ((unique[:, None, :] - centers[None]) ** 2).sum(-1).argmin(1)
        moved = centers.copy()
        for j in range(k):
            mask = assign == j
            if mask.any():
                moved[j] = np.average(unique[mask], axis=0, weights=weights[mask])
        if np.allclose(moved, centers, atol=1e-7):
            break
        centers = moved
    return centers.astype(np.float32)


def quantisation_error(points: np.ndarray, decoded: np.ndarray) -> float:
    """Mean Euclidean distance between stick positions and their decoded values."""
    return float(np.sqrt(((points - decoded) ** 2).sum(-1)).mean())


def fit_stick_centers(main: np.ndarray, c: np.ndarray, k: int = 21, seed: int = 0, uniform_buckets: int = 17) -> dict:
    """Centres for both sticks in libmelee units, with mean quantisation errors (libmelee
    units) beside those of the uniform per-axis grid."""
    result: dict = {"k": k, "frames": int(len(main))}
    errors = {}
    uniform = ControllerSpec(ControllerConfig(stick_buckets=uniform_buckets))
    for name, points in (("main", main), ("c", c)):
        try:
            centers = fit_kmeans(points, k, seed)
        except ConfigError as err:
            raise ConfigError(f"{name} stick: {err}") from None
        kmeans_err = quantisation_error(
            stick_to_libmelee(points), stick_to_libmelee(centers[_nearest(points, centers)])
        )
        grid = uniform.axis_values[
            np.clip(np.rint((points + 1) * 0.5 * (uniform_buckets - 1)), 0, uniform_buckets - 1).astype(int)
        ]
        uniform_err = quantisation_error(stick_to_libmelee(points), stick_to_libmelee(grid))
        result[name] = np.round(stick_to_libmelee(centers), 6).tolist()
        errors[name] = {
            "kmeans": kmeans_err,
            "uniform": uniform_err,
            "uniform_buckets": uniform_buckets,
            "uniform_classes": uniform_buckets**2,
        }
    result["mean_error"] = errors
    return result


def save_centers(result: dict, path: str) -> None:
    with open(path, "w") as handle:
        json.dump(result, handle, indent=1)


def load_centers(path: str | os.PathLike) -> dict[str, list]:
    """The ``main`` and ``c`` stick centres of a ``workbench embed fit-sticks`` file."""
    try:
        data = json.loads(Path(path).read_text())
        return {"main": data["main"], "c": data["c"]}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{path}: not a stick-centres file from `workbench embed fit-sticks` ({type(err).__name__}: {err})"
        ) from None
