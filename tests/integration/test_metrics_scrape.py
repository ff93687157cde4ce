"""What Prometheus scrapes from a running switch after real calls."""

from __future__ import annotations

import re
import shutil
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from running_switch import Switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SIPP_PCAPS = Path("/usr/share/sip-tester")  # g711a.pcap and dtmf_2833_*.pcap, from sip-tester


_BAD_CSEQ = (
    b"INVITE sip:9196@127.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:PORT;branch=z9hG4bK-metrics-probe\r\n"
    b"From: <sip:probe@127.0.0.1>;tag=p1\r\nTo: <sip:9196@127.0.0.1>\r\n"
    b"Call-ID: metrics-probe\r\nCSeq: garbage INVITE\r\nMax-Forwards: 70\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+(?:\{[^}]*\})?) (\S+)", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def test_metrics_count_calls_sip_and_rtp(
    switch: Switch, sipp: Callable[..., Sipp], tmp_path: Path
) -> None:
    # uac_pcap plays pcap/*.pcap (voice, then an RFC 2833 digit) from SIPp's working folder.
    shutil.copytree(SIPP_PCAPS, tmp_path / "pcap", ignore=shutil.ignore_patterns("*.xml"))
    calls = 20
    args = ["-sn", "uac_pcap", f"127.0.0.1:{switch.sip_port}", "-s", "9196"]
    result = sipp("echo-media", [*args, "-m", str(calls), "-r", "20", "-l", "20"], 60).result()
    assert (result.returncode, result.failed) == (0, 0), result.summary()
    switch.closed_cdrs(calls, 10.0)

    # One malformed request: answered 400, and counted.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(5)
        probe.sendto(
            _BAD_CSEQ.replace(b"PORT", str(probe.getsockname()[1]).encode()),
            ("127.0.0.1", switch.sip_port),
        )
        assert probe.recv(4096).startswith(b"SIP/2.0 400 ")

    samples = _scrape(switch.ports.metrics)
    assert samples['softswitch_calls_total{disposition="answered"}'] == calls
    assert samples["softswitch_calls_active"] == 0
    assert samples['softswitch_sip_requests_total{direction="in",method="INVITE"}'] == calls
    assert samples['softswitch_sip_requests_total{direction="in",method="BYE"}'] == calls
    assert samples['softswitch_sip_responses_total{code="200",direction="out"}'] >= 2 * calls
    assert samples["softswitch_call_setup_seconds_count"] == calls
    # uac_pcap plays a few seconds of G.711 per call: the echo relays every packet back.
    assert samples["softswitch_rtp_packets_relayed_total"] > 100 * calls
    assert samples["softswitch_sip_malformed_total"] == 1
    assert samples["softswitch_refused_destinations_total"] == 0
