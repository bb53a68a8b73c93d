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
    BACKBONES,
    BackboneConfig,
    InputColumns,
    State,
    backbone_config_class,
    build_backbone,
    config_from_dict,
)
from workbench.models.heads import AutoregressiveHead, ControllerDecoder, CopyPrior, ValueHead
from workbench.types import NUM_ACTIONS

DELAY_SCALE = 18.0  # frames: the delay input is D / 18 (300 ms, the far end of online play)


@dataclass
class PolicyConfig(DictMixin):
    """Everything about the network besides the embedding config."""

    # the backbone's registered config dataclass (a mapping with "name" is decoded into it)
    backbone: BackboneConfig = option(
        default_factory=lambda: backbone_config_class("gru")(hidden_size=256, num_layers=2),
        flag="--backbone",
        parse=lambda name: {"name": str(name)},
        help=f"temporal backbone: {', '.join(sorted(BACKBONES))}",
    )
    id_embed_dim: dict[str, int] = field(
        default_factory=lambda: {"action": 32, "character": 8, "stage": 8, "item_type": 8, "name": 8}
    )
    head_hidden: int = 128
    value_head: bool = True
    aux_action_head: bool = False  # predict the agent's next action state (auxiliary loss)
    # the frame delay as one more input (D / DELAY_SCALE), so a model trained on a range of
    # delays knows how stale the state it sees is; play_delay is the D it assumes when a
    # caller does not say (streaming play, ONNX export)
    delay_input: bool = True
    play_delay: int = 0
    # standardise every float state column with the training data's mean and std (kept as
    # buffers in the weights, so play and export apply the same shift and scale)
    normalize_floats: bool = False
    # logits favouring the agent's own last input, learned per class (heads.CopyPrior)
    copy_prior: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.backbone, dict):  # PolicyConfig(backbone={"name": "gru", ...})
            self.backbone = config_from_dict(self.backbone)


