"""End-to-end: `workbench export`, `bench-latency` and `play` on a briefly trained
checkpoint and real replays; user errors print one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import bundled, tiny_experiment
from workbench.deploy import OnnxPolicy, Sidecar, sidecar_path, warm_start_path
from workbench.train import resolve_checkpoint, train
from workbench.train.checkpoint import weights_hash

pytest.importorskip("onnxruntime")
CALIBRATION = str(bundled("clips/PMcca-item-export.slp"))


def workbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *map(str, args)], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A GRU trained for 20 steps on the bundled games."""
    tmp = tmp_path_factory.mktemp("deployrun")
    cfg = tiny_experiment(
        tmp,
        "run",
        {"name": "gru", "hidden_size": 16, "num_layers": 2},
        "train.window=16",
        "train.batch_size=16",
        "train.max_steps=20",
        "train.eval_every=20",
    )
    return train(cfg, progress=False).run_dir


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    result = workbench("export", "--checkpoint", run, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "h_0(1, 16)" in result.stdout
    return out


def test_export_writes_model_and_sidecar(run, exported):
    sidecar = Sidecar.load(sidecar_path(exported))
    folder = resolve_checkpoint(run)
    assert sidecar.checkpoint_hash == weights_hash(folder) and sidecar.checkpoint == str(folder)
    saved = json.loads((folder / "config.json").read_text())["config"]
    assert sidecar.embed_config == saved["embed"]
    assert sidecar.policy_config["backbone"]["name"] == "gru"
    assert sidecar.quantization == {"mode": "none"} and sidecar.warm_start is None
    assert OnnxPolicy(exported).state_keys == ["h_0", "h_1"]


def test_export_int8_with_calibration_and_warm_start(run, tmp_path):
    out = tmp_path / "model8.onnx"
    result = workbench(
        "export",
        "--checkpoint",
        run,
        "--out",
        out,
        "--quantize",
        "int8",
        "--calibration",
        CALIBRATION,
        "--calibration-frames",
        200,
        "--warm-start",
        60,
    )
    assert result.returncode == 0, result.stderr
    sidecar = Sidecar.load(sidecar_path(out))
    assert sidecar.quantization["mode"] == "int8-static"
    assert sidecar.quantization["calibration_frames"] == 200
    assert warm_start_path(out).exists() and sidecar.warm_start == warm_start_path(out).name


def test_export_no_probs_plays_like_the_full_graph(run, exported, tmp_path):
    """--no-probs: a bot graph without the distributions and with fewer nodes, whose
    agent presses the same controller as the full graph's on every frame of a real game,
    greedy and sampled with the same seed."""
    from workbench.deploy.agent import Agent
    from workbench.deploy.latency import DEFAULT_REPLAY, replay_states

    out = tmp_path / "bot.onnx"
    result = workbench("export", "--checkpoint", run, "--out", out, "--no-probs")
    assert result.returncode == 0, result.stderr
    bot, full = Sidecar.load(sidecar_path(out)), Sidecar.load(sidecar_path(exported))
    assert [o["name"] for o in bot.outputs] == [o["name"] for o in full.outputs if not o["name"].startswith("probs_")]
    assert bot.graph["nodes"] < full.graph["nodes"]
    states = [s for s in replay_states(DEFAULT_REPLAY) if s.frame >= 0][:400]
    for sample in (False, True):
        agents = [Agent(path, port=sorted(states[0].players)[0], sample=sample, seed=5) for path in (exported, out)]
        for state in states:
            assert agents[0].step(state) == agents[1].step(state), f"frame {state.frame}"
        assert agents[1].frames_played == len(states) and not agents[1].warnings
    from workbench.deploy.errors import DeployError
    from workbench.deploy.rollout import compare, load_games, rollout_onnx

    game = load_games([DEFAULT_REPLAY], OnnxPolicy(out).sidecar.embed(), (0,))[0]
    full_run, bot_run = rollout_onnx(exported, game, 200), rollout_onnx(out, game, 200)
    assert (full_run.targets == bot_run.targets).all() and bot_run.probs == {}
    with pytest.raises(DeployError, match="no probabilities for .* --no-probs"):
        compare(full_run, bot_run)


def test_bench_latency_reports_percentiles_and_breakdown(exported, tmp_path):
    out = tmp_path / "latency.json"
    result = workbench("bench-latency", "--model", exported, "--frames", 500, "--json", out)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["frames"] == 500 and report["threads"] == 1
    assert 0 < report["p50_ms"] <= report["p99_ms"]
    assert set(report["breakdown"]) == {"embed", "model", "decode", "embed_row"}
    assert all(0 < part["p50_ms"] <= part["p99_ms"] for part in report["breakdown"].values())
    assert report["warnings"] == {} and "p99" in result.stdout


def test_user_errors_are_one_line(exported, tmp_path, capsys):
    """Run in-process through ``main`` (the console script's entry point)."""
    from workbench.cli import main

    def error(*args) -> str:
        assert main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.strip().count("\n") == 0 and "Traceback" not in err, err
        return err

    fake_dolphin, fake_iso = tmp_path / "dolphin", tmp_path / "melee.iso"
    fake_dolphin.mkdir()
    fake_iso.write_bytes(b"")
    play = ("play", "--model", exported, "--port", 1)
    assert "no Dolphin at" in error(*play, "--character", "fox", "--dolphin", tmp_path / "nope", "--iso", fake_iso)
    assert "no Melee ISO at" in error(
        *play, "--character", "fox", "--dolphin", fake_dolphin, "--iso", tmp_path / "nope.iso"
    )
    assert "unknown character" in error(*play, "--character", "waluigi", "--dolphin", fake_dolphin, "--iso", fake_iso)
    assert "no checkpoint at" in error("export", "--checkpoint", tmp_path / "nope", "--out", tmp_path / "m.onnx")
    assert "needs --calibration" in error(
        "export", "--checkpoint", tmp_path / "nope", "--out", tmp_path / "m.onnx", "--quantize", "int8-static"
    )
    assert "no model at" in error("bench-latency", "--model", tmp_path / "missing.onnx")
    assert "no replay at" in error("bench-latency", "--model", exported, "--replay", tmp_path / "r.slp")
