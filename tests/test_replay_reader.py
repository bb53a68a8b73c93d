"""read_replay: both parsers, every error reason, rollback, units, parser parity."""

from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import DATA, bundled, shared
from workbench.replay import (
    CorruptReplayError,
    CPUPlayerError,
    EmptyReplayError,
    IngestPolicy,
    NotSlippiError,
    OutOfRangeError,
    TooManyPlayersError,
    TooShortError,
    UnsupportedModeError,
    read_replay,
)
from workbench.replay.header import meta_from_header, read_header
from workbench.replay.peppi_reader import read_peppi
from workbench.replay.slippi_reader import read_pyslippi
from workbench.replay.validate import check_bounds, check_policy
from workbench.types import Character, GameMeta

GOOD = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*.slp") if "bad/" not in p.as_posix())


def _playable(table):
    return int((table.frames >= 0).sum())


# -- errors ---------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.slp"
    path.write_bytes(b"")
    with pytest.raises(EmptyReplayError, match="empty file"):
        read_replay(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.slp"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(NotSlippiError, match="not a Slippi replay"):
        read_replay(path)


def test_non_slippi_file_named_slp(tmp_path):
    path = tmp_path / "notes.slp"
    path.write_text('{"this": "is json, not a replay"}\n')
    with pytest.raises(NotSlippiError):
        read_replay(path)


@pytest.mark.parametrize("fraction", [0.002, 0.3, 0.9])
def test_truncated_copy_of_a_good_game(tmp_path, fraction):
    data = bundled("games/Walnut356-falcon_throws.slp").read_bytes()
    path = tmp_path / "cut.slp"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CorruptReplayError, match="truncated or corrupt"):
        read_replay(path)


@pytest.mark.parametrize("name", ["bad/peppi-corrupt.slp", "bad/slippijs-incomplete.slp"])
def test_bundled_bad_files_are_corrupt(name):
    with pytest.raises(CorruptReplayError) as info:
        read_replay(bundled(name))
    assert "peppi-py" in str(info.value) and "py-slippi" in str(info.value)


def test_home_run_contest_is_unsupported():
    with pytest.raises(UnsupportedModeError, match="home-run"):
        read_replay(bundled("bad/slippijs-homeRun_jp.slp"))


def test_policy_reasons():
    clip = read_replay(bundled("clips/peppi-v3.16.slp"))
    with pytest.raises(TooShortError, match="playable frames"):
        check_policy(clip.meta, _playable(clip), IngestPolicy(min_frames=10_000), "x")
    ffa = read_replay(bundled("clips/slippijs-ffa_1p2p3p_winner_3p.slp"))
    assert len(ffa.meta.players) == 3
    with pytest.raises(TooManyPlayersError, match="more than two players"):
        check_policy(ffa.meta, _playable(ffa), IngestPolicy(min_frames=0), "x")
    check_policy(ffa.meta, _playable(ffa), IngestPolicy(min_frames=0, max_players=4), "x")
    cpu_game = read_replay(bundled("games/Walnut356-game.slp"))
    assert [p.type for p in cpu_game.meta.players].count("cpu") == 1
    with pytest.raises(CPUPlayerError, match="CPU"):
        check_policy(cpu_game.meta, _playable(cpu_game), IngestPolicy(cpu="none"), "x")
    check_policy(cpu_game.meta, _playable(cpu_game), IngestPolicy(cpu="human"), "x")


def test_out_of_range_values_are_caught():
    table = read_replay(bundled("clips/peppi-v3.16.slp"))
    check_bounds(table, "ok")
    table.columns["p1_x"] = table.columns["p1_x"].copy()
    table.columns["p1_x"][50] = np.nan
    with pytest.raises(OutOfRangeError, match="p1 x = .*nan.* at frame"):
        check_bounds(table, "x")
    table.columns["p1_x"][50] = 0.0
    table.columns["p0_stick_x"] = table.columns["p0_stick_x"] * 3
    with pytest.raises(OutOfRangeError, match="stick_x"):
        check_bounds(table, "x")


