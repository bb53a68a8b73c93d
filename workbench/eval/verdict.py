"""Sentences that state an evaluation's verdict against repeat-last, for the first line of
every report page, and the human names of the heads and metrics the pages show."""

from __future__ import annotations

import math

HEAD_LABELS = {
    "main_x": "main stick x",
    "main_y": "main stick y",
    "c_x": "C-stick x",
    "c_y": "C-stick y",
    "main": "main stick",
    "c": "C-stick",
    "trigger": "trigger",
    "D_UP": "D-pad up",
    **{b: f"{b} button" for b in ("A", "B", "X", "Y", "Z", "L", "R")},
}

METRIC_LABELS = {
    "acc": "accuracy",
    "baseline_acc": "repeat-last accuracy",
    "constant_acc": "constant accuracy",
    "acc_gain": "gain over repeat-last",
    "nll": "NLL (nats)",
    "baseline_nll": "repeat-last NLL",
    "acc_change": "accuracy on changes",
    "acc_onset": "accuracy on onsets",
    "acc_release": "accuracy on releases",
    "games_ok": "games",
    "frames": "frames",
    "mean_entropy": "mean attention entropy (nats)",
    "uniform_entropy": "uniform attention entropy",
    "p50_ms": "p50 latency (ms)",
    "max_rel_error": "max relative error",
    "accuracy_change": "accuracy change",
    "kl_teacher": "KL to the teacher",
    "eval_win_rate_vs_teacher": "win rate vs the teacher",
}


def head_label(name: str) -> str:
    return HEAD_LABELS.get(name, name.replace("_", " "))


def metric_label(key: str) -> str:
    """``eval/repeat_baseline/main_x_acc@0`` -> ``repeat-last main stick x accuracy at delay 0``."""
    body, _, delay = key.partition("@")
    parts = body.split("/")
    baseline = "repeat_baseline" in parts
    name = parts[-1]
    for head in sorted(HEAD_LABELS, key=len, reverse=True):
        if name.startswith(head + "_") and name[len(head) + 1 :] in METRIC_LABELS:
            text = f"{head_label(head)} {METRIC_LABELS[name[len(head) + 1 :]]}"
            break
    else:
        text = METRIC_LABELS.get(name, name.replace("_", " "))
    qualifiers = [q for q in parts[1:-1] if q != "repeat_baseline"]  # deploy/int8/... -> int8
    text = " ".join([*qualifiers, text])
    text = ("repeat-last " if baseline else "") + text
    return text + (f" at delay {delay}" if delay else "")


def _points(x: float) -> str:
    return f"{100 * x:+.1f} points"


def eval_verdict(report: dict, delay: int | str | None = None, model: str = "the model") -> str:
    """One paragraph: better or worse than repeat-last, on how many heads, by how much,
    on how many frames and games, with the 95% interval of the main-stick x gain."""
    delay = str(delay if delay is not None else next(iter(report["delays"])))
    block = report["delays"][delay]
    heads = block["heads"]
    gains = {name: m["acc"] - m["baseline_acc"] for name, m in heads.items()}
    better = [n for n, g in gains.items() if g > 0]
    worse = [n for n, g in gains.items() if g < 0]
    games, frames = len(report.get("games", [])), block["frames"]
    overall = "better than" if len(better) > len(worse) else "worse than" if worse else "level with"
    text = (
        f"At delay {delay}, {model} is {overall} repeating the last input: higher accuracy "
        f"on {len(better)} of {len(heads)} heads, lower on {len(worse)}, "
        f"over {frames:,} frames of {games} held-out game{'s' if games != 1 else ''}."
    )
    if "main_x" in heads:
        m = heads["main_x"]
        ci = m.get("gain_ci95", float("nan"))
        interval = f" ± {100 * ci:.1f}" if isinstance(ci, float) and math.isfinite(ci) else ""
        text += (
            f" Main stick x: {m['acc']:.3f} against {m['baseline_acc']:.3f} "
            f"({_points(gains['main_x'])}{interval}, 95% interval over frames)."
        )
    if worse:
        worst = min(worse, key=gains.get)
        text += f" Largest loss: {head_label(worst)} ({_points(gains[worst])})."
    if better:
        best = max(better, key=gains.get)
        text += f" Largest gain: {head_label(best)} ({_points(gains[best])})."
    return text


def attention_verdict(report: dict, entropies, delay: int | str | None = None) -> str:
    """The attention page's verdict: the attention model against repeat-last, then how
    concentrated its attention is against uniform attention over the window."""
    mean, uniform = float(entropies["entropy"].mean()), float(entropies["max"].mean())
    return (
        eval_verdict(report, delay, model="this attention model")
        + f" Its attention has a mean entropy of {mean:.2f} nats against {uniform:.2f} for "
        f"uniform attention over the window ({mean / uniform:.0%} of it): "
        + ("it looks at a few frames." if mean < 0.7 * uniform else "it spreads over most of the window.")
    )


__all__ = ["HEAD_LABELS", "attention_verdict", "eval_verdict", "head_label", "metric_label"]
