"""Charts and tables of training runs and evaluations: loss curves (live while a run
trains), every head's accuracy and NLL beside the repeat-last baseline, the delay curve."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import pandas as pd

LOSS_KEYS = ("train/loss", "val/loss")


GAIN_VERDICTS = ("better than repeat-last", "worse than repeat-last")


def gain_verdict(gain: float) -> str:
    """The label of a gain over repeat-last (a tie counts as worse: it adds nothing)."""
    return GAIN_VERDICTS[0] if gain > 0 else GAIN_VERDICTS[1]


def gain_color() -> alt.Color:
    """Green for better than repeat-last, red for worse, on every gain chart."""
    return alt.Color("verdict:N", title=None, scale=alt.Scale(domain=list(GAIN_VERDICTS), range=["#2a7", "#c33"]))


def run_metrics(run_dir: str | Path) -> pd.DataFrame:
    """metrics.jsonl of a run as a long table (step, metric, value)."""
    rows = []
    path = Path(run_dir) / "metrics.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        record = json.loads(line)
        rows += [
            {"step": record["step"], "metric": k, "value": v}
            for k, v in record.items()
            if k not in ("step", "time") and isinstance(v, (int, float))
        ]
    return pd.DataFrame(rows, columns=["step", "metric", "value"])


def loss_chart(metrics: pd.DataFrame, keys: tuple[str, ...] = LOSS_KEYS, width: int = 520) -> alt.Chart:
    data = metrics[metrics["metric"].isin(keys)]
    return (
        alt.Chart(data, title="loss")
        .mark_line(point=True)
        .encode(
            x="step:Q",
            y=alt.Y("value:Q", title="loss", scale=alt.Scale(zero=False)),
            color="metric:N",
            tooltip=["step", "metric", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(width=width, height=220)
    )


def loss_curves(run_dir: str | Path) -> alt.Chart:
    """Train and validation loss of a finished (or running) run."""
    return loss_chart(run_metrics(run_dir))


class LiveLoss:
    """``train(cfg, on_log=LiveLoss())``: redraws the loss curves in the notebook every
    ``every`` logged rows (one display that updates in place)."""

    def __init__(self, every: int = 5):
        self.rows: list[dict] = []
        self.every, self.calls, self.handle = every, 0, None

    def __call__(self, step: int, metrics: dict) -> None:
        self.rows += [{"step": step, "metric": k, "value": v} for k, v in metrics.items() if k in LOSS_KEYS]
        self.calls += 1
        if self.calls % self.every == 0 or "val/loss" in metrics:
            self.show()

    def final(self, run_dir: str | Path) -> None:
        """Draw the finished run's curves in the same display (a reused run, never
        trained here, shows them too): one loss chart per page, not two."""
        self.rows = run_metrics(run_dir).query("metric in @LOSS_KEYS").to_dict("records")
        self.show()

    def show(self) -> None:
        from IPython.display import display

        chart = loss_chart(pd.DataFrame(self.rows, columns=["step", "metric", "value"]))
        if self.handle is None:
            self.handle = display(chart, display_id=True)
        else:
            self.handle.update(chart)


def eval_table(report: dict, delay: int | str | None = None) -> pd.DataFrame:
    """Per head (and delay): accuracy and NLL beside the repeat-last baseline, and the
    accuracy on frames where the input changed."""
    rows = []
    delays = [str(delay)] if delay is not None else list(report["delays"])
    for d in delays:
        for head, m in report["delays"][d]["heads"].items():
            rows.append(
                {
                    "delay": int(d),
                    "head": head,
                    "acc": m["acc"],
                    "baseline_acc": m["baseline_acc"],
                    "acc_gain": m["acc"] - m["baseline_acc"],
                    "nll": m["nll"],
                    "baseline_nll": m["baseline_nll"],
                    "constant_acc": m.get("constant_acc"),
                    "acc_change": m["acc_change"],
                    "change_frames": m["change_frames"],
                    "acc_onset": m.get("acc_onset"),
                    "constant_acc_onset": m.get("constant_acc_onset"),
                    "onset_frames": m.get("onset_frames"),
                    "acc_release": m.get("acc_release"),
                    "constant_acc_release": m.get("constant_acc_release"),
                    "release_frames": m.get("release_frames"),
                    "frames": m["frames"],
                }
            )
    return pd.DataFrame(rows)


def eval_chart(report: dict) -> alt.Chart:
    """The model's accuracy minus repeat-last's per head (percentage points), one panel per
    delay: the gap itself, not two bars on a 0-1 axis where a 2-point gap is invisible."""
    from workbench.eval.verdict import head_label

    table = eval_table(report)
    table["gain_points"] = 100 * table["acc_gain"]
    table["head_label"] = table["head"].map(head_label)
    table["verdict"] = table["gain_points"].map(gain_verdict)
    bars = (
        alt.Chart(table)
        .mark_bar()
        .encode(
            x=alt.X("head_label:N", title=None, sort=list(table["head_label"].unique())),
            y=alt.Y("gain_points:Q", title="accuracy minus repeat-last (points)"),
            color=gain_color(),
            tooltip=[
                "head_label",
                "delay",
                alt.Tooltip("acc:Q", format=".4f"),
                alt.Tooltip("baseline_acc:Q", title="repeat-last", format=".4f"),
                alt.Tooltip("gain_points:Q", title="gain (points)", format="+.2f"),
            ],
        )
    )
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="black").encode(y="y:Q")
    return (
        alt.layer(bars, zero, data=table)
        .properties(width=520, height=180)
        .facet(
            row=alt.Row("delay:O", title="delay (frames)"), data=table, title="accuracy gain over repeat-last per head"
        )
    )


def delay_curve_chart(report: dict, heads: tuple[str, ...] = ("main_x", "main_y")) -> alt.Chart:
    """Accuracy versus delay for the model and the baseline (delay robustness): one panel
    per head, colour the predictor (one legend entry each)."""
    from workbench.eval.verdict import head_label

    rows = []
    for point in report["delay_curve"]:
        for head in heads:
            rows.append(
                {"delay": point["delay"], "head": head_label(head), "predictor": "model", "acc": point[f"{head}_acc"]}
            )
            rows.append(
                {
                    "delay": point["delay"],
                    "head": head_label(head),
                    "predictor": "repeat last",
                    "acc": point[f"{head}_baseline_acc"],
                }
            )
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("delay:Q", title="delay (frames)"),
            y=alt.Y("acc:Q", title="accuracy", scale=alt.Scale(zero=False)),
            color=alt.Color("predictor:N", title=None),
            tooltip=["delay", "head", "predictor", alt.Tooltip("acc:Q", format=".4f")],
        )
        .properties(width=260, height=200)
        .facet(column=alt.Column("head:N", title=None), title="accuracy versus delay")
    )


def verdict(report: dict, delay: int | str | None = None, model: str = "the model"):
    """The eval verdict against repeat-last as Markdown (tag its cell ``verdict``: the
    published page opens with it)."""
    from workbench.eval.verdict import eval_verdict

    return verdict_note(eval_verdict(report, delay, model))


def verdict_note(text: str):
    """A verdict sentence as Markdown (tag its cell ``verdict``: the page opens with it)."""
    from IPython.display import Markdown

    return Markdown(f"**Verdict.** {text}")


def metrics_table(metrics: dict) -> pd.DataFrame:
    """Recorded metrics as a table with human labels (``eval/repeat_baseline/main_x_acc@0``
    -> ``repeat-last main stick x accuracy at delay 0``), not a raw dict on the page."""
    from workbench.eval.verdict import metric_label

    return pd.DataFrame(
        {
            "metric": [metric_label(k) for k in metrics],
            "value": [v if isinstance(v, (int, float)) else str(v) for v in metrics.values()],
            "key": list(metrics),
        }
    )


def state_use_table(report: dict) -> pd.DataFrame:
    """Per delay: bits per frame of the model, of repeat-last, and (where scored) of the
    same model with the game state, or its own past inputs, held constant."""
    rows = []
    for d, block in report["delays"].items():
        ablations = block.get("ablations", {})
        rows.append(
            {
                "delay": int(d),
                "bits_per_frame": block["bits_per_frame"],
                "repeat_last": block["baseline_bits_per_frame"],
                "state_removed": ablations.get("state_removed", {}).get("bits_per_frame"),
                "own_inputs_removed": ablations.get("own_inputs_removed", {}).get("bits_per_frame"),
                "main_x_acc": block["heads"]["main_x"]["acc"],
                "main_x_acc_change": block["heads"]["main_x"]["acc_change"],
            }
        )
    return pd.DataFrame(rows)


def situation_table(report: dict, delay: int | str = 0, head: str = "main_x") -> pd.DataFrame:
    """Accuracy on one head's change frames by situation (hitstun, shield, ledge, after the
    opponent's action changed, neutral); repeat-last scores 0 on every change frame."""
    rows = [
        {
            "situation": name,
            "frames": s["frames"],
            "change_frames": s["heads"][head]["change_frames"],
            "acc": s["heads"][head]["acc"],
            "baseline_acc": s["heads"][head]["baseline_acc"],
            "acc_change": s["heads"][head]["acc_change"],
        }
        for name, s in report["delays"][str(delay)].get("situations", {}).items()
    ]
    return pd.DataFrame(rows)


def bits_curve_chart(report: dict) -> alt.Chart:
    """Bits per frame versus delay, the model beside repeat-last: a model that reacts to
    the game gets worse as the state it sees grows stale."""
    rows = []
    for point in report["delay_curve"]:
        rows.append({"delay": point["delay"], "predictor": "model", "bits": point["bits_per_frame"]})
        rows.append({"delay": point["delay"], "predictor": "repeat last", "bits": point["baseline_bits_per_frame"]})
    return (
        alt.Chart(pd.DataFrame(rows), title="bits per frame versus delay")
        .mark_line(point=True)
        .encode(
            x="delay:Q",
            y=alt.Y("bits:Q", title="bits per frame (lower is better)", scale=alt.Scale(zero=False)),
            color="predictor:N",
            tooltip=["delay", "predictor", alt.Tooltip("bits:Q", format=".3f")],
        )
        .properties(width=420, height=220)
    )
