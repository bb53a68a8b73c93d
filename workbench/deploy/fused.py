"""The exported step's fast path: the policy's input embedding, controller head and
decoder rewritten for a batch-1 graph with few nodes.

A bot frame in onnxruntime costs about a microsecond per graph node on top of the
arithmetic, and at 256x2 most of the reference graph's nodes were bookkeeping: one
``Gather`` per id column, a slice/clip/log/log chain of the noise per component, one
lookup per decoded controller column. :class:`FusedInputs` and :class:`FusedHead`
compute the same numbers as :meth:`Policy.inputs` and ``AutoregressiveHead.sample`` +
``ControllerDecoder`` (the plain PyTorch references, which training and self-play keep
using; ``tests/test_deploy_fused.py`` checks the two agree to 1e-5 and choose the same
classes, greedy and sampled), arranged so the graph has:

- **inputs**: one ``Gather`` for all id columns from one block-diagonal table (row
  ``offset[c] + id`` holds column c's embedding in c's slot of the id features, zeros
  elsewhere; summing the K gathered rows is exact, since every other entry is 0);
- **noise**: the Gumbel transform ``log(-log(u))`` once over the whole noise vector and
  one ``Split``, instead of one chain per component (same elementwise ops, so the same
  values bit for bit);
- **per component** one ``LayerNormalization``, two ``Gemm`` with the GELU between (the
  temperature folded into the second), the draw (``Sub`` + ``ArgMax``; buttons
  ``Less`` against the sigmoid the probabilities need anyway) and one feedback lookup;
- **decoding**: one ``Gather`` from a flat table of every controller column's bucket
  values, indexed by ``targets[:, head_of_column] + column_offset``;
- **the copy prior** (``CopyPrior``, uniform sticks): every component's previous class
  from one affine map and a round of the controller columns, its logits one gather from
  a block-diagonal table (k-means sticks keep the reference module).

A bot needs only the controller it presses, not the distributions: with ``probs=False``
(``workbench export --no-probs``) the head leaves out the per-component softmax and
folds, per frame, every categorical component's output bias, copy-prior logits and
Gumbel noise into one vector (one ``Add`` and one ``Sub`` for all components), which is
each component's ``Gemm`` bias: per component ``LayerNormalization``, ``Gemm``, ``Gelu``,
``Gemm``, ``ArgMax`` and the feedback lookup. The same sum in another order, so the
same choices (``tests/test_deploy_fused.py``: identical to the full head's on real
frames, greedy and sampled).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from workbench.embed.controller import BUTTON_NAMES
from workbench.models.policy import DELAY_SCALE, Policy

CLAMP = 1e-6  # the reference sampler's clamp of the noise, (1e-6, 1 - 1e-6)


class FusedInputs(nn.Module):
    """floats (1, F), ids (1, K) int32, controller (1, 13) -> backbone input (1, D),
    equal to :meth:`Policy.inputs`."""

    def __init__(self, policy: Policy):
        super().__init__()
        self.prev_controller = policy.embed_config.prev_controller
        self.normalize = policy.config.normalize_floats
        if self.normalize:  # copies of the policy's statistics (set before export)
            self.register_buffer("float_shift", policy.float_shift.detach().clone())
            self.register_buffer("float_scale", policy.float_scale.detach().clone())
        # a step graph plays at the policy's play_delay: the delay input is a constant
        self.delay = float(policy.play_delay) if policy.config.delay_input else None
        tables = [policy.id_embeddings[group].weight.detach() for group in policy.id_columns]
        width = sum(t.shape[1] for t in tables)
        rows = sum(t.shape[0] for t in tables)
        block = torch.zeros(max(rows, 1), max(width, 1))  # (sum vocab, sum E)
        offsets, row, col = [], 0, 0
        for table in tables:
            vocab, dim = table.shape
            block[row : row + vocab, col : col + dim] = table
            offsets.append(row)
            row, col = row + vocab, col + dim
        self.id_dim = width
        self.register_buffer("table", block)
        self.register_buffer("offsets", torch.tensor([offsets], dtype=torch.int32))  # (1, K)

    def forward(self, floats: Tensor, ids: Tensor, controller: Tensor) -> Tensor:
        if self.normalize:
            floats = (floats - self.float_shift) * self.float_scale
        parts = [floats]
        if self.prev_controller:
            parts.append(controller)
        if self.delay is not None:  # as Policy.inputs: D / DELAY_SCALE after the controller
            parts.append(torch.full_like(floats[..., :1], self.delay) / DELAY_SCALE)
        if self.id_dim and ids.shape[-1]:
            rows = F.embedding((ids + self.offsets).long(), self.table)  # (1, K, E)
            parts.append(rows.sum(dim=1))  # (1, E)
        return torch.cat(parts, dim=-1)  # (1, D)


class FusedHead(nn.Module):
    """h (1, H), uniform (1, noise) -> targets (1, heads) int64, next controller (1, 13),
    per-component probabilities; equal to ``head.sample`` + ``policy.decoder``."""

    def __init__(self, policy: Policy, temperature: float = 1.0):
        super().__init__()
        head, spec = policy.head, policy.spec
        self.components = head.components
        if not self.components[0].binary or any(c.binary for c in self.components[1:]):
            raise ValueError("the fused head expects the button block first and only there")
        self.buttons = len(self.components[0].heads)
        self.norms = nn.ModuleList(mlp.net[0] for mlp in head.mlps)
        self.hidden = nn.ModuleList(mlp.net[1] for mlp in head.mlps)
        self.approximate = head.mlps[0].net[2].approximate
        for k, mlp in enumerate(head.mlps):  # temperature folded into the logits' layer
            out = mlp.net[3]
            self.register_buffer(f"out_w{k}", out.weight.detach() / float(temperature))
            self.register_buffer(f"out_b{k}", out.bias.detach() / float(temperature))
        self.register_buffer(
            "cat_bias", torch.cat([getattr(self, f"out_b{k}") for k in range(1, len(head.mlps))])[None]
        )  # (1, sum C)
        self.button_feedback = head.feedback[0]  # Linear(8, H, bias=False)
        self.class_feedback = nn.ModuleList(head.feedback[1:])  # Embedding(classes, H)
        self.widths = [c.classes for c in self.components[1:]]
        self.temperature = float(temperature)
        self.fused_prior = policy.copy_prior is not None and not spec.kmeans
        if self.fused_prior:
            self._prior_tables(policy.copy_prior, spec)
        self._decoder_table(spec)

    def _prior_tables(self, prior, spec) -> None:
        """The copy prior (``CopyPrior``) as index arithmetic: each categorical
        component's previous class from its controller column by one affine map and a
        round, its logits one row of a block-diagonal table (w at the class, 0 elsewhere,
        as ``w * one_hot``), all components in one gather; buttons ``w * (2 pressed - 1)``."""
        names = [c.name for c in self.components[1:]]
        if names != ["main_x", "main_y", "c_x", "c_y", "trigger"]:
            raise ValueError(f"the fused copy prior expects uniform sticks, got {names}")
        k, t = len(spec.axis_values), len(spec.trigger_values)
        self.register_buffer("prior_add", torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]]))
        self.register_buffer("prior_half", torch.tensor([[0.5, 0.5, 0.5, 0.5, 1.0]]))
        self.register_buffer("prior_scale", torch.tensor([[k - 1.0] * 4 + [t - 1.0]]))
        self.register_buffer("prior_high", torch.tensor([[c.classes - 1.0 for c in self.components[1:]]]))
        offsets = torch.cumsum(torch.tensor([0] + self.widths[:-1]), 0)
        self.register_buffer("prior_offsets", offsets[None].to(torch.int64))  # (1, 5)
        table = torch.zeros(sum(self.widths), sum(self.widths))
        for offset, comp in zip(offsets.tolist(), self.components[1:]):
            weight = prior.weight[comp.name].detach() / self.temperature
            table[offset : offset + comp.classes, offset : offset + comp.classes] = torch.diag(weight)
        self.register_buffer("prior_table", table)  # (sum C, sum C)
        self.register_buffer("prior_buttons", prior.weight["buttons"].detach()[None] / self.temperature)

    def copy_prior(self, controller: Tensor) -> list[Tensor]:
        """controller (1, 13) at bucket centres -> the copy prior's logits per component
        (already divided by the temperature)."""
        buttons, classes = self.copy_prior_flat(controller)
        return [buttons, *torch.split(classes, self.widths, dim=-1)]

    def copy_prior_flat(self, controller: Tensor) -> tuple[Tensor, Tensor]:
        """The copy prior's logits: buttons (1, 8) and every categorical component's side
        by side (1, sum C)."""
        pressed = (controller[:, 5:13] > 0.5).to(controller.dtype)  # (1, 8)
        buttons = self.prior_buttons * (2 * pressed - 1)
        values = (controller[:, 0:5] + self.prior_add) * self.prior_half * self.prior_scale
        classes = torch.minimum(torch.round(values).clamp(min=0.0), self.prior_high)  # (1, 5)
        rows = F.embedding(classes.long() + self.prior_offsets, self.prior_table)  # (1, 5, sum C)
        return buttons, rows.sum(dim=1)

    def _decoder_table(self, spec) -> None:
        """Every controller column's bucket values in one flat table: column j reads
        ``values[offset[j] + targets[head_of[j]]]``."""
        tables, heads = [], []
        if spec.kmeans:
            for name, centers in (("main", spec.main_centers), ("c", spec.c_centers)):
                tables += [torch.from_numpy(centers[:, 0].copy()), torch.from_numpy(centers[:, 1].copy())]
                heads += [spec.index[name]] * 2
        else:
            for name in ("main_x", "main_y", "c_x", "c_y"):
                tables.append(torch.from_numpy(spec.axis_values.copy()))
                heads.append(spec.index[name])
        tables.append(torch.from_numpy(spec.trigger_values.copy()))
        heads.append(spec.index["trigger"])
        for name in BUTTON_NAMES:
            tables.append(torch.tensor([0.0, 1.0]))
            heads.append(spec.index[name])
        offsets = torch.cumsum(torch.tensor([0] + [len(t) for t in tables[:-1]]), 0)
        self.register_buffer("decode_values", torch.cat(tables).float()[None])  # (1, sum classes)
        self.register_buffer("decode_heads", torch.tensor(heads, dtype=torch.int64))  # (13,)
        self.register_buffer("decode_offsets", offsets[None].to(torch.int64))  # (1, 13)

    def _logits(self, k: int, r: Tensor, prior: list[Tensor] | None = None) -> Tensor:
        z = F.linear(self._hidden(k, r), getattr(self, f"out_w{k}"), getattr(self, f"out_b{k}"))  # (1, C)
        return z if prior is None else z + prior[k]

    def _hidden(self, k: int, r: Tensor) -> Tensor:
        return F.gelu(self.hidden[k](self.norms[k](r)), approximate=self.approximate)  # (1, Hh)

    def bot(self, h: Tensor, uniform: Tensor, controller: Tensor) -> tuple[Tensor, Tensor]:
        """The choices alone (see the module docstring): h (1, H), uniform (1, noise),
        controller (1, 13) -> targets (1, heads), next controller (1, 13)."""
        u = uniform.clamp(CLAMP, 1.0 - CLAMP)  # (1, noise)
        gumbel = torch.log(-torch.log(u[:, self.buttons :]))  # (1, noise - 8)
        button_prior, class_prior = self.copy_prior_flat(controller)
        shifts = torch.split(self.cat_bias + class_prior - gumbel, self.widths, dim=-1)  # bias + prior - noise
        on = torch.sigmoid(torch.addmm(self.out_b0 + button_prior, self._hidden(0, h), self.out_w0.t()))  # (1, 8)
        pressed = (u[:, : self.buttons] < on).long()  # (1, 8)
        r = h + self.button_feedback(pressed.to(h.dtype))  # (1, H)
        picks = [pressed]
        last = len(self.widths) - 1
        for k, shift in enumerate(shifts):
            z = torch.addmm(shift, self._hidden(k + 1, r), getattr(self, f"out_w{k + 1}").t())  # (1, C)
            pick = z.argmax(-1)  # (1,)
            picks.append(pick[:, None])
            if k < last:
                r = r + self.class_feedback[k](pick)  # (1, H)
        return self._decode(torch.cat(picks, dim=-1))

    def _decode(self, targets: Tensor) -> tuple[Tensor, Tensor]:
        index = targets.index_select(1, self.decode_heads) + self.decode_offsets  # (1, 13)
        return targets, torch.gather(self.decode_values, 1, index)

    def forward(
        self, h: Tensor, uniform: Tensor, prior: dict[str, Tensor] | None = None, controller: Tensor | None = None
    ) -> tuple[Tensor, Tensor, list[Tensor]]:
        """``prior``: the copy prior's logits per component (``Policy.prior``), added
        before the temperature as the reference head adds them; with the fused prior,
        ``controller`` (1, 13) instead, from which it computes them."""
        u = uniform.clamp(CLAMP, 1.0 - CLAMP)  # (1, noise)
        gumbel = torch.log(-torch.log(u[:, self.buttons :]))  # (1, noise - 8)
        noise = torch.split(gumbel, self.widths, dim=-1)
        if self.fused_prior and controller is not None:
            prior = self.copy_prior(controller)
        elif prior is not None:  # (mlp + prior) / T == mlp / T + prior / T
            prior = [
                prior[c.name] / self.temperature if self.temperature != 1.0 else prior[c.name] for c in self.components
            ]
        z = self._logits(0, h, prior)  # (1, 8)
        on = torch.sigmoid(z)
        pressed = (u[:, : self.buttons] < on).long()  # (1, 8)
        r = h + self.button_feedback(pressed.to(h.dtype))  # (1, H)
        picks, probs = [pressed], [on]
        last = len(self.widths) - 1
        for k, g in enumerate(noise):
            z = self._logits(k + 1, r, prior)  # (1, C)
            probs.append(torch.softmax(z, dim=-1))
            pick = (z - g).argmax(-1)  # (1,)
            picks.append(pick[:, None])
            if k < last:
                r = r + self.class_feedback[k](pick)  # (1, H)
        targets, next_controller = self._decode(torch.cat(picks, dim=-1))  # (1, heads), (1, 13)
        return targets, next_controller, probs
