"""Controller discretisation: round trips, libmelee units, k-means centres, mirroring."""

import itertools

import numpy as np
import pytest

from conftest import bundled
from workbench.embed import ConfigError, ControllerConfig, ControllerSpec, controller_from_columns, fit_stick_centers
from workbench.replay import read_replay


@pytest.fixture(scope="module")
def raw():
    table = read_replay(bundled("games/slippijs-rollbackFrameTest.slp"))
    return np.concatenate([controller_from_columns(table.columns, p) for p in (0, 1)])


def test_uniform_round_trip_over_every_bucket():
    spec = ControllerSpec(ControllerConfig())
    k = spec.config.stick_buckets
    grid = np.array(list(itertools.product(range(k), range(k))))
    targets = np.zeros((len(grid), spec.num_heads), np.int16)
    targets[:, spec.index["main_x"]], targets[:, spec.index["main_y"]] = grid[:, 0], grid[:, 1]
    targets[:, spec.index["trigger"]] = np.arange(len(grid)) % 5
    targets[:, spec.index["A"]] = np.arange(len(grid)) % 2
    np.testing.assert_array_equal(spec.encode(spec.decode(targets)), targets)


def test_decoded_values_are_libmelee_units(raw):
    spec = ControllerSpec(ControllerConfig())
    targets = spec.encode(raw)
    neutral = spec.to_libmelee(spec.encode(np.zeros((1, 13), np.float32))[0])
    assert (neutral.main_x, neutral.main_y, neutral.c_x, neutral.c_y) == (0.5, 0.5, 0.5, 0.5)
    for row in targets[::500]:
        state = spec.to_libmelee(row)
        assert state.is_valid()
    # decoding lands within half a bucket of the true stick value
    decoded = spec.decode(targets)
    half_bucket = 1.0 / (spec.config.stick_buckets - 1)
    assert np.abs(decoded[:, :4] - raw[:, :4]).max() <= half_bucket + 1e-6
    np.testing.assert_array_equal(decoded[:, 5:], raw[:, 5:])


def test_mirroring_targets_twice_is_identity(raw):
    spec = ControllerSpec(ControllerConfig())
    targets = spec.encode(raw)
    mirrored = spec.mirror_targets(targets)
    k = spec.config.stick_buckets - 1
    np.testing.assert_array_equal(mirrored[:, spec.index["main_x"]], k - targets[:, spec.index["main_x"]])
    np.testing.assert_array_equal(spec.mirror_targets(mirrored), targets)


def test_kmeans_centres_fit_and_round_trip(raw):
    result = fit_stick_centers(raw[:, 0:2], raw[:, 2:4], k=21)
    assert len(result["main"]) == 21 and len(result["c"]) == 21
    centres = np.array(result["main"])
    assert centres.min() >= 0 and centres.max() <= 1 and len(np.unique(centres, axis=0)) == 21
    for stick in ("main", "c"):
        err = result["mean_error"][stick]
        assert 0 < err["uniform"] < err["kmeans"] < 0.2, "21 classes vs 289: coarser, still close"
    spec = ControllerSpec(ControllerConfig(stick_mode="kmeans", main_centers=result["main"], c_centers=result["c"]))
    assert [h.name for h in spec.heads][-3:] == ["main", "c", "trigger"]
    targets = spec.encode(raw)
    np.testing.assert_array_equal(spec.encode(spec.decode(targets)), targets)
    assert spec.to_libmelee(targets[100]).is_valid()


def test_bad_controller_options_fail_clearly():
    with pytest.raises(ConfigError, match="odd number"):
        ControllerConfig(stick_buckets=16)
    with pytest.raises(ConfigError, match="fit-sticks"):
        ControllerConfig(stick_mode="kmeans")
