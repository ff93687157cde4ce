"""Call pickup: `*8` answers a call ringing a phone of the dialler's pickup group (an
extension's `pickup_group`), `**` + extension the call ringing that extension (Asterisk's
pickupexten and directed pickup).

The picker's own call only carries its INVITE: its leg moves into the ringing call
(`Signalling.adopt`), the ringing phones get CANCEL when the caller's leg leaves their bridge,
and a `BridgeApplication.joining` bridge relays the caller and the picker. Both are answered by
the switch on one codec they both offered (G.711 phones agree at once); with none in common the
picker gets 488 and the call keeps ringing. The picked-up call keeps its id and its record,
which names the picker as the callee (`picked_up_by`, `picked_up_from` in its variables); the
picker's own record is answered with the cause "picked up call N". With nothing to pick up the
picker hears 480.

A queue call ringing an agent (the caller's leg is in a `PickableCall`, centre/queue.py) is
picked up the same way, but the ACD decides what it means (acd/engine.py `picked_up`): the
offers are withdrawn without counting as ring-no-answer, a logged-in agent of the queue who
picks up is credited with the call, and any other phone answers for the queue (its extension
in CONNECT and COMPLETE). Asterisk credits the member whose channel was picked up (the queue
sees that channel answer), so its log shows a call the ringing agent never had; we credit the
person who talks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from softswitch.call_record import Disposition, Side
from softswitch.calls.application import Application, CallServices, answer_here
from softswitch.calls.bridge import BridgeApplication, BridgeState
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg, LegEvent
from softswitch.calls.routing import RouteTarget
from softswitch.calls.signalling import Signalling
from softswitch.media.endpoint import MediaEndpoint
from softswitch.sip.sdp import Codec, answer_codecs

log = logging.getLogger("softswitch.calls")

_EVENTS = "TELEPHONE-EVENT"


@runtime_checkable
class PickableCall(Protocol):
    """An application holding a caller while phones ring for it (a queue's offers)."""

    def ringing_extensions(self) -> list[str]:
        """The extensions ringing for the caller now."""

    def pick_up(self, picker: str, leg: Leg) -> None:
        """`leg`, answered and adopted into the call, takes the caller for `picker`."""


Ringing = tuple[Call, BridgeApplication | PickableCall, str]  # the call, what rings, the phone


@dataclass(eq=False)
class Pickups:
    """The registry's factory for destination kind "pickup"; `signalling` is set by b2bua.py
    once the signalling exists (the registry is made before it)."""

    signalling: Signalling | None = None

    def create(self, target: RouteTarget, services: CallServices, call: Call) -> Application:
        assert self.signalling is not None, "wired by b2bua.py"
        return PickupApplication(self, self.signalling, target, call)

    def ringing(self, picker: str, wanted: str) -> Ringing | None:
        """The oldest call ringing `wanted` (an extension), or any phone of the picker's pickup
        group when `wanted` is ""; never the picker's own phone."""
        assert self.signalling is not None
        config = self.signalling.config
        groups = {ext.number: ext.pickup_group for ext in config.extensions}
        group = groups.get(picker, "")

        def wanted_phone(ringing: str) -> bool:
            if ringing == picker:
                return False
            return (wanted and ringing == wanted) or bool(
                not wanted and group and groups.get(ringing) == group
            )

        found: list[Ringing] = []
        for call in self.signalling.calls.values():
            held = call.attachments.get(call.caller_leg)
            if call.ended:
                continue
            if isinstance(held, BridgeApplication):
                if held.state is not BridgeState.RINGING or held.target.kind != "extension":
                    continue
                if held.party is call.caller_leg and wanted_phone(held.target.target):
                    found.append((call, held, held.target.target))
            elif isinstance(held, PickableCall):
                phone = next((p for p in held.ringing_extensions() if wanted_phone(p)), None)
                if phone is not None:
                    found.append((call, held, phone))
        return min(found, key=lambda f: f[0].setup_started, default=None)


class PickupApplication:
    kind = "pickup"

    def __init__(
        self, pickups: Pickups, signalling: Signalling, target: RouteTarget, call: Call
    ) -> None:
        self.pickups = pickups
        self.signalling = signalling
        self.target = target
        self.call = call

    def attach(self, leg: Leg) -> None:
        signalling, call = self.signalling, self.call
        found = self.pickups.ringing(call.caller, self.target.target)
        if found is None:
            self._refuse(leg, 480, "nothing to pick up")
            return
        ringing_call, ringing, picked_from = found
        caller = ringing_call.caller_leg
        common = common_codec(caller, leg)
        if common is None:
            self._refuse(leg, 488, "no codec in common with the ringing call")
            return
        signalling.adopt(ringing_call, leg, call)
        for party, codecs in ((leg, common[1]), (caller, common[0])):
            if party.unanswered:
                answer_here(party, codecs, ringing_call.id, signalling.now())
        ringing_call.variables["picked_up_by"] = call.caller
        ringing_call.variables["picked_up_from"] = picked_from
        if isinstance(ringing, BridgeApplication):
            ringing_call.callee = call.caller
            joined = BridgeApplication.joining(
                RouteTarget("extension", call.caller, call.caller),
                signalling,
                ringing_call,
                leg,
                _media(leg),
            )
            signalling.move(ringing_call, caller, joined)  # the ringing phones get CANCEL
        else:
            ringing.pick_up(call.caller, leg)  # the queue cancels its offers and joins them
        signalling.answered(ringing_call)
        signalling.answered(call)
        signalling.end(call, Disposition.ANSWERED, f"picked up call {ringing_call.id}", Side.CALLER)
        signalling.flush()
        log.info("call %d: picked up by %s from %s", ringing_call.id, call.caller, picked_from)

    def _refuse(self, leg: Leg, status: int, reason: str) -> None:
        self.signalling.fail(self.call, status, reason)  # `leg` is the picker's, the caller's
        self.signalling.flush()

    def detach(self, leg: Leg) -> None:
        return None

    def on_event(self, event: LegEvent) -> None:
        return None  # the picker's leg leaves this call in attach


def _media(leg: Leg) -> MediaEndpoint:
    assert leg.media is not None
    return leg.media


def common_codec(caller: Leg, picker: Leg) -> tuple[tuple[Codec, ...], tuple[Codec, ...]] | None:
    """Codecs to answer the caller and the picker with: one voice codec both offered (in the
    caller's order), each in its own payload type, plus each one's telephone-event."""
    theirs, mine = caller.remote_audio, picker.remote_audio
    if theirs is None or mine is None:
        return None
    offered = caller.sdp_shown[0] if caller.up and caller.sdp_shown else answer_codecs(theirs)
    picker_codecs = answer_codecs(mine)
    for codec in offered:
        if codec.name.upper() == _EVENTS:
            continue
        match = next((c for c in picker_codecs if c.name.upper() == codec.name.upper()), None)
        if match is not None:
            caller_side = (codec, *[c for c in offered if c.name.upper() == _EVENTS][:1])
            picker_side = (match, *[c for c in picker_codecs if c.name.upper() == _EVENTS][:1])
            return caller_side, picker_side
    return None
