"""The console's call-centre actions against a real API server over the real ACD engine
(Textual's pilot, 80x24): a key on a row or a `:` command changes the agent or the caller on
the switch (asserted on the engine), and the screen shows what the pushed events say."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace

from api_harness import DemoCentre, ScriptedControl, SteppedClock, demo_acd, demo_api_config
from console_pilot import cells, until
from textual.widgets import DataTable, Label, Static

from softswitch.acd.agent import AgentState
from softswitch.api.centre_events import CentreEvents
from softswitch.api.events import CallEvents
from softswitch.api.server import ApiServer
from softswitch.console.app import ConsoleApp
from softswitch.console.session import Link, PasswordLogin

POP = "https://crm.example.com/search?number={caller}&customer={var.customer_number}"


def fits_80(app: ConsoleApp, table: str) -> bool:
    """Every column of the table is on an 80-column screen (no sideways scrolling)."""
    return app.query_one(table, DataTable).virtual_size.width <= 80


Scenario = Callable[[ApiServer, ScriptedControl, DemoCentre], Awaitable[None]]


def run(scenario: Scenario, clock: Callable[[], float] | None = None, acd: object = None) -> None:
    async def main() -> None:
        control = ScriptedControl()
        centre = DemoCentre(clock or SteppedClock(time.time()), acd)  # type: ignore[arg-type]
        server = ApiServer(demo_api_config(), control, centre=centre.control)
        variables = {"7": {"customer_number": "C-17", "language": "en"}}
        centre.listeners.append(
            CentreEvents(
                server.hub,
                centre.control,
                server.services.scope,
                lambda call: variables.get(call, {}),
                {"600": POP},
            )
        )
        await server.start()
        try:
            await scenario(server, control, centre)
        finally:
            if centre.figures is not None:
                centre.figures.stop()
            await server.stop()

    asyncio.run(main())


def console(server: ApiServer, user: str) -> ConsoleApp:
    return ConsoleApp(f"http://127.0.0.1:{server.port}", PasswordLogin(user, f"demo-{user}"))


def test_a_supervisor_pauses_readies_and_logs_out_an_agent_from_the_agents_view() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl, centre: DemoCentre) -> None:
        e, now = centre.engine, centre.clock()
        centre.apply(e.login("1001", now))
        app = console(server, "supervisor")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.session.status.link is Link.CONNECTED, "login")
            await pilot.press("f6")
            await until(pilot, lambda: len(cells(app, "#agents")) == 3, "sales' agents")
            assert cells(app, "#agents")[0][:2] == ["1001", "ready"]
            assert fits_80(app, "#agents")
            await pilot.press("p", *"lunch", "enter")  # fills ":pause 1001 ", the reason typed
            await until(pilot, lambda: cells(app, "#agents")[0][1:3] == ["not ready", "lunch"], "p")
            agent = e.agent("1001")
            assert (agent.state, agent.reason) == (AgentState.NOT_READY, "lunch")
            await pilot.press("r")
            await until(pilot, lambda: cells(app, "#agents")[0][1] == "ready", "r")
            assert e.agent("1001").state is AgentState.READY
            await pilot.press("o", "enter")  # fills ":logout 1001", Enter confirms
            await until(pilot, lambda: cells(app, "#agents")[0][1] == "logged out", "o")
            assert e.agent("1001").state is AgentState.LOGGED_OUT
            await pilot.press("down", "r")  # ready on a logged-out agent logs it in
            await until(pilot, lambda: cells(app, "#agents")[1][1] == "ready", "1002 in")
            assert e.agent("1002").state is AgentState.READY
            await app.run_command(":pause 1002 training course")
            await until(pilot, lambda: e.agent("1002").reason == "training course", ":pause")
            await app.run_command(":ready 1002")
            await until(pilot, lambda: e.agent("1002").state is AgentState.READY, ":ready")
            await app.run_command(":logout 1004")  # support's agent: not this supervisor's
            assert app.message.startswith(":logout refused: this agent is not"), app.message
            assert e.agent("1004").state is AgentState.LOGGED_OUT

    run(scenario)


def test_waiting_callers_are_moved_and_put_at_the_head_from_the_callers_view() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl, centre: DemoCentre) -> None:
        e, t0 = centre.engine, centre.clock()
        centre.apply(e.login("1004", t0))  # 601 takes callers while someone is logged in
        centre.apply(e.pause("1004", "meeting", t0))
        centre.apply(e.enqueue("7", "600", t0, caller_number="+4420"))
        centre.apply(e.enqueue("8", "600", t0 + 1, caller_number="+4421"))
        app = console(server, "admin")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.session.status.link is Link.CONNECTED, "login")
            await pilot.press("f5")
            await until(pilot, lambda: len(cells(app, "#wallboard")) == 2, "both queues")
            await pilot.press("c")  # the selected queue's callers
            await until(pilot, lambda: app.current == "callers", "F7")
            await until(pilot, lambda: len(cells(app, "#queue-callers")) == 2, "two callers")
            assert [r[:3] for r in cells(app, "#queue-callers")] == [
                ["600", "7", "+4420"],
                ["600", "8", "+4421"],
            ]
            assert app.needle == "600" and fits_80(app, "#queue-callers")
            await pilot.press("down", "t")  # 8 to the head
            await until(pilot, lambda: cells(app, "#queue-callers")[0][1] == "8", "at the head")
            assert [w.call for w in centre.control.waiting_callers("600")] == ["8", "7"]
            assert cells(app, "#queue-callers")[0][4] == "head"
            await pilot.press("down", "m", *"601", "enter")  # 7 (now second) to queue 601
            await until(pilot, lambda: cells(app, "#queue-callers")[0][1] == "8", "moved on")
            await until(pilot, lambda: len(cells(app, "#queue-callers")) == 1, "7 gone from 600")
            assert [w.call for w in centre.control.waiting_callers("601")] == ["7"]
            await app.run_command(":filter")
            await until(pilot, lambda: len(cells(app, "#queue-callers")) == 2, "7 in 601")
            assert sorted(r[:2] for r in cells(app, "#queue-callers")) == [
                ["600", "8"],
                ["601", "7"],
            ]
            await app.run_command(":head 99")
            assert app.message == "call 99 is not waiting in a queue"
            await app.run_command(":move 8 699")
            assert "refused" in app.message  # no queue 699: the switch says so

    run(scenario)


def test_the_agent_console_pops_the_offered_call_and_acts_on_the_agents_own_call() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl, centre: DemoCentre) -> None:
        e, t0 = centre.engine, centre.clock()
        centre.apply(e.login("1001", t0))
        centre.apply(e.pause("1001", "lunch", t0))
        app = console(server, "1001")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.current == "agent", "the agent's own screen first")
            tabs = str(app.query_one("#tabs", Static).render())
            assert "F8" in tabs and len(tabs) <= 80  # every view's key on 80 columns
            state = app.query_one("#me-state", Static)
            await until(pilot, lambda: "not ready: lunch" in str(state.render()), "state")
            await pilot.press("r")
            await until(pilot, lambda: e.agent("1001").state is AgentState.READY, "r: ready")
            await until(pilot, lambda: "● ready" in str(state.render()), "shown ready")
            # A queue call: the switch offers it to 1001; the pop comes with the offer.
            control.add(7, "+4420", "600")  # a queue call: the agent is neither party
            centre.apply(e.enqueue("7", "600", centre.clock(), caller_number="+4420"))
            await until(pilot, lambda: len(cells(app, "#me-pop")) >= 6, "the screen pop")
            pop = {row[0]: row[1] for row in cells(app, "#me-pop")}
            assert pop["Caller"] == "+4420" and pop["Queue"] == "600" and pop["Call"] == "7"
            assert pop["customer_number"] == "C-17" and pop["language"] == "en"
            assert pop["CRM"] == "https://crm.example.com/search?number=%2B4420&customer=C-17"
            assert fits_80(app, "#me-pop")
            title = app.query_one("#me-pop-title", Label)
            assert "call from +4420 in queue 600" in str(title.render())
            centre.apply(e.agent_answered("7", "1001", centre.clock()))
            await until(pilot, lambda: "call 7" in str(state.render()), "on call 7")
            await pilot.press("h")  # hold the caller of the agent's own call
            await until(pilot, lambda: control.commands == [("hold", 7, 1)], "held")
            await pilot.press("t", *"1002", "enter")  # fills ":transfer 7 ", the target typed
            await until(pilot, lambda: ("transfer", 7, 2) in control.commands, "transferred")
            assert app.message == "call 7: the caller is transferred to 1002"
            await pilot.press("ctrl+k", "enter")  # fills ":hangup 7", Enter confirms
            await until(pilot, lambda: ("hang_up", 7, None) in control.commands, "hung up")
            centre.apply(e.caller_hung_up("7", centre.clock()))
            await until(pilot, lambda: e.agent("1001").state is AgentState.WRAP_UP, "wrap-up")
            await until(pilot, lambda: "wrap-up" in str(state.render()), "shown wrap-up")
            await pilot.press("e")
            await until(pilot, lambda: e.agent("1001").state is AgentState.READY, "w: ended")
            await pilot.press("n", *"break", "enter")
            await until(pilot, lambda: e.agent("1001").reason == "break", "n: not ready")
            await app.run_command(":pause 1002 lunch")  # another agent: not its to change
            assert app.message == ":pause refused: this agent is not you or one of your teams'"
            assert e.agent("1002").state is AgentState.LOGGED_OUT

    run(scenario)


def test_the_wallboard_moves_with_time_when_no_event_arrives() -> None:
    """Queue 600 with T = 0.4 s: a caller waiting past T makes it offered and the service
    level 0 % with no ACD event; the switch pushes the figures at that instant."""
    acd = demo_acd()
    queues = tuple(
        dataclasses.replace(q, service_level_s=0.4) if q.number == "600" else q for q in acd.queues
    )
    fast = dataclasses.replace(acd, queues=queues)

    async def scenario(server: ApiServer, control: ScriptedControl, centre: DemoCentre) -> None:
        timer = centre.timed()
        e = centre.engine
        app = console(server, "admin")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.session.status.link is Link.CONNECTED, "login")
            await pilot.press("f5")
            await until(pilot, lambda: len(cells(app, "#wallboard")) == 2, "both queues")
            centre.apply(e.enqueue("7", "600", time.time(), caller_number="+4420"))
            events = len(centre.events)
            await until(pilot, lambda: cells(app, "#wallboard")[0][1] == "1", "waiting")
            assert cells(app, "#wallboard")[0][7] == "0"  # not offered yet: within T
            assert fits_80(app, "#wallboard")
            await until(pilot, lambda: cells(app, "#wallboard")[0][7] == "1", "offered by time")
            row = cells(app, "#wallboard")[0]
            assert row[3] == "0%"  # missed the service level while still waiting
            assert len(centre.events) == events  # no ACD event: time alone did it
            assert timer.pushes == 1

    run(scenario, clock=time.time, acd=fast)


def test_the_calls_table_shows_the_recording_mark() -> None:
    async def scenario(server: ApiServer, control: ScriptedControl, centre: DemoCentre) -> None:
        control.add(1, "1001", "1002")
        control.live[2] = dataclasses.replace(control.add(2, "1003", "1004"), recording="recording")
        app = console(server, "admin")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: len(cells(app, "#calls-table")) == 2, "both calls")
            assert [r[6] for r in cells(app, "#calls-table")] == ["", "rec"]
            assert fits_80(app, "#calls-table")
            events = CallEvents(server.hub)
            paused = SimpleNamespace(id=2, caller="1003", callee="1004", legs=[])
            events.recording(paused, "paused")  # type: ignore[arg-type]
            await until(pilot, lambda: cells(app, "#calls-table")[1][6] == "pau", "paused")
            recorded = SimpleNamespace(id=1, caller="1001", callee="1002", legs=[])
            events.recording(recorded, "recording")  # type: ignore[arg-type]
            await until(pilot, lambda: cells(app, "#calls-table")[0][6] == "rec", "recording")

    run(scenario)


def test_the_agent_answers_the_offered_call_with_a_from_its_screen() -> None:
    """`a` on F8 sends `POST /calls/7/answer` for the call offered; the scripted control then
    does what the switch's re-INVITE makes the phone do (it answers: `agent_answered` on the
    real engine), and the screen shows the agent on the call. `:answer 9` names a call."""

    async def scenario(server: ApiServer, control: ScriptedControl, centre: DemoCentre) -> None:
        e = centre.engine
        centre.apply(e.login("1001", centre.clock()))
        scripted_answer = control.answer

        def answer(call_id: int, extension: str) -> object:
            answering = scripted_answer(call_id, extension)
            centre.apply(e.agent_answered(str(call_id), "1001", centre.clock()))
            return answering

        control.answer = answer  # type: ignore[method-assign]
        app = console(server, "1001")
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.current == "agent", "the agent's own screen first")
            await app.run_command(":answer")
            assert app.message == "answer: no call is offered to you (give CALL)"
            control.add(7, "+4420", "600")
            control.ringing.add((7, "1001"))
            centre.apply(e.enqueue("7", "600", centre.clock(), caller_number="+4420"))
            await until(pilot, lambda: e.agent("1001").state is AgentState.OFFERED, "offered")
            await until(pilot, lambda: len(cells(app, "#me-pop")) >= 4, "the screen pop")
            await pilot.press("a")
            await until(pilot, lambda: ("answer", 7, None) in control.commands, "a: answered")
            await until(pilot, lambda: e.agent("1001").state is AgentState.ON_CALL, "on call")
            state = app.query_one("#me-state", Static)
            await until(pilot, lambda: "call 7" in str(state.render()), "shown on call 7")
            assert app.message == "call 7: your phone answers"
            await app.run_command(":answer 9")  # no such call: the switch's 404 is shown
            assert app.message.startswith(":answer refused")

    run(scenario)
