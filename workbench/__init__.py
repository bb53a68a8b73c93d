"""ExPhil Workbench: Slippi replays to trained, evaluated, deployable Melee bots.

Stages, in pipeline order: ``replay`` (files -> frame store), ``embed`` (frames ->
tensors), ``data`` (windows, splits, loaders), ``models`` (backbones, heads, policy),
``train``, ``eval``, ``deploy``, ``selfplay``, ``viz``. A stage imports only from the
stages before it.
"""
__version__ = "0.1.0"
