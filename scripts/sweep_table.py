"""A sweep's ``results.csv`` as the Markdown table the README shows: one row per arm
setting, seeds folded into mean ± std, repeat-last beside the model.

    .venv/bin/python scripts/sweep_table.py papermill_runs/backbones-shared/results.csv
        [--by backbone,window,sets] [--columns bits,main_x,...]

Rows group by the parameters that vary between arms other than ``seed`` (or ``--by``);
columns are named in :data:`COLUMNS`, or per character scored as ``bits@falco``,
``main_x@falco``, ``frames@falco`` (see :func:`column`). Failed arms are left out and
counted.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Column:
    metric: str
    baseline: str | None = None  # repeat-last's metric, shown beside it (one value: the same games)
    fmt: str = ".3f"
    spread: bool = True  # mean ± std over seeds; False: the mean alone (counts, speeds, times)


COLUMNS = {
    "bits": Column("eval/bits_per_frame", "eval/repeat_baseline/bits_per_frame"),
    "bits_far": Column("eval/far/bits_per_frame"),
    "delay_gap": Column("eval/delay_gap"),
    "state_removed": Column("eval/state_removed/bits_per_frame"),
    "own_inputs_removed": Column("eval/own_inputs_removed/bits_per_frame"),
    "main_x": Column("eval/main_x_acc", "eval/repeat_baseline/main_x_acc", ".4f"),
    "main_y": Column("eval/main_y_acc", "eval/repeat_baseline/main_y_acc", ".4f"),
    "main_x_change": Column("eval/main_x_acc_change"),
    "heads_acc": Column("eval/heads_acc_at_least_baseline", fmt=".1f"),
    "heads_nll": Column("eval/heads_nll_below_baseline", fmt=".1f"),
    "heads_nll_far": Column("eval/far/heads_nll_below_baseline", fmt=".1f"),
    "train_fps": Column("train/frames_per_s", fmt=",.0f", spread=False),
    "bot_p50_ms": Column("deploy/bot_frame_p50_ms"),
    "model_p50_ms": Column("deploy/model_p50_ms"),
    "arm_s": Column("seconds", fmt=".0f", spread=False),
}
DEFAULT = "bits,main_x,main_y,main_x_change,heads_acc,train_fps,bot_p50_ms,model_p50_ms,arm_s"


PER_CHARACTER = ("bits", "main_x", "frames")  # NAME@character columns


def column(name: str) -> Column | None:
    """A named column, or ``bits@<character>`` / ``main_x@<character>`` /
    ``frames@<character>`` (the character as ``arm_metrics`` keys it: lower case,
    ``_`` for spaces, e.g. ``bits@captain_falcon``); None when unknown."""
    if name in COLUMNS:
        return COLUMNS[name]
    metric, _, character = name.partition("@")
    if not character or metric not in PER_CHARACTER:
        return None
    if metric == "frames":
        return Column(f"eval/character/{character}/frames", fmt=",.0f", spread=False)
    field = "bits_per_frame" if metric == "bits" else "main_x_acc"
    fmt = ".3f" if metric == "bits" else ".4f"
    return Column(f"eval/character/{character}/{field}", f"eval/repeat_baseline/character/{character}/{field}", fmt)


def cell(values: pd.Series, fmt: str, spread: bool = True) -> str:
    values = values.dropna()
    if values.empty:
        return ""
    if len(values) == 1 or not spread:
        return format(values.mean(), fmt)
    return f"{values.mean():{fmt}} ± {values.std():{fmt}}"


def without_common_items(values: pd.Series) -> pd.Series:
    """List-valued parameters (``sets``) shown without the items every arm shares."""
    try:
        lists = values.map(ast.literal_eval)
    except (ValueError, SyntaxError):
        return values
    if not all(isinstance(v, list) for v in lists):
        return values
    common = set.intersection(*(set(map(str, v)) for v in lists)) if len(lists) else set()
    return lists.map(lambda v: ", ".join(str(x) for x in v if str(x) not in common))


def table(results: pd.DataFrame, by: list[str], columns: list[str]) -> str:
    ok = results[results.status == "ok"].copy()
    for name in by:
        ok[f"param/{name}"] = without_common_items(ok[f"param/{name}"].astype(str))
    header = [*by, "seeds"]
    for name in columns:
        header.append(name)
        if column(name).baseline:
            header.append(f"{name} RL")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, group in ok.groupby([f"param/{b}" for b in by], sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row = [str(k) for k in key] + [str(len(group))]
        for name in columns:
            col = column(name)
            row.append(cell(group[col.metric], col.fmt, col.spread) if col.metric in group else "")
            if col.baseline:
                row.append(cell(group[col.baseline].iloc[:1], col.fmt) if col.baseline in group else "")
        lines.append("| " + " | ".join(row) + " |")
    failed = len(results) - len(ok)
    return "\n".join(lines) + (f"\n\n{failed} arm(s) failed and are left out." if failed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a sweep's results.csv")
    parser.add_argument("--by", help="parameters to group by, comma-separated (default: those that vary, not seed)")
    parser.add_argument("--columns", default=DEFAULT, help=f"of {', '.join(COLUMNS)}")
    args = parser.parse_args(argv)
    try:
        results = pd.read_csv(args.results)
    except (OSError, ValueError) as err:  # pandas: ParserError, EmptyDataError
        print(f"error: cannot read {args.results}: {err}", file=sys.stderr)
        return 2
    columns = args.columns.split(",")
    unknown = [c for c in columns if column(c) is None]
    if unknown:
        print(
            f"error: unknown columns {unknown}; choose from {', '.join(COLUMNS)} "
            f"or {'/'.join(PER_CHARACTER)}@CHARACTER",
            file=sys.stderr,
        )
        return 2
    params = [c.removeprefix("param/") for c in results.columns if c.startswith("param/")]
    by = args.by.split(",") if args.by else [p for p in params if p != "seed" and results[f"param/{p}"].nunique() > 1]
    missing = [b for b in by if b not in params]
    if missing:
        print(f"error: no parameter {missing} in {args.results}; it has {', '.join(params)}", file=sys.stderr)
        return 2
    print(table(results, by, columns))
    return 0


if __name__ == "__main__":
    sys.exit(main())
