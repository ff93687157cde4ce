"""Which calls are recorded: the `[recording]` section and the `record` key of each
`[[extensions]]` and `[[trunks]]` entry, validated into `RecordingConfig`.

Parsed here rather than in config.py (which is near its size limit), with `config_table.Table`
like every section, so a mistake is a `ConfigError` located by file and key. config.py has
already checked the shape of the extension and trunk tables when this runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from softswitch.config_table import Table, is_int

SECTION: Final = "recording"
SECTION_KEYS: Final = ("sample_rate", "conferences")
RECORD_KEY: Final = "record"  # in [[extensions]] and [[trunks]]
SAMPLE_RATES: Final = (8000, 16000)


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


def parse_recording(root: Table) -> RecordingConfig:
    """The recording settings of the whole file (`root`), see the module docstring."""
    t = root.table(SECTION, SECTION_KEYS)
    sample_rate: int = t.get(
        "sample_rate", 8000, lambda v: is_int(v) and v in SAMPLE_RATES, "8000 or 16000"
    )
    return RecordingConfig(
        sample_rate=sample_rate,
        conferences=_flag(t, "conferences"),
        extensions=_recorded(root, "extensions", "number"),
        trunks=_recorded(root, "trunks", "name"),
    )


def _recorded(root: Table, section: str, name_key: str) -> frozenset[str]:
    found: set[str] = set()
    for index, entry in enumerate(root.data.get(section, [])):
        t = Table(entry, f"{section}[{index}]", root.source, tuple(entry))  # keys checked before
        if _flag(t, RECORD_KEY):
            found.add(str(entry[name_key]))
    return frozenset(found)


def _flag(t: Table, key: str) -> bool:
    return bool(t.get(key, False, lambda v: isinstance(v, bool), "true or false"))
