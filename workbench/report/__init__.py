"""Notebook reporting: the metrics convention, parameter sweeps over notebooks
(papermill, local process pool or Ray), result tables, and standalone HTML reports.

Heavy packages (papermill, nbconvert, ray) are imported inside the functions that need
them, so importing this package stays cheap.
"""

from workbench.report.metrics import (
    METRICS_ENV,
    load_metrics,
    metrics_path_for,
    record_metrics,
)
from workbench.report.publish import (
    PublishError,
    ReportEntry,
    build_index,
    chart_div,
    check_offline,
    escape,
    page,
    publish_notebook,
    publish_sweep,
    render_notebook,
    write_page,
)
from workbench.report.sweep import (
    Arm,
    ArmResult,
    ArmTask,
    Grid,
    SweepError,
    arm_name,
    execute_arm,
    expand_grid,
    format_results,
    load_grid,
    parse_grid,
    ray_task_options,
    run_local,
    run_ray,
    run_sweep,
    submit_ray,
)

__all__ = [
    "METRICS_ENV",
    "load_metrics",
    "metrics_path_for",
    "record_metrics",
    "PublishError",
    "ReportEntry",
    "build_index",
    "chart_div",
    "check_offline",
    "escape",
    "page",
    "publish_notebook",
    "publish_sweep",
    "render_notebook",
    "write_page",
    "Arm",
    "ArmResult",
    "ArmTask",
    "Grid",
    "SweepError",
    "arm_name",
    "execute_arm",
    "expand_grid",
    "format_results",
    "load_grid",
    "parse_grid",
    "ray_task_options",
    "run_local",
    "run_ray",
    "run_sweep",
    "submit_ray",
]
