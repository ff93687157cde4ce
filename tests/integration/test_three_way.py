"""Three-way calling (calls/three_way.py) with pjsua2 phones: 1001 calls 1002, 1002 consults 1003
(*2 1003 #) and keys *3: all three hear the two others (FFT levels), with no new dialog toward
1001. When 1002 leaves, 1001 and 1003 keep talking; the call ends with the last two."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from audio import read_mono
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from spectrum import level_db
from test_attended_dtmf import _consult, _one_dialog, _start, _unrecorded
from two_phones import RECORD_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TONES_HZ = {"1001": 440.0, "1002": 1000.0, "1003": 1500.0}  # as test_attended_dtmf plays them
HEARD_DB = -15.0  # one of two voices heard: about -3 dB
NOT_HEARD_DB = -35.0


@pytest.fixture
def unrecorded(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=_unrecorded)
    try:
        yield sw
    finally:
        sw.stop()


def _levels(
    phones: dict[str, tuple[PjsuaPeer, int]], tmp_path: Path, name: str
) -> dict[str, dict[str, float]]:
    """Each phone's level of each tone over RECORD_S, recorded at the same time."""
    for user, (phone, call) in phones.items():
        phone.send("record", call=call, path=str(tmp_path / f"{name}-{user}.wav"), seconds=RECORD_S)
    levels: dict[str, dict[str, float]] = {}
    for user, (phone, call) in phones.items():
        path = tmp_path / f"{name}-{user}.wav"
        phone.wait_event("recorded", 10.0, call=call, path=str(path))
        samples, rate = read_mono(path)
        samples = samples[int(0.3 * rate) :]
        assert np.any(samples), f"{user} heard silence"
        levels[user] = {other: level_db(samples, hz, rate) for other, hz in TONES_HZ.items()}
    return levels


def test_star_3_joins_caller_transferor_and_target_and_the_last_two_go_on(
    unrecorded: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c, carol = _start(unrecorded, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    carol_call = _consult(c, carol, tmp_path)
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)
    bob.send("dtmf", call=c.callee_call, digits="*3")

    phones = {
        "1001": (alice, c.caller_call),
        "1002": (bob, c.callee_call),
        "1003": (carol, carol_call),
    }
    levels = _levels(phones, tmp_path, "three")
    for user, heard in levels.items():
        for other, level in heard.items():
            if other == user:
                assert level < NOT_HEARD_DB, f"{user} hears itself: {heard}"
            else:
                assert level > HEARD_DB, f"{user} does not hear {other}: {heard}"
    _one_dialog(alice, 0)

    bob.send("hangup", call=c.callee_call)
    bob.wait_call_state(c.callee_call, "DISCONNECTED", 5.0)
    del phones["1002"]
    levels = _levels(phones, tmp_path, "two")
    assert levels["1001"]["1003"] > HEARD_DB and levels["1003"]["1001"] > HEARD_DB
    assert levels["1001"]["1002"] < NOT_HEARD_DB

    alice.send("hangup", call=c.caller_call)
    carol.wait_bye(carol_call, 5.0)
    row = unrecorded.closed_cdr()
    assert (row["caller"], row["disposition"]) == ("1001", "answered")
