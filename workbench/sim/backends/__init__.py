"""The environment's other backends: real Melee through libmelee (``dolphin``) and
melee-sim-light (``melee-sim``), behind :mod:`workbench.sim`'s interface."""
