"""Originate (click-to-call, Wazo's `POST /calls`): the switch rings an extension's phones
first, and once one answers dials the number from it, as if that phone had dialled it (routed in
the extension's context: another extension, a queue, an IVR flow, a trunk).

The call is one record from the start: its caller is the extension, its callee the number,
`outbound` when the number goes to a trunk (where `caller_id`, when given, is presented, else
the extension's as for any call out). The phone sees the number it will be connected to as the
caller. The first registered phone of the extension is rung (the switch's own offer: every codec
it handles); if it does not answer within `calls.ring_timeout_s`, refuses, or is not
registered, nothing is dialled.

Errors::

    OriginateRefused(LookupError)  no such extension or number (status_hint 404), or the
                                   extension has no phone to ring (409)
"""

from __future__ import annotations

import logging

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.calls.application import Timer
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg, LegAnswered, LegEnded, LegEvent
from softswitch.calls.nat import reachable
from softswitch.calls.routing import RouteTarget
from softswitch.calls.signalling import Signalling
from softswitch.calls.srtp import reachable as srtp_reachable
from softswitch.media.endpoint import Direction, RemoteAddressError
from softswitch.sip.sdp import SessionDescription, supported_codecs, widened_offer

log = logging.getLogger("softswitch.calls")

# The offer toward the extension's phone: rewritten to our address and codecs by the leg.
_TEMPLATE = (
    b"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    b"m=audio 9 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
)

_REFUSALS = {486: Disposition.BUSY, 600: Disposition.BUSY, 408: Disposition.NO_ANSWER}


class OriginateRefused(LookupError):
    def __init__(self, message: str, status_hint: int = 404) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class OriginateApplication:
    """The extension's leg while it rings; its answer moves it to what the number reaches."""

    kind = "originate"

    def __init__(self, signalling: Signalling, call: Call, target: RouteTarget) -> None:
        self.signalling = signalling
        self.call = call
        self.target = target
        self._timer: Timer | None = None

    def attach(self, leg: Leg) -> None:
        timeout_s = self.signalling.config.calls.ring_timeout_s
        self._timer = self.signalling.call_later(timeout_s, self._ring_timeout)

    def detach(self, leg: Leg) -> None:
        self._stop_timer()

    def rering(self, old: Leg, new: Leg) -> None:
        """A screen's answer (calls/answer.py): `new` rings the phone; the ring timer runs on."""

    def on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegAnswered):
            self._answered(event)
        elif isinstance(event, LegEnded) and not self.call.ended:
            self._stop_timer()
            status, reason = event.status or 480, event.reason
            disposition = _REFUSALS.get(status, Disposition.FAILED)
            self.signalling.end(self.call, disposition, f"{status} {reason}", Side.CALLER)

    def _answered(self, event: LegAnswered) -> None:
        self._stop_timer()
        leg, audio, signalling, call = event.leg, event.audio, self.signalling, self.call
        if audio is None or leg.media is None:
            signalling.hang_up(call, Side.SWITCH, "the phone answered without SDP")
            return
        try:
            leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
        except RemoteAddressError as exc:
            log.info("originate: phone SDP unusable: %s", exc)
        leg.media.set_direction(Direction.SENDRECV)
        leg.sdp_shown = (audio.codecs, "sendrecv")  # what the phone agreed: the next offer's
        application = signalling.applications.create(self.target, signalling, call)
        log.info("call %d: %s answered, dialling %s", call.id, call.caller, self.target.number)
        signalling.move(call, leg, application)

    def _ring_timeout(self) -> None:
        self._timer = None
        if not self.call.ended:
            self.signalling.end(self.call, Disposition.NO_ANSWER, "ring timeout", Side.SWITCH)
            self.signalling.flush()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


async def originate(signalling: Signalling, extension: str, number: str, caller_id: str) -> int:
    """Ring `extension`, then dial `number` from it; the new call's id. Raises
    `OriginateRefused`."""
    config = signalling.config
    ext = next((e for e in config.extensions if e.number == extension), None)
    if ext is None:
        raise OriginateRefused(f"no extension {extension}")
    target = signalling.routing.resolve(ext.context, number)
    if target is None or target.kind not in signalling.applications:
        raise OriginateRefused(f"nothing answers to {number!r} from {extension}")
    destinations = [
        (peer, uri)
        for peer, uri in reachable(signalling.registrar.lookup(extension), ext.nat)
        if signalling.allowed(peer[1]) and srtp_reachable(ext.srtp, peer[0])
    ]
    if not destinations:
        raise OriginateRefused(f"extension {extension} has no registered phone", 409)
    peer, uri = destinations[0]
    media = await signalling.open_media()
    template = SessionDescription.parse(_TEMPLATE)
    assert template.audio is not None
    codecs = widened_offer(supported_codecs(template.audio))
    call_id = signalling.next_call_id()
    leg = signalling.outbound_leg(
        call_id, peer, uri, extension, media, template, codecs, "sendrecv",
        trunk=None, caller=number, srtp=ext.srtp,
    )  # fmt: skip
    trunk = target.target if target.kind == "trunk" else None
    call = Call(
        id=call_id,
        caller=extension,
        callee=target.number,
        direction=CallDirection.OUTBOUND if trunk else CallDirection.INTERNAL,
        trunk=trunk,
        started_at=signalling.wall_clock(),
        setup_started=signalling.now(),
        caller_leg=leg,
    )
    call.variables["originated"] = number
    signalling.start_call(call)
    if caller_id:  # what the API asked wins over a queue's (set by the call centre above)
        call.outbound_caller_id = caller_id
    pending = signalling.attach(call, leg, OriginateApplication(signalling, call, target))
    assert pending is None
    signalling.flush()
    log.info("call %d: originated from %s to %s", call_id, extension, number)
    return call_id
