"""ACD end to end: SIPp callers into a queue, simulated agents, queue entry to the agent's INVITE.

The switch runs with queue 7000 (longest-idle, no wrap-up) and `agents` agent extensions. One
SIPp uas answers for every agent: each agent's REGISTER (sent here, digest MD5) names the uas as
its Contact, and the API logs them in. A SIPp uac then places `calls` calls at `rate` to 7000,
each held `hold_ms` after the answer, few enough that an agent is always free. The figure is the
switch's own `softswitch_queue_offer_seconds`: from the caller's queue entry to the agent's
INVITE handed to the transport, for callers offered at once (an agent was free). Its histogram
buckets bound the percentiles: "p99 <= 3 ms" means the 99th percentile fell in the bucket that
ends at 3 ms.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.display import Display
from bench.peers.base import free_port, free_port_range, sip_options_ping
from bench.peers.softswitch import softswitch_command
from bench.sipp import UAS_SCENARIO, read_counts

QUEUE = "7000"
GOAL_MS = 5.0
FIRST_AGENT = 2001
PASSWORD = "bench-agent"
RTP_PORTS = 2000


def config(agents: int, uas_port: int) -> str:
    lines = [
        "# Written by the bench: SIPp uac -> queue 7000 -> agents answered by one SIPp uas.",
        '[sip]\nhost = "127.0.0.1"\ntransports = ["udp"]',
        '[security]\nallowed_destinations = ["127.0.0.0/8"]\ndigest_algorithms = ["MD5"]',
        # The load generator's calls are routed as a phone's would be: queues need no route.
        '[[trunks]]\nname = "loadgen"\nhost = "127.0.0.1"\nport = 0\ncontext = "internal"',
        '[[users]]\nusername = "admin"\npassword = "bench-admin"\nrole = "admin"',
        f'[[queues]]\nnumber = "{QUEUE}"\nstrategy = "longest-idle"\nwrap_up_s = 0\n'
        "max_no_answer = 0\nring_timeout_s = 10\nannounce_every_s = 0",
    ]
    for number in range(FIRST_AGENT, FIRST_AGENT + agents):
        lines.append(f'[[extensions]]\nnumber = "{number}"\npassword = "{PASSWORD}"\nnat = "never"')
        lines.append(f'[[agents]]\nnumber = "{number}"\nqueues = ["{QUEUE}"]')
    del uas_port  # the uas is reached through each agent's Contact
    return "\n\n".join(lines) + "\n"


def _challenge(data: bytes) -> dict[str, str]:
    text = data.decode("utf-8", "replace")
    header = re.search(r"^WWW-Authenticate:\s*Digest\s+(.*)$", text, re.M | re.I)
    assert header is not None, f"no digest challenge in {text[:200]!r}"
    return dict(re.findall(r'(\w+)="?([^",]*)"?', header.group(1)))


def register(sip_port: int, number: int, uas_port: int) -> None:
    """REGISTER `number` with Contact at the SIPp uas, answering the digest challenge."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2.0)
        local = s.getsockname()[1]
        call_id = secrets.token_hex(8)
        uri = f"sip:127.0.0.1:{sip_port}"
        auth = ""
        for cseq in (1, 2):
            request = (
                f"REGISTER {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
                f"Max-Forwards: 70\r\nFrom: <sip:{number}@127.0.0.1>;tag={call_id[:6]}\r\n"
                f"To: <sip:{number}@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                f"Contact: <sip:{number}@127.0.0.1:{uas_port}>\r\nExpires: 3600\r\n{auth}"
                "Content-Length: 0\r\n\r\n"
            )
            s.sendto(request.encode(), ("127.0.0.1", sip_port))
            data = s.recv(65535)
            status = int(data.split(b" ", 2)[1])
            if status == 200:
                return
            if status != 401 or cseq == 2:
                raise RuntimeError(f"REGISTER {number}: {data[:80]!r}")
            c = _challenge(data)
            ha1 = hashlib.md5(f"{number}:{c['realm']}:{PASSWORD}".encode()).hexdigest()
            ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
            cnonce, nc = secrets.token_hex(4), "00000001"
            answer = hashlib.md5(f"{ha1}:{c['nonce']}:{nc}:{cnonce}:auth:{ha2}".encode())
            auth = (
                f'Authorization: Digest username="{number}", realm="{c["realm"]}", '
                f'nonce="{c["nonce"]}", uri="{uri}", response="{answer.hexdigest()}", '
                f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"'
                + (f', opaque="{c["opaque"]}"' if "opaque" in c else "")
                + "\r\n"
            )


def _api(port: int, method: str, path: str, body: dict[str, Any], token: str = "") -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text else None


