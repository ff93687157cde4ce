"""`no_answer = "voicemail"` end to end: 1002's pjsua2 phone rings and is never answered; after
the ring timeout the caller (a pjsua2 phone as 1004) is answered by 1002's voicemail, leaves a
complaint, and the row and the WAV are in box 1002. Without the setting the caller gets 480."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audio import dominant_frequency, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import start_switch
from test_voicemail import TONE_HZ, box_files, messages, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

RING_S = 2.0


@pytest.mark.parametrize("setting", ["voicemail", "hangup"])
def test_an_extension_that_rings_out_sends_the_caller_to_its_box(
    setting: str,
    tmp_path: Path,
    carrier_port: int,
    pjsua: Callable[[str], PjsuaPeer],
) -> None:
    sw = start_switch(
        tmp_path,
        carrier_port,
        {"calls": {"ring_timeout_s": RING_S}},
        extensions={"1002": {"no_answer": setting}},
    )
    try:
        callee, caller = pjsua("callee-1002"), pjsua("caller-1004")
        callee.register(sw.sip_port, "1002", "demo-1002")
        caller.register(sw.sip_port, "1004", "demo-1004")
        call = caller.call(sw.uri("1002"))
        callee.wait_incoming(5.0)  # rings, and is never answered
        if setting == "hangup":
            ended = caller.wait_call_state(call, "DISCONNECTED", 10.0)
            assert ended["code"] == 480
            assert not box_files(sw, "1002")
            return
        caller.wait_call_state(call, "CONFIRMED", RING_S + 5.0)  # the box answers
        caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", TONE_HZ, 30.0)))
        greeting = tmp_path / "greeting.wav"
        caller.send("record", call=call, path=str(greeting), seconds=1.5)
        caller.wait_event("recorded", 10.0, call=call)
        caller.send("dtmf", call=call, digits="3", method="rfc4733")
        wait_until(lambda: box_files(sw, "1002"), 15.0, "the message file")
        caller.send("record", call=call, path=str(tmp_path / "talk.wav"), seconds=2.0)
        caller.wait_event("recorded", 10.0, call=call)
        caller.send("dtmf", call=call, digits="#", method="rfc4733")
        caller.wait_bye(call, 10.0)
        (row,) = wait_until(lambda: messages(sw), 5.0, "the voicemail row")
        assert (row["box"], row["caller"], row["event"]) == ("1002", "1004", "complaint")
        assert row["duration_s"] >= 1.5
        wav = sw.data_dir / "voicemail" / row["path"]
        assert abs(dominant_frequency(wav, skip_s=0.2) - TONE_HZ) < 15
        cdr = sw.closed_cdrs(1, 5.0, "callee = ?", ("1002",))[0]
        assert cdr["answer_ts"] is not None  # answered by the box, not a failed call
    finally:
        sw.stop()
