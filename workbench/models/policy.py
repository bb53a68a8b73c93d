"""The policy: learned embeddings for the id columns, a temporal backbone, the
autoregressive controller head and a value head.

``Policy.forward`` trains on sequences with teacher forcing; ``Policy.step`` plays one
frame with an explicit state and returns the chosen controller, which is the function
deployment exports.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from workbench.configtree import option
from workbench.embed.config import DictMixin, EmbedConfig
from workbench.embed.controller import CONTROLLER_COLUMNS, ControllerSpec
from workbench.embed.state import RETURN_FEATURE, StateLayout
from workbench.models.backbones import (
    BACKBONES, BackboneConfig, InputColumns, State, backbone_config_class, build_backbone, config_from_dict,
)
from workbench.models.heads import AutoregressiveHead, ControllerDecoder, ValueHead
from workbench.types import NUM_ACTIONS


@dataclass
class PolicyConfig(DictMixin):
    """Everything about the network besides the embedding config."""

    # the backbone's registered config dataclass (a mapping with "name" is decoded into it)
    backbone: BackboneConfig = option(
        default_factory=lambda: backbone_config_class("gru")(hidden_size=256, num_layers=2),
        flag="--backbone", parse=lambda name: {"name": str(name)},
        help=f"temporal backbone: {', '.join(sorted(BACKBONES))}")
    id_embed_dim: dict[str, int] = field(default_factory=lambda: {
        "action": 32, "character": 8, "stage": 8, "item_type": 8, "name": 8})
    head_hidden: int = 128
    value_head: bool = True
    aux_action_head: bool = False   # predict the agent's next action state (auxiliary loss)

    def __post_init__(self) -> None:
        if isinstance(self.backbone, dict):  # PolicyConfig(backbone={"name": "gru", ...})
            self.backbone = config_from_dict(self.backbone)


@dataclass
class PolicyOutput:
    logits: dict[str, Tensor]        # per component, (B, T, classes) or buttons (B, T, 8)
    state: State
    value: Tensor | None = None      # (B, T)
    aux_action: Tensor | None = None  # (B, T, NUM_ACTIONS + 1)
    features: Tensor | None = None   # backbone output (B, T, H)


class Policy(nn.Module):
    def __init__(self, embed: EmbedConfig, config: PolicyConfig | None = None):
        super().__init__()
        self.embed_config, self.config = embed, config or PolicyConfig()
        self.layout = StateLayout(embed)
        self.spec = ControllerSpec(embed.controller)
        groups = {}
        for group, vocab in zip(self.layout.id_groups, self.layout.id_vocab):
            groups[group] = max(groups.get(group, 0), vocab)
        dims = self.config.id_embed_dim
        self.id_embeddings = nn.ModuleDict({g: nn.Embedding(v, dims.get(g, 8)) for g, v in groups.items()})
        self.id_columns = list(self.layout.id_groups)
        controller_dim = len(CONTROLLER_COLUMNS) if embed.prev_controller else 0
        self.input_dim = (self.layout.float_dim + controller_dim
                          + sum(dims.get(g, 8) for g in self.id_columns))
        self.backbone = build_backbone(self.config.backbone, self.input_dim, self.input_columns())
        hidden = self.backbone.output_dim
        self.head = AutoregressiveHead(hidden, self.spec, self.config.head_hidden)
        self.decoder = ControllerDecoder(self.spec)
        self.value = ValueHead(hidden) if self.config.value_head else None
        self.aux_action = nn.Linear(hidden, NUM_ACTIONS + 1) if self.config.aux_action_head else None

    # -- inputs --------------------------------------------------------------------------
    def input_columns(self) -> InputColumns:
        """Where the return-to-go and the previous controller sit in :meth:`inputs`'s
        output (floats first, then the controller, then the id embeddings)."""
        floats = self.layout.float_dim
        rtg = self.layout.slices.get(RETURN_FEATURE)
        action = (floats, floats + len(CONTROLLER_COLUMNS)) if self.embed_config.prev_controller else None
        sides: dict[str, list[int]] = {"self_": [], "opp_": []}
        named = [(f.name, range(self.layout.slices[f.name].start, self.layout.slices[f.name].stop))
                 for f in self.layout.float_features]
        start = floats + (len(CONTROLLER_COLUMNS) if action else 0)
        for name, group in zip(self.layout.id_names, self.id_columns):  # id embeddings follow
            width = self.config.id_embed_dim.get(group, 8)
            named.append((name, range(start, start + width)))
            start += width
        for name, columns in named:
            for prefix, found in sides.items():
                if name.startswith(prefix):
                    found.extend(columns)
        return InputColumns(return_to_go=None if rtg is None else rtg.start, action=action,
                            own=tuple(sides["self_"]), opponent=tuple(sides["opp_"]))

    def inputs(self, floats: Tensor, ids: Tensor, controller: Tensor) -> Tensor:
        """floats (…, F), ids (…, K), own controller (…, 13) -> backbone input (…, D)."""
        parts = [floats]
        if self.embed_config.prev_controller:
            parts.append(controller.to(floats.dtype))
        ids = ids.long()
        for col, group in enumerate(self.id_columns):
            parts.append(self.id_embeddings[group](ids[..., col]))            # (…, E)
        return torch.cat(parts, dim=-1)

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        return self.backbone.initial_state(batch_size, device=device, dtype=dtype)

    def carry_state(self, carried: State | None, reset: Tensor, batch_size: int, device=None) -> State:
        """Truncated BPTT: the state entering the next chunk. ``carried`` (detached) where a
        row goes on with its game, the initial state where ``reset`` (B,) bool marks a new
        game, and the initial state everywhere when nothing is carried yet."""
        init = self.initial_state(batch_size, device=device)
        if carried is None:
            return init
        mask = reset.to(device)
        return {k: torch.where(mask.view(-1, *[1] * (v.dim() - 1)), init[k], v.detach())
                for k, v in carried.items()}

    # -- training --------------------------------------------------------------------------
    def forward(self, floats: Tensor, ids: Tensor, controller: Tensor, targets: Tensor,
                state: State | None = None, with_value: bool = False) -> PolicyOutput:
        """Teacher-forced sequences: inputs (B, T, .) and targets (B, T, heads). The value
        head runs only when asked (RL), so behavioural cloning leaves no unused outputs."""
        x = self.inputs(floats, ids, controller)                             # (B, T, D)
        h, state = self.backbone(x, state)                                   # (B, T, H)
        return PolicyOutput(
            logits=self.head(h, targets), state=state,
            value=self.value(h) if with_value and self.value is not None else None,
            aux_action=self.aux_action(h) if self.aux_action is not None else None,
            features=h)

    # -- play ----------------------------------------------------------------------------------
    def step(self, floats: Tensor, ids: Tensor, controller: Tensor, state: State,
             temperature: float = 1.0, uniform: Tensor | None = None
             ) -> tuple[Tensor, Tensor, State]:
        """One frame: inputs (B, .) -> chosen targets (B, heads), the controller values
        they decode to (B, 13), and the new state. ``uniform`` (B, noise_size) samples;
        without it the most likely controller is chosen."""
        x = self.inputs(floats, ids, controller)                             # (B, D)
        h, state = self.backbone.step(x, state)                              # (B, H)
        targets, _ = self.head.sample(h, temperature, uniform)
        return targets, self.decoder(targets), state

    @property
    def noise_size(self) -> int:
        return self.head.noise_size

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
