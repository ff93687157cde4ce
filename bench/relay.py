"""Scenario "relay": CPU per relayed RTP packet, with nothing else in the measurement.

The media scenario's per-packet figure mixes in call setup, SIPp's pcap playback and the echo.
Here the sessions are set up first (ng offer/answer for rtpengine, real two-leg calls for the
switch, a socket pair per stream for the floor relays), then two `bench.rtp_blaster` processes,
one per side, send N streams of 172-byte RTP both ways at a fixed total rate and count what comes
through. The peer's CPU (/proc/PID/stat) over the blast divided by the packets it relayed is the
figure the reference numbers in ARCHITECTURE.md are given in.

Peers: softswitch, rtpengine (userspace), and the floors: a bare uvloop relay and the same on
stock asyncio (`bench.floor_relay`). Also measured each run, on its own: what one loopback send
plus one receive of such a packet costs this machine now, the syscall floor under any relay.
"""

from __future__ import annotations

import json
import resource
import secrets
import select
import socket
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from bench import procstat, sip_calls
from bench.display import Display, StepReporter
from bench.peers.base import PeerError, free_port
from bench.peers.rtpengine import Rtpengine
from bench.peers.softswitch import RecordingSoftswitch, Softswitch
from bench.programs import Program
from bench.rtp_blaster import PACKET_BYTES

PACKETS_PER_STREAM_S = 50  # per direction: G.711 with 20 ms packets (RFC 3551 §4.5)
SETUP_DEADLINE_S = 60.0
HANGUP_DEADLINE_S = 20.0
BLASTER_READY_S = 10.0
FLOOR_PACKETS = 50_000


@dataclass(frozen=True)
class RelayStep:
    pps: float  # offered, both directions together
    streams: int  # two-way sessions: each has an A->B and a B->A stream
    seconds: float
    sent: int
    relayed: int  # what the blasters received through the peer
    achieved_pps: float
    loss_pct: float
    jitter_p99_ms: float | None
    cpu_s: float
    cpu_us_per_packet: float | None
    generator_cpu_us_per_packet: float  # both blasters, per packet sent

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class RelayPeer(ABC):
    """A system that relays the blasters' streams; its processes are the ones measured."""

    name: ClassVar[str]
    programs: ClassVar[tuple[Program, ...]] = ()

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    @abstractmethod
    def start(self) -> None:
        """Start what lives across steps."""

    @abstractmethod
    def connect(self, a_ports: list[int], b_ports: list[int]) -> tuple[list[int], list[int]]:
        """Sessions from stream i of side A to stream i of side B (the pairing may permute B);
        returns where each A stream and each B stream must send."""

    @abstractmethod
    def disconnect(self) -> None:
        """End this step's sessions."""

    @property
    @abstractmethod
    def pids(self) -> list[int]: ...

    def stop(self) -> None:
        self.disconnect()


class FloorRelay(RelayPeer):
    loop: ClassVar[str]

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Nothing lives across steps: each step's relay is made for its blasters' ports."""

    def connect(self, a_ports: list[int], b_ports: list[int]) -> tuple[list[int], list[int]]:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.floor_relay", "--loop", self.loop],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"a": a_ports, "b": b_ports}) + "\n")
        self.process.stdin.flush()
        ports = json.loads(_read_line(self.process.stdout, self.process, BLASTER_READY_S))
        return ports["a"], ports["b"]

    def disconnect(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    @property
    def pids(self) -> list[int]:
        return [self.process.pid] if self.process else []


class UvloopRelay(FloorRelay):
    name = "uvloop-relay"
    loop = "uvloop"


class AsyncioRelay(FloorRelay):
    name = "asyncio-relay"
    loop = "asyncio"


class RtpengineRelay(RelayPeer):
    name = "rtpengine"
    programs = Rtpengine.programs

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.daemon = Rtpengine(workdir)
        self.sessions: list[tuple[str, str]] = []

    def start(self) -> None:
        self.daemon.start()

    def connect(self, a_ports: list[int], b_ports: list[int]) -> tuple[list[int], list[int]]:
        a_dests, b_dests = [], []
        for a_port, b_port in zip(a_ports, b_ports, strict=True):
            call_id, from_tag, to_tag = (secrets.token_hex(8) for _ in range(3))
            offer = sip_calls.sdp(a_port).decode()
            b_dests.append(self.daemon.offer(call_id, from_tag, offer))
            self.sessions.append((call_id, from_tag))
            answer = sip_calls.sdp(b_port).decode()
            a_dests.append(self.daemon.answer(call_id, from_tag, to_tag, answer))
        return a_dests, b_dests

    def disconnect(self) -> None:
        for call_id, from_tag in self.sessions:
            self.daemon.delete(call_id, from_tag)
        self.sessions.clear()

    @property
    def pids(self) -> list[int]:
        return self.daemon.pids

    def stop(self) -> None:
        try:
            self.disconnect()
        finally:
            self.daemon.stop()


class SoftswitchRelay(RelayPeer):
    """The real switch: each session is a call from the loadgen trunk to the uas trunk."""

    name = "softswitch"
    switch_class: ClassVar[type[Softswitch]] = Softswitch

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.switch = self.switch_class(workdir, uas_port=free_port())
        self.calls: sip_calls.CallPair | None = None

    def start(self) -> None:
        self.switch.start()

    def connect(self, a_ports: list[int], b_ports: list[int]) -> tuple[list[int], list[int]]:
        self.calls = sip_calls.CallPair(
            self.switch.sip_port, self.switch.uas_port, a_ports, b_ports
        )
        try:
            self.calls.setup(SETUP_DEADLINE_S)
        except sip_calls.SipCallError:
            self.disconnect()
            raise
        return self.calls.a_dests, self.calls.b_dests

    def disconnect(self) -> None:
        if self.calls is not None:
            self.calls.hangup(HANGUP_DEADLINE_S)
            self.calls.close()
            self.calls = None

    @property
    def pids(self) -> list[int]:
        return self.switch.pids

    def stop(self) -> None:
        try:
            self.disconnect()
        finally:
            self.switch.stop()


class RecordingSoftswitchRelay(SoftswitchRelay):
    """The switch recording every call: relayed, each packet tapped and placed in the file."""

    name = "softswitch-recording"
    switch_class = RecordingSoftswitch


PEERS: dict[str, type[RelayPeer]] = {
    p.name: p
    for p in (SoftswitchRelay, RecordingSoftswitchRelay, RtpengineRelay, UvloopRelay, AsyncioRelay)
}


def default_streams(pps: float) -> int:
    """Two-way sessions that carry `pps` as G.711 calls with 20 ms packets would."""
    return max(1, round(pps / (2 * PACKETS_PER_STREAM_S)))


def _read_line(stream: IO[str], process: subprocess.Popen[str], deadline_s: float) -> str:
    """One line from a child's stdout, or RuntimeError if it exits or stays silent too long."""
    what = " ".join(str(a) for a in process.args[2:4])  # type: ignore[index]
    if not select.select([stream], [], [], deadline_s)[0]:
        process.kill()
        raise RuntimeError(f"{what} said nothing within {deadline_s:.0f} s")
    line = stream.readline()
    if not line:
        raise RuntimeError(f"{what} exited with status {process.wait()}")
    return line


