import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from softswitch.call_record import CallDirection, Disposition, Side
from softswitch.store.cdr import (
    CdrRow,
    close_cdr,
    close_dangling,
    list_cdrs,
    mark_answered,
    open_cdr,
)
from softswitch.store.database import Database


async def start_call(db: Database, call_id: str, start_ts: float) -> int:
    return await open_cdr(
        db,
        call_id=call_id,
        caller="1001",
        callee="0049301234",
        direction=CallDirection.OUTBOUND,
        trunk="carrier",
        start_ts=start_ts,
    )


def test_answered_and_unanswered_calls(tmp_path: Path) -> None:
    async def scenario() -> list[CdrRow]:
        db = await Database.open(tmp_path)
        try:
            answered = await start_call(db, "a@x", 100.0)
            busy = await start_call(db, "b@x", 101.0)
            await mark_answered(db, answered, 103.5)
            await close_cdr(
                db,
                busy,
                end_ts=102.0,
                disposition=Disposition.BUSY,
                hangup_cause=486,
                hangup_side=Side.CALLEE,
            )
            await close_cdr(
                db,
                answered,
                end_ts=163.5,
                disposition=Disposition.ANSWERED,
                hangup_cause="BYE",
                hangup_side=Side.CALLER,
            )
            return await list_cdrs(db, 10)
        finally:
            await db.close()

    busy, answered = asyncio.run(scenario())
    assert answered == CdrRow(
        id=1,
        call_id="a@x",
        caller="1001",
        callee="0049301234",
        direction=CallDirection.OUTBOUND,
        trunk="carrier",
        start_ts=100.0,
        answer_ts=103.5,
        end_ts=163.5,
        duration_s=63.5,
        billable_s=60.0,
        disposition=Disposition.ANSWERED,
        hangup_cause="BYE",
        hangup_side=Side.CALLER,
    )
    assert (busy.id, busy.answer_ts, busy.duration_s, busy.billable_s) == (2, None, 1.0, 0)
    assert (busy.disposition, busy.hangup_cause) == (Disposition.BUSY, "486")


CRASH_MID_CALL = """
import asyncio, os, sys
from pathlib import Path
from softswitch.call_record import CallDirection
from softswitch.store.cdr import mark_answered, open_cdr
from softswitch.store.database import Database

async def main():
    db = await Database.open(Path(sys.argv[1]))
    cdr_id = await open_cdr(db, call_id="up@x", caller="1001", callee="1002",
                            direction=CallDirection.INTERNAL, trunk=None, start_ts=100.0)
    await mark_answered(db, cdr_id, 101.0)
    await open_cdr(db, call_id="ringing@x", caller="1001", callee="1003",
                   direction=CallDirection.INTERNAL, trunk=None, start_ts=450.0)
    await db.flush()  # what the write-behind does within milliseconds
    os._exit(0)  # the process dies mid-call: no close_cdr, no db.close()

asyncio.run(main())
"""


def test_row_is_written_at_start_and_closed_after_a_crash(tmp_path: Path) -> None:
    async def restart() -> tuple[int, list[CdrRow]]:
        db = await Database.open(tmp_path)
        try:
            closed = await close_dangling(db, 500.0, "switch crashed")
            new_id = await start_call(db, "next@x", 600.0)
            assert new_id == 3
            return closed, await list_cdrs(db, 10)
        finally:
            await db.close()

    subprocess.run([sys.executable, "-c", CRASH_MID_CALL, str(tmp_path)], check=True, timeout=60)
    closed, rows = asyncio.run(restart())
    assert closed == 2
    assert [row.id for row in rows] == [3, 2, 1]
    # The call in progress was answered: it stays so and bills up to the crash (500).
    talking, ringing = rows[2], rows[1]
    assert (talking.end_ts, talking.duration_s, talking.billable_s) == (500.0, 400.0, 399.0)
    assert talking.disposition is Disposition.ANSWERED
    # The one still ringing never was: failed, billed nothing.
    assert (ringing.end_ts, ringing.duration_s, ringing.billable_s) == (500.0, 50.0, 0)
    assert ringing.disposition is Disposition.FAILED
    for dangling in (talking, ringing):
        assert dangling.hangup_side is Side.SWITCH
        assert dangling.hangup_cause == "switch crashed"
    assert rows[0].end_ts is None and rows[0].disposition is None


def test_close_is_applied_once_and_bad_values_are_refused(tmp_path: Path) -> None:
    async def scenario() -> CdrRow:
        db = await Database.open(tmp_path)
        try:
            cdr_id = await start_call(db, "x@x", 0.0)
            for end_ts in (10.0, 20.0):
                await close_cdr(
                    db,
                    cdr_id,
                    end_ts=end_ts,
                    disposition=Disposition.CANCELLED,
                    hangup_cause=487,
                    hangup_side=Side.CALLER,
                )
            with pytest.raises(ValueError):
                await close_cdr(
                    db,
                    cdr_id,
                    end_ts=1.0,
                    disposition="hung",  # type: ignore[arg-type]
                    hangup_cause=0,
                    hangup_side=Side.CALLER,
                )
            assert await close_dangling(db, 99.0, "restart") == 0
            (row,) = await list_cdrs(db, 1)
            return row
        finally:
            await db.close()

    row = asyncio.run(scenario())
    assert (row.end_ts, row.disposition) == (10.0, Disposition.CANCELLED)
