"""A leg of the switch and a scripted phone back to back in memory (tests/sip/helpers.py's
Pair underneath), with the clock stepped by hand: the switch's TransactionLayer carries what the
leg's outbox holds, and feeds what it receives back to the leg, as calls/signalling.py does."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from sip.helpers import CLIENT_PORT, SERVER_PORT, Pair

from softswitch.calls.leg import (
    ALLOWED_METHODS,
    Leg,
    LegEvent,
    LegSettings,
    Outbox,
    Purpose,
    SendAck,
    SendCancel,
    SendRequest,
    SendResponse,
)
from softswitch.sip.message import Request, Response, make_response
from softswitch.sip.transaction import (
    AckTimedOut,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    TransactionKey,
    TransactionTimedOut,
)

SWITCH = ("udp", "127.0.0.1", SERVER_PORT)
PHONE = ("udp", "127.0.0.1", CLIENT_PORT)

SDP_TEMPLATE = (
    "v=0\r\no=- 1 {version} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na={direction}\r\n"
)


def phone_sdp(direction: str = "sendrecv", port: int = 4000, version: int = 1) -> bytes:
    return SDP_TEMPLATE.format(direction=direction, port=port, version=version).encode()


class FakeMedia:
    """What a leg reads of its media endpoint to write SDP: the port."""

    port = 30000


@dataclass
class LegPair:
    pair: Pair = field(default_factory=Pair)
    outbox: Outbox = field(default_factory=list)
    events: list[LegEvent] = field(default_factory=list)
    keys: dict[TransactionKey, tuple[Leg, Purpose]] = field(default_factory=dict)
    legs: list[Leg] = field(default_factory=list)
    invites: list[RequestReceived] = field(default_factory=list)  # new INVITEs from the phone
    _branches: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.settings = LegSettings(
            advertise="127.0.0.1",
            contact=lambda transport: f"<sip:softswitch@127.0.0.1:{SERVER_PORT}>",
            via=lambda transport: (
                f"SIP/2.0/UDP 127.0.0.1:{SERVER_PORT};branch=z9hG4bK-sw{next(self._branches)}"
            ),
            allow=", ".join(ALLOWED_METHODS),
            user_agent="leg-pair",
        )

    @property
    def now(self) -> float:
        return self.pair.now

    # ---- the switch side ---------------------------------------------------------------
    def flush(self) -> None:
        """Send what the legs queued, then carry it over and feed back what came in."""
        layer = self.pair.server.layer
        while self.outbox:
            out = self.outbox.pop(0)
            if isinstance(out, SendResponse):
                layer.send_response(out.response, self.now)
            elif isinstance(out, SendRequest):
                key = layer.send_request(out.request, out.leg.peer, self.now)
                self.keys[key] = (out.leg, out.purpose)
                self.events += out.leg.request_sent(out.purpose, key, self.now)
            elif isinstance(out, SendAck):
                layer.send_ack(out.ack, out.leg.peer)
            elif isinstance(out, SendCancel):
                assert out.leg.invite_key is not None
                layer.cancel(out.leg.invite_key, out.cancel, self.now)
        self.pair.pump()
        self._dispatch()

    def _dispatch(self) -> None:
        for event in self.pair.server.take():
            if isinstance(event, RequestReceived):
                request = event.request
                leg = self._leg_for(request)
                if request.method == "ACK":
                    if leg is not None:
                        leg.receive_ack(request, self.now)
                elif leg is not None:
                    self.events += leg.receive_request(request, self.now)
                else:
                    self.invites.append(event)
            elif isinstance(event, ResponseReceived):
                found = self.keys.get(event.key)
                if found is not None:
                    leg, purpose = found
                    self.events += leg.receive_response(event.response, purpose, self.now)
            elif isinstance(event, CancelReceived):
                for leg in self.legs:
                    if leg.invite_key == event.invite_key:
                        self.events += leg.receive_cancel(self.now)
            elif isinstance(event, TransactionTimedOut):
                found = self.keys.get(event.key)
                if found is not None:
                    self.events += found[0].request_timed_out(found[1], self.now)
            elif isinstance(event, AckTimedOut):
                for leg in self.legs:
                    if leg.invite.call_id == event.call_id:
                        self.events += leg.ack_timed_out(self.now)
        if self.outbox:
            self.flush()

    def _leg_for(self, request: Request) -> Leg | None:
        for leg in self.legs:
            dialog = leg.dialog
            if dialog is not None and dialog.id == (
                request.call_id,
                request.to.tag or "",
                request.from_.tag or "",
            ):
                return leg
        return None

    def take(self) -> list[LegEvent]:
        events, self.events = self.events, []
        return events

    def advance(self, seconds: float) -> None:
        self.pair.advance(seconds)
        self._dispatch()

    # ---- the phone side ----------------------------------------------------------------
    def phone_sends(self, request: Request) -> None:
        layer = self.pair.client.layer
        if request.method == "ACK":
            layer.send_ack(request, SWITCH)
        else:
            layer.send_request(request, SWITCH, self.now)
        self.pair.pump()

    def phone_responds(self, response: Response) -> None:
        self.pair.client.layer.send_response(response, self.now)
        self.pair.pump()
        self._dispatch()

    def phone_requests(self) -> list[Request]:
        """What reached the phone's TU; a CANCEL comes as its own event (answered 200)."""
        requests: list[Request] = []
        for event in self.pair.client.take():
            if isinstance(event, RequestReceived):
                requests.append(event.request)
            elif isinstance(event, CancelReceived):
                requests.append(event.cancel)
        return requests

    def phone_responses(self) -> list[Response]:
        return [e.response for e in self.pair.client.take() if isinstance(e, ResponseReceived)]


def answer(request: Request, status: int, tag: str = "phone-tag", body: bytes = b"") -> Response:
    extra = [("Contact", f"<sip:phone@127.0.0.1:{CLIENT_PORT}>")]
    if body:
        extra.append(("Content-Type", "application/sdp"))
    return make_response(request, status, to_tag=tag, extra=extra, body=body)
