"""Reading config files a user names: JSON or YAML, with one-line errors; where default
paths live (the project folder, not whatever the current directory happens to be)."""

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


def project_root() -> Path:
    """The checkout this workbench runs from (it holds ``pyproject.toml`` and ``data/``);
    the current directory when the package is installed elsewhere."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").exists() else Path.cwd()


def default_path(path: str | Path) -> str:
    """A default relative path (``data/replays``, ``.cache/store``) under the project, so a
    command gives the same result from any folder. Paths a user types stay relative to
    the current directory."""
    return str(path) if Path(path).is_absolute() else str(project_root() / path)
