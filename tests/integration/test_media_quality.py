"""Loss, jitter and MOS per leg and direction, from a lossy path to the CDR and /metrics.

A gateway call to 7000 (1001, a pjsua2 phone) whose caller never sends every tenth packet: the
CDR shows 10 % received loss on the caller's leg and about none on 1001's, and /metrics counts
both legs. What 1001 received from the switch is what its RTCP reports said: the switch passes
the gaps on (about 10 % loss reported), recorded or not: a recorded call of one codec stays on
the relay, its packets tapped for the file."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from audio import write_tone
from peers.pjsua import PjsuaPeer
from rtp_caller import GatewayCall
from running_switch import Switch, start_switch
from spectrum import peaks_hz

from softswitch.media.recorder import RECORDINGS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CALL_S = 7.0  # long enough for pjsua2's RTCP reports (about every 5 s)


def _relayed(cfg: dict[str, Any]) -> None:
    for entry in (*cfg["extensions"], *cfg["trunks"]):
        entry["record"] = False


@pytest.fixture(params=["relayed", "recorded"])
def quality_switch(
    request: pytest.FixtureRequest, tmp_path: Path, carrier_port: int
) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=_relayed if request.param == "relayed" else None)
    try:
        yield sw
    finally:
        sw.stop()


def _histogram(port: int, name: str, direction: str) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}_(bucket|count|sum)\{{(.*)\}} (\S+)", line)
        if match and f'direction="{direction}"' in match.group(2):
            le = re.search(r'le="([^"]+)"', match.group(2))
            found[match.group(1) + (f":{le.group(1)}" if le else "")] = float(match.group(3))
    return found


def test_a_lossy_caller_shows_in_the_cdr_and_metrics_per_leg_and_direction(
    quality_switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    recorded = request.node.callspec.params["quality_switch"] == "recorded"
    phone = pjsua("1001")
    phone.register(quality_switch.sip_port, "1001", "demo-1001")
    gateway = GatewayCall(quality_switch.sip_port, "7000")
    try:
        gateway.invite()
        incoming = phone.wait_incoming(5.0)
        phone.send(
            "play", call=incoming["call"], path=str(write_tone(tmp_path / "t.wav", 700.0, 10.0))
        )
        phone.send("answer", call=incoming["call"])
        gateway.wait_answer()
        sent, skipped = gateway.send_tone(CALL_S, 440.0, skip_every=10)
        gateway.bye()
    finally:
        gateway.close()
    assert skipped == sent // 9
    row = quality_switch.closed_cdr()
    figures = {k: v for k, v in row.items() if k.startswith(("caller_", "callee_")) and "_" in k}
    print(figures)

    assert row["caller_rx_loss_pct"] == pytest.approx(10.0, abs=0.5)
    assert 0 <= row["caller_rx_jitter_ms"] < 10  # paced by the test: little jitter
    assert 1.0 <= row["caller_rx_mos"] < 3.5  # 10 % random loss is poor (G.107: about 2.6)
    assert row["callee_rx_loss_pct"] < 1.0  # the phone's stream over loopback
    assert row["callee_rx_mos"] > 4.0
    assert row["caller_tx_loss_pct"] is None  # the gateway sent no RTCP
    # What the phone received from the switch, as its RTCP receiver reports say.
    assert row["callee_tx_loss_pct"] is not None, "pjsua2 sent no receiver report"
    assert row["callee_tx_loss_pct"] == pytest.approx(10.0, abs=2.0)  # relayed as it came
    if recorded:  # and the file has the caller's gaps as silence, the rest of its tone
        (path,) = (quality_switch.data_dir / RECORDINGS_DIR).rglob("*.wav")
        audio, rate = sf.read(path, always_2d=True)
        assert peaks_hz(audio[int(0.5 * rate) : int((CALL_S - 0.5) * rate), 0], rate)[
            0
        ] == pytest.approx(440.0, abs=10)
    received = _histogram(quality_switch.ports.metrics, "softswitch_media_loss_ratio", "received")
    assert received["count"] == 2  # both legs
    assert received["bucket:0.05"] == 1 and received["bucket:0.1"] == 2  # 1001's, the caller's
    sent_metric = _histogram(quality_switch.ports.metrics, "softswitch_media_mos", "sent")
    assert sent_metric["count"] == 1  # only the phone reported
