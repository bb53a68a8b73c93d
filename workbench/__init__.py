"""ExPhil Workbench: Slippi replays to trained, evaluated, deployable Melee bots.

Stages, in pipeline order: ``replay`` (files -> frame store), ``embed`` (frames ->
tensors), ``data`` (windows, splits, loaders), ``models`` (backbones, heads, policy),
``train``, ``eval``, ``deploy``, ``selfplay``, ``viz``. A stage imports only from the
stages before it.
"""

import os as _os

# On shared CPU machines OpenMP's default busy-waiting collapses throughput as soon as
# another process takes a core (a GRU training step went from 0.6 s to 18 s here).
# Passive waiting costs little when the machine is idle. Set before torch loads OpenMP;
# an explicit OMP_WAIT_POLICY in the environment wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
