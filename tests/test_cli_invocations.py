"""Wrong invocations of the real ``workbench`` command: each exits 2 with one line on
stderr and no traceback (``WORKBENCH_DEBUG=1`` still shows it).

The table runs through ``workbench.cli.main`` in this process (the same code path as the
console script, minus interpreter start-up); a handful also run as real subprocesses.
Adding a subcommand? Add its wrong invocations here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import bundled

GAME = str(bundled("games/PMcca-sheik_vs_ics_yoshis.slp"))
FFA = str(bundled("clips/slippijs-ffa_1p2p3p_winner_3p.slp"))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Paths the table refers to: a plain file, a good tiny checkpoint, a truncated one,
    bad config files."""
    from workbench.models import Policy
    from workbench.train.checkpoint import CheckpointWriter
    from workbench.train.config import experiment

    tmp = tmp_path_factory.mktemp("invocations")
    (tmp / "file.txt").write_text("not a folder")
    (tmp / "typo.yaml").write_text("train:\n  lrr: 0.1\n")
    (tmp / "broken.yaml").write_text("train: [unclosed\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    (tmp / "embed-typo.json").write_text(json.dumps({"stage": "compact", "itemslots": 3}))
    (tmp / "notes.ipynb").write_text("{}")
    cfg = experiment(
        backbone="mlp",
        hidden=8,
        layers=1,
        window=1,
        out=str(tmp / "run"),
        overrides=[f"store={tmp / 'store'}", f"cache={tmp / 'cache'}"],
    )
    policy = Policy(cfg.embed, cfg.policy)
    writer = CheckpointWriter(tmp / "run" / "checkpoints")
    good = writer.save(1, policy.state_dict(), cfg.to_dict(), {}, blocking=True)
    cut = tmp / "cut"
    cut.mkdir()
    (cut / "config.json").write_text((good / "config.json").read_text())
    weights = (good / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    newer = tmp / "newer"
    newer.mkdir()
    meta = json.loads((good / "config.json").read_text())
    meta["config"]["version"] = 99
    (newer / "config.json").write_text(json.dumps(meta))
    (newer / "model.safetensors").write_bytes(weights)
    return {
        "tmp": str(tmp),
        "file": str(tmp / "file.txt"),
        "ckpt": str(good),
        "cut": str(cut),
        "newer": str(newer),
        "typo": str(tmp / "typo.yaml"),
        "broken": str(tmp / "broken.yaml"),
        "list": str(tmp / "list.yaml"),
        "embed_typo": str(tmp / "embed-typo.json"),
        "nb": str(tmp / "notes.ipynb"),
    }


# (command line with {placeholders}, a phrase the one line must contain)
WRONG = [
    ("", "required: COMMAND"),
    ("nosuch", "invalid choice"),
    ("ingest", "required"),
    ("ingest {game} --out {tmp}/s --workers 0", "--workers"),
    ("ingest {game} --out {tmp}/s --min-frames -1", "--min-frames"),
    ("ingest {game} --out {tmp}/s --characters waluigi", "unknown character"),
    ("ingest {game} --out {tmp}/s --stages moon", "unknown stage"),
    ("ingest {tmp}/nope.slp --out {tmp}/s", "no such file or folder"),
    ("ingest {game} --out {file}", "not a folder"),
    ("ingest {game} --out {tmp}/s --cpu maybe", "invalid choice"),
    ("ingest {game} --out {tmp}/s --parser slowest", "invalid choice"),
    ("ingest {game} --out {tmp}/s --quality-threshold 1.5", "[0, 1]"),
    ("ingest {game} --out {tmp}/s --exclude-flags sdchain", "did you mean sd_chain"),
    ("train --hiden 3", "did you mean --hidden"),
    ("train --lr abc", "expected a number"),
    ("train --set train.lr=abc", "train.lr='abc'"),
    ("train --delay abc", "--delay"),
    ("train --delay 6-2", "must go up"),
    ("train --time-budget 20x", "--time-budget"),
    ("train --time-budget 0", "more than 0"),
    ("train --max-steps -5", "max_steps=-5"),
    ("train --epochs 0", "nothing to train"),
    ("train --epochs 1 --max-steps 3", "not allowed with"),
    ("train --backbone nope", "registered backbones"),
    ("train --backbone gru --set policy.backbone.hiden_size=8", "did you mean policy.backbone.hidden_size"),
    ("train --backbone mamba --set policy.backbone.d_stat=4", "did you mean policy.backbone.d_state"),
    ("train --set policy.backbone.d_state=4", "for gru backbone"),
    ("train --set trian.lr=1", "did you mean train"),
    ("train --set foo", "KEY=VALUE"),
    ("train --set policy.backbone.dropout=2", "dropout"),
    ("train --batch-size 0", "batch_size=0"),
    ("train --set train.window=0", "window=0"),
    ("train --device tpu", "train.device"),
    ("train --config {tmp}/missing.yaml", "config file not found"),
    ("train --config {typo}", "did you mean train.lr"),
    ("train --config {broken}", "not valid YAML"),
    ("train --config {list}", "expected a mapping"),
    ("train --stick-centers {game}", "not a stick-centres file"),
    ("train --out {file} --max-steps 1", "not a folder"),
    ("train --set version=1", "version"),
    ("train --quality-threshold 1.5", "[0, 1]"),
    ("train --exclude-flags idel", "did you mean idle"),
    ("eval --checkpoint {tmp}/nope", "no checkpoint"),
    ("eval --checkpoint {ckpt} --average-last -3", "--average-last"),
    ("eval --checkpoint {ckpt} --delays a,b", "comma-separated"),
    ("eval --checkpoint {ckpt} --delays -1", ">= 0"),
    ("eval --checkpoint {cut}", "truncated or corrupt"),
    ("eval --checkpoint {newer}", "newer than this workbench"),
    ("eval --checkpoint {ckpt} --out {tmp}", "is a folder"),
    ("eval --checkpoint {ckpt} --replays {ffa}", "no usable 1v1 game"),
    ("eval --checkpoint {ckpt} --quality-threshold abc", "expected a number"),
    ("eval --checkpoint {ckpt} --exclude-flags quit_erly", "did you mean quit_early"),
    ("average {tmp}/nope --last 2 --out {tmp}/avg", "no checkpoint"),
    ("average {tmp}/run --last 0 --out {tmp}/avg", "--last"),
    ("average {tmp}/run --last 5 --out {tmp}/avg", "has only 1 checkpoints"),
    ("average {tmp}/run --last 1 --out {file}", "not a folder"),
    ("average {tmp}/run --out {tmp}/avg", "required: --last"),
    ("embed fit-sticks {game} --k 0 --out {tmp}/c.json", "--k"),
    ("embed fit-sticks {tmp}/nope --out {tmp}/c.json", "no such file or folder"),
    ("embed fit-sticks {game} --out {file}/c.json", "is a file, not a folder"),
    ("embed info --config {tmp}/missing.json", "config file not found"),
    ("embed info --config {embed_typo}", "did you mean item_slots"),
    ("bench-latency --model x.onnx --frames -5", "--frames"),
    ("bench-latency --model {tmp}/missing.onnx", "no model"),
    ("export --checkpoint {tmp}/nope --out {tmp}/m.onnx", "no checkpoint"),
    ("export --checkpoint {ckpt} --out {tmp}/m.onnx --temperature 0", "--temperature"),
    ("export --checkpoint {ckpt} --out {tmp}/m.onnx --quantize int3", "invalid choice"),
    ("export --checkpoint {cut} --out {tmp}/m.onnx", "truncated or corrupt"),
    ("play --model x --dolphin y --iso z --port 5 --character fox", "--port"),
    ("play --model x --dolphin {tmp}/nodolphin --iso z --port 1 --character fox", "no Dolphin"),
    ("report --train-steps 0", "--train-steps"),
    ("report --out {file}", "not a folder"),
    ("sweep {nb} --grid {tmp}/missing.yaml --out {tmp}/sw", "no such grid file"),
    ("sweep {nb} --grid {typo} --out {tmp}/sw --workers 0", "--workers"),
    ("publish {tmp}/nope.ipynb --out {tmp}/pub", "no such notebook"),
]


def _argv(line: str, files: dict[str, str]) -> list[str]:
    return line.format(game=GAME, ffa=FFA, **files).split()


def test_the_table_is_big_enough():
    assert len(WRONG) >= 40


@pytest.mark.parametrize("line,phrase", WRONG, ids=[w[0] or "(nothing)" for w in WRONG])
def test_wrong_invocation_is_one_line_exit_2(line, phrase, files, capsys, monkeypatch):
    from workbench.cli import main

    monkeypatch.delenv("WORKBENCH_DEBUG", raising=False)
    monkeypatch.chdir(files["tmp"])  # nothing lands in the repository
    code = main(_argv(line, files))
    err = capsys.readouterr().err
    assert code == 2, (line, err)
    assert err.count("\n") == 1 and err.startswith("workbench"), err
    assert "Traceback" not in err and phrase in err, err


# a few as real processes: the console entry point, the interpreter exit status, stderr
REAL = [
    "nosuch",
    "train --hiden 3",
    "train --set train.lr=abc",
    "eval --checkpoint {cut}",
    "ingest {tmp}/nope.slp --out {tmp}/s",
]


@pytest.mark.parametrize("line", REAL)
def test_real_process(line, files):
    run = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *_argv(line, files)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=files["tmp"],
        env={k: v for k, v in os.environ.items() if k != "WORKBENCH_DEBUG"},
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr


def test_debug_shows_the_traceback(files):
    run = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *_argv("eval --checkpoint {cut}", files)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=files["tmp"],
        env={**os.environ, "WORKBENCH_DEBUG": "1"},
    )
    assert run.returncode != 0 and "Traceback" in run.stderr and "CheckpointError" in run.stderr


def test_a_bug_is_one_line_exit_1(monkeypatch, capsys):
    """Anything that is not a user error still prints one line (and says how to see more)."""
    import workbench.cli as cli

    def boom(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.delenv("WORKBENCH_DEBUG", raising=False)
    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_func(parser(), boom))
    assert cli.main(["publish", "x.ipynb", "--out", "y"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "WORKBENCH_DEBUG=1" in err


def _with_func(parser, func):
    parser._subparsers._group_actions[0].choices["publish"].set_defaults(func=func)
    return parser


def test_help_is_cheap_to_import():
    """``workbench --help`` and parse errors do not import torch (the train flags are
    added only when ``train`` is the command)."""
    code = (
        "import sys; from workbench.cli import build_parser; "
        "p = build_parser(); p.parse_known_args(['ingest', 'x', '--out', 'y']); "
        "print('torch' in sys.modules)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.stdout.strip() == "False", run.stderr


def test_top_level_help_describes_the_workbench_in_whole_sentences():
    run = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    description = " ".join(run.stdout.split("\n\n")[1].split())
    assert run.returncode == 0 and description.startswith("ExPhil Workbench:")
    assert description.endswith("for a command's options.") and "``" not in description
