"""How charts are shown in notebooks.

altair's default renderer writes only HTML that loads Vega from a CDN. The ``workbench``
renderer adds the chart's Vega-Lite spec to the same output, so an executed notebook
keeps every chart as data: ``workbench.report`` redraws it in a report with the Vega
libraries inlined (no network), and frontends that render Vega-Lite natively use it.
"""

from __future__ import annotations

from typing import Any

import altair as alt
from altair.vegalite.v6.display import html_renderer

RENDERER = "workbench"
# The registered Jupyter mimetype (altair 6's own constant is spelled ".v6.json", which
# nbformat's schema does not treat as JSON).
VEGALITE_MIME_TYPE = f"application/vnd.vegalite.{alt.SCHEMA_VERSION.split('.')[0]}+json"


def report_renderer(spec: dict, **metadata: Any) -> dict | tuple[dict, dict]:
    """altair's HTML bundle plus the ``application/vnd.vegalite.v6+json`` spec."""
    rendered = html_renderer(spec, **metadata)
    bundle, extra = rendered if isinstance(rendered, tuple) else (rendered, None)
    bundle = {**bundle, VEGALITE_MIME_TYPE: spec}
    return (bundle, extra) if extra is not None else bundle


def notebook_setup() -> None:
    """Call once at the top of a notebook: charts keep their spec (see the module doc),
    and altair's 5,000-row guard is lifted (the chart builders bound their own data)."""
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, report_renderer)
    alt.renderers.enable(RENDERER)
    alt.data_transformers.disable_max_rows()
    _one_line_warnings()


def _one_line_warnings() -> None:
    """The workbench's own warnings (a smaller batch, a budget too small to learn) as one
    line, ``warning: ...``, not a source path and a line of library code."""
    import warnings

    from workbench.errors import WorkbenchWarning

    default = warnings.formatwarning

    def form(message, category, filename, lineno, line=None):
        if issubclass(category, WorkbenchWarning):
            return f"warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = form
