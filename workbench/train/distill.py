"""Knowledge distillation: a small student trained on a teacher's soft targets.

loss = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * label loss, where _T
means logits divided by the temperature T (Hinton et al., 2015). Both models see the
same inputs and are teacher-forced on the same true controller, so each component's
distributions are comparable; under truncated BPTT the teacher carries its own state
across chunks exactly as the student does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from workbench.errors import WorkbenchError
from workbench.models.policy import Policy
from workbench.train.config import DistillConfig


class DistillLoss:
    def __init__(self, cfg: DistillConfig, student: Policy):
        from workbench.train.checkpoint import load_policy

        teacher, teacher_cfg, folder = load_policy(cfg.teacher)
        if teacher_cfg.embed.to_dict() != student.embed_config.to_dict():
            raise WorkbenchError(
                f"teacher {folder} was trained on another embedding config; "
                "distillation needs the same inputs (copy its embed section)"
            )
        self.teacher = teacher.to(next(student.parameters()).device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.temperature, self.alpha = cfg.temperature, cfg.alpha
        self.components = student.head.components
        self.carried = None  # the teacher's state after the last chunk (TBPTT only)

    def soft_loss(self, student: dict[str, Tensor], teacher: dict[str, Tensor]) -> Tensor:
        t = self.temperature
        total = 0.0
        for comp in self.components:
            s, q = student[comp.name].float() / t, teacher[comp.name].float() / t
            if comp.binary:
                total = total + F.binary_cross_entropy_with_logits(s, torch.sigmoid(q)) * len(comp.heads)
            else:
                total = total + F.kl_div(
                    F.log_softmax(s, -1).flatten(0, -2),
                    F.log_softmax(q, -1).flatten(0, -2),
                    log_target=True,
                    reduction="batchmean",
                )
        return total * t * t

    def __call__(
        self, hard: Tensor, parts: dict, student_logits: dict[str, Tensor], batch: dict, reset: Tensor | None = None
    ) -> tuple[Tensor, dict]:
        """``reset`` (B,) bool: TBPTT chunk whose rows starting a new game are marked; None
        for independent windows (the teacher starts from its initial state)."""
        state = None
        if reset is not None:
            state = self.teacher.carry_state(self.carried, reset, batch["floats"].shape[0], batch["floats"].device)
        with torch.no_grad():
            teacher = self.teacher(batch["floats"], batch["ids"], batch["controller"], batch["targets"], state)
        if reset is not None:
            self.carried = teacher.state
        soft = self.soft_loss(student_logits, teacher.logits)
        parts = dict(parts, distill=soft.detach(), labels=hard.detach())
        return self.alpha * soft + (1 - self.alpha) * hard, parts
