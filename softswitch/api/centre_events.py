"""The call centre's events on the WebSocket: agent states, callers joining and leaving,
offers with the screen pop, and queue statistics pushed whenever an event changed them.

`CentreEvents` is a listener of `centre.queue.CallCentre` (app.py appends it); it turns the
ACD's own events into API events, so every agent state (wrap-up included, with the not-ready
reason) and every caller waiting is visible — the two gaps of Asterisk's and Wazo's streams.
Agent events are scoped to the agent's extension, queue events to the queue's agents', so a
supervisor sees its teams' and an agent its own; a caller joining a queue makes the call's own
events (api/call_scope.py) visible to the supervisors of that queue's agents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import quote

from softswitch.acd.events import (
    AcdEvent,
    AgentStateChanged,
    OfferCall,
    QueueLogEntry,
    QueueLogEvent,
)
from softswitch.api.call_scope import CallParties
from softswitch.api.centre import INTERVALS, CentreControl, agent_body, statistics_body
from softswitch.api.events import EventHub
from softswitch.api.permissions import Scope

E = QueueLogEvent
_LEFT: Final[Mapping[QueueLogEvent, str]] = {
    E.CONNECT: "answered",
    E.ABANDON: "abandoned",
    E.EXITWITHTIMEOUT: "overflow",
    E.EXITEMPTY: "overflow",
    E.EXITWITHKEY: "exit key",
    E.CALLBACKREQUEST: "callback",
}
_FIELD_RE: Final = re.compile(r"\{(caller|queue|agent|call_id|var\.[A-Za-z0-9_]+)\}")


def screen_pop(template: str, fields: Mapping[str, str], variables: Mapping[str, str]) -> str:
    """Fill `{caller}`, `{queue}`, `{agent}`, `{call_id}` and `{var.NAME}` (URL-encoded; an
    unknown variable is empty), leaving the rest of the template as it is."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        raw = variables.get(name[4:], "") if name.startswith("var.") else fields.get(name, "")
        return quote(raw, safe="")

    return _FIELD_RE.sub(value, template)


def _call_id(call: str) -> int | None:
    return int(call) if call.isdigit() else None


class CentreEvents:
    """CentreListener publishing to the hub."""

    def __init__(
        self,
        hub: EventHub,
        centre: CentreControl,
        scope: Scope,
        variables: Callable[[str], Mapping[str, str]],
        screen_pop_urls: Mapping[str, str],
        calls: CallParties | None = None,
    ) -> None:
        self._hub = hub
        self._calls = calls
        self._centre = centre
        self._scope = scope
        self._variables = variables
        self._templates = dict(screen_pop_urls)

    def _agent_parties(self, agent: str) -> tuple[str, ...]:
        return (self._scope.extension_of(agent),)

    def _queue_parties(self, queue: str) -> tuple[str, ...]:
        if queue not in self._centre.queue_numbers():
            return ()
        return tuple(self._scope.extension_of(a) for a in self._centre.queue_members(queue))

    def acd_event(self, event: AcdEvent, changed_queues: set[str]) -> None:
        if isinstance(event, AgentStateChanged):
            # With today's figures, so that an agents table needs nothing but the events.
            body = agent_body(
                self._centre.agent_figures(event.agent),
                self._centre.agent_queues(event.agent),
                event.at,
            )
            self._hub.publish(
                "agent_state_changed",
                {**body, "old_state": event.old.value},
                self._agent_parties(event.agent),
            )
        elif isinstance(event, OfferCall):
            self._offered(event)
        elif isinstance(event, QueueLogEntry):
            self._logged(event)
        for queue in sorted(changed_queues):
            self._statistics(queue)

    def statistics_changed(self, queues: set[str]) -> None:
        """Figures that time alone changed (a caller past T, a window's edge): pushed now."""
        for queue in sorted(queues):
            self._statistics(queue)

    def _offered(self, event: OfferCall) -> None:
        variables = self._variables(event.call)
        fields = {
            "caller": event.caller_number,
            "queue": event.queue,
            "agent": event.agent,
            "call_id": event.call,
        }
        template = self._templates.get(event.queue, "")
        self._hub.publish(
            "call_offered",
            {
                "call_id": _call_id(event.call),
                "agent": event.agent,
                "queue": event.queue,
                "caller": event.caller_number,
                "callback": event.callback,
                "variables": dict(variables),
                "screen_pop_url": screen_pop(template, fields, variables) if template else None,
            },
            self._agent_parties(event.agent),
        )

    def _logged(self, entry: QueueLogEntry) -> None:
        if entry.event is E.ENTERQUEUE:
            call_id = _call_id(entry.call)
            if self._calls is not None and call_id is not None:
                self._calls.joined(call_id, entry.queue)  # its supervisors see its events
            caller = entry.data[1] if len(entry.data) > 1 else ""
            position = entry.data[2] if len(entry.data) > 2 else "0"
            self._hub.publish(
                "queue_caller_joined",
                {
                    "queue": entry.queue,
                    "call_id": _call_id(entry.call),
                    "caller": caller,
                    "position": int(position) if position.isdigit() else None,
                },
                self._queue_parties(entry.queue),
            )
        elif entry.event in _LEFT or (entry.event is E.TRANSFER and not entry.agent):
            # TRANSFER with no agent is a waiting caller moved to another queue (a supervisor);
            # with one it is a call the agent transferred, which left the queue when answered.
            self._hub.publish(
                "queue_caller_left",
                {
                    "queue": entry.queue,
                    "call_id": _call_id(entry.call),
                    "reason": _LEFT.get(entry.event, "moved"),
                    "agent": entry.agent or None,
                    "wait_s": round(entry.wait_s, 3),
                },
                self._queue_parties(entry.queue),
            )

    def _statistics(self, queue: str) -> None:
        if queue not in self._centre.queue_numbers():
            return
        intervals = {
            name: statistics_body(self._centre.queue_figures(queue, interval))
            for name, interval in INTERVALS.items()
        }
        self._hub.publish(
            "queue_statistics",
            {"queue": queue, "intervals": intervals},
            self._queue_parties(queue),
        )
