"""The test peers themselves, calling each other with no switch: proves pjsua_peer and audio.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer, uri

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RECORD_S = 2.5


def test_two_pjsua_peers_hear_each_others_tone_directly(
    tmp_path: Path, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    a, b = pjsua("a"), pjsua("b")
    call_a = a.call(uri("b", b.udp_port))
    call_b = b.wait_incoming(5.0)["call"]
    a.play_and_record(
        call_a, write_tone(tmp_path / "440.wav", 440.0, 4.0), tmp_path / "a.wav", RECORD_S
    )
    b.play_and_record(
        call_b, write_tone(tmp_path / "1k.wav", 1000.0, 4.0), tmp_path / "b.wav", RECORD_S
    )
    b.send("answer", call=call_b)
    a.wait_call_state(call_a, "CONFIRMED", 5.0)
    heard_a = a.wait_event("recorded", RECORD_S + 5.0, call=call_a)
    b.wait_event("recorded", RECORD_S + 5.0, call=call_b)
    a.send("hangup", call=call_a)
    b.wait_bye(call_b, 5.0)
    a.wait_call_state(call_a, "DISCONNECTED", 5.0)

    assert heard_a["rx_packets"] > 50
    assert dominant_frequency(tmp_path / "a.wav") == pytest.approx(1000.0, abs=15.0)
    assert dominant_frequency(tmp_path / "b.wav") == pytest.approx(440.0, abs=15.0)
    assert voiced_seconds(tmp_path / "a.wav") > 1.5
    assert voiced_seconds(tmp_path / "b.wav") > 1.5
