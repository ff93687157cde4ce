"""The held party leaves an attended transfer (calls/consult.py), with pjsua2 phones: 1001
calls 1002, 1002 keys *2 1003 # and talks to 1003 while 1001 hears music; 1001 hangs up. As in
Asterisk, 1002 and 1003 stay connected (tones by FFT, no BYE to either), and the call ends
when one of them hangs up.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from test_attended_dtmf import _both_hear, _consult, _start, unrecorded

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

__all__ = ["unrecorded"]  # the fixture, used by name


def test_the_held_caller_hanging_up_leaves_the_transferor_with_the_target(
    unrecorded: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c, carol = _start(unrecorded, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    carol_call = _consult(c, carol, tmp_path)
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)

    alice.send("hangup", call=c.caller_call)
    alice.wait_call_state(c.caller_call, "DISCONNECTED", 5.0)
    bob_hears, carol_hears = _both_hear(bob, c.callee_call, carol, carol_call, tmp_path, "after")
    assert bob_hears == pytest.approx(1500.0, abs=20.0)
    assert carol_hears == pytest.approx(1000.0, abs=20.0)
    for peer, call in ((bob, c.callee_call), (carol, carol_call)):
        states = [
            e["state"] for e in peer.events if e["event"] == "call_state" and e["call"] == call
        ]
        assert "DISCONNECTED" not in states

    carol.send("hangup", call=carol_call)
    bob.wait_bye(c.callee_call, 5.0)
    row = unrecorded.closed_cdr()
    assert (row["caller"], row["disposition"]) == ("1001", "answered")
