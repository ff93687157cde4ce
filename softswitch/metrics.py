"""Prometheus metrics of the switch and the /metrics endpoint that serves them.

The SIP transport, the B2BUA and the RTP relay keep plain integer counters; they are read only at
scrape time, so no per-message or per-packet path touches prometheus_client. Only the call setup
histogram is observed directly (once per call). The endpoint is a minimal asyncio
HTTP/1.1 server on the switch's own event loop (no threads, no global registry).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

DIRECTIONS: Final = ("in", "out")
# Methods get their own label value; anything else a peer sends is "other", so that a hostile
# peer cannot create unbounded time series.
SIP_METHODS: Final = frozenset(
    {
        "ACK",
        "BYE",
        "CANCEL",
        "INFO",
        "INVITE",
        "MESSAGE",
        "NOTIFY",
        "OPTIONS",
        "PRACK",
        "PUBLISH",
        "REFER",
        "REGISTER",
        "SUBSCRIBE",
        "UPDATE",
    }
)
# 1 ms to 10 s: a local answer takes milliseconds, a carrier's seconds.
CALL_SETUP_BUCKETS_S: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
DTMF_METHODS: Final = ("info", "inband", "rfc4733")
# The ACD's goal is under 5 ms from queue entry to the agent's INVITE: fine buckets below it.
QUEUE_OFFER_BUCKETS_S: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 1.0,
)  # fmt: skip
# Per leg at the end of its call, by direction: "received" (from the phone, counted by the
# switch) and "sent" (to the phone, as its RTCP reports say).
MEDIA_DIRECTIONS: Final = ("received", "sent")
LOSS_BUCKETS: Final = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
JITTER_BUCKETS_S: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)
MOS_BUCKETS: Final = (1.0, 2.0, 2.5, 3.0, 3.5, 3.8, 4.0, 4.2, 4.3, 4.4, 4.5)
MAX_REQUEST_BYTES: Final = 8192
REQUEST_TIMEOUT_S: Final = 10.0


SipCounts = tuple[Mapping[str, int], Mapping[str, int]]  # requests (in, out) by method
SipCodeCounts = tuple[Mapping[int, int], Mapping[int, int]]  # responses (in, out) by status


@dataclass(frozen=True)
class _LiveReaders:
    active_calls: Callable[[], int]
    registrations: Callable[[], int]
    rtp_relayed: Callable[[], int]
    rtp_lost: Callable[[], int]
    sip_requests: Callable[[], SipCounts]
    sip_responses: Callable[[], SipCodeCounts]
    calls_by_disposition: Callable[[], Mapping[str, int]]
    sip_malformed: Callable[[], int]
    refused_destinations: Callable[[], int]
    dtmf_digits: Callable[[], Mapping[str, int]]


class _LiveCollector(Collector):
    """Reads the switch's own plain counters when Prometheus scrapes."""

    def __init__(self, read: _LiveReaders) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        read = self._read
        yield GaugeMetricFamily(
            "softswitch_calls_active", "Calls in progress.", value=read.active_calls()
        )
        yield GaugeMetricFamily(
            "softswitch_registrations", "Registered contacts.", value=read.registrations()
        )
        yield CounterMetricFamily(
            "softswitch_rtp_packets_relayed", "RTP packets relayed.", value=read.rtp_relayed()
        )
        yield CounterMetricFamily(
            "softswitch_sip_malformed",
            "SIP messages that could not be parsed (answered 400 or dropped).",
            value=read.sip_malformed(),
        )
        yield CounterMetricFamily(
            "softswitch_refused_destinations",
            "SIP messages not sent because security.allowed_destinations refuses the address.",
            value=read.refused_destinations(),
        )
        yield CounterMetricFamily(
            "softswitch_rtp_packets_lost",
            "RTP packets missing by sequence number.",
            value=read.rtp_lost(),
        )
        requests = CounterMetricFamily(
            "softswitch_sip_requests",
            "SIP requests by method and direction (in: received, out: sent).",
            labels=["method", "direction"],
        )
        for direction, counts in zip(DIRECTIONS, read.sip_requests(), strict=True):
            for method, value in _fold(counts, lambda m: m if m in SIP_METHODS else "other"):
                requests.add_metric([method, direction], value)
        yield requests
        responses = CounterMetricFamily(
            "softswitch_sip_responses",
            "SIP responses by status code and direction (in: received, out: sent).",
            labels=["code", "direction"],
        )
        for direction, codes in zip(DIRECTIONS, read.sip_responses(), strict=True):
            for code, value in _fold(codes, lambda c: str(c) if 100 <= c <= 699 else "other"):
                responses.add_metric([code, direction], value)
        yield responses
        calls = CounterMetricFamily(
            "softswitch_calls", "Ended calls by disposition.", labels=["disposition"]
        )
        for disposition, value in sorted(read.calls_by_disposition().items()):
            calls.add_metric([str(disposition)], value)
        yield calls
        digits = CounterMetricFamily(
            "softswitch_dtmf_digits",
            "DTMF digits received, by how they came: rfc4733, inband, info (SIP INFO).",
            labels=["method"],
        )
        counted = read.dtmf_digits()
        for method in DTMF_METHODS:
            digits.add_metric([method], counted.get(method, 0))
        yield digits


