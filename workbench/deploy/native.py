"""The GRU/LSTM streaming step as onnxruntime's own ``GRU``/``LSTM`` operator.

Traced as it is, ``RecurrentBackbone.step`` (``torch.gru_cell``/``torch.lstm_cell``)
exports as a dozen elementwise nodes per layer around two matrix products; onnxruntime
runs each node as a separate kernel call. ONNX has the whole cell as one operator, and
onnxruntime's kernel for it is its best recurrent code (``benchmarks/deploy.py`` times
both forms: the step against its weight-streaming floor, and the bot graph's
``bot-cells`` column).

:class:`NativeRecurrentStep` holds one layer's weights in ONNX's layout (gates reordered,
a direction axis, both biases in one ``B``) as buffers and runs them through the custom
ops ``workbench::onnx_gru``/``workbench::onnx_lstm``; :func:`translations` tells the
exporter to write each call as one ``GRU``/``LSTM`` node. The ops' PyTorch
implementation computes the ONNX formulas in that layout, so a wrong gate order shows up
in PyTorch as well (``tests/test_deploy_native.py`` checks it against ``backbone.step``).

Quantized variants keep the decomposed step: onnxruntime's weight quantizers rewrite
``MatMul`` (INT8 and INT4) and not ``GRU``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from workbench.models.backbones.recurrent import RecurrentBackbone
from workbench.models.backbones.registry import Backbone, State

# PyTorch's gate rows are (r, z, n) for the GRU and (i, f, g, o) for the LSTM; ONNX wants
# (z, r, h) and (i, o, f, c): the PyTorch block at each ONNX position
GATE_ORDER = {"gru": (1, 0, 2), "lstm": (0, 3, 1, 2)}


@torch.library.custom_op("workbench::onnx_gru", mutates_args=())
def onnx_gru(x: Tensor, h: Tensor, w: Tensor, r: Tensor, b: Tensor) -> Tensor:
    """One GRU frame in ONNX's layout (``linear_before_reset=1``, PyTorch's formula):
    x (B, D), h (B, H), w (1, 3H, D), r (1, 3H, H), b (1, 6H) -> new h (B, H)."""
    gi = x @ w[0].T + b[0, : w.shape[1]]
    gh = h @ r[0].T + b[0, w.shape[1] :]
    (zi, ri, ni), (zh, rh, nh) = gi.chunk(3, -1), gh.chunk(3, -1)
    z, reset = torch.sigmoid(zi + zh), torch.sigmoid(ri + rh)
    n = torch.tanh(ni + reset * nh)
    return (1 - z) * n + z * h


@onnx_gru.register_fake
def _onnx_gru_fake(x: Tensor, h: Tensor, w: Tensor, r: Tensor, b: Tensor) -> Tensor:
    return torch.empty_like(h)


@torch.library.custom_op("workbench::onnx_lstm", mutates_args=())
def onnx_lstm(x: Tensor, h: Tensor, c: Tensor, w: Tensor, r: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM frame in ONNX's layout: x (B, D), h and c (B, H), w (1, 4H, D),
    r (1, 4H, H), b (1, 8H) -> new (h, c)."""
    gates = x @ w[0].T + h @ r[0].T + b[0, : w.shape[1]] + b[0, w.shape[1] :]
    i, o, f, g = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


@onnx_lstm.register_fake
def _onnx_lstm_fake(x: Tensor, h: Tensor, c: Tensor, w: Tensor, r: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    return torch.empty_like(h), torch.empty_like(c)


def translations() -> dict:
    """``custom_translation_table`` for ``torch.onnx.export(dynamo=True)``: each custom op
    call becomes one ``GRU``/``LSTM`` node (with the (1, B, .) reshapes ONNX's time and
    direction axes need)."""
    from onnxscript import opset18 as op

    def gru(x, h, w, r, b):
        axis = op.Constant(value_ints=[0])
        _, h_out = op.GRU(
            op.Unsqueeze(x, axis), w, r, b, None, op.Unsqueeze(h, axis), hidden_size=r.shape[2], linear_before_reset=1
        )
        return op.Squeeze(h_out, axis)

    def lstm(x, h, c, w, r, b):
        axis = op.Constant(value_ints=[0])
        _, h_out, c_out = op.LSTM(
            op.Unsqueeze(x, axis), w, r, b, None, op.Unsqueeze(h, axis), op.Unsqueeze(c, axis), hidden_size=r.shape[2]
        )
        return op.Squeeze(h_out, axis), op.Squeeze(c_out, axis)

    return {torch.ops.workbench.onnx_gru.default: gru, torch.ops.workbench.onnx_lstm.default: lstm}


class NativeRecurrentStep(nn.Module):
    """``backbone.step`` of a GRU/LSTM backbone through the ONNX-layout custom ops; the
    same state keys and numbers (to float rounding)."""

    def __init__(self, backbone: RecurrentBackbone) -> None:
        super().__init__()
        self.kind = backbone.config.name
        self.keys = [list(keys) for keys in backbone._keys]
        order = list(GATE_ORDER[self.kind])
        hidden = backbone.config.hidden_size

        def onnx_layout(tensor: Tensor) -> Tensor:  # (G*H, ...) -> (1, G*H, ...) in ONNX's gate order
            blocks = tensor.detach().reshape(len(order), hidden, *tensor.shape[1:])
            return blocks[order].reshape(1, len(order) * hidden, *tensor.shape[1:]).clone()

        for layer in range(backbone.config.num_layers):
            w_ih, w_hh, b_ih, b_hh = backbone._layer_weights(layer)
            self.register_buffer(f"w{layer}", onnx_layout(w_ih))
            self.register_buffer(f"r{layer}", onnx_layout(w_hh))
            self.register_buffer(f"b{layer}", torch.cat([onnx_layout(b_ih), onnx_layout(b_hh)], dim=1))

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state: one custom-op call per layer."""
        new_state, inp = {}, x
        for layer, keys in enumerate(self.keys):
            weights = (getattr(self, f"w{layer}"), getattr(self, f"r{layer}"), getattr(self, f"b{layer}"))
            if self.kind == "gru":
                updated = (onnx_gru(inp, state[keys[0]], *weights),)
            else:
                updated = onnx_lstm(inp, state[keys[0]], state[keys[1]], *weights)
            new_state.update(zip(keys, updated))
            inp = updated[0]  # h of this layer feeds the next
        return inp, new_state


def native_step(backbone: Backbone) -> NativeRecurrentStep | None:
    """The native form of ``backbone``'s step, or None where it has none (every backbone
    but a plain GRU/LSTM)."""
    if isinstance(backbone, RecurrentBackbone) and backbone.config.name in GATE_ORDER:
        return NativeRecurrentStep(backbone)
    return None


def drop_unused_outputs(model) -> int:
    """Blank the sequence output ``Y`` of every GRU/LSTM node nothing reads (the exporter
    names every output; onnxruntime then writes a (T, 1, B, H) copy per frame). Edits the
    ``onnx.ModelProto`` in place; returns how many it blanked."""
    read = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    blanked = 0
    for node in model.graph.node:
        if node.op_type in ("GRU", "LSTM") and node.output[0] and node.output[0] not in read:
            node.output[0] = ""
            blanked += 1
    return blanked
