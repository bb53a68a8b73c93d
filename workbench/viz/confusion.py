"""Stick confusions from an eval report: heatmaps per axis, the top confusions, neutral
versus edge errors, per-character accuracy, and two checkpoints side by side."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from workbench.viz.training import gain_color, gain_verdict

AXES = ("main_x", "main_y", "c_x", "c_y")


def confusion_frame(report: dict, delay: int | str, axis: str) -> pd.DataFrame:
    """Long table (true, pred, count, share) of one axis's confusion matrix; ``share``
    is the fraction of the true bucket's frames (rows sum to 1)."""
    matrix = np.array(report["delays"][str(delay)]["sticks"][axis]["confusion"], dtype=float)
    k = len(matrix)
    totals = matrix.sum(1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    true, pred = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    return pd.DataFrame(
        {
            "true": true.ravel(),
            "pred": pred.ravel(),
            "count": matrix.ravel().astype(int),
            "share": np.round(share.ravel(), 4),
        }
    )


def confusion_heatmaps(report: dict, delay: int | str = 0, axes: tuple[str, ...] = AXES) -> alt.Chart:
    """One heatmap per stick axis: rows are true buckets, columns predicted, colour the
    share of the true bucket's frames (the diagonal is what the model gets right)."""
    charts = []
    for axis in axes:
        data = confusion_frame(report, delay, axis)
        charts.append(
            alt.Chart(data, title=axis)
            .mark_rect()
            .encode(
                x=alt.X("pred:O", title="predicted bucket"),
                y=alt.Y("true:O", title="true bucket"),
                color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1])),
                tooltip=["true", "pred", "count", alt.Tooltip("share:Q", format=".3f")],
            )
            .properties(width=200, height=200)
        )
    return alt.hconcat(*charts)


def top_confusions(report: dict, delay: int | str = 0, axes: tuple[str, ...] = AXES) -> pd.DataFrame:
    rows = []
    for axis in axes:
        for c in report["delays"][str(delay)]["sticks"][axis]["top_confusions"]:
            rows.append({"axis": axis, **c})
    return pd.DataFrame(rows).sort_values("count", ascending=False, ignore_index=True) if rows else pd.DataFrame()


def neutral_edge_table(report: dict, delay: int | str = 0, axes: tuple[str, ...] = AXES) -> pd.DataFrame:
    """Accuracy on neutral versus edge (fully tilted) frames, per axis, beside overall."""
    rows = []
    for axis in axes:
        m = report["delays"][str(delay)]["sticks"][axis]
        rows.append(
            {
                "axis": axis,
                "acc": m["acc"],
                "baseline_acc": m["baseline_acc"],
                "acc_neutral": m["acc_neutral"],
                "neutral_frames": m["neutral_frames"],
                "acc_edge": m["acc_edge"],
                "edge_frames": m["edge_frames"],
            }
        )
    return pd.DataFrame(rows)


def per_character_chart(report: dict, delay: int | str = 0, head: str = "main_x") -> alt.Chart:
    """Per character: the model's accuracy minus repeat-last's (points), frames in the
    tooltip: the gap itself, not two bars on a 0-1 axis."""
    from workbench.eval.verdict import head_label

    rows = []
    for character, block in report["delays"][str(delay)]["per_character"].items():
        acc, base = block[head]["acc"], block[head]["baseline_acc"]
        rows.append(
            {
                "character": character,
                "gain_points": 100 * (acc - base),
                "acc": acc,
                "baseline_acc": base,
                "frames": block["frames"],
                "verdict": gain_verdict(acc - base),
            }
        )
    return (
        alt.Chart(pd.DataFrame(rows), title=f"{head_label(head)}: accuracy gain over repeat-last per character")
        .mark_bar()
        .encode(
            y=alt.Y("character:N", title=None),
            x=alt.X("gain_points:Q", title="points"),
            color=gain_color(),
            tooltip=[
                "character",
                "frames",
                alt.Tooltip("acc:Q", format=".4f"),
                alt.Tooltip("baseline_acc:Q", title="repeat-last", format=".4f"),
                alt.Tooltip("gain_points:Q", format="+.2f"),
            ],
        )
        .properties(width=360)
    )


def compare_reports(reports: dict[str, dict], delay: int | str = 0) -> pd.DataFrame:
    """Heads as rows, one accuracy column per named report, plus the baseline."""
    table = None
    for name, report in reports.items():
        heads = report["delays"][str(delay)]["heads"]
        frame = pd.DataFrame({"head": list(heads), name: [m["acc"] for m in heads.values()]})
        if table is None:
            frame["repeat_last"] = [m["baseline_acc"] for m in heads.values()]
            table = frame
        else:
            table = table.merge(frame, on="head")
    return table
