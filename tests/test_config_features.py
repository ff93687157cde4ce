"""`[features]` in-call codes (softswitch/config_features.py): Asterisk's defaults, overrides,
and located mistakes."""

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


def test_defaults_are_asterisks() -> None:
    in_call = load_config(EXAMPLE).features.in_call
    assert in_call.codes == {
        "#1": "blind_transfer",
        "*2": "attended_transfer",
        "*0": "disconnect",
        "*3": "three_way",
    }
    assert (in_call.feature_digit_timeout_s, in_call.transfer_digit_timeout_s) == (1.0, 3.0)


def test_codes_can_be_changed_or_turned_off() -> None:
    changes = _with_features(blind_transfer="##", disconnect="", three_way="")
    config = parse_config(changes, "c.toml")
    assert config.features.in_call.codes == {"##": "blind_transfer", "*2": "attended_transfer"}


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"blind_transfer": "1"}, "must start with * or #"),
        ({"disconnect": "*0x"}, "expected 1-4 of 0-9"),
        ({"disconnect": "*"}, "overlaps features.attended_transfer"),
        ({"transfer_digit_timeout_s": "3"}, "transfer_digit_timeout_s"),
    ],
)
def test_mistakes_are_located(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_features(**values), "c.toml")
    assert "features." in str(caught.value) and problem in str(caught.value)
