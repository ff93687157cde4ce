"""Wiring: one Switch owns the store, the SIP transport, the RTP relay, the B2BUA and metrics.

Start-up fails early and clearly (exit 2 from the CLI) when a port is taken or the data dir is
not writable; shutdown stops taking calls, ends every call with BYE, closes every CDR and flushes
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence

from softswitch.acd.errors import AcdError
from softswitch.acd.events import QueueLogEntry
from softswitch.acd.model import AcdConfig
from softswitch.api.auth import Principal, RateLimitingGuard
from softswitch.api.call_scope import AgentAnswers, CallParties
from softswitch.api.centre_events import CentreEvents
from softswitch.api.events import CallEvents, CallOperationEvents, RegistrationEvents
from softswitch.api.hub import DELAY_BUCKETS_S
from softswitch.api.server import ApiServer, ApiStartupError
from softswitch.api.supervision import SupervisionEvents
from softswitch.call_record import Disposition, Side
from softswitch.calls.application import ApplicationRegistry
from softswitch.calls.authentication import RequestAuthenticator
from softswitch.calls.b2bua import B2bua
from softswitch.calls.call import Call
from softswitch.calls.intercept import intercept_prefix
from softswitch.calls.player import PlayerShared
from softswitch.calls.recording import CallRecordings
from softswitch.calls.registrar import Binding, BindingSink, Registrar
from softswitch.calls.routing import RouteTarget, RoutingPlan
from softswitch.calls.signalling import CallRecords
from softswitch.calls.supervision import supervision_prefixes
from softswitch.centre.features import AgentFeature, feature_prefixes
from softswitch.centre.queue import CallCentre
from softswitch.centre.voicemail import VOICEMAIL_DIR, Message, Voicemail
from softswitch.centre.voicemail import feature_prefixes as voicemail_prefixes
from softswitch.config import INTERNAL_CONTEXT, Config, ConfigError
from softswitch.config_api import Role
from softswitch.config_voicemail import VoicemailConfig
from softswitch.ivr.application import IvrWiring
from softswitch.ivr.flowset import FlowLoadError, FlowSet
from softswitch.ivr.settings import ivr_settings
from softswitch.media.call_recording import RecordingTaps
from softswitch.media.engine import MediaEngine
from softswitch.media.ports import PortAllocator
from softswitch.media.prompts import PromptLibrary
from softswitch.media.recorder import (
    RECORDINGS_DIR,
    Recorder,
    Recording,
    RecordingSummary,
    recover,
)
from softswitch.media.relay import MediaRelay
from softswitch.media.tts import Speaker
from softswitch.metrics import SwitchMetrics, serve_metrics
from softswitch.security import log as security_log
from softswitch.security import tls
from softswitch.security.destinations import DestinationPolicy
from softswitch.security.guard import SourceGuard
from softswitch.sip.transaction import TransactionLayer
from softswitch.sip.transport import SipTransport, TransportError
from softswitch.store import cdr, queue_log, recordings, registrations, voicemail
from softswitch.store.database import Database, StoreError
from softswitch.store.liveness import HEARTBEAT_INTERVAL_S, AcdStateFile, Heartbeat

log = logging.getLogger("softswitch")

SHUTDOWN_TIMEOUT_S = 3.0
SWEEP_INTERVAL_S = 5.0
CRASH_CAUSE = "switch crashed"  # the CDR's hangup cause of calls the previous run left open


class StartupError(Exception):
    """Something the operator must fix before the switch can run (exit status 2)."""


def routing_plan(config: Config, acd: AcdConfig, *, with_flows: bool = True) -> RoutingPlan:
    """The whole plan: the config's routes, and the numbers and prefixes the call centre adds
    (queues, IVR flows, agent and voicemail codes, *33-*35). check-config builds the same."""
    numbers = {q.number: RouteTarget("queue", q.number, q.number) for q in acd.queues}
    ivr = ivr_settings(config)
    if with_flows and ivr is not None:
        numbers.update({n: RouteTarget("ivr", flow, n) for n, flow in ivr.numbers.items()})
    prefixes = feature_prefixes() | voicemail_prefixes()
    prefixes |= supervision_prefixes(config.features.supervisor)  # *33, *34, *35
    prefixes |= intercept_prefix(config.features.supervisor.intercept)  # *36
    return RoutingPlan(config, numbers, prefixes)


class _StoreWriter:
    """Runs store writes one after another on one task, in the order the calls happened.

    The repositories only queue statements for the database's group commit, so awaiting them
    costs little; one long-lived task is far cheaper than a task per write at 300 calls/s.
    A failed write is logged, never silently dropped.
    """

    def __init__(self) -> None:
        self._queue: deque[Coroutine[object, object, None]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="store-writes")

    def submit(self, write: Coroutine[object, object, None]) -> None:
        self._queue.append(write)
        self._idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                write = self._queue.popleft()
                try:
                    await write
                except Exception:
                    log.exception("database write failed")
            self._idle.set()

    async def close(self) -> None:
        await self._idle.wait()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class _CdrWriter:
    """CallRecords over the store."""

    def __init__(self, db: Database, writes: _StoreWriter) -> None:
        self.db = db
        self.writes = writes
        self._ids: dict[int, int] = {}

    def started(self, call: Call) -> None:
        self.writes.submit(self._open(call))

    async def _open(self, call: Call) -> None:
        self._ids[call.id] = await cdr.open_cdr(
            self.db,
            call_id=call.caller_leg.invite.call_id,
            caller=call.caller,
            callee=call.callee,
            direction=call.direction,
            trunk=call.trunk,
            start_ts=call.started_at,
        )

    def answered(self, call: Call) -> None:
        self.writes.submit(self._answered(call.id, call.answered_at or time.time()))

    async def _answered(self, call_id: int, answered_at: float) -> None:
        cdr_id = self._ids.get(call_id)
        if cdr_id is not None:
            await cdr.mark_answered(self.db, cdr_id, answered_at)

    def ended(self, call: Call) -> None:
        disposition = call.disposition or Disposition.FAILED
        side = call.hangup_side or Side.SWITCH
        self.writes.submit(
            self._ended(
                call.id,
                time.time(),
                disposition,
                call.hangup_cause,
                side,
                dict(call.variables),
                call.callee,
                media_columns(call),
            )
        )

    async def _ended(
        self,
        call_id: int,
        end_ts: float,
        disposition: Disposition,
        cause: str,
        side: Side,
        variables: dict[str, str],
        callee: str,
        media: dict[str, float | None],
    ) -> None:
        cdr_id = self._ids.pop(call_id, None)
        if cdr_id is not None:
            await cdr.close_cdr(
                self.db,
                cdr_id,
                end_ts=end_ts,
                disposition=disposition,
                hangup_cause=cause,
                hangup_side=side,
                variables=variables,
                callee=callee,
                media=media,
            )


class _RecordingWriter:
    """RecordingStore over the store: a row when a file starts, its figures when it ends."""

    def __init__(self, db: Database, writes: _StoreWriter) -> None:
        self.db = db
        self.writes = writes
        self._ids: dict[str, int] = {}  # by the file's path

    def opened(self, recording: Recording, sample_rate: int, agent: str | None) -> None:
        self.writes.submit(self._open(recording, sample_rate, agent))

    async def _open(self, recording: Recording, sample_rate: int, agent: str | None) -> None:
        self._ids[recording.path] = await recordings.open_recording(
            self.db,
            call_id=recording.call_id,
            path=recording.path,
            caller=recording.caller,
            callee=recording.callee,
            layout=recording.layout,
            sample_rate=sample_rate,
            start_ts=recording.start_ts,
            agent=agent,
        )

    def paused(self, recording: Recording, marks: Sequence[tuple[float, float]]) -> None:
        self.writes.submit(self._paused(recording.path, list(marks)))

    async def _paused(self, path: str, marks: list[tuple[float, float]]) -> None:
        recording_id = self._ids.get(path)
        if recording_id is not None:
            await recordings.mark_pauses(self.db, recording_id, marks)

    def closed(self, recording: Recording, summary: RecordingSummary, end_ts: float) -> None:
        self.writes.submit(self._closed(summary, end_ts))

    async def _closed(self, summary: RecordingSummary, end_ts: float) -> None:
        recording_id = self._ids.pop(summary.path, None)
        if recording_id is None:
            return
        await recordings.close_recording(
            self.db,
            recording_id,
            end_ts=end_ts,
            duration_s=summary.duration_s,
            pauses=[(mark.start_s, mark.end_s) for mark in summary.pauses],
            talk=dataclasses.asdict(summary.talk),
            cut=summary.cut,
        )


class _BindingWriter:
    """BindingSink over the store."""

    def __init__(self, db: Database, writes: _StoreWriter) -> None:
        self.db = db
        self.writes = writes

    def saved(self, binding: Binding) -> None:
        # The store takes a binding's fields as plain values by column name (calls/ and store/
        # may not import each other); tests/test_app.py checks the names match.
        self.writes.submit(registrations.save_binding(self.db, dataclasses.asdict(binding)))

    def removed(self, aor: str, contact: str) -> None:
        self.writes.submit(registrations.delete_binding(self.db, aor, contact))


class _QueueLogWriter:
    """QueueLogSink over the store: one row per ACD event, through the same writer task."""

    def __init__(self, db: Database, writes: _StoreWriter) -> None:
        self.db = db
        self.writes = writes

    def write(self, entry: QueueLogEntry) -> None:
        self.writes.submit(
            queue_log.write_event(
                self.db,
                time=entry.time,
                event=entry.event.value,
                queue=entry.queue,
                call=entry.call,
                agent=entry.agent,
                wait_s=entry.wait_s,
                talk_s=entry.talk_s,
                data=list(entry.data),
            )
        )


class _MessageStore:
    """The voicemail MessageStore over the store: rows by column name (a test checks they match
    `Message`'s fields), writes through the same writer task."""

    def __init__(self, db: Database, writes: _StoreWriter) -> None:
        self.db = db
        self.writes = writes

    def save(self, message: Message) -> None:
        self.writes.submit(self._save(dataclasses.asdict(message)))

    async def _save(self, values: dict[str, object]) -> None:
        await voicemail.add_message(self.db, values)

    async def messages(self, box: str) -> list[Message]:
        rows = await voicemail.list_messages(self.db, box)
        return [Message(**row) for row in rows]  # type: ignore[arg-type]

    def mark(self, message_id: int, state: str) -> None:
        self.writes.submit(voicemail.set_state(self.db, message_id, voicemail.MessageState(state)))


class _Bindings:
    """BindingSink to several sinks: the store, then the API's events."""

    def __init__(self, *sinks: BindingSink) -> None:
        self.sinks = list(sinks)

    def saved(self, binding: Binding) -> None:
        for sink in self.sinks:
            sink.saved(binding)

    def removed(self, aor: str, contact: str) -> None:
        for sink in self.sinks:
            sink.removed(aor, contact)


def media_columns(call: Call) -> dict[str, float | None]:
    """The CDR's media figures of a call (store/cdr.py's MEDIA_COLUMNS) from its legs'."""
    columns: dict[str, float | None] = {}
    for party, quality in call.media_quality.items():
        for direction, stream in (("rx", quality.received), ("tx", quality.sent)):
            if stream is None:
                continue
            prefix = f"{party}_{direction}_"
            columns[prefix + "loss_pct"] = round(100.0 * stream.loss_ratio, 3)
            jitter = stream.jitter_s
            columns[prefix + "jitter_ms"] = None if jitter is None else round(1000.0 * jitter, 3)
            columns[prefix + "mos"] = stream.mos
    return columns


class _MediaMetrics:
    """CallRecords that puts each ended call's media figures into /metrics."""

    def __init__(self, metrics: SwitchMetrics) -> None:
        self.metrics = metrics

    def started(self, call: Call) -> None:
        pass

    def answered(self, call: Call) -> None:
        pass

    def ended(self, call: Call) -> None:
        if call.answered_at is None:
            return  # no conversation: nothing to rate
        for quality in call.media_quality.values():
            for direction, stream in (("received", quality.received), ("sent", quality.sent)):
                if stream is not None:
                    self.metrics.observe_media(
                        direction, stream.loss_ratio, stream.jitter_s, stream.mos
                    )


class _Records:
    """CallRecords to several sinks: the CDR writer, then the API's events."""

    def __init__(self, *sinks: CallRecords) -> None:
        self.sinks = list(sinks)

    def started(self, call: Call) -> None:
        for sink in self.sinks:
            sink.started(call)

    def answered(self, call: Call) -> None:
        for sink in self.sinks:
            sink.answered(call)

    def ended(self, call: Call) -> None:
        for sink in self.sinks:
            sink.ended(call)


class Switch:
    def __init__(
        self,
        config: Config,
        acd: AcdConfig | None = None,
        *,
        voicemail: VoicemailConfig | None = None,
        own_console: bool = False,
    ) -> None:
        """`own_console`: a console runs in this process, so the API is served even when the
        config turns it off (then on 127.0.0.1 and a port the kernel picks, for it alone)."""
        self.config = config
        self.acd = acd if acd is not None else AcdConfig()
        self.voicemail = voicemail if voicemail is not None else VoicemailConfig()
        self.centre: CallCentre | None = None
        self._own_console = own_console
        self._bindings = _Bindings()
        self.db: Database | None = None
        self.transport: SipTransport | None = None
        self.relay: MediaRelay | None = None
        self.b2bua: B2bua | None = None
        self.engine: MediaEngine | None = None
        self.recording_taps: RecordingTaps | None = None
        self.registrar: Registrar | None = None
        self.metrics = SwitchMetrics()
        self._metrics_server: asyncio.AbstractServer | None = None
        self._writes: _StoreWriter | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._heartbeat = Heartbeat(config.data.dir)
        self._security_file: logging.Handler | None = None
        self.guard = SourceGuard(
            config.security, unlimited=(t.host for t in config.trunks if _is_ip(t.host))
        )
        self.flows: FlowSet | None = None
        self.api: ApiServer | None = None

    async def start(self) -> None:
        config = self.config
        tls_server, tls_client = self._tls_contexts()
        try:
            ivr = ivr_settings(config)
            prompts = config.data.dir / "prompts"
            self.flows = FlowSet.for_switch(ivr, prompts) if ivr else None
        except (ConfigError, FlowLoadError) as exc:
            raise StartupError(f"IVR flows: {exc}") from exc
        try:
            config.data.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create data dir {config.data.dir}: {exc.strerror}") from exc
        try:
            self.db = await Database.open(config.data.dir)
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        # Read before this run beats: when the previous run was last alive (None: no run yet).
        last_alive = self._heartbeat.last_beat()
        ended_at = min(last_alive, time.time()) if last_alive is not None else time.time()
        closed = await cdr.close_dangling(self.db, ended_at, CRASH_CAUSE)
        if closed:
            log.warning("closed %d call records left open by a previous run", closed)
        recordings_root = config.data.dir / RECORDINGS_DIR
        cut = await recordings.close_cut(self.db, lambda path: recover(recordings_root / path))
        if cut:
            log.warning("closed %d recordings cut by the end of a previous run", cut)
        policy = DestinationPolicy(config.security.allowed_destinations)
        if config.security.log_file is not None:
            try:
                self._security_file = security_log.open_log_file(config.security.log_file)
            except OSError as exc:
                await self.db.close()
                raise StartupError(
                    f"cannot open security.log_file {config.security.log_file}: {exc.strerror}"
                ) from exc
        self._writes = _StoreWriter()
        self._bindings.sinks.append(_BindingWriter(self.db, self._writes))
        self.registrar = Registrar(config.registrar, self._bindings)
        restored = await registrations.load_bindings(self.db, time.time())
        self.registrar.restore(Binding(**values) for values in restored)
        loop = asyncio.get_running_loop()
        rtp_host = config.rtp.host
        self.relay = MediaRelay(
            rtp_host, PortAllocator(config.rtp.port_min, config.rtp.port_max), policy
        )
        authenticator = RequestAuthenticator(
            realm=config.sip.realm,
            extensions=config.extensions,
            trunks=config.trunks,
            nonce_lifetime_s=config.security.nonce_lifetime_s,
            clock=time.time,
            algorithms=config.security.digest_algorithms,
        )
        records = _Records(_CdrWriter(self.db, self._writes), _MediaMetrics(self.metrics))
        routing, centre, extend = self._call_centre(config, self.db, self._writes)
        for key, problem in routing.dangling(config):
            await self.db.close()  # its thread would keep the process from exiting
            raise StartupError(str(ConfigError(config.source, key, problem)))
        self.centre = centre
        # The engine ticks only while a leg is in it (signalling hands it the loop).
        self.engine = MediaEngine()
        self.b2bua = B2bua(
            config,
            relay=self.relay,
            registrar=self.registrar,
            authenticator=authenticator,
            records=records,
            setup_latency=self.metrics.call_setup_seconds,
            engine=self.engine,
            routing=routing,
            extend=extend,
        )
        self.b2bua.signalling.observers.append(centre)
        self.b2bua.transfers.listeners.append(centre)
        self.b2bua.transfers.queue_listeners.append(centre)  # `*2` to a queue
        self.b2bua.intercepts.listeners.append(centre)  # the agent's part ends, wrap-up
        self.recording_taps = RecordingTaps(
            self.engine,
            Recorder(recordings_root, config.recording.sample_rate),
            _RecordingWriter(self.db, self._writes),
            defer=loop.call_soon,
            loop=loop,
        )
        recorded = CallRecordings(self.recording_taps, config.recording)
        self.b2bua.signalling.recordings = recorded
        self.b2bua.signalling.observers.append(recorded)
        if self.b2bua.conferences is not None:
            self.b2bua.conferences.recorder = self.recording_taps
            self.b2bua.conferences.record_all = config.recording.conferences
        self.transport = SipTransport(
            TransactionLayer(),
            self.b2bua.handle,
            host=config.sip.host,
            port=config.sip.port,
            transports=config.sip.transports,
            allowed=policy,
            guard=self.guard,
            tcp=config.tcp,
            tls_port=config.tls.port,
            tls_server=tls_server,
            tls_client=tls_client,
        )
        self.b2bua.transport = self.transport
        authenticator.failures = self.transport
        try:
            await self.transport.start()
        except TransportError as exc:
            await self.db.close()
            raise StartupError(str(exc)) from exc
        # No await since the transport started: the ACD is restored before the first request.
        self._recover_centre(centre, ended_at)
        self._bind_metrics()
        if config.api.enabled or self._own_console:
            await self._start_api(records)
        if config.metrics.enabled:
            try:
                self._metrics_server = await serve_metrics(
                    self.metrics, config.metrics.host, config.metrics.port
                )
            except OSError as exc:
                await self.stop()
                raise StartupError(
                    f"cannot serve metrics on {config.metrics.host}:{config.metrics.port}: "
                    f"{exc.strerror}"
                ) from exc
        self._sweeper = loop.create_task(self._sweep())
        self._beating = loop.create_task(self._beat())
        log.info(
            "softswitch ready: SIP %s on %s:%d, RTP %d-%d, %d extensions, %d trunks",
            "+".join(config.sip.transports),
            config.sip.host,
            self.transport.port,
            config.rtp.port_min,
            config.rtp.port_max,
            len(config.extensions),
            len(config.trunks),
        )

    def _call_centre(
        self, config: Config, db: Database, writes: _StoreWriter
    ) -> tuple[RoutingPlan, CallCentre, Callable[[ApplicationRegistry], None]]:
        """The call centre's numbers and the applications it registers beside the others: the
        IVR on its numbers, the queues on theirs, the agents' feature codes, voicemail (a box
        per extension and queue, *97 to listen, *98 + box to leave a message)."""
        prompts = PromptLibrary(config.data.dir / "prompts")
        centre = CallCentre(self.acd, prompts, _QueueLogWriter(db, writes))
        routing = routing_plan(config, self.acd, with_flows=self.flows is not None)
        centre.resolve = lambda number: routing.resolve(INTERNAL_CONTEXT, number)  # callbacks
        flows = self.flows
        boxes = [e.number for e in config.extensions] + [q.number for q in self.acd.queues]
        mailboxes = Voicemail(
            self.voicemail,
            boxes,
            config.data.dir / VOICEMAIL_DIR,
            prompts,
            _MessageStore(db, writes),
        )

        def extend(applications: ApplicationRegistry) -> None:
            centre.registry = applications
            applications.register("queue", centre.queue_call)
            applications.register("agent_feature", AgentFeature.factory(centre))
            applications.register("voicemail", mailboxes.leave_factory())
            applications.register("voicemail_listen", mailboxes.listen_factory())
            if flows is not None:
                wiring = IvrWiring(
                    flows,
                    applications,
                    lambda number: routing.resolve(INTERNAL_CONTEXT, number),
                    speaker=Speaker(config.data.dir / "tts"),
                )
                applications.register("ivr", wiring.factory(PlayerShared(prompts, "en")))

        return routing, centre, extend

    def reload_flows(self) -> None:
        """SIGHUP: new calls get the folder's flows if they check clean (calls keep theirs)."""
        if self.flows is not None:
            self.flows.reload_and_log()

    async def _start_api(self, records: _Records) -> None:
        assert self.b2bua is not None
        assert self.transport is not None
        api_config = self.config.api
        if not api_config.enabled:
            api_config = dataclasses.replace(api_config, host="127.0.0.1", port=0)
        centre = self.centre
        guard = _BanningLoginGuard(
            RateLimitingGuard(
                api_config.max_login_failures, api_config.login_failure_window_s, time.time
            ),
            self.guard,
            self.transport,
        )
        self.api = ApiServer(
            api_config,
            self.b2bua.control,
            registrar=self.registrar,
            trunks=self.config.trunks,
            guard=guard,
            centre=centre.control if centre is not None and centre.acd.queues else None,
        )
        # The API's events follow the same call records as the CDR, in the same order.
        call_parties = CallParties()  # who each call's events are for (its legs, its queues)
        call_events = CallEvents(
            self.api.hub, parties=call_parties, from_screen=self.b2bua.answers.from_screen
        )
        records.sinks.append(call_events)
        self.b2bua.signalling.observers.append(AgentAnswers(call_events))
        # call_held, call_resumed, transferred
        operations = CallOperationEvents(self.api.hub, call_parties)
        self.b2bua.control.hold_listeners.append(operations)
        self.b2bua.transfers.listeners.append(operations)
        self.b2bua.intercepts.listeners.append(operations)  # call_transferred, kind intercept
        if self.b2bua.signalling.recordings is not None:  # the calls table's recording mark
            self.b2bua.signalling.recordings.listeners.append(call_events.recording)
        if centre is not None:
            pops = {q.number: q.screen_pop_url for q in centre.acd.queues if q.screen_pop_url}
            scope, control = self.api.services.scope, centre.control
            call_parties.attach_centre(
                lambda queue: [scope.extension_of(a) for a in control.queue_members(queue)],
                lambda number: number in control.queue_numbers(),
            )
            centre.listeners.append(
                CentreEvents(self.api.hub, control, scope, centre.variables, pops, call_parties)
            )
        self._bindings.sinks.append(RegistrationEvents(self.api.hub))
        self.metrics.bind_api_events(self.api.hub, DELAY_BUCKETS_S)
        self.b2bua.supervisions.listeners.append(SupervisionEvents(self.api.hub))
        try:
            await self.api.start()
        except ApiStartupError as exc:
            await self.stop()
            raise StartupError(str(exc)) from exc

    def console_token(self) -> str:
        """A fresh admin token for the console of this process: minted in memory, handed to it
        directly, never written anywhere nor shown; it dies with the process."""
        assert self.api is not None, "the API is served whenever a console is attached"
        principal = Principal("console", Role.ADMIN, None, None, frozenset())
        return self.api.services.tokens.issue(principal).value

    @property
    def api_url(self) -> str:
        assert self.api is not None
        host = self.api.config.host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{self.api.port}"

    def _tls_contexts(self) -> tuple[ssl.SSLContext | None, tls.TlsClientContext]:
        config = self.config
        try:
            server = tls.server_context(config.tls) if "tls" in config.sip.transports else None
            relaxed = [(t.host, t.port) for t in config.trunks if not t.tls_verify]
            client = tls.client_contexts(config.tls, relaxed)
        except (OSError, ssl.SSLError) as exc:
            raise StartupError(f"cannot load the TLS certificates: {exc}") from exc
        return server, client

    def _bind_metrics(self) -> None:
        transport, b2bua, relay, registrar = self.transport, self.b2bua, self.relay, self.registrar
        assert transport is not None and b2bua is not None
        assert relay is not None and registrar is not None
        self.metrics.bind_live(
            active_calls=lambda: b2bua.active_calls,
            registrations=lambda: len(registrar),
            rtp_relayed=lambda: relay.stats().relayed,
            rtp_lost=lambda: relay.stats().lost,
            sip_requests=lambda: (transport.counters.requests_in, transport.counters.requests_out),
            sip_responses=lambda: (
                transport.counters.responses_in,
                transport.counters.responses_out,
            ),
            calls_by_disposition=lambda: b2bua.counters.by_disposition,
            sip_malformed=lambda: transport.counters.parse_errors,
            refused_destinations=lambda: transport.counters.refused_destinations,
            dtmf_digits=lambda: b2bua.counters.dtmf_digits,
        )
        if self.centre is not None:
            self.metrics.bind_acd(self.centre)
            self.centre.offer_latency = self.metrics.queue_offer_seconds
        loop = asyncio.get_running_loop()
        self.metrics.bind_security(
            lambda: self.guard.snapshot(loop.time()),
            lambda: b2bua.signalling.admission.counters.refused,
            lambda: transport.limits.total,
        )

    async def _sweep(self) -> None:
        """Housekeeping off the hot path: expired registrations, calls whose media died."""
        assert self.registrar is not None and self.b2bua is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            self.registrar.expire()
            self.b2bua.reap_silent_calls(loop.time())

    def _recover_centre(self, centre: CallCentre, ended_at: float) -> None:
        """The ACD carries on from the state the previous run saved (agents logged in, paused),
        without the callers that run held: their legs died with it."""
        assert self.b2bua is not None
        state_file = AcdStateFile(self.config.data.dir)
        centre.services = self.b2bua.signalling  # recovery arms timers (wrap-ups ending)
        state = state_file.load()
        if state is not None:
            try:
                lost = centre.recover(state, ended_at)
            except (AcdError, KeyError, TypeError, ValueError) as exc:
                log.warning("ignoring the ACD state of the previous run: %s", exc)
            else:
                if lost:
                    log.warning("the call centre lost %d callers with the previous run", lost)
        centre.state_sink = state_file

    async def _beat(self) -> None:
        """The heartbeat a crash leaves behind, and the ACD state saved when it changed."""
        while True:
            self._heartbeat.beat(time.time())
            if self.centre is not None:
                self.centre.save_state_if_changed()
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._beating is not None:
            self._beating.cancel()
        if self.b2bua is not None and self.transport is not None:
            await self.b2bua.shutdown(SHUTDOWN_TIMEOUT_S)
        if self.centre is not None:
            self.centre.save_state()  # the calls are over: what the next start carries on from
        if self.transport is not None:
            await self.transport.stop()
        if self.recording_taps is not None:
            self.recording_taps.stop_all()  # what no call's end closed (a conference's mix)
        if self.engine is not None:
            self.engine.close()
        if self.relay is not None:
            await self.relay.aclose()
        if self._metrics_server is not None:
            self._metrics_server.close()
        if self.centre is not None:
            self.centre.figures.stop()  # no figures pushed past the end
        if self.api is not None:
            await self.api.stop()
        if self._writes is not None:
            await self._writes.close()
        if self.db is not None:
            await self.db.close()
        if self._security_file is not None:
            logging.getLogger(security_log.LOGGER_NAME).removeHandler(self._security_file)
            self._security_file.close()
            self._security_file = None


class _BanningLoginGuard:
    """The API's login guard, with failed logins counted toward the same ban as SIP digest."""

    def __init__(self, inner: RateLimitingGuard, guard: SourceGuard, sip: SipTransport) -> None:
        self.inner = inner
        self.guard = guard
        self.sip = sip

    def retry_after(self, source: str, username: str) -> float | None:
        banned = self.guard.ban_remaining_s(source, self.sip.loop.time())
        return banned if banned is not None else self.inner.retry_after(source, username)

    def failed(self, source: str, username: str, reason: str) -> None:
        self.inner.failed(source, username, reason)
        detail = " ".join(
            (security_log.field("transport", "api"), security_log.field("user", username))
        )
        self.sip.authentication_failed(source, f"{detail} {security_log.field('outcome', reason)}")

    def succeeded(self, source: str, username: str) -> None:
        self.inner.succeeded(source, username)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
