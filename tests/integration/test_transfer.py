"""Call transfer from the phone, with real softphones in separate processes.

Blind transfer by REFER (RFC 3515): 1001 calls 1002; 1002 transfers 1001 to 1003. The switch
answers 202, reports in sipfrag NOTIFYs (the transferor sees them as transfer status), moves
1001's leg to a new bridge toward 1003 without any INVITE toward 1001, and hangs 1002 up. 1001
then hears 1003's tone and 1003 hears 1001's; the call record names 1003 and the transferor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from audio import dominant_frequency, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from test_call_centre import centre_config, dial_sales, events, log_in, wait_queue_log
from two_phones import RECORD_S, connect

from softswitch.media.recorder import RECORDINGS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def _answer_and_hear_each_other(
    carol: PjsuaPeer, carol_call: int, alice: PjsuaPeer, alice_call: int, tmp_path: Path
) -> None:
    """1003 answers the transferred caller with a 1500 Hz tone: each hears the other's (the
    caller plays 440 Hz)."""
    carol.play_and_record(
        carol_call,
        write_tone(tmp_path / "1500.wav", 1500.0, 30.0),
        tmp_path / "carol.wav",
        RECORD_S,
    )
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)
    alice.send("record", call=alice_call, path=str(tmp_path / "alice.wav"), seconds=RECORD_S)
    alice.wait_event("recorded", 10.0, call=alice_call)
    carol.wait_event("recorded", 10.0, call=carol_call)
    assert dominant_frequency(tmp_path / "alice.wav") == pytest.approx(1500.0, abs=20.0)
    assert dominant_frequency(tmp_path / "carol.wav") == pytest.approx(440.0, abs=20.0)


def test_blind_transfer_by_refer_moves_the_caller_to_the_third_phone(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    carol = pjsua("1003")
    carol.register(switch.sip_port, "1003", "demo-1003")
    c = connect(switch, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    alice.send("play", call=c.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))

    # A number nothing answers to: the transferor hears 404 and keeps its call.
    bob.send("xfer", call=c.callee_call, dest=f"sip:5999@127.0.0.1:{switch.sip_port}")
    refused = bob.wait_event("transfer_status", 5.0, call=c.callee_call, final=True)
    assert refused["code"] == 404

    bob.send("xfer", call=c.callee_call, dest=f"sip:1003@127.0.0.1:{switch.sip_port}")
    done = bob.wait_event("transfer_status", 5.0, call=c.callee_call, code=200)
    assert done["final"] is True
    bob.wait_bye(c.callee_call, 5.0)
    incoming = carol.wait_incoming(5.0)
    carol_call = incoming["call"]
    assert "1001" in incoming["remote"]  # the transferred caller, as the caller
    _answer_and_hear_each_other(carol, carol_call, alice, c.caller_call, tmp_path)
    # The caller kept its one dialog: nothing new reached it, and it never left CONFIRMED.
    assert not [e for e in alice.events if e["event"] == "incoming_call"]
    states = [e["state"] for e in alice.events if e["event"] == "call_state"]
    assert states.count("CONFIRMED") == 1 and "DISCONNECTED" not in states

    alice.send("hangup", call=c.caller_call)
    carol.wait_bye(carol_call, 5.0)
    row = switch.closed_cdr()
    assert row["caller"] == "1001" and row["callee"] == "1003"
    assert row["disposition"] == "answered"
    variables = json.loads(row["variables"])
    assert variables["transferred_by"] == "1002" and variables["transferred_to"] == "1003"


def test_attended_transfer_by_refer_with_replaces_joins_caller_and_third_phone(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """1002 has 1001 on call A and consults 1003 on call B (both calls in one pjsua process);
    its REFER on A names B's dialog in Replaces: 1001 and 1003 end up talking, 1002 is gone."""
    carol = pjsua("1003")
    carol.register(switch.sip_port, "1003", "demo-1003")
    c = connect(switch, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    alice.send("play", call=c.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))
    consult = bob.call(switch.uri("1003"))
    incoming = carol.wait_incoming(5.0)
    carol_call = incoming["call"]
    carol.play_and_record(
        carol_call,
        write_tone(tmp_path / "1500.wav", 1500.0, 30.0),
        tmp_path / "carol.wav",
        RECORD_S,
    )
    carol.send("answer", call=carol_call)
    bob.wait_call_state(consult, "CONFIRMED", 5.0)

    bob.send("xfer_replaces", call=c.callee_call, other=consult)
    done = bob.wait_event("transfer_status", 5.0, call=c.callee_call, final=True)
    assert done["code"] == 200
    bob.wait_bye(c.callee_call, 5.0)
    bob.wait_bye(consult, 5.0)
    # Carol's first recording (from her answer) must be over, or the wait below takes its event.
    carol.wait_event("recorded", 10.0, call=carol_call)
    alice.send("record", call=c.caller_call, path=str(tmp_path / "alice.wav"), seconds=RECORD_S)
    alice.wait_event("recorded", 10.0, call=c.caller_call)
    carol.send("record", call=carol_call, path=str(tmp_path / "carol.wav"), seconds=RECORD_S)
    carol.wait_event("recorded", 10.0, call=carol_call)
    assert dominant_frequency(tmp_path / "alice.wav") == pytest.approx(1500.0, abs=20.0)
    assert dominant_frequency(tmp_path / "carol.wav") == pytest.approx(440.0, abs=20.0)
    # Neither remaining phone got a new INVITE: both kept the dialogs they had.
    for phone in (alice, carol):
        states = [e["state"] for e in phone.events if e["event"] == "call_state"]
        assert states.count("CONFIRMED") == 1 and "DISCONNECTED" not in states
    assert len([e for e in carol.events if e["event"] == "incoming_call"]) == 1

    carol.send("hangup", call=carol_call)
    alice.wait_bye(c.caller_call, 5.0)
    first, second = switch.closed_cdrs(2)
    assert (first["caller"], first["callee"]) == ("1001", "1003")
    assert json.loads(first["variables"])["transfer"] == "attended"
    assert (second["caller"], second["callee"]) == ("1002", "1003")
    assert second["hangup_cause"] == "attended transfer"


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=centre_config())
    try:
        yield sw
    finally:
        sw.stop()


