"""Altair chart builders over library data: corpus summaries from manifest rows, one
game's timeline, stick-input heatmaps per character, frames drawn on the stage, training
curves, eval tables beside the repeat-last baseline, and stick confusions.

Every function takes library objects (manifest rows, :class:`GameTable`) and returns an
altair chart (or a widget), so notebooks only call them.
"""

from workbench.viz import attention
from workbench.viz.confusion import (
    compare_reports,
    confusion_frame,
    confusion_heatmaps,
    neutral_edge_table,
    per_character_chart,
    top_confusions,
)
from workbench.viz.corpus import (
    character_chart,
    corpus_stats,
    corpus_summary,
    corpus_verdict,
    duration_chart,
    game_label,
    quality_flag_chart,
    stage_chart,
    status_chart,
    version_chart,
)
from workbench.viz.frame import (
    frame_chart,
    frame_scrubber,
    items_frame,
    players_frame,
    scrubber_chart,
    stage_layers,
)
from workbench.viz.game import frame_window, game_timeline, player_labels, timeline_frame
from workbench.viz.inputs import neutral_share, stick_heatmap, stick_histograms
from workbench.viz.render import notebook_setup, report_renderer
from workbench.viz.stages import STAGE_GEOMETRY, Platform, StageGeometry, stage_geometry
from workbench.viz.training import (
    LiveLoss,
    bits_curve_chart,
    delay_curve_chart,
    eval_chart,
    eval_table,
    loss_chart,
    loss_curves,
    metrics_table,
    run_metrics,
    situation_table,
    state_use_table,
    verdict,
    verdict_note,
)

__all__ = [
    "character_chart",
    "corpus_stats",
    "corpus_summary",
    "duration_chart",
    "game_label",
    "quality_flag_chart",
    "stage_chart",
    "status_chart",
    "version_chart",
    "frame_chart",
    "frame_scrubber",
    "items_frame",
    "players_frame",
    "scrubber_chart",
    "stage_layers",
    "frame_window",
    "game_timeline",
    "player_labels",
    "timeline_frame",
    "neutral_share",
    "stick_heatmap",
    "stick_histograms",
    "STAGE_GEOMETRY",
    "Platform",
    "StageGeometry",
    "stage_geometry",
    "notebook_setup",
    "report_renderer",
    "compare_reports",
    "confusion_frame",
    "confusion_heatmaps",
    "neutral_edge_table",
    "per_character_chart",
    "top_confusions",
    "LiveLoss",
    "delay_curve_chart",
    "eval_chart",
    "eval_table",
    "loss_chart",
    "loss_curves",
    "run_metrics",
    "attention",
    "bits_curve_chart",
    "situation_table",
    "state_use_table",
    "verdict",
    "verdict_note",
    "corpus_verdict",
    "metrics_table",
]
