"""SIP in and out for the call layer: transaction events to legs, legs' messages to the wire.

It takes every event of the transaction layer, answers what needs no call (REGISTER, OPTIONS,
stray requests, 4xx checks of a new INVITE), makes a call with the caller's leg for a routed
INVITE and attaches that leg to the application the destination kind names, and feeds
responses and in-dialog requests to the leg they belong to. The legs are sans-IO: what they
queue in the shared outbox is sent by `flush`, after every step, and their events go to the
application each leg is attached to. It implements `CallServices` for those applications.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Hashable

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.calls.admission import Admission
from softswitch.calls.application import Application, ApplicationRegistry, Timer
from softswitch.calls.audio import detection_for, dtmf_mode, negotiated_codec
from softswitch.calls.authentication import RequestAuthenticator, Verdict
from softswitch.calls.call import Call, CallState
from softswitch.calls.identity import Caller, CallerIdentity
from softswitch.calls.invite_checks import invite_refusal
from softswitch.calls.leg import (
    KNOWN_UNSUPPORTED,
    DigitReceived,
    Leg,
    LegEvent,
    LegSettings,
    Outbox,
    SendAck,
    SendCancel,
    SendRequest,
    SendResponse,
)
from softswitch.calls.leg_index import CallCounters as CallCounters
from softswitch.calls.leg_index import CallObserver as CallObserver
from softswitch.calls.leg_index import CallRecords as CallRecords
from softswitch.calls.leg_index import LegIndex, LegRoute
from softswitch.calls.leg_index import SetupLatency as SetupLatency
from softswitch.calls.media_timeout import vanished
from softswitch.calls.outbound_invite import (
    ALLOW,
    ORIGINATE_CODECS,
    ORIGINATE_SDP,
    Placing,
    outbound_invite,
)
from softswitch.calls.recording import CallRecordings
from softswitch.calls.registrar import Registrar
from softswitch.calls.routing import RouteTarget, RoutingPlan
from softswitch.calls.srtp import LegSrtp, SrtpRefused, answer_offer, reinvite_refusal
from softswitch.calls.srtp import apply as apply_srtp
from softswitch.config import Config, SrtpMode, Trunk
from softswitch.media.dtmf import DigitEnded, DigitEvent
from softswitch.media.endpoint import MediaEndpoint, RemoteAddressError
from softswitch.media.engine import MediaEngine
from softswitch.media.engine_leg import DtmfDetection, EngineLeg
from softswitch.media.moh import MusicOnHold, library_tracks
from softswitch.media.ports import PortsExhausted
from softswitch.media.prompts import PromptLibrary
from softswitch.media.relay import MediaRelay
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import Request, Response, make_response, warning_value
from softswitch.sip.sdp import (
    Codec,
    SessionDescription,
    has_voice_codec,
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
)
from softswitch.sip.transport import SipTransport
from softswitch.sip.uri import parse_uri, uri_user

log = logging.getLogger("softswitch.calls")

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()


class Signalling:
    """The SIP side of every call, and the `CallServices` applications use."""

    def __init__(
        self,
        config: Config,
        *,
        relay: MediaRelay,
        registrar: Registrar,
        authenticator: RequestAuthenticator,
        records: CallRecords,
        applications: ApplicationRegistry,
        setup_latency: SetupLatency | None = None,
        wall_clock: Callable[[], float] = time.time,
        engine: MediaEngine | None = None,
        routing: RoutingPlan | None = None,
    ) -> None:
        self._config = config
        self.relay = relay
        self._registrar = registrar
        self.authenticator = authenticator
        self.records = records
        self.applications = applications
        self.setup_latency = setup_latency
        self.wall_clock = wall_clock
        self.routing = routing if routing is not None else RoutingPlan(config)
        self.identity = CallerIdentity(config, registrar, authenticator)
        self._advertise = config.sip.advertised_host
        self.counters = CallCounters()
        self.admission = Admission(config.capacity)
        self.transport: SipTransport | None = None
        self.loop = asyncio.get_running_loop()
        self._engine = engine if engine is not None else MediaEngine()
        self._engine.use_loop(self.loop)
        self._moh = MusicOnHold(library_tracks(PromptLibrary(config.data.dir / "prompts")))
        self._engine.add_processor(self._moh)
        self.calls: dict[int, Call] = {}
        self.recordings: CallRecordings | None = None  # wired by the application
        self.observers: list[CallObserver] = []
        self.outbox: Outbox = []
        self.settings = LegSettings(
            advertise=self._advertise,
            contact=self.contact,
            via=self._via,
            allow=ALLOW,
            user_agent=config.sip.user_agent,
            max_forwards=config.calls.max_forwards,
        )
        self._ids = itertools.count(1)
        self._leg_ids = itertools.count(1)
        self._index = LegIndex()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepting = True
        self._forgotten = asyncio.Event()  # set each time a call is forgotten (shutdown waits)

    # ---- CallServices ------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    @property
    def registrar(self) -> Registrar:
        return self._registrar

    @property
    def advertise(self) -> str:
        return self._advertise

    @property
    def sip(self) -> SipTransport:
        assert self.transport is not None, "Signalling.transport is wired by the application"
        return self.transport

    def now(self) -> float:
        return self.loop.time()

    def spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = self.loop.create_task(self._then_flush(coro))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def _then_flush(self, coro: Coroutine[object, object, None]) -> None:
        try:
            await coro
        finally:
            self.flush()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call task failed", exc_info=task.exception())

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        def fire() -> None:
            try:
                callback()
            finally:
                self.flush()

        return self.loop.call_later(delay_s, fire)

    async def open_media(self) -> MediaEndpoint:
        return await self.relay.open_endpoint()

    def open_media_now(self) -> MediaEndpoint | None:
        return self.relay.open_endpoint_now()

    def close_media(self, endpoint: MediaEndpoint) -> None:
        leg = self._engine.leg_of(endpoint)
        if leg is not None:
            self._engine.release(leg)
        self.relay.close(endpoint)

    @property
    def engine(self) -> MediaEngine:
        return self._engine

    @property
    def music_on_hold(self) -> MusicOnHold:
        return self._moh

    def take_audio(self, call: Call, leg: Leg, *, inband: bool = True) -> EngineLeg:
        """Put the leg's endpoint in the tick path with the codec its SDP agreed; digits found
        in its media (RFC 4733, in-band, per its trunk's or extension's `dtmf`) reach its
        application as DigitReceived, as SIP INFO digits do. `inband=False`: the application
        passes the audio on (a bridge), so tones reach the far end as they are and the
        Goertzel detector (a quarter of a recorded call's CPU) is not run."""
        assert leg.media is not None, "a leg's audio is taken once its endpoint is open"
        codec = negotiated_codec(leg)
        detection = detection_for(dtmf_mode(self._config, call, leg), codec)
        if detection is DtmfDetection.INBAND and not inband:
            detection = DtmfDetection.RFC4733

        def on_digit(event: DigitEvent) -> None:
            if isinstance(event, DigitEnded) and not leg.ended:
                digit = DigitReceived(
                    leg, self.now(), event.digit, round(event.duration_ms), event.method.value
                )
                self._deliver(call, [digit])
                self.flush()

        return self._engine.take(
            leg.media,
            codec,
            detection=detection or DtmfDetection.RFC4733,
            on_digit=None if detection is None else on_digit,
        )

    def release_audio(self, leg: Leg) -> None:
        """Take the leg out of the tick path (its endpoint is left unrouted)."""
        if leg.media is not None:
            engine_leg = self._engine.leg_of(leg.media)
            if engine_leg is not None:
                self._engine.release(engine_leg)

    def allowed(self, host: str) -> bool:
        return self.sip.allowed(host)

    def dial(
        self,
        call: Call,
        peer: Address,
        request_uri: str,
        to_number: str,
        media: MediaEndpoint,
        template: SessionDescription,
        codecs: tuple[Codec, ...],
        direction: str,
        *,
        trunk: Trunk | None = None,
        srtp: SrtpMode = SrtpMode.OFF,
        caller: str | None = None,
    ) -> Leg:
        max_forwards = int(call.caller_leg.invite.header("Max-Forwards") or "71") - 1
        display = call.caller_display.replace('"', "") if caller is None else ""
        leg = self.outbound_leg(
            call.id, peer, request_uri, to_number, media, template, codecs, direction,
            trunk=trunk, caller=call.caller if caller is None else caller, display=display,
            max_forwards=max_forwards, srtp=srtp,
        )  # fmt: skip
        call.add_leg(leg)
        return leg

    def outbound_leg(
        self,
        call_id: int,
        peer: Address,
        request_uri: str,
        to_number: str,
        media: MediaEndpoint,
        template: SessionDescription,
        codecs: tuple[Codec, ...],
        direction: str,
        *,
        trunk: Trunk | None,
        caller: str,
        display: str = "",
        max_forwards: int = 70,
        srtp: SrtpMode = SrtpMode.OFF,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> Leg:
        """A new outbound leg for call `call_id` (not added to it), its INVITE queued: `dial`'s
        work, and the first leg of a call the switch starts itself (calls/originate.py); `extra`
        headers go in the INVITE (calls/answer.py's auto-answer ones)."""
        placing = Placing(
            self._advertise,
            self._via(peer[0]),
            self.contact(peer[0], sips=request_uri[:5].lower() == "sips:"),
            self._config.sip.user_agent,
            self._config.calls.max_forwards,
        )
        built = outbound_invite(
            placing, session_id=call_id, peer_host=peer[1], peer_transport=peer[0],
            request_uri=request_uri, to_number=to_number, media_port=media.port,
            template=template, codecs=codecs, direction=direction, to_trunk=trunk is not None,
            caller=caller, display=display, max_forwards=max_forwards, srtp=srtp, extra=extra,
        )  # fmt: skip
        invite, leg_srtp = built.invite, built.srtp
        leg = Leg.outbound_to(
            next(self._leg_ids), peer, invite, self.settings, self.outbox, trunk=trunk
        )
        leg.media = media
        leg.srtp = leg_srtp
        apply_srtp(leg)
        leg.sdp_shown = (codecs, direction)
        leg.session_id = call_id
        leg.call_ref = call_id
        return leg

    def originate(
        self,
        caller: str,
        peer: Address,
        request_uri: str,
        to_number: str,
        media: MediaEndpoint,
        *,
        srtp: SrtpMode = SrtpMode.OFF,
    ) -> Call:
        """A call the switch places itself (a queue's callback rings its agent first): its
        first leg is outbound, offering the switch's voice codecs; attach it with `attach`."""
        sdp = SessionDescription.parse(ORIGINATE_SDP)
        call_id = self.next_call_id()
        leg = self.outbound_leg(
            call_id, peer, request_uri, to_number, media, sdp, ORIGINATE_CODECS, "sendrecv",
            trunk=None, caller=caller, srtp=srtp,
        )  # fmt: skip
        call = Call(call_id, caller, to_number, CallDirection.INTERNAL, None, self.wall_clock(),
                    self.loop.time(), leg)  # fmt: skip
        self.start_call(call)
        return call

    def application_for(self, target: RouteTarget, call: Call) -> Application | None:
        if target.kind not in self.applications:
            return None
        return self.applications.create(target, self, call)

    def next_call_id(self) -> int:
        return next(self._ids)

    def start_call(self, call: Call) -> None:
        """A call the switch starts itself (its first leg from `outbound_leg`): known from now
        on, its record opened; its queued INVITE leaves with the next `flush`."""
        self.calls[call.id] = call
        self.records.started(call)
        for observer in self.observers:
            observer.call_started(call)

    def answered(self, call: Call) -> None:
        if call.state is CallState.ANSWERED or call.ended:
            return
        call.state = CallState.ANSWERED
        call.answered_at = self.wall_clock()
        self.records.answered(call)
        for observer in self.observers:
            observer.call_answered(call)

    def end(self, call: Call, disposition: Disposition, cause: str, side: Side) -> None:
        if call.ended:
            return
        call.state = CallState.ENDED
        call.disposition = disposition
        call.hangup_cause = cause
        call.hangup_side = side
        now = self.now()
        for leg in call.legs:
            leg.hang_up(now, status=500)  # whatever an application left up ends with the call
        self._release_media(call)
        counts = self.counters.by_disposition
        counts[disposition.value] = counts.get(disposition.value, 0) + 1
        self.records.ended(call)
        for observer in self.observers:
            observer.call_ended(call)
        self._maybe_finish(call)

    def hang_up(self, call: Call, side: Side, cause: str) -> None:
        if call.ended:
            return
        status = 500 if side is Side.SWITCH else 487
        now = self.now()
        for leg in call.legs:
            leg.hang_up(now, status=status)
        disposition = Disposition.ANSWERED if call.answered_at is not None else Disposition.FAILED
        self.end(call, disposition, cause, side)

    def attach(
        self, call: Call, leg: Leg, application: Application
    ) -> Coroutine[object, object, None] | None:
        call.attachments[leg] = application
        for observer in self.observers:
            observer.leg_attached(call, leg, application)
        return application.attach(leg)

    def move(self, call: Call, leg: Leg, to: Application) -> None:
        old = call.attachments.pop(leg, None)
        if old is not None:
            old.detach(leg)
        pending = self.attach(call, leg, to)
        if pending is not None:
            self.spawn(pending)
        self.flush()

    def find_dialog(self, call_id: str, local_tag: str, remote_tag: str) -> tuple[Call, Leg] | None:
        """The live leg whose dialog this is (a Replaces header names one, RFC 3891 §3)."""
        route = self._index.get((call_id, local_tag, remote_tag))
        if route is None or route.leg.ended:
            return None
        return route.call, route.leg

    def adopt(self, call: Call, leg: Leg, source: Call) -> None:
        """Move an answered leg from `source` into `call` (an attended transfer joins parties
        of two calls): its messages and its media's end now belong to `call`."""
        source.legs.remove(leg)
        source.attachments.pop(leg, None)
        call.add_leg(leg)
        leg.call_ref = call.id
        self._index.rehome(leg, call)

    # ---- sending -----------------------------------------------------------------------
    def contact(self, transport: str = "udp", *, sips: bool = False) -> str:
        """Our Contact; a sips: one toward a sips: Request-URI (RFC 3261 §8.1.1.8)."""
        suffix = f";transport={transport}" if transport in ("tcp", "tls") else ""
        scheme = "sips" if sips else "sip"
        return f"<{scheme}:softswitch@{self._advertise}:{self.sip.port_of(transport)}{suffix}>"

    def _via(self, transport: str) -> str:
        return self.sip.via_for(transport, self._advertise)

    def flush(self) -> None:
        """Send what the legs queued; a request refused at once is an event for its leg."""
        outbox = self.outbox
        sip = self.sip
        while outbox:
            batch = outbox[:]
            outbox.clear()
            for out in batch:
                leg = out.leg
                call = self.calls.get(leg.call_ref)
                if type(out) is SendResponse:
                    if out.first and self.setup_latency is not None and call is not None:
                        self.setup_latency.observe(self.loop.time() - call.setup_started)
                    sip.send_response(out.response)
                    if call is not None and leg.dialog is not None:
                        self._index_dialog(call, leg)
                elif type(out) is SendRequest:
                    key = sip.send_request(out.request, leg.peer)
                    if key is not None and call is not None:
                        self._index.add(key, LegRoute(call, leg, out.purpose))
                    events = leg.request_sent(out.purpose, key, self.loop.time())
                    if events and call is not None:
                        self._deliver(call, events)
                elif type(out) is SendAck:
                    sip.send_ack(out.ack, leg.peer)
                    if call is not None:
                        self._index_dialog(call, leg)
                elif type(out) is SendCancel and leg.invite_key is not None:
                    sip.cancel(leg.invite_key, out.cancel)

    def _index_dialog(self, call: Call, leg: Leg) -> None:
        dialog = leg.dialog
        if dialog is not None and dialog.id not in self._index:
            self._index.add(dialog.id, LegRoute(call, leg))

    def _deliver(self, call: Call, events: list[LegEvent]) -> None:
        for event in events:
            leg = event.leg
            if leg.srtp is not None or (leg.media is not None and leg.media.secured):
                apply_srtp(leg)  # keys an answer or a re-INVITE agreed, before anyone acts
            if type(event) is DigitReceived:
                digits = self.counters.dtmf_digits
                digits[event.method] = digits.get(event.method, 0) + 1
            for observer in self.observers:
                observer.leg_event(call, event)
            app = call.attachments.get(event.leg)
            if app is not None:
                app.on_event(event)
        self._maybe_finish(call)

    def _reply(
        self,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        extra: list[tuple[str, str]] | None = None,
        warning: str | None = None,
    ) -> None:
        headers = list(extra or [])
        if warning:
            headers.append(("Warning", warning_value(warning)))
        to_tag = secrets.token_hex(6) if status > 100 and request.to.tag is None else None
        self.sip.send_response(make_response(request, status, reason, to_tag=to_tag, extra=headers))

    # ---- transaction events ------------------------------------------------------------
    @property
    def active_calls(self) -> int:
        return len(self.calls)

    def handle(self, event: Event) -> None:
        """Entry point for every transaction-layer event."""
        try:
            if isinstance(event, RequestReceived):
                self._on_request(event.request, event.source, event.key)
            elif isinstance(event, ResponseReceived):
                self._on_response(event.response, event.key)
            elif isinstance(event, CancelReceived):
                self._on_leg_event(event.invite_key, lambda leg: leg.receive_cancel(self.now()))
            elif isinstance(event, TransactionTimedOut):
                self._on_timeout(event.key)
            elif isinstance(event, AckTimedOut):
                self._on_leg_event(event.call_id, lambda leg: leg.ack_timed_out(self.now()))
            elif isinstance(event, StrayResponse):
                self._on_stray_response(event.response)
            self.flush()
        except RemoteProtocolError as exc:
            self.outbox.clear()
            if isinstance(event, RequestReceived) and event.request.method != "ACK":
                self._reply(event.request, exc.status_hint, warning=str(exc))
            else:
                log.info("ignored bad message: %s", exc)
        except Exception:
            # A bug must cost one request, never the switch: log it and answer 500.
            log.exception("error handling %s", type(event).__name__)
            self.outbox.clear()
            if isinstance(event, RequestReceived) and event.request.method != "ACK":
                with contextlib.suppress(Exception):
                    self._reply(event.request, 500)

    def _on_leg_event(self, key: Hashable, step: Callable[[Leg], list[LegEvent]]) -> None:
        route = self._index.get(key)
        if route is not None:
            self._deliver(route.call, step(route.leg))

    def _on_request(self, request: Request, source: Address, key: TransactionKey | None) -> None:
        method = request.method
        if method == "ACK":
            route = self._find_dialog(request)
            if route is not None:
                route.leg.receive_ack(request, self.now())
            return
        unsupported = [
            tag for tag in request.values("Require") if tag.lower() not in SUPPORTED_EXTENSIONS
        ]
        if unsupported and method != "CANCEL":
            self._reply(request, 420, extra=[("Unsupported", ", ".join(unsupported))])
            return
        if request.to.tag is not None:
            route = self._find_dialog(request)
            if route is None:
                self._reply(request, 481)
            elif (refused := reinvite_refusal(route.leg, request)) is not None:
                self._reply(request, 488, warning=refused)  # RFC 3261 §14.2: keys kept
            else:
                self._deliver(route.call, route.leg.receive_request(request, self.now()))
            return
        if method == "INVITE":
            self._on_invite(request, source, key)
        elif method == "REGISTER":
            self._on_register(request, source)
        elif method == "OPTIONS":
            self._reply(request, 200, extra=self._capabilities())
        elif method in ("BYE", "CANCEL", "INFO", "UPDATE", "REFER"):
            self._reply(request, 481)
        elif method in KNOWN_UNSUPPORTED:
            self._reply(request, 405, extra=[("Allow", ALLOW)])
        else:
            self._reply(request, 501, extra=[("Allow", ALLOW)])

    def _find_dialog(self, request: Request) -> LegRoute | None:
        return self._index.get((request.call_id, request.to.tag or "", request.from_.tag or ""))

    def _capabilities(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ALLOW),
            ("Accept", "application/sdp"),
            ("Supported", ", ".join(sorted(SUPPORTED_EXTENSIONS))),
            ("User-Agent", self._config.sip.user_agent),
        ]

    def _on_register(self, request: Request, source: Address) -> None:
        decision = self.authenticator.authenticate(request, source, proxy=False)
        if decision.verdict is not Verdict.ACCEPTED:
            assert decision.response is not None
            self.sip.send_response(decision.response)
            return
        assert decision.username is not None
        if decision.username not in self.identity.extensions:
            self._reply(request, 403)
            return
        self.sip.send_response(self._registrar.register(request, source, decision.username))

    def _on_invite(self, request: Request, source: Address, key: TransactionKey | None) -> None:
        if not self.accepting:
            self._reply(request, 503, extra=[("Retry-After", "30")])
            return
        check = invite_refusal(request, f"{self._advertise}:{self.sip.port}")
        if check is not None:
            self._reply(request, check.status, extra=list(check.headers))
            return
        identity = self.identity.identify(request, source)
        if isinstance(identity, Response):
            self.sip.send_response(identity)
            return
        if (refused := self.admission.admit(self.loop.time(), len(self.calls))) is not None:
            self._reply(request, 503, extra=[("Retry-After", str(refused.retry_after_s))])
            return
        sdp: SessionDescription | None = None
        if request.body:
            sdp = SessionDescription.parse(request.body)
            offer = sdp.audio
            if offer is None or not has_voice_codec(supported_codecs(offer)):
                self._reply(request, 488, warning="no supported audio codec (PCMU, PCMA)")
                return
        try:
            srtp = None if sdp is None else self._answer_srtp(identity, source, sdp)
        except SrtpRefused as exc:
            self._reply(request, 488, warning=exc.reason)
            return
        number = uri_user(parse_uri(request.uri))
        target = self.routing.resolve(identity.context, number)
        if target is None:
            # Still a call attempt: the CDR shows who dialled what nobody answers to.
            call = self._new_call(request, source, key, identity, RouteTarget("none", "", number))
            call.caller_leg.reject(404, now=self.now())
            self.end(call, Disposition.UNKNOWN_NUMBER, "404", Side.SWITCH)
            return
        if sdp is None:
            self._reply(request, 488, warning="an INVITE without SDP offer is not supported")
            return
        call = self._new_call(request, source, key, identity, target, sdp)
        call.caller_leg.srtp = srtp
        task = self.loop.create_task(self._start_call(call, target))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _answer_srtp(
        self, identity: Caller, source: Address, sdp: SessionDescription
    ) -> LegSrtp | None:
        """The caller leg's SRTP from its offer and its extension's or trunk's `srtp`."""
        assert sdp.audio is not None
        if identity.trunk is not None:
            mode = identity.trunk.srtp
        else:
            extension = self.identity.extensions.get(identity.number)
            mode = extension.srtp if extension is not None else SrtpMode.OFF
        return answer_offer(mode, source[0], sdp.audio)

    def _new_call(
        self,
        request: Request,
        source: Address,
        key: TransactionKey | None,
        identity: Caller,
        target: RouteTarget,
        sdp: SessionDescription | None = None,
    ) -> Call:
        if identity.trunk is None:
            direction = CallDirection.OUTBOUND if target.kind == "trunk" else CallDirection.INTERNAL
        else:
            direction = CallDirection.TRANSIT if target.kind == "trunk" else CallDirection.INBOUND
        leg = Leg.inbound_from(
            next(self._leg_ids),
            request,
            source,
            key,
            secrets.token_hex(6),
            self.settings,
            self.outbox,
            sdp=sdp,
        )
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
        leg.call_ref = call.id
        self.calls[call.id] = call
        if key is not None:
            self._index.add(key, LegRoute(call, leg))
        self._index.add(request.call_id, LegRoute(call, leg))
        self.records.started(call)
        for observer in self.observers:
            observer.call_started(call)
        return call

    async def _start_call(self, call: Call, target: RouteTarget) -> None:
        try:
            await self._set_up(call, target)
        finally:
            self.flush()

    async def _set_up(self, call: Call, target: RouteTarget) -> None:
        leg = call.caller_leg
        try:
            media = await self.relay.open_endpoint()
        except PortsExhausted:
            self.fail(call, 503, "no RTP ports left")
            return
        leg.media = media
        if call.ended:
            self._release_media(call)
            return
        offer = leg.remote_audio
        assert offer is not None
        try:
            media.set_remote(offer.address, offer.port, offer.rtcp_port)
        except RemoteAddressError as exc:
            self.fail(call, 488, str(exc))
            return
        apply_srtp(leg)
        if target.kind not in self.applications:
            self.fail(call, 404, f"destination kind {target.kind} is not available")
            return
        pending = self.attach(call, leg, self.applications.create(target, self, call))
        if pending is not None:
            await pending

    def fail(self, call: Call, status: int, reason: str) -> None:
        """End a call that cannot go on: its caller, still unanswered, gets `status` with the
        reason in a Warning; the record says failed. Sent with the next `flush`."""
        log.info("call %d failed: %s", call.id, reason)
        if call.ended:
            return
        if call.caller_leg.unanswered:
            call.caller_leg.reject(status, warning=reason, now=self.now())
        self.end(call, Disposition.FAILED, f"{status} {reason}", Side.SWITCH)

    def _on_response(self, response: Response, key: TransactionKey) -> None:
        route = self._index.get(key)
        if route is None or route.purpose is None:
            self._on_stray_response(response)
            return
        if response.status >= 200:
            self._index.pop(key)
        events = route.leg.receive_response(response, route.purpose, self.now())
        self._deliver(route.call, events)

    def _on_timeout(self, key: TransactionKey) -> None:
        route = self._index.pop(key)
        if route is not None and route.purpose is not None:
            self._deliver(route.call, route.leg.request_timed_out(route.purpose, self.now()))

    def _on_stray_response(self, response: Response) -> None:
        """A 2xx retransmission after the INVITE transaction ended: ACK it again (§13.2.2.4)."""
        if response.cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        route = self._index.get((response.call_id, response.from_.tag or "", response.to.tag or ""))
        if route is not None:
            route.leg.receive_stray_success(response)

    # ---- teardown ----------------------------------------------------------------------
    def _release_media(self, call: Call) -> None:
        call.take_media_quality()
        for leg in call.legs:
            if leg.media is not None:
                self.close_media(leg.media)
                leg.media = None

    def _maybe_finish(self, call: Call) -> None:
        """Forget a call once it has ended and no leg awaits an answer to a request of ours."""
        if not call.finished or call.id not in self.calls:
            return
        del self.calls[call.id]
        for leg in call.legs:
            self._index.forget(leg)
        self._forgotten.set()

    def reap_silent_calls(self, now: float) -> int:
        """End answered calls a party vanished from without BYE: no RTP or RTCP from one leg
        for the limit (as Asterisk's rtptimeout). While a leg is on hold a phone may send
        nothing, so a held call ends only when every leg is silent."""
        limit = self._config.calls.media_timeout_s
        if limit <= 0:
            return 0
        silent = [
            call
            for call in self.calls.values()
            if call.state is CallState.ANSWERED and vanished(call, now, limit)
        ]
        for call in silent:
            log.info("call %d: no media for %.0f s, hanging up", call.id, limit)
            self.hang_up(call, Side.SWITCH, "media timeout")
        self.flush()
        return len(silent)

    async def shutdown(self, timeout_s: float) -> None:
        """Stop taking calls (503), end every call with BYE or CANCEL, wait for the answers.

        Only the calls up at shutdown are waited for: one that ended before, still repeating
        its BYE to a phone that is gone, has nobody left to answer it."""
        self.accepting = False
        now = self.now()
        live = [call for call in self.calls.values() if call.state is not CallState.ENDED]
        for call in live:
            if call.state is CallState.ANSWERED:
                self.hang_up(call, Side.SWITCH, "shutdown")
            else:
                for leg in call.legs:
                    leg.hang_up(now, status=503)
                self.end(call, Disposition.FAILED, "shutdown", Side.SWITCH)
        self.flush()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while waiting := [call for call in live if call.id in self.calls]:
            self._forgotten.clear()
            try:
                await asyncio.wait_for(self._forgotten.wait(), deadline - loop.time())
            except TimeoutError:
                log.warning("%d calls still had requests outstanding at shutdown", len(waiting))
                break
        for task in list(self._tasks):
            task.cancel()