def start_blaster(
    streams: int, pps: float, seconds: float, *, mixed: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "bench.rtp_blaster", "--streams", str(streams),
            "--pps", f"{pps:g}", "--seconds", f"{seconds:g}", *(["--mixed"] if mixed else []),
        ],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_step(
    peer: RelayPeer, pps: float, streams: int, seconds: float, report: StepReporter
) -> RelayStep:
    """Blast `pps` packets/s (half each way) over `streams` sessions through the peer."""
    blasters = [start_blaster(streams, pps / 2, seconds) for _ in "ab"]
    try:
        a_ports, b_ports = (
            json.loads(_read_line(b.stdout, b, BLASTER_READY_S))["ports"]
            for b in blasters
            if b.stdout is not None
        )
        a_dests, b_dests = peer.connect(a_ports, b_ports)
        report(streams, 0)
        cpu_before = procstat.cpu_seconds(peer.pids)
        for blaster, dests in zip(blasters, (a_dests, b_dests), strict=True):
            assert blaster.stdin is not None
            blaster.stdin.write(json.dumps({"dests": dests}) + "\n")
            blaster.stdin.flush()
        stats = [
            json.loads(_read_line(b.stdout, b, seconds * 3 + 10))
            for b in blasters
            if b.stdout is not None
        ]
        cpu_s = procstat.cpu_seconds(peer.pids) - cpu_before
    finally:
        for b in blasters:
            if b.poll() is None:
                b.kill()
            b.wait()
    peer.disconnect()
    sent = sum(int(s["sent"]) for s in stats)
    relayed = sum(int(s["received"]) for s in stats)
    jitters = sorted(j for s in stats for j in s["jitter_ms"])
    send_s = max(float(s["send_s"]) for s in stats)
    return RelayStep(
        pps=pps,
        streams=streams,
        seconds=seconds,
        sent=sent,
        relayed=relayed,
        achieved_pps=round(sent / send_s) if send_s else 0.0,
        loss_pct=round(100 * (sent - relayed) / sent, 3) if sent else 0.0,
        jitter_p99_ms=round(jitters[min(len(jitters) - 1, int(0.99 * len(jitters)))], 3)
        if jitters
        else None,
        cpu_s=round(cpu_s, 3),
        cpu_us_per_packet=round(cpu_s * 1e6 / relayed, 2) if relayed else None,
        generator_cpu_us_per_packet=round(
            sum(float(s["cpu_s"]) for s in stats) * 1e6 / sent, 2
        ) if sent else 0.0,
    )  # fmt: skip


def syscall_floor_us(packets: int = FLOOR_PACKETS) -> float:
    """CPU µs of one loopback sendto plus one recv of a 172-byte packet, in a tight loop:
    the kernel's share of relaying, before any event loop or relay logic."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
    ):
        rx.bind(("127.0.0.1", 0))
        dest = rx.getsockname()
        data = bytes(PACKET_BYTES)
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(packets):
            tx.sendto(data, dest)
            rx.recv(2048)
        after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return round(cpu_s * 1e6 / packets, 2)


def run_scenario(
    peers: list[str],
    pps_steps: list[float],
    streams: int | None,
    seconds: float,
    out_dir: Path,
    display: Display,
) -> dict[str, Any]:
    """Every step on every peer; a peer that fails keeps its finished steps and the error."""
    results: dict[str, Any] = {"syscall_floor_us": syscall_floor_us(), "peers": {}}
    for name in peers:
        peer = PEERS[name](out_dir / "relay" / name)
        done: list[RelayStep] = []
        error = None
        try:
            peer.start()
            for pps in pps_steps:
                n = streams or default_streams(pps)
                label = f"{pps:g} pkt/s, {n} sessions"
                with display.step("relay", name, label, n) as progress:
                    done.append(run_step(peer, pps, n, seconds, progress))
        except (PeerError, RuntimeError, OSError) as exc:
            error = str(exc)
            display.note(f"[red]relay {name}: {exc}")
        finally:
            peer.stop()
        entry: dict[str, Any] = {"steps": [s.as_dict() for s in done]}
        if error:
            entry["error"] = error
        results["peers"][name] = entry
    return results
