"""Shared machinery of the LSTM and GRU backbones (registered in ``lstm.py``/``gru.py``).

``forward`` runs the fused multi-layer ``nn.LSTM``/``nn.GRU`` over the whole sequence;
``step`` runs the same weights one frame at a time through torch's fused single-frame
cells (``torch.lstm_cell``/``torch.gru_cell``), one call per layer. Calling the module
with T=1 instead costs about 1 ms per call on CPU (oneDNN sets up an RNN primitive per
call); the cells cost tens of microseconds.

State keys (all (B, H)): ``h_{i}`` per layer, plus ``c_{i}`` for the LSTM.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from .registry import Backbone, BackboneConfig, State


class RecurrentBackbone(Backbone):
    """Base for cuDNN/oneDNN-style RNN backbones; subclasses set ``rnn_class``,
    ``state_names`` (e.g. ("h", "c")) and ``_cell``."""

    rnn_class: ClassVar[type[nn.RNNBase]]
    state_names: ClassVar[tuple[str, ...]]

    def __init__(self, config: BackboneConfig, input_dim: int) -> None:
        super().__init__(config, input_dim)
        # nn.LSTM/GRU apply dropout between layers (not after the last), training only.
        self.rnn = self.rnn_class(
            input_dim,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        # State keys per layer, built once: string formatting per frame is measurable.
        self._keys = [tuple(f"{n}_{i}" for n in self.state_names) for i in range(config.num_layers)]
        parts = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        self._weight_names = [[f"{part}_l{i}" for part in parts] for i in range(config.num_layers)]

    def initial_state(self, batch_size: int, device=None, dtype=None) -> State:
        device, dtype = self._device_dtype(device, dtype)
        shape = (batch_size, self.config.hidden_size)
        return {key: torch.zeros(shape, device=device, dtype=dtype) for keys in self._keys for key in keys}

    def _layer_weights(self, layer: int) -> list[Tensor]:
        """[weight_ih, weight_hh, bias_ih, bias_hh] of one layer, read as module
        attributes so that tracing/export sees parameters, not constants."""
        return [getattr(self.rnn, name) for name in self._weight_names[layer]]

    def _stacked(self, state: State, name: str) -> Tensor:
        """Per-layer (B, H) tensors -> (num_layers, B, H), the layout nn.LSTM wants."""
        return torch.stack([state[f"{name}_{i}"] for i in range(self.config.num_layers)])

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """x (B, T, D) -> y (B, T, H) (top layer's h), state after the last frame."""
        if state is None:
            y, final = self.rnn(x)
        else:
            initial = tuple(self._stacked(state, n) for n in self.state_names)
            y, final = self.rnn(x, initial if len(initial) > 1 else initial[0])
        final = final if isinstance(final, tuple) else (final,)
        new_state = {
            f"{n}_{i}": per_layer
            for n, stacked in zip(self.state_names, final)
            for i, per_layer in enumerate(stacked.unbind(0))
        }
        return y, new_state

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """x (B, D) -> y (B, H), new state; one fused cell call per layer."""
        new_state, inp = {}, x
        for i, keys in enumerate(self._keys):
            updated = self._cell(inp, tuple(state[k] for k in keys), self._layer_weights(i))
            new_state.update(zip(keys, updated))
            inp = updated[0]  # h of this layer feeds the next
        return inp, new_state

    def _cell(self, x: Tensor, carried: tuple[Tensor, ...], weights: list[Tensor]) -> tuple[Tensor, ...]:
        """One frame of one layer: x (B, D_in), carried states (B, H) -> updated states."""
        raise NotImplementedError
