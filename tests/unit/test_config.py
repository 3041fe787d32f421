"""The optional TOML configuration file (issue #14): it only supplies ETRACK_* values, the environment
wins, and the same checks parse them; every setting the code reads is a known name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engagement_tracker.adapters.config import apply_config, read_config
from engagement_tracker.domain.checks import SETTING_NAMES, read_settings
from engagement_tracker.domain.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_the_code_reads_is_known() -> None:
    read = set()
    for folder in ("domain", "projections", "adapters"):
        for path in (ROOT / folder).rglob("*.py"):
            read |= set(re.findall(r"\"(ETRACK_[A-Z_]+)\"", path.read_text(encoding="utf-8")))
    assert read - {"ETRACK_CONFIG"} <= set(SETTING_NAMES), read - set(SETTING_NAMES)


def test_the_file_supplies_values_and_the_environment_wins(tmp_path: Path) -> None:
    toml = tmp_path / "etrack.toml"
    toml.write_text('k_min = 7\nETRACK_TEAMS_WARN_ABOVE = 2\nsignal_themes = ["theme_a", "theme_b"]\n'
                    'database_url = "sqlite:///data.sqlite"\n', encoding="utf-8")
    environ = {"ETRACK_CONFIG": str(toml), "ETRACK_TEAMS_WARN_ABOVE": "3"}
    assert apply_config(environ) == toml
    assert environ["ETRACK_K_MIN"] == "7" and environ["ETRACK_TEAMS_WARN_ABOVE"] == "3"
    settings = read_settings(environ.get)
    assert settings.k_min == 7 and settings.signal_themes == ("theme_a", "theme_b")
    assert environ["ETRACK_DATABASE_URL"] == "sqlite:///data.sqlite"


@pytest.mark.parametrize("text,says", [
    ("k_mni = 7\n", "unknown setting 'k_mni'"),
    ("k_min = \n", "not a readable TOML file"),
    ("[k_min]\nx = 1\n", "must be text, a number or a list of text"),
])
def test_a_bad_file_is_refused_naming_what_it_accepts(tmp_path: Path, text: str, says: str) -> None:
    toml = tmp_path / "etrack.toml"
    toml.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput, match=re.escape(says)) as caught:
        read_config(toml)
    assert caught.value.field == "ETRACK_CONFIG"


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file"):
        apply_config({"ETRACK_CONFIG": str(tmp_path / "missing.toml")})
