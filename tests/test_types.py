import numpy as np
import pytest

from workbench.types import (
    EXTERNAL_TO_INTERNAL,
    GameMeta,
    PlayerInfo,
    character_id,
    internal_character_name,
    stage_id,
    stick_from_libmelee,
    stick_to_libmelee,
)


def test_stick_units_round_trip():
    slippi = np.array([-1.0, -0.2875, 0.0, 0.5, 1.0], dtype=np.float32)
    libmelee = stick_to_libmelee(slippi)
    assert libmelee.min() == 0.0 and libmelee.max() == 1.0 and libmelee[2] == 0.5
    np.testing.assert_allclose(stick_from_libmelee(libmelee), slippi, atol=1e-7)


def test_character_and_stage_names():
    assert character_id("Fox") == 2 and character_id("falcon") == 0 and character_id("ICs") == 14
    assert stage_id("FD") == 32 and stage_id("battlefield") == 31 and stage_id("Yoshi's Story") == 8
    assert internal_character_name(EXTERNAL_TO_INTERNAL[19]) == "Sheik"
    with pytest.raises(ValueError, match="unknown character"):
        character_id("waluigi")


def test_game_meta_round_trip():
    meta = GameMeta(
        "3.14.0", 31, [PlayerInfo(0, 2, "human", netplay_code="AB#1")], placements={0: 0, 1: 1}, winner_port=0
    )
    again = GameMeta.from_dict(meta.to_dict())
    assert again == meta and again.version_tuple == (3, 14, 0)
