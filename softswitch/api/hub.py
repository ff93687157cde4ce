"""The CTI event hub: events of the switch, fanned out to WebSocket subscribers.

An event is ``{"name", "timestamp", "data"}`` on the wire. Each event kind names the ACL
needed to see it (`EVENT_ACLS`), and each event the extensions of its parties, so a subscriber
gets only what its token's role and scope allow (an event of the whole switch, such as a log
record, names no parties and is filtered by its ACL alone).

Fan-out cost is per subscriber, so everything else happens once per event: the JSON and its
WebSocket frame are built once (server frames are unmasked, RFC 6455 §5.1, so every socket
gets the same bytes), and scope is decided once per distinct view (role and reach), not per
socket. `publish` never waits: it queues the frame on each subscriber and one callback
writes every subscriber's queued frames to its transport in one write (no task switch per
socket, one system call per socket however many events it carries). Nearly all of a flush's
time is those system calls, so flushes are spaced by at least their own length: idle, an event
goes out in the next loop turn; under load, writing takes at most half the loop and the events
of that gap share one write per socket.

A slow consumer never delays the others: a socket whose transport still holds more than
`high_water_bytes` unsent keeps its frames in its own queue (retried every `RETRY_S`), and one
that falls `maxsize` events behind is dropped and closed with `CLOSE_TOO_SLOW`, its queued
events counted in `dropped_events`. The hub measures itself: `write_delay` is, per delivery,
the time from the event's timestamp to its write to the socket; `flush_wait` how long the
turn's oldest event waited for the writing to start (the loop busy elsewhere), and `flush_time`
how long each turn's writing took.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import struct
from collections import deque
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Final, Protocol

from softswitch.api.auth import Principal
from softswitch.api.permissions import Scope, granted

CLOSE_TOO_SLOW: Final = 4008  # WebSocket close code (private range, RFC 6455 §7.4.2)
CLOSE_TOKEN_EXPIRED: Final = 4001
DEFAULT_HIGH_WATER_BYTES: Final = 256 * 1024  # unsent bytes in one transport: slow from here
RETRY_S: Final = 0.02  # a slow socket's queued frames are tried again this often

# Event name -> the ACL a token needs to receive it.
EVENT_ACLS: Final[Mapping[str, str]] = {
    "call_created": "events.calls.created",
    "call_answered": "events.calls.answered",
    "call_ended": "events.calls.ended",
    "call_held": "events.calls.held",  # a party put on hold, by its phone or by control
    "call_resumed": "events.calls.resumed",
    "call_transferred": "events.calls.transferred",  # REFER, #1 / *2, or control
    "call_recording": "events.calls.recording",  # started, paused, resumed
    "registration_saved": "events.registrations.saved",
    "registration_removed": "events.registrations.removed",
    "log_record": "events.logs.record",
    # the call centre (api/centre_events.py)
    "call_offered": "events.calls.offered",
    "agent_state_changed": "events.agents.state",
    "queue_caller_joined": "events.queues.caller_joined",
    "queue_caller_left": "events.queues.caller_left",
    "queue_statistics": "events.queues.statistics",
    # supervision (api/supervision.py)
    "supervision_started": "events.supervisions.started",
    "supervision_changed": "events.supervisions.changed",
    "supervision_ended": "events.supervisions.ended",
}

# Upper bounds of the delay histograms, seconds (the last bucket is +Inf).
DELAY_BUCKETS_S: Final = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.2,
    0.5,
    1.0,
)


@dataclass(frozen=True, slots=True)
class ApiEvent:
    name: str
    timestamp: float  # wall clock, seconds since the epoch
    data: Mapping[str, object]
    parties: frozenset[str] | None  # extension numbers involved, for scope; None: the switch's
    # extensions whose supervisors see it too, not they themselves (a queue's agents)
    watchers: frozenset[str] = frozenset()

    def encode(self) -> str:
        stamp = datetime.fromtimestamp(self.timestamp, UTC).isoformat(timespec="microseconds")
        return json.dumps({"name": self.name, "timestamp": stamp, "data": self.data})


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked text frame (RFC 6455 §5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x81, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + payload


@dataclass(slots=True)
class DelayHistogram:
    """Cumulative-style counts over `DELAY_BUCKETS_S`, cheap enough to observe per delivery."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS_S) + 1))
    total_s: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DELAY_BUCKETS_S, seconds)] += 1
        self.total_s += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)


