"""Chart builders: the data behind each chart matches the frame tables it came from."""

from __future__ import annotations

import altair as alt
import numpy as np
import pytest

from workbench import viz
from workbench.replay import FrameStore, read_replay
from conftest import bundled


@pytest.fixture(scope="module")
def store(bundled_store) -> FrameStore:
    return FrameStore(bundled_store)


@pytest.fixture(scope="module")
def tables(store):
    return store.load_many([row["md5"] for row in store.games()])


def test_stage_geometry_matches_libmelee():
    import melee.stages as ms
    from melee.enums import Stage

    from workbench.types import STAGE_TO_LIBMELEE

    assert set(viz.STAGE_GEOMETRY) == set(STAGE_TO_LIBMELEE)
    for stage_id, geometry in viz.STAGE_GEOMETRY.items():
        stage = Stage(STAGE_TO_LIBMELEE[stage_id])
        assert geometry.edge == pytest.approx(ms.EDGE_GROUND_POSITION[stage])
        assert geometry.ledge == pytest.approx(ms.EDGE_POSITION[stage])
        assert (geometry.blast_left, geometry.blast_right, geometry.blast_top, geometry.blast_bottom) == pytest.approx(
            ms.BLASTZONES[stage]
        )
        expected = [
            ms.left_platform_position(stage),
            ms.right_platform_position(stage),
            ms.top_platform_position(stage),
        ]
        expected = sorted(tuple(p) for p in expected if p[0] is not None)
        fixed = sorted((p.height, p.left, p.right) for p in geometry.platforms if not p.moving)
        assert len(fixed) == len(expected)
        for mine, theirs in zip(fixed, expected):
            assert mine == pytest.approx(theirs)
        outline = geometry.outline()
        assert outline[0] == outline[-1] and outline[0] == (-geometry.edge, 0.0)


def test_moving_platforms_only_on_fountain():
    moving = {sid for sid, g in viz.STAGE_GEOMETRY.items() if any(p.moving for p in g.platforms)}
    assert moving == {2}
    assert viz.stage_geometry(84) is None and viz.stage_geometry(32).platforms == ()


def test_corpus_charts_count_games(store):
    rows = store.manifest()
    kept = [r for r in rows if r["status"] == "ok"]
    spec = viz.character_chart(rows).to_dict()
    counts = list(spec["datasets"].values())[0]
    assert sum(c["games"] for c in counts) == sum(len(r["characters"]) for r in kept)
    stats = viz.corpus_stats(rows)
    assert stats["files"] == len(rows) and stats["games_ok"] == len(kept) > 0
    assert stats["frames"] == sum(r["frames"] for r in kept)
    summary = viz.corpus_summary(rows).to_dict()
    assert len(summary["vconcat"]) == 3 and len(summary["datasets"]) == 6


def test_timeline_bounded_and_from_the_table(tables):
    table = tables[0]
    data = viz.timeline_frame(table, max_frames=300)
    assert set(data["field"]) == set(viz.game.TIMELINE_FIELDS)
    assert data["frame"].min() == 0 and data["frame"].max() == 299
    p0 = data[(data["player"] == viz.player_labels(table)[0]) & (data["field"] == "percent")]
    rows = np.searchsorted(table.frames, p0["frame"].to_numpy())
    np.testing.assert_allclose(p0["value"], np.round(table.columns["p0_percent"][rows], 2), atol=1e-6)
    long = viz.timeline_frame(table, max_points=100)
    assert long.groupby(["player", "field"]).size().max() <= 100
    assert isinstance(viz.game_timeline(table, max_frames=300), alt.FacetChart)


def test_stick_histograms_cover_every_playable_frame(tables):
    histograms = viz.stick_histograms(tables, bins=21)
    expected = {}
    for table in tables:
        for index in range(table.num_players):
            keep = (table.frames >= 0) & table.columns[f"p{index}_present"]
            for cid in np.unique(table.columns[f"p{index}_character"][keep]):
                name = viz.inputs.internal_character_name(int(cid))
                expected[name] = expected.get(name, 0) + int(
                    (keep & (table.columns[f"p{index}_character"] == cid)).sum()
                )
    assert histograms.groupby("character")["frames"].sum().to_dict() == expected
    shares = histograms.groupby("character")["share"].sum()
    np.testing.assert_allclose(shares, 1.0)
    assert 0.0 < viz.neutral_share(histograms) < 1.0
    assert viz.stick_heatmap(histograms).to_dict()["facet"]["field"] == "character"


