"""The DTMF test line 9197 with real phones: pjsua2 sends digits by RFC 4733 and by SIP INFO,
the switch reads each back with the digit prompts, says goodbye after `#` and hangs up; what the
phone heard is as long as the prompts it should have heard, and /metrics counts the digits by
method."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio import read_mono, voiced, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch

from softswitch.media.prompts import PromptLibrary

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DTMF_TEST = "9197"
SILENCE = 300  # int16 RMS below which a 20 ms frame of a prompt counts as a pause


def digits_counted(switch: Switch) -> dict[str, float]:
    url = f"http://127.0.0.1:{switch.ports.metrics}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
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
