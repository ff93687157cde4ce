"""The echo test line (9196 in the example config): every packet goes back to the caller.

It answers an unanswered leg itself with the first voice codec offered (RFC 3264 §6.1), turns
the leg's endpoint to echo (the relay path, no decoding), and answers re-INVITEs itself, so
hold and resume work against it too. A leg moved here mid-call hears itself from then on.
"""

from __future__ import annotations

from softswitch.call_record import Side
from softswitch.calls.application import CallServices, answer_here, answer_reoffer_here
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg, LegEnded, LegEvent, LegReoffered
from softswitch.calls.routing import RouteTarget
from softswitch.sip.sdp import answer_codecs


class EchoApplication:
    kind = "echo"

    def __init__(self, services: CallServices, call: Call) -> None:
        self.services = services
        self.call = call
        self.legs: list[Leg] = []

    @classmethod
    def create(cls, target: RouteTarget, services: CallServices, call: Call) -> EchoApplication:
        return cls(services, call)

    def attach(self, leg: Leg) -> None:
        """Answer (or, moved here answered, just echo) at once: nothing to wait for."""
        media = leg.media
        assert media is not None, "a leg is attached once its media endpoint is open"
        self.legs.append(leg)
        if leg.unanswered:
            assert leg.remote_audio is not None
            answer_here(leg, answer_codecs(leg.remote_audio), self.call.id, self.services.now())
            media.echo()
            self.services.answered(self.call)
        else:
            media.echo()

    def detach(self, leg: Leg) -> None:
        self.legs.remove(leg)
        if leg.media is not None and not leg.media.closed:
            leg.media.unroute()

    def on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegEnded):
            side = Side.SWITCH if event.cause == "no ACK" else event.leg.side
            self.services.hang_up(self.call, side, event.cause)
        elif isinstance(event, LegReoffered):
            answer_reoffer_here(event, self.call.id)
