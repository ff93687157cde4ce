"""The CTI event hub: events of the switch, fanned out to WebSocket subscribers.

An event is ``{"name", "timestamp", "data"}`` on the wire, serialised once for every subscriber.
Each event kind names the ACL needed to see it (`EVENT_ACLS`), and each event the extensions
of its parties, so a subscriber gets only what its token's role and scope allow (an event of
the whole switch, such as a log record, names no parties and is filtered by its ACL alone). A
subscriber
has a bounded queue: `publish` never waits, and one that falls `maxsize` events behind is
marked overflowed and dropped (its WebSocket is closed with `CLOSE_TOO_SLOW`), so a slow
screen can never hold up calls.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from softswitch.api.auth import Principal
from softswitch.api.call_scope import CallParties
from softswitch.api.permissions import Scope, granted
from softswitch.calls.call import Call
from softswitch.calls.control import party_of
from softswitch.calls.leg import Leg
from softswitch.calls.registrar import Binding

CLOSE_TOO_SLOW: Final = 4008  # WebSocket close code (private range, RFC 6455 §7.4.2)
CLOSE_TOKEN_EXPIRED: Final = 4001

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


class Subscriber:
    """One WebSocket's view of the stream: the names it asked for, filtered by its token."""

    def __init__(self, principal: Principal, names: Collection[str], maxsize: int) -> None:
        self.principal = principal
        self.maxsize = maxsize
        self.names: set[str] = set()
        self.overflowed = False
        self.delivered = 0
        self._queue: deque[str] = deque()
        self._wake = asyncio.Event()
        self._closed = False
        self.subscribe(names)

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

    def offer(self, payload: str) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self.overflowed = True
            self.close()
            return
        self._queue.append(payload)
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()

    async def next(self) -> str | None:
        """The next payload, or None once closed (overflowed or told to stop)."""
        while not self._queue:
            if self._closed:
                return None
            self._wake.clear()
            await self._wake.wait()
        if self.overflowed:
            return None
        return self._queue.popleft()


class EventHub:
    def __init__(self, scope: Scope, clock: Callable[[], float]) -> None:
        self._scope = scope
        self._clock = clock
        self._subscribers: set[Subscriber] = set()
        self.published = 0
        self.dropped_subscribers = 0

    def subscribe(self, principal: Principal, names: Collection[str], maxsize: int) -> Subscriber:
        subscriber = Subscriber(principal, names, maxsize)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        subscriber.close()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(
        self,
        name: str,
        data: Mapping[str, object],
        parties: Collection[str] | None,
        watchers: Collection[str] = (),
    ) -> None:
        """Offer an event to each subscriber of `name` whose scope reaches one of `parties`
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
        payload: str | None = None
        for subscriber in list(self._subscribers):
            if name not in subscriber.names:
                continue
            if event.parties is not None and not self._scope.allows(
                subscriber.principal, event.parties, event.watchers
            ):
                continue
            if payload is None:
                payload = event.encode()
            subscriber.offer(payload)
            if subscriber.overflowed:
                self._subscribers.discard(subscriber)
                self.dropped_subscribers += 1
        self.published += 1

    def close(self) -> None:
        for subscriber in self._subscribers:
            subscriber.close()
        self._subscribers.clear()


class CallEvents:
    """The B2BUA's call records as events (`CallRecords`): created, answered, ended; and a
    party answering a call answered already (`AgentAnswers`), such as a queue call's agent.

    Scope (api/call_scope.py): an event reaches the caller, the callee and the parties of the
    legs on the call, and the supervisors of the agents of the queues the call waited in."""

    def __init__(
        self,
        hub: EventHub,
        ended: Callable[[int], None] | None = None,
        parties: CallParties | None = None,
    ) -> None:
        self._hub = hub
        self._ended = ended
        self.parties = parties if parties is not None else CallParties()

    def _publish(
        self, name: str, call: Call, data: Mapping[str, object], ended: bool = False
    ) -> None:
        self._hub.publish(
            name, data, self.parties.parties(call, ended=ended), self.parties.watchers(call)
        )

    def started(self, call: Call) -> None:
        self._publish(
            "call_created",
            call,
            {
                "call_id": call.id,
                "caller": call.caller,
                "callee": call.callee,
                "direction": call.direction.value,
                "trunk": call.trunk,
            },
        )

    def answered(self, call: Call) -> None:
        """The call's first answer: by a phone, or by the switch (a queue, an IVR, echo)."""
        answering = next(
            (
                leg
                for leg in reversed(call.legs)
                if leg is not call.caller_leg and leg.answered_at is not None
            ),
            None,
        )
        party = call.callee if answering is None else party_of(call, answering)
        self._publish(
            "call_answered",
            call,
            {"call_id": call.id, "caller": call.caller, "callee": call.callee, "party": party},
        )

    def party_answered(self, call: Call, leg: Leg) -> None:
        self._publish(
            "call_answered",
            call,
            {
                "call_id": call.id,
                "caller": call.caller,
                "callee": call.callee,
                "party": party_of(call, leg),
                "leg_id": leg.id,
            },
        )

    def recording(self, call: Call, state: str) -> None:
        """A CallRecordings listener: the console's recording mark follows this."""
        self._publish("call_recording", call, {"call_id": call.id, "state": state})

    def ended(self, call: Call) -> None:
        if self._ended is not None:
            self._ended(call.id)
        self._publish(
            "call_ended",
            call,
            {
                "call_id": call.id,
                "caller": call.caller,
                "callee": call.callee,
                "disposition": call.disposition.value if call.disposition else "",
                "cause": call.hangup_cause,
                "side": call.hangup_side.value if call.hangup_side else "",
            },
            ended=True,
        )
        self.parties.forget(call.id)


