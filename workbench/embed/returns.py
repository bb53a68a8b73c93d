"""Return-to-go, the outcome a Decision Transformer is conditioned on.

A frame's reward, seen by the agent, comes from replay outcomes:

    r_t = stock * (stocks the opponent lost at t - stocks the agent lost at t)
        + damage * (percent the opponent took at t - percent the agent took at t)

and its return-to-go is what is still to come: R_t = scale * sum_{t < s <= t + horizon} r_s
(``horizon = 0``: to the end of the game). During training the feature is computed from
the whole stored game; at inference nobody knows the future, so ``target`` replaces it
by the return the player asks for (``--target-return``), and that constant is what the
live, simulated and exported paths see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.errors import ConfigError


@dataclass
class ReturnConfig:
    """The return-to-go feature (off unless a backbone needs it: ``dt`` turns it on)."""

    enabled: bool = False
    stock: float = 1.0  # reward per stock taken (and minus per stock lost)
    damage: float = 0.01  # reward per percent dealt (100% = one stock)
    horizon: int = 600  # frames of future summed (10 s); 0 = the rest of the game
    scale: float = 1.0  # the feature is scale * return
    target: float | None = None  # inference: this return (in reward units) on every frame

    def __post_init__(self) -> None:
        if self.horizon < 0:
            raise ConfigError(f"returns.horizon={self.horizon}: use 0 (rest of the game) or more frames")


def frame_rewards(
    self_stocks: np.ndarray,
    opp_stocks: np.ndarray,
    self_percent: np.ndarray,
    opp_percent: np.ndarray,
    config: ReturnConfig,
) -> np.ndarray:
    """(N,) per-frame columns -> (N,) float64 rewards r_t (r_0 = 0). Percent resets at a
    death are not damage, so only increases count."""

    def increase(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        return np.maximum(np.diff(x, prepend=x[:1]), 0.0)

    def lost(stocks: np.ndarray) -> np.ndarray:
        stocks = stocks.astype(np.float64)
        return np.maximum(-np.diff(stocks, prepend=stocks[:1]), 0.0)

    return config.stock * (lost(opp_stocks) - lost(self_stocks)) + config.damage * (
        increase(opp_percent) - increase(self_percent)
    )


def return_to_go(rewards: np.ndarray, horizon: int) -> np.ndarray:
    """(N,) rewards -> (N,) R_t = sum of r_s for t < s <= t + horizon (0: to the end)."""
    total = np.concatenate([[0.0], np.cumsum(rewards)])  # total[i] = r_0 + .. + r_{i-1}
    n = len(rewards)
    end = np.full(n, n) if horizon == 0 else np.minimum(np.arange(n) + horizon + 1, n)
    return total[end] - total[np.arange(n) + 1]
