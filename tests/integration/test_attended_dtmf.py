"""Attended transfer by DTMF (`*2` + number, calls/consult.py) with real softphones, each in its
own process: 1001 calls 1002; 1002 keys *2 1003 #. 1001 hears music on hold while 1002 and 1003
talk; 1002 hanging up hands 1001 on to 1003, with no new dialog toward either. A refusal or the
disconnect code (*0) during the consultation brings 1002 back to 1001. Tones checked by FFT.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_events import api_call, wait_api
from audio import dominant_frequency, write_tone
from carrier_calls import sip_flow
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch, wait_port_bound
from sipp_process import Sipp
from test_call_centre import centre_config, dial_sales, events, log_in, wait_queue_log
from test_music_on_hold import tone_share, voiced_seconds
from two_phones import RECORD_S, Connected, connect

from softswitch.api.client import ApiClient, ApiClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _unrecorded(cfg: dict[str, Any]) -> None:
    """These calls are relayed, not recorded: the codes' relay path is what this file covers
    (recorded calls, whose legs are in the tick engine, have their #1/*0 run in test_transfer)."""
    for entry in (*cfg["extensions"], *cfg["trunks"]):
        entry["record"] = False


@pytest.fixture
def unrecorded(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=_unrecorded)
    try:
        yield sw
    finally:
        sw.stop()


def _hear(peer: PjsuaPeer, call: int, path: Path) -> Path:
    peer.send("record", call=call, path=str(path), seconds=RECORD_S)
    return path


def _heard(peer: PjsuaPeer, call: int, path: Path) -> Path:
    peer.wait_event("recorded", 10.0, call=call, path=str(path))
    return path


def _both_hear(
    a: PjsuaPeer, a_call: int, b: PjsuaPeer, b_call: int, tmp: Path, name: str
) -> tuple[float, float]:
    """What a and b hear at the same time, as dominant frequencies."""
    pa, pb = _hear(a, a_call, tmp / f"{name}-a.wav"), _hear(b, b_call, tmp / f"{name}-b.wav")
    return dominant_frequency(_heard(a, a_call, pa)), dominant_frequency(_heard(b, b_call, pb))


def _start(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> tuple[Connected, PjsuaPeer]:
    carol = pjsua("1003")
    carol.register(switch.sip_port, "1003", "demo-1003")
    c = connect(switch, pjsua, tmp_path)
    c.caller.send(
        "play", call=c.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 60.0))
    )
    c.callee.send(
        "play", call=c.callee_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 60.0))
    )
    c.callee.wait_event("media_active", 5.0, call=c.callee_call)
    return c, carol


def _consult(c: Connected, carol: PjsuaPeer, tmp_path: Path) -> int:
    """Bob keys *2 1003 #; carol rings (from 1002, the transferor) and plays 1500 Hz."""
    c.callee.send("dtmf", call=c.callee_call, digits="*21003#")
    incoming = carol.wait_incoming(10.0)
    assert "1002" in incoming["remote"]  # the consultation comes from the transferor
    carol.send(
        "play", call=incoming["call"], path=str(write_tone(tmp_path / "1500.wav", 1500.0, 60.0))
    )
    return int(incoming["call"])


def _wait_answered_legs(switch: Switch, count: int, timeout_s: float = 10.0) -> None:
    """Until the one call has `count` answered legs (the API's view), within the deadline."""
    wait_api(switch.ports.api)
    deadline = time.monotonic() + timeout_s
    while True:
        calls = api_call(switch.ports.api_url, "admin", "demo-admin", lambda api: api.calls())
        legs = [leg for call in calls for leg in call.legs if leg.state == "answered"]
        if len(legs) == count:
            return
        assert time.monotonic() < deadline, f"not {count} answered legs: {calls}"
        time.sleep(0.1)


def _one_dialog(peer: PjsuaPeer, incoming: int) -> None:
    states = [e["state"] for e in peer.events if e["event"] == "call_state"]
    assert states.count("CONFIRMED") == 1 and "DISCONNECTED" not in states
    assert len([e for e in peer.events if e["event"] == "incoming_call"]) == incoming


