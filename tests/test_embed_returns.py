"""The return-to-go feature: rewards from stocks and damage, the sum still to come, the
target at inference, and its place in the layout and the cache key."""

import numpy as np
import pytest

from conftest import bundled
from workbench.embed import EmbedConfig, StateLayout, embed_game
from workbench.embed.returns import ReturnConfig, frame_rewards, return_to_go
from workbench.errors import ConfigError
from workbench.replay import read_replay


def test_rewards_count_stocks_and_damage_from_the_agents_side():
    config = ReturnConfig(stock=1.0, damage=0.01)
    self_stocks = np.array([4, 4, 4, 3, 3])
    opp_stocks = np.array([4, 4, 4, 4, 4])
    self_percent = np.array([0, 0, 50, 0, 0])  # took 50%, then died (the reset is no damage)
    opp_percent = np.array([0, 20, 20, 20, 30])  # dealt 20% then 10%
    rewards = frame_rewards(self_stocks, opp_stocks, self_percent, opp_percent, config)
    np.testing.assert_allclose(rewards, [0.0, 0.2, -0.5, -1.0, 0.1])


@pytest.mark.parametrize("horizon, expected", [(0, [-1.2, -1.4, -0.9, 0.1, 0.0]), (2, [-0.3, -1.5, -0.9, 0.1, 0.0])])
def test_return_to_go_sums_what_is_still_to_come(horizon, expected):
    rewards = np.array([0.0, 0.2, -0.5, -1.0, 0.1])
    np.testing.assert_allclose(return_to_go(rewards, horizon), expected, atol=1e-12)


def test_feature_is_the_last_float_column_and_a_target_replaces_it():
    table = read_replay(bundled("games/Walnut356-falcon_throws.slp"))
    config = EmbedConfig.from_dict({"returns": {"enabled": True, "horizon": 0}})
    layout = StateLayout(config)
    assert layout.slices["return_to_go"] == slice(layout.float_dim - 1, layout.float_dim)
    assert layout.float_dim == StateLayout(EmbedConfig()).float_dim + 1
    game = embed_game(table, config, 0)
    rtg = game.floats[:, -1]
    # from the agent's side the whole-game return is (stocks taken - lost) plus damage
    # terms; the last frame has nothing left to come, and the return changes over the game
    assert rtg[-1] == 0.0 and np.unique(rtg).size > 10
    other = embed_game(table, config, 1).floats[:, -1]
    assert np.corrcoef(rtg, other)[0, 1] < -0.9  # zero-sum up to damage on both sides
    target = EmbedConfig.from_dict({"returns": {"enabled": True, "target": 1.5, "scale": 0.5}})
    assert np.all(embed_game(table, target, 0).floats[:, -1] == 0.75)
    assert EmbedConfig().cache_key() != config.cache_key() != target.cache_key()
    with pytest.raises(ConfigError):
        ReturnConfig(horizon=-1)