# -- reading real files ------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD)
def test_every_bundled_replay_reads(name):
    table = read_replay(bundled(name))
    assert len(table) == table.meta.num_frames > 100
    assert np.all(np.diff(table.frames) == 1), "frames must be unique and contiguous"
    assert table.frames[0] == -123
    for i in range(table.num_players):
        p = table.player(i)
        present = table.columns[f"p{i}_present"]
        for stick in ("stick_x", "stick_y", "cstick_x", "cstick_y"):
            assert np.all(np.abs(p[stick][present]) <= 1.0), "peppi sticks are in [-1, 1]"
        assert np.all((p["trigger"] >= 0) & (p["trigger"] <= 1))
        assert set(np.unique(p["facing"])) <= {-1, 1}


def assert_reads_like_the_fallback(table, path, data: bytes) -> None:
    """``table`` (peppi's read of a repaired copy) equals py-slippi's read of the original."""
    fallback = read_pyslippi(str(path), read_header(data), data)
    assert table.meta.to_dict() == fallback.meta.to_dict()
    np.testing.assert_array_equal(table.frames, fallback.frames)
    assert table.columns.keys() == fallback.columns.keys()
    for key in table.columns:
        np.testing.assert_array_equal(table.columns[key], fallback.columns[key], err_msg=key)


def test_zero_size_event_is_repaired_for_peppi_and_reads_like_the_fallback():
    """peppi-py refuses a file whose payload table declares an event of size 0; the
    byte-level repair drops those events and peppi reads the rest, equal field by field
    to what the py-slippi fallback reads from the original."""
    from workbench.replay.repair import drop_zero_size_events, zero_size_codes

    path = bundled("games/Walnut356-unknown_event.slp")
    with pytest.raises(Exception):
        read_peppi(str(path))
    data = path.read_bytes()
    assert zero_size_codes(data) == [0xFF]
    fixed, dropped = drop_zero_size_events(data)
    assert dropped == 1 and len(fixed) == len(data) - 4 and zero_size_codes(fixed) == []
    table = read_replay(path)
    assert table.parser == "peppi-repaired" and len(table) == 5209
    assert_reads_like_the_fallback(table, path, data)
    assert drop_zero_size_events(fixed) is None  # nothing left to repair
    assert drop_zero_size_events(bundled("games/Walnut356-game.slp").read_bytes()) is None


def test_short_pre_frames_and_early_stage_events_are_repaired_for_peppi():
    """A 3.17 file with 3.15-sized pre-frame events and FoD platform events (which
    peppi-py reads only from 3.18): peppi-py stops at it; padded and dropped, peppi
    reads the rest equal field by field to what py-slippi reads from the original."""
    from workbench.replay.repair import PRE_FRAME, STAGE_EVENTS, peppi_repairs, rewrite_events

    path = shared("games/slippijs-FodPlatforms.slp")
    data = path.read_bytes()
    with pytest.raises(Exception):
        read_peppi(str(path))
    drop, pad = peppi_repairs(data, read_header(data).version)
    assert drop == {0x3F, 0x40, 0x41} == STAGE_EVENTS and pad == {PRE_FRAME: 2}
    fixed, changed = rewrite_events(data, drop, pad)
    assert changed == 589 + 21226  # FoD platform events dropped, pre-frames padded
    table = read_replay(path)
    assert table.parser == "peppi-repaired" and len(table) == 10584
    assert "hitlag" not in table.meta.missing_fields
    assert_reads_like_the_fallback(table, path, data)
    # a file without these flaws is left alone
    clean = bundled("games/Walnut356-game.slp").read_bytes()
    assert rewrite_events(clean, *peppi_repairs(clean, read_header(clean).version)) is None


