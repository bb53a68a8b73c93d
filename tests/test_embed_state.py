"""State embedding: layout, whole-versus-single parity, live parity, mirroring, noise."""

import logging

import numpy as np
import pytest

from conftest import bundled
from workbench.embed import (
    ConfigError,
    EmbedConfig,
    PlayerEmbedConfig,
    StateContext,
    StateLayout,
    add_noise,
    embed_game,
    embed_state,
    mirror_columns,
    mirror_floats,
    table_context,
)
from workbench.replay import read_replay
from workbench.embed.game import live_context
from workbench.replay.live import gamestate_blocks, gamestate_row


@pytest.fixture(scope="module")
def ics_game():
    return read_replay(bundled("games/PMcca-sheik_vs_ics_yoshis.slp"))  # Nana, transforms


@pytest.fixture(scope="module")
def items_game():
    return read_replay(bundled("clips/PMcca-item-export.slp"))


def test_layout_follows_the_config():
    small = StateLayout(EmbedConfig())
    onehot = StateLayout(
        EmbedConfig(
            player=PlayerEmbedConfig(action="onehot", character="onehot"),
            stage="onehot",
            item_slots=0,
            nana="off",
            spatial=False,
        )
    )
    assert onehot.float_dim > small.float_dim + 2 * 399 - 100
    assert "self_action" in small.id_names and "self_action" not in onehot.id_names
    enhanced = StateLayout(EmbedConfig(nana="enhanced"))
    assert enhanced.id_dim == small.id_dim + 2 and "self_nana_action" in enhanced.id_names
    named = StateLayout(EmbedConfig(names=True))
    assert named.id_groups.count("name") == 2


def test_config_round_trip_and_errors():
    cfg = EmbedConfig(nana="enhanced", item_slots=3, player=PlayerEmbedConfig(action="onehot"))
    again = EmbedConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.cache_key() == cfg.cache_key() != EmbedConfig().cache_key()
    with pytest.raises(ConfigError, match="nana='sometimes'"):
        EmbedConfig(nana="sometimes")
    with pytest.raises(ConfigError, match="unknown option nanna .did you mean nana"):
        EmbedConfig.from_dict({"nanna": "off"})


@pytest.mark.parametrize(
    "cfg",
    [
        EmbedConfig(),
        EmbedConfig(
            nana="enhanced",
            stage="onehot",
            item_slots=15,
            names=True,
            relative=True,
            player=PlayerEmbedConfig(action="onehot", character="onehot"),
        ),
    ],
)
def test_whole_game_equals_frame_by_frame(ics_game, cfg):
    layout = StateLayout(cfg)
    ctx = table_context(ics_game, 1, cfg.item_slots, name_ids=(3, 7))
    floats, ids = embed_state(ctx, layout)
    for row in range(0, len(ics_game), 97):
        one = StateContext(
            {k: v[row : row + 1] for k, v in ctx.columns.items()},
            {k: v[row : row + 1] for k, v in ctx.items.items()},
            ctx.frames[row : row + 1],
            ctx.stage,
            ctx.self_index,
            ctx.opp_index,
            ctx.ports,
            ctx.name_ids,
        )
        f1, i1 = embed_state(one, layout)
        np.testing.assert_array_equal(f1[0], floats[row])
        np.testing.assert_array_equal(i1[0], ids[row])


def test_live_frames_embed_like_stored_frames(items_game):
    """libmelee's view of each frame, through the live adapter, embeds exactly like the
    stored frame (the feature parity a bot relies on)."""
    melee = pytest.importorskip("melee")
    logging.disable(logging.WARNING)
    cfg = EmbedConfig(item_slots=5)
    layout = StateLayout(cfg)
    stored_floats, stored_ids = embed_state(table_context(items_game, 0, 5), layout)
    console = melee.Console(path=str(bundled("clips/PMcca-item-export.slp")), is_dolphin=False)
    console.connect()
    ports = [p.port for p in items_game.meta.players]
    row = 0
    while (state := console.step()) is not None:
        # the bot's route: player blocks straight from the GameState
        fast = embed_state(live_context(gamestate_blocks(state, ports), 0, items_game.meta.stage, tuple(ports)), layout)
        # the row route: the same frame as frame-table columns
        live = gamestate_row(state, ports)
        items = {k: v for k, v in live.items() if k.startswith("item_")}
        ctx = StateContext(live, items, live["frame"], items_game.meta.stage, 0, 1, tuple(ports))
        for floats, ids in (fast, embed_state(ctx, layout)):
            np.testing.assert_allclose(floats[0], stored_floats[row], atol=1e-6, err_msg=f"row {row}")
            np.testing.assert_array_equal(ids[0], stored_ids[row])
        row += 1
    assert row == len(items_game)


def test_mirroring(items_game):
    cfg = EmbedConfig(item_slots=5, relative=True)
    layout = StateLayout(cfg)
    ctx = table_context(items_game, 0, 5)
    floats, ids = embed_state(ctx, layout)
    columns, items = mirror_columns(ctx.columns, ctx.items)
    mirrored_ctx = StateContext(columns, items, ctx.frames, ctx.stage, 0, 1, ctx.ports)
    mirrored, mirrored_ids = embed_state(mirrored_ctx, layout)
    np.testing.assert_allclose(mirror_floats(floats, layout), mirrored, atol=1e-6)
    np.testing.assert_array_equal(ids, mirrored_ids)
    np.testing.assert_array_equal(mirror_floats(mirror_floats(floats, layout), layout), floats)
    assert (layout.mirror_sign[layout.slices["self_x"]] == -1).all()
    assert (layout.mirror_sign[layout.slices["self_y"]] == 1).all()


def test_noise_touches_only_continuous_features(items_game):
    layout = StateLayout(EmbedConfig())
    floats = embed_game(items_game, EmbedConfig(), 0, layout).floats
    noisy = add_noise(floats, layout, 0.05, np.random.default_rng(0))
    changed = (noisy != floats).any(axis=0)
    np.testing.assert_array_equal(changed, layout.noise_mask)
    assert abs(float((noisy - floats)[:, layout.noise_mask].std()) - 0.05) < 0.005


def test_relative_features(ics_game):
    layout = StateLayout(EmbedConfig(relative=True))
    floats, _ = embed_state(table_context(ics_game, 0, 5), layout)
    col = lambda name: floats[:, layout.slices[name].start]  # noqa: E731
    toward = col("self_facing") * np.sign(col("dx"))
    np.testing.assert_array_equal(col("self_facing_opp"), toward)
    assert set(np.unique(toward)) <= {-1.0, 0.0, 1.0} and (toward == 1).mean() > 0.3
    # Yoshi's Story's ground edge is at |x| = 56: mostly over the stage (> 0), sometimes past it
    np.testing.assert_allclose(col("self_ledge"), 0.56 - np.abs(col("self_x")), atol=1e-5)
    assert 0.7 < (col("self_ledge") > 0).mean() < 1.0
