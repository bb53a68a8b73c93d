"""The live embedder (precomputed index arithmetic) equals the reference embed_state
on every frame of real replays played through libmelee, for several configs."""

import logging

import numpy as np
import pytest

from workbench.embed import EmbedConfig, PlayerEmbedConfig, StateLayout, embed_state
from workbench.embed.game import live_context
from workbench.embed.live import LiveEmbedder
from workbench.embed.returns import ReturnConfig
from workbench.replay import read_replay
from workbench.replay.live import gamestate_blocks

from conftest import bundled

CONFIGS = {
    "default": EmbedConfig(),
    "items": EmbedConfig(item_slots=5),
    "onehot": EmbedConfig(player=PlayerEmbedConfig(action="onehot", character="onehot"), stage="onehot", item_slots=2),
    "names": EmbedConfig(names=True, stage="learned", spatial=False),
    "returns": EmbedConfig(returns=ReturnConfig(enabled=True, target=2.0, scale=0.5)),
    "returns_no_target": EmbedConfig(returns=ReturnConfig(enabled=True)),
}


@pytest.mark.parametrize("replay", ["clips/PMcca-item-export.slp", "games/Walnut356-falcon_throws.slp"])
def test_live_embedder_equals_embed_state(replay):
    melee = pytest.importorskip("melee")
    logging.disable(logging.WARNING)
    path = bundled(replay)
    meta = read_replay(path).meta
    ports = [p.port for p in meta.players]
    console = melee.Console(path=str(path), is_dolphin=False)
    console.connect()
    states = []
    while (state := console.step()) is not None and len(states) < 800:
        states.append(state)
    for name, cfg in CONFIGS.items():
        layout = StateLayout(cfg)
        embedder = LiveEmbedder(layout)
        floats = np.full((1, layout.float_dim), np.nan, np.float32)
        ids = np.full((1, layout.id_dim), -7, np.int32)
        for state in states:
            for perspective in (0, 1):
                live = gamestate_blocks(state, ports)
                who = (ports[perspective], ports[1 - perspective])
                ctx = live_context(live, perspective, meta.stage, who, (3, 5))
                ref_floats, ref_ids = embed_state(ctx, layout)
                embedder.embed(ctx, floats, ids)
                np.testing.assert_array_equal(floats, ref_floats, err_msg=f"{name} frame {state.frame}")
                np.testing.assert_array_equal(ids, ref_ids, err_msg=f"{name} frame {state.frame}")
                floats[:] = np.nan
                embedder.embed_live(live, perspective, meta.stage, who, (3, 5), floats, ids)  # the bot's route
                np.testing.assert_array_equal(floats, ref_floats, err_msg=f"{name} frame {state.frame}")
                np.testing.assert_array_equal(ids, ref_ids, err_msg=f"{name} frame {state.frame}")