def test_stick_histograms_of_a_known_stick():
    table = read_replay(bundled("games/Walnut356-game.slp"))
    table.columns["p0_stick_x"] = np.ones_like(table.columns["p0_stick_x"])  # hold right
    table.columns["p0_stick_y"] = np.zeros_like(table.columns["p0_stick_y"])
    histograms = viz.stick_histograms([table], bins=3)
    mine = histograms[histograms["character"] == viz.player_labels(table)[0].split(" ", 1)[1]]
    assert len(mine) == 1 and mine.iloc[0]["x"] == pytest.approx(1 / 3) and mine.iloc[0]["share"] == 1.0


def test_frame_chart_draws_players_and_items(tables):
    table, row = next((t, int(t.items.counts().argmax())) for t in tables if t.items.counts().max() > 0)
    players = viz.players_frame(table, np.array([row]))
    assert players["x"].tolist() == pytest.approx([table.columns[f"p{i}_x"][row] for i in range(2)])
    items = viz.items_frame(table, np.array([row]))
    assert len(items) == table.items.counts()[row]
    dense = table.items.dense()
    assert sorted(items["x"]) == pytest.approx(sorted(dense["item_x"][row][dense["item_present"][row]]))
    spec = viz.frame_chart(table, row).to_dict()
    geometry = viz.stage_geometry(table.meta.stage)
    x_scale = spec["layer"][0]["encoding"]["x"]["scale"]["domain"]
    assert x_scale == [geometry.blast_left, geometry.blast_right]
    assert len(spec["layer"]) == 2 + (1 if geometry.platforms else 0) + 4  # stage + actors
    assert f"frame {table.frames[row]}" in spec["title"]


def test_scrubber_chart_has_a_bound_frame_slider(tables):
    table = tables[0]
    spec = viz.scrubber_chart(table, max_frames=120, stride=2).to_dict()
    (param,) = spec["params"]
    assert param["name"] == "frame" and param["bind"]["input"] == "range"
    assert param["bind"]["min"] == 0 and param["bind"]["max"] == 118 and param["bind"]["step"] == 2
    frames = {row["frame"] for data in spec["datasets"].values() for row in data if "frame" in row}
    assert frames == set(range(0, 120, 2))


def test_frame_scrubber_links_play_and_slider(tables):
    import ipywidgets as widgets

    box = viz.frame_scrubber(tables[0], max_frames=50)
    play, slider = box.children[0].children
    assert isinstance(play, widgets.Play) and isinstance(slider, widgets.IntSlider)
    assert play.max == slider.max == 49
    output = box.children[1]
    assert isinstance(output, widgets.Output) and len(output.outputs) == 1
    assert "frame 0 " in output.outputs[0]["data"]["text/html"]
    slider.value = 10  # redraws (without a kernel too): one chart, of the new frame
    assert len(output.outputs) == 1 and output.outputs[0]["output_type"] == "display_data"
    assert "frame 10 " in output.outputs[0]["data"]["text/html"]


def test_renderer_keeps_the_spec():
    from workbench.viz.render import VEGALITE_MIME_TYPE

    spec = alt.Chart(alt.Data(values=[{"a": 1}])).mark_point().encode(x="a:Q").to_dict()
    bundle = viz.report_renderer(spec)
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert bundle[VEGALITE_MIME_TYPE] == spec and "text/html" in bundle
    assert VEGALITE_MIME_TYPE.startswith("application/vnd.vegalite.v") and VEGALITE_MIME_TYPE.endswith("+json")


def test_game_label_is_plain_text(store):
    label = viz.game_label(store.games()[0])
    assert " vs " in label and label.endswith(".slp)")


def test_confusion_frame_reads_rows_as_true_and_columns_as_predicted():
    # 3 buckets: true 0 predicted as 2 once, true 1 always right, true 2 never seen
    report = {"delays": {"0": {"sticks": {"main_x": {"confusion": [[3, 0, 1], [0, 5, 0], [0, 0, 0]]}}}}}
    frame = viz.confusion_frame(report, 0, "main_x").set_index(["true", "pred"])
    assert frame.loc[(0, 2), "count"] == 1 and frame.loc[(2, 0), "count"] == 0
    assert frame.loc[(0, 2), "share"] == 0.25 and frame.loc[(0, 0), "share"] == 0.75
    assert frame.loc[(1, 1), "share"] == 1.0
    assert frame.xs(2, level="true")["share"].sum() == 0  # an empty true bucket stays 0, no NaN