def test_rollback_keeps_the_finalized_copy():
    path = bundled("games/slippijs-rollbackFrameTest.slp")
    from peppi_py import _peppi

    raw_ids = _peppi.read_slippi(str(path), False).frames.field("id").to_numpy()
    table = read_replay(path)
    assert len(raw_ids) > len(table) == len(np.unique(raw_ids)) == 9277
    # py-slippi overwrites a frame with each new copy: both must keep the last copy
    other = read_pyslippi(str(path), read_header(path.read_bytes()))
    for key in ("p0_x", "p1_percent", "p0_stick_x", "p1_action"):
        np.testing.assert_array_equal(table.columns[key], other.columns[key])


def test_transform_and_nana():
    transform = read_replay(bundled("games/peppi-transform.slp"))
    zelda = [i for i, p in enumerate(transform.meta.players) if p.character == 18][0]
    assert {Character.ZELDA, Character.SHEIK} <= set(np.unique(transform.columns[f"p{zelda}_character"]))
    ics = read_replay(bundled("games/PMcca-sheik_vs_ics_yoshis.slp"))
    popo = [i for i, p in enumerate(ics.meta.players) if p.character == 14][0]
    present = ics.columns[f"p{popo}_nana_present"]
    assert 0.5 < present.mean() < 1.0, "Nana dies at some point in this game"
    assert np.all(ics.columns[f"p{popo}_nana_character"][present] == Character.NANA)


def test_metadata():
    ranked = read_replay(bundled("clips/PMcca-ranked_game1_tiebreak.slp"))
    meta = ranked.meta
    assert meta.mode == "online" and meta.match_id.startswith("mode.ranked-")
    assert (meta.game_number, meta.tiebreaker) == (1, 1)
    assert meta.end_method == "no_contest" and meta.lras_port is not None
    assert all("#" in p.netplay_code for p in meta.players)
    rollback = read_replay(bundled("games/slippijs-rollbackFrameTest.slp")).meta
    assert [p.netplay_code for p in rollback.players] == ["NIKKI#0", "PHUN#947"]
    assert rollback.winner_port == 0 and rollback.end_method == "game"
    assert GameMeta.from_dict(rollback.to_dict()) == rollback


# -- parser parity -------------------------------------------------------------------------

PARITY = [n for n in GOOD if n not in ("games/Walnut356-unknown_event.slp", "clips/peppi-v3.18.slp")]


@pytest.mark.parametrize("name", GOOD)
def test_our_header_decode_matches_peppis_game_start_and_end(name):
    """Both readers take game metadata from our own header decode; peppi-py's start/end
    dicts are the independent reference for it."""
    from peppi_py import _peppi

    path = bundled(name)
    try:
        game = _peppi.read_slippi(str(path), False)
    except Exception:
        pytest.skip("peppi-py cannot read this file")
    meta = meta_from_header(read_header(path.read_bytes()), game.metadata or {})
    start = game.start
    assert meta.slippi_version == ".".join(str(v) for v in start["slippi"]["version"][:3])
    assert meta.stage == int(start["stage"])
    assert [(p.port, p.character, p.type) for p in meta.players] == [
        (int(p["port"][1]) - 1, int(p["character"]), str(p["type"]).lower()) for p in start["players"]
    ]
    assert meta.is_teams == bool(start.get("is_teams")) and meta.is_pal == bool(start.get("is_pal"))
    end = game.end
    if end:
        methods = {"NoContest": "no_contest"}
        assert meta.end_method == methods.get(end["method"], str(end["method"]).lower())
        assert meta.placements == {int(p["port"][1]) - 1: int(p["placement"]) for p in end.get("players") or []}


