"""Behavioural-cloning losses: per-head cross-entropy (buttons: BCE) with label
smoothing, focal loss, per-head weights, stick-edge weighting, class-balanced stick
weights, and the optional next-action-state auxiliary loss."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.models.heads import Component
from workbench.train.config import LossConfig

BITS = 1.0 / math.log(2.0)  # nats -> bits


def stick_edge_weights(classes: int, kind: str, centers: Tensor | None, edge: float) -> Tensor:
    """1 + edge * (distance of each class from neutral, scaled to [0, 1])."""
    if kind == "stick_axis":
        distance = torch.linspace(-1, 1, classes).abs()
    else:
        distance = (centers.float() - 0.0).norm(dim=-1) if centers is not None else torch.zeros(classes)
        distance = distance / distance.max().clamp(min=1e-6)
    return 1.0 + edge * distance


class BCLoss:
    """Computes the weighted sum over components and per-head metrics for logging."""

    def __init__(
        self,
        config: LossConfig,
        components: list[Component],
        heads: list,
        class_weights: dict[str, Tensor] | None = None,
        centers: dict[str, Tensor] | None = None,
    ):
        self.config = config
        self.components = components
        self.heads = heads
        # per stick component: edge weights times class-balance weights, built once
        self.class_weights: dict[str, Tensor] = dict(class_weights or {})
        if config.stick_edge_weight > 0:
            for comp in components:
                kind = heads[comp.heads[0]].kind
                if kind in ("stick_axis", "stick_2d"):
                    edge = stick_edge_weights(
                        comp.classes, kind, (centers or {}).get(comp.name), config.stick_edge_weight
                    )
                    balance = self.class_weights.get(comp.name)
                    self.class_weights[comp.name] = edge if balance is None else edge * balance

    def weight_of(self, comp: Component) -> float:
        kind = self.heads[comp.heads[0]].kind
        return {"button": self.config.button_weight, "trigger": self.config.trigger_weight}.get(
            kind, self.config.stick_weight
        )

    def __call__(
        self,
        logits: dict[str, Tensor],
        targets: Tensor,
        mask: Tensor | None = None,
        aux_logits: Tensor | None = None,
        next_action: Tensor | None = None,
        previous: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """logits per component (B, T, .), targets (B, T, heads), mask (B, T) of valid
        steps, ``previous`` (B, T, heads) the inputs before the targets (for change-frame
        weighting). Returns the total loss and per-component mean losses (detached)."""
        total, parts = 0.0, {}
        mask = torch.ones(targets.shape[:-1], device=targets.device) if mask is None else mask.float()
        denom = mask.sum().clamp(min=1.0)
        for comp in self.components:
            z = logits[comp.name].float()
            if comp.binary:
                per = self._bce(z, targets[..., list(comp.heads)].float()).sum(-1)  # (B, T)
            else:
                per = self._ce(comp, z, targets[..., comp.heads[0]].long())  # (B, T)
            if self.config.change_weight > 0 and previous is not None:
                cols = list(comp.heads)
                changed = (targets[..., cols] != previous[..., cols]).any(-1)  # (B, T)
                per = per * (1.0 + self.config.change_weight * changed.float())
            loss = (per * mask).sum() / denom
            parts[comp.name] = loss.detach()
            total = total + self.weight_of(comp) * loss
        if aux_logits is not None and self.config.aux_action_lambda > 0:
            aux = F.cross_entropy(
                aux_logits.float().flatten(0, -2), next_action.long().flatten(), reduction="none"
            ).view_as(mask)
            aux_loss = (aux * mask).sum() / denom
            parts["aux_action"] = aux_loss.detach()
            total = total + self.config.aux_action_lambda * aux_loss
        return total, parts

    def _bce(self, z: Tensor, y: Tensor) -> Tensor:
        eps = self.config.label_smoothing
        y = y * (1 - eps) + 0.5 * eps
        loss = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        if self.config.focal_gamma > 0:
            p_true = torch.exp(-loss)
            loss = loss * (1 - p_true) ** self.config.focal_gamma
        return loss

    def _ce(self, comp: Component, z: Tensor, y: Tensor) -> Tensor:
        flat_z, flat_y = z.flatten(0, -2), y.flatten()
        loss = F.cross_entropy(flat_z, flat_y, reduction="none", label_smoothing=self.config.label_smoothing)
        if self.config.focal_gamma > 0:
            p_true = torch.softmax(flat_z, -1).gather(-1, flat_y[:, None]).squeeze(-1)
            loss = loss * (1 - p_true) ** self.config.focal_gamma
        weight = self.class_weights.get(comp.name)
        if weight is not None:
            loss = loss * weight.to(z.device)[flat_y]
        return loss.view(y.shape)


def joint_nll(logits: dict[str, Tensor], targets: Tensor, components: list[Component]) -> Tensor:
    """(B, T) the sum over heads of the plain NLL (nats) of the true targets: the joint
    NLL of the autoregressive head, whatever weights or smoothing the training loss uses."""
    total = torch.zeros(targets.shape[:-1], device=targets.device)
    for comp in components:
        z = logits[comp.name].float()
        if comp.binary:
            y = targets[..., list(comp.heads)].float()
            total = total + F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(-1)
        else:
            y = targets[..., comp.heads[0]].long()
            total = total + F.cross_entropy(z.flatten(0, -2), y.flatten(), reduction="none").view(y.shape)
    return total


def class_balance_weights(
    targets: Tensor, components: list[Component], heads: list, smoothing: float = 1.0
) -> dict[str, Tensor]:
    """Inverse-frequency class weights for stick components (mean weight 1 over the data),
    from a sample of training targets (N, heads)."""
    weights = {}
    for comp in components:
        if heads[comp.heads[0]].kind not in ("stick_axis", "stick_2d"):
            continue
        counts = torch.bincount(targets[:, comp.heads[0]].long(), minlength=comp.classes).float()
        w = 1.0 / (counts + smoothing)
        freq = counts / counts.sum()
        weights[comp.name] = w / (w * freq).sum()
    return weights
