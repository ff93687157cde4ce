"""Driving SIPp as the load generator (uac) and the far end (uas), and reading its verdicts.

SIPp's own counters are the source of truth a load tester trusts: the uac's statistics CSV gives
failed calls by cause, its response-time trace gives INVITE-to-200 times (1 ms resolution), and
the uas's CSV tells whether every B leg was really released.
"""

from __future__ import annotations

import csv
import math
import shutil
import signal
import struct
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.programs import SIPP

SCENARIO_DIR = Path(__file__).parent / "sipp_scenarios"
UAS_SCENARIO = SCENARIO_DIR / "uas.xml"
PCAP_DIR = Path("/usr/share/sip-tester")
DIALLED_NUMBER = "7000"
RTT_DUMP_EVERY_CALLS = 100  # at most; fewer writes disturb the load generator less
# The RTP that SIPp's built-in uac_pcap plays into every call (sipp -sd uac_pcap).
UAC_PCAP_FILES = ("g711a.pcap", "dtmf_2833_1.pcap")


@dataclass(frozen=True)
class Counts:
    """Cumulative counters from the last row of a SIPp statistics CSV."""

    created: int
    successful: int
    failed: int
    failed_by_cause: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class UacResult:
    exit_status: int
    counts: Counts
    setup_ms: list[float]
    wall_s: float