class AcdReader(Protocol):
    """What the call centre shows /metrics (softswitch/centre/queue.py's CallCentre)."""

    def queue_stats(self) -> list[tuple[str, int, float, int, int, int]]:
        """(queue, callers waiting, longest wait s, offered, answered, abandoned) per queue."""
        ...

    def agents_by_state(self) -> Mapping[str, int]: ...


class _AcdCollector(Collector):
    def __init__(self, read: AcdReader) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        stats = self._read.queue_stats()
        families = [
            (GaugeMetricFamily, "softswitch_queue_callers_waiting", "Callers waiting.", 1),
            (GaugeMetricFamily, "softswitch_queue_longest_wait_seconds", "Longest wait now.", 2),
            (CounterMetricFamily, "softswitch_queue_offered", "Callers that entered.", 3),
            (CounterMetricFamily, "softswitch_queue_answered", "Callers connected.", 4),
            (CounterMetricFamily, "softswitch_queue_abandoned", "Callers that hung up.", 5),
        ]
        for family, name, text, column in families:
            metric = family(name, text, labels=["queue"])
            for row in stats:
                metric.add_metric([row[0]], row[column])
            yield metric
        agents = GaugeMetricFamily("softswitch_agents", "Agents by state.", labels=["state"])
        for state, count in sorted(self._read.agents_by_state().items()):
            agents.add_metric([state], count)
        yield agents


class BanView(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def until(self) -> float: ...


class SecurityView(Protocol):
    """What the security guard's snapshot offers (softswitch/security/guard.py)."""

    @property
    def bans(self) -> Iterable[BanView]: ...
    @property
    def refused(self) -> Mapping[str, int]: ...
    @property
    def auth_failures(self) -> int: ...
    @property
    def bans_total(self) -> Mapping[str, int]: ...
    @property
    def tracked_sources(self) -> int: ...


class _SecurityCollector(Collector):
    """Bans, refusals and overload, read from the guard and admission at scrape time."""

    def __init__(
        self,
        snapshot: Callable[[], SecurityView],
        overload: Callable[[], Mapping[str, int]],
        stream_connections: Callable[[], int],
    ) -> None:
        self._snapshot = snapshot
        self._overload = overload
        self._stream_connections = stream_connections

    def collect(self) -> Iterable[Metric]:
        view = self._snapshot()
        bans = list(view.bans)
        yield GaugeMetricFamily(
            "softswitch_security_bans_active", "Sources banned now.", value=len(bans)
        )
        banned = GaugeMetricFamily(
            "softswitch_security_banned_until",
            "Each banned source, why, and when its ban ends (Unix time).",
            labels=["source", "reason"],
        )
        wall_offset = time.time() - time.monotonic()
        for ban in bans:
            banned.add_metric([ban.source, str(ban.reason)], ban.until + wall_offset)
        yield banned
        total = CounterMetricFamily(
            "softswitch_security_bans", "Bans since start, by reason.", labels=["reason"]
        )
        for reason, value in sorted(view.bans_total.items()):
            total.add_metric([reason], value)
        yield total
        refused = CounterMetricFamily(
            "softswitch_security_refused",
            "Requests and connections dropped unanswered, by reason.",
            labels=["reason"],
        )
        for reason, value in sorted(view.refused.items()):
            refused.add_metric([reason], value)
        yield refused
        yield CounterMetricFamily(
            "softswitch_security_auth_failures",
            "Failed authentications (wrong password, unknown user, replay).",
            value=view.auth_failures,
        )
        yield GaugeMetricFamily(
            "softswitch_security_tracked_sources",
            "Source addresses the rate limiter remembers.",
            value=view.tracked_sources,
        )
        overload = CounterMetricFamily(
            "softswitch_calls_refused_overload",
            "New calls answered 503 because the switch was at capacity, by limit.",
            labels=["limit"],
        )
        for limit, value in sorted(self._overload().items()):
            overload.add_metric([limit], value)
        yield overload
        yield GaugeMetricFamily(
            "softswitch_stream_connections",
            "Inbound TCP and TLS connections open.",
            value=self._stream_connections(),
        )


K = TypeVar("K")


class DelayCounts(Protocol):
    """A histogram kept by its owner: counts per bucket (the last is +Inf) and their sum."""

    @property
    def counts(self) -> list[int]: ...

    @property
    def total_s(self) -> float: ...


class EventFanoutView(Protocol):
    """The API's event hub (api/hub.py), read at scrape time: nothing observed per event."""

    @property
    def subscribers(self) -> int: ...

    @property
    def published(self) -> int: ...

    @property
    def delivered(self) -> int: ...

    @property
    def dropped_events(self) -> int: ...

    @property
    def dropped_subscribers(self) -> int: ...

    @property
    def write_delay(self) -> DelayCounts: ...

    @property
    def flush_wait(self) -> DelayCounts: ...

    @property
    def flush_time(self) -> DelayCounts: ...


def _histogram(
    name: str, documentation: str, bounds: tuple[float, ...], read: DelayCounts
) -> HistogramMetricFamily:
    running, buckets = 0, []
    for bound, count in zip((*map(str, bounds), "+Inf"), read.counts, strict=True):
        running += count
        buckets.append((bound, float(running)))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=read.total_s)


