"""The Decision Transformer's target-return study: a dt checkpoint trained on the bundled
games, its behaviour on held-out games under several targets, through the real CLI."""

import json

import pytest

from conftest import tiny_experiment
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.eval.target_return import target_return_report
from workbench.train import train


@pytest.fixture(scope="module")
def dt_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dtrun")
    cfg = tiny_experiment(
        tmp,
        "run",
        {"name": "dt", "hidden_size": 16, "num_layers": 1, "num_heads": 2, "window": 8},
        "train.window=16",
        "train.batch_size=8",
        "train.max_steps=6",
        "train.eval_every=6",
        "train.eval_batches=1",
    )
    assert cfg.embed.returns.enabled  # derived from the backbone
    return train(cfg, progress=False).run_dir


def test_target_return_rows_and_the_target_reaches_the_model(dt_run, tmp_path, capsys):
    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(dt_run), "--target-return=-3,3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "approach" in printed and "human" in printed
    report = json.loads(out.read_text())["target_return"]
    rows = {row["target"]: row for row in report["rows"]}
    assert list(rows) == ["human", "true_return", "-3", "3"]
    for row in rows.values():
        assert row["frames"] == rows["human"]["frames"] > 0
        for key in ("a_press", "b_press", "attack", "approach", "retreat"):
            assert 0.0 <= row[key] <= 1.0, (row["target"], key)
        assert row["approach"] + row["retreat"] <= 1.0 + 1e-9
    # the override reaches the network: a different target, different predictions
    assert rows["-3"]["nll"] != rows["3"]["nll"] and rows["-3"]["attack"] != rows["3"]["attack"]


def test_a_checkpoint_without_returns_is_refused(tmp_path):
    cfg = tiny_experiment(
        tmp_path,
        "gru",
        {"name": "gru", "hidden_size": 8, "num_layers": 1},
        "train.window=8",
        "train.batch_size=4",
        "train.max_steps=1",
        "train.eval_every=1",
        "train.eval_batches=1",
    )
    run = train(cfg, progress=False).run_dir
    with pytest.raises(WorkbenchError, match="no return-to-go"):
        target_return_report(str(run), [0.0])
