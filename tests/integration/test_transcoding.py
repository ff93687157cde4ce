"""Transcoding in the bridge with real phones: a caller whose only codec the callee lacks still
talks to it. The switch offers the callee every codec it can transcode; when the answered
codecs differ, both legs go through the tick engine, each in its own codec, and each phone hears
the other's tone at its frequency, and the switch's recording holds the caller's tone left and
the callee's right. Early media in the callee's codec reaches a caller without it in the
caller's. Same codec stays on the relay (test_extension_calls)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds, write_tone
from call_recordings import closed_recordings, recording_audio
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from spectrum import peaks_hz
from two_phones import connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.mark.parametrize(
    ("caller_codec", "callee_codec"),
    [("PCMU/8000", "PCMA/8000"), ("G722/16000", "PCMU/8000"), ("PCMA/8000", "G722/16000")],
)
def test_phones_without_a_common_codec_hear_each_others_tone(
    switch: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    tmp_path: Path,
    caller_codec: str,
    callee_codec: str,
) -> None:
    phones: dict[str, PjsuaPeer] = {}
    for name, codec in (("1001", caller_codec), ("1002", callee_codec)):
        phone = phones[name] = pjsua(name)
        phone.send("codecs", only=[codec])
        enabled = phone.wait_event("codecs", 5.0)["enabled"]
        assert [c.split("/")[0] for c in enabled] == [codec.split("/")[0]], enabled
    call = connect(switch, phones.__getitem__, tmp_path, record=True)
    # Each phone's stream really is in its own codec: the switch transcodes between them.
    for phone, slot, codec in (
        (call.caller, call.caller_call, caller_codec),
        (call.callee, call.callee_call, callee_codec),
    ):
        active = phone.wait_event("media_active", 5.0, call=slot)
        assert active["codec"].upper() == codec.split("/")[0], active
    for phone, slot, path in (
        (call.caller, call.caller_call, tmp_path / "alice-heard.wav"),
        (call.callee, call.callee_call, tmp_path / "bob-heard.wav"),
    ):
        phone.wait_event("recorded", 10.0, call=slot, path=str(path))
    alice, bob = tmp_path / "alice-heard.wav", tmp_path / "bob-heard.wav"
    assert voiced_seconds(alice, skip_s=0.3) > 1.5 and voiced_seconds(bob, skip_s=0.3) > 1.5
    assert abs(dominant_frequency(alice, skip_s=0.3) - 1000.0) < 15.0
    assert abs(dominant_frequency(bob, skip_s=0.3) - 440.0) < 15.0
    # The transcoded call is recorded like any other: caller left, callee right.
    call.caller.send("hangup", call=call.caller_call)
    call.callee.wait_bye(call.callee_call, 5.0)
    (row,) = closed_recordings(switch)
    audio, rate = recording_audio(switch, row)
    talk = audio[int(0.5 * rate) : int(2.3 * rate)]
    assert peaks_hz(talk[:, 0], rate)[0] == pytest.approx(440.0, abs=10)
    assert peaks_hz(talk[:, 1], rate)[0] == pytest.approx(1000.0, abs=10)


def test_early_media_in_the_callee_s_codec_reaches_the_caller_in_its_own(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """1002 (PCMA only) answers 183 with SDP and plays a tone before answering: 1001 (PCMU
    only) hears it during the early dialog, in PCMU, at its frequency; the answer then
    connects both ways."""
    phones: dict[str, PjsuaPeer] = {}
    for name, codec in (("1001", "PCMU/8000"), ("1002", "PCMA/8000")):
        phone = phones[name] = pjsua(name)
        phone.send("codecs", only=[codec])
        phone.wait_event("codecs", 5.0)
        phone.register(switch.sip_port, name, f"demo-{name}")
    alice, bob = phones["1001"], phones["1002"]
    alice_call = alice.call(switch.uri("1002"))
    bob_call = bob.wait_incoming(5.0)["call"]
    early = tmp_path / "alice-early.wav"
    alice.play_and_record(alice_call, write_tone(tmp_path / "440.wav", 440.0, 10.0), early, 2.0)
    bob.send("play", call=bob_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 10.0)))
    bob.send("answer", call=bob_call, code=183)
    active = alice.wait_event("media_active", 5.0, call=alice_call)
    assert active["codec"].upper() == "PCMU", active
    assert bob.wait_event("media_active", 5.0, call=bob_call)["codec"].upper() == "PCMA"
    alice.wait_event("recorded", 10.0, call=alice_call, path=str(early))
    states = [e["state"] for e in alice.events if e["event"] == "call_state"]
    assert "CONFIRMED" not in states, states  # all of it heard before the answer
    assert voiced_seconds(early, skip_s=0.3) > 1.2
    assert abs(dominant_frequency(early, skip_s=0.3) - 1000.0) < 15.0

    bob.send("answer", call=bob_call)
    alice.wait_call_state(alice_call, "CONFIRMED", 5.0)
    answered = tmp_path / "bob-answered.wav"
    bob.send("record", call=bob_call, path=str(answered), seconds=1.5)
    bob.wait_event("recorded", 10.0, call=bob_call, path=str(answered))
    assert abs(dominant_frequency(answered, skip_s=0.3) - 440.0) < 15.0
    alice.send("hangup", call=alice_call)
    bob.wait_bye(bob_call, 5.0)
