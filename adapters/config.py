"""The optional TOML configuration file: the ETRACK_* settings written once instead of exported.

``ETRACK_CONFIG=/path/etrack.toml``, else ``./etrack.toml`` when it exists. Keys are the settings'
names, with or without the ``ETRACK_`` prefix, in any case (``k_min = 7``, ``ETRACK_K_MIN = 7``,
``database_url = "sqlite:///data/etrack.sqlite"``, ``signal_themes = ["theme_a", "theme_b"]``).
An environment variable always wins over the file. Values are parsed by the same checks as the
environment's (``domain.checks.read_settings``): the file only supplies them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import MutableMapping
from pathlib import Path

from engagement_tracker.domain.checks import SETTING_NAMES
from engagement_tracker.domain.errors import InvalidInput

CONFIG_ENV = "ETRACK_CONFIG"
DEFAULT_CONFIG = "etrack.toml"


def config_path(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """The configuration file in force, or None (ETRACK_CONFIG must name a file that exists)."""
    environ = os.environ if environ is None else environ
    named = environ.get(CONFIG_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise InvalidInput(CONFIG_ENV, f"{named!r}: no such file (a TOML file of ETRACK_* settings)")
        return path
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def read_config(path: Path) -> dict[str, str]:
    """The file's settings as environment values (``ETRACK_K_MIN``: ``"7"``); InvalidInput on any mistake."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(CONFIG_ENV, f"{path}: not a readable TOML file ({exc})") from None
    values: dict[str, str] = {}
    for key, value in data.items():
        name = key.upper() if key.upper().startswith("ETRACK_") else f"ETRACK_{key.upper()}"
        if name not in SETTING_NAMES or name == "ETRACK_CONFIG":
            known = ", ".join(n.removeprefix("ETRACK_").lower() for n in SETTING_NAMES)
            raise InvalidInput(CONFIG_ENV, f"{path}: unknown setting {key!r}; known: {known}")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            values[name] = ",".join(value)
        elif isinstance(value, bool):
            values[name] = "1" if value else "0"
        elif isinstance(value, str | int | float):
            values[name] = str(value)
        else:
            raise InvalidInput(CONFIG_ENV, f"{path}: {key} must be text, a number or a list of text")
    return values


def apply_config(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Put the file's settings into ``environ`` (the process environment) where it has none; the path read."""
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    if path is None:
        return None
    for name, value in read_config(path).items():
        environ.setdefault(name, value)
    return path
