"""The console's screen against a real API server with scripted calls (Textual's pilot, 80x24):
text from the network is shown as it is, never as markup; `/` filters; a role sees the views
its token may see; a switch that is not there is said so on screen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from api_harness import ScriptedControl, demo_api_config
from console_pilot import cells, until
from textual.widgets import RichLog, Static

from softswitch.api.events import RegistrationEvents
from softswitch.api.server import ApiServer
from softswitch.calls.registrar import Binding
from softswitch.console.app import ConsoleApp
from softswitch.console.session import Link, PasswordLogin


def run(scenario: Callable[[ApiServer, ScriptedControl], object]) -> None:
    async def main() -> None:
        control = ScriptedControl()
        server = ApiServer(demo_api_config(), control)
        await server.start()
        try:
            await scenario(server, control)  # type: ignore[misc]
        finally:
            await server.stop()

    asyncio.run(main())


def test_markup_from_the_network_is_shown_as_text_and_the_filter_narrows_rows() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl) -> None:
        control.add(1, "1001", "1002")
        control.add(2, "1003", "[red]1004")
        app = ConsoleApp(f"http://127.0.0.1:{server.port}", PasswordLogin("admin", "demo-admin"))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: len(app.state.calls) == 2, "the snapshot")
            await until(pilot, lambda: len(cells(app, "#calls-table")) == 2, "two rows")
            assert cells(app, "#calls-table")[1][2] == "[red]1004"
            binding = Binding(
                "1002",
                "sip:1002@h",
                "udp",
                "127.0.0.1",
                5070,
                time.time() + 60,
                "c",
                1,
                "[bold]Evil[/bold \x1b]",
            )
            RegistrationEvents(server.hub).saved(binding)
            await pilot.press("f3")
            await until(pilot, lambda: len(cells(app, "#phones")) == 1, "the phone")
            assert cells(app, "#phones")[0][2] == "[bold]Evil[/bold \ufffd]"
            await pilot.press("f2", "slash", *"1003")
            await until(pilot, lambda: len(cells(app, "#calls-table")) == 1, "filtered")
            assert cells(app, "#calls-table")[0][0] == "2"
            await pilot.press("escape")
            await until(pilot, lambda: len(cells(app, "#calls-table")) == 2, "filter cleared")
            await pilot.press("down", "h")
            await until(pilot, lambda: control.commands == [("hold", 2, 1)], "held")
            assert cells(app, "#calls-table")[1][5] == "1"
            import logging

            logging.getLogger("softswitch.security").warning("login failed for %r", "[i]x")
            await pilot.press("f4")
            await until(pilot, lambda: len(app.state.logs) == 1, "the log record")
            log = app.query_one("#log", RichLog)
            assert any("login failed for '[i]x'" in line.text for line in log.lines)

    run(scenario)


def test_an_agent_sees_its_calls_only_and_no_watch_views() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl) -> None:
        control.add(1, "1001", "1002")
        control.add(2, "1004", "1005")
        app = ConsoleApp(f"http://127.0.0.1:{server.port}", PasswordLogin("1001", "demo-1001"))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.session.status.link is Link.CONNECTED, "login")
            await until(pilot, lambda: len(cells(app, "#calls-table")) == 1, "one row")
            assert cells(app, "#calls-table")[0][1:3] == ["1001", "1002"]
            await pilot.press("f3")
            # The views exist (the switch offers their routes) but the role reads nothing.
            assert app.state.registrations == {} and app.state.logs.maxlen

    run(scenario)


def test_an_absent_switch_is_said_on_screen_and_a_bad_password_too() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl) -> None:
        app = ConsoleApp("http://127.0.0.1:9", PasswordLogin("admin", "demo-admin"))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.session.status.link is Link.RETRYING, "retrying")
            status = str(app.query_one("#status", Static).render())
            assert "retrying in 0.5 s: switch unreachable" in status
        wrong = ConsoleApp(f"http://127.0.0.1:{server.port}", PasswordLogin("admin", "nope"))
        async with wrong.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: wrong.session.status.link is Link.REFUSED, "refused")

    run(scenario)
