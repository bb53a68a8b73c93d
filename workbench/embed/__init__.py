"""Frame tables to tensors: state features, controller targets, augmentation.

``embed_game(table, config, perspective)`` embeds a stored game; ``embed_state`` with a
:class:`StateContext` embeds any N frames, a live one included.
"""

from workbench.embed.augment import add_noise, mirror_columns, mirror_floats
from workbench.embed.config import ConfigError, ControllerConfig, EmbedConfig, PlayerEmbedConfig
from workbench.embed.controller import (
    CONTROLLER_COLUMNS,
    ControllerSpec,
    Head,
    controller_from_columns,
    fit_stick_centers,
)
from workbench.embed.game import EmbeddedGame, embed_game, opponent_of, table_context
from workbench.embed.names import NameRegistry
from workbench.embed.state import StateContext, StateLayout, embed_state

__all__ = [
    "add_noise",
    "mirror_columns",
    "mirror_floats",
    "ConfigError",
    "ControllerConfig",
    "EmbedConfig",
    "PlayerEmbedConfig",
    "CONTROLLER_COLUMNS",
    "ControllerSpec",
    "Head",
    "controller_from_columns",
    "fit_stick_centers",
    "EmbeddedGame",
    "embed_game",
    "opponent_of",
    "table_context",
    "NameRegistry",
    "StateContext",
    "StateLayout",
    "embed_state",
]
