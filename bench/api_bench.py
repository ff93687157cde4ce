"""The API scenario: CTI API latency under concurrent calls, and event fan-out to WebSockets.

    python -m bench --scenario api [--subscribers 200] [--api-calls 200] [--api-requests 500]

Starts `softswitch run --headless` with a bench config (SIPp's calls come in on the `loadgen`
trunk and go to the echo application, so each is answered by the switch itself), opens
`subscribers` WebSockets on /api/v1/events as admin, then holds `calls` concurrent SIPp calls up
(bench/sipp_scenarios/uac_holdable.xml answers the switch's hold and resume re-INVITEs). It
reports, from what a client sees:

- fan-out: for every event delivered to every subscriber, the time from the event's timestamp
  (taken by the switch when the B2BUA reported the call event) to its arrival, p50/p99/max.
  Arrival is noted as the bytes are read by a bare WebSocket reader (`_EventReader`), JSON is
  parsed after the run: the receiver costs a few µs per frame, not aiohttp's and json's tens;
- `GET /api/v1/calls` (each listing every call): `requests` sequential requests while all calls
  are up, p50/p99;
- hold and resume (`PUT .../legs/{leg}/hold`, then `.../resume`): up to `requests` / 2 calls put
  on hold one after the other, then taken off it, p50/p99 of each request (each hold and resume
  is itself an event to every subscriber, so these include the fan-out's cost).

The fan-out figure has two halves, measured apart: the switch's (its own histogram on
/metrics, from the event's timestamp to the write to each socket, and how long each turn's
writing took), and this process's, which reads all 200 sockets on the same two cores (its
event-loop lag: how late a 5 ms timer fires while it reads). The switch's CPU seconds over the
measurement (/proc) say what the same load cost it. With `profile`, py-spy samples the switch
throughout (bench/profiling.py).

Drives the switch as a user does (the command, HTTP, WebSocket): no module of the switch.
Everything runs on 127.0.0.1; SIPp's load is bounded by call count and time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.display import Display
from bench.peers.base import free_port, free_port_range, sip_options_ping
from bench.peers.softswitch import softswitch_command
from bench.procstat import cpu_seconds
from bench.profiling import Profiler
from bench.sipp import percentile

CALL_HOLD_MS = 30_000  # how long a call stays after the switch's last re-INVITE to it
PASSWORD = "bench-admin"
SCENARIO = Path(__file__).resolve().parent / "sipp_scenarios" / "uac_holdable.xml"
ECHO = "9196"
EVENTS_PER_CALL = 3  # call_created, call_answered, call_ended, before any hold


@dataclass(frozen=True)
class ApiLoad:
    subscribers: int = 200
    calls: int = 200
    requests: int = 500
    rate: int = 50  # new calls per second


def bench_config(api_port: int, queue_size: int, metrics_port: int) -> str:
    return f"""\
# Written by bench/api_bench.py: SIPp uac -> softswitch echo; the API on loopback.
[sip]
host = "127.0.0.1"
transports = ["udp"]

[metrics]
host = "127.0.0.1"
port = {metrics_port}

[security]
allowed_destinations = ["127.0.0.0/8", "::1/128"]

[api]
host = "127.0.0.1"
port = {api_port}
event_queue_size = {queue_size}

[[users]]
username = "admin"
password = "{PASSWORD}"
role = "admin"

[[trunks]]
name = "loadgen"
host = "127.0.0.1"
port = 0
context = "from-loadgen"

[[routes]]
context = "from-loadgen"
number = "{ECHO}"
destination = "echo"
"""


class _EventReader(asyncio.Protocol):
    """A bare WebSocket client (RFC 6455) that notes each text frame's arrival time as the
    bytes come in and parses nothing else until the run is over: so that the receiver's own
    cost (JSON, aiohttp's reader, a task per socket) is not mistaken for the switch's."""

    def __init__(self, arrivals: list[tuple[float, bytes]]) -> None:
        self.arrivals = arrivals
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray()
        self._upgraded = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self._buffer
        buffer += data
        if not self._upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(buffer[:end]).decode()))
                return
            del buffer[: end + 4]
            self._upgraded = True
        while len(buffer) >= 2:
            opcode, size, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                if len(buffer) < 4:
                    return
                size, at = int.from_bytes(buffer[2:4]), 4
            elif size == 127:
                if len(buffer) < 10:
                    return
                size, at = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < at + size:
                return
            payload = bytes(buffer[at : at + size])
            del buffer[: at + size]
            if opcode == 0x1:
                if not self.ready.done():
                    self.ready.set_result(None)  # {"op": "init"}
                else:
                    self.arrivals.append((now, payload))
            elif opcode == 0x9 and self._transport is not None:  # ping: pong, masked (zero key)
                self._transport.write(bytes([0x8A, 0x80 | size]) + b"\0\0\0\0" + payload)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _open_reader(
    host: str, port: int, path: str, arrivals: list[tuple[float, bytes]]
) -> _EventReader:
    loop = asyncio.get_running_loop()
    _, reader = await loop.create_connection(lambda: _EventReader(arrivals), host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    assert reader._transport is not None
    reader._transport.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    await asyncio.wait_for(reader.ready, 30.0)
    return reader


def _delays(arrivals: list[tuple[float, bytes]]) -> list[float]:
    """Arrival minus the event's own timestamp, for every event frame."""
    out = []
    for arrived, payload in arrivals:
        stamp = json.loads(payload).get("timestamp")
        if stamp is not None:
            out.append(arrived - datetime.fromisoformat(stamp).timestamp())
    return out


async def _timed(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str]
) -> float:
    started = time.perf_counter()
    async with session.request(method, url, headers=headers) as response:
        await response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: {response.status} {await response.text()}")
    return time.perf_counter() - started


