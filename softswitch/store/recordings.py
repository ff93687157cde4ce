"""Call recordings' metadata: one row per recording file, linked to its CDR by call id.

The row is queued when the recording starts (state `recording`), so a crash leaves it;
`close_cut` closes such rows at the next start as `cut`, with the duration the file really holds
(read by a function the caller hands in: store/ reads no audio). Pause marks are written as they
happen, so a cut recording keeps them too.

Voice-activity figures go in and out by column name (`TALK_COLUMNS`): media/'s `TalkFigures` is
their one definition and store/ may not import media/, so the caller passes
`dataclasses.asdict(figures)` and a test checks that the names agree.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from softswitch.call_record import ChannelLayout
from softswitch.store.database import Database

TALK_COLUMNS: Final = (
    "left_talk_s",
    "right_talk_s",
    "overtalk_s",
    "silence_s",
    "longest_silence_s",
    "paused_s",
)
_COLUMNS: Final = (
    "id, call_id, path, caller, callee, agent, layout, sample_rate, start_ts, end_ts, duration_s,"
    " state, pauses, " + ", ".join(TALK_COLUMNS)
)

log = logging.getLogger(__name__)

Pauses = Sequence[tuple[float, float]]  # (start_s, end_s) into the file


class RecordingState(StrEnum):
    RECORDING = "recording"  # the file is being written
    CLOSED = "closed"  # the recording ended with its call (or was stopped)
    CUT = "cut"  # the file ends early: the switch crashed, or a write failed


@dataclass(frozen=True)
class RecordingRow:
    id: int
    call_id: str  # as cdr.call_id
    path: str  # relative to <data dir>/recordings/
    caller: str
    callee: str
    agent: str | None
    layout: ChannelLayout
    sample_rate: int
    start_ts: float
    end_ts: float | None
    duration_s: float | None
    state: RecordingState
    pauses: tuple[tuple[float, float], ...]
    talk: dict[str, float | None]  # TALK_COLUMNS -> value; all None until closed


async def open_recording(
    db: Database,
    *,
    call_id: str,
    path: str,
    caller: str,
    callee: str,
    layout: ChannelLayout,
    sample_rate: int,
    start_ts: float,
    agent: str | None = None,
) -> int:
    """Record that a recording started; returns its id for the later updates."""
    recording_id = await db.next_id("recording")
    db.enqueue(
        "INSERT INTO recording (id, call_id, path, caller, callee, agent, layout, sample_rate,"
        " start_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            recording_id,
            call_id,
            path,
            caller,
            callee,
            agent,
            ChannelLayout(layout).value,
            sample_rate,
            start_ts,
        ),
    )
    return recording_id


async def set_agent(db: Database, recording_id: int, agent: str) -> None:
    """The agent who took the call, once it is known."""
    db.enqueue("UPDATE recording SET agent = ? WHERE id = ?", (agent, recording_id))


async def mark_pauses(db: Database, recording_id: int, pauses: Pauses) -> None:
    """Every pause so far (an open one ending now): kept even if the recording is cut."""
    db.enqueue(
        "UPDATE recording SET pauses = ? WHERE id = ? AND state = 'recording'",
        (_pauses_json(pauses), recording_id),
    )


async def close_recording(
    db: Database,
    recording_id: int,
    *,
    end_ts: float,
    duration_s: float,
    pauses: Pauses,
    talk: Mapping[str, float | None],
    cut: bool = False,
) -> None:
    """The recording ended: its length, pauses and voice-activity figures (`TALK_COLUMNS`)."""
    if set(talk) != set(TALK_COLUMNS):
        missing, extra = set(TALK_COLUMNS) - set(talk), set(talk) - set(TALK_COLUMNS)
        raise ValueError(f"talk figures: missing {sorted(missing)}, unknown {sorted(extra)}")
    state = RecordingState.CUT if cut else RecordingState.CLOSED
    db.enqueue(
        "UPDATE recording SET end_ts = ?, duration_s = ?, state = ?, pauses = ?, "
        + ", ".join(f"{column} = ?" for column in TALK_COLUMNS)
        + " WHERE id = ? AND state = 'recording'",
        (
            end_ts,
            duration_s,
            state.value,
            _pauses_json(pauses),
            *(talk[column] for column in TALK_COLUMNS),
            recording_id,
        ),
    )


async def close_cut(db: Database, duration_of: Callable[[str], float | None]) -> int:
    """Close the rows a crash left `recording` as `cut`; returns how many.

    `duration_of(path)` gives the seconds of audio in the file (None: nothing playable, 0 s); the
    audio ended then, so that is the row's end too. Voice-activity figures stay unknown (NULL).
    """
    rows = await db.fetchall("SELECT id, path, start_ts FROM recording WHERE state = 'recording'")
    for row in rows:
        duration = duration_of(row["path"])
        if duration is None:
            log.warning("recording %s: no playable audio left by the crash", row["path"])
            duration = 0.0
        db.enqueue(
            "UPDATE recording SET state = 'cut', duration_s = ?, end_ts = ? WHERE id = ?",
            (duration, row["start_ts"] + duration, row["id"]),
        )
    await db.flush()
    return len(rows)


async def list_recordings(db: Database, limit: int) -> list[RecordingRow]:
    """The `limit` most recent recordings, newest first."""
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM recording ORDER BY id DESC LIMIT ?", (limit,))
    return [_row(row) for row in rows]


async def recordings_of_call(db: Database, call_id: str) -> list[RecordingRow]:
    """Every recording of the call whose CDR has this `call_id`, oldest first."""
    rows = await db.fetchall(
        f"SELECT {_COLUMNS} FROM recording WHERE call_id = ? ORDER BY id", (call_id,)
    )
    return [_row(row) for row in rows]


def _pauses_json(pauses: Pauses) -> str:
    return json.dumps([[float(start), float(end)] for start, end in pauses])


def _row(row: sqlite3.Row) -> RecordingRow:
    return RecordingRow(
        id=row["id"],
        call_id=row["call_id"],
        path=row["path"],
        caller=row["caller"],
        callee=row["callee"],
        agent=row["agent"],
        layout=ChannelLayout(row["layout"]),
        sample_rate=row["sample_rate"],
        start_ts=row["start_ts"],
        end_ts=row["end_ts"],
        duration_s=row["duration_s"],
        state=RecordingState(row["state"]),
        pauses=tuple((float(start), float(end)) for start, end in json.loads(row["pauses"])),
        talk={column: row[column] for column in TALK_COLUMNS},
    )
