"""A sweep's arms side by side: one table row per arm (status, parameters, metrics),
written as CSV and Parquet, and charts of each metric against each parameter with the
spread over seeds as error bars."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import altair as alt
import pandas as pd

from workbench.report.metrics import load_metrics, metrics_path_for

META_COLUMNS = ["arm", "status", "attempts", "error", "seconds"]
RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"


def collect_results(run_dir: str | os.PathLike, arms: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per arm of a sweep folder (all arms with a status file, or ``arms``):
    ``arm, status, attempts, error, seconds``, then ``param/<name>`` per parameter, then
    every recorded metric under its own name."""
    run_dir = Path(run_dir)
    if arms is None:
        arms = sorted(p.name.removesuffix(".status.json") for p in run_dir.glob("*.status.json"))
    rows = []
    for arm in arms:
        path = run_dir / f"{arm}.status.json"
        if not path.exists():
            continue
        status = json.loads(path.read_text())
        row = {key: status.get(key) for key in META_COLUMNS}
        row["status"] = "ok" if row["status"] == "skipped" else row["status"]
        row.update({f"param/{k}": v for k, v in (status.get("parameters") or {}).items()})
        row.update(load_metrics(metrics_path_for(run_dir / f"{arm}.ipynb")))
        rows.append(row)
    table = pd.DataFrame(rows, columns=None if rows else META_COLUMNS)
    params = [c for c in table.columns if c.startswith("param/")]
    metrics = [c for c in table.columns if c not in META_COLUMNS and c not in params]
    return table[META_COLUMNS + params + metrics]


def metric_columns(results: pd.DataFrame) -> list[str]:
    """Numeric metric columns (neither bookkeeping nor parameters)."""
    return [
        c
        for c in results.columns
        if c not in META_COLUMNS
        and not c.startswith("param/")
        and pd.api.types.is_numeric_dtype(results[c])
        and results[c].notna().any()
    ]


def varying_parameters(results: pd.DataFrame) -> list[str]:
    """``param/*`` columns that take more than one value across arms."""
    return [c for c in results.columns if c.startswith("param/") and results[c].astype(str).nunique(dropna=False) > 1]


def write_results(results: pd.DataFrame, run_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write the table as ``results.csv`` and ``results.parquet`` in ``run_dir``."""
    run_dir = Path(run_dir)
    csv, parquet = run_dir / RESULTS_CSV, run_dir / RESULTS_PARQUET
    results.to_csv(csv, index=False)
    table = results.copy()
    for column in table.columns:  # Parquet needs one type per column: mixed ones as text
        values = table[column].dropna()
        mixed = values.map(type).nunique() > 1
        nested = values.map(lambda v: isinstance(v, (list, dict))).any()
        if table[column].dtype == object and (mixed or nested):
            table[column] = table[column].map(lambda v: None if v is None else _text(v))
    table.to_parquet(parquet, index=False)
    return csv, parquet


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def metric_chart(
    results: pd.DataFrame, metric: str, parameter: str, seed_parameter: str = "param/seed"
) -> alt.LayerChart:
    """Mean of ``metric`` per value of ``parameter`` (points) with the spread over the
    arms sharing that value, seeds included (error bars: one standard deviation); other
    varying parameters are told apart by colour."""
    ok = results[results["status"] == "ok"]
    others = [c for c in varying_parameters(ok) if c not in (parameter, seed_parameter)]
    data = pd.DataFrame(
        {
            "value": ok[parameter].map(_text),
            metric: ok[metric],
            "group": ok[others].astype(str).agg(", ".join, axis=1) if others else "all arms",
        }
    )
    x = alt.X("value:N", title=parameter.removeprefix("param/"))
    base = alt.Chart(data).encode(
        x=x, color=alt.Color("group:N", title=", ".join(o.removeprefix("param/") for o in others) or None)
    )
    return alt.layer(
        base.mark_errorbar(extent="stdev").encode(y=alt.Y(f"{metric}:Q", title=metric)),
        base.mark_point(filled=True, size=70).encode(
            y=f"mean({metric}):Q", tooltip=["value:N", "group:N", f"mean({metric}):Q"]
        ),
    ).properties(width=220, height=160, title=f"{metric} vs {parameter.removeprefix('param/')}")


def comparison_charts(
    results: pd.DataFrame, seed_parameter: str = "seed", max_charts: int = 24
) -> list[alt.LayerChart]:
    """:func:`metric_chart` for every numeric metric against every varying parameter
    other than the seed (at most ``max_charts``); metrics that differ between arms first."""
    if results.empty or not (results["status"] == "ok").any():
        return []
    ok = results[results["status"] == "ok"]
    seed = f"param/{seed_parameter}"
    parameters = [p for p in varying_parameters(ok) if p != seed]
    metrics = sorted(metric_columns(ok), key=lambda m: ok[m].nunique() <= 1)  # stable
    charts = [metric_chart(results, metric, parameter, seed) for metric in metrics for parameter in parameters]
    return charts[:max_charts]
