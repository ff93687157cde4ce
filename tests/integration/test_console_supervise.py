"""A supervisor action sent from the console takes effect on the switch (Textual's pilot, real
switch, pjsua2 phones): `l` on agent 1001's row rings the supervisor's phone 1006; answered,
the listen leg exists (a third leg of the agent's call, an active supervision) and the
supervisor hears both parties while neither hears it; `:release CALL` ends the call."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from api_events import wait_api
from console_pilot import until
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from supervised_call import AGENT, SUPERVISOR, agent_call, check, phone, play, record
from textual.widgets import DataTable

from softswitch.api.client import ApiClient, CallDetails, SupervisionDetails
from softswitch.console.app import ConsoleApp
from softswitch.console.session import Link, PasswordLogin

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


async def switch_view(url: str) -> tuple[list[SupervisionDetails], list[CallDetails]]:
    """What the switch itself says, asked over the API with a token of its own."""
    async with ApiClient(url) as api:
        await api.login("admin", "demo-admin")
        return await api.supervisions(), await api.calls()


def test_listen_from_the_agents_view_rings_the_supervisor_and_attaches_it(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    wait_api(switch.ports.api)
    url = switch.ports.api_url
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)
    app = ConsoleApp(url, PasswordLogin("supervisor", "demo-supervisor"))

    async def scenario() -> None:
        async with app.run_test(size=(100, 30)) as pilot:
            await until(
                pilot, lambda: app.session.status.link is Link.CONNECTED, "login", timeout_s=10
            )
            await pilot.press("f6")
            await until(
                pilot,
                lambda: app.current == "agents" and app.views["agents"].drawable,
                "the agents view",
            )
            table = app.query_one("#agents", DataTable)
            await until(pilot, lambda: table.row_count > 0, "agent rows", timeout_s=5)
            table.move_cursor(row=table.get_row_index(AGENT))
            await pilot.press("l")
            await until(
                pilot, lambda: "listen on agent 1001" in app.message, app.message, timeout_s=5
            )
            incoming = await asyncio.to_thread(supervisor.wait_incoming, 5.0)
            supervisor.send("answer", call=incoming["call"])
            deadline = time.monotonic() + 5.0
            while True:
                supervisions, calls = await switch_view(url)
                if supervisions and supervisions[0].state == "active":
                    break
                assert time.monotonic() < deadline, f"no active supervision: {supervisions}"
                await pilot.pause(0.1)
            (supervision,) = supervisions
            assert (supervision.agent, supervision.supervisor, supervision.mode) == (
                AGENT,
                SUPERVISOR,
                "listen",
            )
            (call,) = [c for c in calls if c.call_id == supervision.call_id]
            assert len(call.legs) == 3, call  # caller, agent, and the listen leg
            sup_call = incoming["call"]
            await asyncio.to_thread(supervisor.wait_event, "media_active", 5.0, call=sup_call)
            play(supervisor, sup_call, tmp_path, SUPERVISOR)
            parties[SUPERVISOR] = (supervisor, sup_call)
            check(await asyncio.to_thread(record, parties, tmp_path, "console"), "listen")
            await pilot.press("colon", *f"release {call.call_id}", "enter")
            await until(pilot, lambda: "released" in app.message, app.message, timeout_s=5)
            for peer, peer_call in parties.values():
                await asyncio.to_thread(peer.wait_bye, peer_call, 5.0)

    asyncio.run(scenario())
