"""The DTMF test line 9197 with real phones: pjsua2 sends digits by RFC 4733 and by SIP INFO,
the switch reads each back with the digit prompts, says goodbye after `#` and hangs up; what the
phone heard is as long as the prompts it should have heard, and /metrics counts the digits by
method."""

from __future__ import annotations

import re
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from audio import read_mono, voiced, write_tone
from carrier_calls import SCENARIOS
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from sipp_process import Sipp

from softswitch.media.prompts import PromptLibrary

# The speech-like signal and tone pairs of the in-band detector's own tests (tests/media).
sys.path.insert(0, str(Path(__file__).parents[1] / "media"))
from signals import dtmf, synthetic_speech, to_int16

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DTMF_TEST = "9197"
DATA = Path(__file__).parents[1] / "data" / "dtmf"  # SIPp's RFC 2833 captures of 4, 7 and #
SILENCE = 300  # int16 RMS below which a 20 ms frame of a prompt counts as a pause


def digits_counted(switch: Switch) -> dict[str, float]:
    url = f"http://127.0.0.1:{switch.ports.metrics}/metrics"
    # The switch answers OPTIONS before its metrics server has bound: retry up to a deadline.
    deadline = time.monotonic() + 5.0
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                text = response.read().decode()
            break
        except urllib.error.URLError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    found = re.findall(r'softswitch_dtmf_digits_total\{method="(\w+)"\} (\S+)', text)
    return {method: float(value) for method, value in found}


def spoken_seconds(names: list[str]) -> float:
    """Seconds of voice in the prompts the line should say (their 20 ms frames above silence)."""
    library = PromptLibrary()
    total = 0
    for name in names:
        audio = library.load("en", name).astype(np.float64)
        frames = audio[: audio.size // 160 * 160].reshape(-1, 160)
        total += int((np.sqrt(np.mean(frames**2, axis=1)) >= SILENCE).sum())
    return total * 0.02


@pytest.mark.parametrize("method", ["rfc4733", "info"])
def test_the_dtmf_test_line_reads_back_digits_and_hangs_up_on_pound(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path, method: str
) -> None:
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    call = phone.call(switch.uri(DTMF_TEST))
    phone.wait_call_state(call, "CONFIRMED", 5.0)
    heard = tmp_path / "heard.wav"
    silence = write_tone(tmp_path / "quiet.wav", 440.0, 1.0)  # pjsua needs a source to send
    phone.send("play", call=call, path=str(silence))
    phone.send("record", call=call, path=str(heard), seconds=30)
    before = digits_counted(switch)
    phone.send("dtmf", call=call, digits="47#", method=method)
    phone.wait_bye(call, 15.0)
    phone.wait_event("recorded", 10.0, call=call)
    after = digits_counted(switch)
    assert after.get(method, 0) - before.get(method, 0) == 3, (before, after)
    others = {m for m in after if m != method}
    assert all(after[m] == before.get(m, 0) for m in others)

    samples, rate = read_mono(heard)
    # The phone plays its own tone only to the switch: what it records is the switch's voice.
    voice = voiced(samples, rate, skip_s=0.0).size / rate
    expected = spoken_seconds(["4", "7", "goodbye"])
    assert 0.6 * expected <= voice <= expected + 1.0, (voice, expected)
    rows = switch.closed_cdrs(1, 5.0, "callee = ?", (DTMF_TEST,))
    assert rows[0]["hangup_side"] == "switch"


def test_sipp_rfc4733_captures_are_read_back_and_the_line_hangs_up(
    switch: Switch, sipp: Callable[..., Sipp], tmp_path: Path
) -> None:
    for name in ("4", "7", "pound"):
        shutil.copy(DATA / f"dtmf_2833_{name}.pcap", tmp_path)
    scenario = SCENARIOS / "caller_dtmf_2833.xml"
    before = digits_counted(switch)
    args = ["-sf", str(scenario), f"127.0.0.1:{switch.sip_port}", "-s", DTMF_TEST, "-m", "1"]
    result = sipp("dtmf-2833", args, timeout_s=30).result()
    assert (result.returncode, result.successful) == (0, 1), result.summary()
    after = digits_counted(switch)
    assert after.get("rfc4733", 0) - before.get("rfc4733", 0) == 3, (before, after)
    rows = switch.closed_cdrs(1, 5.0, "callee = ?", (DTMF_TEST,))
    assert rows[0]["hangup_side"] == "switch"


def speech_with_digits(path: Path, digits: str, seconds: float) -> None:
    """`seconds` of speech-like audio (formant-filtered pulses and noise, -15 dBm0) with the
    digits' tone pairs (-10 dBm0, 100 ms) laid in pauses spread over it, as a gateway sends."""
    rng = np.random.default_rng(8)
    speech = synthetic_speech(seconds, rng)
    gap = int(8000 * seconds / (len(digits) + 1))
    for index, digit in enumerate(digits):
        at = gap * (index + 1)
        speech[at - 800 : at + 1600] = 0.0
        tone = dtmf(digit, 100)
        speech[at : at + tone.size] = tone
    sf.write(str(path), to_int16(speech), 8000, subtype="PCM_16")


@pytest.mark.timeout(180)
def test_inband_digits_in_30_s_of_speech_are_all_found_and_none_invented(
    tmp_path: Path, carrier_port: int, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    sw = start_switch(tmp_path, carrier_port, extensions={"1001": {"dtmf": "inband"}})
    try:
        digits = "1234567890*#"
        audio = tmp_path / "speech_digits.wav"
        speech_with_digits(audio, digits, 30.0)
        phone = pjsua("1001")
        phone.register(sw.sip_port, "1001", "demo-1001")
        call = phone.call(sw.uri(DTMF_TEST))
        phone.wait_call_state(call, "CONFIRMED", 5.0)
        phone.send("play", call=call, path=str(audio), loop=False)
        phone.wait_bye(call, 60.0)
        counted = digits_counted(sw)
        assert counted.get("inband", 0) == len(digits), counted
        assert counted.get("rfc4733", 0) == 0 and counted.get("info", 0) == 0
    finally:
        assert sw.stop() == 0
