"""`[features]` supervisor codes (softswitch/config_supervision.py) and the supervisor's phone
in `[[users]]`: defaults, overrides, located mistakes."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from softswitch.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def _with_features(**values: Any) -> dict[str, Any]:
    data = tomllib.loads(EXAMPLE.read_text())
    data["features"].update(values)
    return data


def test_defaults_are_chanspys() -> None:
    codes = load_config(EXAMPLE).features.supervisor
    assert codes.prefixes == {"*33": "listen", "*34": "whisper", "*35": "barge"}
    assert codes.digits == {"4": "listen", "5": "whisper", "6": "barge"}


def test_codes_can_be_changed_or_turned_off() -> None:
    config = parse_config(
        _with_features(supervise_listen="#71", supervise_barge="", supervise_whisper_digit="9"),
        "c.toml",
    )
    codes = config.features.supervisor
    assert codes.prefixes == {"#71": "listen", "*34": "whisper"}
    assert codes.digits == {"4": "listen", "9": "whisper", "6": "barge"}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"supervise_listen": "33"}, "expected * or #"),
        ({"supervise_whisper": "*3"}, "overlaps features.supervise_listen"),
        ({"supervise_barge": "*3x"}, "expected * or #"),
        ({"supervise_barge_digit": "44"}, "expected one of 0-9"),
        ({"supervise_barge_digit": "4"}, "is also another"),
    ],
)
def test_mistakes_are_located(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_features(**values), "c.toml")
    assert "features." in str(caught.value) and problem in str(caught.value)


def test_the_demo_supervisor_has_a_phone() -> None:
    users = {u.username: u for u in load_config(EXAMPLE).api.users}
    assert users["supervisor"].extension == "1006"
    assert users["admin"].extension is None


def test_a_supervisors_extension_must_exist() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    supervisor = next(u for u in data["users"] if u["username"] == "supervisor")
    supervisor["extension"] = "4242"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "c.toml")
    assert "no extension 4242" in str(caught.value)
