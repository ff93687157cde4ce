"""Music on hold with real phones: a pjsua2 phone holds its call (re-INVITE a=sendonly), the
switch answers that itself and the other phone hears the music; the holder hears nothing; after
resume both hear each other's tones again, and the switch's recording of the call (the demo
config records it) goes on across the hold: one file as long as the call, both tones after the
resume. A hold through the control API plays the music to the held party."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio import dominant_frequency, read_mono, voiced, voiced_seconds, write_tone
from call_recordings import closed_recordings, recording_audio
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from spectrum import level_db, peaks_hz
from two_phones import Connected, connect

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RECORD_S = 2.0


def tone_share(path: Path, skip_s: float = 0.2) -> float:
    """Share of the voiced audio's energy within 25 Hz of its strongest frequency: near 1 for
    a pure tone, small for music."""
    samples, rate = read_mono(path)
    body = voiced(samples, rate, skip_s)
    if body.size < rate // 10:
        return 0.0
    power = np.abs(np.fft.rfft(body * np.hanning(body.size))) ** 2
    freqs = np.fft.rfftfreq(body.size, 1.0 / rate)
    peak = freqs[int(np.argmax(power))]
    return float(power[np.abs(freqs - peak) <= 25.0].sum() / power.sum())


def _play_tones(call: Connected, tmp_path: Path) -> None:
    call.caller.send(
        "play", call=call.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 5.0))
    )
    call.callee.send(
        "play", call=call.callee_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 5.0))
    )


def _record_both(call: Connected, tmp_path: Path, name: str) -> tuple[Path, Path]:
    heard = (tmp_path / f"alice-{name}.wav", tmp_path / f"bob-{name}.wav")
    pairs = ((call.caller, call.caller_call, heard[0]), (call.callee, call.callee_call, heard[1]))
    for peer, slot, path in pairs:
        peer.send("record", call=slot, path=str(path), seconds=RECORD_S)
    for peer, slot, path in pairs:
        peer.wait_event("recorded", 10.0, call=slot, path=str(path))
    return heard


def _hears_music(path: Path) -> None:
    assert voiced_seconds(path, skip_s=0.2) > 1.5, "the held party hears no music"
    assert tone_share(path) < 0.5, "the held party hears a pure tone, not the music"


def test_a_phone_holding_its_call_gives_the_other_music_and_resumes_the_bridge(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    call = connect(switch, pjsua, tmp_path)
    _play_tones(call, tmp_path)
    call.caller.send("hold", call=call.caller_call)
    call.caller.wait_event("media_state", 5.0, call=call.caller_call, status="local_hold")
    alice_heard, bob_heard = _record_both(call, tmp_path, "held")
    _hears_music(bob_heard)
    assert voiced_seconds(alice_heard, skip_s=0.2) < 0.2, "the holder hears the other party"

    call.caller.send("unhold", call=call.caller_call)
    call.caller.wait_event("media_state", 5.0, call=call.caller_call, status="active")
    alice_heard, bob_heard = _record_both(call, tmp_path, "resumed")
    assert voiced_seconds(alice_heard, skip_s=0.2) > 1.2
    assert voiced_seconds(bob_heard, skip_s=0.2) > 1.2
    assert abs(dominant_frequency(alice_heard, skip_s=0.2) - 1000.0) < 20.0
    assert abs(dominant_frequency(bob_heard, skip_s=0.2) - 440.0) < 20.0
    # The hold was the switch's to answer: bob's phone was never put on hold itself.
    bob_states = [e["status"] for e in call.callee.events if e.get("event") == "media_state"]
    assert set(bob_states) == {"active"}, bob_states

    call.caller.send("hangup", call=call.caller_call)
    call.callee.wait_bye(call.callee_call, 5.0)
    cdr = switch.closed_cdr()
    (row,) = closed_recordings(switch)
    audio, rate = recording_audio(switch, row)
    call_s = cdr["end_ts"] - cdr["answer_ts"]
    print(f"call {call_s:.2f} s, recording {audio.shape[0] / rate:.2f} s")
    assert audio.shape[0] / rate == pytest.approx(call_s, abs=0.3)  # not cut at the hold
    resumed = audio[-int(1.8 * rate) : -int(0.2 * rate)]  # the resumed stretch before hang-up
    assert peaks_hz(resumed[:, 0], rate)[0] == pytest.approx(440.0, abs=10)
    assert peaks_hz(resumed[:, 1], rate)[0] == pytest.approx(1000.0, abs=10)
    assert level_db(resumed[:, 0], 1000.0, rate) < -30
