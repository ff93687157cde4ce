"""The queue log: one row per ACD event (Asterisk's event names), written through the group
commit like the CDR, so that reports and live monitors are computed from it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from softswitch.store.database import Database


@dataclass(frozen=True)
class QueueLogRow:
    time: float
    event: str
    queue: str
    call: str
    agent: str
    wait_s: float
    talk_s: float
    data: list[str]


async def write_event(
    db: Database,
    *,
    time: float,
    event: str,
    queue: str,
    call: str,
    agent: str,
    wait_s: float,
    talk_s: float,
    data: list[str],
) -> None:
    db.enqueue(
        "INSERT INTO queue_log (time, event, queue, call, agent, wait_s, talk_s, data)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (time, event, queue, call, agent, wait_s, talk_s, json.dumps(data)),
    )


async def list_events(db: Database, limit: int = 1000) -> list[QueueLogRow]:
    """The first `limit` rows in the order they happened."""
    rows = await db.fetchall(
        "SELECT time, event, queue, call, agent, wait_s, talk_s, data FROM queue_log"
        " ORDER BY id LIMIT ?",
        (limit,),
    )
    return [
        QueueLogRow(
            r["time"],
            r["event"],
            r["queue"],
            r["call"],
            r["agent"],
            r["wait_s"],
            r["talk_s"],
            json.loads(r["data"]),
        )
        for r in rows
    ]
