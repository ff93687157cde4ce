"""Two TransactionLayers wired back to back in memory, with a hand-stepped clock (like h11's
ConnectionPair): every datagram goes through serialize() and parse_message(), as on the wire."""

from __future__ import annotations

from dataclasses import dataclass, field

from softswitch.sip.message import Request, Response, parse_message
from softswitch.sip.transaction import Address, Event, TransactionLayer

CLIENT_PORT = 5070
SERVER_PORT = 5080


@dataclass
class Endpoint:
    layer: TransactionLayer
    address: Address
    events: list[Event] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)  # everything this side put on the wire
    deaf: bool = False  # drop whatever is sent to this side (packet loss)

    def take(self) -> list[Event]:
        events, self.events = self.events, []
        return events

    def sent_lines(self) -> list[str]:
        """The start line of every message sent, e.g. 'INVITE sip:...' or 'SIP/2.0 180 Ringing'."""
        return [data.split(b"\r\n", 1)[0].decode() for data in self.sent]


class Pair:
    def __init__(
        self,
        transport: str = "udp",
        client: TransactionLayer | None = None,
        server: TransactionLayer | None = None,
    ) -> None:
        self.transport = transport
        self.now = 0.0
        # not `client or ...`: an empty layer is falsy (it has __len__)
        client = TransactionLayer() if client is None else client
        server = TransactionLayer() if server is None else server
        self.client = Endpoint(client, (transport, "127.0.0.1", CLIENT_PORT))
        self.server = Endpoint(server, (transport, "127.0.0.1", SERVER_PORT))

    def _peer(self, side: Endpoint) -> Endpoint:
        return self.server if side is self.client else self.client

    def deliver(self, to: Endpoint, data: bytes, source: Address) -> None:
        message = parse_message(data, stream=self.transport != "udp")
        to.events.extend(to.layer.receive(message, source, self.now))

    def pump(self) -> None:
        """Carry queued messages both ways until neither side has anything to send."""
        while True:
            moved = False
            for side in (self.client, self.server):
                for out in side.layer.outgoing():
                    moved = True
                    side.sent.append(out.data)
                    peer = self._peer(side)
                    assert out.address == peer.address, (out.address, peer.address)
                    if not peer.deaf:
                        self.deliver(peer, out.data, side.address)
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        """Move the clock on, firing each timer of either side at its own deadline."""
        target = self.now + seconds
        while True:
            deadlines = [
                d
                for d in (self.client.layer.next_timer(), self.server.layer.next_timer())
                if d is not None and d <= target
            ]
            if not deadlines:
                break
            self.now = max(self.now, min(deadlines))
            for side in (self.client, self.server):
                side.events.extend(side.layer.handle_timer(self.now))
            self.pump()
        self.now = target

    def client_request(self, request: Request) -> None:
        self.client.layer.send_request(request, self.server.address, self.now)
        self.pump()

    def server_respond(self, response: Response) -> None:
        self.server.layer.send_response(response, self.now)
        self.pump()

    def assert_idle(self) -> None:
        """Every transaction and every 2xx awaiting its ACK is gone, and no timer is left."""
        for side in (self.client, self.server):
            assert len(side.layer) == 0
            assert side.layer.awaiting_ack == 0
            assert side.layer.next_timer() is None


def make_request(
    method: str,
    *,
    branch: str | None = "z9hG4bK-1",
    call_id: str = "call-1@127.0.0.1",
    cseq: int = 1,
    to_tag: str | None = None,
    from_tag: str = "caller-tag",
    uri: str = f"sip:bob@127.0.0.1:{SERVER_PORT}",
    transport: str = "UDP",
    routes: tuple[str, ...] = (),
) -> Request:
    """A request as a UAC at 127.0.0.1:CLIENT_PORT builds it; branch None makes an RFC 2543 one."""
    via = f"SIP/2.0/{transport} 127.0.0.1:{CLIENT_PORT}"
    if branch is not None:
        via += f";branch={branch}"
    to = f"<sip:bob@127.0.0.1:{SERVER_PORT}>" + (f";tag={to_tag}" if to_tag else "")
    headers = [("Via", via)]
    headers.extend(("Route", route) for route in routes)
    headers += [
        ("Max-Forwards", "70"),
        ("From", f"<sip:alice@127.0.0.1:{CLIENT_PORT}>;tag={from_tag}"),
        ("To", to),
        ("Call-ID", call_id),
        ("CSeq", f"{cseq} {method}"),
        ("Contact", f"<sip:alice@127.0.0.1:{CLIENT_PORT}>"),
    ]
    return Request(method, uri, headers)
