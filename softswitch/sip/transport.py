"""The asyncio adapter of the SIP core: UDP and TCP sockets on one port, and the timers.

It parses what arrives, feeds the transaction layer, hands the layer's events to the application,
sends what the layer queued and re-arms one `loop.call_at` for the layer's next deadline (the
aioquic pattern). Nothing else in `softswitch.sip` touches a socket or the clock.

Responses go back to the address a request came from, whether or not the Via asked for rport
(RFC 3581 behaviour forced on, as Asterisk's default `force_rport` does): phones behind NAT are
reachable that way, and the Via gets `received` and `rport` filled in for the record.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import (
    DEFAULT_MAX_MESSAGE_SIZE,
    REASON_PHRASES,
    Request,
    Response,
    StreamFramer,
    canonical_name,
    parse_message,
    split_list,
    warning_value,
)
from softswitch.sip.transaction import Address, Event, TransactionKey, TransactionLayer

log = logging.getLogger("softswitch.sip")
security_log = logging.getLogger("softswitch.security")

# Branches we generate carry this mark after the RFC 3261 magic cookie, so that a request of ours
# that comes back (a trunk pointing at the switch itself) is recognised as a loop (482).
OUR_BRANCH_PREFIX = "z9hG4bK-ss-"

COUNTED_METHODS = frozenset(
    {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK"}
    | {"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER"}
)

EventHandler = Callable[[Event], None]
DestinationPolicy = Callable[[str], bool]


class TransportError(Exception):
    """A socket could not be opened (port in use, address not available)."""


@dataclass(slots=True)
class TransportCounters:
    """Plain counters read by the metrics collector at scrape time."""

    requests_in: dict[str, int]
    requests_out: dict[str, int]
    responses_in: dict[int, int]
    responses_out: dict[int, int]
    parse_errors: int = 0
    refused_destinations: int = 0


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.owner.received(data, ("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class _TcpProtocol(asyncio.Protocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.framer = StreamFramer(owner.max_message_size)
        self.transport: asyncio.Transport | None = None
        self.address: Address | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = ("tcp", peer[0], peer[1])
        self.owner.connections[self.address] = self

    def data_received(self, data: bytes) -> None:
        assert self.address is not None and self.transport is not None
        try:
            messages, pings = self.framer.feed(data)
        except RemoteProtocolError as exc:
            log.info("closing TCP connection from %s:%s: %s", *self.address[1:], exc)
            self.transport.close()
            return
        if pings:
            self.transport.write(b"\r\n" * pings)  # RFC 5626 §4.4.1 pong
        for message in messages:
            self.owner.received(message, self.address, stream=True)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is not None and self.owner.connections.get(self.address) is self:
            del self.owner.connections[self.address]


class SipTransport:
    """Owns the SIP sockets and drives a TransactionLayer; the application gets its events."""

    def __init__(
        self,
        layer: TransactionLayer,
        handler: EventHandler,
        *,
        host: str,
        port: int,
        transports: tuple[str, ...] = ("udp", "tcp"),
        allowed: DestinationPolicy = lambda host: True,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        self.layer = layer
        self.handler = handler
        self.host = host
        self.port = port
        self.transports = transports
        self.allowed = allowed
        self.max_message_size = max_message_size
        self.loop = asyncio.get_running_loop()
        self.connections: dict[Address, _TcpProtocol] = {}
        self.counters = TransportCounters({}, {}, {}, {})
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp_server: asyncio.Server | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._pending_tcp: dict[Address, list[bytes]] = {}

    async def start(self) -> None:
        try:
            if "udp" in self.transports:
                # Bound here rather than by the loop, whose error for a port in use (uvloop's)
                # loses the errno and so the reason an operator needs to read.
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    sock.bind((self.host, self.port))
                except OSError:
                    sock.close()
                    raise
                sock.setblocking(False)
                udp, _ = await self.loop.create_datagram_endpoint(
                    lambda: _UdpProtocol(self), sock=sock
                )
                self._udp = udp
                if self.port == 0:
                    self.port = udp.get_extra_info("sockname")[1]
            if "tcp" in self.transports:
                self._tcp_server = await self.loop.create_server(
                    lambda: _TcpProtocol(self), self.host, self.port, reuse_address=True
                )
                if self.port == 0:
                    self.port = self._tcp_server.sockets[0].getsockname()[1]
        except OSError as exc:
            await self.stop()
            raise TransportError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            for conn in list(self.connections.values()):
                if conn.transport is not None:
                    conn.transport.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None

    # inbound -----------------------------------------------------------------------------
    def received(self, data: bytes, source: Address, *, stream: bool = False) -> None:
        if not stream and data.strip(b"\r\n") == b"":
            return  # RFC 5626 keepalive on UDP
        now = self.loop.time()
        try:
            message = parse_message(data, stream=stream, max_size=self.max_message_size)
        except RemoteProtocolError as exc:
            self.counters.parse_errors += 1
            self._reject_unparseable(data, source, exc)
            return
        message.received_at = now
        if isinstance(message, Request):
            counts = self.counters.requests_in
            # Counted by name only for methods we know: a peer must not grow this table at will.
            method = message.method if message.method in COUNTED_METHODS else "other"
            counts[method] = counts.get(method, 0) + 1
            self._stamp_via(message, source)
        else:
            codes = self.counters.responses_in
            codes[message.status] = codes.get(message.status, 0) + 1
        try:
            events = self.layer.receive(message, source, now)
        except Exception:  # a bug in the layer must not take the socket down
            log.exception("transaction layer failed on a message from %s:%s", *source[1:])
            return
        for event in events:
            self.handler(event)
        self.flush()

    def _stamp_via(self, request: Request, source: Address) -> None:
        """RFC 3261 §18.2.1 received, RFC 3581 rport: record where the request really came from."""
        via = request.top_via
        if via.host.strip("[]") != source[1]:
            via.params["received"] = source[1]
        via.params["rport"] = str(source[2])
        headers = request.headers
        for i, (name, value) in enumerate(headers):
            if name == "Via":
                parts = split_list(value)
                parts[0] = via.serialize()
                headers[i] = ("Via", ", ".join(parts))
                break

    def _reject_unparseable(self, data: bytes, source: Address, exc: RemoteProtocolError) -> None:
        """Answer a broken request statelessly when enough of it can be read; drop the rest."""
        response = _stateless_error(data, exc)
        if response is None:
            log.debug("dropped unparseable message from %s:%s: %s", source[1], source[2], exc)
            return
        log.info("rejected request from %s:%s: %s", source[1], source[2], exc)
        self._count_response_out(exc.status_hint)
        self.send_raw(response, source)

    # outbound ----------------------------------------------------------------------------
    def send_request(self, request: Request, destination: Address) -> TransactionKey | None:
        """Start a client transaction; None when the policy forbids the destination."""
        if not self._allowed(destination):
            return None
        counts = self.counters.requests_out
        counts[request.method] = counts.get(request.method, 0) + 1
        key = self.layer.send_request(request, destination, self.loop.time())
        self.flush()
        return key

    def send_response(self, response: Response) -> None:
        self._count_response_out(response.status)
        self.layer.send_response(response, self.loop.time())
        self.flush()

    def send_ack(self, ack: Request, destination: Address) -> None:
        if not self._allowed(destination):
            return
        counts = self.counters.requests_out
        counts["ACK"] = counts.get("ACK", 0) + 1
        self.layer.send_ack(ack, destination)
        self.flush()

    def cancel(self, invite_key: TransactionKey, cancel: Request) -> None:
        counts = self.counters.requests_out
        counts["CANCEL"] = counts.get("CANCEL", 0) + 1
        self.layer.cancel(invite_key, cancel, self.loop.time())
        self.flush()

    def _count_response_out(self, status: int) -> None:
        codes = self.counters.responses_out
        codes[status] = codes.get(status, 0) + 1

    def _allowed(self, destination: Address) -> bool:
        if self.allowed(destination[1]):
            return True
        self.counters.refused_destinations += 1
        security_log.warning(
            "refused to send SIP to %s (not in allowed_destinations)", destination[1]
        )
        return False

    def flush(self) -> None:
        for item in self.layer.outgoing():
            self.send_raw(item.data, item.address)
        self._arm_timer()

    def send_raw(self, data: bytes, destination: Address) -> None:
        if not self.allowed(destination[1]):
            self.counters.refused_destinations += 1
            return
        transport, host, port = destination
        if transport == "tcp":
            conn = self.connections.get(destination)
            if conn is not None and conn.transport is not None:
                conn.transport.write(data)
            else:
                self._connect_and_send(destination, data)
        elif self._udp is not None:
            self._udp.sendto(data, (host, port))

    def _connect_and_send(self, destination: Address, data: bytes) -> None:
        pending = self._pending_tcp.get(destination)
        if pending is not None:
            pending.append(data)
            return
        self._pending_tcp[destination] = [data]

        async def connect() -> None:
            try:
                _, protocol = await self.loop.create_connection(
                    lambda: _TcpProtocol(self), destination[1], destination[2]
                )
            except OSError as exc:
                log.info("TCP connect to %s:%s failed: %s", destination[1], destination[2], exc)
                self._pending_tcp.pop(destination, None)
                return
            for chunk in self._pending_tcp.pop(destination, []):
                assert protocol.transport is not None
                protocol.transport.write(chunk)

        task = self.loop.create_task(connect())
        task.add_done_callback(lambda t: None)

    def new_branch(self) -> str:
        return OUR_BRANCH_PREFIX + secrets.token_hex(8)

    def via_for(self, transport: str, advertise: str) -> str:
        return (
            f"SIP/2.0/{transport.upper()} {advertise}:{self.port};branch={self.new_branch()};rport"
        )

    # timers ------------------------------------------------------------------------------
    def _arm_timer(self) -> None:
        """Keep one wake-up no later than the layer's next deadline.

        Only an earlier deadline re-arms it: a wake-up that finds nothing due costs less than
        cancelling and re-creating the timer after every message.
        """
        deadline = self.layer.next_timer()
        if deadline is None or (self._timer_at is not None and self._timer_at <= deadline):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        for event in self.layer.handle_timer(self.loop.time()):
            self.handler(event)
        self.flush()


_ECHOED_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")


def _stateless_error(data: bytes, exc: RemoteProtocolError) -> bytes | None:
    """A best-effort error response to a request we could not parse (RFC 3261 §8.2, §21.4.1).

    The headers a response needs are copied as they came; responses and messages without a
    request line are dropped, as are requests too broken to carry a Via.
    """
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].startswith("SIP/") or " " not in lines[0].strip():
        return None
    copied: list[str] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        canonical = canonical_name(name.strip())
        if canonical in _ECHOED_HEADERS:
            copied.append(f"{canonical}: {value.strip()}")
    if not any(h.startswith("Via:") for h in copied):
        return None
    status = exc.status_hint if 400 <= exc.status_hint <= 699 else 400
    reason = REASON_PHRASES.get(status, "Bad Request")
    out = [f"SIP/2.0 {status} {reason}", *copied, f"Warning: {warning_value(str(exc))}"]
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode("utf-8", "replace")
