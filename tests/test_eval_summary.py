"""The flat row a sweep arm records (``workbench.eval.summary``) and the README's table
of a sweep (``scripts/sweep_table.py``). The notebook test scores real games through
both; these check the arithmetic and the messages."""

from __future__ import annotations

import math
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT
from workbench.eval.summary import arm_metrics


def head(acc, baseline_acc, nll, baseline_nll):
    return {"acc": acc, "baseline_acc": baseline_acc, "nll": nll, "baseline_nll": baseline_nll, "acc_change": 0.25}


def block(bits, x_acc):
    heads = {
        "main_x": head(x_acc, 0.86, 0.5, 1.0),
        "main_y": head(0.9, 0.88, 0.3, 0.9),
        "A": head(0.98, 0.99, 0.05, 0.04),
    }
    return {"heads": heads, "bits_per_frame": bits, "baseline_bits_per_frame": 3.9}


def test_arm_metrics_counts_heads_and_the_delay_gap():
    report = {"delays": {"0": block(2.0, 0.87), "18": block(2.5, 0.85)}, "ms_per_frame": 0.4}
    report["delays"]["0"]["ablations"] = {"state_removed": {"bits_per_frame": 2.2}}
    m = arm_metrics(report, delay=0, far_delay=18)
    assert m["eval/heads"] == 3 and m["eval/heads_acc_at_least_baseline"] == 2  # A is under repeat-last
    assert m["eval/heads_nll_below_baseline"] == 2 and m["eval/far/heads_nll_below_baseline"] == 2
    assert m["eval/delay_gap"] == pytest.approx(0.2)  # (2.5 - 2.0) / 2.5
    assert m["eval/state_removed/bits_per_frame"] == 2.2 and "eval/own_inputs_removed/bits_per_frame" not in m
    assert m["eval/main_x_acc"] == 0.87 and m["eval/repeat_baseline/main_x_acc"] == 0.86
    assert "eval/delay_gap" not in arm_metrics(report, delay=0, far_delay=0)
    assert not any("character" in key for key in m)  # no per-character block, no columns
    with pytest.raises(KeyError, match="no delay 6; it scored \\['0', '18'\\]"):
        arm_metrics(report, delay=6)


def test_arm_metrics_per_character_bits_beside_repeat_last():
    report = {"delays": {"0": block(2.0, 0.87)}, "ms_per_frame": 0.4}
    per = {"frames": 500, "main_x": head(0.8, 0.75, 0.6, 1.2), "A": head(0.9, 0.9, 0.1, 0.2)}
    report["delays"]["0"]["per_character"] = {"Captain Falcon": per}
    m = arm_metrics(report)
    assert m["eval/character/captain_falcon/frames"] == 500
    assert m["eval/character/captain_falcon/bits_per_frame"] == pytest.approx(0.7 / math.log(2))
    assert m["eval/repeat_baseline/character/captain_falcon/bits_per_frame"] == pytest.approx(1.4 / math.log(2))
    assert m["eval/character/captain_falcon/main_x_acc"] == 0.8
    assert m["eval/repeat_baseline/character/captain_falcon/main_x_acc"] == 0.75


def test_sweep_table_folds_seeds_and_drops_shared_set_items(tmp_path):
    rows = []
    for backbone, bits in (("gru", (1.9, 2.1)), ("mamba", (1.8, 1.8))):
        for seed, b in enumerate(bits):
            rows.append(
                {
                    "arm": f"{backbone}{seed}",
                    "status": "ok",
                    "seconds": 60,
                    "param/backbone": backbone,
                    "param/seed": seed,
                    "param/sets": "['train.eval_every=100']",
                    "eval/bits_per_frame": b,
                    "eval/repeat_baseline/bits_per_frame": 3.9,
                    "eval/character/falco/bits_per_frame": b + 0.5,
                    "eval/repeat_baseline/character/falco/bits_per_frame": 4.0,
                }
            )
    rows.append({**rows[0], "arm": "bad", "status": "failed"})
    csv = tmp_path / "results.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    script = [sys.executable, str(ROOT / "scripts" / "sweep_table.py"), str(csv)]
    out = subprocess.run([*script, "--columns", "bits,arm_s"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0] == "| backbone | seeds | bits | bits RL | arm_s |"
    assert lines[2] == "| gru | 2 | 2.000 ± 0.141 | 3.900 | 60 |" and lines[3].startswith("| mamba | 2 | 1.800 ± 0.000")
    assert "1 arm(s) failed" in out
    per = subprocess.run([*script, "--columns", "bits@falco,main_x@falco"], capture_output=True, text=True).stdout
    assert per.splitlines()[0] == "| backbone | seeds | bits@falco | bits@falco RL | main_x@falco | main_x@falco RL |"
    assert per.splitlines()[2].startswith("| gru | 2 | 2.500 ± 0.141 | 4.000 |  |")
    for wrong in ("bitz", "nll@falco", "bits@"):
        bad = subprocess.run([*script, "--columns", wrong], capture_output=True, text=True)
        assert bad.returncode == 2 and f"unknown columns ['{wrong}']" in bad.stderr
