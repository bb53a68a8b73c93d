"""The exported function: one frame of ``Policy.step`` with a flat, named state.

ONNX has no dicts, so the backbone's state dict becomes one input ``state_in_<key>`` and
one output ``state_out_<key>`` per key, in a fixed order. The graph takes the noise as
an input (``uniform`` in (0, 1)): 0.5 everywhere reproduces the argmax exactly, so one
graph serves both deterministic and sampled play. Besides the chosen classes and the
controller they decode to, it returns each component's distribution (sigmoid per
button, softmax per stick/trigger component) so that an exported model can be checked
against PyTorch number for number.

Inputs (batch 1, every dim fixed at export):

    floats (1, F) float32, ids (1, K) int32, controller (1, 13) float32,
    uniform (1, noise_size) float32, state_in_<key> ...

Outputs:

    targets (1, heads) int64, next_controller (1, 13) float32,
    probs_<component> (1, classes) float32 ..., state_out_<key> ...

A bot graph (``probs=False``, ``workbench export --no-probs``) has no ``probs_*``
outputs, and the fused head's choices-only form (:meth:`FusedHead.bot`): fewer nodes.
``native=True`` (what ``workbench export`` writes in fp32) runs a GRU/LSTM backbone's step
as ONNX's own recurrent operator (:mod:`workbench.deploy.native`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from workbench.deploy.fused import FusedHead, FusedInputs
from workbench.deploy.native import native_step
from workbench.models.policy import Policy

FRAME_INPUTS = ("floats", "ids", "controller", "uniform")
STATE_IN, STATE_OUT = "state_in_", "state_out_"


class StepGraph(nn.Module):
    """``Policy.step`` with positional tensors in and out, as the ONNX exporter sees it."""

    def __init__(
        self, policy: Policy, temperature: float = 1.0, fused: bool = True, probs: bool = True, native: bool = False
    ):
        super().__init__()
        self.probs = probs
        self.policy = policy.eval()
        self.temperature = float(temperature)
        # fused: the few-node inputs and head of workbench.deploy.fused (same numbers);
        # False exports the reference modules as they are (the benchmark's "before")
        self.fused = fused
        if fused:
            self.fused_inputs = FusedInputs(policy)
            self.fused_head = FusedHead(policy, temperature)
        # native: a GRU/LSTM step as ONNX's own GRU/LSTM node (workbench.deploy.native)
        self.native = native_step(policy.backbone) if fused and native else None
        self.backbone_step = self.native.step if self.native is not None else policy.backbone.step
        self.state_keys = list(policy.initial_state(1))
        self.components = [c.name for c in policy.head.components]
        self.binary = [c.binary for c in policy.head.components]

    @property
    def input_names(self) -> list[str]:
        return [*FRAME_INPUTS, *(STATE_IN + k for k in self.state_keys)]

    @property
    def output_names(self) -> list[str]:
        return [
            "targets",
            "next_controller",
            *(f"probs_{c}" for c in self.components if self.probs),
            *(STATE_OUT + k for k in self.state_keys),
        ]

    def forward(
        self, floats: Tensor, ids: Tensor, controller: Tensor, uniform: Tensor, *states: Tensor
    ) -> tuple[Tensor, ...]:
        """floats (1, F), ids (1, K), controller (1, 13), uniform (1, noise), states ->
        targets (1, heads), next_controller (1, 13), probs per component, new states."""
        policy = self.policy
        if self.fused:
            x = self.fused_inputs(floats, ids, controller)  # (1, D)
            h, new_state = self.backbone_step(x, dict(zip(self.state_keys, states)))  # (1, H)
            states_out = tuple(new_state[k] for k in self.state_keys)
            if not self.probs and self.fused_head.fused_prior:
                return (*self.fused_head.bot(h, uniform, controller), *states_out)
            prior = None if self.fused_head.fused_prior else policy.prior(controller, h.dtype)
            targets, next_controller, probs = self.fused_head(h, uniform, prior, controller)
            return (targets, next_controller, *(probs if self.probs else ()), *states_out)
        x = policy.inputs(floats, ids, controller)  # (1, D)
        h, new_state = policy.backbone.step(x, dict(zip(self.state_keys, states)))  # (1, H)
        targets, logits = policy.head.sample(
            h, self.temperature, uniform, policy.prior(controller, h.dtype)
        )  # (1, heads)
        probs = [
            torch.sigmoid(logits[c]) if binary else torch.softmax(logits[c], dim=-1)
            for c, binary in zip(self.components, self.binary)
            if self.probs
        ]
        return (targets, policy.decoder(targets), *probs, *(new_state[k] for k in self.state_keys))

    def example_inputs(self) -> tuple[Tensor, ...]:
        """Zero frame, neutral noise (0.5) and the initial state: the export's example."""
        layout, policy = self.policy.layout, self.policy
        return (
            torch.zeros(1, layout.float_dim),
            torch.zeros(1, layout.id_dim, dtype=torch.int32),
            torch.zeros(1, 13),
            torch.full((1, policy.noise_size), 0.5),
            *policy.initial_state(1).values(),
        )
