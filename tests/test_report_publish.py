"""Standalone HTML: escaped replay strings, inlined chart library, no network loads."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import nbformat
import pandas as pd
import pytest

from workbench.replay import read_replay
from workbench.report import (
    PublishError,
    ReportEntry,
    build_index,
    chart_div,
    check_offline,
    escape,
    page,
    publish_sweep,
    render_notebook,
)
from workbench.report.publish import WIDGET_MIME, script_json
from workbench.report.results import (
    collect_results,
    comparison_charts,
    metric_columns,
    varying_parameters,
    write_results,
)
from workbench.viz.render import VEGALITE_MIME_TYPE
from conftest import bundled


@pytest.fixture(scope="module")
def crazy_names() -> list[str]:
    """Netplay names and tags of a real replay: full-width and symbol characters."""
    table = read_replay(bundled("clips/peppi-crazy_name_tags.slp"))
    names = [p.display_name for p in table.meta.players] + [p.name_tag for p in table.meta.players]
    assert any(ord(c) > 127 for name in names for c in name)
    return names + ["<script>alert('x')</script>", 'Fox "&" <b>Falco</b>']


def test_escape_and_script_json(crazy_names):
    for name in crazy_names:
        assert "<" not in escape(name) and '"' not in escape(name)
    text = script_json({"name": "</script><script>alert(1)</script>"})
    assert "<" not in text and ">" not in text and json.loads(text)["name"].startswith("</script>")


def test_index_page_escapes_and_links(tmp_path, crazy_names):
    entries = [ReportEntry(name, f"r{i}.html", description=name, status="ok") for i, name in enumerate(crazy_names)]
    entries.append(ReportEntry("train", "train/index.html", "loss curves"))
    text = build_index("Reports <main>", entries, tmp_path / "index.html").read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert" in text
    assert "<b>Falco</b>" not in text and "Reports &lt;main&gt;" in text
    assert '<a href="train/index.html">train</a>' in text
    for name in crazy_names:
        assert escape(name) in text


def test_check_offline_refuses_network_loads():
    for bad in [
        '<script src="https://cdn.jsdelivr.net/npm/vega@6"></script>',
        "<link rel=stylesheet href=//fonts.example/x.css>",
        '<img src="http://x/y.png">',
        '<script>import("https://x/m.mjs")</script>',
    ]:
        with pytest.raises(PublishError, match="network"):
            check_offline(bad)
    assert check_offline('<a href="https://github.com">a link is not a load</a>')


def test_page_inlines_the_chart_library():
    chart = alt.Chart(pd.DataFrame({"who": ["</script><b>x</b>"], "n": [1]})).mark_bar().encode(x="n", y="who")
    text = check_offline(page("t", chart_div(chart, "c1")))
    assert "window.vegaEmbed" in text and "<script src" not in text
    assert text.count("</script>") == 2  # the bundle and the one embed call; data can't close it


def executed_notebook(path: Path, names: list[str]) -> Path:
    """A notebook as papermill leaves it: a stream, a chart with its spec, a widget."""
    spec = (
        alt.Chart(pd.DataFrame({"name": names, "n": range(len(names))}))
        .mark_bar()
        .encode(x="n:Q", y="name:N")
        .to_dict()
    )
    cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell(
            "secret_code_line = 1", outputs=[nbformat.v4.new_output("stream", name="stdout", text="\n".join(names))]
        ),
        nbformat.v4.new_code_cell(
            "chart",
            outputs=[
                nbformat.v4.new_output(
                    "execute_result",
                    data={
                        VEGALITE_MIME_TYPE: spec,
                        "text/html": ('<script src="https://cdn.jsdelivr.net/npm/vega@6"></script>'),
                        "text/plain": "alt.Chart(...)",
                    },
                    execution_count=2,
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "widget",
            outputs=[
                nbformat.v4.new_output(
                    "execute_result",
                    data={
                        WIDGET_MIME: {"model_id": "abc", "version_major": 2, "version_minor": 0},
                        "text/plain": "VBox()",
                    },
                    execution_count=3,
                )
            ],
        ),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    return path


def test_render_notebook_hides_code_and_stays_offline(tmp_path, crazy_names):
    text = render_notebook(executed_notebook(tmp_path / "run.ipynb", crazy_names))
    assert "secret_code_line" not in text  # code cells are left out
    assert "<script>alert" not in text and "&lt;script&gt;alert" in text  # stream text escaped
    assert "window.vegaEmbed" in text and 'vegaEmbed("#chart-1"' in text
    assert "cdn.jsdelivr" not in text and "cdnjs.cloudflare" not in text  # MathJax, mermaid
    assert "interactive widget" in text
    check_offline(text)


def fake_sweep(run_dir: Path) -> Path:
    """Status and metrics files of 2 backbones x 2 seeds, plus one failed arm."""
    run_dir.mkdir(parents=True)
    arms = []
    for backbone, base in (("gru", 0.5), ("mamba", 0.7)):
        for seed in (0, 1):
            arm = f"backbone={backbone}__seed={seed}"
            arms.append(arm)
            params = {"backbone": backbone, "seed": seed, "note": "<i>x</i>"}
            (run_dir / f"{arm}.status.json").write_text(
                json.dumps(
                    {
                        "arm": arm,
                        "status": "ok",
                        "attempts": 1,
                        "error": "",
                        "seconds": 1.0,
                        "parameters": params,
                        "metrics": {},
                    }
                )
            )
            (run_dir / f"{arm}.metrics.json").write_text(
                json.dumps({"version": 1, "metrics": {"eval/acc": base + 0.1 * seed, "train/loss": 1 - base}})
            )
    arms.append("backbone=<b>bad")  # real names are sanitised; a page must not trust it
    (run_dir / f"{arms[-1]}.status.json").write_text(
        json.dumps(
            {
                "arm": arms[-1],
                "status": "failed",
                "attempts": 3,
                "error": "ValueError: <boom>",
                "seconds": 0.5,
                "parameters": {"backbone": [1, "x"], "seed": 0, "note": "<i>x</i>"},
            }
        )
    )
    (run_dir / "sweep.json").write_text(json.dumps({"arms": arms}))
    return run_dir


def test_results_table_and_charts(tmp_path):
    run_dir = fake_sweep(tmp_path / "runs")
    results = collect_results(run_dir)
    assert len(results) == 5 and list(results.columns[:5]) == ["arm", "status", "attempts", "error", "seconds"]
    assert metric_columns(results) == ["eval/acc", "train/loss"]
    assert varying_parameters(results) == ["param/backbone", "param/seed"]
    csv, parquet = write_results(results, run_dir)
    assert len(pd.read_csv(csv)) == 5 and len(pd.read_parquet(parquet)) == 5  # mixed types as text
    charts = comparison_charts(results)
    assert len(charts) == 2  # two metrics x one non-seed parameter
    spec = charts[0].to_dict()
    assert spec["layer"][0]["mark"]["extent"] == "stdev"  # error bars over seeds
    values = next(iter(spec["datasets"].values()))
    acc = {row["value"]: [] for row in values}
    for row in values:
        acc[row["value"]].append(row["eval/acc"])
    assert acc == {"gru": [0.5, 0.6], "mamba": [0.7, pytest.approx(0.8)]}


def test_publish_sweep_page(tmp_path):
    run_dir = fake_sweep(tmp_path / "runs")
    index = publish_sweep(run_dir, tmp_path / "report", title="Backbones")
    text = index.read_text()
    assert "5 arms: 4 ok, 1 failed" in text and "ValueError: &lt;boom&gt;" in text
    assert "<b>bad" not in text and "<i>x</i>" not in text
    assert text.count('class="chart"') == 2 and "window.vegaEmbed" in text
    assert (run_dir / "results.csv").exists() and (run_dir / "results.parquet").exists()


def test_publish_nothing_is_an_error(tmp_path):
    (tmp_path / "runs").mkdir()
    with pytest.raises(PublishError, match="no finished arms"):
        publish_sweep(tmp_path / "runs", tmp_path / "report")


def test_publish_cli_links_notebooks(tmp_path, crazy_names):
    import subprocess
    import sys

    first = executed_notebook(tmp_path / "ingest.ipynb", crazy_names)
    second = executed_notebook(tmp_path / "train.ipynb", ["fox"])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "publish",
            str(first),
            str(second),
            "--out",
            str(tmp_path / "report"),
            "--title",
            "Main job",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    index = (tmp_path / "report" / "index.html").read_text()
    assert '<a href="ingest.html">ingest</a>' in index and '<a href="train.html">train</a>' in index
    page = (tmp_path / "report" / "ingest.html").read_text()
    assert "window.vegaEmbed" in page and "secret_code_line" not in page
    missing = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "publish", str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "r2")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and "no such notebook" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_importing_report_pulls_in_no_replay_reader_or_torch():
    """Every notebook and sweep worker imports workbench.report; it stays cheap."""
    import subprocess
    import sys

    code = (
        "import sys, workbench.report; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'peppi_py', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_page_opens_with_its_verdict(tmp_path):
    """A cell tagged `verdict` (computed last) is drawn right under the page's title."""
    import nbformat

    from workbench.report.publish import render_notebook

    cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell(
            "x", outputs=[nbformat.v4.new_output("display_data", data={"text/plain": "a chart"})]
        ),
        nbformat.v4.new_code_cell(
            "v",
            metadata={"tags": ["verdict"]},
            outputs=[
                nbformat.v4.new_output("display_data", data={"text/markdown": "**Verdict.** worse than repeat-last"})
            ],
        ),
    ]
    path = tmp_path / "page.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    page = render_notebook(path)
    assert page.index("Title") < page.index("worse than repeat-last") < page.index("a chart")
