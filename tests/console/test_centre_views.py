"""The wallboard (F5) and agents (F6) views against a real API server over the real ACD engine
on the demo config (Textual's pilot, 80x24): what the engine does appears by pushed events."""

from __future__ import annotations

import asyncio
import time

from api_harness import DemoCentre, ScriptedControl, SteppedClock, demo_api_config
from console_pilot import cells, until
from textual.widgets import Label

from softswitch.api.centre_events import CentreEvents
from softswitch.api.server import ApiServer
from softswitch.console.app import ConsoleApp
from softswitch.console.session import Link, PasswordLogin


def test_a_queue_call_on_the_wallboard_and_agent_states_in_the_agents_view() -> None:
    async def main() -> None:
        clock = SteppedClock(time.time())  # the console counts waits from its own clock
        centre = DemoCentre(clock)
        server = ApiServer(demo_api_config(), ScriptedControl(), centre=centre.control)
        centre.listeners.append(
            CentreEvents(server.hub, centre.control, server.services.scope, lambda c: {}, {})
        )
        await server.start()
        try:
            url = f"http://127.0.0.1:{server.port}"
            app = ConsoleApp(url, PasswordLogin("supervisor", "demo-supervisor"))
            async with app.run_test(size=(80, 24)) as pilot:
                await until(pilot, lambda: app.session.status.link is Link.CONNECTED, "login")
                await pilot.press("f6")
                await until(pilot, lambda: len(cells(app, "#agents")) == 3, "sales' agents")
                assert [r[1] for r in cells(app, "#agents")] == ["logged out"] * 3
                e, t0 = centre.engine, clock.now
                centre.apply(e.login("1001", t0))
                await until(pilot, lambda: cells(app, "#agents")[0][1] == "ready", "one event")
                centre.apply(e.login("1002", t0))
                centre.apply(e.pause("1002", "lunch", t0))
                await until(
                    pilot, lambda: cells(app, "#agents")[1][1:3] == ["not ready", "lunch"], "paused"
                )

                await pilot.press("f5")
                await until(pilot, lambda: len(cells(app, "#wallboard")) == 2, "both queues")
                centre.apply(e.enqueue("7", "600", t0, caller_number="+4420"))
                await until(pilot, lambda: cells(app, "#wallboard")[0][1] == "1", "one waiting")
                centre.apply(e.agent_answered("7", "1001", t0 + 6))
                # The waiting count and the figures come in two events (caller left, stats).
                await until(
                    pilot,
                    lambda: [cells(app, "#wallboard")[0][i] for i in (1, 7, 8)] == ["0", "1", "1"],
                    "answered",
                )
                row = cells(app, "#wallboard")[0]
                assert row[0] == "600"
                assert (row[3], row[4], row[7], row[8]) == ("100%", "6s", "1", "1")
                assert "1 call" in row[10] and "1 nr:lunch" in row[10]
                await pilot.press("i")
                label = app.query_one("#wb-interval", Label)
                assert "last 30 min" in str(label.render())
                assert cells(app, "#wallboard")[0][8] == "1"  # the same call in 30 min
                await pilot.press("f6")
                await until(pilot, lambda: cells(app, "#agents")[0][1] == "on call", "on call")
                assert cells(app, "#agents")[0][4] == "7"
        finally:
            await server.stop()

    asyncio.run(main())
