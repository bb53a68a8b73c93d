"""workbench eval: schema, baseline beside every number, exports, averaging."""

import json
import math

import pyarrow.parquet as pq
import pytest
import torch

from conftest import tiny_experiment
from workbench.eval import evaluate
from workbench.train import load_policy, train
from workbench.train.checkpoint import average_weights, list_checkpoints


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evalrun")
    cfg = tiny_experiment(
        tmp,
        "run",
        {"name": "gru", "hidden_size": 16, "num_layers": 1},
        "train.window=16",
        "train.batch_size=16",
        "train.max_steps=20",
        "train.eval_every=10",
        "train.checkpoint_every=5",
        "train.eval_batches=2",
        "train.delay_max=6",
    )
    return train(cfg, progress=False).run_dir


def test_eval_schema_and_baselines(run, tmp_path):
    out = tmp_path / "eval.json"
    report = evaluate(run, delays=(0, 6), out=out, export_predictions=tmp_path / "pred.parquet")
    saved = json.loads(out.read_text())
    assert set(saved) >= {"checkpoint", "replays", "delays", "ms_per_frame", "delay_curve", "games"}
    assert saved["split"] == "held-out" and len(saved["games"]) >= 1
    block = saved["delays"]["0"]
    for name in ("main_x", "main_y", "c_x", "c_y", "trigger", "A", "B", "X", "Y", "Z", "L", "R", "D_UP"):
        head = block["heads"][name]
        assert {"acc", "nll", "acc_change", "baseline_acc", "baseline_nll"} <= head.keys()
        assert 0.5 < head["baseline_acc"] <= 1.0
    assert {"true_rate", "pred_rate"} <= block["buttons"]["A"].keys()
    conf = block["sticks"]["main_x"]["confusion"]
    assert len(conf) == 17 and sum(map(sum, conf)) == block["frames"]
    assert block["per_character"] and block["per_stage"]
    assert [p["delay"] for p in saved["delay_curve"]] == [0, 6]
    # bits per frame: the per-head NLLs summed, in bits, beside repeat-last's
    nats = sum(block["heads"][h]["nll"] for h in block["heads"])
    assert block["bits_per_frame"] == pytest.approx(nats / math.log(2), rel=1e-4)
    assert block["baseline_bits_per_frame"] > 0 and saved["delay_curve"][1]["bits_per_frame"] > 0
    # input ablations at the first delay only: removing an input changes the score
    ablations = block["ablations"]
    assert set(ablations) == {"state_removed", "own_inputs_removed"} and "ablations" not in saved["delays"]["6"]
    for ablated in ablations.values():
        assert ablated["bits_gap"] == pytest.approx(ablated["bits_per_frame"] - block["bits_per_frame"])
        assert ablated["bits_gap"] != 0
    situations = block["situations"]
    assert {"hitstun", "shield", "ledge", "opponent_action_change", "neutral"} <= situations.keys()
    assert 0 < situations["neutral"]["frames"] < block["frames"]
    change = situations["neutral"]["heads"]["main_x"]
    assert change["change_frames"] <= block["heads"]["main_x"]["change_frames"]
    assert saved["ms_per_frame"] > 0
    table = pq.read_table(tmp_path / "pred.parquet")
    assert table.num_rows == report["frames"] and "prob_main_x" in table.column_names


def test_average_last_and_training_games_refused(run):
    averaged = evaluate(run, delays=(0,), average_last=3)
    assert averaged["average_last"] == 3
    # the scored weights are the mean of the last 3 checkpoints, not the last one
    policy, _, _ = load_policy(run, average_last=3)
    expected = average_weights(list_checkpoints(run / "checkpoints")[-3:])
    for key, value in policy.state_dict().items():
        if key in expected:
            torch.testing.assert_close(value, expected[key].to(value.dtype))
    last = evaluate(run, delays=(0,))
    assert averaged["delays"]["0"]["heads"]["main_x"]["nll"] != last["delays"]["0"]["heads"]["main_x"]["nll"]
    from workbench.data import Split

    split = Split.load(run / "split.json")
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="training games"):
        # only training games given: nothing held out to score
        from workbench.replay import FrameStore

        cfg = json.loads((run / "config.json").read_text())
        store = FrameStore(cfg["store"])
        paths = [r["path"] for r in store.games() if r["md5"] in set(split.train)]
        evaluate(run, replays=paths[:1], delays=(0,))


