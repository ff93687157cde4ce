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
        ({"pickup": "8"}, "must start with * or #"),
        ({"directed_pickup": "*8*"}, "must not start with features.pickup"),
    ],
)
def test_mistakes_are_located(values: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_with_features(**values), "c.toml")
    assert "features." in str(caught.value) and problem in str(caught.value)


def test_pickup_codes_and_groups() -> None:
    config = load_config(EXAMPLE)
    assert (config.features.pickup.pickup, config.features.pickup.directed_pickup) == ("*8", "**")
    groups = {ext.number: ext.pickup_group for ext in config.extensions if ext.pickup_group}
    assert groups == {"1001": "sales", "1002": "sales", "1003": "sales"} | {
        "1004": "support",
        "1005": "support",
    }  # the supervisor's phone 1006 is in no group
