"""Calls and legs: the state a B2BUA keeps for each call (RFC 7092 §3.1, signalling-only view).

Every call has a caller leg (the INVITE we received) and, once routed, a callee leg (the INVITE we
sent), each with its own dialog, Call-ID, tags and media endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.config import Trunk
from softswitch.media.relay import MediaEndpoint
from softswitch.sip.dialog import Dialog
from softswitch.sip.message import Request
from softswitch.sip.sdp import AudioStream, Codec, SessionDescription
from softswitch.sip.transaction import Address, TransactionKey


class CallState(Enum):
    ROUTING = "routing"  # INVITE accepted, callee leg not yet answered
    EARLY = "early"  # a provisional with a tag came back from the callee
    ANSWERED = "answered"
    ENDED = "ended"


@dataclass(eq=False, slots=True)
class Leg:
    role: Side
    peer: Address  # where requests for this leg are sent (the flow it came from or goes to)
    invite: Request  # the INVITE received (caller leg) or sent (callee leg)
    local_tag: str
    invite_key: TransactionKey | None = None
    dialog: Dialog | None = None
    media: MediaEndpoint | None = None
    remote_audio: AudioStream | None = None
    offer_sdp: SessionDescription | None = None  # caller leg: the SDP of the INVITE
    sdp_version: int = 0
    sdp_shown: tuple[tuple[Codec, ...], str] | None = None  # our last SDP: codecs, direction
    confirmed: bool = False  # ACK received (caller leg) or sent (callee leg)
    bye_sent: bool = False
    final_received: bool = False  # callee leg: the INVITE got its final response (or timed out)
    cancel_sent: bool = False
    trunk: Trunk | None = None  # callee leg towards a trunk: its credentials answer challenges
    auth_attempted: bool = False


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
    callee_leg: Leg | None = None  # the answering callee leg, or the first one while ringing
    forks: list[Leg] = field(default_factory=list)  # every callee leg (a phone each)
    answered_by: Leg | None = None
    fork_failures: list[tuple[int, str]] = field(default_factory=list)
    state: CallState = CallState.ROUTING
    answered_at: float | None = None
    cancelled: bool = False
    first_response_sent: bool = False
    disposition: Disposition | None = None
    hangup_cause: str = ""
    hangup_side: Side | None = None
    outstanding: int = 0  # our requests for this call still waiting for a final response
    # re-INVITEs we forwarded, by our transaction: the request to answer and its SDP offer
    pending_reinvites: dict[TransactionKey, tuple[Request, SessionDescription]] = field(
        default_factory=dict
    )

    def other(self, leg: Leg) -> Leg | None:
        return self.callee_leg if leg is self.caller_leg else self.caller_leg

    @property
    def caller_sdp(self) -> SessionDescription:
        sdp = self.caller_leg.offer_sdp
        assert sdp is not None, "a routed call has the caller's SDP offer"
        return sdp

    @property
    def legs(self) -> list[Leg]:
        return [self.caller_leg, *self.forks]