class Sink(Protocol):
    """Where a subscriber's frames go: the WebSocket's transport (asyncio.Transport is one)."""

    def write(self, data: bytes) -> None: ...

    def get_write_buffer_size(self) -> int: ...

    def is_closing(self) -> bool: ...


class Ending(Enum):
    TOO_SLOW = CLOSE_TOO_SLOW
    TOKEN_EXPIRED = CLOSE_TOKEN_EXPIRED
    STOPPED = 1000


class Subscriber:
    """One WebSocket's view of the stream: the names it asked for, filtered by its token."""

    def __init__(
        self, principal: Principal, names: Collection[str], maxsize: int, view: Hashable
    ) -> None:
        self.principal = principal
        self.maxsize = maxsize
        self.view = view  # the same for every subscriber that scope treats alike
        self.names: set[str] = set()
        self.delivered = 0
        self.ending: Ending | None = None
        self._frames: deque[tuple[bytes, float]] = deque()  # frame, its event's timestamp
        self._sink: Sink | None = None
        self._valid: Callable[[], bool] = lambda: True
        self._ended = asyncio.Event()
        self.subscribe(names)

    @property
    def overflowed(self) -> bool:
        return self.ending is Ending.TOO_SLOW

    def subscribe(self, names: Collection[str]) -> set[str]:
        """Add names the token may see; returns those refused (unknown or not permitted)."""
        wanted = set(EVENT_ACLS) if "*" in names else set(names)
        allowed = {
            name
            for name in wanted
            if name in EVENT_ACLS and granted(self.principal.role, EVENT_ACLS[name])
        }
        self.names |= allowed
        return wanted - allowed

    def unsubscribe(self, names: Collection[str]) -> None:
        self.names -= set(EVENT_ACLS) if "*" in names else set(names)

    def attach(self, sink: Sink, valid: Callable[[], bool]) -> None:
        """Start writing to `sink` (after the socket's own first message); `valid` says
        whether the token still is, asked before each write."""
        self._sink = sink
        self._valid = valid

    def queue(self, frame: bytes, timestamp: float) -> bool:
        """Queue a frame; False when this one overflowed the queue (then it ends)."""
        if self.ending is not None:
            return True
        if len(self._frames) >= self.maxsize:
            self.end(Ending.TOO_SLOW)
            return False
        self._frames.append((frame, timestamp))
        return True

    def flush(self, clock: Callable[[], float], delays: DelayHistogram, high_water: int) -> bool:
        """Write every queued frame in one write; True when they stay for a retry (a slow
        socket)."""
        frames, sink = self._frames, self._sink
        if not frames or self.ending is not None:
            return False
        if sink is None:
            return False  # not attached yet: `EventHub.attached` sends what waits
        if sink.get_write_buffer_size() > high_water:
            return True
        if sink.is_closing():
            frames.clear()
            return False
        if not self._valid():
            self.end(Ending.TOKEN_EXPIRED)
            return False
        now = clock()
        for _, stamp in frames:
            delays.observe(now - stamp)
        sink.write(b"".join(frame for frame, _ in frames))
        self.delivered += len(frames)
        frames.clear()
        return False

    @property
    def queued(self) -> int:
        return len(self._frames)

    def end(self, ending: Ending) -> None:
        if self.ending is None:
            self.ending = ending
        self._ended.set()

    async def ended(self) -> Ending:
        """Wait until the hub or the socket ends this subscription; why it ended."""
        await self._ended.wait()
        assert self.ending is not None
        return self.ending


