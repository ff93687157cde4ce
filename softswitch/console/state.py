"""What the console knows of the switch: a model fed by API snapshots and pushed events.

Sans-IO: snapshots and events go in (`load_*`, `apply`), the set of views to redraw comes out;
time is passed in. The console subscribes to events before it reads the snapshots, so an event
may arrive about something a snapshot already holds or no longer holds: every change is
idempotent (a call created twice is one call, a call ended that was never seen changes
nothing). Event data comes from the network: a field of the wrong type makes the event ignored
and counted (`ignored`), never an exception in the screen.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any, Final

from softswitch.api.client import CallDetails

LOG_LINES: Final = 500  # log records kept on screen
SPARK_BUCKETS: Final = 60  # one per minute: the last hour
BUCKET_S: Final = 60.0


class Pane(Enum):
    """What an event changed, so that only the views showing it redraw."""

    CALLS = "calls"
    REGISTRATIONS = "registrations"
    TRUNKS = "trunks"
    LOGS = "logs"
    AGENTS = "agents"  # console/centre_state.py
    QUEUES = "queues"


@dataclass(frozen=True, slots=True)
class CallRow:
    call_id: int
    caller: str
    callee: str
    direction: str
    state: str
    started_at: float  # epoch seconds
    answered_at: float | None
    trunk: str | None = None  # from call_created (GET /calls does not say)
    held: frozenset[int] = frozenset()  # leg ids on hold
    legs: tuple[int, ...] = (1, 2)
    recording: str = "none"  # RECORDING_MARKS: from GET /calls and call_recording events

    def duration_s(self, now: float) -> int:
        return max(0, int(now - (self.answered_at or self.started_at)))


@dataclass(frozen=True, slots=True)
class RegistrationRow:
    extension: str
    contact: str
    source: str
    user_agent: str
    expires_at: float

    def expires_in_s(self, now: float) -> int:
        return max(0, int(self.expires_at - now))


@dataclass(frozen=True, slots=True)
class TrunkRow:
    name: str
    address: str
    context: str
    inbound_auth: bool
    outbound_auth: bool


@dataclass(frozen=True, slots=True)
class LogLine:
    time: float
    level: str
    logger: str
    message: str
    security: bool


RECORDING_MARKS: Final = ("recording", "paused", "none")


class MalformedEvent(ValueError):
    """An event or snapshot item whose fields are not what the API documents."""


def parse_time(value: object) -> float:
    if not isinstance(value, str):
        raise MalformedEvent(f"not a timestamp: {value!r}")
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedEvent(f"not a timestamp: {value!r}") from exc


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedEvent(f"{key} is not a string: {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedEvent(f"{key} is not an integer: {value!r}")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise MalformedEvent(f"{key} is not a boolean: {value!r}")
    return value


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedEvent(f"{key} is not a string: {value!r}")
    return value


def registration_row(item: Mapping[str, Any]) -> RegistrationRow:
    return RegistrationRow(
        _str(item, "extension"),
        _str(item, "contact"),
        _str(item, "source"),
        _str(item, "user_agent"),
        parse_time(item.get("expires_at")),
    )


def trunk_row(item: Mapping[str, Any]) -> TrunkRow:
    return TrunkRow(
        _str(item, "name"),
        _str(item, "address"),
        _str(item, "context"),
        _bool(item, "inbound_auth"),
        _bool(item, "outbound_auth"),
    )


def log_line(item: Mapping[str, Any]) -> LogLine:
    return LogLine(
        parse_time(item.get("time")),
        _str(item, "level"),
        _str(item, "logger"),
        _str(item, "message"),
        _bool(item, "security"),
    )


def call_row(call: CallDetails) -> CallRow:
    return CallRow(
        call.call_id,
        call.caller,
        call.callee,
        call.direction,
        call.state,
        parse_time(call.started_at),
        None if call.answered_at is None else parse_time(call.answered_at),
        None,
        frozenset(leg.leg_id for leg in call.legs if leg.held),
        tuple(leg.leg_id for leg in call.legs),
        call.recording if call.recording in RECORDING_MARKS else "none",
    )


@dataclass
class Series:
    """A value per minute over the last hour (the maximum seen in each minute), for sparklines."""

    buckets: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=SPARK_BUCKETS))

    def record(self, now: float, value: float, *, add: bool = False) -> None:
        minute = int(now // BUCKET_S)
        if self.buckets and self.buckets[-1][0] == minute:
            last = self.buckets[-1][1]
            self.buckets[-1] = (minute, last + value if add else max(last, value))
        else:
            self.buckets.append((minute, value))

    def values(self, now: float, *, carry: bool) -> list[float]:
        """One value per minute up to `now`; a minute without samples holds the last value
        (`carry`, for a level such as calls up) or 0 (for a count such as calls started)."""
        minute = int(now // BUCKET_S)
        seen = dict(self.buckets)
        out: list[float] = []
        last = 0.0
        for m in range(minute - SPARK_BUCKETS + 1, minute + 1):
            if m in seen:
                last = seen[m]
                out.append(last)
            else:
                out.append(last if carry else 0.0)
        return out


@dataclass
class ConsoleState:
    calls: dict[int, CallRow] = field(default_factory=dict)
    registrations: dict[tuple[str, str], RegistrationRow] = field(default_factory=dict)
    trunks: list[TrunkRow] = field(default_factory=list)
    logs: deque[LogLine] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    active_calls: Series = field(default_factory=Series)
    started_calls: Series = field(default_factory=Series)
    ignored: int = 0  # events dropped as malformed
    applied: int = 0  # events applied since the start

    # ---- snapshots (after each (re)connection) ---------------------------------------------

    def load_calls(self, calls: Iterable[CallDetails], now: float) -> set[Pane]:
        self.calls = {call.call_id: call_row(call) for call in calls}
        self.active_calls.record(now, len(self.calls))
        return {Pane.CALLS}

    def load_registrations(self, items: Iterable[Mapping[str, Any]]) -> set[Pane]:
        rows = [self._parsed(registration_row, item) for item in items]
        self.registrations = {(r.extension, r.contact): r for r in rows if r is not None}
        return {Pane.REGISTRATIONS}

    def load_trunks(self, items: Iterable[Mapping[str, Any]]) -> set[Pane]:
        self.trunks = [t for t in (self._parsed(trunk_row, i) for i in items) if t is not None]
        return {Pane.TRUNKS}

    def load_logs(self, items: Iterable[Mapping[str, Any]]) -> set[Pane]:
        """The switch's recent history replaces what was shown (it holds what we had)."""
        self.logs.clear()
        for item in items:
            line = self._parsed(log_line, item)
            if line is not None:
                self.logs.append(line)
        return {Pane.LOGS}

    def _parsed(self, parse: Any, item: object) -> Any:
        if not isinstance(item, Mapping):
            self.ignored += 1
            return None
        try:
            return parse(item)
        except MalformedEvent:
            self.ignored += 1
            return None

    # ---- events ----------------------------------------------------------------------------

    def apply(self, name: str, timestamp: str, data: object, now: float) -> set[Pane]:
        """One pushed event; returns the panes it changed."""
        if not isinstance(data, Mapping):
            self.ignored += 1
            return set()
        try:
            changed = self._apply(name, timestamp, data, now)
        except MalformedEvent:
            self.ignored += 1
            return set()
        self.applied += 1
        return changed

    def _apply(self, name: str, timestamp: str, data: Mapping[str, Any], now: float) -> set[Pane]:
        if name == "call_created":
            call_id = _int(data, "call_id")
            at = parse_time(timestamp)
            existing = self.calls.get(call_id)
            self.calls[call_id] = existing or CallRow(
                call_id,
                _str(data, "caller"),
                _str(data, "callee"),
                _str(data, "direction"),
                "ringing",
                at,
                None,
                _optional_str(data, "trunk"),
            )
            self.active_calls.record(now, len(self.calls))
            self.started_calls.record(now, 1, add=True)
            return {Pane.CALLS}
        if name == "call_answered":
            call_id = _int(data, "call_id")
            at = parse_time(timestamp)
            call = self.calls.get(call_id)
            if call is None:
                return set()
            self.calls[call_id] = replace(call, state="answered", answered_at=at)
            return {Pane.CALLS}
        if name == "call_recording":
            call_id, mark = _int(data, "call_id"), _str(data, "state")
            call = self.calls.get(call_id)
            if mark not in RECORDING_MARKS:
                raise MalformedEvent(f"not a recording state: {mark!r}")
            if call is None or call.recording == mark:
                return set()
            self.calls[call_id] = replace(call, recording=mark)
            return {Pane.CALLS}
        if name == "call_ended":
            gone = self.calls.pop(_int(data, "call_id"), None)
            self.active_calls.record(now, len(self.calls))
            return {Pane.CALLS} if gone is not None else set()
        if name == "registration_saved":
            row = registration_row(data)
            self.registrations[(row.extension, row.contact)] = row
            return {Pane.REGISTRATIONS}
        if name == "registration_removed":
            key = (_str(data, "extension"), _str(data, "contact"))
            return {Pane.REGISTRATIONS} if self.registrations.pop(key, None) else set()
        if name == "log_record":
            self.logs.append(log_line(data))
            return {Pane.LOGS}
        return set()  # an event of a newer switch that this console does not show yet

    # ---- what the console's own commands changed -------------------------------------------

    def held(self, call_id: int, leg_id: int, held: bool) -> set[Pane]:
        """Hold and resume have no event yet: the console marks what its command did."""
        call = self.calls.get(call_id)
        if call is None:
            return set()
        legs = call.held | {leg_id} if held else call.held - {leg_id}
        self.calls[call_id] = replace(call, held=frozenset(legs))
        return {Pane.CALLS}
