"""The metrics convention: one JSON file beside the executed notebook."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from workbench.report import METRICS_ENV, load_metrics, metrics_path_for, record_metrics
from workbench.report import metrics as metrics_module


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.setattr(metrics_module, "_RECORDED", {})
    monkeypatch.delenv(METRICS_ENV, raising=False)


def test_path_beside_the_notebook(tmp_path):
    assert metrics_path_for(tmp_path / "runs" / "a=1.ipynb") == tmp_path / "runs" / "a=1.metrics.json"


def test_record_writes_prefixed_json_and_merges(tmp_path):
    path = tmp_path / "out.metrics.json"
    shown = record_metrics({"loss": np.float32(0.5), "steps": np.int64(3)}, path, prefix="train")
    assert shown == {"train/loss": 0.5, "train/steps": 3}
    record_metrics({"acc": 0.9, "nan": math.nan, "name": "gru", "ok": True}, path, prefix="eval")
    data = json.loads(path.read_text())
    assert data["version"] == 1
    assert data["metrics"] == {
        "train/loss": 0.5,
        "train/steps": 3,
        "eval/acc": 0.9,
        "eval/nan": None,
        "eval/name": "gru",
        "eval/ok": True,
    }
    assert load_metrics(path) == data["metrics"]


def test_environment_variable_is_the_fallback(tmp_path, monkeypatch):
    path = tmp_path / "env.metrics.json"
    monkeypatch.setenv(METRICS_ENV, str(path))
    record_metrics({"x": 1})
    assert load_metrics(path) == {"x": 1}


def test_no_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert record_metrics({"x": 1}) == {"x": 1}
    assert list(tmp_path.iterdir()) == []
    assert load_metrics(tmp_path / "missing.json") == {}


def test_non_scalar_metric_is_refused(tmp_path):
    with pytest.raises(TypeError, match="metric 'hist'"):
        record_metrics({"hist": [1, 2]}, tmp_path / "m.json")
