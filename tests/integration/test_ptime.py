"""30 ms packets through the tick engine with real phones: 1001 (pjsua2) sends and asks for
30 ms PCMU packets, 1002 uses 20 ms PCMA. The call is transcoded, so both legs are in the
engine (a recorded call of one codec is relayed, its packets passed as they are): each phone
hears the other's tone whole, 1001 is sent 30 ms packets (240 bytes each) and 1002 20 ms ones,
and the switch's recording (the demo config records the call) holds both tones."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds
from call_recordings import closed_recordings, recording_audio
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from spectrum import level_db, peaks_hz
from two_phones import RECORD_S, connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_a_30ms_phone_and_a_20ms_phone_hear_each_other_and_are_sent_their_ptime(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    phones: dict[str, PjsuaPeer] = {}
    for name, codec, ptime_ms in (("1001", "PCMU/8000", 30), ("1002", "PCMA/8000", 20)):
        phone = phones[name] = pjsua(name)
        phone.send("codecs", only=[codec])
        phone.wait_event("codecs", 5.0)
        phone.send("ptime", codec=f"{codec}/1", ms=ptime_ms)
        assert phone.wait_event("ptime", 5.0)["ms"] == ptime_ms
    call = connect(switch, phones.__getitem__, tmp_path, record=True)
    heard = {}
    for phone, slot, path in (
        (call.caller, call.caller_call, tmp_path / "alice-heard.wav"),
        (call.callee, call.callee_call, tmp_path / "bob-heard.wav"),
    ):
        heard[path.stem] = phone.wait_event("recorded", RECORD_S + 10.0, call=slot, path=str(path))
    alice, bob = tmp_path / "alice-heard.wav", tmp_path / "bob-heard.wav"
    assert voiced_seconds(alice, skip_s=0.3) > 1.8 and voiced_seconds(bob, skip_s=0.3) > 1.8
    assert abs(dominant_frequency(alice, skip_s=0.3) - 1000.0) < 10.0
    assert abs(dominant_frequency(bob, skip_s=0.3) - 440.0) < 10.0
    for name, payload in (("alice-heard", 240), ("bob-heard", 160)):
        event = heard[name]
        print(name, event["rx_packets"], "packets", event["rx_bytes"], "bytes")
        assert event["rx_packets"] > 50
        assert event["rx_bytes"] / event["rx_packets"] == pytest.approx(payload, abs=2), name

    call.caller.send("hangup", call=call.caller_call)
    call.callee.wait_bye(call.callee_call, 5.0)
    (row,) = closed_recordings(switch)
    audio, rate = recording_audio(switch, row)
    talk = audio[int(0.5 * rate) : int(2.3 * rate)]
    assert peaks_hz(talk[:, 0], rate)[0] == pytest.approx(440.0, abs=10)
    assert peaks_hz(talk[:, 1], rate)[0] == pytest.approx(1000.0, abs=10)
    assert level_db(talk[:, 0], 1000.0, rate) < -30
