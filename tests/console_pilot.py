"""What the console tests share when they drive the app with Textual's pilot: waiting on a
condition without a fixed sleep, and reading a table as a person reads it."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import DataTable

from softswitch.console.app import ConsoleApp


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout_s: float = 5.0
) -> None:
    """Let the app run until `condition` holds; fail with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await pilot.pause(0.02)


def cells(app: ConsoleApp, table: str) -> list[list[str]]:
    """The table's rows as text; none while its view is still being mounted (the state can
    hold the snapshot a moment before the view that shows it exists)."""
    try:
        t = app.query_one(table, DataTable)
    except NoMatches:
        return []
    return [[c.plain for c in t.get_row_at(i)] for i in range(t.row_count)]
