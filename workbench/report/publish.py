"""Static HTML reports that open from disk with no network.

* Charts are Vega-Lite specs drawn by vega-embed, whose JavaScript (with Vega and
  Vega-Lite) is inlined from ``vl-convert-python``'s bundle: no CDN, no ``<script src>``.
* Executed notebooks are rendered without code cells (nbconvert, ``exclude_input``);
  their Vega-Lite outputs are redrawn with the inlined bundle, widget outputs (which need a
  live kernel) are replaced by a note, and external scripts nbconvert's template would
  load (MathJax, require.js) are dropped.
* Every string that can come from a replay or a parameter (netplay names, tags, arm
  names, errors) goes through :func:`escape`; JSON inside ``<script>`` has ``<``, ``>`` and
  ``&`` escaped (:func:`script_json`).

``build_index`` makes a page linking sub-reports (ingest, train, eval, ... notebooks);
``publish_notebook`` renders one executed notebook; ``publish_sweep`` a whole sweep.
"""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from workbench.errors import WorkbenchError

VEGALITE_MIME = re.compile(r"application/vnd\.vegalite\.v\d+\+json")
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
EMBED_OPTIONS = {"actions": False, "renderer": "svg"}
# tags that make a browser fetch something: none may point off the machine
EXTERNAL_LOAD = re.compile(
    r"<(script|link|img|iframe|source|embed)\b[^>]*\b(src|href)\s*=\s*[\"']?\s*(https?:)?//"
    r"|\bimport\(\s*[\"'](https?:)?//",
    re.IGNORECASE,
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table.results { border-collapse: collapse; font-size: 13px; margin: 1em 0; }
table.results th, table.results td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
table.results th { background: #f3f3f3; } table.results td.text { text-align: left; }
tr.failed td { background: #fde8e8; } .error { color: #a00; font-family: monospace; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; } .muted { color: #777; }
.scroll { overflow-x: auto; }
"""


class PublishError(WorkbenchError):
    """A report that cannot be built (missing inputs, or a page that would need network)."""


def escape(value: Any) -> str:
    """HTML-escape any value (replay names and tags can hold ``<``, ``&``, quotes)."""
    return html.escape("" if value is None else str(value), quote=True)


def script_json(value: Any) -> str:
    """JSON safe to place inside ``<script>``: ``<``, ``>`` and ``&`` become ``\\u`` escapes,
    so no string in the data (``</script>``, ``<!--``) can end or bend the element."""
    return (
        json.dumps(value)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


@lru_cache(maxsize=1)
def vega_bundle() -> str:
    """vega + vega-lite + vega-embed as one inline script (sets ``window.vegaEmbed``)."""
    try:
        import altair as alt
        import vl_convert
    except ImportError:
        raise PublishError(
            "reports need vl-convert-python for the inline chart library: pip install vl-convert-python"
        ) from None
    version = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    try:
        bundle = vl_convert.javascript_bundle(vl_version=version)
    except ValueError:  # this vl-convert does not know altair's minor version
        bundle = vl_convert.javascript_bundle()
    return bundle.replace("</script", "<\\/script")  # cannot end the inline element


def chart_spec(chart: Any) -> dict:
    """A Vega-Lite spec dict from an altair chart (or a spec dict as is)."""
    return chart if isinstance(chart, dict) else chart.to_dict()


def chart_div(chart: Any, div_id: str) -> str:
    """A ``<div>`` and the inline call that draws ``chart`` into it."""
    div_id = re.sub(r"[^A-Za-z0-9_-]", "-", div_id)
    return (
        f'<div class="chart" id="{div_id}"></div>\n<script>vegaEmbed("#{div_id}", '
        f"{script_json(chart_spec(chart))}, {json.dumps(EMBED_OPTIONS)})"
        f".catch(function (e) {{ console.error(e); }});</script>"
    )


def page(title: str, body: str, charts: bool = True) -> str:
    """A whole standalone page; ``charts`` inlines the Vega bundle into its head."""
    bundle = f"<script>{vega_bundle()}</script>" if charts else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style>{bundle}</head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def check_offline(text: str, source: str = "page") -> str:
    """Raise if a page would load anything from the network; return it otherwise."""
    match = EXTERNAL_LOAD.search(text)
    if match:
        raise PublishError(f"{source} would load {match.group(0)!r} from the network")
    return text


def write_page(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(check_offline(text, str(path)), encoding="utf-8")
    return path


def table_html(
    rows: Sequence[dict], columns: Sequence[str], row_class: str | None = None, links: dict[str, str] | None = None
) -> str:
    """An escaped HTML table; ``row_class`` names a column whose value becomes the row's
    class, ``links`` maps a cell text of the first column to a relative href."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for index, column in enumerate(columns):
            value = row.get(column)
            text = f"{value:.4g}" if isinstance(value, float) else escape(value)
            if index == 0 and links and str(value) in links:
                text = f'<a href="{escape(links[str(value)])}">{text}</a>'
            kind = "" if isinstance(value, (int, float)) else ' class="text"'
            cells.append(f"<td{kind}>{text}</td>")
        css = f' class="{escape(row.get(row_class))}"' if row_class else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f'<table class="results"><tr>{head}</tr>\n' + "\n".join(body) + "</table>"


@dataclass
class ReportEntry:
    """One linked sub-report of an index page."""

    title: str
    href: str  # relative to the index page
    description: str = ""
    status: str = ""  # e.g. "ok", "failed"


def build_index(title: str, entries: Iterable[ReportEntry], out: str | os.PathLike, intro: str = "") -> Path:
    """Write an index page linking sub-reports (one row per entry, all text escaped)."""
    entries = list(entries)
    rows = [{"report": e.title, "status": e.status, "description": e.description} for e in entries]
    links = {e.title: e.href for e in entries}
    body = (f"<p>{escape(intro)}</p>" if intro else "") + table_html(
        rows, ["report", "status", "description"], links=links
    )
    return write_page(out, page(title, body, charts=False))


# --------------------------------------------------------------------------------------
# Executed notebooks to HTML, without code.
# --------------------------------------------------------------------------------------

WIDGET_NOTE = '<p class="muted">(An interactive widget was here: open the notebook in Jupyter to use it.)</p>'
EXTERNAL_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']?(https?:)?//[^>]*>\s*</script>", re.IGNORECASE)
EXTERNAL_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']?(https?:)?//[^>]*>", re.IGNORECASE)
# inline scripts that fetch modules at run time (nbconvert's mermaid loader)
EXTERNAL_IMPORT = re.compile(
    r"<script\b[^>]*>(?:(?!</script>).)*?\bimport\(\s*[\"'](https?:)?//.*?</script>", re.IGNORECASE | re.DOTALL
)


def _static_outputs(notebook: Any) -> int:
    """Rewrite outputs in place for a static page: Vega-Lite specs become inline embeds,
    widgets a note. Returns the number of charts."""
    charts = 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            spec = next((v for k, v in data.items() if VEGALITE_MIME.fullmatch(k)), None)
            if spec is not None:
                charts += 1
                spec = json.loads(spec) if isinstance(spec, str) else spec
                output["data"] = {"text/html": chart_div(spec, f"chart-{charts}")}
            elif WIDGET_MIME in data:
                output["data"] = {"text/html": WIDGET_NOTE}
    notebook.metadata.pop("widgets", None)
    return charts


def verdict_first(notebook: Any) -> None:
    """Move the cells tagged ``verdict`` (a sentence computed at the end, e.g.
    ``viz.verdict(report)``) to just after the page's title cell, so every page opens with
    its verdict."""
    verdicts = [c for c in notebook.cells if "verdict" in c.get("metadata", {}).get("tags", [])]
    if not verdicts:
        return
    rest = [c for c in notebook.cells if c not in verdicts]
    title = 1 if rest and rest[0].cell_type == "markdown" else 0
    notebook.cells = rest[:title] + verdicts + rest[title:]


def render_notebook(path: str | os.PathLike) -> str:
    """An executed notebook as a standalone HTML page without code cells."""
    import nbformat
    from nbconvert import HTMLExporter

    path = Path(path)
    if not path.exists():
        raise PublishError(f"no such notebook: {path}")
    notebook = nbformat.read(path, as_version=4)
    verdict_first(notebook)
    charts = _static_outputs(notebook)
    exporter = HTMLExporter(
        template_name="lab", exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": path.stem}})
    # MathJax, require.js, mermaid come from a CDN in nbconvert's template: reports go without
    body = EXTERNAL_IMPORT.sub("", EXTERNAL_LINK.sub("", EXTERNAL_SCRIPT.sub("", body)))
    if charts:
        body = body.replace("<head>", f"<head><script>{vega_bundle()}</script>", 1)
    return check_offline(body, str(path))


def publish_notebook(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Render one executed notebook (no code) to ``out``."""
    return write_page(out, render_notebook(path))


# --------------------------------------------------------------------------------------
# A sweep's report.
# --------------------------------------------------------------------------------------


def _display_columns(results: Any) -> list[str]:
    from workbench.report.results import metric_columns, varying_parameters

    ok = results[results["status"] == "ok"]
    return (
        ["arm", "status", "attempts", "seconds"]
        + varying_parameters(results)
        + metric_columns(ok if len(ok) else results)
    )


def _failed_section(failed: list[dict]) -> str:
    if not failed:
        return ""
    items = "".join(
        f"<li>{escape(r['arm'])} after {escape(r['attempts'])} attempt(s): "
        f'<span class="error">{escape(r["error"])}</span></li>'
        for r in failed
    )
    return f"<h2>Failed arms</h2><ul>{items}</ul>"


def _charts_section(charts: list) -> str:
    if not charts:
        return '<p class="muted">No numeric metric varies with a parameter across finished arms.</p>'
    divs = "".join(chart_div(chart, f"metric-{i}") for i, chart in enumerate(charts))
    return f'<div class="charts">{divs}</div>'


def publish_sweep(
    run_dir: str | os.PathLike, report_dir: str | os.PathLike, title: str | None = None, seed_parameter: str = "seed"
) -> Path:
    """Aggregate a sweep folder (``results.csv``/``.parquet`` beside the arms) and publish
    ``report_dir/index.html``: comparison table, metric-versus-parameter charts, and each
    arm's notebook as ``arms/<arm>.html`` without code. Returns the index path."""
    from workbench.report.results import collect_results, comparison_charts, write_results

    run_dir, report_dir = Path(run_dir), Path(report_dir)
    sweep_file = run_dir / "sweep.json"
    arms = json.loads(sweep_file.read_text())["arms"] if sweep_file.exists() else None
    results = collect_results(run_dir, arms)
    if results.empty:
        raise PublishError(f"{run_dir} holds no finished arms: run the sweep first")
    write_results(results, run_dir)
    links = {}
    for arm in results["arm"]:
        if (run_dir / f"{arm}.ipynb").exists():
            publish_notebook(run_dir / f"{arm}.ipynb", report_dir / "arms" / f"{arm}.html")
            links[arm] = "arms/" + quote(f"{arm}.html")
    records = results.astype(object).where(results.notna(), None).to_dict("records")
    failed = [r for r in records if r["status"] == "failed"]
    charts = comparison_charts(results, seed_parameter)
    body = (
        f"<p>{len(results)} arms: {len(results) - len(failed)} ok, {len(failed)} failed. "
        f"Table: <code>{escape(run_dir / 'results.csv')}</code> and <code>.parquet</code>.</p>"
        + _failed_section(failed)
        + '<h2>Arms</h2><div class="scroll">'
        + table_html(records, _display_columns(results), "status", links)
        + "</div>"
        + "<h2>Metrics by parameter</h2>"
        + _charts_section(charts)
    )
    return write_page(report_dir / "index.html", page(title or f"Sweep {run_dir.name}", body, charts=bool(charts)))
