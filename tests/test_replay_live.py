"""libmelee parity: a replay played through libmelee's file console gives the state the
store holds, field by field, after unit conversion."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from conftest import bundled
from workbench.replay import read_replay
from workbench.replay.live import TRUNCATED_FIELDS, gamestate_row

melee = pytest.importorskip("melee")
# fields libmelee does not expose
NOT_IN_LIBMELEE = ("last_hit_by", "l_cancel")


def play_through_libmelee(path) -> list:
    logging.disable(logging.WARNING)
    console = melee.Console(path=str(path), is_dolphin=False)
    console.connect()
    states = []
    while (state := console.step()) is not None:
        states.append(state)
    return states


def mismatches(table, states) -> tuple[dict[int, list[str]], int]:
    """Frames where libmelee's view differs from the store, with the fields that differ."""
    ports = [p.port for p in table.meta.players]
    assert len(states) == len(table)
    wrong: dict[int, list[str]] = {}
    checked = 0
    columns = {**table.columns, **table.items.dense()}
    for row_index, state in enumerate(states):
        row = gamestate_row(state, ports)
        assert row["frame"][0] == table.frames[row_index]
        for key, value in row.items():
            if key == "frame" or key.endswith(NOT_IN_LIBMELEE):
                continue
            if key not in columns:  # the store keeps Nana only for Ice Climbers
                assert "_nana_" in key and not row[key.split("_nana_")[0] + "_nana_present"][0]
                continue
            expected = columns[key][row_index]
            if key.endswith(TRUNCATED_FIELDS):
                expected = np.trunc(expected)
            if key.endswith("hurtbox"):
                expected = np.asarray(expected != 0, dtype=np.uint8)
            owner = key.split("_nana_")[0] + "_nana_present" if "_nana_" in key else None
            if owner and not columns[owner][row_index]:
                continue
            if not np.allclose(
                np.asarray(value, dtype=float).reshape(-1), np.asarray(expected, dtype=float).reshape(-1), atol=1e-6
            ):
                wrong.setdefault(int(row["frame"][0]), []).append(key)
            checked += 1
    return wrong, checked


@pytest.mark.parametrize(
    "name",
    [
        "clips/PMcca-item-export.slp",  # 3.7.0, with items and owners
        "games/Walnut356-falcon_throws.slp",  # 3.14.0
        "clips/peppi-v3.18.slp",  # 3.18.0
    ],
)
def test_libmelee_sees_the_stored_state(name):
    table = read_replay(bundled(name))
    wrong, checked = mismatches(table, play_through_libmelee(bundled(name)))
    assert checked > 50_000
    assert not wrong, f"{name}: first mismatches {dict(list(wrong.items())[:3])}"


def test_on_rollback_frames_libmelee_shows_the_first_copy():
    """A live bot (and libmelee's file console) sees the first simulation of a frame, made
    with predicted inputs; the store keeps the finalized copy. They may differ only on
    frames that were simulated more than once."""
    from peppi_py import _peppi

    path = bundled("clips/peppi-v3.16.slp")
    raw_ids = _peppi.read_slippi(str(path), False).frames.field("id").to_numpy()
    ids, counts = np.unique(raw_ids, return_counts=True)
    resimulated = set(ids[counts > 1].tolist())
    wrong, _ = mismatches(read_replay(path), play_through_libmelee(path))
    assert wrong, "this replay has rollbacks that changed inputs"
    assert set(wrong) <= resimulated


def test_player_fields_come_in_block_order():
    """player_fields names player_values in PLAYER_FIELDS order, and a player block holds
    the same values (its sticks converted at once in float32, as one by one)."""
    from workbench.replay.live import PLAYER_COLUMNS, _block, player_fields, player_values
    from workbench.types import PLAYER_FIELDS

    state = next(s for s in play_through_libmelee(bundled("games/Walnut356-falcon_throws.slp")) if s.frame >= 0)
    for player in state.players.values():
        fields = player_fields(player, True)
        assert list(fields) == list(PLAYER_FIELDS) and len(player_values(player)) == len(PLAYER_FIELDS)
        block = _block(player, True)
        assert block.dtype == np.float32 and block.shape == (1, len(PLAYER_COLUMNS))
        np.testing.assert_array_equal(block[0, :-1], np.array(list(fields.values()), np.float32))
