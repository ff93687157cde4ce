"""Call detail records: one row per call attempt, opened when the call starts.

The row is queued at the start of the call, so a crash mid-call still leaves it; `close_dangling`
closes such rows at the next startup. Writes go through the database's group commit, so a call
never waits for the disk.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.store.database import Database


@dataclass(frozen=True)
class CdrRow:
    id: int
    call_id: str  # Call-ID of the inbound leg
    caller: str
    callee: str
    direction: CallDirection
    trunk: str | None
    start_ts: float
    answer_ts: float | None
    end_ts: float | None
    duration_s: float | None  # end - start
    billable_s: float | None  # end - answer, 0 when never answered
    disposition: Disposition | None  # None while the call is up
    hangup_cause: str | None  # SIP status code or a short text
    hangup_side: Side | None


async def open_cdr(
    db: Database,
    *,
    call_id: str,
    caller: str,
    callee: str,
    direction: CallDirection,
    trunk: str | None,
    start_ts: float,
) -> int:
    """Start the record of a call attempt and return its id for the later updates."""
    direction = CallDirection(direction)
    cdr_id = await db.next_id("cdr")
    db.enqueue(
        "INSERT INTO cdr (id, call_id, caller, callee, direction, trunk, start_ts)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (cdr_id, call_id, caller, callee, direction.value, trunk, start_ts),
    )
    return cdr_id


async def mark_answered(db: Database, cdr_id: int, answer_ts: float) -> None:
    """Record the first answer; billing starts here."""
    db.enqueue(
        "UPDATE cdr SET answer_ts = ? WHERE id = ? AND answer_ts IS NULL", (answer_ts, cdr_id)
    )


async def close_cdr(
    db: Database,
    cdr_id: int,
    *,
    end_ts: float,
    disposition: Disposition,
    hangup_cause: str | int,
    hangup_side: Side,
    variables: Mapping[str, str] | None = None,
    callee: str | None = None,
) -> None:
    """End the record: duration = end - start, billable = end - answer (0 if unanswered);
    `variables` are what an IVR flow learnt (a JSON object in the row); `callee` is the final
    party when a transfer moved the call on."""
    db.enqueue(
        "UPDATE cdr SET end_ts = ?1, duration_s = MAX(?1 - start_ts, 0),"
        " billable_s = CASE WHEN answer_ts IS NULL THEN 0 ELSE MAX(?1 - answer_ts, 0) END,"
        " disposition = ?2, hangup_cause = ?3, hangup_side = ?4, variables = ?6,"
        " callee = COALESCE(?7, callee)"
        " WHERE id = ?5 AND end_ts IS NULL",
        (
            end_ts,
            Disposition(disposition).value,
            str(hangup_cause),
            Side(hangup_side).value,
            cdr_id,
            json.dumps(dict(variables or {}), sort_keys=True),
            callee,
        ),
    )


async def close_dangling(db: Database, end_ts: float, cause: str) -> int:
    """Close the rows a crash left open, ended by the switch at `end_ts` (when it was last known
    alive); returns how many. An answered call stays answered and bills up to then; one never
    answered failed. No row ends before it started.
    """
    return await db.execute(
        "UPDATE cdr SET end_ts = MAX(?1, start_ts), duration_s = MAX(?1 - start_ts, 0),"
        " billable_s = CASE WHEN answer_ts IS NULL THEN 0 ELSE MAX(?1 - answer_ts, 0) END,"
        " disposition = CASE WHEN answer_ts IS NULL THEN ?2 ELSE ?3 END,"
        " hangup_cause = ?4, hangup_side = ?5 WHERE end_ts IS NULL",
        (end_ts, Disposition.FAILED.value, Disposition.ANSWERED.value, cause, Side.SWITCH.value),
    )


async def list_cdrs(db: Database, limit: int) -> list[CdrRow]:
    """The `limit` most recent records, newest first."""
    rows = await db.fetchall(
        "SELECT id, call_id, caller, callee, direction, trunk, start_ts, answer_ts, end_ts,"
        " duration_s, billable_s, disposition, hangup_cause, hangup_side"
        " FROM cdr ORDER BY id DESC LIMIT ?",
        (limit,),
    )
    return [
        CdrRow(
            id=row["id"],
            call_id=row["call_id"],
            caller=row["caller"],
            callee=row["callee"],
            direction=CallDirection(row["direction"]),
            trunk=row["trunk"],
            start_ts=row["start_ts"],
            answer_ts=row["answer_ts"],
            end_ts=row["end_ts"],
            duration_s=row["duration_s"],
            billable_s=row["billable_s"],
            disposition=Disposition(row["disposition"]) if row["disposition"] else None,
            hangup_cause=row["hangup_cause"],
            hangup_side=Side(row["hangup_side"]) if row["hangup_side"] else None,
        )
        for row in rows
    ]
