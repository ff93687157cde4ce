"""The recording repository: rows as the call layer will write them from the recorder's summary,
linked to the CDR by call id, and the start-up closing of rows a crash left open."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from softswitch.call_record import CallDirection, ChannelLayout
from softswitch.media.recorder import RECORDINGS_DIR, Recorder, recover
from softswitch.media.vad import TalkFigures
from softswitch.store import cdr
from softswitch.store.database import Database
from softswitch.store.recordings import (
    TALK_COLUMNS,
    RecordingRow,
    RecordingState,
    close_cut,
    close_recording,
    list_recordings,
    mark_pauses,
    open_recording,
    recordings_of_call,
    set_agent,
)

NO_TALK = dict.fromkeys(TALK_COLUMNS)


def test_the_talk_columns_are_the_recorders_figures() -> None:
    # store/ may not import media/: the call layer passes dataclasses.asdict(TalkFigures).
    assert tuple(field.name for field in dataclasses.fields(TalkFigures)) == TALK_COLUMNS


async def opened(db: Database, call_id: str, path: str, start_ts: float = 100.0) -> int:
    return await open_recording(
        db,
        call_id=call_id,
        path=path,
        caller="1001",
        callee="1002",
        layout=ChannelLayout.STEREO,
        sample_rate=8000,
        start_ts=start_ts,
    )


def test_a_recorded_call_from_start_to_close_linked_to_its_cdr(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path / RECORDINGS_DIR, 8000)

    async def scenario() -> tuple[list[RecordingRow], list[RecordingRow], list[sqlite3.Row]]:
        db = await Database.open(tmp_path)
        try:
            await cdr.open_cdr(
                db,
                call_id="call-1@x",
                caller="1001",
                callee="1002",
                direction=CallDirection.INTERNAL,
                trunk=None,
                start_ts=100.0,
            )
            rec = recorder.start(
                call_id="call-1@x",
                caller="1001",
                callee="1002",
                layout=ChannelLayout.STEREO,
                start_ts=101.0,
            )
            rid = await opened(db, "call-1@x", rec.path, 101.0)
            await opened(db, "call-2@x", "2026/01/01/other.wav")
            await set_agent(db, rid, "1005")
            slots = np.array([rec.slot])
            wave = np.rint(8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000))
            frames = np.broadcast_to(wave.astype(np.int16)[:, None], (1, 160, 2))  # 1 kHz: talk
            for tick in range(100):
                if tick == 25:
                    recorder.pause(rec)
                    marks = recorder.pause_marks(rec)
                    await mark_pauses(db, rid, [(m.start_s, m.end_s) for m in marks])
                if tick == 50:
                    recorder.resume(rec)
                recorder.feed(slots, frames)
                recorder.flush_due()
            summary = recorder.stop(rec)
            await close_recording(
                db,
                rid,
                end_ts=103.0,
                duration_s=summary.duration_s,
                pauses=[(m.start_s, m.end_s) for m in summary.pauses],
                talk=dataclasses.asdict(summary.talk),
                cut=summary.cut,
            )
            linked = await db.fetchall(
                "SELECT cdr.id, recording.path FROM cdr JOIN recording USING (call_id)"
            )
            return await recordings_of_call(db, "call-1@x"), await list_recordings(db, 10), linked
        finally:
            await db.close()

    (row,), newest_first, linked = asyncio.run(scenario())
    assert [r.call_id for r in newest_first] == ["call-2@x", "call-1@x"]
    assert newest_first[0].state is RecordingState.RECORDING and newest_first[0].talk == NO_TALK
    assert len(linked) == 1 and linked[0]["path"] == row.path
    assert (tmp_path / RECORDINGS_DIR / row.path).is_file()
    assert row.agent == "1005"
    assert row.state is RecordingState.CLOSED
    assert row.layout is ChannelLayout.STEREO and row.sample_rate == 8000
    assert row.start_ts == 101.0 and row.end_ts == 103.0 and row.duration_s == 2.0
    assert row.pauses == ((0.5, 1.0),)
    assert row.talk["paused_s"] == 0.5 and row.talk["overtalk_s"] == 1.5
    assert row.talk["longest_silence_s"] == 0.0


def test_a_pause_marked_during_the_call_survives_a_crash(tmp_path: Path) -> None:
    async def scenario() -> RecordingRow:
        db = await Database.open(tmp_path)
        try:
            rid = await opened(db, "c@x", "a.wav")
            await mark_pauses(db, rid, [(1.0, 4.5)])
            await close_cut(db, lambda path: 7.25)
            return (await list_recordings(db, 1))[0]
        finally:
            await db.close()

    row = asyncio.run(scenario())
    assert row.state is RecordingState.CUT and row.pauses == ((1.0, 4.5),)
    assert row.duration_s == 7.25 and row.end_ts == 107.25


def test_close_cut_reads_each_files_duration_and_leaves_closed_rows(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, dict[str, RecordingRow], list[str]]:
        db = await Database.open(tmp_path)
        asked: list[str] = []

        def duration_of(path: str) -> float | None:
            asked.append(path)
            return {"a.wav": 12.5, "b.wav": None}[path]

        try:
            done = await opened(db, "done@x", "done.wav")
            await close_recording(
                db, done, end_ts=110.0, duration_s=10.0, pauses=[], talk=NO_TALK, cut=False
            )
            await opened(db, "a@x", "a.wav")
            await opened(db, "b@x", "b.wav")
            first = await close_cut(db, duration_of)
            second = await close_cut(db, duration_of)  # nothing left open
            rows = {r.path: r for r in await list_recordings(db, 10)}
            return first, second, rows, asked
        finally:
            await db.close()

    first, second, rows, asked = asyncio.run(scenario())
    assert (first, second) == (2, 0) and sorted(asked) == ["a.wav", "b.wav"]
    assert rows["a.wav"].state is RecordingState.CUT and rows["a.wav"].duration_s == 12.5
    assert rows["b.wav"].state is RecordingState.CUT and rows["b.wav"].duration_s == 0.0
    assert rows["done.wav"].state is RecordingState.CLOSED and rows["done.wav"].duration_s == 10.0


def test_close_cut_with_the_recorders_recovery(tmp_path: Path) -> None:
    # What app.py does at start-up, on a file whose header lags the data it holds.
    root = tmp_path / RECORDINGS_DIR
    recorder = Recorder(root, 8000)
    rec = recorder.start(
        call_id="k@x", caller="1001", callee="1002", layout=ChannelLayout.STEREO, start_ts=100.0
    )
    frames = np.full((1, 160, 2), 1000, dtype=np.int16)
    for _ in range(80):  # 1.6 s fed, 1.02 s written by now
        recorder.feed(np.array([rec.slot]), frames)
        recorder.flush_due()
    with open(root / rec.path, "ab") as raw:  # as if a flush had written, then the kill came
        raw.write(np.ones((800, 2), dtype=np.int16).tobytes())

    async def scenario() -> RecordingRow:
        db = await Database.open(tmp_path)
        try:
            await opened(db, "k@x", rec.path)
            assert await close_cut(db, lambda path: recover(root / path)) == 1
            return (await list_recordings(db, 1))[0]
        finally:
            await db.close()

    row = asyncio.run(scenario())
    assert row.state is RecordingState.CUT
    assert row.duration_s == pytest.approx(1.02 + 0.1)


def test_wrong_talk_figures_are_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            rid = await opened(db, "c@x", "a.wav")
            with pytest.raises(ValueError, match="missing"):
                await close_recording(
                    db, rid, end_ts=1.0, duration_s=1.0, pauses=[], talk={"silence_s": 1.0}
                )
        finally:
            await db.close()

    asyncio.run(scenario())


def test_the_schema_refuses_what_the_recorder_never_writes(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            with pytest.raises(Exception, match="CHECK"):
                await db.execute(
                    "INSERT INTO recording (call_id, path, caller, callee, layout, sample_rate,"
                    " start_ts) VALUES ('c', 'p', 'a', 'b', 'quad', 8000, 1)"
                )
            await opened(db, "c@x", "same.wav")
            await db.flush()
            with pytest.raises(Exception, match="UNIQUE"):
                await db.execute(
                    "INSERT INTO recording (call_id, path, caller, callee, layout, sample_rate,"
                    " start_ts) VALUES ('d', 'same.wav', 'a', 'b', 'mix', 8000, 1)"
                )
        finally:
            await db.close()

    asyncio.run(scenario())
