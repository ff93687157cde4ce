"""The test peers themselves, calling each other with no switch: proves pjsua_peer and audio.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer, uri

pytestmark = pytest.mark.integration

TONE_S = 4.0
RECORD_S = 2.5


def test_two_pjsua_peers_hear_each_others_tone_directly(tmp_path: Path) -> None:
    tone_a = write_tone(tmp_path / "a.wav", 440.0, TONE_S)
    tone_b = write_tone(tmp_path / "b.wav", 1000.0, TONE_S)
    with PjsuaPeer("a", tmp_path) as a, PjsuaPeer("b", tmp_path) as b:
        call_a = a.call(uri("b", b.udp_port))
        call_b = b.wait_incoming(5.0)["call"]
        for peer, call, tone, name in ((a, call_a, tone_a, "a"), (b, call_b, tone_b, "b")):
            peer.send("play", call=call, path=str(tone))
            peer.send(
                "record", call=call, path=str(tmp_path / f"{name}-heard.wav"), seconds=RECORD_S
            )
        b.send("answer", call=call_b)
        a.wait_call_state(call_a, "CONFIRMED", 5.0)
        heard_a = a.wait_event("recorded", RECORD_S + 5.0, call=call_a)
        heard_b = b.wait_event("recorded", RECORD_S + 5.0, call=call_b)
        a.send("hangup", call=call_a)
        assert b.wait_call_state(call_b, "DISCONNECTED", 5.0)["code"] == 200
        a.wait_call_state(call_a, "DISCONNECTED", 5.0)

    assert heard_a["rx_packets"] > 50
    assert dominant_frequency(Path(heard_a["path"])) == pytest.approx(1000.0, abs=15.0)
    assert dominant_frequency(Path(heard_b["path"])) == pytest.approx(440.0, abs=15.0)
    assert voiced_seconds(Path(heard_a["path"])) > 1.5
    assert voiced_seconds(Path(heard_b["path"])) > 1.5