class CallOperationEvents:
    """Holds and transfers as events, whichever path made them: a `HoldListener` of the
    control layer (the phone's re-INVITE and the API's hold) and a `TransferListener` of the
    transfers (REFER, the in-call codes and the API all hand the party on there)."""

    def __init__(self, hub: EventHub, parties: CallParties | None = None) -> None:
        self._hub = hub
        self._parties = parties if parties is not None else CallParties()

    def hold_changed(self, call: Call, leg: Leg, held: bool, by: str) -> None:
        party = party_of(call, leg)
        self._hub.publish(
            "call_held" if held else "call_resumed",
            {
                "call_id": call.id,
                "leg_id": leg.id,
                "party": party,
                "by": by,
                "caller": call.caller,
                "callee": call.callee,
            },
            self._parties.parties(call) | {party},
            self._parties.watchers(call),
        )

    def transferring(self, call: Call, transferor: Leg, target: str, kind: str) -> None:
        by = call.variables.get("transferred_by", party_of(call, transferor))
        self._hub.publish(
            "call_transferred",
            {
                "call_id": call.id,
                "caller": call.caller,
                "transferred_by": by,
                "target": target,
                "kind": kind,
            },
            self._parties.parties(call) | {target, by},
            self._parties.watchers(call),
        )


def registration_body(binding: Binding) -> dict[str, object]:
    """A binding as `GET /api/v1/registrations` and `registration_saved` show it."""
    return {
        "extension": binding.aor,
        "contact": binding.contact,
        "source": f"{binding.transport}:{binding.source_host}:{binding.source_port}",
        "user_agent": binding.user_agent,
        "expires_at": datetime.fromtimestamp(binding.expires_at, UTC).isoformat(
            timespec="milliseconds"
        ),
    }


class RegistrationEvents:
    """The registrar's `BindingSink` as events: a phone registered (or refreshed), or went."""

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    def saved(self, binding: Binding) -> None:
        self._hub.publish("registration_saved", registration_body(binding), (binding.aor,))

    def removed(self, aor: str, contact: str) -> None:
        self._hub.publish("registration_removed", {"extension": aor, "contact": contact}, (aor,))
