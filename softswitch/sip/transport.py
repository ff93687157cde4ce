"""The asyncio adapter of the SIP core: UDP and TCP sockets on one port, TLS on another, timers.

It parses what arrives, feeds the transaction layer, hands the layer's events to the application,
sends what the layer queued and re-arms one `loop.call_at` for the layer's next deadline (the
aioquic pattern). Nothing else in `softswitch.sip` touches a socket or the clock.

It is also the adapter of the security cores (`softswitch.security`): every datagram and every
framed stream message is offered to the `SourceGuard` by source address before it is parsed
(a refused one is dropped unanswered), stream connections are counted against their caps and
closed when idle or too slow to finish a message, and the guard's events become security log
lines. A once-a-second housekeeping call drives those deadlines.

Responses go back to the address a request came from, whether or not the Via asked for rport
(RFC 3581 behaviour forced on, as Asterisk's default `force_rport` does): phones behind NAT are
reachable that way, and the Via gets `received` and `rport` filled in for the record.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from softswitch.security import log as security_lines
from softswitch.security.connections import ConnectionLimits, StreamActivity
from softswitch.security.guard import Refusal, SourceGuard
from softswitch.security.settings import SecurityConfig, TcpConfig
from softswitch.security.tls import TlsClientContext
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.framing import StreamFramer
from softswitch.sip.headers import REASON_PHRASES, canonical_name, split_list
from softswitch.sip.message import (
    DEFAULT_MAX_MESSAGE_SIZE,
    Request,
    Response,
    parse_message,
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
STREAM_TRANSPORTS = frozenset({"tcp", "tls"})
HOUSEKEEPING_INTERVAL_S = 1.0
TLS_BACKLOG = 1024


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
        self.admit = owner.guard.admit
        self.time = owner.loop.time

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        # Before parsing: a refused source costs one dict lookup, not a parse.
        now = self.time()
        if self.admit(addr[0], now, data[:4] != b"SIP/"):
            self.owner.received(data, ("udp", addr[0], addr[1]), now=now)
        elif self.owner.guard.pending:
            self.owner.write_security_events()

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP error: %s", exc)


class _TcpProtocol(asyncio.Protocol):
    """One stream connection, TCP or TLS.

    asyncio calls `connection_made` after a TLS handshake, so inbound TLS connections are checked
    and counted earlier, when the transport accepts them (`precounted`): a flood of connections
    that never finish a handshake meets the same caps as any other.
    """

    def __init__(
        self,
        owner: SipTransport,
        name: str = "tcp",
        *,
        outbound: bool = False,
        precounted: bool = False,
    ) -> None:
        self.owner = owner
        self.name = name
        self.outbound = outbound
        self.precounted = precounted
        self.framer = StreamFramer(min(owner.max_message_size, owner.tcp.max_pending_bytes))
        self.transport: asyncio.Transport | None = None
        self.address: Address | None = None
        self.activity = StreamActivity(owner.loop.time())
        self.counted = False  # against ConnectionLimits (inbound connections only)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.address = (self.name, peer[0], peer[1])
        owner = self.owner
        if self.precounted:
            self.counted = True
        elif not self.outbound:
            now = owner.loop.time()
            if not owner.guard.admit(peer[0], now):
                self._refused()
                return
            problem = owner.limits.open(peer[0])
            if problem is not None:
                owner.guard.refuse(peer[0], Refusal.CONNECTIONS, now, f"{self.name} {problem}")
                self._refused()
                return
            self.counted = True
        owner.connections[self.address] = self

    def _refused(self) -> None:
        assert self.transport is not None
        self.transport.abort()
        self.owner.write_security_events()

    def data_received(self, data: bytes) -> None:
        if self.address is None or self.transport is None or self.transport.is_closing():
            return
        owner = self.owner
        now = owner.loop.time()
        try:
            messages, pings = self.framer.feed(data)
        except RemoteProtocolError as exc:
            owner.guard.refuse(self.address[1], Refusal.OVERSIZED, now, f"{self.name} {exc}")
            self.close(f"{exc}")
            return
        self.activity.received(now, self.framer.pending_bytes, completed=bool(messages))
        if pings:
            self.transport.write(b"\r\n" * pings)  # RFC 5626 §4.4.1 pong
        for message in messages:
            if owner.guard.admit(self.address[1], now, message[:4] != b"SIP/"):
                owner.received(message, self.address, stream=True, now=now)
            elif owner.guard.banned(self.address[1], now):
                self.close("source banned")
                break
        if owner.guard.pending:
            owner.write_security_events()

    def close(self, why: str) -> None:
        assert self.address is not None and self.transport is not None
        log.info("closing %s connection from %s:%s: %s", self.name.upper(), *self.address[1:], why)
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is not None and self.owner.connections.get(self.address) is self:
            del self.owner.connections[self.address]
        if self.counted and self.address is not None:
            self.owner.limits.close(self.address[1])
            self.counted = False


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
        guard: SourceGuard | None = None,
        tcp: TcpConfig | None = None,
        tls_port: int = 0,
        tls_server: ssl.SSLContext | None = None,
        tls_client: TlsClientContext | None = None,
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
        self.guard = guard or SourceGuard(SecurityConfig(rate_limit_requests=0))
        self.tcp = tcp or TcpConfig()
        self.limits = ConnectionLimits(self.tcp)
        self.tls_port = tls_port
        self.tls_server = tls_server
        self.tls_client = tls_client
        self._tls_listener: socket.socket | None = None
        self._tls_accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Listen on every transport, and only then read UDP: a caller that got an answer over
        UDP may at once use TCP or TLS, so those must already accept (seen as a refused TCP
        connect on a loaded machine when UDP was read first)."""
        udp_sock: socket.socket | None = None
        try:
            if "udp" in self.transports:
                # Bound here rather than by the loop, whose error for a port in use (uvloop's)
                # loses the errno and so the reason an operator needs to read.
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                udp_sock = socket.socket(family, socket.SOCK_DGRAM)
                try:
                    udp_sock.bind((self.host, self.port))
                except OSError:
                    udp_sock.close()
                    udp_sock = None
                    raise
                udp_sock.setblocking(False)
                if self.port == 0:
                    self.port = udp_sock.getsockname()[1]
            if "tcp" in self.transports:
                self._tcp_server = await self.loop.create_server(
                    lambda: _TcpProtocol(self), self.host, self.port, reuse_address=True
                )
                if self.port == 0:
                    self.port = self._tcp_server.sockets[0].getsockname()[1]
        except OSError as exc:
            if udp_sock is not None:
                udp_sock.close()
            await self.stop()
            raise TransportError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        if "tls" in self.transports:
            assert self.tls_server is not None, "a TLS listener needs its server context"
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            listener = socket.socket(family, socket.SOCK_STREAM)
            try:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                listener.bind((self.host, self.tls_port))
                listener.listen(TLS_BACKLOG)
            except OSError as exc:
                listener.close()
                if udp_sock is not None:
                    udp_sock.close()
                await self.stop()
                raise TransportError(
                    f"cannot listen for TLS on {self.host}:{self.tls_port}: {exc.strerror or exc}"
                ) from exc
            listener.setblocking(False)
            self._tls_listener = listener
            self.tls_port = listener.getsockname()[1]
            self._tls_accepting = self.loop.create_task(
                self._accept_tls(listener, self.tls_server), name="sip-tls-accept"
            )
        if udp_sock is not None:
            udp, _ = await self.loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), sock=udp_sock
            )
            self._udp = udp
        self._housekeeping = self.loop.call_later(HOUSEKEEPING_INTERVAL_S, self._housekeep)

    async def _accept_tls(self, listener: socket.socket, context: ssl.SSLContext) -> None:
        """Accept TLS connections as TCP, check and count them, then shake hands."""
        while True:
            try:
                conn, peer = await self.loop.sock_accept(listener)
            except OSError as exc:  # out of file descriptors, say: keep accepting
                log.warning("TLS accept failed: %s", exc)
                await asyncio.sleep(HOUSEKEEPING_INTERVAL_S)
                continue
            now = self.loop.time()
            host = peer[0]
            if not self.guard.admit(host, now):
                conn.close()
                self.write_security_events()
                continue
            problem = self.limits.open(host)
            if problem is not None:
                self.guard.refuse(host, Refusal.CONNECTIONS, now, f"tls {problem}")
                conn.close()
                self.write_security_events()
                continue
            conn.setblocking(False)
            task = self.loop.create_task(self._tls_handshake(conn, peer, context))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _tls_handshake(
        self, conn: socket.socket, peer: tuple[str, int], context: ssl.SSLContext
    ) -> None:
        try:
            await self.loop.connect_accepted_socket(
                lambda: _TcpProtocol(self, "tls", precounted=True),
                conn,
                ssl=context,
                # A handshake that never ends is a slow message too.
                ssl_handshake_timeout=self.tcp.message_timeout_s,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.limits.close(peer[0])
            why = str(exc) or type(exc).__name__
            self.guard.refuse(peer[0], Refusal.TLS_HANDSHAKE, self.loop.time(), why)
            log.info("closing TLS connection from %s:%s: %s", peer[0], peer[1], why)
            conn.close()
            self.write_security_events()

    def port_of(self, transport: str) -> int:
        """The port we listen on for `transport`: TLS has its own (5061 by default)."""
        return self.tls_port if transport == "tls" else self.port

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            self._housekeeping = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tls_accepting is not None:
            self._tls_accepting.cancel()
            self._tls_accepting = None
        for handshake in list(self._handshakes):
            handshake.cancel()
        if self._tls_listener is not None:
            self._tls_listener.close()
            self._tls_listener = None
        if self._tcp_server is not None:
            self._tcp_server.close()
        for conn in list(self.connections.values()):
            if conn.transport is not None:
                conn.transport.close()
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
            self._tcp_server = None
        self.write_security_events()

    # security ----------------------------------------------------------------------------
    def authentication_failed(self, host: str, detail: str) -> None:
        """A failed login from `host` (the authenticator reports here); bans follow from it."""
        self.guard.authentication_failed(host, self.loop.time(), detail)
        self.write_security_events()

    def write_security_events(self) -> None:
        security_lines.write(self.guard.events(), security_log)

    def _housekeep(self) -> None:
        """Once a second: the guard's deadlines, and stream connections idle or too slow."""
        # Re-armed first: a bug below must cost one round, never the deadlines for good.
        self._housekeeping = self.loop.call_later(HOUSEKEEPING_INTERVAL_S, self._housekeep)
        now = self.loop.time()
        deadline = self.guard.next_timer()
        if deadline is not None and deadline <= now:
            self.guard.handle_timer(now)
        for conn in list(self.connections.values()):
            if conn.outbound or conn.transport is None or conn.address is None:
                continue
            expired = conn.activity.expired(now, self.tcp)
            if expired is not None:
                self.guard.refuse(conn.address[1], expired, now, conn.name)
                conn.close(
                    "no complete message within tcp.message_timeout_s"
                    if expired is Refusal.SLOW_MESSAGE
                    else "idle longer than tcp.idle_timeout_s"
                )
        self.write_security_events()

    # inbound -----------------------------------------------------------------------------
    def received(
        self, data: bytes, source: Address, *, stream: bool = False, now: float | None = None
    ) -> None:
        if not stream and data.strip(b"\r\n") == b"":
            return  # RFC 5626 keepalive on UDP
        if now is None:
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
        if self.guard.pending:
            self.write_security_events()

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
            "refused-destination %s reason=allowed_destinations",
            security_lines.field("dst", destination[1]),
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
        if transport in STREAM_TRANSPORTS:
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

        name, host, port = destination

        async def connect() -> None:
            tls: ssl.SSLContext | None = None
            server_hostname: str | None = None
            if name == "tls":
                if self.tls_client is None:
                    log.info("no TLS client context: cannot send to %s:%s", host, port)
                    self._pending_tcp.pop(destination, None)
                    return
                tls, server_hostname = self.tls_client(host, port)
            try:
                _, protocol = await self.loop.create_connection(
                    lambda: _TcpProtocol(self, name, outbound=True),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=server_hostname if tls is not None else None,
                    ssl_handshake_timeout=self.tcp.message_timeout_s if tls is not None else None,
                )
            except (OSError, ssl.SSLError, TimeoutError) as exc:
                # A certificate that fails verification lands here (ssl.SSLCertVerificationError).
                why = getattr(exc, "verify_message", None) or exc
                target = security_lines.field("dst", host)
                if isinstance(exc, ssl.SSLError):
                    security_log.warning(
                        "tls-failed %s port=%s %s", target, port, security_lines.field("why", why)
                    )
                log.info("%s connect to %s:%s failed: %s", name.upper(), host, port, why)
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
        port = self.port_of(transport)
        return f"SIP/2.0/{transport.upper()} {advertise}:{port};branch={self.new_branch()};rport"

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
