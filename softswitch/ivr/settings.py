"""The [ivr] section of the configuration: where flows are, the time zone and holidays their
branches read, which called number starts which flow, and callers treated apart (VIP, blocked).

Parsed here rather than in config.py (a leaf that imports nothing of ours, and long enough):
config.py keeps the table, `ivr_settings(config)` parses it and reports a mistake as config.py
does, `ConfigError(file, "ivr.key", problem)`. The CLI calls it right after loading the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from softswitch.config import Config, ConfigError
from softswitch.ivr.rules import Calendar, Holidays, NumberPattern, RuleError, load_zone

KEYS: Final = (
    "flows_dir",
    "time_zone",
    "holidays",
    "holidays_file",
    "numbers",
    "vip_callers",
    "vip_priority",
    "vip_flow",
    "blocked_callers",
    "blocked_flow",
)
MAX_HOLIDAYS_FILE_BYTES: Final = 64 * 1024
_DIAL_CHARS: Final = frozenset("0123456789*#+")


class SettingsError(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True)
class IvrSettings:
    flows_dir: Path | None = None  # None: the flows that ship with softswitch (the demo)
    time_zone: str = "UTC"
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"), compare=False)
    holidays: Holidays = field(default_factory=Holidays)
    numbers: Mapping[str, str] = field(default_factory=dict)  # called number -> flow name
    vip_callers: tuple[NumberPattern, ...] = ()
    vip_priority: int = 9
    vip_flow: str | None = None
    blocked_callers: tuple[NumberPattern, ...] = ()
    blocked_flow: str | None = None

    @property
    def calendar(self) -> Calendar:
        return Calendar(self.zone, self.holidays)

    @property
    def flow_names(self) -> dict[str, str]:
        """Every flow the settings name, by the key that names it."""
        names = {
            f"numbers.{number}": flow.partition("#")[0] for number, flow in self.numbers.items()
        }
        if self.vip_flow:
            names["vip_flow"] = self.vip_flow
        if self.blocked_flow:
            names["blocked_flow"] = self.blocked_flow
        return names


def _get(
    data: Mapping[str, Any], key: str, default: Any, ok: Callable[[Any], bool], what: str
) -> Any:
    if key not in data:
        return default
    value = data[key]
    if not ok(value):
        raise SettingsError(key, f"expected {what}, got {value!r}")
    return value


def _strings(data: Mapping[str, Any], key: str) -> list[str]:
    value: list[str] = _get(
        data,
        key,
        [],
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "a list of strings",
    )
    return value


def _patterns(data: Mapping[str, Any], key: str) -> tuple[NumberPattern, ...]:
    patterns = []
    for index, text in enumerate(_strings(data, key)):
        try:
            patterns.append(NumberPattern.parse(text))
        except RuleError as exc:
            raise SettingsError(f"{key}[{index}]", str(exc)) from None
    return tuple(patterns)


def _flow_name(data: Mapping[str, Any], key: str) -> str | None:
    value: str | None = _get(
        data, key, None, lambda v: isinstance(v, str) and _is_flow_name(v), "a flow name"
    )
    return value


def _is_flow_name(text: str) -> bool:
    return 0 < len(text) <= 64 and all(c.isalnum() or c in "_-" for c in text)


def _path(data: Mapping[str, Any], key: str, base_dir: Path) -> Path | None:
    text: str = _get(data, key, "", lambda v: isinstance(v, str), "a path")
    return Path(os.path.abspath(base_dir / text)) if text else None


def parse_ivr_settings(
    data: Mapping[str, Any], base_dir: Path, taken: Mapping[str, str] | None = None
) -> IvrSettings:
    """Validate the [ivr] table; relative paths are relative to `base_dir` (the config's folder);
    `taken` maps numbers already in use to what uses them."""
    for key in data:
        if key not in KEYS:
            raise SettingsError(key, "unknown key")
    time_zone: str = _get(data, "time_zone", "UTC", lambda v: isinstance(v, str), "a zone name")
    try:
        zone = load_zone(time_zone)
    except RuleError as exc:
        raise SettingsError("time_zone", str(exc)) from None
    holidays = _holidays(data, base_dir)
    numbers: dict[str, str] = {}
    for number, flow in _get(data, "numbers", {}, lambda v: isinstance(v, dict), "a table").items():
        if not number or not set(number) <= _DIAL_CHARS:
            raise SettingsError(f"numbers.{number}", "expected dial digits (0-9, *, #, +)")
        name, _, node = flow.partition("#") if isinstance(flow, str) else ("", "", "")
        if not _is_flow_name(name) or ("#" in flow and not _is_flow_name(node)):
            raise SettingsError(
                f"numbers.{number}", f"expected a flow name or 'flow#entry_point', got {flow!r}"
            )
        if taken and number in taken:
            raise SettingsError(f"numbers.{number}", f"{number} is also {taken[number]}")
        numbers[number] = flow
    return IvrSettings(
        flows_dir=_path(data, "flows_dir", base_dir),
        time_zone=time_zone,
        zone=zone,
        holidays=holidays,
        numbers=numbers,
        vip_callers=_patterns(data, "vip_callers"),
        vip_priority=_get(
            data,
            "vip_priority",
            9,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 9,
            "a priority 0-9",
        ),
        vip_flow=_flow_name(data, "vip_flow"),
        blocked_callers=_patterns(data, "blocked_callers"),
        blocked_flow=_flow_name(data, "blocked_flow"),
    )


def _holidays(data: Mapping[str, Any], base_dir: Path) -> Holidays:
    items = _strings(data, "holidays")
    try:
        listed = Holidays.parse(items)
    except RuleError as exc:
        raise SettingsError("holidays", str(exc)) from None
    path = _path(data, "holidays_file", base_dir)
    if path is None:
        return listed
    try:
        raw = path.read_bytes()[: MAX_HOLIDAYS_FILE_BYTES + 1]
        if len(raw) > MAX_HOLIDAYS_FILE_BYTES:
            raise SettingsError("holidays_file", f"{path}: over {MAX_HOLIDAYS_FILE_BYTES} bytes")
        text = raw.decode()
    except OSError as exc:
        raise SettingsError("holidays_file", f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SettingsError("holidays_file", f"{path}: not UTF-8") from None
    dates, yearly = set(listed.dates), set(listed.yearly)
    for number, line in enumerate(text.splitlines(), 1):
        # One holiday per line: a date, then optionally its name; '#' starts a comment.
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        try:
            parsed = Holidays.parse([content.split()[0]])
        except RuleError as exc:
            raise SettingsError("holidays_file", f"{path} line {number}: {exc}") from None
        dates |= parsed.dates
        yearly |= parsed.yearly
    return Holidays(frozenset(dates), frozenset(yearly))


def ivr_settings(config: Config) -> IvrSettings | None:
    """The [ivr] section of a loaded config, None without one; ConfigError on a mistake."""
    section = config.ivr
    if section is None:
        return None
    taken = {e.number: f"extensions[{i}]" for i, e in enumerate(config.extensions)}
    if config.features.echo_test:
        taken[config.features.echo_test] = "features.echo_test"
    try:
        return parse_ivr_settings(section.data, section.base_dir, taken)
    except SettingsError as exc:
        raise ConfigError(section.source, f"ivr.{exc.key}", exc.problem) from None
