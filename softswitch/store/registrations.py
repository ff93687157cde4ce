"""Registrar bindings kept across restarts (RFC 3261 §10.3): one row per (AOR, Contact)."""

from __future__ import annotations

from dataclasses import astuple, dataclass

from softswitch.store.database import Database


@dataclass(frozen=True)
class Binding:
    aor: str  # the extension number
    contact: str  # the Contact URI as the phone sent it
    transport: str
    source_host: str
    source_port: int
    expires_at: float  # epoch seconds
    call_id: str
    cseq: int
    user_agent: str
    registered_at: float = 0.0  # epoch seconds of the last REGISTER (0 for rows before it)


_COLUMNS = (
    "aor, contact, transport, source_host, source_port, expires_at, call_id, cseq, user_agent,"
    " registered_at"
)


async def save_binding(db: Database, binding: Binding) -> None:
    """Insert or refresh the binding of `binding.contact` for `binding.aor`."""
    db.enqueue(
        f"INSERT INTO registration ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (aor, contact) DO UPDATE SET transport = excluded.transport,"
        " source_host = excluded.source_host, source_port = excluded.source_port,"
        " expires_at = excluded.expires_at, call_id = excluded.call_id, cseq = excluded.cseq,"
        " user_agent = excluded.user_agent, registered_at = excluded.registered_at",
        astuple(binding),
    )


async def delete_binding(db: Database, aor: str, contact: str) -> None:
    db.enqueue("DELETE FROM registration WHERE aor = ? AND contact = ?", (aor, contact))


async def delete_bindings(db: Database, aor: str) -> None:
    """Remove every binding of `aor` (REGISTER with Contact: * and Expires: 0)."""
    db.enqueue("DELETE FROM registration WHERE aor = ?", (aor,))


async def load_bindings(db: Database, now: float) -> list[Binding]:
    """Bindings still valid at `now`, for the registrar at startup; expired ones are deleted."""
    db.enqueue("DELETE FROM registration WHERE expires_at <= ?", (now,))
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM registration ORDER BY aor, contact")
    return [Binding(*row) for row in rows]
