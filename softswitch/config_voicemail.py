"""Voicemail boxes: the `[voicemail]` section, validated into `VoicemailConfig`.

Parsed here rather than in config.py (which is near its size limit), with `config_table.Table`
like every section, so a mistake is a `ConfigError` located by file and key. Every extension and
every queue has a box of its number; this section only says how boxes behave.

    [voicemail]
    event_codes = { "1" = "inquiry", "2" = "suggestion", "3" = "complaint" }
    max_message_s = 120
    greetings = { "600" = "demo_closed" }   # a prompt name per box; else the default greeting
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from softswitch.config_table import Table, is_number

SECTION: Final = "voicemail"
SECTION_KEYS: Final = ("event_codes", "max_message_s", "greetings", "key_timeout_s")
DEFAULT_EVENT_CODES: Final = {"1": "inquiry", "2": "suggestion", "3": "complaint"}
RESERVED_KEYS: Final = frozenset("#*")  # '#' ends a recording
_NAME_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
_PROMPT_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class VoicemailConfig:
    """How every box behaves: the event codes a caller picks by key, the longest message, the
    greeting prompt of boxes that have their own."""

    event_codes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_EVENT_CODES))
    max_message_s: float = 120.0
    key_timeout_s: float = 6.0  # after the event-code menu; then the message has no code
    greetings: Mapping[str, str] = field(default_factory=dict)  # box -> prompt name

    def summary(self) -> str:
        codes = ", ".join(f"{key} {name}" for key, name in sorted(self.event_codes.items()))
        return f"voicemail: event codes {codes or 'none'}; messages up to {self.max_message_s:g} s"


def parse_voicemail(root: Table) -> VoicemailConfig:
    """The voicemail settings of the whole file (`root`), see the module docstring."""
    t = root.table(SECTION, SECTION_KEYS)
    codes: dict[str, Any] = t.get(
        "event_codes", DEFAULT_EVENT_CODES, lambda v: isinstance(v, dict), "a table"
    )
    for key, name in codes.items():
        if len(key) != 1 or key not in "0123456789" or key in RESERVED_KEYS:
            raise t.error(f"event_codes.{key}", "a key must be one digit 0-9")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise t.error(f"event_codes.{key}", "expected a lower-case name (a-z, 0-9, _)")
    greetings: dict[str, Any] = t.get("greetings", {}, lambda v: isinstance(v, dict), "a table")
    for box, prompt in greetings.items():
        if not isinstance(prompt, str) or not _PROMPT_RE.fullmatch(prompt):
            raise t.error(f"greetings.{box}", "expected a prompt name (letters, digits, _ -)")
    max_s = t.get("max_message_s", 120, lambda v: is_number(v) and 1 <= v <= 3600, "seconds 1-3600")
    return VoicemailConfig(
        event_codes=dict(codes),
        max_message_s=float(max_s),
        key_timeout_s=t.seconds("key_timeout_s", 6.0),
        greetings=dict(greetings),
    )


def load_voicemail(path: Path) -> VoicemailConfig:
    """The [voicemail] section of a file config.py has accepted (its TOML is known good)."""
    data = tomllib.loads(path.read_text())
    return parse_voicemail(Table(data, "", str(path), tuple(data)))
