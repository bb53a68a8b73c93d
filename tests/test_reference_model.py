"""The shipped reference model (data/models/reference): it loads from its folder alone, says
how it was made, never trained on a bundled game, and beats repeat-last on them."""

import json

import pytest

from conftest import DATA, ROOT
from workbench.train import load_policy

REFERENCE = ROOT / "data" / "models" / "reference"


def test_reference_loads_and_says_how_it_was_made():
    policy, cfg, folder = load_policy(REFERENCE)
    made = json.loads((REFERENCE / "reference.json").read_text())
    assert made["command"].startswith("python scripts/train_reference.py") and made["steps"] > 0
    assert cfg.policy.copy_prior and cfg.train.delay_max == 18
    assert sum(f.stat().st_size for f in REFERENCE.iterdir()) < 8 * 2**20  # a few MB
    bundled_names = {p.name for p in (DATA / "games").glob("*.slp")}
    assert not bundled_names & set(made["train_games"])
    assert len(made["held_out_games"]) >= 6 and len(made["train_games"]) >= 30


@pytest.mark.slow
def test_reference_beats_repeat_last_on_the_bundled_games(tmp_path):
    from workbench.eval import evaluate

    report = evaluate(
        REFERENCE,
        replays=[str(DATA / "games")],
        delays=(0,),
        split="all",
        store=str(tmp_path / "store"),
        cache=str(tmp_path / "emb"),
        ablation_delays=(),
    )
    block = report["delays"]["0"]
    assert block["bits_per_frame"] < block["baseline_bits_per_frame"]
    for head in ("main_x", "main_y"):
        assert block["heads"][head]["acc"] > block["heads"][head]["baseline_acc"]
