"""The backbone interface, its config base class and the name -> class registry.

Every backbone maps a sequence of frame embeddings to a sequence of features and can
also run one frame at a time with an explicit state:

    forward(x: (B, T, D), state=None) -> (y: (B, T, H), state)
    step(x: (B, D), state)            -> (y: (B, H), state)
    initial_state(batch_size)         -> state

State is a flat ``dict[str, Tensor]`` whose keys are Python identifiers (``h_0``,
``conv_1``, ``k_cache_2``, ``valid``) and whose tensors are batch-first with shapes that
never depend on how many frames were seen. Deployment exports ``step`` to ONNX with one
named input and output per key, so ``step`` is written functionally: new tensors instead
of in-place writes, no data-dependent Python branches, no ``.item()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from workbench.configtree import decode, encode, option, unknown_key, valid_keys
from workbench.errors import ConfigError

State = dict[str, Tensor]

ConfigT = TypeVar("ConfigT", bound="BackboneConfig")


class UnknownBackboneError(ConfigError):
    """A backbone name that is not in the registry."""


class BackboneConfigError(ConfigError):
    """A backbone config dict or override with fields the config does not have, or a
    value a backbone does not accept."""


@dataclass
class BackboneConfig:
    """Fields every backbone has; each backbone subclasses this with its own options.

    ``name`` is a class-level constant (the registry key) so that a saved config dict
    says which backbone it belongs to.
    """

    name: ClassVar[str] = ""
    hidden_size: int = option(256, flag="--hidden", help="backbone hidden size")
    num_layers: int = option(2, flag="--layers", help="backbone layers")
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.hidden_size <= 0 or self.num_layers <= 0:
            raise BackboneConfigError(
                f"{type(self).__name__}: hidden_size and num_layers must be positive, "
                f"got hidden_size={self.hidden_size}, num_layers={self.num_layers}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise BackboneConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def subclass_for(cls, name: str) -> type[BackboneConfig]:
        """The registered config class of backbone ``name`` (the config tree uses this to
        decode a ``policy.backbone`` mapping into its typed options)."""
        return backbone_config_class(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the init fields, plus the backbone ``name``."""
        return encode(self)

    @classmethod
    def from_dict(cls: type[ConfigT], data: dict[str, Any]) -> ConfigT:
        """Inverse of :meth:`to_dict`; values typed by the fields, and an unknown field
        or a mismatched name is a BackboneConfigError."""
        data = dict(data)
        name = data.pop("name", cls.name)
        if name != cls.name:
            raise BackboneConfigError(
                f"config is for backbone {name!r}, not {cls.name!r}; "
                f"use backbone_config_class({name!r}).from_dict(...) or config_from_dict(...)"
            )
        for key in data:
            if key not in valid_keys(cls):
                raise BackboneConfigError(
                    f"{unknown_key(key, valid_keys(cls), '', cls)} (valid fields of this backbone)"
                )
        try:
            return decode(cls, data)
        except BackboneConfigError:
            raise
        except ConfigError as err:
            raise BackboneConfigError(f"backbone {cls.name!r}: {err}") from None


@dataclass(frozen=True)
class InputColumns:
    """Where known parts of the input x sit, for backbones that treat them apart (the
    Decision Transformer's return, state and action tokens). Derived by the policy from
    the embedding config, so a checkpoint rebuilds it; ``None`` when absent."""

    return_to_go: int | None = None  # the return-to-go column
    action: tuple[int, int] | None = None  # [start, stop) of the previous-controller columns
    own: tuple[int, ...] | None = None  # the agent's own features (floats and id embeddings)
    opponent: tuple[int, ...] | None = None  # the opponent's


