"""Trunks: a gateway's call to DID 7000 reaches 1001; 1001 dials out via `9` to a carrier."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, HANGUP_CALLER, Switch, wait_port_bound
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_gateway_call_to_did_reaches_registered_extension(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], sipp: Callable[..., Sipp]
) -> None:
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    # SIPp from 127.0.0.1 is the `gateway` trunk; it hangs up 2 s after the answer.
    gateway = sipp(
        "gateway",
        ["-sn", "uac", f"127.0.0.1:{switch.sip_port}", "-s", "7000", "-m", "1", "-d", "2000"],
        timeout_s=20,
    )
    incoming = phone.wait_incoming(10.0)
    phone.send("answer", call=incoming["call"])
    phone.wait_call_state(incoming["call"], "CONFIRMED", 5.0)
    phone.wait_bye(incoming["call"], 10.0)
    result = gateway.result()

    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.summary()
    gateway_call_ids = set(re.findall(r"^Call-ID: (\S+)", result.messages, re.MULTILINE))
    assert gateway_call_ids and incoming["call_id"] not in gateway_call_ids
    row = switch.closed_cdr()
    assert (row["direction"], row["trunk"]) == ("inbound", "gateway")
    assert row["disposition"] == DISPOSITION_ANSWERED
    assert row["hangup_side"] == HANGUP_CALLER


def test_extension_dials_out_through_carrier_trunk(
    switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    sipp: Callable[..., Sipp],
    carrier_port: int,
    tmp_path: Path,
) -> None:
    # SIPp is the carrier: it answers one call and echoes the RTP it receives.
    carrier = sipp("carrier", ["-sn", "uas", "-p", str(carrier_port), "-m", "1", "-rtp_echo"], 20)
    wait_port_bound(carrier_port, 5.0, "SIPp carrier UAS")
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    call = phone.call(switch.uri("912345"))
    heard = tmp_path / "heard.wav"
    phone.play_and_record(call, write_tone(tmp_path / "tone.wav", 700.0, 5.0), heard, 2.5)
    phone.wait_call_state(call, "CONFIRMED", 10.0)
    phone.wait_event("recorded", 8.0, call=call)
    phone.send("hangup", call=call)
    phone.wait_call_state(call, "DISCONNECTED", 5.0)
    result = carrier.result()

    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.summary()
    # The route strips the leading 9: the carrier is asked for 12345.
    invite = re.search(r"^INVITE (\S+) SIP/2\.0", result.messages, re.MULTILINE)
    assert invite is not None, result.messages[:2000]
    assert invite.group(1).startswith("sip:12345@"), invite.group(0)
    assert dominant_frequency(heard) == pytest.approx(700.0, abs=15.0)
    row = switch.closed_cdr()
    assert (row["direction"], row["trunk"]) == ("outbound", "carrier")
    assert row["disposition"] == DISPOSITION_ANSWERED
    assert row["hangup_side"] == HANGUP_CALLER