class _FanoutCollector(Collector):
    def __init__(self, hub: EventFanoutView, bounds_s: tuple[float, ...]) -> None:
        self._hub = hub
        self._bounds = bounds_s

    def collect(self) -> Iterable[Metric]:
        hub = self._hub
        yield GaugeMetricFamily(
            "softswitch_api_event_subscribers", "Open event WebSockets.", value=hub.subscribers
        )
        for name, text, value in (
            ("published", "Events published (each once, whoever gets it).", hub.published),
            ("delivered", "Events written to a WebSocket (one per subscriber).", hub.delivered),
            (
                "dropped",
                "Events a too-slow subscriber lost (then disconnected).",
                hub.dropped_events,
            ),
        ):
            yield CounterMetricFamily(f"softswitch_api_events_{name}", text, value=value)
        yield CounterMetricFamily(
            "softswitch_api_event_subscribers_dropped",
            "Subscribers disconnected for falling too far behind (close code 4008).",
            value=hub.dropped_subscribers,
        )
        yield _histogram(
            "softswitch_api_event_write_delay_seconds",
            "From an event's timestamp to its write to one subscriber's socket.",
            self._bounds,
            hub.write_delay,
        )
        yield _histogram(
            "softswitch_api_event_flush_wait_seconds",
            "From a turn's oldest queued event's timestamp to the start of its writing.",
            self._bounds,
            hub.flush_wait,
        )
        yield _histogram(
            "softswitch_api_event_flush_seconds",
            "One loop turn's writing of queued events to every subscriber.",
            self._bounds,
            hub.flush_time,
        )


def _fold(counts: Mapping[K, int], label: Callable[[K], str]) -> list[tuple[str, int]]:
    """Sum counts under their label value (rare keys share "other")."""
    folded: dict[str, int] = {}
    for key, value in counts.items():
        name = label(key)
        folded[name] = folded.get(name, 0) + value
    return sorted(folded.items())


