"""CTI API bench: event fan-out to WebSocket subscribers and API latency under concurrent calls.

    .venv/bin/python -m bench.api_bench [--subscribers 200] [--calls 200] [--requests 500]

Starts `softswitch run --headless` with a bench config (SIPp's calls come in on the `loadgen`
trunk and go to the echo application, so each is answered by the switch itself), opens
`--subscribers` WebSockets on /api/v1/events as admin, then holds `--calls` concurrent SIPp
calls up. It reports, from the events received:

- fan-out: for every event delivered to every subscriber, the time from the event's timestamp
  (taken by the switch when the B2BUA reported the call event) to its arrival, p50/p99/max;
- API latency: `--requests` sequential GET /api/v1/calls (each listing every call) while all
  calls are up, p50/p99.

Drives the switch as a user does (the command, HTTP, WebSocket): no module of the switch.
Everything runs on 127.0.0.1; SIPp's load is bounded by call count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import aiohttp

from bench.peers.base import free_port, free_port_range, sip_options_ping
from bench.sipp import percentile

CALL_HOLD_MS = 30_000
PASSWORD = "bench-admin"


def bench_config(api_port: int, queue_size: int) -> str:
    return f"""\
# Written by bench/api_bench.py: SIPp uac -> softswitch echo; the API on loopback.
[sip]
host = "127.0.0.1"
transports = ["udp"]

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
number = "9196"
destination = "echo"
"""


async def _subscriber(
    session: aiohttp.ClientSession, url: str, delays: list[float], ready: asyncio.Event
) -> None:
    async with session.ws_connect(url) as ws:
        await ws.receive()  # {"op": "init"}
        ready.set()
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            now = time.time()
            event = json.loads(message.data)
            if "timestamp" in event:
                delays.append(now - datetime.fromisoformat(event["timestamp"]).timestamp())


async def _measure(
    args: argparse.Namespace, api_url: str, sip_port: int, workdir: Path
) -> dict[str, object]:
    # One connection per subscriber: aiohttp's default pool stops at 100.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async with session.post(
            f"{api_url}/api/v1/tokens", json={"username": "admin", "password": PASSWORD}
        ) as response:
            token = (await response.json())["token"]
        events_url = f"{api_url.replace('http', 'ws', 1)}/api/v1/events?token={token}&events=*"
        delays: list[float] = []
        readies = [asyncio.Event() for _ in range(args.subscribers)]
        tasks = [
            asyncio.ensure_future(_subscriber(session, events_url, delays, ready))
            for ready in readies
        ]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30.0)
        sipp = subprocess.Popen(
            [
                "sipp", "-sn", "uac", f"127.0.0.1:{sip_port}", "-s", "9196",
                "-m", str(args.calls), "-l", str(args.calls), "-r", str(args.rate),
                "-d", str(CALL_HOLD_MS), "-i", "127.0.0.1", "-p", str(free_port()),
                "-nostdin", "-timeout", f"{CALL_HOLD_MS // 1000 + 60}s", "-timeout_error",
            ],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        headers = {"Authorization": f"Bearer {token}"}
        deadline = time.monotonic() + 60.0
        while True:  # wait until every call is up
            async with session.get(f"{api_url}/api/v1/calls", headers=headers) as response:
                up = len((await response.json())["items"])
            if up >= args.calls or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        latencies: list[float] = []
        for _ in range(args.requests):
            started = time.perf_counter()
            async with session.get(f"{api_url}/api/v1/calls", headers=headers) as response:
                await response.read()
                assert response.status == 200
            latencies.append(time.perf_counter() - started)
        returncode = await asyncio.get_running_loop().run_in_executor(None, sipp.wait, 120)
        expected = args.subscribers * args.calls * 3
        end = time.monotonic() + 15.0
        while len(delays) < expected and time.monotonic() < end:
            await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    ms = [d * 1000 for d in delays]
    lat_ms = [d * 1000 for d in latencies]
    return {
        "subscribers": args.subscribers,
        "calls": args.calls,
        "calls_up_during_requests": up,
        "sipp_exit": returncode,
        "deliveries": len(ms),
        "deliveries_expected": expected,
        "fanout_p50_ms": percentile(ms, 0.5),
        "fanout_p99_ms": percentile(ms, 0.99),
        "fanout_max_ms": max(ms) if ms else None,
        "list_calls_p50_ms": percentile(lat_ms, 0.5),
        "list_calls_p99_ms": percentile(lat_ms, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=int, default=50, help="new calls per second")
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian sip-tester; make setup installs it)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="api-bench-"))
    api_port = free_port(kind=socket.SOCK_STREAM)
    sip_port = free_port()
    config = workdir / "softswitch.toml"
    # Each subscriber gets 3 events per call: room for all of them, so none is dropped.
    config.write_text(bench_config(api_port, args.calls * 3 + 16))
    low, high = free_port_range(2 * args.calls + 64)
    switch = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "softswitch"), "run", "--config", str(config),
            "--headless", "--sip-port", str(sip_port), "--rtp-ports", f"{low}-{high}",
            "--data-dir", str(workdir / "data"), "--metrics-port", "0", "--log-level", "warning",
        ],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "softswitch.log", "wb"),  # noqa: SIM115
    )  # fmt: skip
    try:
        sip_options_ping(sip_port)
        api_url = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 10.0
        while True:
            try:
                socket.create_connection(("127.0.0.1", api_port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        result = asyncio.run(_measure(args, api_url, sip_port, workdir))
    finally:
        switch.terminate()
        switch.wait(10)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
