"""Augmentations: left-right mirroring and Gaussian noise. Perspective swap and
frame-delay sampling live in the dataset (:mod:`workbench.data.dataset`)."""

from __future__ import annotations

import numpy as np

from workbench.embed.state import StateLayout

# Frame-table columns that mirroring negates (x positions, x speeds, facing, x inputs).
MIRRORED_PLAYER_COLUMNS = (
    "x",
    "facing",
    "stick_x",
    "cstick_x",
    "speed_air_x_self",
    "speed_x_attack",
    "speed_ground_x_self",
)


def mirror_floats(floats: np.ndarray, layout: StateLayout) -> np.ndarray:
    """Left-right mirror embedded state features (negates every x-like column)."""
    return floats * layout.mirror_sign


def mirror_columns(
    columns: dict[str, np.ndarray], items: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Mirror frame-table columns themselves (reference for the feature-level mirror)."""
    out = dict(columns)
    for key, values in columns.items():
        field = key.split("_nana_")[-1] if "_nana_" in key else key.split("_", 1)[-1]
        if field in MIRRORED_PLAYER_COLUMNS:
            out[key] = -values
    if items is not None:
        items = dict(items, item_x=-items["item_x"])
    return out, items


def add_noise(floats: np.ndarray, layout: StateLayout, std: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``std`` on the continuous features the layout marks noisy."""
    noise = rng.standard_normal(floats.shape, dtype=np.float32) * np.float32(std)
    return floats + noise * layout.noise_mask
