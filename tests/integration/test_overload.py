"""Load beyond capacity: SIPp at twice the configured calls per second.

New INVITEs beyond capacity get 503 with Retry-After, the calls admitted all complete, a call in
progress keeps its media throughout (a phone on the echo test hears its tone), the switch does
not crash, and once load falls it takes every call again by itself.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, Switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

SCENARIO = Path(__file__).with_name("scenarios") / "overload_caller.xml"
ECHO = "9196"
CAPACITY_CPS = 10
CALLS = 100
CAPACITY = {"capacity": {"max_calls_per_s": CAPACITY_CPS, "max_calls": 40, "retry_after_s": 2}}


def _metric(sw: Switch, pattern: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{sw.ports.metrics}/metrics", timeout=5) as r:
        text = r.read().decode()
    match = re.search(pattern + r" ([0-9.e+]+)", text)
    assert match, f"{pattern} not in /metrics"
    return float(match.group(1))


@pytest.mark.parametrize("switch", [CAPACITY], indirect=True)
def test_twice_the_capacity_gets_503_retry_after_keeps_media_and_recovers(
    switch: Switch, sipp: Callable[..., Sipp], pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    # A call in progress before the overload: the echo test, for 8 s of recorded audio.
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    call = phone.call(switch.uri(ECHO))
    heard = tmp_path / "heard.wav"
    phone.play_and_record(call, write_tone(tmp_path / "tone.wav", 600.0, 12.0), heard, 8.0)
    phone.wait_call_state(call, "CONFIRMED", 5.0)

    overload = [f"127.0.0.1:{switch.sip_port}", "-sf", str(SCENARIO), "-s", ECHO]
    overload += ["-m", str(CALLS), "-r", str(2 * CAPACITY_CPS), "-d", "500", "-l", "60"]
    result = sipp("overload", overload, timeout_s=60).result()

    phone.wait_event("recorded", 10.0, call=call)
    phone.send("hangup", call=call)
    phone.wait_call_state(call, "DISCONNECTED", 5.0)
    switch.assert_running()
    # Every call ended as the scenario allows: answered and hung up, or 503 with Retry-After.
    assert (result.returncode, result.successful, result.failed) == (0, CALLS, 0), result.summary()
    refused = result.messages.count("SIP/2.0 503 Service Unavailable")
    assert refused == _metric(
        switch, r'softswitch_calls_refused_overload_total\{limit="max_calls_per_s"\}'
    )
    admitted = CALLS - refused
    # 2x the rate for 5 s: the rate's worth each second plus the bucket's one-second burst.
    assert CALLS // 2 - 5 <= admitted <= CALLS // 2 + CAPACITY_CPS + 5, (admitted, refused)
    assert re.search(
        r"SIP/2\.0 503 Service Unavailable\r?\n(?:.*\r?\n)*?Retry-After: 2", result.messages
    )
    rows = switch.closed_cdrs(admitted + 1, 10.0, "callee = ?", (ECHO,))
    assert {r["disposition"] for r in rows} == {DISPOSITION_ANSWERED}
    assert {r["hangup_side"] for r in rows} == {"caller"}
    # The phone's call kept its media through the overload.
    assert dominant_frequency(heard) == pytest.approx(600.0, abs=15.0)
    assert voiced_seconds(heard) > 7.0

    # Load falls to half the capacity: every call is taken again, with no restart.
    calm = ["-sn", "uac", f"127.0.0.1:{switch.sip_port}", "-s", ECHO]
    calm += ["-m", "20", "-r", str(CAPACITY_CPS // 2), "-l", "20"]
    recovered = sipp("recovery", calm, timeout_s=30).result()
    assert (recovered.returncode, recovered.successful, recovered.failed) == (0, 20, 0), (
        recovered.summary()
    )
    switch.assert_running()
