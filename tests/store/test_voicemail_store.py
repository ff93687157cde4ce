"""Voicemail rows: the columns are the application's `Message` fields (the two layers may not
import each other), new messages come before saved ones, deleted ones are left out, and the
rows survive closing and reopening the database."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from softswitch.centre.voicemail import Message
from softswitch.store.database import Database
from softswitch.store.voicemail import (
    COLUMNS,
    MessageState,
    add_message,
    list_messages,
    set_state,
)


def test_columns_are_the_message_fields() -> None:
    assert tuple(f.name for f in dataclasses.fields(Message)) == COLUMNS


def _values(box: str, time: float, code: str) -> dict[str, object]:
    message = Message(0, box, time, "1004", code, "complaint", 2.5, f"{box}/m.wav", "c@x", "new")
    return dataclasses.asdict(message)


def test_new_first_deleted_left_out_and_kept_across_a_restart(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        db = await Database.open(tmp_path)
        try:
            old = await add_message(db, _values("1005", 10.0, "3"))
            newer = await add_message(db, _values("1005", 20.0, "1"))
            gone = await add_message(db, _values("1005", 30.0, "2"))
            await add_message(db, _values("600", 15.0, "3"))
            await set_state(db, old, MessageState.SAVED)
            await set_state(db, gone, MessageState.DELETED)
            before = await list_messages(db, "1005")
        finally:
            await db.close()
        db = await Database.open(tmp_path)
        try:
            after = await list_messages(db, "1005")
        finally:
            await db.close()
        assert [r["id"] for r in before] == [newer, old]
        return before, after

    before, after = asyncio.run(scenario())
    assert before == after
    assert [(r["state"], r["event_code"], r["caller"]) for r in after] == [
        ("new", "1", "1004"),
        ("saved", "3", "1004"),
    ]
    assert after[0]["duration_s"] == 2.5 and after[0]["box"] == "1005"
