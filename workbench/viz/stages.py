"""Geometry of the six tournament stages, in Melee world units (stage centre at x = 0,
main platform surface at y = 0).

Numbers are libmelee's (``melee.stages``: ``EDGE_GROUND_POSITION``, the side and top
platform positions, ``BLASTZONES``), copied here so drawing a frame does not import
libmelee; ``tests/test_viz.py`` checks the copy against libmelee. libmelee leaves
Fountain of Dreams' side platforms blank because they move up and down; their edges
(x = +-21 to +-49.5) were measured from replays, and they are drawn at a typical height.
Pokemon Stadium is drawn in its neutral form (its transformations are not recorded).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Platform:
    """A pass-through platform: its surface height and x extent."""

    height: float
    left: float
    right: float
    moving: bool = False  # drawn dashed: the real platform moves (Fountain of Dreams)


@dataclass(frozen=True)
class StageGeometry:
    """Main platform edges, platforms and blast zones of one stage."""

    name: str
    edge: float  # x of the main platform's ground edge (+- edge)
    ledge: float  # x of a character hanging on the ledge
    blast_left: float
    blast_right: float
    blast_top: float
    blast_bottom: float
    platforms: tuple[Platform, ...] = field(default_factory=tuple)
    depth: float = 20.0  # how far the stage body is drawn below y = 0

    def outline(self) -> list[tuple[float, float]]:
        """Closed polygon of the main platform's body: flat top, narrowing underside.

        The underside is schematic (only the top surface and edges are exact)."""
        e = self.edge
        return [(-e, 0.0), (e, 0.0), (0.8 * e, -self.depth), (-0.8 * e, -self.depth), (-e, 0.0)]


# Keyed by the external stage id of the game-start block (workbench.types.STAGE_NAMES).
STAGE_GEOMETRY: dict[int, StageGeometry] = {
    31: StageGeometry(
        "Battlefield",
        edge=68.4000015259,
        ledge=71.3078536987,
        blast_left=-224,
        blast_right=224,
        blast_top=200,
        blast_bottom=-108.8,
        platforms=(
            Platform(27.20009994506836, -57.60000228881836, -20.0),
            Platform(27.20009994506836, 20.0, 57.60000228881836),
            Platform(54.40010070800781, -18.80000114440918, 18.80000114440918),
        ),
    ),
    32: StageGeometry(
        "Final Destination",
        edge=85.5656967163,
        ledge=88.4735488892,
        blast_left=-246,
        blast_right=246,
        blast_top=188,
        blast_bottom=-140,
        depth=30.0,
    ),
    28: StageGeometry(
        "Dream Land",
        edge=77.2713012695,
        ledge=80.1791534424,
        blast_left=-255,
        blast_right=255,
        blast_top=250,
        blast_bottom=-123,
        platforms=(
            Platform(30.14219856262207, -61.39289855957031, -31.725400924682617),
            Platform(30.242599487304688, 31.70359992980957, 63.074501037597656),
            Platform(51.42539978027344, -19.01810073852539, 19.017099380493164),
        ),
    ),
    2: StageGeometry(
        "Fountain of Dreams",
        edge=63.3475494385,
        ledge=66.2554016113,
        blast_left=-198.75,
        blast_right=198.75,
        blast_top=202.5,
        blast_bottom=-146.25,
        platforms=(
            Platform(20.0, -49.5, -21.0, moving=True),
            Platform(20.0, 21.0, 49.5, moving=True),
            Platform(42.750099182128906, -14.25, 14.25),
        ),
    ),
    3: StageGeometry(
        "Pokemon Stadium",
        edge=87.75,
        ledge=90.657852,
        blast_left=-230,
        blast_right=230,
        blast_top=180,
        blast_bottom=-111,
        platforms=(Platform(25.000099182128906, -55.0, -25.0), Platform(25.000099182128906, 25.0, 55.0)),
    ),
    8: StageGeometry(
        "Yoshi's Story",
        edge=56.0,
        ledge=58.907848,
        blast_left=-175.7,
        blast_right=173.6,
        blast_top=168,
        blast_bottom=-91,
        platforms=(
            Platform(23.450098037719727, -59.5, -28.0),
            Platform(23.450098037719727, 28.0, 59.5),
            Platform(42.000099182128906, -15.75, 15.75),
        ),
    ),
}

#: Fallback for other stages: no outline, a generous view box.
GENERIC_STAGE = StageGeometry(
    "Unknown stage", edge=0.0, ledge=0.0, blast_left=-250, blast_right=250, blast_top=200, blast_bottom=-140
)


def stage_geometry(stage: int) -> StageGeometry | None:
    """Geometry of an external stage id, or None for stages outside the tournament six."""
    return STAGE_GEOMETRY.get(int(stage))
