"""The autoregressive controller head and the value head.

Components are predicted in a fixed order: the 8 buttons (independent Bernoulli, as one
component), the main stick (x then y, or one joint k-means class), the c-stick, the
trigger. Each component's logits come from the residual stream; the chosen class (the
target under teacher forcing, a sample or the argmax at play time) is then embedded and
added to the residual, so later components are conditioned on earlier ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from workbench.embed.controller import BUTTON_NAMES, ControllerSpec


@dataclass(frozen=True)
class Component:
    name: str
    heads: tuple[int, ...]  # columns of the target array this component predicts
    classes: int  # per head; buttons: 8 heads of 2 classes as 8 logits
    binary: bool  # True for the button block (one logit per head)


def components_of(spec: ControllerSpec) -> list[Component]:
    """The spec's heads grouped into components. The spec lists buttons first, so the
    components' columns read 0..heads-1 in order and their picks concatenate straight
    into a target row (checked here, once)."""
    buttons = tuple(i for i, h in enumerate(spec.heads) if h.kind == "button")
    out = [Component("buttons", buttons, 2, True)]
    out += [Component(h.name, (i,), h.classes, False) for i, h in enumerate(spec.heads) if h.kind != "button"]
    columns = [col for comp in out for col in comp.heads]
    if columns != list(range(spec.num_heads)):
        raise ValueError(f"controller heads must list the buttons first, got columns {columns}")
    return out


class ComponentMLP(nn.Module):
    """Residual (…, H) -> logits (…, out)."""

    def __init__(self, hidden: int, head_hidden: int, out: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(hidden), nn.Linear(hidden, head_hidden), nn.GELU(), nn.Linear(head_hidden, out)
        )

    def forward(self, r: Tensor) -> Tensor:
        return self.net(r)


class AutoregressiveHead(nn.Module):
    """Predicts every controller component from the backbone's features."""

    def __init__(self, hidden: int, spec: ControllerSpec, head_hidden: int = 128):
        super().__init__()
        self.components = components_of(spec)
        self.num_heads = spec.num_heads
        self.mlps = nn.ModuleList(
            ComponentMLP(hidden, head_hidden, len(c.heads) if c.binary else c.classes) for c in self.components
        )
        # embeds the chosen class of a component back into the residual stream (the last
        # component conditions nothing, so it has none)
        self.feedback = nn.ModuleList(
            nn.Linear(len(c.heads), hidden, bias=False) if c.binary else nn.Embedding(c.classes, hidden)
            for c in self.components[:-1]
        )

    def _feed(self, k: int, chosen: Tensor) -> Tensor:
        comp = self.components[k]
        if comp.binary:
            return self.feedback[k](chosen.to(self.feedback[k].weight.dtype))  # (…, H)
        return self.feedback[k](chosen[..., 0].long())  # (…, H)

    def forward(self, h: Tensor, targets: Tensor, prior: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Teacher forcing: h (…, H), targets (…, heads) -> logits per component
        (``buttons``: (…, 8) Bernoulli logits; others (…, classes)). ``prior`` adds fixed
        logits per component (the copy prior, :class:`CopyPrior`)."""
        r, logits = h, {}
        for k, comp in enumerate(self.components):
            logits[comp.name] = self.mlps[k](r)
            if prior is not None:
                logits[comp.name] = logits[comp.name] + prior[comp.name]
            if k < len(self.feedback):
                r = r + self._feed(k, targets[..., list(comp.heads)])
        return logits

    @property
    def noise_size(self) -> int:
        """Uniform numbers one sampling step consumes: one per button, one per class."""
        return sum(len(c.heads) if c.binary else c.classes for c in self.components)

    def sample(
        self, h: Tensor, temperature: float = 1.0, uniform: Tensor | None = None, prior: dict[str, Tensor] | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Choose every component in order: h (B, H) -> targets (B, heads) int64, logits.

        ``uniform`` (B, noise_size) in (0, 1) makes sampling explicit, so an exported
        graph samples from noise its caller feeds in: a threshold for each button and
        Gumbel-max over each component's classes. Without it the argmax is taken
        (deterministic play). No data-dependent branches, so it exports to ONNX.
        """
        r = h
        chosen = []
        logits = {}
        offset = 0
        for k, comp in enumerate(self.components):
            z = self.mlps[k](r)
            if prior is not None:
                z = z + prior[comp.name]
            z = z / temperature
            logits[comp.name] = z
            width = z.shape[-1]
            if uniform is not None:
                u = uniform[..., offset : offset + width].clamp(1e-6, 1.0 - 1e-6)
            offset += width
            if comp.binary:
                pick = (z > 0) if uniform is None else (u < torch.sigmoid(z))
                pick = pick.long()  # (B, 8)
            else:
                if uniform is not None:
                    z = z - torch.log(-torch.log(u))  # Gumbel-max
                pick = z.argmax(-1, keepdim=True)  # (B, 1)
            chosen.append(pick)
            if k < len(self.feedback):
                r = r + self._feed(k, pick)
        return torch.cat(chosen, dim=-1), logits  # (B, heads)

    def argmax(self, logits: dict[str, Tensor]) -> Tensor:
        """Per-head most likely class of (e.g. teacher-forced) logits -> (…, heads)."""
        return torch.cat(
            [
                (logits[c.name] > 0).long() if c.binary else logits[c.name].argmax(-1, keepdim=True)
                for c in self.components
            ],
            dim=-1,
        )


class CopyPrior(nn.Module):
    """Logits that favour repeating the agent's own last input: per component, a learned
    weight per class on the previous input's class (buttons: per button, on pressed
    versus released). A controller repeats its input on most frames, so with this prior
    the network starts near repeat-last and its features go to predicting the changes.

    The previous input arrives as controller values at bucket centres (the model input),
    so its classes are recovered exactly: ``controller (…, 13) -> prior logits``."""

    def __init__(self, spec: ControllerSpec, init: float = 3.0):
        super().__init__()
        self.components = components_of(spec)
        self.kmeans = spec.kmeans
        self.index = dict(spec.index)
        k, t = len(spec.axis_values), len(spec.trigger_values)
        self.axis_classes, self.trigger_classes = k, t
        if spec.kmeans:
            self.register_buffer("main", torch.from_numpy(spec.main_centers), persistent=False)
            self.register_buffer("c", torch.from_numpy(spec.c_centers), persistent=False)
        self.weight = nn.ParameterDict(
            {
                c.name: nn.Parameter(torch.full((len(c.heads) if c.binary else c.classes,), init))
                for c in self.components
            }
        )

    def previous_classes(self, controller: Tensor) -> dict[str, Tensor]:
        """controller (…, 13) at bucket centres -> per component the classes (…,) (buttons (…, 8))."""
        out = {"buttons": (controller[..., 5:13] > 0.5).to(controller.dtype)}
        if self.kmeans:
            for name, cols in (("main", slice(0, 2)), ("c", slice(2, 4))):
                centers = getattr(self, name).to(controller.dtype)  # (K, 2)
                out[name] = ((controller[..., None, cols] - centers) ** 2).sum(-1).argmin(-1)
        else:
            for col, name in enumerate(("main_x", "main_y", "c_x", "c_y")):
                out[name] = torch.round((controller[..., col] + 1) * 0.5 * (self.axis_classes - 1)).long()
        out["trigger"] = torch.round(controller[..., 4] * (self.trigger_classes - 1)).long()
        return out

    def forward(self, controller: Tensor) -> dict[str, Tensor]:
        previous = self.previous_classes(controller)
        prior = {}
        for comp in self.components:
            w = self.weight[comp.name]
            if comp.binary:  # +w on pressed, -w on released: a logit toward the last state
                prior[comp.name] = w * (2 * previous[comp.name] - 1)  # (…, 8)
            else:
                classes = previous[comp.name].clamp(0, comp.classes - 1)
                prior[comp.name] = w * nn.functional.one_hot(classes, comp.classes).to(w.dtype)  # (…, K)
        return prior


class ValueHead(nn.Module):
    """State value for the RL stage: (…, H) -> (…,)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h).squeeze(-1)


class ControllerDecoder(nn.Module):
    """Targets (…, heads) -> controller values (…, 13) at bucket centres, in torch, so the
    exported step returns what the bot presses and feeds back as its own input. Same
    numbers as :meth:`ControllerSpec.decode`."""

    def __init__(self, spec: ControllerSpec):
        super().__init__()
        self.kmeans = spec.kmeans
        self.index = dict(spec.index)
        self.register_buffer("axis", torch.from_numpy(spec.axis_values), persistent=False)
        self.register_buffer("trigger", torch.from_numpy(spec.trigger_values), persistent=False)
        if spec.kmeans:
            self.register_buffer("main", torch.from_numpy(spec.main_centers), persistent=False)
            self.register_buffer("c", torch.from_numpy(spec.c_centers), persistent=False)
        self.buttons = [spec.index[name] for name in BUTTON_NAMES]

    def forward(self, targets: Tensor) -> Tensor:
        t = targets.long()
        if self.kmeans:
            sticks = [self.main[t[..., self.index["main"]]], self.c[t[..., self.index["c"]]]]  # 2 x (…, 2)
        else:
            sticks = [self.axis[t[..., self.index[name]]].unsqueeze(-1) for name in ("main_x", "main_y", "c_x", "c_y")]
        trigger = self.trigger[t[..., self.index["trigger"]]].unsqueeze(-1)
        buttons = t[..., self.buttons].to(trigger.dtype)
        return torch.cat([*sticks, trigger, buttons], dim=-1)  # (…, 13)