@pytest.mark.parametrize("name", PARITY)
def test_parsers_agree_field_by_field(name):
    path = bundled(name)
    a = read_peppi(str(path))
    b = read_pyslippi(str(path), read_header(path.read_bytes()))
    assert a.meta.to_dict() == b.meta.to_dict()
    np.testing.assert_array_equal(a.frames, b.frames)
    misaligned = a.meta.version_tuple < (3, 0, 0) and (
        len(a.meta.players) > 2 or any(a.columns[k].any() for k in a.columns if k.endswith("nana_present"))
    )
    assert a.columns.keys() == b.columns.keys()
    for key in a.columns:
        if misaligned and "_nana_" in key:
            continue  # peppi-py shifts Nana's rows in pre-3.0 files; read_replay uses py-slippi there
        np.testing.assert_array_equal(a.columns[key], b.columns[key], err_msg=f"{name}: {key}")
    np.testing.assert_array_equal(a.items.offsets, b.items.offsets, err_msg=name)
    for key in a.items.fields:
        np.testing.assert_array_equal(a.items.fields[key], b.items.fields[key], err_msg=f"{name}: item {key}")


def test_nana_rows_peppi_misplaces_are_realigned_like_the_fallback():
    """Pre-3.0, Nana dies mid-game: peppi-py lays her frames on the first rows; the
    realignment from her events' frame numbers equals py-slippi's read, every column."""
    path = bundled("games/PMcca-sheik_vs_ics_yoshis.slp")
    data = path.read_bytes()
    raw = read_peppi(str(path))
    fallback = read_pyslippi(str(path), read_header(data), data)
    assert any(not np.array_equal(raw.columns[k], fallback.columns[k]) for k in raw.columns if "_nana_" in k)
    table = read_replay(path)
    assert table.parser == "peppi-realigned"
    assert table.columns.keys() == fallback.columns.keys()
    for key in table.columns:
        np.testing.assert_array_equal(table.columns[key], fallback.columns[key], err_msg=key)
    assert table.columns["p1_nana_present"].sum() == 4360 and not table.columns["p1_nana_present"][3270]


def test_auto_uses_the_fallback_where_peppi_misaligns_players():
    """3-4 player pre-3.0 games (a player eliminated mid-game) still go to py-slippi."""
    from workbench.replay.reader import _peppi_may_misalign

    table = read_replay(bundled("clips/slippijs-ffa_1p2p3p_winner_3p.slp"))
    assert table.parser == (
        "py-slippi"
        if _peppi_may_misalign(read_peppi(str(bundled("clips/slippijs-ffa_1p2p3p_winner_3p.slp"))))
        else "peppi"
    )


@pytest.mark.skipif(
    not (DATA.parent.parent.parent / "shared" / "replays").exists() and not os.environ.get("WORKBENCH_SHARED_REPLAYS"),
    reason="no shared corpus",
)
@pytest.mark.slow
def test_every_shared_file_reads_or_has_a_reason():
    from conftest import SHARED
    from workbench.replay import ReplayError

    for path in sorted(SHARED.rglob("*.slp")):
        try:
            read_replay(path)
        except ReplayError as err:
            assert err.reason and "bad/" in path.as_posix(), f"{path}: {err}"


def test_compiled_event_walk_equals_its_python_reference():
    """repair.walk (numba) and the plain function it compiles find the same events, and
    every event's offset plus its declared size is the next one's."""
    from workbench.replay.repair import _payload_table, _walk, event_offsets, walk

    data = shared("games/slippijs-FodPlatforms.slp").read_bytes()
    offsets, codes = event_offsets(data)
    start, length, sizes, entries = _payload_table(data)
    lookup = np.full(256, -1, np.int64)
    for code, size in sizes.items():
        lookup[code] = size
    raw = np.frombuffer(data, np.uint8)
    first, end = start + 2 + 3 * len(entries), start + length
    for kernel in (walk, _walk):
        out, status = np.empty(end - first, np.int64), np.zeros(2, np.int64)
        count = kernel(raw, first, end, lookup, out, status)
        np.testing.assert_array_equal(out[:count], offsets)
        assert status.tolist() == [end, 0]
    np.testing.assert_array_equal(offsets[1:], offsets[:-1] + 1 + lookup[codes[:-1]])
    assert len(offsets) == 67416 and codes[0] == 0x36  # game start first
    cut = data[: offsets[-1] + 2]  # the last event cut short
    assert event_offsets(cut) is None and len(event_offsets(cut, exact=False)[0]) == len(offsets) - 1
