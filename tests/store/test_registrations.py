import asyncio
import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from softswitch.calls.registrar import Binding
from softswitch.store.database import DB_FILENAME, Database, migrations
from softswitch.store.registrations import (
    COLUMNS,
    delete_binding,
    delete_bindings,
    load_bindings,
    save_binding,
)

PHONE: dict[str, Any] = {
    "aor": "1001",
    "contact": "sip:1001@127.0.0.1:5062;transport=udp",
    "transport": "udp",
    "source_host": "127.0.0.1",
    "source_port": 5062,
    "expires_at": 1000.0,
    "call_id": "reg-1@phone",
    "cseq": 1,
    "user_agent": "Phone/1.0",
    "registered_at": 400.0,
    "via_host": "127.0.0.1",
    "via_port": 5062,
}


def phone(**changes: Any) -> dict[str, Any]:
    return {**PHONE, **changes}


async def _load(path: Path, now: float) -> list[dict[str, Any]]:
    db = await Database.open(path)
    try:
        return await load_bindings(db, now)
    finally:
        await db.close()


def test_the_columns_are_the_registrars_binding_fields() -> None:
    """app.py maps a Binding to the store by these names, both ways."""
    assert tuple(field.name for field in dataclasses.fields(Binding)) == COLUMNS


def test_a_registrar_binding_round_trips_as_app_py_maps_it(tmp_path: Path) -> None:
    binding = Binding(**phone(contact="sip:uas@[::1]:5070", via_host="::1", via_port=5090))

    async def write() -> None:
        db = await Database.open(tmp_path)
        await save_binding(db, dataclasses.asdict(binding))
        await db.close()

    asyncio.run(write())
    assert [Binding(**values) for values in asyncio.run(_load(tmp_path, 0.0))] == [binding]


def test_bindings_survive_reopen_and_refresh_in_place(tmp_path: Path) -> None:
    refreshed = phone(cseq=2, expires_at=1600.0, registered_at=1000.0, via_port=5070)

    async def write() -> None:
        db = await Database.open(tmp_path)
        await save_binding(db, PHONE)
        await save_binding(db, refreshed)
        await save_binding(db, phone(aor="1002", contact="sip:1002@h"))
        await db.close()

    asyncio.run(write())
    assert asyncio.run(_load(tmp_path, 900.0)) == [
        refreshed,
        phone(aor="1002", contact="sip:1002@h"),
    ]


def test_a_binding_with_missing_or_unknown_fields_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            without_via = {k: v for k, v in PHONE.items() if k != "via_host"}
            with pytest.raises(ValueError, match=r"missing \['via_host'\]"):
                await save_binding(db, without_via)
            with pytest.raises(ValueError, match=r"unknown \['nat'\]"):
                await save_binding(db, phone(nat="auto"))
        finally:
            await db.close()

    asyncio.run(scenario())


def test_expired_bindings_are_dropped_and_deleted(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            await save_binding(db, PHONE)
            await save_binding(db, phone(contact="sip:b@h", expires_at=2000))
            assert [b["contact"] for b in await load_bindings(db, 1000.0)] == ["sip:b@h"]
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
                await save_binding(db, phone(contact=contact))
            await save_binding(db, phone(aor="1002"))
            await delete_binding(db, "1001", "sip:b@h")
            left = await load_bindings(db, 0.0)
            assert [(b["aor"], b["contact"]) for b in left] == [
                ("1001", "sip:a@h"),
                ("1001", "sip:c@h"),
                ("1002", PHONE["contact"]),
            ]
            await delete_bindings(db, "1001")
            assert [b["aor"] for b in await load_bindings(db, 0.0)] == ["1002"]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_rows_from_before_the_via_was_kept_load_without_it(tmp_path: Path) -> None:
    """A database of schema 2 (no Via columns): its binding loads with via_host '' and port 0,
    which calls/nat.py takes as 'reach it where the REGISTER came from', as schema 2 did."""
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
        for version, sql in migrations()[:2]:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
        conn.execute(
            "INSERT INTO registration (aor, contact, transport, source_host, source_port,"
            " expires_at, call_id, cseq, user_agent, registered_at)"
            " VALUES ('1001', 'sip:1001@10.0.0.5', 'udp', '198.51.100.20', 61000, 5000,"
            " 'c', 1, 'old', 100)"
        )
    [values] = asyncio.run(_load(tmp_path, 0.0))
    assert (values["via_host"], values["via_port"]) == ("", 0)
    assert Binding(**values).flow == ("udp", "198.51.100.20", 61000)
