"""Does a Decision Transformer act on the return it is asked for?

On held-out games, the policy reads the real game states and (teacher-forced) the real
earlier controller components, but the return-to-go column is replaced by a fixed
target. For each target it reports what the policy would do, as expected rates under its
predicted distributions, beside the same rates in the human play of those frames:

* ``a_press`` / ``b_press``: probability of pressing A / B (attacks and specials);
* ``attack``: probability of pressing A or B (the two heads treated as independent);
* ``approach``: probability of a main-stick x of at least 0.5 *towards* the opponent;
* ``retreat``: the same away from the opponent;
* ``nll``: held-out joint NLL per frame under that target (the true return's NLL is the
  ``true_return`` row).

``workbench eval --checkpoint RUN --target-return -1,0,1`` prints the table and writes it
to ``eval.json`` under ``target_return``.
"""

from __future__ import annotations

import numpy as np

from workbench.data import EmbeddingCache, Segment
from workbench.data.align import segment_steps
from workbench.embed.controller import BUTTON_NAMES
from workbench.embed.state import RETURN_FEATURE
from workbench.errors import WorkbenchError
from workbench.eval.evaluate import predict_segment
from workbench.models.policy import Policy

APPROACH_X = 0.5  # main-stick |x| that counts as moving (half of full tilt)


class _ColumnOverride:
    """Rows of a float array with one column set to a constant (what predict_segment
    reads instead of the cache's floats)."""

    def __init__(self, floats, column: int, value: float) -> None:
        self.floats, self.column, self.value = floats, column, value

    def __getitem__(self, rows):
        out = np.array(self.floats[rows], dtype=np.float32)
        out[..., self.column] = self.value
        return out


class _CacheView:
    """An EmbeddingCache whose return-to-go column reads ``value`` (None: unchanged)."""

    def __init__(self, cache: EmbeddingCache, column: int, value: float | None) -> None:
        self.arrays = dict(cache.arrays)
        if value is not None:
            self.arrays["floats"] = _ColumnOverride(cache.arrays["floats"], column, value)


def stick_x_values(policy: Policy) -> tuple[str, np.ndarray]:
    """The component that holds the main stick's x and each class's x value."""
    spec = policy.spec
    if spec.kmeans:
        return "main", spec.main_centers[:, 0]
    return "main_x", spec.axis_values


def _rates(p_a: np.ndarray, p_b: np.ndarray, p_toward: np.ndarray, p_away: np.ndarray) -> dict:
    return {
        "a_press": float(p_a.mean()),
        "b_press": float(p_b.mean()),
        "attack": float((p_a + p_b - p_a * p_b).mean()),
        "approach": float(p_toward.mean()),
        "retreat": float(p_away.mean()),
    }


