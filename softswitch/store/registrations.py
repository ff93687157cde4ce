"""Registrar bindings kept across restarts (RFC 3261 §10.3): one row per (AOR, Contact).

A binding goes in and comes out as plain values, one per column: the registrar's `Binding` is the
one definition of what a binding holds, and store/ may not import calls/ (nor calls/ store/), so
app.py maps the two by these names (and a test checks that they are the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from softswitch.store.database import Database

COLUMNS: Final = (
    "aor",
    "contact",
    "transport",
    "source_host",
    "source_port",
    "expires_at",
    "call_id",
    "cseq",
    "user_agent",
    "registered_at",
    "via_host",
    "via_port",
)
_KEY: Final = ("aor", "contact")
_SAVE: Final = (
    f"INSERT INTO registration ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    " ON CONFLICT (aor, contact) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c not in _KEY)
)


async def save_binding(db: Database, values: Mapping[str, Any]) -> None:
    """Insert or refresh the binding of `values["contact"]` for `values["aor"]`.

    `values` has exactly the keys of COLUMNS; anything else is a bug in the caller (ValueError).
    """
    if set(values) != set(COLUMNS):
        missing, extra = set(COLUMNS) - set(values), set(values) - set(COLUMNS)
        raise ValueError(f"binding columns: missing {sorted(missing)}, unknown {sorted(extra)}")
    db.enqueue(_SAVE, tuple(values[c] for c in COLUMNS))


async def delete_binding(db: Database, aor: str, contact: str) -> None:
    db.enqueue("DELETE FROM registration WHERE aor = ? AND contact = ?", (aor, contact))


async def delete_bindings(db: Database, aor: str) -> None:
    """Remove every binding of `aor` (REGISTER with Contact: * and Expires: 0)."""
    db.enqueue("DELETE FROM registration WHERE aor = ?", (aor,))


async def load_bindings(db: Database, now: float) -> list[dict[str, Any]]:
    """Bindings still valid at `now` (column -> value), for the registrar at startup; expired
    ones are deleted."""
    db.enqueue("DELETE FROM registration WHERE expires_at <= ?", (now,))
    rows = await db.fetchall(f"SELECT {', '.join(COLUMNS)} FROM registration ORDER BY aor, contact")
    return [dict(zip(COLUMNS, row, strict=True)) for row in rows]
