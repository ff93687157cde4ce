"""Call pickup with pjsua2 phones (calls/pickup.py): 1001 calls 1002, which rings; 1003 (same
pickup group, sales) dials *8 and takes the call: 1002 stops ringing (CANCEL), 1001 and 1003
hear each other (FFT), one record names 1003. `**1002` from 1004 (another group) picks up a
given phone; *8 with nothing ringing in the group gets 480."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from two_phones import RECORD_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def _phone(switch: Switch, pjsua: Callable[[str], PjsuaPeer], user: str) -> PjsuaPeer:
    phone = pjsua(user)
    phone.register(switch.sip_port, user, f"demo-{user}")
    return phone


def _pick_up(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path, picker: str, code: str
) -> None:
    alice, bob, other = (_phone(switch, pjsua, u) for u in ("1001", "1002", picker))
    alice_call = alice.call(switch.uri("1002"))
    alice.send("play", call=alice_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))
    bob_call = bob.wait_incoming(5.0)["call"]
    alice.wait_call_state(alice_call, "EARLY", 5.0)

    picked = other.call(switch.uri(code))
    other.send("play", call=picked, path=str(write_tone(tmp_path / "1500.wav", 1500.0, 30.0)))
    other.wait_call_state(picked, "CONFIRMED", 5.0)
    alice.wait_call_state(alice_call, "CONFIRMED", 5.0)
    ended = bob.wait_call_state(bob_call, "DISCONNECTED", 5.0)
    assert ended["code"] == 487  # the ringing phone was cancelled

    heard = {name: tmp_path / f"{name}.wav" for name in ("alice", "other")}
    alice.send("record", call=alice_call, path=str(heard["alice"]), seconds=RECORD_S)
    other.send("record", call=picked, path=str(heard["other"]), seconds=RECORD_S)
    alice.wait_event("recorded", 10.0, call=alice_call, path=str(heard["alice"]))
    other.wait_event("recorded", 10.0, call=picked, path=str(heard["other"]))
    assert dominant_frequency(heard["alice"]) == pytest.approx(1500.0, abs=20.0)
    assert dominant_frequency(heard["other"]) == pytest.approx(440.0, abs=20.0)

    other.send("hangup", call=picked)
    alice.wait_bye(alice_call, 5.0)
    rows = switch.closed_cdrs(2)
    picked_row = next(r for r in rows if r["caller"] == "1001")
    assert (picked_row["callee"], picked_row["disposition"]) == (picker, "answered")
    variables = json.loads(picked_row["variables"])
    assert (variables["picked_up_by"], variables["picked_up_from"]) == (picker, "1002")
    own = next(r for r in rows if r["caller"] == picker)
    assert own["hangup_cause"].startswith("picked up call ")


def test_star_8_picks_up_a_call_ringing_in_the_group(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    _pick_up(switch, pjsua, tmp_path, "1003", "*8")


def test_star_star_extension_picks_up_that_phone_from_another_group(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    _pick_up(switch, pjsua, tmp_path, "1004", "**1002")


def test_star_8_with_nothing_ringing_in_the_group_is_480(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    alice, dave = _phone(switch, pjsua, "1001"), _phone(switch, pjsua, "1004")
    _phone(switch, pjsua, "1002")
    alice_call = alice.call(switch.uri("1002"))  # rings in sales, not in dave's support group
    alice.wait_call_state(alice_call, "EARLY", 5.0)
    picked = dave.call(switch.uri("*8"))
    assert dave.wait_call_state(picked, "DISCONNECTED", 5.0)["code"] == 480
    states = [e["state"] for e in alice.events if e["event"] == "call_state"]
    assert "CONFIRMED" not in states and "DISCONNECTED" not in states  # still ringing
