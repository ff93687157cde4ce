"""A read-only picture of the switch at one moment: what the live view and, later, the CTI API
show. Built on demand from the call control layer's views (never from live call objects), so
nothing on the call path pays for it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from softswitch.calls.control import CallControl
from softswitch.calls.registrar import Registrar


@dataclass(frozen=True, slots=True)
class RegistrationView:
    extension: str
    contact: str
    source: str
    user_agent: str
    expires_in_s: int


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: int
    caller: str
    callee: str
    direction: str
    state: str
    duration_s: int


@dataclass(frozen=True, slots=True)
class SwitchSnapshot:
    taken_at: float
    registrations: tuple[RegistrationView, ...]
    calls: tuple[CallView, ...]
    calls_by_disposition: dict[str, int]


def take_snapshot(control: CallControl, registrar: Registrar) -> SwitchSnapshot:
    now = time.time()
    registrations = tuple(
        RegistrationView(
            b.aor,
            b.contact,
            f"{b.transport}:{b.source_host}:{b.source_port}",
            b.user_agent,
            max(0, int(b.expires_at - now)),
        )
        for b in sorted(registrar.all_bindings(), key=lambda b: b.aor)
    )
    calls = tuple(
        CallView(
            call.call_id,
            call.caller,
            call.callee,
            call.direction,
            call.state,
            int(now - (call.answered_at or call.started_at)),
        )
        for call in control.calls()
    )
    return SwitchSnapshot(now, registrations, calls, control.calls_by_disposition)
