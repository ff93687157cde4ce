"""The switch's own events for the hub (api/hub.py): calls, holds and transfers, phones
registering. Each names the parties it concerns, for scope (api/call_scope.py). The hub's
names that other modules import from here stay importable from here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from softswitch.api.call_scope import CallParties
from softswitch.api.hub import CLOSE_TOO_SLOW as CLOSE_TOO_SLOW
from softswitch.api.hub import EVENT_ACLS as EVENT_ACLS
from softswitch.api.hub import EventHub as EventHub
from softswitch.calls.call import Call
from softswitch.calls.control import party_of
from softswitch.calls.leg import Leg
from softswitch.calls.registrar import Binding


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
        from_screen: Callable[[Leg], bool] | None = None,
    ) -> None:
        self._hub = hub
        self._ended = ended
        self.parties = parties if parties is not None else CallParties()
        self._from_screen = from_screen  # a leg a screen answered for: `by: "api"`

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
        data: dict[str, object] = {
            "call_id": call.id,
            "caller": call.caller,
            "callee": call.callee,
            "party": party,
        }
        if answering is not None:
            data.update(self._answered_by(answering, party))
        self._publish("call_answered", call, data)

    def party_answered(self, call: Call, leg: Leg) -> None:
        party = party_of(call, leg)
        data: dict[str, object] = {
            "call_id": call.id,
            "caller": call.caller,
            "callee": call.callee,
            "party": party,
        }
        data.update(self._answered_by(leg, party))
        self._publish("call_answered", call, data)

    def _answered_by(self, leg: Leg, party: str) -> dict[str, object]:
        """The answering leg, and `by: "api"` with its extension when a screen answered."""
        if self._from_screen is not None and self._from_screen(leg):
            return {"leg_id": leg.id, "by": "api", "extension": party}
        return {"leg_id": leg.id}

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
