"""The [ivr] config section: every mistake as file:ivr.key: problem."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from softswitch.config import ConfigError, parse_config
from softswitch.ivr.settings import ivr_settings

EXTENSION = {"number": "1001", "password": "x"}


def _ivr(section: dict[str, Any], tmp_path: Path) -> Any:
    config = parse_config(
        {"ivr": section, "extensions": [EXTENSION]}, str(tmp_path / "s.toml"), base_dir=tmp_path
    )
    return ivr_settings(config)


def test_defaults_and_paths_relative_to_the_config(tmp_path: Path) -> None:
    ivr = _ivr({"flows_dir": "flows", "numbers": {"500": "demo"}}, tmp_path)
    assert ivr.flows_dir == tmp_path / "flows" and ivr.time_zone == "UTC"
    assert ivr.numbers == {"500": "demo"}
    assert ivr_settings(parse_config({}, "s.toml")) is None


def test_holidays_from_the_list_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "holidays.txt").write_text(
        "# company holidays\n2025-10-06 Mid-Autumn\n\n12-24   Christmas Eve\n"
    )
    ivr = _ivr({"holidays": ["01-01"], "holidays_file": "holidays.txt"}, tmp_path)
    assert date(2025, 10, 6) in ivr.holidays
    assert date(2030, 12, 24) in ivr.holidays and date(2030, 1, 1) in ivr.holidays


@pytest.mark.parametrize(
    ("section", "key", "problem"),
    [
        ({"colour": "red"}, "ivr.colour", "unknown key"),
        ({"time_zone": "Nowhere/City"}, "ivr.time_zone", "unknown time zone"),
        ({"holidays": ["13-45"]}, "ivr.holidays", "expected YYYY-MM-DD or MM-DD"),
        ({"holidays_file": "missing.txt"}, "ivr.holidays_file", "cannot read"),
        ({"numbers": {"5x0": "demo"}}, "ivr.numbers.5x0", "dial digits"),
        ({"numbers": {"500": "../etc"}}, "ivr.numbers.500", "a flow name"),
        ({"numbers": {"1001": "demo"}}, "ivr.numbers.1001", "is also extensions[0]"),
        ({"numbers": {"9196": "demo"}}, "ivr.numbers.9196", "is also features.echo_test"),
        ({"vip_callers": ["_1[2"]}, "ivr.vip_callers[0]", "unclosed"),
        ({"vip_priority": 10}, "ivr.vip_priority", "a priority 0-9"),
        ({"blocked_flow": ""}, "ivr.blocked_flow", "a flow name"),
    ],
)
def test_mistakes_name_the_file_and_key(
    tmp_path: Path, section: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _ivr(section, tmp_path)
    assert caught.value.source == str(tmp_path / "s.toml")
    assert caught.value.key == key
    assert problem in caught.value.problem


def test_holidays_file_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "h.txt").write_text("2025-01-01\nsoon\n")
    with pytest.raises(ConfigError, match="line 2: expected YYYY-MM-DD"):
        _ivr({"holidays_file": "h.txt"}, tmp_path)