class Backbone(nn.Module):
    """Base class: stores ``config``, ``input_dim`` and ``output_dim`` (H).

    Subclasses implement ``forward``, ``step`` and ``initial_state`` with the contracts
    in the module docstring. Those with ``uses_columns`` also take ``columns``
    (:class:`InputColumns`) when built.
    """

    config_class: ClassVar[type[BackboneConfig]] = BackboneConfig
    uses_columns: ClassVar[bool] = False

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise BackboneConfigError(
                f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}"
            )
        self.config = config
        self.input_dim = input_dim
        self.output_dim = config.hidden_size

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """A sequence: x (B, T, D) -> y (B, T, H), state after the last frame.
        ``state=None`` starts from ``initial_state``."""
        raise NotImplementedError

    def initial_state(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> State:
        """Zero state for ``batch_size`` sequences; defaults to the parameters' device/dtype."""
        raise NotImplementedError

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One frame: x (B, D) -> y (B, H), new state (same keys and shapes)."""
        raise NotImplementedError

    def _device_dtype(self, device: torch.device | None, dtype: torch.dtype | None) -> tuple[torch.device, torch.dtype]:
        param = next(self.parameters())
        return (device or param.device), (dtype or param.dtype)


BACKBONES: dict[str, type[Backbone]] = {}

BackboneT = TypeVar("BackboneT", bound=type[Backbone])


def register(name: str) -> Callable[[BackboneT], BackboneT]:
    """Class decorator: ``@register("lstm")`` adds a Backbone subclass under ``name``.

    The class's ``config_class.name`` must equal ``name`` so saved configs round-trip.
    """

    def decorator(cls: BackboneT) -> BackboneT:
        if name in BACKBONES and BACKBONES[name] is not cls:
            raise ValueError(f"backbone {name!r} is already registered to {BACKBONES[name]}")
        if cls.config_class.name != name:
            raise ValueError(f"{cls.__name__}.config_class.name is {cls.config_class.name!r}, expected {name!r}")
        BACKBONES[name] = cls
        return cls

    return decorator


# Named option sets measured beside the registered backbones (benchmarks, sweeps): an
# option's cost gets its own row. A plain registry name is its own variant.
VARIANTS: dict[str, dict[str, Any]] = {
    "attention+opponent": {"name": "attention", "opponent_attention": True},
}


def variant_backbone(name: str) -> dict[str, Any]:
    """The backbone config dict (``name`` plus options) of a registry name or a variant."""
    if name in VARIANTS:
        return dict(VARIANTS[name])
    _lookup(name)
    return {"name": name}


def _lookup(name: str) -> type[Backbone]:
    try:
        return BACKBONES[name]
    except KeyError:
        raise UnknownBackboneError(
            f"unknown backbone {name!r}; registered backbones: {', '.join(sorted(BACKBONES))}. "
            "Pick one of these or register a new one with @register(name)."
        ) from None


def backbone_config_class(name: str) -> type[BackboneConfig]:
    """The config dataclass of backbone ``name``; raises UnknownBackboneError."""
    return _lookup(name).config_class


def config_from_dict(data: dict[str, Any]) -> BackboneConfig:
    """Rebuild any backbone config from its ``to_dict()`` (dispatches on ``name``)."""
    if "name" not in data:
        raise BackboneConfigError("backbone config dict has no 'name' field")
    return backbone_config_class(data["name"]).from_dict(data)


def build_backbone(
    name_or_config: str | BackboneConfig | dict[str, Any],
    input_dim: int,
    columns: InputColumns | None = None,
    **overrides: Any,
) -> Backbone:
    """Build a backbone from a registry name, a config, or a config dict.

    ``overrides`` replace config fields, e.g. ``build_backbone("lstm", 64, hidden_size=128)``;
    ``columns`` reaches only backbones that use it (``uses_columns``).
    """
    if isinstance(name_or_config, str):
        config_cls = backbone_config_class(name_or_config)
        config = config_cls.from_dict({"name": name_or_config, **overrides})
    else:
        if isinstance(name_or_config, dict):
            name_or_config = config_from_dict(name_or_config)
        config = name_or_config
        if overrides:
            config = type(config).from_dict({**config.to_dict(), **overrides})
    cls = _lookup(config.name)
    return cls(config, input_dim, columns) if cls.uses_columns else cls(config, input_dim)
