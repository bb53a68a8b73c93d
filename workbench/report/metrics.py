"""The machine-readable metrics convention of notebooks.

A notebook ends with ``record_metrics({...}, metrics_path)``: the metrics go to a JSON
file beside the executed notebook (``runs/x.ipynb`` -> ``runs/x.metrics.json``, see
:func:`metrics_path_for`), which ``workbench sweep`` aggregates across arms. The file is::

    {"version": 1, "metrics": {"explore/games_ok": 9, "explore/hours": 0.15, ...}}

Names follow the project's prefix convention (``train/loss``, ``eval/stick_main_x_acc``);
values are numbers, booleans, strings or null (NaN and infinities are written as null).
Where the path is not given, ``$WORKBENCH_METRICS_PATH`` is used (the sweep sets both);
with neither, nothing is written and the metrics are only shown and glued.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

METRICS_ENV = "WORKBENCH_METRICS_PATH"
METRICS_SUFFIX = ".metrics.json"
METRICS_VERSION = 1

# Metrics recorded in this process, per file: a notebook may record in several cells.
_RECORDED: dict[Path, dict[str, Any]] = {}


def metrics_path_for(notebook: str | os.PathLike) -> Path:
    """Where the metrics of an executed notebook live: same folder, same stem."""
    notebook = Path(notebook)
    return notebook.with_name(notebook.name.removesuffix(".ipynb") + METRICS_SUFFIX)


def _json_scalar(name: str, value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(
        f"metric {name!r} is a {type(value).__name__}: record numbers, booleans or strings (one metric per name)"
    )


def record_metrics(
    metrics: Mapping[str, Any], path: str | os.PathLike | None = None, prefix: str = ""
) -> dict[str, Any]:
    """Record ``metrics`` (name -> scalar) for this notebook run and return them.

    ``prefix="explore"`` names ``games`` as ``explore/games``. Calls with the same path in
    one process merge (the first call of a process starts the file afresh). Also glued
    for scrapbook when it is installed."""
    named = {
        (f"{prefix}/{name}" if prefix else str(name)): _json_scalar(str(name), value) for name, value in metrics.items()
    }
    target = path or os.environ.get(METRICS_ENV) or None
    if target:
        target = Path(target).resolve()
        merged = _RECORDED.setdefault(target, {})
        merged.update(named)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps({"version": METRICS_VERSION, "metrics": merged}, indent=1))
        os.replace(tmp, target)
    _glue(named)
    return named


def _glue(metrics: Mapping[str, Any]) -> None:
    """Scrapbook-style glue, when scrapbook is installed (optional)."""
    try:
        import scrapbook
    except ImportError:  # optional: the JSON file is the convention the sweep reads
        return
    for name, value in metrics.items():
        scrapbook.glue(name, value, display=False)


def load_metrics(path: str | os.PathLike) -> dict[str, Any]:
    """The metrics of a file written by :func:`record_metrics` (empty if it is missing)."""
    path = Path(path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return dict(data.get("metrics", {})) if isinstance(data, dict) else {}