def behaviour_vs_target(policy: Policy, cache: EmbeddingCache, segments: list[Segment], targets: list[float]) -> dict:
    """Rows of rates per target (reward units, as ``--target-return``), plus the policy
    under each frame's true return and the human rates. Segments must be unaugmented."""
    returns = policy.embed_config.returns
    column = policy.layout.slices.get(RETURN_FEATURE)
    if column is None:
        raise WorkbenchError(
            "this checkpoint has no return-to-go input (train with --backbone dt, or --set embed.returns.enabled=true)"
        )
    column = column.start
    dx_slice = policy.layout.slices.get("dx")
    if dx_slice is None:
        raise WorkbenchError("approach rates need the spatial features (embed.spatial=true)")
    stick_component, x_values = stick_x_values(policy)
    a_index, b_index = BUTTON_NAMES.index("A"), BUTTON_NAMES.index("B")
    stick_head = policy.spec.index[stick_component]
    rows_out, human = [], None
    for label, target in [("true_return", None), *[(f"{t:g}", t) for t in targets]]:
        view = _CacheView(cache, column, None if target is None else target * returns.scale)
        parts = {"a": [], "b": [], "toward": [], "away": [], "nll": [], "human": []}
        for seg in segments:
            result = predict_segment(policy, view, seg, delay=0)
            if result is None:
                continue
            steps = segment_steps(seg.start, seg.length, 0)
            direction = np.sign(np.asarray(cache.arrays["floats"][steps.state])[:, dx_slice.start])  # (N,)
            toward = (np.sign(x_values)[None, :] == direction[:, None]) & (np.abs(x_values) >= APPROACH_X)
            away = (np.sign(x_values)[None, :] == -direction[:, None]) & (np.abs(x_values) >= APPROACH_X)
            stick = result[f"prob_{stick_component}"]  # (N, classes)
            buttons = result["prob_buttons"]  # (N, 8) in BUTTON_NAMES order
            parts["a"].append(buttons[:, a_index])
            parts["b"].append(buttons[:, b_index])
            parts["toward"].append((stick * toward).sum(-1))
            parts["away"].append((stick * away).sum(-1))
            parts["nll"].append(result["nll"].sum(-1))
            if human is None:
                true = result["targets"]
                true_x = x_values[true[:, stick_head]]
                parts["human"].append(
                    np.stack(
                        [
                            true[:, policy.spec.index["A"]],
                            true[:, policy.spec.index["B"]],
                            (np.sign(true_x) == direction) & (np.abs(true_x) >= APPROACH_X),
                            (np.sign(true_x) == -direction) & (np.abs(true_x) >= APPROACH_X),
                        ],
                        1,
                    ).astype(np.float64)
                )
        if not parts["a"]:
            raise WorkbenchError("no held-out frames to measure")
        cat = {key: np.concatenate(values) for key, values in parts.items() if values}
        if human is None:
            h = cat["human"]
            human = {"target": "human", "frames": len(h), "nll": None, **_rates(*h.T)}
        rows_out.append(
            {
                "target": label,
                "frames": int(len(cat["a"])),
                "nll": float(cat["nll"].mean()),
                **_rates(cat["a"], cat["b"], cat["toward"], cat["away"]),
            }
        )
    return {
        "returns": {"stock": returns.stock, "damage": returns.damage, "horizon": returns.horizon},
        "games": sorted({s.md5 for s in segments}),
        "rows": [human, *rows_out],
    }


def format_behaviour(report: dict) -> str:
    lines = [
        f"target return ({len(report['games'])} held-out games; horizon {report['returns']['horizon']} frames)",
        f"{'target':>12s} {'frames':>8s} {'nll':>7s} {'A':>6s} {'B':>6s} {'attack':>7s} "
        f"{'approach':>8s} {'retreat':>7s}",
    ]
    for row in report["rows"]:
        nll = "-" if row["nll"] is None else f"{row['nll']:.3f}"
        lines.append(
            f"{row['target']:>12s} {row['frames']:8d} {nll:>7s} {row['a_press']:6.3f} "
            f"{row['b_press']:6.3f} {row['attack']:7.3f} {row['approach']:8.3f} {row['retreat']:7.3f}"
        )
    return "\n".join(lines)


def target_return_report(
    checkpoint: str, targets: list[float], replays: list[str] | None = None, split: str = "auto"
) -> dict:
    """:func:`behaviour_vs_target` on a checkpoint's held-out games (as ``workbench eval``
    chooses them)."""
    from workbench.eval.evaluate import scored_segments
    from workbench.train.checkpoint import load_policy
    from workbench.train.data import stored_games

    policy, cfg, folder = load_policy(checkpoint)
    frame_store, wanted = stored_games(replays or cfg.replays, cfg.store)
    cache, segments, split_used = scored_segments(cfg, folder, frame_store, wanted, split)
    if not segments:
        raise WorkbenchError("no held-out game to measure (pass --split all to use training games)")
    report = behaviour_vs_target(policy, cache, segments, targets)
    report.update(checkpoint=str(folder), split=split_used)
    return report
