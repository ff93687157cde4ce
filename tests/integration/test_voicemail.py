"""Voicemail end to end with real phones: a pjsua2 caller dials *98 + box 1005, hears the
greeting, presses 3 (complaint, RFC 4733), talks a 440 Hz tone after the beep and ends with #;
the row in SQLite has event code 3, the caller's number and the duration sent, and the WAV holds
the tone (FFT). The box's owner dials *97 from 1005, hears the message (the tone again) and
deletes it with 7: the row is marked deleted and the file is gone. A caller who hangs up while
recording keeps the message. The IVR's voicemail node (9 on the demo menu) reaches box 600."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from audio import dominant_frequency, read_mono, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TONE_HZ = 440.0


def messages(switch: Switch) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{switch.db_path}?mode=ro", uri=True, timeout=2.0)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM voicemail ORDER BY id")]
    finally:
        conn.close()


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):
            found = condition()
            if found:
                return found
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def box_files(switch: Switch, box: str) -> list[Path]:
    return sorted((switch.data_dir / "voicemail" / box).glob("*.wav"))


def seconds_of_tone(path: Path, freq_hz: float, window_s: float = 0.25) -> float:
    """Seconds of 0.25 s windows, loud enough, whose strongest frequency is `freq_hz`."""
    samples, rate = read_mono(path)
    size = int(window_s * rate)
    found = 0
    for start in range(0, samples.size - size, size):
        window = samples[start : start + size]
        if np.sqrt(np.mean(window**2)) < 0.05:
            continue
        spectrum = np.abs(np.fft.rfft(window * np.hanning(size)))
        peak = np.fft.rfftfreq(size, 1.0 / rate)[int(np.argmax(spectrum))]
        found += abs(peak - freq_hz) < 15
    return found * window_s


def leave_message(
    switch: Switch, caller: PjsuaPeer, tmp_path: Path, uri: str, box: str, key: str
) -> tuple[int, float]:
    """Dial, wait for the greeting, press `key`, talk the tone after the beep; returns the call
    and the moment recording began (the message file appears)."""
    caller.register(switch.sip_port, "1004", "demo-1004")
    call = caller.call(switch.uri(uri))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", TONE_HZ, 30.0)))
    greeting = tmp_path / "greeting.wav"
    caller.send("record", call=call, path=str(greeting), seconds=1.5)
    caller.wait_event("recorded", 10.0, call=call)
    caller.send("dtmf", call=call, digits=key, method="rfc4733")
    before = set(box_files(switch, box))
    wait_until(lambda: set(box_files(switch, box)) - before, 15.0, "the message file")
    return call, time.monotonic()


def test_a_complaint_is_left_heard_on_star_97_and_deleted_with_7(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller = pjsua("caller")
    call, began = leave_message(switch, caller, tmp_path, "*981005", "1005", "3")
    talk = tmp_path / "talk.wav"  # 3 s of talking, timed by the peer's own recorder
    caller.send("record", call=call, path=str(talk), seconds=3.0)
    caller.wait_event("recorded", 10.0, call=call)
    caller.send("dtmf", call=call, digits="#", method="rfc4733")
    sent_s = time.monotonic() - began
    caller.wait_bye(call, 10.0)  # thank you, goodbye, BYE from the switch

    rows = wait_until(lambda: messages(switch), 5.0, "the voicemail row")
    assert len(rows) == 1
    row = rows[0]
    assert (row["box"], row["caller"], row["event_code"], row["event"], row["state"]) == (
        "1005",
        "1004",
        "3",
        "complaint",
        "new",
    )
    print(f"voicemail: {row['duration_s']:.3f} s kept for {sent_s:.3f} s sent")
    assert abs(row["duration_s"] - sent_s) < 0.5, (row["duration_s"], sent_s)
    assert abs(row["time"] - time.time()) < 60
    wav = switch.data_dir / "voicemail" / row["path"]
    info = sf.info(str(wav))
    assert (info.samplerate, info.channels) == (8000, 1)
    assert abs(info.duration - row["duration_s"]) < 0.05
    assert abs(dominant_frequency(wav, skip_s=0.2) - TONE_HZ) < 15
    assert seconds_of_tone(wav, TONE_HZ) >= sent_s - 0.75

    owner = pjsua("owner")
    owner.register(switch.sip_port, "1005", "demo-1005")
    listen = owner.call(switch.uri("*97"))
    owner.wait_call_state(listen, "CONFIRMED", 5.0)
    owner.wait_event("media_active", 5.0, call=listen)
    heard = tmp_path / "owner-heard.wav"
    # "You have one new messages. Message one, a complaint." then the message, then the menu.
    owner.send("record", call=listen, path=str(heard), seconds=10.0)
    owner.wait_event("recorded", 20.0, call=listen)
    assert seconds_of_tone(heard, TONE_HZ) >= sent_s - 1.0
    owner.send("dtmf", call=listen, digits="7", method="rfc4733")
    wait_until(lambda: messages(switch)[0]["state"] == "deleted", 10.0, "the row marked deleted")
    assert not wav.exists()
    owner.wait_bye(listen, 15.0)  # message deleted, no more messages, goodbye


def test_hanging_up_while_recording_keeps_the_message(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller = pjsua("caller")
    call, began = leave_message(switch, caller, tmp_path, "*981002", "1002", "1")
    talk = tmp_path / "talk.wav"
    caller.send("record", call=call, path=str(talk), seconds=2.0)
    caller.wait_event("recorded", 10.0, call=call)
    caller.send("hangup", call=call)
    sent_s = time.monotonic() - began
    rows = wait_until(lambda: messages(switch), 5.0, "the voicemail row")
    assert (rows[0]["box"], rows[0]["event"], rows[0]["caller"]) == ("1002", "inquiry", "1004")
    assert abs(rows[0]["duration_s"] - sent_s) < 0.5
    wav = switch.data_dir / "voicemail" / rows[0]["path"]
    assert abs(dominant_frequency(wav, skip_s=0.2) - TONE_HZ) < 15


FLOWS = Path(__file__).parents[1] / "data" / "ivr_voicemail"  # 9: voicemail, at any hour


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Any:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["ivr"]["flows_dir"] = str(FLOWS)

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        sw.stop()


@pytest.mark.parametrize(
    ("dialled", "menu_key", "box"),
    [("500", "9", "600"), ("601", None, "601")],
    ids=["ivr-voicemail-node", "queue-join-empty-exit"],
)
def test_the_ivr_and_a_queue_exit_reach_their_box(
    centre: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    tmp_path: Path,
    dialled: str,
    menu_key: str | None,
    box: str,
) -> None:
    """500 then 9 is the demo menu's voicemail node (box 600); 601 with no agent logged in
    leaves by join-empty to `voicemail:601`."""
    caller = pjsua("caller")
    caller.register(centre.sip_port, "1004", "demo-1004")
    call = caller.call(centre.uri(dialled))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", TONE_HZ, 30.0)))
    caller.wait_event("media_active", 5.0, call=call)
    if menu_key is not None:
        caller.send("dtmf", call=call, digits=menu_key, method="rfc4733")
    greeting = tmp_path / "greeting.wav"
    caller.send("record", call=call, path=str(greeting), seconds=2.0)
    caller.wait_event("recorded", 10.0, call=call)
    caller.send("dtmf", call=call, digits="2", method="rfc4733")
    wait_until(lambda: box_files(centre, box), 15.0, "the message file")
    caller.send("record", call=call, path=str(tmp_path / "talk.wav"), seconds=1.5)
    caller.wait_event("recorded", 10.0, call=call)
    caller.send("dtmf", call=call, digits="#", method="rfc4733")
    caller.wait_bye(call, 10.0)
    rows = wait_until(lambda: messages(centre), 5.0, "the voicemail row")
    assert (rows[0]["box"], rows[0]["event_code"], rows[0]["event"]) == (box, "2", "suggestion")
    assert rows[0]["duration_s"] >= 1.0
