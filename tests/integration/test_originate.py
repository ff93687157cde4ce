"""Click-to-call through the API (calls/originate.py) with pjsua2 phones: POST /api/v1/calls
rings the agent's phone first (showing the number it will reach), and its answer dials the
number; the two hear each other (FFT). Out through a trunk (a SIPp carrier UAS), the caller_id
given is presented in From and P-Asserted-Identity."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from api_events import api_call, wait_api
from audio import dominant_frequency, write_tone
from carrier_calls import sip_flow
from peers.pjsua import PjsuaPeer
from running_switch import Switch, wait_port_bound
from sipp_process import Sipp
from two_phones import RECORD_S

from softswitch.api.client import ApiClient, ApiClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def test_originate_rings_the_agent_then_the_number(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    wait_api(switch.ports.api)
    url = switch.ports.api_url
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(switch.sip_port, "1001", "demo-1001")
    bob.register(switch.sip_port, "1002", "demo-1002")

    async def someone_elses(api: ApiClient) -> int:
        try:
            await api.originate("1002", "1001")
        except ApiClientError as exc:
            return exc.status
        return 201

    assert api_call(url, "1001", "demo-1001", someone_elses) == 403
    call_id = api_call(url, "1001", "demo-1001", lambda api: api.originate("1001", "1002"))
    ringing = alice.wait_incoming(5.0)
    assert "1002" in ringing["remote"]  # the agent's phone shows whom it will reach
    assert not [e for e in bob.events if e["event"] == "incoming_call"]  # not before the answer
    alice_call = ringing["call"]
    alice.send("play", call=alice_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))
    alice.send("answer", call=alice_call)
    bob_call = bob.wait_incoming(5.0)["call"]
    bob.send("play", call=bob_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 30.0)))
    bob.send("answer", call=bob_call)
    bob.wait_call_state(bob_call, "CONFIRMED", 5.0)

    heard = {"alice": tmp_path / "alice.wav", "bob": tmp_path / "bob.wav"}
    alice.send("record", call=alice_call, path=str(heard["alice"]), seconds=RECORD_S)
    bob.send("record", call=bob_call, path=str(heard["bob"]), seconds=RECORD_S)
    alice.wait_event("recorded", 10.0, call=alice_call, path=str(heard["alice"]))
    bob.wait_event("recorded", 10.0, call=bob_call, path=str(heard["bob"]))
    assert dominant_frequency(heard["alice"]) == pytest.approx(1000.0, abs=20.0)
    assert dominant_frequency(heard["bob"]) == pytest.approx(440.0, abs=20.0)
    (seen,) = api_call(url, "1001", "demo-1001", lambda api: api.calls())
    assert (seen.call_id, seen.caller, seen.callee, seen.state) == (
        call_id,
        "1001",
        "1002",
        "answered",
    )

    bob.send("hangup", call=bob_call)
    alice.wait_bye(alice_call, 5.0)
    row = switch.closed_cdr()
    assert (row["caller"], row["callee"], row["direction"], row["disposition"]) == (
        "1001",
        "1002",
        "internal",
        "answered",
    )


def wait_carrier_answered(switch: Switch, timeout_s: float = 10.0) -> None:
    async def both_legs_up(api: ApiClient) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            legs = [leg for call in await api.calls() for leg in call.legs]
            if sum(leg.state.lower() in ("answered", "confirmed") for leg in legs) >= 2:
                return
            assert time.monotonic() < deadline, f"the carrier did not answer: {legs}"
            await asyncio.sleep(0.05)

    api_call(switch.ports.api_url, "supervisor", "demo-supervisor", both_legs_up)


def test_originate_out_through_a_trunk_presents_the_caller_id_given(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], sipp: Callable[..., Sipp], carrier_port: int
) -> None:
    wait_api(switch.ports.api)
    carrier = sipp("carrier", ["-sn", "uas", "-p", str(carrier_port), "-m", "1"], 30)
    wait_port_bound(carrier_port, 5.0, "SIPp carrier UAS")
    bob = pjsua("1002")
    bob.register(switch.sip_port, "1002", "demo-1002")
    api_call(
        switch.ports.api_url,
        "supervisor",
        "demo-supervisor",
        lambda api: api.originate("1002", "912345", "+15550199999"),
    )
    bob_call = bob.wait_incoming(5.0)["call"]
    bob.send("answer", call=bob_call)
    bob.wait_call_state(bob_call, "CONFIRMED", 10.0)
    # The number is dialled once 1002 answers: hang up only when the carrier has answered too
    # (under load, a hang-up at once could beat the INVITE out).
    wait_carrier_answered(switch)
    bob.send("hangup", call=bob_call)
    bob.wait_call_state(bob_call, "DISCONNECTED", 5.0)
    result = carrier.result()
    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.summary()
    (invite,) = [m for m in sip_flow(result.messages) if m.method == "INVITE"]
    assert invite.first_line.startswith("INVITE sip:12345@"), invite.first_line
    assert re.search(r"<sip:\+15550199999@", invite.header("From") or ""), invite.header("From")
    assert (invite.header("P-Asserted-Identity") or "").startswith("<sip:+15550199999@")
    row = switch.closed_cdr()
    assert (row["caller"], row["direction"], row["trunk"]) == ("1002", "outbound", "carrier")
