"""Two registered softphones, 1001 and 1002, in a call through the switch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audio import write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch

RECORD_S = 2.5  # seconds each phone records when asked to


@dataclass
class Connected:
    caller: PjsuaPeer
    callee: PjsuaPeer
    caller_call: int
    callee_call: int
    caller_sip_call_id: str
    callee_sip_call_id: str


def connect(
    switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    tmp_path: Path,
    record: bool = False,
) -> Connected:
    """1001 calls 1002 and 1002 answers; with `record`, each plays its tone and records."""
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(switch.sip_port, "1001", "demo-1001")
    bob.register(switch.sip_port, "1002", "demo-1002")
    alice_call = alice.call(switch.uri("1002"))
    incoming = bob.wait_incoming(5.0)
    bob_call = incoming["call"]
    if record:
        alice_tone = write_tone(tmp_path / "440.wav", 440.0, 5.0)
        bob_tone = write_tone(tmp_path / "1000.wav", 1000.0, 5.0)
        alice.play_and_record(alice_call, alice_tone, tmp_path / "alice-heard.wav", RECORD_S)
        bob.play_and_record(bob_call, bob_tone, tmp_path / "bob-heard.wav", RECORD_S)
    alice.wait_call_state(alice_call, "EARLY", 5.0)  # bob's 180 relayed as ringback
    bob.send("answer", call=bob_call)
    confirmed = alice.wait_call_state(alice_call, "CONFIRMED", 5.0)
    bob.wait_call_state(bob_call, "CONFIRMED", 5.0)
    return Connected(alice, bob, alice_call, bob_call, confirmed["call_id"], incoming["call_id"])
