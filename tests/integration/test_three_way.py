"""Three-way calling (calls/three_way.py) with pjsua2 phones: 1001 calls 1002, 1002 consults 1003
(*2 1003 #) and keys *3: all three hear the two others (FFT levels), with no new dialog toward
1001. When 1002 leaves, 1001 and 1003 keep talking; the call ends with the last two."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from api_events import api_call, wait_api
from audio import read_mono, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from spectrum import level_db
from test_attended_dtmf import _consult, _one_dialog, _start, _unrecorded
from test_music_on_hold import tone_share, voiced_seconds
from two_phones import RECORD_S

from softswitch.api.client import ApiClient, ApiClientError

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


def test_api_conference_adds_a_third_party_once_it_answers(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """POST /calls/{id}/conference from agent 1002's screen: 1002's phone rings 1003, 1001 hears
    music meanwhile, and the answer puts the three together."""
    wait_api(switch.ports.api)
    url = switch.ports.api_url
    c, carol = _start(switch, pjsua, tmp_path)
    alice, bob = c.caller, c.callee
    (listed,) = api_call(url, "1002", "demo-1002", lambda api: api.calls())

    async def refused(api: ApiClient) -> int:
        try:
            await api.conference(listed.call_id, "5999")  # nothing answers to it
        except ApiClientError as exc:
            return exc.status
        return 204

    assert api_call(url, "1002", "demo-1002", refused) == 404
    api_call(url, "1002", "demo-1002", lambda api: api.conference(listed.call_id, "1003"))
    incoming = carol.wait_incoming(10.0)
    assert "1002" in incoming["remote"]
    carol_call = int(incoming["call"])
    carol.send("play", call=carol_call, path=str(write_tone(tmp_path / "1500.wav", 1500.0, 60.0)))
    held = tmp_path / "alice-held.wav"
    alice.send("record", call=c.caller_call, path=str(held), seconds=RECORD_S)
    alice.wait_event("recorded", 10.0, call=c.caller_call, path=str(held))
    assert voiced_seconds(held, skip_s=0.2) > 1.5 and tone_share(held) < 0.5  # music
    carol.send("answer", call=carol_call)
    carol.wait_call_state(carol_call, "CONFIRMED", 5.0)

    phones = {
        "1001": (alice, c.caller_call),
        "1002": (bob, c.callee_call),
        "1003": (carol, carol_call),
    }
    levels = _levels(phones, tmp_path, "api")
    for user, heard in levels.items():
        for other, level in heard.items():
            if other != user:
                assert level > HEARD_DB, f"{user} does not hear {other}: {heard}"
    (seen,) = api_call(url, "admin", "demo-admin", lambda api: api.calls())
    assert len(seen.legs) == 3
    _one_dialog(alice, 0)
