"""The operator console against the real switch, driven by Textual's pilot, with pjsua2
phones: a call shows the moment its event arrives and goes when it ends; a hang-up typed in
the console reaches the phones as BYE and closes the CDR; the console rides out a restart of
the switch and says so meanwhile."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from api_events import wait_api
from console_pilot import until
from peers.pjsua import PjsuaPeer
from running_switch import HANGUP_SWITCH, START_TIMEOUT_S, Switch, options_status
from textual.widgets import DataTable, Static
from two_phones import connect

from softswitch.console.app import ConsoleApp
from softswitch.console.session import Link, PasswordLogin
from softswitch.console.state import Pane

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
SCREENSHOTS = os.environ.get("SOFTSWITCH_SCREENSHOT_DIR")  # scripts/console_screenshot.py


def rows(app: ConsoleApp, table_id: str) -> list[list[str]]:
    table = app.query_one(table_id, DataTable)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


def status_line(app: ConsoleApp) -> str:
    return str(app.query_one("#status", Static).render())


def test_a_call_shows_on_its_event_and_a_hang_up_from_the_console_ends_it(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    wait_api(switch.ports.api)
    app = ConsoleApp(switch.ports.api_url, PasswordLogin("admin", "demo-admin"))
    # What the calls table held right after each change the session reported.
    after_change: list[tuple[frozenset[int], list[str]]] = []

    def watch(panes: set[Pane], draw: Callable[[set[Pane]], None] = app._changed) -> None:
        draw(panes)
        if "calls" in app.views and app.views["calls"].is_mounted:
            keys = [r[0] for r in rows(app, "#calls-table")]
            after_change.append((frozenset(app.state.calls), keys))

    app.session._on_change = watch

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(
                pilot, lambda: app.session.status.link is Link.CONNECTED, "login", timeout_s=10
            )
            assert "admin" in status_line(app) and "connected" in status_line(app)
            call = await asyncio.to_thread(connect, switch, pjsua, tmp_path)
            await until(
                pilot, lambda: len(rows(app, "#calls-table")) == 1, "the call row", timeout_s=5
            )
            call_id = next(iter(app.state.calls))
            first = next(keys for calls, keys in after_change if call_id in calls)
            assert first == [str(call_id)], "the row was not there right after call_created"
            await until(
                pilot,
                lambda: rows(app, "#calls-table")[0][4] == "answered",
                "answered",
                timeout_s=5,
            )
            # caller, callee, trunk (none: a call between phones), state
            assert rows(app, "#calls-table")[0][1:5] == ["1001", "1002", "", "answered"]
            if SCREENSHOTS:
                app.save_screenshot("console-calls.svg", SCREENSHOTS)
            await pilot.press("f3")
            await until(pilot, lambda: len(rows(app, "#phones")) == 2, "both phones", timeout_s=5)
            assert [r[0] for r in rows(app, "#phones")] == ["1001", "1002"]
            assert {r[0] for r in rows(app, "#trunks")} == {"gateway", "carrier"}
            if SCREENSHOTS:
                app.save_screenshot("console-registrations.svg", SCREENSHOTS)
            await pilot.press("f2", "ctrl+k")
            assert app.query_one("#line").has_class("open")
            await pilot.press("enter")
            await until(
                pilot, lambda: app.message == f"call {call_id} hung up", "hung up", timeout_s=5
            )
            await asyncio.to_thread(call.caller.wait_bye, call.caller_call, 5.0)
            await asyncio.to_thread(call.callee.wait_bye, call.callee_call, 5.0)
            await until(
                pilot, lambda: rows(app, "#calls-table") == [], "the row to go", timeout_s=5
            )
            await pilot.press("colon", *"hangup 999", "enter")
            await until(pilot, lambda: "refused" in app.message, "a refusal", timeout_s=5)
            assert "999" in app.message

    asyncio.run(scenario())
    row = switch.closed_cdr()
    assert (row["caller"], row["callee"], row["hangup_side"]) == ("1001", "1002", HANGUP_SWITCH)
    assert row["hangup_cause"] == "hung up through the API"


def _restart(sw: Switch) -> subprocess.Popen[bytes]:
    """The same switch again: same config, ports and database."""
    with open(sw.log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(sw.proc.args[0]), "run", "--config", str(sw.config_path), "--headless"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=sw.config_path.parent,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while options_status(sw.sip_port, timeout_s=0.1) != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the switch did not come back:\n{sw.log_tail()}")
    wait_api(sw.ports.api)
    return proc


def test_the_console_reconnects_after_the_switch_restarts(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    wait_api(switch.ports.api)
    app = ConsoleApp(switch.ports.api_url, PasswordLogin("supervisor", "demo-supervisor"))
    phone = pjsua("1002")
    restarted: list[subprocess.Popen[bytes]] = []

    async def scenario() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(
                pilot, lambda: app.session.status.link is Link.CONNECTED, "login", timeout_s=10
            )
            assert "log" in app.views and "registrations" in app.views
            await asyncio.to_thread(phone.register, switch.sip_port, "1002", "demo-1002")
            await pilot.press("f3")
            await until(
                pilot, lambda: len(rows(app, "#phones")) == 1, "the registration", timeout_s=5
            )

            assert switch.stop() == 0
            await until(
                pilot, lambda: app.session.status.link is Link.RETRYING, "retrying", timeout_s=10
            )
            assert "retrying in" in status_line(app)

            restarted.append(await asyncio.to_thread(_restart, switch))
            await until(
                pilot, lambda: app.session.connections == 2, "a second connection", timeout_s=20
            )
            assert "connected" in status_line(app) and "retrying" not in status_line(app)
            # The registration came back from the database and the new snapshot shows it.
            await until(
                pilot, lambda: len(rows(app, "#phones")) == 1, "the registration", timeout_s=5
            )
            assert rows(app, "#phones")[0][0] == "1002"
            await pilot.press("f4")
            assert "log" in app.views

    try:
        asyncio.run(scenario())
    finally:
        for proc in restarted:
            proc.terminate()
            assert proc.wait(10) == 0