def log_in_agents(api_port: int, agents: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            token = _api(api_port, "POST", "/api/v1/tokens",
                         {"username": "admin", "password": "bench-admin"})["token"]  # fmt: skip
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    for number in range(FIRST_AGENT, FIRST_AGENT + agents):
        _api(api_port, "POST", f"/api/v1/agents/{number}/login", {}, token)


def offer_histogram(metrics_port: int) -> tuple[list[tuple[float, float]], float]:
    """The cumulative buckets (upper bound s, count) and the count of the offer histogram."""
    url = f"http://127.0.0.1:{metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    buckets = [
        (float("inf") if le == "+Inf" else float(le), float(n))
        for le, n in re.findall(
            r'softswitch_queue_offer_seconds_bucket\{le="([^"]+)"\} (\S+)', text
        )
    ]
    count = re.search(r"softswitch_queue_offer_seconds_count (\S+)", text)
    return buckets, float(count.group(1)) if count else 0.0


def bucket_percentile(buckets: list[tuple[float, float]], count: float, q: float) -> float | None:
    """The upper bound (s) of the bucket holding the q-th quantile."""
    for bound, cumulative in buckets:
        if count and cumulative >= q * count:
            return bound
    return None


def run_scenario(
    display: Display,
    workdir: Path,
    *,
    agents: int = 20,
    calls: int = 500,
    rate: float = 10.0,
    hold_ms: int = 1000,
) -> dict[str, Any]:
    """Bounded: `calls` calls, SIPp's own timeout, every process stopped at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    sip_port, uas_port, api_port = free_port(), free_port(), free_port(kind=socket.SOCK_STREAM)
    metrics_port = free_port(kind=socket.SOCK_STREAM)
    (workdir / "softswitch.toml").write_text(config(agents, uas_port))
    (workdir / "data").mkdir(exist_ok=True)
    low, high = free_port_range(RTP_PORTS)
    timeout_s = calls / rate + 30
    procs: list[subprocess.Popen[bytes]] = []
    try:
        switch_log = (workdir / "softswitch.log").open("wb")
        procs.append(subprocess.Popen(
            [str(softswitch_command()), "run", "--config", str(workdir / "softswitch.toml"),
             "--headless", "--sip-host", "127.0.0.1", "--sip-port", str(sip_port),
             "--rtp-ports", f"{low}-{high}", "--data-dir", str(workdir / "data"),
             "--metrics-port", str(metrics_port), "--api-port", str(api_port),
             "--log-level", "warning"],
            stdin=subprocess.DEVNULL, stdout=switch_log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        if sip_options_ping(sip_port) != 200:
            raise RuntimeError("the switch did not answer OPTIONS with 200")
        uas_dir = workdir / "uas"
        uas_dir.mkdir(exist_ok=True)
        procs.append(subprocess.Popen(
            ["sipp", "-sf", str(UAS_SCENARIO), "-i", "127.0.0.1", "-p", str(uas_port),
             "-m", str(calls), "-nostdin", "-timeout", f"{timeout_s:.0f}s",
             "-key", "answer_port", str(free_port()), "-key", "answer_pt", "0",
             "-key", "answer_codec", "PCMU"],
            cwd=uas_dir, stdin=subprocess.DEVNULL, stdout=(uas_dir / "uas.out").open("wb"),
            stderr=subprocess.STDOUT,
        ))  # fmt: skip
        for number in range(FIRST_AGENT, FIRST_AGENT + agents):
            register(sip_port, number, uas_port)
        log_in_agents(api_port, agents)
        uac_dir = workdir / "uac"
        uac_dir.mkdir(exist_ok=True)
        started = time.monotonic()
        done = subprocess.run(
            ["sipp", "-sn", "uac", f"127.0.0.1:{sip_port}", "-s", QUEUE, "-i", "127.0.0.1",
             "-p", str(free_port()), "-m", str(calls), "-r", f"{rate:g}", "-l", str(calls),
             "-d", str(hold_ms), "-nostdin", "-timeout", f"{timeout_s:.0f}s", "-timeout_error",
             "-trace_stat", "-stf", "uac_stat.csv", "-fd", "1"],
            cwd=uac_dir, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s + 15,
            check=False,
        )  # fmt: skip
        wall_s = time.monotonic() - started
        counts = read_counts(uac_dir / "uac_stat.csv")
        buckets, offered = offer_histogram(metrics_port)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    p50 = bucket_percentile(buckets, offered, 0.50)
    p99 = bucket_percentile(buckets, offered, 0.99)
    result = {
        "agents": agents,
        "calls": calls,
        "rate": rate,
        "hold_ms": hold_ms,
        "uac_exit": done.returncode,
        "successful": counts.successful,
        "failed": counts.failed,
        "offered_at_once": offered,
        "p50_le_ms": None if p50 is None else p50 * 1000,
        "p99_le_ms": None if p99 is None else p99 * 1000,
        "buckets": [[b if b != float("inf") else "+Inf", n] for b, n in buckets],
        "wall_s": wall_s,
        "goal_ms": GOAL_MS,
    }
    display.note(
        f"acd-calls: {offered:.0f} callers offered at once; queue entry to agent INVITE "
        f"p50 <= {result['p50_le_ms']} ms, p99 <= {result['p99_le_ms']} ms "
        f"({counts.successful} calls ok, {counts.failed} failed)"
    )
    return result