@dataclass
class PolicyOutput:
    logits: dict[str, Tensor]  # per component, (B, T, classes) or buttons (B, T, 8)
    state: State
    value: Tensor | None = None  # (B, T)
    aux_action: Tensor | None = None  # (B, T, NUM_ACTIONS + 1)
    features: Tensor | None = None  # backbone output (B, T, H)


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
        self.input_dim = (
            self.layout.float_dim
            + controller_dim
            + int(self.config.delay_input)
            + sum(dims.get(g, 8) for g in self.id_columns)
        )
        self.play_delay = self.config.play_delay
        if self.config.normalize_floats:  # set from the training data (set_float_stats)
            self.register_buffer("float_shift", torch.zeros(self.layout.float_dim))
            self.register_buffer("float_scale", torch.ones(self.layout.float_dim))
        self.backbone = build_backbone(self.config.backbone, self.input_dim, self.input_columns())
        hidden = self.backbone.output_dim
        self.head = AutoregressiveHead(hidden, self.spec, self.config.head_hidden)
        self.decoder = ControllerDecoder(self.spec)
        self.copy_prior = CopyPrior(self.spec) if self.config.copy_prior else None
        self.value = ValueHead(hidden) if self.config.value_head else None
        self.aux_action = nn.Linear(hidden, NUM_ACTIONS + 1) if self.config.aux_action_head else None

    # -- inputs --------------------------------------------------------------------------
    def input_columns(self) -> InputColumns:
        """Where the return-to-go and the previous controller sit in :meth:`inputs`'s
        output (floats first, then the controller, the delay, then the id embeddings)."""
        floats = self.layout.float_dim
        rtg = self.layout.slices.get(RETURN_FEATURE)
        action = (floats, floats + len(CONTROLLER_COLUMNS)) if self.embed_config.prev_controller else None
        sides: dict[str, list[int]] = {"self_": [], "opp_": []}
        named = [
            (f.name, range(self.layout.slices[f.name].start, self.layout.slices[f.name].stop))
            for f in self.layout.float_features
        ]
        start = floats + (len(CONTROLLER_COLUMNS) if action else 0) + int(self.config.delay_input)
        for name, group in zip(self.layout.id_names, self.id_columns):  # id embeddings follow
            width = self.config.id_embed_dim.get(group, 8)
            named.append((name, range(start, start + width)))
            start += width
        for name, columns in named:
            for prefix, found in sides.items():
                if name.startswith(prefix):
                    found.extend(columns)
        return InputColumns(
            return_to_go=None if rtg is None else rtg.start,
            action=action,
            own=tuple(sides["self_"]),
            opponent=tuple(sides["opp_"]),
        )

    def inputs(self, floats: Tensor, ids: Tensor, controller: Tensor, delay: Tensor | None = None) -> Tensor:
        """floats (…, F), ids (…, K), own controller (…, 13), and with ``delay_input`` the
        delay per sequence (B,) (default: ``play_delay``) -> backbone input (…, D)."""
        if self.config.normalize_floats:
            floats = (floats - self.float_shift.to(floats.dtype)) * self.float_scale.to(floats.dtype)
        parts = [floats]
        if self.embed_config.prev_controller:
            parts.append(controller.to(floats.dtype))
        if self.config.delay_input:  # right after the controller (input_columns counts it)
            if delay is None:
                d = torch.full(floats.shape[:-1], float(self.play_delay), dtype=floats.dtype, device=floats.device)
            else:  # (B,) -> (B, 1, ...) broadcast over the time axis of (B, T, F) inputs
                d = delay.to(floats.dtype).view(-1, *[1] * (floats.dim() - 2)).expand(floats.shape[:-1])
            parts.append(d[..., None] / DELAY_SCALE)  # (…, 1)
        ids = ids.long()
        for col, group in enumerate(self.id_columns):
            parts.append(self.id_embeddings[group](ids[..., col]))  # (…, E)
        return torch.cat(parts, dim=-1)

    @torch.no_grad()
    def set_float_stats(self, floats: Tensor, min_std: float = 0.05) -> None:
        """Standardisation from a sample of training rows (N, F): shift by the mean,
        scale by 1 / std (a floor keeps near-constant columns, e.g. absent Nana, small)."""
        self.float_shift.copy_(floats.mean(0))
        self.float_scale.copy_(1.0 / floats.std(0).clamp(min=min_std))

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
        return {k: torch.where(mask.view(-1, *[1] * (v.dim() - 1)), init[k], v.detach()) for k, v in carried.items()}

    def prior(self, controller: Tensor, dtype=None) -> dict[str, Tensor] | None:
        """The copy prior's logits from the agent's own last input (…, 13), or None; every
        caller that runs ``head`` or ``head.sample`` itself passes this to it."""
        if self.copy_prior is None:
            return None
        return self.copy_prior(controller.to(dtype or controller.dtype))

    # -- training --------------------------------------------------------------------------
    def forward(
        self,
        floats: Tensor,
        ids: Tensor,
        controller: Tensor,
        targets: Tensor,
        state: State | None = None,
        with_value: bool = False,
        delay: Tensor | None = None,
    ) -> PolicyOutput:
        """Teacher-forced sequences: inputs (B, T, .) and targets (B, T, heads), ``delay``
        (B,) frames (used with ``delay_input``). The value head runs only when asked (RL),
        so behavioural cloning leaves no unused outputs."""
        x = self.inputs(floats, ids, controller, delay)  # (B, T, D)
        h, state = self.backbone(x, state)  # (B, T, H)
        return PolicyOutput(
            logits=self.head(h, targets, self.prior(controller, h.dtype)),
            state=state,
            value=self.value(h) if with_value and self.value is not None else None,
            aux_action=self.aux_action(h) if self.aux_action is not None else None,
            features=h,
        )

    # -- play ----------------------------------------------------------------------------------
    def step(
        self,
        floats: Tensor,
        ids: Tensor,
        controller: Tensor,
        state: State,
        temperature: float = 1.0,
        uniform: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, State]:
        """One frame: inputs (B, .) -> chosen targets (B, heads), the controller values
        they decode to (B, 13), and the new state. ``uniform`` (B, noise_size) samples;
        without it the most likely controller is chosen."""
        x = self.inputs(floats, ids, controller)  # (B, D)
        h, state = self.backbone.step(x, state)  # (B, H)
        targets, _ = self.head.sample(h, temperature, uniform, self.prior(controller, h.dtype))
        return targets, self.decoder(targets), state

    @property
    def noise_size(self) -> int:
        return self.head.noise_size

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
