"""Voicemail messages' metadata: one row per message WAV (time, caller, event code, duration,
box, new/saved/deleted), written through the group commit like the CDR.

Rows go in and out as plain values by column name (`COLUMNS`): the voicemail application's
message type is the one definition and store/ may not import it, so app.py maps the two and a
test checks that the names agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from softswitch.store.database import Database

COLUMNS: Final = (
    "id",
    "box",
    "time",
    "caller",
    "event_code",
    "event",
    "duration_s",
    "path",
    "call_id",
    "state",
)


class MessageState(StrEnum):
    NEW = "new"
    SAVED = "saved"
    DELETED = "deleted"  # the file is removed; the row stays for the record


async def add_message(db: Database, values: Mapping[str, object]) -> int:
    """Queue a new message's row (state new); returns its id. `values`: COLUMNS but id, state."""
    message_id = await db.next_id("voicemail")
    names = [c for c in COLUMNS if c not in ("id", "state")]
    db.enqueue(
        f"INSERT INTO voicemail (id, state, {', '.join(names)})"
        f" VALUES (?, ?, {', '.join('?' * len(names))})",
        (message_id, MessageState.NEW.value, *(values[n] for n in names)),
    )
    return message_id


async def list_messages(db: Database, box: str) -> list[dict[str, object]]:
    """The box's messages that are not deleted: new first, then saved, oldest first in each."""
    rows = await db.fetchall(
        f"SELECT {', '.join(COLUMNS)} FROM voicemail WHERE box = ? AND state != ?"
        " ORDER BY state = 'saved', time, id",
        (box, MessageState.DELETED.value),
    )
    return [{c: r[c] for c in COLUMNS} for r in rows]


async def set_state(db: Database, message_id: int, state: MessageState) -> None:
    db.enqueue("UPDATE voicemail SET state = ? WHERE id = ?", (state.value, message_id))
