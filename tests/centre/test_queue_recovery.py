"""The call centre across a crash: what `CallCentre` saves while it runs and how `recover`
carries on from it (softswitch/centre/queue.py, softswitch/store/liveness.py)."""

from __future__ import annotations

import os
from pathlib import Path

from acd.helpers import agent

from softswitch.acd.agent import AgentState
from softswitch.acd.events import QueueLogEntry
from softswitch.acd.model import AcdConfig, QueueConfig
from softswitch.centre.queue import CallCentre
from softswitch.media.prompts import PromptLibrary
from softswitch.store.liveness import AcdStateFile, Heartbeat

CONFIG = AcdConfig(
    queues=(QueueConfig(number="600", name="sales", wrap_up_s=0),),
    agents=(agent("1001", "600"), agent("1002", "600"), agent("1003", "600")),
)


class Log:
    def __init__(self) -> None:
        self.rows: list[QueueLogEntry] = []

    def write(self, entry: QueueLogEntry) -> None:
        self.rows.append(entry)


def centre(clock: list[float], state: AcdStateFile) -> tuple[CallCentre, Log]:
    log = Log()
    c = CallCentre(CONFIG, PromptLibrary(), log, wall_clock=lambda: clock[0])
    c.state_sink = state
    return c, log


def test_logins_and_pauses_survive_and_the_callers_held_are_logged_as_gone(
    tmp_path: Path,
) -> None:
    clock = [1000.0]
    state = AcdStateFile(tmp_path)
    before, _ = centre(clock, state)
    for number in ("1001", "1002"):
        before.control.login(number)
    before.control.pause("1002", "lunch")
    before.step(before.engine.enqueue, "c1", "600")  # offered to 1001 (no phone to ring here)
    before.step(before.engine.agent_answered, "c1", "1001")
    before.step(before.engine.enqueue, "c2", "600")  # waits: nobody else is ready
    # An agent's change is saved at once; a caller's by the switch's next heartbeat.
    assert [c["call"] for c in (state.load() or {})["callers"]] == ["c1"]
    before.save_state_if_changed()
    assert [c["call"] for c in (state.load() or {})["callers"]] == ["c1", "c2"]
    # The process dies here.

    clock[0] = 1060.0  # the restart, a minute later; the crash was at 1010
    after, log = centre(clock, state)
    assert after.recover(state.load() or {}, 1010.0) == 2
    states = {n: (after.control.agent_figures(n).state, after.control.agent_figures(n).reason)
              for n in ("1001", "1002", "1003")}  # fmt: skip
    assert states == {
        "1001": (AgentState.READY, ""),  # its caller died with the crash (no wrap-up here)
        "1002": (AgentState.NOT_READY, "lunch"),
        "1003": (AgentState.LOGGED_OUT, ""),
    }
    assert after.control.waiting_callers("600") == []
    gone = {(r.call, r.event.value, r.time) for r in log.rows}
    assert gone == {("c1", "COMPLETECALLER", 1010.0), ("c2", "ABANDON", 1010.0)}
    # What it saved now is the healed state: a second restart loses no one again.
    again, _ = centre(clock, state)
    assert again.recover(state.load() or {}, 1060.0) == 0
    assert again.control.agent_figures("1002").reason == "lunch"


def test_an_unreadable_state_is_ignored_and_the_heartbeat_tells_the_last_beat(
    tmp_path: Path,
) -> None:
    state = AcdStateFile(tmp_path)
    assert state.load() is None
    state.path.write_text("{not json")
    assert state.load() is None
    state.path.write_text("[1, 2]")
    assert state.load() is None
    state.save({"version": 1})
    assert state.load() == {"version": 1}
    assert not state.path.with_suffix(".tmp").exists()

    heartbeat = Heartbeat(tmp_path)
    assert heartbeat.last_beat() is None
    heartbeat.beat(1234.5)
    heartbeat.beat(1300.25)
    assert heartbeat.last_beat() == 1300.25
    assert os.stat(heartbeat.path).st_size == 0


def test_a_booked_callback_keeps_the_callers_variables_for_its_offers(tmp_path: Path) -> None:
    """The caller hung up after booking: the agent's offer (call_offered's screen pop) still
    shows what the caller keyed in the IVR, until the callback is done."""
    from types import SimpleNamespace

    clock = [1000.0]
    c, _ = centre(clock, AcdStateFile(tmp_path))
    c.step(c.engine.enqueue, "c7", "600")
    c.keep_variables("c7", {"customer": "4242", "ivr_digits": "2"})
    assert c.variables("c7") == {"customer": "4242", "ivr_digits": "2"}
    assert c.variables("c8") == {}
    run = SimpleNamespace(key="c7", call=SimpleNamespace(id=99))
    c.forget_run(run)  # type: ignore[arg-type]  # an attempt ended; the entry still waits
    assert c.variables("c7") == {"customer": "4242", "ivr_digits": "2"}
    c.step(c.engine.caller_hung_up, "c7")  # given up or served: the entry is gone
    c.forget_run(run)  # type: ignore[arg-type]
    assert c.variables("c7") == {}
