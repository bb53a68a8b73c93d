"""Reading config files a user names: JSON or YAML, with one-line errors."""
from __future__ import annotations

from pathlib import Path

from workbench.errors import WorkbenchError


def load_config_file(path: str | Path) -> dict:
    """A JSON or YAML config file as a dict; a clear error when it is missing or bad."""
    import yaml

    file = Path(path)
    if not file.exists():
        raise WorkbenchError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as err:
        raise WorkbenchError(f"{path}: not valid YAML/JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return data