class SwitchMetrics:
    """All metrics of one switch, in a registry of its own (tests run several switches)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.call_setup_seconds = Histogram(
            "softswitch_call_setup_seconds",
            "From INVITE received to the first 2xx or final response relayed.",
            buckets=CALL_SETUP_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_offer_seconds = Histogram(
            "softswitch_queue_offer_seconds",
            "From a caller's queue entry to its first agent INVITE sent (an agent was free).",
            buckets=QUEUE_OFFER_BUCKETS_S,
            registry=self.registry,
        )
        labels = ("direction",)
        self.media_loss_ratio = Histogram(
            "softswitch_media_loss_ratio",
            "Packet loss of each leg's audio over its call, 0..1 (RFC 3550 A.3).",
            labels,
            buckets=LOSS_BUCKETS,
            registry=self.registry,
        )
        self.media_jitter_seconds = Histogram(
            "softswitch_media_jitter_seconds",
            "Interarrival jitter of each leg's audio at the end of its call (RFC 3550 A.8).",
            labels,
            buckets=JITTER_BUCKETS_S,
            registry=self.registry,
        )
        self.media_mos = Histogram(
            "softswitch_media_mos",
            "E-model MOS estimate of each leg's audio over its call (ITU-T G.107).",
            labels,
            buckets=MOS_BUCKETS,
            registry=self.registry,
        )
        for direction in MEDIA_DIRECTIONS:  # both series exist from the start
            for histogram in (self.media_loss_ratio, self.media_jitter_seconds, self.media_mos):
                histogram.labels(direction)
        self._live: _LiveCollector | None = None
        self._security: _SecurityCollector | None = None

    def observe_media(
        self, direction: str, loss_ratio: float, jitter_s: float | None, mos: float
    ) -> None:
        """One leg's figures for one direction, once, when its call ends."""
        self.media_loss_ratio.labels(direction).observe(loss_ratio)
        if jitter_s is not None:
            self.media_jitter_seconds.labels(direction).observe(jitter_s)
        self.media_mos.labels(direction).observe(mos)

    def bind_live(
        self,
        *,
        active_calls: Callable[[], int],
        registrations: Callable[[], int],
        rtp_relayed: Callable[[], int],
        rtp_lost: Callable[[], int],
        sip_requests: Callable[[], SipCounts],
        sip_responses: Callable[[], SipCodeCounts],
        calls_by_disposition: Callable[[], Mapping[str, int]],
        sip_malformed: Callable[[], int] = lambda: 0,
        refused_destinations: Callable[[], int] = lambda: 0,
        dtmf_digits: Callable[[], Mapping[str, int]] = dict,
    ) -> None:
        """Attach the readers of the switch's plain counters (again, to replace them)."""
        if self._live is not None:
            self.registry.unregister(self._live)
        self._live = _LiveCollector(
            _LiveReaders(
                active_calls,
                registrations,
                rtp_relayed,
                rtp_lost,
                sip_requests,
                sip_responses,
                calls_by_disposition,
                sip_malformed,
                refused_destinations,
                dtmf_digits,
            )
        )
        self.registry.register(self._live)

    def bind_acd(self, read: AcdReader) -> None:
        """Queues and agents: callers waiting, longest wait, offered/answered/abandoned."""
        self.registry.register(_AcdCollector(read))

    def bind_security(
        self,
        snapshot: Callable[[], SecurityView],
        overload: Callable[[], Mapping[str, int]],
        stream_connections: Callable[[], int],
    ) -> None:
        if self._security is not None:
            self.registry.unregister(self._security)
        self._security = _SecurityCollector(snapshot, overload, stream_connections)
        self.registry.register(self._security)

    def bind_api_events(self, hub: EventFanoutView, bounds_s: tuple[float, ...]) -> None:
        """The CTI event fan-out: subscribers, deliveries, drops and write delays."""
        self.registry.register(_FanoutCollector(hub, bounds_s))

    def render(self) -> bytes:
        """The text exposition format of every metric, as served on /metrics."""
        return bytes(generate_latest(self.registry))


async def serve_metrics(metrics: SwitchMetrics, host: str, port: int) -> asyncio.Server:
    """Serve GET /metrics on host:port (port 0: any free port); the caller owns the server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    response = _response(431, b"request too large\n")
                else:
                    response = _answer(metrics, head)
                writer.write(response)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away or stalled: nothing to answer
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_REQUEST_BYTES)


def _answer(metrics: SwitchMetrics, head: bytes) -> bytes:
    request_line = head.split(b"\r\n", 1)[0]
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return _response(400, b"bad request\n")
    method, target = parts[0], parts[1]
    if target.split(b"?", 1)[0] != b"/metrics":
        return _response(404, b"not found: try /metrics\n")
    if method != b"GET":
        return _response(405, b"only GET\n", extra=b"Allow: GET\r\n")
    try:
        body = metrics.render()
    except Exception:
        log.exception("metrics scrape failed")
        return _response(500, b"scrape failed\n")
    return _response(200, body, content_type=CONTENT_TYPE_LATEST)


_REASONS: Final = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def _response(
    status: int,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    extra: bytes = b"",
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
    ).encode()
    return head + extra + b"\r\n" + body
