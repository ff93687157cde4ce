import asyncio
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from softswitch.store import database
from softswitch.store.database import DB_FILENAME, Database, StoreError, migrations


def test_open_creates_schema_in_wal_mode(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            assert (await db.fetchall("PRAGMA journal_mode"))[0][0] == "wal"
            assert (await db.fetchall("PRAGMA synchronous"))[0][0] == 1  # NORMAL
            tables = {row[0] for row in await db.fetchall("SELECT name FROM sqlite_master")}
            assert {"schema_version", "registration", "cdr"} <= tables
        finally:
            await db.close()

    asyncio.run(scenario())
    assert (tmp_path / DB_FILENAME).is_file()


def test_migrations_apply_once_across_reopen(tmp_path: Path) -> None:
    async def versions() -> list[int]:
        db = await Database.open(tmp_path)
        try:
            db.enqueue(
                "INSERT INTO cdr (id, call_id, caller, callee, direction, start_ts)"
                " VALUES (?, 'c', 'a', 'b', 'internal', 0)",
                (await db.next_id("cdr"),),
            )
            rows = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
            return [row[0] for row in rows]
        finally:
            await db.close()

    expected = [version for version, _ in migrations()]
    assert expected[0] == 1
    assert asyncio.run(versions()) == expected
    assert asyncio.run(versions()) == expected
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        assert conn.execute("SELECT id FROM cdr ORDER BY id").fetchall() == [(1,), (2,)]


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    async def create() -> None:
        await (await Database.open(tmp_path)).close()

    asyncio.run(create())
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, 0)")
    with pytest.raises(StoreError, match="schema version 999, newer than this softswitch"):
        asyncio.run(Database.open(tmp_path))


def open_error(path: Path) -> str:
    with pytest.raises(StoreError) as info:
        asyncio.run(Database.open(path))
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_data_dir(tmp_path: Path) -> None:
    assert open_error(tmp_path / "nope") == f"data dir {tmp_path / 'nope'} does not exist"


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert open_error(tmp_path / "file") == f"data dir {tmp_path / 'file'} is not a directory"


def test_database_path_that_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).mkdir()
    message = open_error(tmp_path)
    assert message.startswith(f"cannot open database {tmp_path / DB_FILENAME}: ")


def test_not_a_database(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"this is not sqlite" * 100)
    assert "file is not a database" in open_error(tmp_path)


def test_migrations_missing_from_the_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a bundle built without its data files does: one line, no traceback."""
    package = tmp_path / "package"
    package.mkdir()

    class Files:
        @staticmethod
        def files(_: str) -> Path:
            return package

    monkeypatch.setattr(database, "resources", Files)
    data = tmp_path / "data"
    data.mkdir()
    assert open_error(data).startswith("schema migrations missing from this installation: ")


def test_an_unexpected_failure_while_opening_closes_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else aiosqlite's non-daemon thread keeps the process alive after the error."""

    async def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(database, "_migrate", broken)
    before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(Database.open(tmp_path))
    started = [t for t in threading.enumerate() if t not in before]
    for thread in started:
        thread.join(timeout=2.0)  # a closed connection's thread ends; an open one never does
    assert [t for t in started if t.is_alive()] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_unwritable_data_dir(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        assert open_error(tmp_path) == f"data dir {tmp_path} is not writable"
    finally:
        tmp_path.chmod(0o700)


def test_queued_writes_commit_in_order_and_close_flushes(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        for i in range(500):
            db.enqueue(
                "INSERT INTO cdr (id, call_id, caller, callee, direction, start_ts)"
                " VALUES (?, ?, 'a', 'b', 'internal', 0)",
                (i + 1, f"call-{i}"),
            )
            db.enqueue("UPDATE cdr SET end_ts = ? WHERE id = ?", (float(i), i + 1))
        await db.close()
        with pytest.raises(StoreError, match="closed"):
            db.enqueue("DELETE FROM cdr")

    asyncio.run(scenario())
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        rows = conn.execute("SELECT id, end_ts FROM cdr ORDER BY id").fetchall()
    assert rows == [(i + 1, float(i)) for i in range(500)]


def test_failed_group_is_reported_to_flush(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = await Database.open(tmp_path)
        try:
            db.enqueue("INSERT INTO cdr (id) VALUES (1)")  # NOT NULL columns missing
            with pytest.raises(StoreError, match="NOT NULL constraint failed"):
                await db.flush()
            db.enqueue(
                "INSERT INTO cdr (id, call_id, caller, callee, direction, start_ts)"
                " VALUES (2, 'c', 'a', 'b', 'internal', 0)"
            )
            assert [row[0] for row in await db.fetchall("SELECT id FROM cdr")] == [2]
        finally:
            await db.close()

    asyncio.run(scenario())


def test_a_migration_that_lands_after_a_higher_one_is_still_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Numbers are handed to work landing in parallel: a database that has 1..6 and 11 gets
    7 when a later softswitch ships it, and each is applied once."""
    shipped = migrations()
    assert [v for v, _ in shipped][:6] == [1, 2, 3, 4, 5, 6]
    base = [(v, sql) for v, sql in shipped if v <= 6]
    late = (7, "CREATE TABLE landed_late (x INTEGER);")
    high = (11, "CREATE TABLE landed_first (x INTEGER);")

    def open_with(found: list[tuple[int, str]]) -> list[int]:
        monkeypatch.setattr(database, "migrations", lambda: found)

        async def versions() -> list[int]:
            db = await Database.open(tmp_path)
            try:
                rows = await db.fetchall("SELECT version FROM schema_version ORDER BY version")
                return [row[0] for row in rows]
            finally:
                await db.close()

        return asyncio.run(versions())

    assert open_with([*base, high]) == [1, 2, 3, 4, 5, 6, 11]
    assert open_with([*base, late, high]) == [1, 2, 3, 4, 5, 6, 7, 11]
    assert open_with([*base, late, high]) == [1, 2, 3, 4, 5, 6, 7, 11]  # nothing twice
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert {"landed_late", "landed_first"} <= tables


def test_shipped_migrations_are_numbered_uniquely_from_one() -> None:
    versions = [v for v, _ in migrations()]
    assert versions[0] == 1 and len(set(versions)) == len(versions)
    assert versions == sorted(versions) and 11 in versions
