"""The live view of `softswitch run`: registrations and active calls, refreshed twice a second."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from rich.console import Group
from rich.live import Live
from rich.table import Table

from softswitch.api.snapshot import SwitchSnapshot

REFRESH_S = 0.5


def render(snapshot: SwitchSnapshot) -> Group:
    registrations = Table(title=f"Registrations ({len(snapshot.registrations)})", expand=True)
    for column in ("Extension", "Contact", "From", "User agent", "Expires in"):
        registrations.add_column(column)
    for reg in snapshot.registrations:
        registrations.add_row(
            reg.extension, reg.contact, reg.source, reg.user_agent, f"{reg.expires_in_s} s"
        )
    calls = Table(title=f"Active calls ({len(snapshot.calls)})", expand=True)
    for column in ("#", "Caller", "Callee", "Direction", "State", "Time"):
        calls.add_column(column)
    for call in snapshot.calls:
        minutes, seconds = divmod(call.duration_s, 60)
        calls.add_row(
            str(call.call_id),
            call.caller,
            call.callee,
            call.direction,
            call.state,
            f"{minutes}:{seconds:02d}",
        )
    totals = ", ".join(f"{k} {v}" for k, v in sorted(snapshot.calls_by_disposition.items()))
    summary = Table.grid()
    summary.add_row(f"Calls so far: {totals or 'none'}    (Ctrl-C stops the switch)")
    return Group(registrations, calls, summary)


async def run_live_view(snapshot: Callable[[], SwitchSnapshot], stop: asyncio.Event) -> None:
    with Live(render(snapshot()), refresh_per_second=4, screen=False) as live:
        while not stop.is_set():
            live.update(render(snapshot()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFRESH_S)