def test_change_frames_split_into_onsets_and_releases_beside_constants():
    """A model that never presses: about 0.5 on change frames (releases count), but 0 on
    onsets, and exactly what the always-at-rest predictor scores."""
    import numpy as np

    from workbench.embed.config import EmbedConfig
    from workbench.embed.controller import ControllerSpec
    from workbench.eval.metrics import Predictions, head_metrics

    spec = ControllerSpec(EmbedConfig().controller)
    col, n = spec.index["A"], 400
    rng = np.random.default_rng(0)
    pressed = (np.arange(n) // 10) % 2  # A held 10 frames, released 10
    targets = np.zeros((n, spec.num_heads), np.int16)
    for head in spec.heads:  # every other head at rest
        targets[:, spec.index[head.name]] = head.classes // 2 if head.kind == "stick_axis" else 0
    targets[:, col] = pressed
    previous = np.roll(targets, 1, axis=0)
    never = targets.copy()
    never[:, col] = 0
    preds = Predictions(targets, previous, never, rng.random((n, spec.num_heads)), {}, *[np.zeros(n)] * 3, np.arange(n))
    m = head_metrics(preds, spec)["A"]
    assert m["change_frames"] == m["onset_frames"] + m["release_frames"] and m["onset_frames"] > 10
    assert 0.4 < m["acc_change"] < 0.6  # what used to flatter it
    assert m["acc_onset"] == 0.0 and m["acc_release"] == 1.0
    assert m["rest_acc_onset"] == 0.0 and m["rest_acc_release"] == 1.0
    assert m["constant_acc"] == 0.5 and m["acc"] == 0.5 and m["baseline_acc_change"] == 0.0


def test_quality_filters_leave_games_out(run):
    from workbench.errors import WorkbenchError
    from workbench.replay import FrameStore
    from workbench.train.config import load_experiment

    cfg = load_experiment(str(run / "config.json"))
    rows = {r["md5"]: r for r in FrameStore(cfg.store).games()}
    every = evaluate(run, delays=(0,), split="all")
    clean = evaluate(run, delays=(0,), split="all", exclude_flags=["sd_chain", "idle"])
    assert set(clean["games"]) < set(every["games"]) and clean["exclude_flags"] == ["sd_chain", "idle"]
    assert not any({"sd_chain", "idle"} & set(rows[m]["quality_flags"]) for m in clean["games"])
    strict = evaluate(run, delays=(0,), split="all", quality_threshold=0.5)
    assert all(rows[m]["quality"] >= 0.5 for m in strict["games"])
    with pytest.raises(WorkbenchError, match="below the quality filters"):
        evaluate(run, delays=(0,), split="all", quality_threshold=1.0)


def test_characters_filter_scores_only_those_players(run, capsys):
    """The specialist question's eval: only the players on the characters asked for, the
    numbers equal to that character's rows of the unfiltered report."""
    from workbench.cli import main
    from workbench.errors import ConfigError, WorkbenchError

    every = evaluate(run, delays=(0,), split="all", ablation_delays=())
    per = every["delays"]["0"]["per_character"]
    name = max(per, key=lambda c: per[c]["frames"])  # the most played character of these games
    only = evaluate(run, delays=(0,), split="all", ablation_delays=(), characters=[name.lower()])
    block = only["delays"]["0"]
    assert only["characters"] == [name] and set(block["per_character"]) == {name}
    assert block["frames"] == per[name]["frames"] < every["delays"]["0"]["frames"]
    assert block["heads"]["main_x"]["acc"] == pytest.approx(per[name]["main_x"]["acc"])
    with pytest.raises(ConfigError, match="unknown character 'flaco'"):
        evaluate(run, delays=(0,), split="all", characters=["flaco"])
    absent = next(c for c in ("Pichu", "Roy", "Mewtwo", "Kirby") if c not in per)
    with pytest.raises(WorkbenchError, match=f"no held-out player on {absent.lower()}"):
        evaluate(run, delays=(0,), split="all", characters=[absent.lower()])
    assert main(["eval", "--checkpoint", str(run), "--split", "all", "--characters", "flaco"]) == 2
    assert "unknown character 'flaco'" in capsys.readouterr().err


def test_averaged_checkpoint_is_a_checkpoint(run, tmp_path, capsys):
    """``workbench average RUN --last 3 --out DIR`` writes a folder that eval scores on the
    run's held-out games exactly as ``--average-last 3`` does, and that export turns into
    the ONNX model play runs."""
    from workbench.cli import main
    from workbench.deploy.runtime import OnnxPolicy

    avg = tmp_path / "avg"
    assert main(["average", str(run), "--last", "3", "--out", str(avg)]) == 0
    assert "mean of step-00000010, step-00000015, step-00000020" in capsys.readouterr().out
    assert not (avg / "trainer.pt").exists()
    expected = average_weights(list_checkpoints(run / "checkpoints")[-3:])
    policy, _, folder = load_policy(avg)
    assert folder == avg
    for key, value in policy.state_dict().items():
        torch.testing.assert_close(value, expected[key].to(value.dtype))
    scored = evaluate(avg, delays=(0,))
    reference = evaluate(run, delays=(0,), average_last=3)
    assert scored["split"] == "held-out" and scored["games"] == reference["games"]
    assert scored["delays"]["0"]["heads"]["main_x"]["nll"] == pytest.approx(
        reference["delays"]["0"]["heads"]["main_x"]["nll"], rel=1e-5
    )
    model = tmp_path / "avg.onnx"
    assert main(["export", "--checkpoint", str(avg), "--out", str(model)]) == 0
    assert OnnxPolicy(model).state_keys


def test_verdict_states_better_or_worse_by_how_much_on_what():
    from workbench.eval.verdict import eval_verdict, metric_label

    heads = {
        "main_x": {"acc": 0.75, "baseline_acc": 0.843, "gain_ci95": 0.01},
        "A": {"acc": 0.99, "baseline_acc": 0.98},
        "B": {"acc": 0.97, "baseline_acc": 0.99},
    }
    report = {"games": ["a", "b"], "delays": {"0": {"frames": 12345, "heads": heads}}}
    text = eval_verdict(report)
    assert text.startswith("At delay 0, the model is worse than repeating the last input")
    assert "higher accuracy on 1 of 3 heads, lower on 2" in text and "12,345 frames of 2" in text
    assert "0.750 against 0.843 (-9.3 points ± 1.0, 95% interval" in text
    assert "Largest loss: main stick x" in text and "Largest gain: A button (+1.0 points)" in text
    assert metric_label("eval/repeat_baseline/main_x_acc@0") == "repeat-last main stick x accuracy at delay 0"