def test_star_2_consults_with_music_for_the_caller_and_hang_up_completes(
    unrecorded: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c, carol = _start(unrecorded, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    carol_call = _consult(c, carol, tmp_path)
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)

    # Consulting: bob and carol hear each other; alice hears music, not bob, not carol.
    held = _hear(alice, c.caller_call, tmp_path / "alice-held.wav")
    bob_hears, carol_hears = _both_hear(bob, c.callee_call, carol, carol_call, tmp_path, "consult")
    _heard(alice, c.caller_call, held)
    assert bob_hears == pytest.approx(1500.0, abs=20.0)
    assert carol_hears == pytest.approx(1000.0, abs=20.0)
    assert voiced_seconds(held, skip_s=0.2) > 1.5 and tone_share(held) < 0.5

    bob.send("hangup", call=c.callee_call)  # completes the transfer
    alice_hears, carol_hears = _both_hear(alice, c.caller_call, carol, carol_call, tmp_path, "done")
    assert alice_hears == pytest.approx(1500.0, abs=20.0)
    assert carol_hears == pytest.approx(440.0, abs=20.0)
    _one_dialog(alice, 0)
    _one_dialog(carol, 1)

    alice.send("hangup", call=c.caller_call)
    carol.wait_bye(carol_call, 5.0)
    row = unrecorded.closed_cdr()  # one call from start to end: the caller's record
    assert (row["caller"], row["callee"], row["disposition"]) == ("1001", "1003", "answered")
    variables = json.loads(row["variables"])
    assert variables["transfer"] == "attended" and variables["transferred_by"] == "1002"


def test_a_refusal_or_star_0_during_the_consultation_returns_the_transferor_to_the_caller(
    unrecorded: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c, carol = _start(unrecorded, pjsua, tmp_path)
    alice, bob = c.caller, c.callee

    carol_call = _consult(c, carol, tmp_path)
    carol.send("answer", call=carol_call, code=486)  # busy: back to alice
    alice_hears, bob_hears = _both_hear(alice, c.caller_call, bob, c.callee_call, tmp_path, "busy")
    assert (alice_hears, bob_hears) == (
        pytest.approx(1000.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )

    carol_call = _consult(c, carol, tmp_path)
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)
    bob.send("dtmf", call=c.callee_call, digits="*0")  # atxferabort: carol's part ends
    carol.wait_bye(carol_call, 10.0)
    alice_hears, bob_hears = _both_hear(alice, c.caller_call, bob, c.callee_call, tmp_path, "abort")
    assert (alice_hears, bob_hears) == (
        pytest.approx(1000.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    _one_dialog(alice, 0)
    _one_dialog(bob, 1)
    heard = [e["digit"] for e in alice.events if e["event"] == "dtmf_received"]
    assert heard == []  # none of the codes' digits reached the caller

    alice.send("hangup", call=c.caller_call)
    bob.wait_bye(c.callee_call, 5.0)
    row = unrecorded.closed_cdr()
    assert (row["caller"], row["callee"], row["disposition"]) == ("1001", "1002", "answered")


def test_api_blind_and_attended_transfer_complete_and_cancel(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """Agent 1002 drives it from a screen: an attended transfer cancelled, then completed, through
    the API; its phone rings 1003 each time. Then 1003 blind-transfers 1001 back to 1002."""
    wait_api(switch.ports.api)
    url = switch.ports.api_url
    c, carol = _start(switch, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    (listed,) = api_call(url, "1002", "demo-1002", lambda api: api.calls())
    call_id = listed.call_id
    bob_leg = next(leg.leg_id for leg in listed.legs if leg.side == "callee")

    async def outsider(api: ApiClient) -> int:
        try:
            await api.transfer(call_id, bob_leg, "1004")
        except ApiClientError as exc:
            return exc.status
        return 204

    assert api_call(url, "1004", "demo-1004", outsider) == 403

    def consult() -> int:
        api_call(
            url,
            "1002",
            "demo-1002",
            lambda api: api.transfer(call_id, bob_leg, "1003", attended=True),
        )
        incoming = carol.wait_incoming(10.0)
        assert "1002" in incoming["remote"]
        carol.send(
            "play", call=incoming["call"], path=str(write_tone(tmp_path / "1500.wav", 1500.0, 60.0))
        )
        carol.send("answer", call=incoming["call"])
        carol.wait_call_state(incoming["call"], "CONFIRMED", 5.0)
        return int(incoming["call"])

    carol_call = consult()
    bob_hears, carol_hears = _both_hear(bob, c.callee_call, carol, carol_call, tmp_path, "consult1")
    assert (bob_hears, carol_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(1000.0, abs=20.0),
    )
    api_call(url, "1002", "demo-1002", lambda api: api.cancel_transfer(call_id))
    carol.wait_bye(carol_call, 5.0)
    alice_hears, bob_hears = _both_hear(
        alice, c.caller_call, bob, c.callee_call, tmp_path, "cancelled"
    )
    assert (alice_hears, bob_hears) == (
        pytest.approx(1000.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )

    carol_call = consult()
    held = _heard(alice, c.caller_call, _hear(alice, c.caller_call, tmp_path / "alice-held.wav"))
    assert voiced_seconds(held, skip_s=0.2) > 1.5 and tone_share(held) < 0.5
    api_call(url, "1002", "demo-1002", lambda api: api.complete_transfer(call_id))
    bob.wait_bye(c.callee_call, 5.0)
    alice_hears, carol_hears = _both_hear(
        alice, c.caller_call, carol, carol_call, tmp_path, "joined"
    )
    assert (alice_hears, carol_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    _one_dialog(alice, 0)

    # Blind, from the new party's screen: 1003 hands 1001 back to 1002, whose phone rings anew.
    (joined,) = api_call(url, "1003", "demo-1003", lambda api: api.calls())
    carol_leg = next(leg.leg_id for leg in joined.legs if leg.leg_id not in (1,))
    api_call(url, "1003", "demo-1003", lambda api: api.transfer(call_id, carol_leg, "1002"))
    carol.wait_bye(carol_call, 5.0)
    again = bob.wait_for(
        lambda e: e["event"] == "incoming_call" and e["call"] != c.callee_call, 10.0, "a new call"
    )
    bob.send("answer", call=again["call"])
    bob.wait_call_state(again["call"], "CONFIRMED", 5.0)
    bob.send("play", call=again["call"], path=str(write_tone(tmp_path / "1000.wav", 1000.0, 60.0)))
    alice_hears, bob_hears = _both_hear(alice, c.caller_call, bob, again["call"], tmp_path, "blind")
    assert (alice_hears, bob_hears) == (
        pytest.approx(1000.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    _one_dialog(alice, 0)

    alice.send("hangup", call=c.caller_call)
    bob.wait_bye(again["call"], 5.0)
    row = switch.closed_cdr()
    assert (row["caller"], row["callee"]) == ("1001", "1002")
    variables = json.loads(row["variables"])
    assert variables["transfer"] == "attended" and variables["transferred_by"] == "1003"


@pytest.fixture
def centre_unrecorded(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    centre = centre_config()

    def edit(cfg: dict[str, Any]) -> None:
        centre(cfg)
        _unrecorded(cfg)

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        sw.stop()


def test_star_2_from_a_queue_agent_keeps_the_ivr_variables_and_the_call_record(
    centre_unrecorded: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """IVR 500 -> queue 600 -> agent 1001, who keys *2 1003 #, talks to 1003 and hangs up: the
    caller talks to 1003 on its first dialog; the queue log shows TRANSFER for the agent; the one
    call record keeps what the IVR learnt and names 1003."""
    switch = centre_unrecorded
    carol = pjsua("1003")
    carol.register(switch.sip_port, "1003", "demo-1003")
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(switch, agent, "1001")
    call = dial_sales(switch, caller, tmp_path)  # plays 440 Hz
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("play", call=agent_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 60.0)))
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    wait_queue_log(switch, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    agent.wait_event("media_active", 5.0, call=agent_call)

    agent.send("dtmf", call=agent_call, digits="*21003#")
    incoming = carol.wait_incoming(10.0)
    carol_call = int(incoming["call"])
    carol.send("play", call=carol_call, path=str(write_tone(tmp_path / "1500.wav", 1500.0, 60.0)))
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)
    agent_hears, carol_hears = _both_hear(agent, agent_call, carol, carol_call, tmp_path, "consult")
    assert (agent_hears, carol_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(1000.0, abs=20.0),
    )

    agent.send("hangup", call=agent_call)
    caller_hears, carol_hears = _both_hear(caller, call, carol, carol_call, tmp_path, "done")
    assert (caller_hears, carol_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    rows = wait_queue_log(switch, lambda r: ("TRANSFER", "600", "1001") in events(r), 5.0)
    assert not [r for r in rows if r["event"] == "ENTERQUEUE" and r["queue"] != "600"]
    states = [e["state"] for e in caller.events if e["event"] == "call_state" and e["call"] == call]
    assert states.count("CONFIRMED") == 1 and "DISCONNECTED" not in states

    caller.send("hangup", call=call)
    carol.wait_bye(carol_call, 5.0)
    cdr = switch.closed_cdrs(1, 5.0, "callee = ?", ("1003",))[0]
    variables = json.loads(cdr["variables"])
    assert variables["ivr_digits"] == "1" and variables["transferred_by"] == "1001"
    assert variables["transfer"] == "attended"


def test_star_2_to_an_external_number_through_the_trunk(
    unrecorded: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    sipp: Callable[..., Sipp],
    carrier_port: int,
    tmp_path: Path,
) -> None:
    """1002 consults 912345 (the SIPp carrier, which echoes): it hears its own tone back while
    1001 hears music; its hang-up joins 1001 with the carrier, and 1001 hears its own tone."""
    carrier = sipp("carrier", ["-sn", "uas", "-p", str(carrier_port), "-m", "1", "-rtp_echo"], 40)
    wait_port_bound(carrier_port, 5.0, "SIPp carrier UAS")
    c = connect(unrecorded, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    alice.send("play", call=c.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 60.0)))
    bob.send("play", call=c.callee_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 60.0)))
    bob.wait_event("media_active", 5.0, call=c.callee_call)
    bob.send("dtmf", call=c.callee_call, digits="*2912345#")
    _wait_answered_legs(unrecorded, 3)  # 1001, 1002 and the carrier
    bob_heard = _hear(bob, c.callee_call, tmp_path / "bob-consult.wav")
    held = _hear(alice, c.caller_call, tmp_path / "alice-held.wav")
    assert dominant_frequency(_heard(bob, c.callee_call, bob_heard)) == pytest.approx(
        1000.0, abs=20.0
    )
    _heard(alice, c.caller_call, held)
    assert voiced_seconds(held, skip_s=0.2) > 1.5 and tone_share(held) < 0.5

    bob.send("hangup", call=c.callee_call)
    alice_heard = _heard(
        alice, c.caller_call, _hear(alice, c.caller_call, tmp_path / "alice-done.wav")
    )
    assert dominant_frequency(alice_heard) == pytest.approx(440.0, abs=20.0)
    _one_dialog(alice, 0)
    alice.send("hangup", call=c.caller_call)
    result = carrier.result()
    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.summary()
    (invite,) = [m for m in sip_flow(result.messages) if m.method == "INVITE"]
    assert invite.first_line.startswith("INVITE sip:12345@")
    assert "<sip:1002@" in (invite.header("From") or "")  # the consultation is the transferor's
    row = unrecorded.closed_cdr()
    assert (row["caller"], row["callee"]) == ("1001", "12345")
    assert json.loads(row["variables"])["transfer"] == "attended"


@pytest.fixture
def quick_ring(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    def edit(cfg: dict[str, Any]) -> None:
        _unrecorded(cfg)
        cfg.setdefault("calls", {})["ring_timeout_s"] = 2.0

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        sw.stop()


def test_a_consulted_phone_that_does_not_answer_returns_the_transferor_after_the_ring_timeout(
    quick_ring: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c, carol = _start(quick_ring, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    carol_call = _consult(c, carol, tmp_path)  # carol rings and never answers
    ended = carol.wait_call_state(carol_call, "DISCONNECTED", 10.0)
    assert ended["code"] == 487  # cancelled at calls.ring_timeout_s
    alice_hears, bob_hears = _both_hear(alice, c.caller_call, bob, c.callee_call, tmp_path, "back")
    assert (alice_hears, bob_hears) == (
        pytest.approx(1000.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    _one_dialog(alice, 0)
    _one_dialog(bob, 1)