def test_an_agent_transfers_a_queue_caller_to_another_queue_keeping_its_ivr_variables(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """IVR 500 -> queue 600 -> agent 1001, who blind-transfers to queue 601: the queue log
    shows TRANSFER for the agent and the caller entering 601 under the same call; the call
    record keeps what the IVR learnt and names 601."""
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    call = dial_sales(centre, caller, tmp_path)
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    wait_queue_log(centre, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)

    agent.send("xfer", call=agent_call, dest=f"sip:601@127.0.0.1:{centre.sip_port}")
    assert agent.wait_event("transfer_status", 5.0, call=agent_call, final=True)["code"] == 200
    agent.wait_bye(agent_call, 5.0)
    rows = wait_queue_log(centre, lambda r: ("ENTERQUEUE", "601", "") in events(r), 5.0)
    transfer = next(r for r in rows if r["event"] == "TRANSFER")
    enter = next(r for r in rows if r["event"] == "ENTERQUEUE" and r["queue"] == "601")
    assert (transfer["queue"], transfer["agent"]) == ("600", "1001")
    assert enter["call"] == transfer["call"]
    states = [e["state"] for e in caller.events if e["event"] == "call_state" and e["call"] == call]
    assert "DISCONNECTED" not in states  # the caller waits in 601, on its first dialog

    caller.send("hangup", call=call)
    wait_queue_log(centre, lambda r: ("ABANDON", "601", "") in events(r), 5.0)
    cdr = centre.closed_cdrs(1, 5.0, "callee = ?", ("601",))[0]
    variables = json.loads(cdr["variables"])
    assert variables["ivr_digits"] == "1" and variables["transferred_by"] == "1001"


def _unrecorded(cfg: dict[str, Any]) -> None:
    for entry in (*cfg["extensions"], *cfg["trunks"]):
        entry["record"] = False


@pytest.fixture(params=["recorded", "relayed"])
def code_switch(
    request: pytest.FixtureRequest, tmp_path: Path, carrier_port: int
) -> Iterator[Switch]:
    """The demo config records the call (its legs in the tick engine, which passes RFC 4733
    across itself); code_switch, the relay forwards the digit packets."""
    edit = _unrecorded if request.param == "relayed" else None
    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        sw.stop()


def test_hash_1_blind_transfers_and_star_0_disconnects_without_the_digits_reaching_the_peer(
    code_switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """1002 presses #1, dials 1003 and # (RFC 4733): 1001 is moved to 1003 and hears it,
    without hearing a digit of it; then 1003 presses *0 and the call ends for both. A plain
    digit still reaches the peer."""
    carol = pjsua("1003")
    carol.register(code_switch.sip_port, "1003", "demo-1003")
    c = connect(code_switch, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    alice.send("play", call=c.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))
    bob.wait_event("media_active", 5.0, call=c.callee_call)
    bob.send("dtmf", call=c.callee_call, digits="5")
    assert alice.wait_event("dtmf_received", 5.0, call=c.caller_call)["digit"] == "5"

    bob.send("dtmf", call=c.callee_call, digits="#11003#")
    bob.wait_bye(c.callee_call, 10.0)
    incoming = carol.wait_incoming(5.0)
    carol_call = incoming["call"]
    _answer_and_hear_each_other(carol, carol_call, alice, c.caller_call, tmp_path)
    heard = [e["digit"] for e in alice.events if e["event"] == "dtmf_received"]
    assert heard == ["5"]  # none of "#11003#"

    carol.send("dtmf", call=carol_call, digits="*0")
    carol.wait_bye(carol_call, 10.0)
    alice.wait_bye(c.caller_call, 5.0)
    assert not [e for e in alice.events if e["event"] == "dtmf_received" and e["digit"] != "5"]
    row = code_switch.closed_cdr()
    assert row["callee"] == "1003" and row["hangup_cause"] == "disconnect feature code"
    assert json.loads(row["variables"])["transferred_by"] == "1002"
    recordings = sorted((code_switch.data_dir / RECORDINGS_DIR).rglob("*.wav"))
    # Recorded: the first bridge's file and the one after the transfer; relayed: none.
    assert bool(recordings) == (request.node.callspec.params["code_switch"] == "recorded")
