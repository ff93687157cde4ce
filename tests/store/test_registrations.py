import asyncio
import dataclasses
from pathlib import Path

from softswitch.store.database import Database
from softswitch.store.registrations import (
    Binding,
    delete_binding,
    delete_bindings,
    load_bindings,
    save_binding,
)

PHONE = Binding(
    aor="1001",
    contact="<sip:1001@127.0.0.1:5062;transport=udp>",
    transport="udp",
    source_host="127.0.0.1",
    source_port=5062,
    expires_at=1000.0,
    call_id="reg-1@phone",
    cseq=1,
    user_agent="Phone/1.0",
    registered_at=400.0,
)


def test_bindings_survive_reopen_and_refresh_in_place(tmp_path: Path) -> None:
    async def write() -> None:
        db = await Database.open(tmp_path)
        await save_binding(db, PHONE)
        await save_binding(
            db, dataclasses.replace(PHONE, cseq=2, expires_at=1600.0, registered_at=1000.0)
        )
        await save_binding(db, dataclasses.replace(PHONE, aor="1002", contact="sip:1002@h"))
        await db.close()

    async def read(now: float) -> list[Binding]:
        db = await Database.open(tmp_path)
        try:
            return await load_bindings(db, now)
        finally:
            await db.close()

    asyncio.run(write())
    assert asyncio.run(read(900.0)) == [
        dataclasses.replace(PHONE, cseq=2, expires_at=1600.0, registered_at=1000.0),
        dataclasses.replace(PHONE, aor="1002", contact="sip:1002@h"),
    ]


def test_expired_bindings_are_dropped_and_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            await save_binding(db, PHONE)
            await save_binding(db, dataclasses.replace(PHONE, contact="sip:b@h", expires_at=2000))
            assert [b.contact for b in await load_bindings(db, 1000.0)] == ["sip:b@h"]
            count = await db.fetchall("SELECT COUNT(*) FROM registration")
            assert count[0][0] == 1
        finally:
            await db.close()

    asyncio.run(scenario())


def test_delete_one_and_all(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            for contact in ("sip:a@h", "sip:b@h", "sip:c@h"):
                await save_binding(db, dataclasses.replace(PHONE, contact=contact))
            await save_binding(db, dataclasses.replace(PHONE, aor="1002"))
            await delete_binding(db, "1001", "sip:b@h")
            left = await load_bindings(db, 0.0)
            assert [(b.aor, b.contact) for b in left] == [
                ("1001", "sip:a@h"),
                ("1001", "sip:c@h"),
                ("1002", PHONE.contact),
            ]
            await delete_bindings(db, "1001")
            assert [b.aor for b in await load_bindings(db, 0.0)] == ["1002"]
        finally:
            await db.close()

    asyncio.run(scenario())
