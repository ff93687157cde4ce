"""Recorded calls end to end: the example config records every bridged call and conference.

Two pjsua2 phones (1001 plays 440 Hz, 1002 plays 1000 Hz) talk through the switch: the WAV under
`<data dir>/recordings/` holds the caller's tone left and the callee's right, as long as the call
(within 0.2 s), and its row in SQLite is closed with the parties and the voice-activity figures.
A switch killed with SIGKILL mid-call leaves a file that plays up to about a second before the
kill; the next start closes the row as cut and the CDR as well. Three phones in room 8000 are
recorded as one mono mix holding every tone.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from api_events import EventCollector, api_call, wait_api
from audio import rms, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from spectrum import level_db, peaks_hz
from two_phones import RECORD_S, connect

from softswitch.media.recorder import RECORDINGS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

CALLER_HZ, CALLEE_HZ = 440.0, 1000.0
ROOM_TONES_HZ = {"1001": 500.0, "1002": 750.0, "1003": 1100.0}


def _rows(db_path: Path, where: str = "1") -> list[dict[str, Any]]:
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute(f"SELECT * FROM recording WHERE {where}")]


def _wait_rows(
    db_path: Path, ready: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            rows = _rows(db_path)
        except sqlite3.OperationalError:  # the table is created at the first start
            rows = []
        if ready(rows):
            return rows
        time.sleep(0.05)
    raise AssertionError(f"recording rows not ready in {timeout_s} s: {rows}")


def _one_file(data_dir: Path) -> Path:
    files = sorted((data_dir / RECORDINGS_DIR).rglob("*.wav"))
    assert len(files) == 1, files
    return files[0]


def test_recorded_call_holds_the_caller_left_and_the_callee_right_for_the_whole_call(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    c = connect(switch, pjsua, tmp_path, record=True)
    c.caller.wait_event("recorded", RECORD_S + 5.0, call=c.caller_call)
    c.callee.wait_event("recorded", RECORD_S + 5.0, call=c.callee_call)
    c.caller.send("hangup", call=c.caller_call)
    c.callee.wait_bye(c.callee_call, 5.0)
    cdr = switch.closed_cdr()
    rows = _wait_rows(switch.data_dir / "softswitch.db", lambda r: bool(r) and r[0]["end_ts"])

    assert len(rows) == 1
    row = rows[0]
    assert row["state"] == "closed"
    assert row["layout"] == "stereo" and row["sample_rate"] == 8000
    assert row["call_id"] == cdr["call_id"]  # linked to the CDR
    assert "1001" in row["caller"] and row["callee"] == "1002"
    audio, rate = sf.read(switch.data_dir / RECORDINGS_DIR / row["path"], always_2d=True)
    played_s = audio.shape[0] / rate
    call_s = cdr["end_ts"] - cdr["answer_ts"]
    print(f"call {call_s:.2f} s, recording {played_s:.2f} s, row {row['duration_s']:.2f} s")
    assert audio.shape[1] == 2 and rate == 8000
    assert played_s == pytest.approx(call_s, abs=0.2)
    assert row["duration_s"] == pytest.approx(played_s, abs=0.001)
    # Past the first half second (the phones' jitter buffers filling), each side its own tone.
    talk = audio[int(0.5 * rate) : int((RECORD_S - 0.2) * rate)]
    assert peaks_hz(talk[:, 0], rate)[0] == pytest.approx(CALLER_HZ, abs=10)
    assert peaks_hz(talk[:, 1], rate)[0] == pytest.approx(CALLEE_HZ, abs=10)
    assert level_db(talk[:, 0], CALLEE_HZ, rate) < -30  # the callee is not in the caller's side
    assert level_db(talk[:, 1], CALLER_HZ, rate) < -30
    # The voice-activity figures: each side sent tone for about RECORD_S (webrtcvad may call a
    # pure tone speech or not: only ask that the figures are there and add up).
    assert row["silence_s"] is not None and row["longest_silence_s"] is not None
    assert 0 <= row["overtalk_s"] <= min(row["left_talk_s"], row["right_talk_s"])
    assert row["silence_s"] <= played_s + 0.02


def test_pause_through_the_api_puts_silence_in_the_file_and_marks_it_in_the_row(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    url = switch.ports.api_url
    wait_api(switch.ports.api)
    marks = EventCollector(url, "1001", "demo-1001", ["call_recording"])
    c = connect(switch, pjsua, tmp_path, record=True)
    db_path = switch.data_dir / "softswitch.db"
    start_ts = _wait_rows(db_path, lambda r: bool(r))[0]["start_ts"]
    (call,) = api_call(url, "1001", "demo-1001", lambda api: api.calls())
    assert call.recording == "recording"  # the console's recording mark
    time.sleep(max(0.0, start_ts + 1.0 - time.time()))  # a second of the call, then pause
    api_call(url, "1001", "demo-1001", lambda api: api.pause_recording(call.call_id))
    rows = _wait_rows(db_path, lambda r: r[0]["pauses"] != "[]")
    paused = api_call(url, "1001", "demo-1001", lambda api: api.call(call.call_id))
    assert paused.recording == "paused"
    time.sleep(0.8)  # the length of the pause is what is measured below
    api_call(url, "1001", "demo-1001", lambda api: api.resume_recording(call.call_id))
    seen = marks.wait(lambda events: len(events) >= 3, 5.0)
    marks.close()
    assert [(e.data["call_id"], e.data["state"]) for e in seen] == [
        (call.call_id, "recording"),
        (call.call_id, "paused"),
        (call.call_id, "recording"),
    ]
    time.sleep(1.0)  # a second recorded after the pause (the tones last 5 s)
    c.caller.send("hangup", call=c.caller_call)
    c.callee.wait_bye(c.callee_call, 5.0)
    rows = _wait_rows(db_path, lambda r: bool(r[0]["end_ts"]))

    pauses = json.loads(rows[0]["pauses"])
    assert len(pauses) == 1
    (start_s, end_s) = pauses[0]
    assert 0.9 <= start_s <= 1.3 and 0.7 <= end_s - start_s <= 1.2, pauses
    assert rows[0]["paused_s"] == pytest.approx(end_s - start_s, abs=0.03)
    audio, rate = sf.read(switch.data_dir / RECORDINGS_DIR / rows[0]["path"], always_2d=True)
    inside = audio[int((start_s + 0.02) * rate) : int((end_s - 0.02) * rate)]
    before = audio[int(0.5 * rate) : int((start_s - 0.05) * rate)]
    after = audio[int((end_s + 0.1) * rate) : int((end_s + 0.6) * rate)]
    assert not inside.any()  # silence, both sides
    assert rms(before[:, 0]) > 0.05 and rms(after[:, 0]) > 0.05
    assert rms(before[:, 1]) > 0.05 and rms(after[:, 1]) > 0.05


def test_switch_killed_mid_call_leaves_a_playable_file_closed_as_cut_at_the_next_start(
    tmp_path: Path, carrier_port: int, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    switch = start_switch(tmp_path, carrier_port)
    try:
        c = connect(switch, pjsua, tmp_path, record=True)
        db_path = switch.data_dir / "softswitch.db"
        row = _wait_rows(db_path, lambda r: bool(r))[0]
        path = switch.data_dir / RECORDINGS_DIR / row["path"]
        # Three whole seconds written, then into the fourth: the kill lands mid-second (a wait
        # for a moment of the call, not for the switch to do something).
        time.sleep(max(0.0, row["start_ts"] + 3.5 - time.time()))
        assert c.caller.wait_event("recorded", RECORD_S + 5.0, call=c.caller_call)
        switch.proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        switch.proc.wait(10)
    finally:
        if switch.proc.poll() is None:
            switch.proc.kill()
            switch.proc.wait(10)
    elapsed_s = killed_at - row["start_ts"]
    audio, rate = sf.read(path, always_2d=True)  # as the kill left it
    played_s = audio.shape[0] / rate
    print(f"killed {elapsed_s:.2f} s into the recording; the file plays {played_s:.2f} s")
    assert elapsed_s - 1.2 <= played_s <= elapsed_s + 0.05
    talk = audio[int(0.5 * rate) :]
    assert peaks_hz(talk[:, 0], rate)[0] == pytest.approx(CALLER_HZ, abs=10)
    assert peaks_hz(talk[:, 1], rate)[0] == pytest.approx(CALLEE_HZ, abs=10)
    assert _rows(db_path)[0]["state"] == "recording"

    again = start_switch(tmp_path, carrier_port)
    try:
        rows = _rows(db_path)
        assert [r["state"] for r in rows] == ["cut"]
        assert rows[0]["duration_s"] == pytest.approx(played_s, abs=0.001)
        cdrs = again.cdr()
        assert len(cdrs) == 1 and cdrs[0]["end_ts"] is not None
        assert cdrs[0]["call_id"] == rows[0]["call_id"]
    finally:
        assert again.stop() == 0


def test_conference_mix_is_recorded_with_every_participant(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    phones = []
    for user, hz in ROOM_TONES_HZ.items():
        phone = pjsua(user)
        phone.register(switch.sip_port, user, f"demo-{user}")
        call = phone.call(switch.uri("8000"))
        phone.send("play", call=call, path=str(write_tone(tmp_path / f"{user}.wav", hz, 30.0)))
        phone.wait_call_state(call, "CONFIRMED", 5.0)
        phone.wait_event("media_active", 5.0, call=call)
        phones.append((phone, call))
    # All three talk together for a while (the mix's file is written once a second).
    phones[0][0].send("record", call=phones[0][1], path=str(tmp_path / "a.wav"), seconds=3.0)
    phones[0][0].wait_event("recorded", 13.0, call=phones[0][1])
    for phone, call in phones:
        phone.send("hangup", call=call)
    db_path = switch.data_dir / "softswitch.db"
    rows = _wait_rows(db_path, lambda r: bool(r) and all(x["end_ts"] for x in r))
    assert [r["layout"] for r in rows] == ["mix"]
    audio, rate = sf.read(switch.data_dir / RECORDINGS_DIR / rows[0]["path"], always_2d=True)
    assert audio.shape[1] == 1
    together = audio[-int(2.5 * rate) - int(1.0 * rate) : -int(1.0 * rate), 0]
    levels = {user: level_db(together, hz, rate) for user, hz in ROOM_TONES_HZ.items()}
    print(f"mix levels (dB): {levels}")
    assert all(level > -15.0 for level in levels.values()), levels