class EventHub:
    def __init__(
        self,
        scope: Scope,
        clock: Callable[[], float],
        high_water_bytes: int = DEFAULT_HIGH_WATER_BYTES,
    ) -> None:
        self._scope = scope
        self._clock = clock
        self._high_water = high_water_bytes
        self._subscribers: dict[Subscriber, None] = {}  # in subscription order
        self._pending: dict[Subscriber, None] = {}  # subscribers with frames to write
        self._flush_handle: asyncio.Handle | None = None
        self._flush_due = 0.0  # loop time the scheduled flush runs at
        self._next_flush_at = 0.0  # loop time: the last flush's end plus its length
        self.published = 0
        self.dropped_subscribers = 0
        self.dropped_events = 0  # events a dropped subscriber never got
        self.write_delay = DelayHistogram()  # event timestamp -> written to the socket
        self.flush_wait = DelayHistogram()  # the turn's first event's timestamp -> writing starts
        self.flush_time = DelayHistogram()  # one turn's writing, all sockets
        self._first_pending: float | None = None  # timestamp of the oldest event not written

    def subscribe(self, principal: Principal, names: Collection[str], maxsize: int) -> Subscriber:
        view = (principal.role, self._scope.reach(principal))
        subscriber = Subscriber(principal, names, maxsize, view)
        self._subscribers[subscriber] = None
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.pop(subscriber, None)
        self._pending.pop(subscriber, None)
        subscriber.end(Ending.STOPPED)

    def attached(self, subscriber: Subscriber) -> None:
        """A subscriber's socket is ready: what it queued meanwhile goes out with the next turn."""
        if subscriber.queued:
            self._pending[subscriber] = None
            self._schedule()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def delivered(self) -> int:
        return self.write_delay.count

    def publish(
        self,
        name: str,
        data: Mapping[str, object],
        parties: Collection[str] | None,
        watchers: Collection[str] = (),
    ) -> None:
        """Queue an event for each subscriber of `name` whose scope reaches one of `parties`
        (`None`: an event of the whole switch, which its ACL alone guards), or whose teams'
        agents include one of `watchers` (supervisors only)."""
        if not self._subscribers:
            return
        event = ApiEvent(
            name,
            self._clock(),
            data,
            None if parties is None else frozenset(parties),
            frozenset(watchers),
        )
        frame: bytes | None = None
        verdicts: dict[Hashable, bool] = {}
        overflowed: list[Subscriber] = []
        for subscriber in self._subscribers:
            if name not in subscriber.names:
                continue
            if event.parties is not None:
                allowed = verdicts.get(subscriber.view)
                if allowed is None:
                    allowed = self._scope.allows(
                        subscriber.principal, event.parties, event.watchers
                    )
                    verdicts[subscriber.view] = allowed
                if not allowed:
                    continue
            if frame is None:
                frame = text_frame(event.encode().encode())
            if subscriber.queue(frame, event.timestamp):
                self._pending[subscriber] = None
            else:
                overflowed.append(subscriber)
        for subscriber in overflowed:
            self._drop(subscriber)
        self.published += 1
        if self._pending:
            if self._first_pending is None:
                self._first_pending = event.timestamp
            self._schedule()

    def _drop(self, subscriber: Subscriber) -> None:
        self.dropped_events += subscriber.queued + 1  # its queue and the event that overflowed
        self._subscribers.pop(subscriber, None)
        self._pending.pop(subscriber, None)
        self.dropped_subscribers += 1

    def _schedule(self, retry: bool = False) -> None:
        """The next flush: at once, unless the last one ended less than its own length ago
        (then when that much has passed, so that writing takes at most half the loop and a
        busy turn's events share one write per socket); `retry` for slow sockets only, which a
        new event brings forward."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now + RETRY_S if retry else max(now, self._next_flush_at)
        if self._flush_handle is not None:
            if self._flush_due <= due:
                return
            self._flush_handle.cancel()
        self._flush_due = due
        if due <= now:
            self._flush_handle = loop.call_soon(self._flush)
        else:
            self._flush_handle = loop.call_at(due, self._flush)

    def _flush(self) -> None:
        self._flush_handle = None
        loop = asyncio.get_running_loop()
        began = loop.time()
        pending, self._pending = self._pending, {}
        started = self._clock()
        if self._first_pending is not None:
            self.flush_wait.observe(started - self._first_pending)
            self._first_pending = None
        for subscriber in pending:
            if subscriber.flush(self._clock, self.write_delay, self._high_water):
                self._pending[subscriber] = None  # slow: its frames wait in its own queue
        self.flush_time.observe(self._clock() - started)
        ended = loop.time()
        self._next_flush_at = ended + (ended - began)
        if self._pending:
            self._schedule(retry=True)

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        for subscriber in self._subscribers:
            subscriber.end(Ending.STOPPED)
        self._subscribers.clear()
        self._pending.clear()
