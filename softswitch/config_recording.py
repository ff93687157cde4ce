"""Which calls are recorded: the `[recording]` section and the `record` key of each
`[[extensions]]` and `[[trunks]]` entry, validated into `RecordingConfig`.

Parsed here rather than in config.py (which is near its size limit); every problem is a
`SettingsError` naming the key path, and config.py adds the file name like any other mistake.
config.py has already checked the shape of the extension and trunk tables when this runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

SECTION: Final = "recording"
SECTION_KEYS: Final = ("sample_rate", "conferences")
RECORD_KEY: Final = "record"  # in [[extensions]] and [[trunks]]
SAMPLE_RATES: Final = (8000, 16000)


class SettingsError(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class RecordingConfig:
    """What to record: calls touching these extensions or trunks, and conference rooms."""

    sample_rate: int = 8000
    conferences: bool = False  # record each conference room's mix
    extensions: frozenset[str] = frozenset()  # numbers with record = true
    trunks: frozenset[str] = frozenset()  # names with record = true

    def records_call(self, *, extensions: Iterable[str] = (), trunk: str | None = None) -> bool:
        """A two-party call is recorded when an extension in it or its trunk says so."""
        return (trunk is not None and trunk in self.trunks) or any(
            number in self.extensions for number in extensions
        )

    def summary(self) -> str:
        """One line for `softswitch check-config`."""
        parties = sorted(self.extensions) + [f"trunk {name}" for name in sorted(self.trunks)]
        return (
            f"recording ({self.sample_rate} Hz): calls of {', '.join(parties) or 'nobody'};"
            f" conferences {'on' if self.conferences else 'off'}"
        )


def parse_recording(data: Mapping[str, Any]) -> RecordingConfig:
    """The recording settings of a decoded config file (see the module docstring)."""
    section = data.get(SECTION, {})
    if not isinstance(section, dict):
        raise SettingsError(SECTION, f"expected a table, got {section!r}")
    for key in section:
        if key not in SECTION_KEYS:
            raise SettingsError(f"{SECTION}.{key}", "unknown key")
    sample_rate = section.get("sample_rate", 8000)
    if isinstance(sample_rate, bool) or sample_rate not in SAMPLE_RATES:
        raise SettingsError(
            f"{SECTION}.sample_rate", f"expected 8000 or 16000, got {sample_rate!r}"
        )
    return RecordingConfig(
        sample_rate=sample_rate,
        conferences=_flag(section, "conferences", SECTION),
        extensions=_recorded(data, "extensions", "number"),
        trunks=_recorded(data, "trunks", "name"),
    )


def _recorded(data: Mapping[str, Any], section: str, name_key: str) -> frozenset[str]:
    entries = data.get(section, [])
    return frozenset(
        str(entry[name_key])
        for index, entry in enumerate(entries)
        if _flag(entry, RECORD_KEY, f"{section}[{index}]")
    )


def _flag(table: Mapping[str, Any], key: str, path: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise SettingsError(f"{path}.{key}", f"expected true or false, got {value!r}")
    return value