def read_counts(stat_csv: Path) -> Counts:
    """The cumulative counters of a SIPp -trace_stat file; zeros before its first dump."""
    try:
        with stat_csv.open(newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
    except FileNotFoundError:
        return Counts(0, 0, 0)
    if len(rows) < 2:
        return Counts(0, 0, 0)
    last = dict(zip(rows[0], rows[-1], strict=False))

    def value(name: str) -> int:
        raw = last.get(name, "0") or "0"
        return int(raw) if raw.isdigit() else 0

    causes = {
        name[len("Failed") : -len("(C)")]: value(name)
        for name in rows[0]
        if name.startswith("Failed") and name.endswith("(C)") and name != "FailedCall(C)"
    }
    return Counts(
        created=value("TotalCallCreated"),
        successful=value("SuccessfulCall(C)"),
        failed=value("FailedCall(C)"),
        failed_by_cause={k: v for k, v in causes.items() if v},
    )


def read_setup_times(workdir: Path) -> list[float]:
    """INVITE-to-200 times in ms from the uac's -trace_rtt file (SIPp's clock has 1 ms steps)."""
    times: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        with path.open(newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                if len(row) >= 2 and row[1].replace(".", "", 1).isdigit():
                    times.append(float(row[1]))
    return times


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def rtt_dump_every(calls: int) -> int:
    """SIPp writes response times every N calls and drops a last partial batch: N divides calls."""
    return next(n for n in range(min(RTT_DUMP_EVERY_CALLS, calls), 0, -1) if calls % n == 0)


def start_uas(
    workdir: Path,
    port: int,
    calls: int,
    timeout_s: float,
    answer_port: int,
    answer_pt: int = 0,
    answer_codec: str = "PCMU",
) -> subprocess.Popen[bytes]:
    """The far end: answers every call, exits by itself after `calls` calls have ended."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        "sipp", "-sf", str(UAS_SCENARIO), "-i", "127.0.0.1", "-p", str(port),
        "-m", str(calls), "-nostdin", "-timeout", f"{timeout_s:.0f}s",
        "-trace_stat", "-stf", "uas_stat.csv", "-fd", "1",
        "-key", "answer_port", str(answer_port),
        "-key", "answer_pt", str(answer_pt),
        "-key", "answer_codec", answer_codec,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=(workdir / "uas.out").open("wb"),
        stderr=subprocess.STDOUT,
    )


def stop_uas(
    uas: subprocess.Popen[bytes], expected_calls: int, workdir: Path, wait_s: float
) -> Counts:
    """Wait until the uas has closed all calls or wait_s passed, then read its counters."""
    deadline = time.monotonic() + wait_s
    while uas.poll() is None and time.monotonic() < deadline:
        counts = read_counts(workdir / "uas_stat.csv")
        if counts.successful + counts.failed >= expected_calls:
            break
        time.sleep(0.2)
    if uas.poll() is None:
        # SIPp's stats CSV is rewritten every second (-fd 1): give it one more dump, then stop it.
        time.sleep(1.1)
        uas.send_signal(signal.SIGTERM)
        try:
            uas.wait(timeout=5)
        except subprocess.TimeoutExpired:
            uas.kill()
            uas.wait()
    return read_counts(workdir / "uas_stat.csv")


def run_uac(
    workdir: Path,
    target_port: int,
    local_port: int,
    calls: int,
    rate: float,
    timeout_s: float,
    on_progress: Callable[[Counts], None],
    media: bool = False,
) -> UacResult:
    """Place `calls` calls at `rate` per second through 127.0.0.1:target_port and wait for them."""
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = ["-sn", "uac"]
    if media:
        # uac_pcap plays pcap/g711a.pcap relative to its working directory.
        (workdir / "pcap").mkdir(exist_ok=True)
        for pcap in PCAP_DIR.glob("*.pcap"):
            shutil.copy(pcap, workdir / "pcap" / pcap.name)
        scenario = ["-sn", "uac_pcap", "-mi", "127.0.0.1"]
    command = [
        "sipp", *scenario, f"127.0.0.1:{target_port}", "-s", DIALLED_NUMBER,
        "-i", "127.0.0.1", "-p", str(local_port),
        "-m", str(calls), "-r", f"{rate:g}", "-l", str(calls), "-d", "0",
        "-nostdin", "-timeout", f"{timeout_s:.0f}s", "-timeout_error",
        "-trace_stat", "-stf", "uac_stat.csv", "-fd", "1",
        "-trace_rtt", "-rtt_freq", str(rtt_dump_every(calls)),
        "-trace_err", "-error_file", "uac_errors.log",
    ]  # fmt: skip
    started = time.monotonic()
    out_path = workdir / "uac.out"
    with out_path.open("wb") as out:
        uac = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
        # SIPp bounds itself with -timeout; this is the backstop if it ever hangs.
        hard_deadline = started + timeout_s + 15
        while uac.poll() is None:
            on_progress(read_counts(workdir / "uac_stat.csv"))
            if time.monotonic() > hard_deadline:
                uac.kill()
            time.sleep(0.25)
    wall_s = time.monotonic() - started
    counts = read_counts(workdir / "uac_stat.csv")
    on_progress(counts)
    return UacResult(
        exit_status=uac.returncode,
        counts=counts,
        setup_ms=read_setup_times(workdir),
        wall_s=wall_s,
    )


def pcap_packets(path: Path) -> int:
    """Packets in a classic libpcap file: a 24-byte file header, then 16-byte record headers."""
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    count, offset = 0, 24
    while offset + 16 <= len(data):
        (included,) = struct.unpack_from(order + "I", data, offset + 8)
        offset += 16 + included
        count += 1
    return count


_LINK_HEADER = {0: 4, 1: 14, 113: 16}  # libpcap link types: null, Ethernet, Linux cooked


def pcap_audio_bytes(path: Path) -> int:
    """RTP payload bytes of static (audio) payload types in a libpcap file of IPv4/UDP/RTP."""
    data = path.read_bytes()
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" else ">"
    (link,) = struct.unpack_from(order + "I", data, 20)
    skip = _LINK_HEADER.get(link, 14)
    total, offset = 0, 24
    while offset + 16 <= len(data):
        (included,) = struct.unpack_from(order + "I", data, offset + 8)
        packet = data[offset + 16 : offset + 16 + included]
        offset += 16 + included
        if len(packet) < skip + 20:
            continue
        ip = skip + 4 * (packet[skip] & 0x0F)
        rtp = ip + 8
        if len(packet) >= rtp + 12 and packet[rtp + 1] & 0x7F < 96:
            total += len(packet) - rtp - 12
    return total


def audio_bytes_per_media_call() -> int:
    return sum(pcap_audio_bytes(PCAP_DIR / name) for name in UAC_PCAP_FILES)


def rtp_packets_per_media_call() -> int:
    return sum(pcap_packets(PCAP_DIR / name) for name in UAC_PCAP_FILES)


def version() -> str:
    return SIPP.version(["-v"], r"SIPp v(\S+?)\.?(?:\s|$)")
