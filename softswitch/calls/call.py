"""A call: its legs, the application each leg is attached to, and what its call record says.

The caller's leg starts the call; applications add legs (a bridge dials every phone of an
extension) and the control layer moves legs between applications. Each leg is attached to
exactly one application at a time (`attach` replaces, `detach` clears); a call is over for the
record when `state` is ENDED, and forgotten once every leg has ended too. What the record says
(direction, disposition, who hung up) is `softswitch/call_record.py`'s, shared with the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.calls.leg import Leg
from softswitch.sip.sdp import SessionDescription

if TYPE_CHECKING:
    from softswitch.calls.application import Application


class CallState(Enum):
    ROUTING = "routing"  # INVITE accepted, nothing answered yet
    EARLY = "early"  # a provisional with a tag came back from a callee
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(eq=False, slots=True)
class Call:
    id: int
    caller: str
    callee: str
    direction: CallDirection
    trunk: str | None
    started_at: float  # wall clock, for the CDR
    setup_started: float  # loop clock, INVITE received
    caller_leg: Leg
    caller_display: str = ""
    legs: list[Leg] = field(default_factory=list)  # every leg the call has had, caller first
    attachments: dict[Leg, Application] = field(default_factory=dict)
    state: CallState = CallState.ROUTING
    answered_at: float | None = None
    disposition: Disposition | None = None
    hangup_cause: str = ""
    hangup_side: Side | None = None
    # What an IVR flow learnt (keys, collected digits, set variables): it travels with the
    # call into the queue, the agent's offer and the call record.
    variables: dict[str, str] = field(default_factory=dict)
    # The number a trunk is shown for this call (From and P-Asserted-Identity); "" = the
    # caller's extension's caller_id, or the caller's number. The call centre sets a queue's.
    outbound_caller_id: str = ""

    def __post_init__(self) -> None:
        if not self.legs:
            self.legs.append(self.caller_leg)

    @property
    def caller_sdp(self) -> SessionDescription:
        sdp = self.caller_leg.remote_sdp
        assert sdp is not None, "a routed call has the caller's SDP offer"
        return sdp

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def finished(self) -> bool:
        """Ended for the record, and no leg is still waiting for an answer to our request."""
        return self.state is CallState.ENDED and all(leg.ended for leg in self.legs)

    def application_of(self, leg: Leg) -> Application | None:
        return self.attachments.get(leg)

    def add_leg(self, leg: Leg) -> None:
        self.legs.append(leg)

    def live_legs(self) -> list[Leg]:
        return [leg for leg in self.legs if not leg.ended]
