"""The README's wallboard and agent-view screenshots (`make screenshots`), against a demo state.

The real API server and the real ACD engine over the demo config's queues and agents (the
tests' harness, tests/api/api_harness.py), with a clock stepped through fifty minutes of
queue calls: agents log in, callers wait, are answered, hang up, one abandons; the console
(Textual, 80x24) follows the pushed events as it would live. Its SVG screenshots are turned
into PNG by rsvg-convert (Debian librsvg2-bin, installed by `make setup`) under docs/images/.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "docs" / "images"
SIZE = (80, 24)
POP = "https://crm.example.com/search?number={caller}&customer={var.customer_number}"


def _harness() -> Any:
    path = REPO / "tests" / "api" / "api_harness.py"
    spec = importlib.util.spec_from_file_location("api_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["api_harness"] = module
    spec.loader.exec_module(module)
    return module


async def _until(pilot: Any, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10.0
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("the console did not show the demo state in 10 s")
        await pilot.pause(0.02)


async def _demo(shots: Path) -> None:
    from softswitch.api.centre_events import CentreEvents
    from softswitch.api.server import ApiServer
    from softswitch.console.app import ConsoleApp
    from softswitch.console.session import Link, PasswordLogin

    h = _harness()
    clock = h.SteppedClock(time.time() - 50 * 60)
    centre, control = h.DemoCentre(clock), h.ScriptedControl()
    server = ApiServer(h.demo_api_config(), control, clock=clock, centre=centre.control)

    def variables(call: str) -> dict[str, str]:  # what the demo IVR (500) collects
        return {"customer_number": f"C-10{call}", "language": "en", "reason": "billing"}

    centre.listeners.append(
        CentreEvents(
            server.hub,
            centre.control,
            server.services.scope,
            variables,
            {"600": POP},
        )
    )
    await server.start()
    url = f"http://127.0.0.1:{server.port}"
    e = centre.engine
    supervisor = ConsoleApp(url, PasswordLogin("admin", "demo-admin"), clock=clock)
    try:
        async with supervisor.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: supervisor.session.status.link is Link.CONNECTED)

            def step(seconds: float, *events: Any) -> None:
                clock.advance(seconds)
                centre.apply(e.handle_timer(clock()))
                for made in events:
                    centre.apply(made(clock()))

            for agent in ("1001", "1002", "1003", "1004", "1005"):
                step(1, lambda now, a=agent: e.login(a, now))
            for n in range(10, 30):  # fifty minutes of calls, two to five minutes apart
                q, c, number = "600" if n % 3 else "601", str(n), f"+44207946{n:04d}"
                enqueue = partial(e.enqueue, c, q, caller_number=number)
                step(60 + 17 * (n % 5), lambda now, join=enqueue: join(now))
                if n % 7 == 0:
                    step(25 + n % 4, lambda now, c=c: e.caller_hung_up(c, now))  # abandoned
                    continue
                waiting = e.caller(c)
                if waiting is None or not waiting.offers:
                    continue  # every agent busy: it waits on
                a = next(iter(waiting.offers))
                step(4 + n % 9, lambda now, c=c, a=a: e.agent_answered(c, a, now))
                step(60 + 13 * (n % 6), lambda now, c=c: e.caller_hung_up(c, now))
                await pilot.pause(0.01)
            step(20, lambda now: e.pause("1002", "lunch", now))
            control.add(30, "+442079460030", "600")
            step(5, lambda now: e.enqueue("30", "600", now, caller_number="+442079460030"))
            step(40)
            for call in ("32", "33"):
                step(7, lambda now, c=call: e.enqueue(c, "601", now, caller_number=f"+3314{c}"))
            await pilot.press("f5")
            await _until(pilot, lambda: supervisor.state.queues["601"].callers != {})
            await pilot.pause(0.3)
            supervisor.save_screenshot("console-wallboard.svg", str(shots))

        # 1001 takes a break, then comes back ready: the longest waiting caller is offered
        # to it at once, and its screen pops.
        busy = e.agent("1001").call
        if busy is not None and e.agent("1001").state.value == "on call":
            step(2, lambda now: e.caller_hung_up(busy, now))
        step(1, lambda now: e.pause("1001", "break", now))
        agent_app = ConsoleApp(url, PasswordLogin("1001", "demo-1001"), clock=clock)
        async with agent_app.run_test(size=SIZE) as pilot:
            await _until(pilot, lambda: agent_app.state.me == "1001")
            await _until(pilot, lambda: agent_app.current == "agent")
            await _until(pilot, lambda: "1001" in agent_app.state.agents)
            if not any(q.callers for q in agent_app.state.queues.values()):
                step(2, lambda now: e.enqueue("31", "600", now, caller_number="+442079460031"))
            step(3, lambda now: e.ready("1001", now))
            await _until(pilot, lambda: "1001" in agent_app.state.offers)
            offered = e.agent("1001").call
            assert offered is not None
            step(3, lambda now: e.agent_answered(offered, "1001", now))
            step(35)
            await pilot.pause(0.3)
            agent_app.save_screenshot("console-agent.svg", str(shots))
    finally:
        await server.stop()


def main() -> int:
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert missing: run make setup (Debian librsvg2-bin)", file=sys.stderr)
        return 1
    sys.path.insert(0, str(REPO))
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_demo(Path(tmp)))
        for name in ("console-wallboard", "console-agent"):
            png = OUT / f"{name}.png"
            svg = Path(tmp) / f"{name}.svg"
            subprocess.run(["rsvg-convert", "--zoom", "1", str(svg), "-o", str(png)], check=True)
            print(png.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
