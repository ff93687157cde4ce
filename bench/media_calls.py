"""Scenario 2, concurrent calls with media: N G.711 calls with RTP both ways through the peer.

SIPp's uac_pcap plays /usr/share/sip-tester/g711a.pcap (7 s of PCMA) into each call; the uas
answers with the port of bench.rtp_echo, which echoes every packet back through the peer and
counts what arrived. Loss is measured one way (uac -> peer -> echo) as audio: the RTP payload
bytes of audio payload types that arrived against those SIPp plays per call, so a peer that
sends other packet lengths than it receives (the switch's engine, for a recorded call, sends
what the far end's SDP asks for, and pjsua2's 30 ms pcap becomes 20 ms packets) is measured
like one that relays packets as they are. The echo doubles the peer's work so both directions
are loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench import procstat, sipp
from bench.display import StepReporter
from bench.peers import Peer
from bench.peers.base import free_port
from bench.setup_rate import UAS_DRAIN_S, UAS_START_DEADLINE_S, wait_for_file

RAMP_S = 4.0  # calls start over this long; each then holds about 9 s (the pcaps plus pauses)
MAX_RATE = 250.0
CALL_HOLD_S = 10.0


@dataclass(frozen=True)
class MediaStep:
    concurrent: int
    calls: int
    failed_calls: int
    rtp_sent: int
    rtp_received: int
    loss_pct: float | None
    jitter_p99_ms: float | None
    cpu_ms_per_call: float
    cpu_us_per_packet: float | None
    rss_kib_per_call: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def start_echo(workdir: Path, port: int) -> subprocess.Popen[str]:
    echo = subprocess.Popen(
        [sys.executable, "-m", "bench.rtp_echo", "--port", str(port), "--stats", "echo.json"],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert echo.stdout is not None
    if echo.stdout.readline().strip() != "ready":
        echo.kill()
        raise RuntimeError("bench.rtp_echo did not start")
    return echo


def stop_echo(echo: subprocess.Popen[str], workdir: Path) -> dict[str, object]:
    echo.terminate()
    echo.wait(timeout=10)
    stats: dict[str, object] = json.loads((workdir / "echo.json").read_text())
    return stats


def run_step(peer: Peer, workdir: Path, concurrent: int, report: StepReporter) -> MediaStep:
    workdir.mkdir(parents=True, exist_ok=True)
    rate = min(MAX_RATE, concurrent / RAMP_S)
    timeout_s = concurrent / rate + CALL_HOLD_S + 30
    echo_port = free_port()
    echo = start_echo(workdir, echo_port)
    uas = sipp.start_uas(
        workdir, peer.uas_port, concurrent, timeout_s + UAS_DRAIN_S,
        answer_port=echo_port, answer_pt=8, answer_codec="PCMA",
    )  # fmt: skip
    rss_before = procstat.rss_bytes(peer.pids)
    rss_peak = rss_before

    def progress(counts: sipp.Counts) -> None:
        nonlocal rss_peak
        rss_peak = max(rss_peak, procstat.rss_bytes(peer.pids))
        report(counts.successful, counts.failed)

    try:
        wait_for_file(workdir / "uas_stat.csv", UAS_START_DEADLINE_S)
        cpu_before = procstat.cpu_seconds(peer.pids)
        uac = sipp.run_uac(
            workdir, target_port=peer.sip_port, local_port=free_port(), calls=concurrent,
            rate=rate, timeout_s=timeout_s, on_progress=progress, media=True,
        )  # fmt: skip
    finally:
        uas_counts = sipp.stop_uas(uas, concurrent, workdir, UAS_DRAIN_S)
        time.sleep(0.2)  # the last echoed packets are still in flight through the peer
        stats = stop_echo(echo, workdir)
    cpu_s = procstat.cpu_seconds(peer.pids) - cpu_before
    peer.check_alive()
    received = int(str(stats["packets"]))
    audio_received = int(str(stats["audio_bytes"]))
    jitters = [float(j) for j in stats["jitter_ms"]]  # type: ignore[attr-defined]
    created = max(uac.counts.created, 1)
    failed = max(uac.counts.failed, uac.counts.created - uas_counts.successful)
    # SIPp plays the same pcaps into each call; a failed call may have sent only part of them.
    sent = uac.counts.successful * sipp.rtp_packets_per_media_call()
    audio_sent = uac.counts.successful * sipp.audio_bytes_per_media_call()
    return MediaStep(
        concurrent=concurrent,
        calls=uac.counts.created,
        failed_calls=failed,
        rtp_sent=sent,
        rtp_received=received,
        # A failed call may have played part or all of its pcaps: only a clean step has a known
        # number of packets sent.
        loss_pct=round(100 * (audio_sent - audio_received) / audio_sent, 3)
        if audio_sent and not failed
        else None,
        jitter_p99_ms=round(p99, 3)
        if (p99 := sipp.percentile(jitters, 0.99)) is not None
        else None,
        cpu_ms_per_call=round(cpu_s * 1000 / created, 3),
        # Each packet crosses the peer twice: in from SIPp, and back from the echo.
        cpu_us_per_packet=round(cpu_s * 1e6 / (2 * received), 2) if received else None,
        rss_kib_per_call=round((rss_peak - rss_before) / 1024 / created, 1),
    )
