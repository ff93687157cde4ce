"""Reading one TOML table with located errors: the helper every config section parses with.

A value of the wrong type, an unknown key or a missing required one becomes a `ConfigError`
saying ``<file>:<key.path>: <problem>``. Kept apart from `config.py` so that sections parsed in
other modules (`config_api.py`) read their tables the same way without an import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Final

# Dial strings: digits, * and #, optionally in E.164 form with a leading +.
_DIAL_RE: Final = re.compile(r"\+?[0-9*#]+")


class ConfigError(Exception):
    """A configuration mistake, located by file and key path (both may be empty)."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = ":".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {problem}" if where else problem)


MISSING: Final[Any] = object()


class Table:
    """One TOML table being read: knows its key path for errors and rejects unknown keys."""

    def __init__(self, data: dict[str, Any], path: str, source: str, keys: tuple[str, ...]):
        self.data = data
        self.path = path
        self.source = source
        for key in data:
            if key not in keys:
                raise self.error(key, "unknown key")

    def key(self, name: str | None) -> str:
        if name is None:
            return self.path
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str | None, problem: str) -> ConfigError:
        return ConfigError(self.source, self.key(name), problem)

    def get(self, name: str, default: Any, check: Callable[[Any], bool], expected: str) -> Any:
        if name not in self.data:
            if default is MISSING:
                raise self.error(name, "missing (required)")
            return default
        value = self.data[name]
        if not check(value):
            raise self.error(name, f"expected {expected}, got {value!r}")
        return value

    def string(self, name: str, default: Any = MISSING, *, empty: bool = True) -> Any:
        expected = "a string" if empty else "a non-empty string"
        return self.get(
            name, default, lambda v: isinstance(v, str) and (empty or v != ""), expected
        )

    def integer(self, name: str, default: Any, low: int, high: int | None = None) -> int:
        expected = f"an integer {low}-{high}" if high is not None else f"an integer >= {low}"
        value: int = self.get(
            name,
            default,
            lambda v: is_int(v) and low <= v and (high is None or v <= high),
            expected,
        )
        return value

    def seconds(self, name: str, default: float, *, zero_means_never: bool = False) -> float:
        if zero_means_never:
            value = self.get(
                name, default, lambda v: is_number(v) and v >= 0, "a number of seconds >= 0"
            )
        else:
            value = self.get(
                name, default, lambda v: is_number(v) and v > 0, "a number of seconds > 0"
            )
        return float(value)

    def choice(self, name: str, default: Any, choices: tuple[str, ...]) -> str:
        value: str = self.get(name, default, lambda v: v in choices, "one of " + ", ".join(choices))
        return value

    def dial(self, name: str, default: Any = MISSING, *, empty: bool = False) -> Any:
        return self.get(
            name,
            default,
            # With `empty`, a lone "+" is allowed too: prepend = "+" turns 00... into E.164.
            lambda v: (
                isinstance(v, str) and (bool(_DIAL_RE.fullmatch(v)) or (empty and v in ("", "+")))
            ),
            "dial digits (0-9, *, #, optional leading +)",
        )

    def strings(self, name: str) -> list[str]:
        value: list[str] = self.get(
            name,
            [],
            lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
            "a list of strings",
        )
        return value

    def table(self, name: str, keys: tuple[str, ...]) -> Table:
        value = self.get(name, {}, lambda v: isinstance(v, dict), "a table")
        return Table(value, self.key(name), self.source, keys)

    def tables(self, name: str, keys: tuple[str, ...]) -> Iterator[Table]:
        value = self.get(
            name,
            [],
            lambda v: isinstance(v, list) and all(isinstance(x, dict) for x in v),
            f"an array of tables ([[{name}]])",
        )
        for index, item in enumerate(value):
            yield Table(item, f"{self.key(name)}[{index}]", self.source, keys)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
