"""Conference rooms end to end: pjsua2 phones (one process each) dial rooms of the example config.

8000 is open: three phones each play their own tone and each must hear the two others and not
itself (FFT over 3 s of what it recorded). 8001 asks PIN 1234: a wrong PIN (RFC 4733 digits)
ends in a BYE from the switch, the right one joins. A member muted through the control layer
(the CTI API's conference route) is heard by nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio import read_mono, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from spectrum import level_db as _spectrum_level_db

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TONES_HZ = {"1001": 500.0, "1002": 750.0, "1003": 1100.0}  # none near the 1400 Hz join beep
HEARD_DB = -15.0  # a voice in a room of three has about half the power: about -3 dB
NOT_HEARD_DB = -35.0
RECORD_S = 3.0


def level_db(samples: np.ndarray, freq_hz: float, rate_hz: int) -> float:
    """The tone's share of what was heard in dB; silence (all zeros) hears no tone at all."""
    if not np.any(samples):
        return float("-inf")
    return _spectrum_level_db(samples, freq_hz, rate_hz)


def _join(
    switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    tmp_path: Path,
    user: str,
    room: str,
    *,
    tone: bool = True,
) -> tuple[PjsuaPeer, int]:
    phone = pjsua(user)
    phone.register(switch.sip_port, user, f"demo-{user}")
    call = phone.call(switch.uri(room))
    if tone:
        tone_path = write_tone(tmp_path / f"{user}.wav", TONES_HZ[user], 30.0)
        phone.send("play", call=call, path=str(tone_path))
    phone.wait_call_state(call, "CONFIRMED", 5.0)
    phone.wait_event("media_active", 5.0, call=call)
    return phone, call


def _record(
    phones: dict[str, tuple[PjsuaPeer, int]], tmp_path: Path, skip_s: float = 0.3
) -> dict[str, tuple[np.ndarray, int]]:
    """What each phone hears for RECORD_S, as (samples, rate): pjsua2 records at its own rate."""
    for user, (phone, call) in phones.items():
        phone.send("record", call=call, path=str(tmp_path / f"{user}-heard.wav"), seconds=RECORD_S)
    heard: dict[str, tuple[np.ndarray, int]] = {}
    for user, (phone, call) in phones.items():
        phone.wait_event("recorded", RECORD_S + 10.0, call=call)
        samples, rate = read_mono(tmp_path / f"{user}-heard.wav")
        heard[user] = samples[int(skip_s * rate) :], rate  # past the jitter buffer's start
    return heard


def test_three_phones_in_8000_each_hear_the_two_others_and_not_themselves(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    phones = {user: _join(switch, pjsua, tmp_path, user, "8000") for user in TONES_HZ}
    heard = _record(phones, tmp_path)
    for user, (samples, rate) in heard.items():
        assert samples.size >= 2.5 * rate, f"{user} recorded {samples.size} samples"
        levels = {other: level_db(samples, hz, rate) for other, hz in TONES_HZ.items()}
        for other, level in levels.items():
            if other == user:
                assert level < NOT_HEARD_DB, f"{user} hears itself: {levels}"
            else:
                assert level > HEARD_DB, f"{user} does not hear {other}: {levels}"
    for phone, call in phones.values():
        phone.send("hangup", call=call)
        phone.wait_call_state(call, "DISCONNECTED", 5.0)


def test_a_wrong_pin_is_refused_and_the_right_one_joins(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    # 8001: pin 1234, moderator pin 4321, three attempts; 1001 is a moderator without PIN.
    host, host_call = _join(switch, pjsua, tmp_path, "1001", "8001")
    intruder, bad_call = _join(switch, pjsua, tmp_path, "1002", "8001", tone=False)
    for _ in range(3):
        intruder.send("dtmf", call=bad_call, digits="9999#")
        intruder.wait_event("dtmf_sent", 5.0, call=bad_call)
    intruder.wait_bye(bad_call, 20.0)  # "invalid option", "goodbye", then the switch's BYE
    guest, guest_call = _join(switch, pjsua, tmp_path, "1003", "8001")
    guest.send("dtmf", call=guest_call, digits="1234#")
    # Joined: the guest hears the host's tone, the host the guest's.
    heard = _record({"1001": (host, host_call), "1003": (guest, guest_call)}, tmp_path)
    assert level_db(*heard["1003"][:1], TONES_HZ["1001"], heard["1003"][1]) > HEARD_DB
    assert level_db(*heard["1001"][:1], TONES_HZ["1003"], heard["1001"][1]) > HEARD_DB


def test_muted_participants_are_not_heard_and_the_moderator_still_is(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    # 1001 is a moderator of 8001 by extension; its '*' mutes everyone else (mute-all).
    host, host_call = _join(switch, pjsua, tmp_path, "1001", "8001")
    guests = {}
    for user in ("1002", "1003"):
        phone, call = _join(switch, pjsua, tmp_path, user, "8001")
        phone.send("dtmf", call=call, digits="1234#")
        guests[user] = (phone, call)
    before = _record({"1001": (host, host_call)}, tmp_path)["1001"]
    assert level_db(before[0], TONES_HZ["1002"], before[1]) > HEARD_DB  # both joined
    assert level_db(before[0], TONES_HZ["1003"], before[1]) > HEARD_DB
    host.send("dtmf", call=host_call, digits="*")
    host.wait_event("dtmf_sent", 5.0, call=host_call)
    heard = _record({"1001": (host, host_call), **guests}, tmp_path, skip_s=1.0)  # mute taken
    for user in ("1002", "1003"):
        assert level_db(heard["1001"][0], TONES_HZ[user], heard["1001"][1]) < NOT_HEARD_DB
        samples, rate = heard[user]
        assert level_db(samples, TONES_HZ["1001"], rate) > HEARD_DB  # the moderator is heard
        other = "1003" if user == "1002" else "1002"
        assert level_db(samples, TONES_HZ[other], rate) < NOT_HEARD_DB  # muted guests
