"""The back-to-back user agent: every call is two independent legs with media anchored here.

It takes the transaction layer's events from the SIP transport, decides what each request means
(registration, a new call, an in-dialog request), and drives both legs of each call: routing,
authentication, SDP rewriting, the RTP relay, ring timeouts, hold, teardown and call records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Protocol

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.calls.admission import Admission
from softswitch.calls.authentication import RequestAuthenticator, Verdict
from softswitch.calls.call import Call, CallState, Leg
from softswitch.calls.nat import reachable
from softswitch.calls.registrar import Registrar
from softswitch.calls.routing import RouteTarget, RoutingPlan
from softswitch.config import Config, Trunk
from softswitch.media.ports import PortsExhausted
from softswitch.media.relay import Direction, MediaEndpoint, MediaRelay, RemoteAddressError
from softswitch.sip.dialog import Dialog, DialogId
from softswitch.sip.digest import build_authorization, parse_challenge
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, make_response, warning_value
from softswitch.sip.sdp import (
    ANSWER_DIRECTION,
    AudioStream,
    SessionDescription,
    answer_codecs,
    has_voice_codec,
    rewrite,
    supported_codecs,
)
from softswitch.sip.transaction import (
    AckTimedOut,
    Address,
    CancelReceived,
    Event,
    RequestReceived,
    ResponseReceived,
    StrayResponse,
    TransactionKey,
    TransactionTimedOut,
    build_cancel,
)
from softswitch.sip.transport import OUR_BRANCH_PREFIX, SipTransport
from softswitch.sip.uri import SipUri, parse_uri, uri_user

log = logging.getLogger("softswitch.calls")

ALLOWED_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE")
KNOWN_UNSUPPORTED = ("SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "PRACK")
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()


class CallRecords(Protocol):
    """Where call detail records go; implemented by the application over the store."""

    def started(self, call: Call) -> None: ...

    def answered(self, call: Call) -> None: ...

    def ended(self, call: Call) -> None: ...


class SetupLatency(Protocol):
    def observe(self, seconds: float) -> None: ...


@dataclass(slots=True)
class CallCounters:
    by_disposition: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Caller:
    number: str
    display: str
    context: str
    trunk: Trunk | None


class B2bua:
    def __init__(
        self,
        config: Config,
        *,
        relay: MediaRelay,
        registrar: Registrar,
        authenticator: RequestAuthenticator,
        records: CallRecords,
        setup_latency: SetupLatency | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.relay = relay
        self.registrar = registrar
        self.authenticator = authenticator
        self.records = records
        self.setup_latency = setup_latency
        self.wall_clock = wall_clock
        self.routing = RoutingPlan(config)
        self.advertise = config.sip.advertised_host
        self.extensions = {ext.number: ext for ext in config.extensions}
        self.trunks_by_name = {trunk.name: trunk for trunk in config.trunks}
        self.counters = CallCounters()
        self.admission = Admission(config.capacity)
        self.transport: SipTransport | None = None
        self.loop = asyncio.get_running_loop()
        self.calls: dict[int, Call] = {}
        self._ids = itertools.count(1)
        self._dialogs: dict[DialogId, tuple[Call, Leg]] = {}
        self._server_invites: dict[TransactionKey, Call] = {}
        self._client: dict[TransactionKey, tuple[Call, Leg, str]] = {}
        self._by_caller_call_id: dict[str, Call] = {}
        self._ring_timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepting = True
        self._all_ended = asyncio.Event()
        self._all_ended.set()

    # wiring --------------------------------------------------------------------------------
    @property
    def sip(self) -> SipTransport:
        assert self.transport is not None, "B2bua.transport is wired by the application"
        return self.transport

    @property
    def active_calls(self) -> int:
        return len(self.calls)

    def contact(self, transport: str = "udp") -> str:
        suffix = f";transport={transport}" if transport in ("tcp", "tls") else ""
        return f"<sip:softswitch@{self.advertise}:{self.sip.port_of(transport)}{suffix}>"

    def handle(self, event: Event) -> None:
        """Entry point for every transaction-layer event."""
        try:
            if isinstance(event, RequestReceived):
                self._on_request(event.request, event.source, event.key)
            elif isinstance(event, ResponseReceived):
                self._on_response(event.response, event.key)
            elif isinstance(event, CancelReceived):
                self._on_cancel(event.invite_key)
            elif isinstance(event, TransactionTimedOut):
                self._on_timeout(event.key)
            elif isinstance(event, AckTimedOut):
                self._on_ack_timeout(event)
            elif isinstance(event, StrayResponse):
                self._on_stray_response(event.response)
        except RemoteProtocolError as exc:
            if isinstance(event, RequestReceived) and event.request.method != "ACK":
                self._reply(event.request, exc.status_hint, warning=str(exc))
            else:
                log.info("ignored bad message: %s", exc)
        except Exception:
            # A bug must cost one request, never the switch: log it and answer 500.
            log.exception("error handling %s", type(event).__name__)
            if isinstance(event, RequestReceived) and event.request.method != "ACK":
                with contextlib.suppress(Exception):
                    self._reply(event.request, 500)

    # requests ------------------------------------------------------------------------------
    def _on_request(self, request: Request, source: Address, key: TransactionKey | None) -> None:
        method = request.method
        if method == "ACK":
            self._on_ack(request)
            return
        unsupported = [
            tag for tag in request.values("Require") if tag.lower() not in SUPPORTED_EXTENSIONS
        ]
        if unsupported and method != "CANCEL":
            self._reply(request, 420, extra=[("Unsupported", ", ".join(unsupported))])
            return
        if request.to.tag is not None:
            self._on_in_dialog(request, source)
            return
        if method == "INVITE":
            self._on_invite(request, source, key)
        elif method == "REGISTER":
            self._on_register(request, source)
        elif method == "OPTIONS":
            self._reply(request, 200, extra=self._capabilities())
        elif method in ("BYE", "CANCEL", "INFO", "UPDATE"):
            self._reply(request, 481)
        elif method in KNOWN_UNSUPPORTED:
            self._reply(request, 405, extra=[("Allow", ", ".join(ALLOWED_METHODS))])
        else:
            self._reply(request, 501, extra=[("Allow", ", ".join(ALLOWED_METHODS))])

    def _capabilities(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ", ".join(ALLOWED_METHODS)),
            ("Accept", "application/sdp"),
            ("Supported", ", ".join(sorted(SUPPORTED_EXTENSIONS))),
            ("User-Agent", self.config.sip.user_agent),
        ]

    def _reply(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        extra: list[tuple[str, str]] | None = None,
        warning: str | None = None,
        to_tag: str | None = None,
        body: bytes = b"",
    ) -> None:
        headers = list(extra or [])
        if warning:
            headers.append(("Warning", warning_value(warning)))
        if status > 100 and to_tag is None and request.to.tag is None:
            to_tag = secrets.token_hex(6)
        response = make_response(request, status, reason, to_tag=to_tag, extra=headers, body=body)
        self.sip.send_response(response)

    def _on_register(self, request: Request, source: Address) -> None:
        decision = self.authenticator.authenticate(request, source, proxy=False)
        if decision.verdict is not Verdict.ACCEPTED:
            assert decision.response is not None
            self.sip.send_response(decision.response)
            return
        assert decision.username is not None
        if decision.username not in self.extensions:
            self._reply(request, 403)
            return
        self.sip.send_response(self.registrar.register(request, source, decision.username))

    def _identify(self, request: Request, source: Address) -> _Caller | Response:
        """Who is calling (issue 3): a registered phone's address, then a trunk, else a challenge.

        Returns the caller, or the response to send instead (challenge or rejection).
        """
        host, port = source[1], source[2]
        trunk: Trunk | None = None
        if self.registrar.extension_at(host, port) is None:
            trunk = self._trunk_at(host, port)
        if trunk is not None and not trunk.inbound_username:
            return self._trunk_caller(request, trunk)
        decision = self.authenticator.authenticate(request, source, proxy=True)
        if decision.verdict is not Verdict.ACCEPTED:
            assert decision.response is not None
            return decision.response
        username = decision.username or ""
        if trunk is not None and username == trunk.inbound_username:
            return self._trunk_caller(request, trunk)
        extension = self.extensions.get(username)
        if extension is None:
            return make_response(request, 403, to_tag=secrets.token_hex(6))
        return _Caller(extension.number, extension.name, extension.context, None)

    def _trunk_caller(self, request: Request, trunk: Trunk) -> _Caller:
        from_ = request.from_
        number = ""
        if from_.uri.lower().startswith(("sip:", "sips:", "tel:")):
            try:
                number = uri_user(parse_uri(from_.uri))
            except RemoteProtocolError:
                number = ""
        display = (from_.display_name or "").strip('"')
        return _Caller(number or "anonymous", display, trunk.context, trunk)

    def _trunk_at(self, host: str, port: int) -> Trunk | None:
        for trunk in self.config.trunks:
            if trunk.host == host and trunk.port in (0, port):
                return trunk
        return None

    def _on_invite(self, request: Request, source: Address, key: TransactionKey | None) -> None:
        if not self.accepting:
            self._reply(request, 503, extra=[("Retry-After", "30")])
            return
        max_forwards = request.header("Max-Forwards")
        if max_forwards is not None and int(max_forwards) == 0:
            self._reply(request, 483)
            return
        if self._is_loop(request):
            self._reply(request, 482)
            return
        if request.body and request.content_type != "application/sdp":
            self._reply(request, 415, extra=[("Accept", "application/sdp")])
            return
        accept = request.values("Accept")
        if accept and not any(
            a.split(";")[0].strip().lower() in ("application/sdp", "application/*", "*/*")
            for a in accept
        ):
            self._reply(request, 406, extra=[("Accept", "application/sdp")])
            return
        identity = self._identify(request, source)
        if isinstance(identity, Response):
            self.sip.send_response(identity)
            return
        if (refused := self.admission.admit(self.loop.time(), len(self.calls))) is not None:
            self._reply(request, 503, extra=[("Retry-After", str(refused.retry_after_s))])
            return
        offer: AudioStream | None = None
        sdp: SessionDescription | None = None
        if request.body:
            sdp = SessionDescription.parse(request.body)
            offer = sdp.audio
            if offer is None or not has_voice_codec(supported_codecs(offer)):
                self._reply(request, 488, warning="no supported audio codec (PCMU, PCMA)")
                return
        number = uri_user(parse_uri(request.uri))
        target = self.routing.resolve(identity.context, number)
        if target is None:
            # Still a call attempt: the CDR shows who dialled what nobody answers to.
            call = self._new_call(request, source, key, identity, RouteTarget("none", "", number))
            self._send_to_caller(call, 404)
            self._end(call, Disposition.UNKNOWN_NUMBER, "404", Side.SWITCH)
            return
        if offer is None or sdp is None:
            self._reply(request, 488, warning="an INVITE without SDP offer is not supported")
            return
        call = self._new_call(request, source, key, identity, target)
        call.caller_leg.offer_sdp = sdp
        self._spawn(self._start_call(call, target, offer))

    def _is_loop(self, request: Request) -> bool:
        """RFC 3261 §16.3 step 4: a request carrying a Via we sent has come back to us."""
        ours = f"{self.advertise}:{self.sip.port}"
        for via in request.vias:
            if via.sent_by == ours and (via.branch or "").startswith(OUR_BRANCH_PREFIX):
                return True
        return False

    def _new_call(
        self,
        request: Request,
        source: Address,
        key: TransactionKey | None,
        identity: _Caller,
        target: RouteTarget,
    ) -> Call:
        if identity.trunk is None:
            direction = CallDirection.OUTBOUND if target.kind == "trunk" else CallDirection.INTERNAL
        else:
            direction = CallDirection.TRANSIT if target.kind == "trunk" else CallDirection.INBOUND
        leg = Leg(Side.CALLER, source, request, secrets.token_hex(6), invite_key=key)
        call = Call(
            id=next(self._ids),
            caller=identity.number,
            callee=target.number,
            direction=direction,
            trunk=(identity.trunk.name if identity.trunk else None)
            or (target.target if target.kind == "trunk" else None),
            started_at=self.wall_clock(),
            setup_started=request.received_at or self.loop.time(),
            caller_leg=leg,
            caller_display=identity.display,
        )
        self.calls[call.id] = call
        self._by_caller_call_id[request.call_id] = call
        self._all_ended.clear()
        if key is not None:
            self._server_invites[key] = call
        self.records.started(call)
        return call

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task failed", exc_info=task.exception())

    async def _start_call(self, call: Call, target: RouteTarget, offer: AudioStream) -> None:
        leg = call.caller_leg
        try:
            leg.media = await self.relay.open_endpoint()
        except PortsExhausted:
            self._fail(call, 503, "no RTP ports left")
            return
        if _ended(call):
            self._release_media(call)
            return
        leg.remote_audio = offer
        try:
            leg.media.set_remote(offer.address, offer.port, offer.rtcp_port)
        except RemoteAddressError as exc:
            self._fail(call, 488, str(exc))
            return
        if target.kind == "echo":
            self._answer_echo(call, offer)
            return
        destinations = [
            (peer, uri)
            for peer, uri in self._callee_addresses(call, target)
            if self.sip.allowed(peer[1])
        ]
        if not destinations:
            if not _ended(call):
                self._fail(call, 503, "no destination is allowed")
            return
        try:
            media = await self.relay.open_endpoint()
        except PortsExhausted:
            self._fail(call, 503, "no RTP ports left")
            return
        if _ended(call):
            self.relay.close(media)
            self._release_media(call)
            return
        self.relay.bridge(call.caller_leg.media, media)  # type: ignore[arg-type]
        # Every registered phone of an extension rings at once; the first to answer takes the
        # call (the others get CANCEL). They share the callee-side media endpoint.
        for peer, request_uri in destinations:
            self._send_callee_invite(call, target, peer, request_uri, media, offer)
        if not call.forks:
            self.relay.close(media)  # no callee leg holds it
            self._fail(call, 503, "no destination is allowed")
            return
        self._ring_timers[call.id] = self.loop.call_later(
            self.config.calls.ring_timeout_s, self._ring_timeout, call
        )

    def _callee_addresses(self, call: Call, target: RouteTarget) -> list[tuple[Address, str]]:
        """Where the callee legs go: each registered phone of an extension, or the trunk.

        A phone is reached at its Contact, or behind NAT where its REGISTER came from (nat.py).
        """
        if target.kind == "extension":
            bindings = self.registrar.lookup(target.target)
            if not bindings:
                self._fail(call, 480, f"extension {target.target} is not registered")
            return reachable(bindings, self.extensions[target.target].nat)
        if target.kind == "trunk":
            trunk = self.trunks_by_name[target.target]
            port = trunk.port or (5061 if trunk.transport == "tls" else 5060)  # RFC 3261 §19.1.2
            uri = SipUri(
                "sips" if trunk.transport == "tls" else "sip", target.number, trunk.host, port
            )
            return [((trunk.transport, trunk.host, port), uri.serialize())]
        self._fail(call, 404, f"destination kind {target.kind} is not available")
        return []

    def _send_callee_invite(
        self,
        call: Call,
        target: RouteTarget,
        peer: Address,
        request_uri: str,
        media: MediaEndpoint,
        offer: AudioStream,
    ) -> None:
        incoming = call.caller_leg.invite
        local_tag = secrets.token_hex(6)
        trunk = self.trunks_by_name.get(target.target) if target.kind == "trunk" else None
        leg = Leg(Side.CALLEE, peer, incoming, local_tag, media=media, trunk=trunk)
        leg.sdp_version = 1
        sdp = rewrite(
            call.caller_sdp,
            address=self.advertise,
            port=media.port,
            codecs=supported_codecs(offer),
            direction=offer.direction,
            session_id=call.id,
            version=leg.sdp_version,
        )
        max_forwards = int(incoming.header("Max-Forwards") or "71") - 1
        display = call.caller_display.replace('"', "")
        from_display = f'"{display}" ' if display else ""
        callee_host = _host_of(request_uri) or peer[1]
        headers = [
            ("Via", self.sip.via_for(peer[0], self.advertise)),
            ("Max-Forwards", str(min(max_forwards, self.config.calls.max_forwards))),
            ("From", f"{from_display}<sip:{call.caller}@{self.advertise}>;tag={local_tag}"),
            ("To", f"<sip:{target.number}@{callee_host}>"),
            ("Call-ID", secrets.token_hex(12) + "@" + self.advertise),
            ("CSeq", "1 INVITE"),
            ("Contact", self.contact(peer[0])),
            ("Allow", ", ".join(ALLOWED_METHODS)),
            ("User-Agent", self.config.sip.user_agent),
            ("Content-Type", "application/sdp"),
        ]
        invite = Request("INVITE", request_uri, headers, sdp.serialize())
        leg.invite = invite
        key = self.sip.send_request(invite, peer)
        if key is None:
            return
        leg.invite_key = key
        call.forks.append(leg)
        if call.callee_leg is None:
            call.callee_leg = leg
        self._track_request(call, leg, key, "INVITE")

    def _answer_echo(self, call: Call, offer: AudioStream) -> None:
        leg = call.caller_leg
        assert leg.media is not None
        codecs = answer_codecs(offer)
        direction = ANSWER_DIRECTION[offer.direction]
        leg.sdp_version = 1
        sdp = rewrite(
            call.caller_sdp,
            address=self.advertise,
            port=leg.media.port,
            codecs=codecs,
            direction=direction,
            session_id=call.id,
            version=leg.sdp_version,
        )
        self.relay.echo(leg.media)
        self._answer_caller(call, sdp.serialize())

    def _answer_caller(self, call: Call, sdp: bytes) -> None:
        leg = call.caller_leg
        leg.dialog = Dialog.as_uas(leg.invite, leg.local_tag)
        self._dialogs[leg.dialog.id] = (call, leg)
        call.state = CallState.ANSWERED
        call.answered_at = self.wall_clock()
        self._cancel_ring_timer(call)
        self._send_to_caller(call, 200, body=sdp)
        self.records.answered(call)

    def _send_to_caller(
        self,
        call: Call,
        status: int,
        reason: str | None = None,
        *,
        body: bytes = b"",
        warning: str | None = None,
    ) -> None:
        leg = call.caller_leg
        extra: list[tuple[str, str]] = []
        if status < 300:
            extra.append(("Contact", self.contact(leg.peer[0])))
            extra.append(("Allow", ", ".join(ALLOWED_METHODS)))
        if body:
            extra.append(("Content-Type", "application/sdp"))
        if not call.first_response_sent and self.setup_latency is not None:
            self.setup_latency.observe(self.loop.time() - call.setup_started)
        call.first_response_sent = True
        self._reply(
            leg.invite,
            status,
            reason,
            extra=extra,
            warning=warning,
            to_tag=leg.local_tag,
            body=body,
        )

    # responses -----------------------------------------------------------------------------
    def _on_response(self, response: Response, key: TransactionKey) -> None:
        entry = self._client.get(key)
        if entry is None:
            self._on_stray_response(response)
            return
        call, leg, purpose = entry
        status = response.status
        if status >= 200:
            self._forget_request(call, key)
        if purpose == "INVITE":
            self._on_invite_response(call, leg, response)
        elif purpose == "REINVITE":
            self._on_reinvite_response(call, leg, key, response)
        elif purpose == "BYE" and status >= 200:
            self._maybe_finish(call)

    def _on_invite_response(self, call: Call, leg: Leg, response: Response) -> None:
        status = response.status
        if status >= 200:
            leg.final_received = True
        if status < 200:
            if status == 100 or call.state is CallState.ANSWERED or call.cancelled:
                return
            self._on_provisional(call, leg, response)
        elif status < 300:
            self._on_callee_answer(call, leg, response)
        else:
            if call.state is CallState.ENDED or call.cancelled:
                self._maybe_finish(call)
                return
            if status in (401, 407) and self._retry_with_credentials(call, leg, response):
                return
            call.fork_failures.append((status, response.reason))
            if any(not fork.final_received for fork in call.forks):
                return  # another phone of the extension is still ringing
            status, reason = _most_telling(call.fork_failures)
            self._callee_failed(call, status, reason)

    def _on_provisional(self, call: Call, leg: Leg, response: Response) -> None:
        audio = None
        if response.body and response.content_type == "application/sdp":
            audio = SessionDescription.parse(response.body).audio
        if response.to.tag and call.state is CallState.ROUTING:
            call.state = CallState.EARLY
        if audio is not None:
            self._set_callee_media(leg, audio)
            body = self._caller_sdp(call, audio)
            self._send_to_caller(call, response.status, response.reason, body=body)
        else:
            self._send_to_caller(call, status=response.status, reason=response.reason)

    def _set_callee_media(self, leg: Leg, audio: AudioStream) -> None:
        leg.remote_audio = audio
        if leg.media is not None:
            try:
                leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
            except RemoteAddressError as exc:
                log.info("callee SDP unusable: %s", exc)
            self.relay.set_direction(leg.media, Direction(ANSWER_DIRECTION[audio.direction]))

    def _caller_sdp(self, call: Call, audio: AudioStream) -> bytes:
        """Our SDP towards the caller, carrying the callee's choice of codecs and direction."""
        return self._leg_sdp(call, call.caller_leg, call.caller_sdp, audio)

    def _on_callee_answer(self, call: Call, leg: Leg, response: Response) -> None:
        if leg.dialog is not None:
            self._send_ack(leg)  # a retransmitted 2xx: our ACK was lost, §13.2.2.4
            return
        leg.dialog = Dialog.as_uac(leg.invite, response)
        self._send_ack(leg)
        leg.confirmed = True
        if call.cancelled or call.state is CallState.ENDED or call.answered_by is not None:
            # Cancelled meanwhile, or another phone of the extension answered first.
            self._send_bye(call, leg)
            return
        call.answered_by = call.callee_leg = leg
        self._dialogs[leg.dialog.id] = (call, leg)
        self._cancel_callee(call)  # the phones still ringing
        audio = None
        if response.body:
            audio = SessionDescription.parse(response.body).audio
        if audio is None:
            audio = leg.remote_audio
        if audio is None:
            self._hang_up(call, Side.SWITCH, "callee answered without SDP")
            return
        self._set_callee_media(leg, audio)
        self._answer_caller(call, self._caller_sdp(call, audio))

    def _retry_with_credentials(self, call: Call, leg: Leg, response: Response) -> bool:
        """Answer a carrier's challenge once with the trunk's credentials (RFC 3261 §22.2)."""
        trunk = leg.trunk
        if trunk is None or not trunk.username or trunk.password is None or leg.auth_attempted:
            return False
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        reply = "Authorization" if response.status == 401 else "Proxy-Authorization"
        challenge = None
        for value in response.header_lines(header):
            try:
                challenge = parse_challenge(value)
                break
            except RemoteProtocolError:
                continue
        if challenge is None:
            return False
        invite = leg.invite
        credentials = build_authorization(
            challenge,
            method="INVITE",
            uri=invite.uri,
            username=trunk.username,
            password=trunk.password,
            cnonce=secrets.token_hex(8),
            nc=1,
        )
        headers = [(name, value) for name, value in invite.headers if name not in ("Via", "CSeq")]
        headers.insert(0, ("Via", self.sip.via_for(leg.peer[0], self.advertise)))
        headers.append(("CSeq", f"{invite.cseq.seq + 1} INVITE"))
        headers.append((reply, credentials))
        retry = Request("INVITE", invite.uri, headers, invite.body)
        key = self.sip.send_request(retry, leg.peer)
        if key is None:
            return False
        leg.auth_attempted = True
        leg.invite = retry
        leg.invite_key = key
        leg.final_received = False
        self._track_request(call, leg, key, "INVITE")
        return True

    def _send_ack(self, leg: Leg) -> None:
        assert leg.dialog is not None
        ack = leg.dialog.create_request(
            "ACK",
            via=self.sip.via_for(leg.peer[0], self.advertise),
            max_forwards=self.config.calls.max_forwards,
            cseq=leg.invite.cseq.seq,
        )
        self.sip.send_ack(ack, leg.peer)

    def _callee_failed(self, call: Call, status: int, reason: str) -> None:
        disposition = {
            486: Disposition.BUSY,
            600: Disposition.BUSY,
            480: Disposition.NO_ANSWER,
            408: Disposition.NO_ANSWER,
            404: Disposition.UNKNOWN_NUMBER,
            484: Disposition.UNKNOWN_NUMBER,
            603: Disposition.FAILED,
        }.get(status, Disposition.FAILED)
        relay_status = status if 400 <= status < 700 else 480
        if status in (401, 407):
            # The carrier challenged our credentials, not the caller's: the caller cannot answer.
            relay_status = 403
        self._send_to_caller(call, relay_status, reason if relay_status == status else None)
        self._end(call, disposition, str(status), Side.CALLEE)

    def _on_reinvite_response(
        self, call: Call, leg: Leg, key: TransactionKey, response: Response
    ) -> None:
        pending = call.pending_reinvites.get(key)
        if pending is None or response.status < 200:
            return
        del call.pending_reinvites[key]
        request, offer_sdp = pending
        source = call.other(leg)
        if source is None:
            return
        if response.status >= 300:
            self._reply(request, response.status, response.reason)
            return
        assert leg.dialog is not None
        leg.dialog.update_target(response)
        ack = leg.dialog.create_request(
            "ACK",
            via=self.sip.via_for(leg.peer[0], self.advertise),
            cseq=response.cseq.seq,
        )
        self.sip.send_ack(ack, leg.peer)
        body = b""
        extra = [("Contact", self.contact(source.peer[0]))]
        if response.body:
            audio = SessionDescription.parse(response.body).audio
            if audio is not None:
                self._set_callee_media(leg, audio)
                body = self._leg_sdp(call, source, offer_sdp, audio)
                extra.append(("Content-Type", "application/sdp"))
        self._reply(request, 200, extra=extra, body=body)

    def _leg_sdp(
        self, call: Call, leg: Leg, offer_sdp: SessionDescription, audio: AudioStream
    ) -> bytes:
        """Our answer towards `leg` to its `offer_sdp`, with the other side's codecs and direction.

        The same answer again (183, then 200) keeps its version (RFC 3264 §8).
        """
        assert leg.media is not None
        shown = (audio.codecs, audio.direction)
        if shown != leg.sdp_shown:
            leg.sdp_version += 1
            leg.sdp_shown = shown
        self.relay.set_direction(leg.media, Direction(audio.direction))
        sdp = rewrite(
            offer_sdp,
            address=self.advertise,
            port=leg.media.port,
            codecs=audio.codecs,
            direction=audio.direction,
            session_id=call.id,
            version=leg.sdp_version,
        )
        return sdp.serialize()

    def _on_stray_response(self, response: Response) -> None:
        """A 2xx retransmission after the INVITE transaction ended: ACK it again (§13.2.2.4)."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        dialog_id = (response.call_id, response.from_.tag or "", response.to.tag or "")
        found = self._dialogs.get(dialog_id)
        if found is not None and found[1].dialog is not None:
            self._send_ack(found[1])

    # in-dialog -----------------------------------------------------------------------------
    def _find_dialog(self, request: Request) -> tuple[Call, Leg] | None:
        return self._dialogs.get((request.call_id, request.to.tag or "", request.from_.tag or ""))

    def _on_in_dialog(self, request: Request, source: Address) -> None:
        found = self._find_dialog(request)
        if found is None:
            self._reply(request, 481)
            return
        call, leg = found
        assert leg.dialog is not None
        leg.dialog.accept_request(request)
        method = request.method
        if method == "BYE":
            self._reply(request, 200)
            self._hang_up(call, leg.role, "BYE")
        elif method == "INVITE":
            self._on_reinvite(call, leg, request)
        elif method in ("OPTIONS", "INFO"):
            self._reply(request, 200)
        elif method == "UPDATE" and not request.body:
            self._reply(request, 200, extra=[("Contact", self.contact(leg.peer[0]))])
        elif method == "UPDATE":
            self._reply(request, 488, warning="UPDATE with SDP is not supported")
        elif method in KNOWN_UNSUPPORTED:
            self._reply(request, 405, extra=[("Allow", ", ".join(ALLOWED_METHODS))])
        else:
            self._reply(request, 501, extra=[("Allow", ", ".join(ALLOWED_METHODS))])

    def _on_reinvite(self, call: Call, leg: Leg, request: Request) -> None:
        """Hold, resume or a new address: carried to the other leg with our SDP (§14)."""
        assert leg.dialog is not None
        other = call.other(leg)
        leg.dialog.update_target(request)
        if not request.body:
            # An offerless re-INVITE only refreshes the session: answer with our current offer.
            body = self._current_sdp(call, leg)
            self._reply(
                request,
                200,
                extra=[("Contact", self.contact(leg.peer[0])), ("Content-Type", "application/sdp")],
                body=body,
            )
            return
        offer_sdp = SessionDescription.parse(request.body)
        audio = offer_sdp.audio
        if audio is None or other is None or other.dialog is None or other.media is None:
            self._reply(request, 488)
            return
        if call.pending_reinvites:
            self._reply(request, 491)  # RFC 3261 §14.2: an offer is already outstanding
            return
        leg.remote_audio = audio
        if leg.media is not None:
            try:
                leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
            except RemoteAddressError:
                self._reply(request, 488)
                return
        other.sdp_version += 1
        sdp = rewrite(
            offer_sdp,
            address=self.advertise,
            port=other.media.port,
            codecs=supported_codecs(audio),
            direction=audio.direction,
            session_id=call.id,
            version=other.sdp_version,
        )
        self.relay.set_direction(other.media, Direction(audio.direction))
        reinvite = other.dialog.create_request(
            "INVITE",
            via=self.sip.via_for(other.peer[0], self.advertise),
            contact=self.contact(other.peer[0]),
            extra=[("Content-Type", "application/sdp")],
            body=sdp.serialize(),
        )
        key = self.sip.send_request(reinvite, other.peer)
        if key is None:
            self._reply(request, 503)
            return
        call.pending_reinvites[key] = (request, offer_sdp)
        self._track_request(call, other, key, "REINVITE")

    def _current_sdp(self, call: Call, leg: Leg) -> bytes:
        assert leg.media is not None
        audio = leg.remote_audio
        codecs = audio.codecs if audio is not None else ()
        leg.sdp_version += 1
        sdp = SessionDescription(
            origin_user="softswitch",
            session_id=call.id,
            session_version=leg.sdp_version,
            origin_address=self.advertise,
            session_name="softswitch",
            audio=AudioStream(self.advertise, leg.media.port, codecs, leg.media.direction.value),
        )
        return sdp.serialize()

    def _on_ack(self, request: Request) -> None:
        found = self._find_dialog(request)
        if found is None:
            return
        _call, leg = found
        if leg.role is Side.CALLER:
            leg.confirmed = True

    def _on_cancel(self, invite_key: TransactionKey) -> None:
        call = self._server_invites.get(invite_key)
        if call is None or call.state in (CallState.ANSWERED, CallState.ENDED):
            return
        call.cancelled = True
        self._send_to_caller(call, 487)
        self._cancel_callee(call)
        self._end(call, Disposition.CANCELLED, "CANCEL", Side.CALLER)

    def _on_timeout(self, key: TransactionKey) -> None:
        entry = self._client.get(key)
        if entry is None:
            return
        call, leg, purpose = entry
        self._forget_request(call, key)
        if purpose == "INVITE":
            leg.final_received = True  # the transaction is gone: nothing left to CANCEL
            if call.state in (CallState.ANSWERED, CallState.ENDED) or call.cancelled:
                self._maybe_finish(call)
                return
            call.fork_failures.append((408, "Request Timeout"))
            if any(not fork.final_received for fork in call.forks):
                return
            status, reason = _most_telling(call.fork_failures)
            self._callee_failed(call, status, reason)
        elif purpose == "REINVITE":
            pending = call.pending_reinvites.pop(key, None)
            if pending is not None:
                self._reply(pending[0], 408)
        elif purpose == "BYE":
            self._maybe_finish(call)

    def _on_ack_timeout(self, event: AckTimedOut) -> None:
        """Our 2xx was never acknowledged: the caller is gone, end the call (§13.3.1.4)."""
        call = self._by_caller_call_id.get(event.call_id)
        if call is not None and not call.caller_leg.confirmed:
            self._hang_up(call, Side.SWITCH, "no ACK")

    # teardown ------------------------------------------------------------------------------
    def _ring_timeout(self, call: Call) -> None:
        self._ring_timers.pop(call.id, None)
        if call.state in (CallState.ANSWERED, CallState.ENDED):
            return
        call.cancelled = True
        self._send_to_caller(call, 480)
        self._cancel_callee(call)
        self._end(call, Disposition.NO_ANSWER, "ring timeout", Side.SWITCH)

    def _cancel_ring_timer(self, call: Call) -> None:
        timer = self._ring_timers.pop(call.id, None)
        if timer is not None:
            timer.cancel()

    def _cancel_callee(self, call: Call) -> None:
        """CANCEL every callee leg still ringing: all before an answer, the others after it."""
        for leg in call.forks:
            if leg.invite_key is None or leg.final_received or leg.cancel_sent:
                continue
            leg.cancel_sent = True
            self.sip.cancel(leg.invite_key, build_cancel(leg.invite))

    def _send_bye(self, call: Call, leg: Leg) -> None:
        if leg.dialog is None or leg.bye_sent:
            return
        leg.bye_sent = True
        bye = leg.dialog.create_request(
            "BYE",
            via=self.sip.via_for(leg.peer[0], self.advertise),
            max_forwards=self.config.calls.max_forwards,
        )
        key = self.sip.send_request(bye, leg.peer)
        if key is not None:
            self._track_request(call, leg, key, "BYE")

    def _hang_up(self, call: Call, side: Side, cause: str) -> None:
        """End an answered (or answering) call from `side`: BYE every other confirmed leg."""
        if call.state is CallState.ENDED:
            return
        for leg in call.legs:
            if leg.role is side:
                continue
            if leg.dialog is not None and (
                leg.role is Side.CALLEE or call.state is CallState.ANSWERED
            ):
                self._send_bye(call, leg)
            elif leg.role is Side.CALLEE:
                self._cancel_callee(call)
            elif not call.first_response_sent or call.state is not CallState.ANSWERED:
                self._send_to_caller(call, 500 if side is Side.SWITCH else 487)
        disposition = Disposition.ANSWERED if call.answered_at is not None else Disposition.FAILED
        self._end(call, disposition, cause, side)

    def _fail(self, call: Call, status: int, reason: str) -> None:
        log.info("call %d failed: %s", call.id, reason)
        if call.state is CallState.ENDED:
            return
        self._send_to_caller(call, status, warning=reason)
        self._end(call, Disposition.FAILED, f"{status} {reason}", Side.SWITCH)

    def _end(self, call: Call, disposition: Disposition, cause: str, side: Side) -> None:
        if call.state is CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.disposition = disposition
        call.hangup_cause = cause
        call.hangup_side = side
        self._cancel_ring_timer(call)
        self._release_media(call)
        self._count(disposition)
        self.records.ended(call)
        self._maybe_finish(call)

    def _release_media(self, call: Call) -> None:
        for leg in call.legs:
            if leg.media is not None:
                self.relay.close(leg.media)
                leg.media = None

    def _maybe_finish(self, call: Call) -> None:
        """Forget a call once it has ended and no request of ours for it is outstanding."""
        if call.state is not CallState.ENDED:
            return
        if call.outstanding:
            return
        self.calls.pop(call.id, None)
        self._by_caller_call_id.pop(call.caller_leg.invite.call_id, None)
        for leg in call.legs:
            if leg.dialog is not None:
                self._dialogs.pop(leg.dialog.id, None)
        key = call.caller_leg.invite_key
        if key is not None:
            self._server_invites.pop(key, None)
        if not self.calls:
            self._all_ended.set()

    def _track_request(self, call: Call, leg: Leg, key: TransactionKey, purpose: str) -> None:
        """Remember a request of ours until its final response: the call lives until then."""
        self._client[key] = (call, leg, purpose)
        call.outstanding += 1

    def _forget_request(self, call: Call, key: TransactionKey) -> None:
        if self._client.pop(key, None) is not None:
            call.outstanding -= 1

    def _count(self, disposition: Disposition) -> None:
        counts = self.counters.by_disposition
        counts[disposition.value] = counts.get(disposition.value, 0) + 1

    def hang_up(self, call: Call, side: Side, cause: str) -> None:
        """End a call on behalf of someone outside SIP (the API): BYE, CANCEL or a final."""
        self._hang_up(call, side, cause)

    def set_media_direction(self, leg: Leg, direction: str) -> str:
        """Hold or resume from the switch (the API) in the relay alone, with no re-INVITE:
        `inactive` stops the leg's media both ways. Returns the direction it had."""
        assert leg.media is not None, "only a leg with media"
        before = leg.media.direction.value
        self.relay.set_direction(leg.media, Direction(direction))
        return before

    def reap_silent_calls(self, now: float) -> int:
        """End answered calls whose media stopped both ways: a peer that vanished without BYE."""
        limit = self.config.calls.media_timeout_s
        if limit <= 0:
            return 0
        silent = [
            call
            for call in self.calls.values()
            if call.state is CallState.ANSWERED
            and all(
                leg.media is not None and leg.media.idle_seconds(now) > limit for leg in call.legs
            )
        ]
        for call in silent:
            log.info("call %d: no media for %.0f s, hanging up", call.id, limit)
            self._hang_up(call, Side.SWITCH, "media timeout")
        return len(silent)

    async def shutdown(self, timeout_s: float) -> None:
        """Stop taking calls (503), end every call with BYE or CANCEL, wait for the answers."""
        self.accepting = False
        for call in list(self.calls.values()):
            if call.state is CallState.ENDED:
                continue  # answered already (a CANCEL's 487): only its callee leg is winding up
            if call.state is CallState.ANSWERED:
                self._hang_up(call, Side.SWITCH, "shutdown")
            else:
                call.cancelled = True
                self._send_to_caller(call, 503)
                self._cancel_callee(call)
                self._end(call, Disposition.FAILED, "shutdown", Side.SWITCH)
        try:
            await asyncio.wait_for(self._all_ended.wait(), timeout_s)
        except TimeoutError:
            log.warning("%d calls still had requests outstanding at shutdown", len(self.calls))
        for task in list(self._tasks):
            task.cancel()


# When every phone of an extension refused, the caller hears the most telling refusal.
_FAILURE_PREFERENCE = (486, 600, 603, 480, 408)


def _most_telling(failures: list[tuple[int, str]]) -> tuple[int, str]:
    for wanted in _FAILURE_PREFERENCE:
        for status, reason in failures:
            if status == wanted:
                return status, reason
    return failures[0]


def _ended(call: Call) -> bool:
    """Re-read after an await: the call may have ended meanwhile (mypy narrows otherwise)."""
    return call.state is CallState.ENDED


def _host_of(uri: str) -> str | None:
    try:
        parsed = SipUri.parse(uri)
    except RemoteProtocolError:
        return None
    return parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
