"""Two registered softphones call each other through the switch: audio both ways, hang-up sides."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, HANGUP_CALLEE, HANGUP_CALLER, Switch
from two_phones import RECORD_S, connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_two_extensions_hear_each_others_tone(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c = connect(switch, pjsua, tmp_path, record=True)
    c.caller.wait_event("recorded", RECORD_S + 5.0, call=c.caller_call)
    c.callee.wait_event("recorded", RECORD_S + 5.0, call=c.callee_call)
    c.caller.send("hangup", call=c.caller_call)
    c.callee.wait_bye(c.callee_call, 5.0)

    # A B2BUA: two legs, two dialogs, two Call-IDs.
    assert c.caller_sip_call_id != c.callee_sip_call_id
    alice_heard, bob_heard = tmp_path / "alice-heard.wav", tmp_path / "bob-heard.wav"
    assert dominant_frequency(alice_heard) == pytest.approx(1000.0, abs=15.0)
    assert dominant_frequency(bob_heard) == pytest.approx(440.0, abs=15.0)
    assert voiced_seconds(alice_heard) > 1.5
    assert voiced_seconds(bob_heard) > 1.5


@pytest.mark.parametrize("side", [HANGUP_CALLER, HANGUP_CALLEE])
def test_hangup_reaches_the_other_side_and_closes_the_cdr(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path, side: str
) -> None:
    c = connect(switch, pjsua, tmp_path)
    if side == HANGUP_CALLER:
        hanging, hanging_call, other, other_call = c.caller, c.caller_call, c.callee, c.callee_call
    else:
        hanging, hanging_call, other, other_call = c.callee, c.callee_call, c.caller, c.caller_call
    hanging.send("hangup", call=hanging_call)

    other.wait_bye(other_call, 5.0)
    assert hanging.wait_call_state(hanging_call, "DISCONNECTED", 5.0)["code"] == 200
    row = switch.closed_cdr()
    assert row["hangup_side"] == side
    assert row["disposition"] == DISPOSITION_ANSWERED
    assert row["direction"] == "internal"
    assert "1001" in row["caller"] and "1002" in row["callee"]
    assert row["start_ts"] <= row["answer_ts"] <= row["end_ts"]


def test_call_reaches_extension_registered_over_tcp(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(switch.sip_port, "1001", "demo-1001")
    bob.register(switch.sip_port, "1002", "demo-1002", transport="tcp")
    call = alice.call(switch.uri("1002"))
    incoming = bob.wait_incoming(5.0)
    bob.send("answer", call=incoming["call"])
    alice.wait_call_state(call, "CONFIRMED", 5.0)
    bob.send("hangup", call=incoming["call"])
    alice.wait_bye(call, 5.0)
    bob_log = bob.log_path.read_text(errors="replace")
    # The INVITE came to bob over the TCP connection of its REGISTER.
    assert re.search(r"RX \d+ bytes Request msg INVITE/\S+ \(\S+\) from TCP 127\.0\.0\.1:", bob_log)
