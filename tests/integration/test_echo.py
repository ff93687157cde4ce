"""Echo test 9196: SIPp load over UDP and TCP, and a softphone that hears its own tone back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, Switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ECHO = "9196"


@pytest.mark.parametrize(
    ("transport", "calls", "rate"),
    [pytest.param("udp", 200, 100, id="udp"), pytest.param("tcp", 50, 50, id="tcp")],
)
def test_sipp_calls_to_echo_all_succeed(
    switch: Switch, sipp: Callable[..., Sipp], transport: str, calls: int, rate: int
) -> None:
    args = ["-sn", "uac", f"127.0.0.1:{switch.sip_port}", "-s", ECHO]
    args += ["-m", str(calls), "-r", str(rate), "-l", "50"]
    if transport == "tcp":
        args += ["-t", "t1"]
    result = sipp(f"echo-{transport}", args, timeout_s=60).result()

    assert (result.returncode, result.successful, result.failed) == (0, calls, 0), result.summary()
    rows = switch.closed_cdrs(calls, 10.0, "callee = ?", (ECHO,))
    assert {r["disposition"] for r in rows} == {DISPOSITION_ANSWERED}
    assert len({r["call_id"] for r in rows}) == calls
    switch.assert_running()


@pytest.mark.parametrize(
    ("switch", "number"),
    [
        pytest.param(None, ECHO, id="default-9196"),
        # features.echo_test moves the phones' echo test; nothing in [[routes]] names 4444.
        pytest.param({"features": {"echo_test": "4444"}}, "4444", id="features.echo_test"),
    ],
    indirect=["switch"],
)
def test_softphone_on_echo_hears_its_own_tone(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path, number: str
) -> None:
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    call = phone.call(switch.uri(number))
    heard = tmp_path / "heard.wav"
    phone.play_and_record(call, write_tone(tmp_path / "tone.wav", 600.0, 5.0), heard, 2.5)
    phone.wait_call_state(call, "CONFIRMED", 5.0)
    phone.wait_event("recorded", 8.0, call=call)
    phone.send("hangup", call=call)
    phone.wait_call_state(call, "DISCONNECTED", 5.0)

    assert dominant_frequency(heard) == pytest.approx(600.0, abs=15.0)
    assert voiced_seconds(heard) > 1.5
    (row,) = switch.closed_cdrs(1, 5.0, "callee = ?", (number,))
    assert (row["disposition"], row["direction"]) == (DISPOSITION_ANSWERED, "internal")
    assert "1001" in row["caller"]