LAG_PERIOD_S = 0.005


async def _loop_lag(lags: list[float]) -> None:
    """How late this process's loop wakes for a timer: the receive side's own delay."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LAG_PERIOD_S
        await asyncio.sleep(LAG_PERIOD_S)
        lags.append(loop.time() - due)


def bucket_quantile(text: str, name: str, q: float) -> float | None:
    """The upper bound of the bucket holding quantile `q` of a Prometheus histogram, in ms."""
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            labels, _, value = line.rpartition(" ")
            bound = labels.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(value)))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    return next(bound * 1000 for bound, count in buckets if count >= q * total)


def metric_value(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def _switch_side(text: str) -> dict[str, Any]:
    delay, flush = "softswitch_api_event_write_delay_seconds", "softswitch_api_event_flush_seconds"
    wait = "softswitch_api_event_flush_wait_seconds"
    count = metric_value(text, f"{delay}_count")
    total = metric_value(text, f"{delay}_sum")
    flushes = metric_value(text, f"{flush}_count")
    flush_sum = metric_value(text, f"{flush}_sum")
    return {
        "switch_writes": count,
        "switch_write_mean_ms": 1000 * total / count if count and total is not None else None,
        "switch_write_p50_le_ms": bucket_quantile(text, delay, 0.5),
        "switch_write_p99_le_ms": bucket_quantile(text, delay, 0.99),
        "switch_flushes": flushes,
        "switch_flush_mean_ms": 1000 * flush_sum / flushes
        if flushes and flush_sum is not None
        else None,
        "switch_flush_p99_le_ms": bucket_quantile(text, flush, 0.99),
        "switch_flush_wait_p50_le_ms": bucket_quantile(text, wait, 0.5),
        "switch_flush_wait_p99_le_ms": bucket_quantile(text, wait, 0.99),
        "switch_events_dropped": metric_value(text, "softswitch_api_events_dropped_total"),
    }


def _ms_stats(prefix: str, seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        f"{prefix}_requests": len(ms),
        f"{prefix}_p50_ms": percentile(ms, 0.5),
        f"{prefix}_p99_ms": percentile(ms, 0.99),
    }


async def _measure(
    load: ApiLoad, api_url: str, sip_port: int, workdir: Path, metrics_url: str, switch_pid: int
) -> dict[str, Any]:
    lags: list[float] = []
    lag_probe = asyncio.ensure_future(_loop_lag(lags))
    # One connection per subscriber: aiohttp's default pool stops at 100.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async with session.post(
            f"{api_url}/api/v1/tokens", json={"username": "admin", "password": PASSWORD}
        ) as response:
            token = (await response.json())["token"]
        events_path = f"/api/v1/events?token={token}&events=*"
        arrivals: list[tuple[float, bytes]] = []
        host, port = api_url.removeprefix("http://").rsplit(":", 1)
        readers = [
            await _open_reader(host, int(port), events_path, arrivals)
            for _ in range(load.subscribers)
        ]
        cpu_before = cpu_seconds([switch_pid])
        scenario = workdir / SCENARIO.name
        scenario.write_text(SCENARIO.read_text().replace("[talk_ms]", str(CALL_HOLD_MS)))
        sipp = subprocess.Popen(
            [
                "sipp", "-sf", str(scenario), f"127.0.0.1:{sip_port}", "-s", ECHO,
                "-m", str(load.calls), "-l", str(load.calls), "-r", str(load.rate),
                "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(free_port()), "-nostdin",
                "-timeout", f"{CALL_HOLD_MS // 1000 + 60}s", "-timeout_error",
            ],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=open(workdir / "sipp.err", "wb"),  # noqa: SIM115
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        calls_url = f"{api_url}/api/v1/calls"
        deadline = time.monotonic() + 60.0
        while True:  # wait until every call is up
            async with session.get(calls_url, headers=headers) as response:
                calls = (await response.json())["items"]
            if len(calls) >= load.calls or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        up = len(calls)
        listing = [await _timed(session, "GET", calls_url, headers) for _ in range(load.requests)]
        legs = [(c["call_id"], c["legs"][0]["leg_id"]) for c in calls[: load.requests // 2]]
        holds = [
            await _timed(session, "PUT", f"{calls_url}/{call}/legs/{leg}/hold", headers)
            for call, leg in legs
        ]
        resumes = [
            await _timed(session, "PUT", f"{calls_url}/{call}/legs/{leg}/resume", headers)
            for call, leg in legs
        ]
        returncode = await asyncio.get_running_loop().run_in_executor(
            None, sipp.wait, CALL_HOLD_MS / 1000 + 90
        )
        expected = load.subscribers * load.calls * EVENTS_PER_CALL
        end = time.monotonic() + 15.0
        while len(arrivals) < expected and time.monotonic() < end:
            await asyncio.sleep(0.1)
        switch_cpu_s = cpu_seconds([switch_pid]) - cpu_before
        for reader in readers:
            reader.close()
        lag_probe.cancel()
        await asyncio.gather(lag_probe, return_exceptions=True)
        async with session.get(metrics_url) as response:
            switch_side = _switch_side(await response.text())
    ms = [d * 1000 for d in _delays(arrivals)]
    lag_ms = [lag * 1000 for lag in lags]
    return {
        "subscribers": load.subscribers,
        "calls": load.calls,
        "calls_up_during_requests": up,
        "sipp_exit": returncode,
        "deliveries": len(ms),
        "deliveries_at_least": expected,
        "fanout_p50_ms": percentile(ms, 0.5),
        "fanout_p99_ms": percentile(ms, 0.99),
        "fanout_max_ms": max(ms) if ms else None,
        "switch_cpu_s": switch_cpu_s,
        "receive_lag_p50_ms": percentile(lag_ms, 0.5),
        "receive_lag_p99_ms": percentile(lag_ms, 0.99),
        "receive_lag_max_ms": max(lag_ms) if lag_ms else None,
        **switch_side,
        **_ms_stats("list_calls", listing),
        **_ms_stats("hold", holds),
        **_ms_stats("resume", resumes),
    }


def _wait_listening(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_scenario(
    load: ApiLoad, out_dir: Path, display: Display, *, profile: bool = False
) -> dict[str, Any]:
    """Start the switch, measure, stop it; the switch's log (and with `profile` py-spy's
    summary) stays in out_dir/api/."""
    workdir = out_dir / "api"
    workdir.mkdir(parents=True, exist_ok=True)
    api_port = free_port(kind=socket.SOCK_STREAM)
    sip_port = free_port()
    config = workdir / "softswitch.toml"
    # Room for every event of every call (and each hold and resume) per subscriber: none dropped.
    metrics_port = free_port(kind=socket.SOCK_STREAM)
    config.write_text(bench_config(api_port, load.calls * (EVENTS_PER_CALL + 2) + 16, metrics_port))
    low, high = free_port_range(2 * load.calls + 64)
    display.note(
        f"api: {load.calls} calls, {load.subscribers} WebSocket subscribers, "
        f"{load.requests} requests"
    )
    switch = subprocess.Popen(
        [
            str(softswitch_command()), "run", "--config", str(config),
            "--headless", "--sip-port", str(sip_port), "--rtp-ports", f"{low}-{high}",
            "--data-dir", str(workdir / "data"), "--log-level", "warning",
        ],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "softswitch.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    profiler = Profiler(switch.pid, workdir, "api") if profile else None
    try:
        sip_options_ping(sip_port)
        _wait_listening(api_port, 10.0)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        result = asyncio.run(
            _measure(
                load, f"http://127.0.0.1:{api_port}", sip_port, workdir, metrics_url, switch.pid
            )
        )
    except (OSError, RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
        display.note(f"[red]api: {exc}")
        result = {"error": str(exc)}
    finally:
        if profiler is not None:
            result_profile = profiler.stop()
        switch.terminate()
        switch.wait(10)
    if profiler is not None and "error" not in result:
        result["profile"] = str(result_profile.relative_to(out_dir))
    if "error" not in result:
        display.note(
            "api: p99 "
            + ", ".join(
                f"{name} {_ms(result[key])}"
                for name, key in (
                    ("fan-out", "fanout_p99_ms"),
                    ("switch write <=", "switch_write_p99_le_ms"),
                    ("receive lag", "receive_lag_p99_ms"),
                    ("GET /calls", "list_calls_p99_ms"),
                    ("hold", "hold_p99_ms"),
                    ("resume", "resume_p99_ms"),
                )
            )
        )
    return result


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
