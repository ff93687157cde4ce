"""The call centre end to end with real phones: pjsua2 agents log in with *45 from their phones,
a pjsua2 caller dials the IVR on 500, presses 1 (RFC 4733) and is queued for 600 and offered to
the agent; each side hears the other's tone (FFT). An agent who does not answer is rerouted
from and the caller overflows to 601; a queue nobody staffs refuses by join-empty. The queue
log rows in SQLite are asserted."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from api_events import EventCollector, api_call, wait_api
from audio import dominant_frequency, write_tone
from peers.pjsua import PeerError, PjsuaPeer
from running_switch import Switch, start_switch
from spectrum import peaks_hz

from softswitch.media.recorder import RECORDINGS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FLOWS = Path(__file__).parents[1] / "data" / "ivr_centre"  # the demo menu, at any hour


def caller_and_agent_hear_each_other(
    caller: PjsuaPeer, caller_call: int, agent: PjsuaPeer, agent_call: int, tmp_path: Path
) -> None:
    """Two seconds recorded on each phone: the caller hears the agent's 1000 Hz, the agent the
    caller's 440 Hz."""
    caller_heard, agent_heard = tmp_path / "caller-heard.wav", tmp_path / "agent-heard.wav"
    caller.send("record", call=caller_call, path=str(caller_heard), seconds=2.0)
    agent.send("record", call=agent_call, path=str(agent_heard), seconds=2.0)
    caller.wait_event("recorded", 10.0, call=caller_call)
    agent.wait_event("recorded", 10.0, call=agent_call)
    assert abs(dominant_frequency(caller_heard, skip_s=0.3) - 1000.0) < 20
    assert abs(dominant_frequency(agent_heard, skip_s=0.3) - 440.0) < 20


def centre_config(
    ring_timeout_s: float = 15, max_wait_s: float = 120, service_level_s: float = 20
) -> Callable[..., None]:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["ivr"]["flows_dir"] = str(FLOWS)
        sales = next(q for q in cfg["queues"] if q["number"] == "600")
        sales.update(
            ring_timeout_s=ring_timeout_s,
            max_wait_s=max_wait_s,
            max_no_answer=0,
            join_empty="no_agents",
            empty_target="hangup",
            service_level_s=service_level_s,
        )
        support = next(q for q in cfg["queues"] if q["number"] == "601")
        support.update(join_empty="never")

    return edit


@pytest.fixture
def centre(request: pytest.FixtureRequest, tmp_path: Path, carrier_port: int) -> Any:
    edit = centre_config(**getattr(request, "param", {}))
    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        running = sw.proc.poll() is None
        rc = sw.stop()
        if running:
            assert rc == 0, f"switch exited {rc} on SIGTERM; log tail:\n{sw.log_tail()}"


def queue_log(switch: Switch) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{switch.db_path}?mode=ro", uri=True, timeout=2.0)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM queue_log ORDER BY id")]
    finally:
        conn.close()


def wait_queue_log(
    switch: Switch, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.OperationalError):
            rows = queue_log(switch)
            if predicate(rows):
                return rows
        time.sleep(0.05)
    raise AssertionError(f"queue log condition not met in {timeout_s} s: {rows}")


def events(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["event"], r["queue"], r["agent"]) for r in rows]


def log_in(switch: Switch, agent: PjsuaPeer, number: str) -> None:
    """Register the agent's phone and dial *45: a confirmation, then the switch's BYE."""
    agent.register(switch.sip_port, number, f"demo-{number}")
    call = agent.call(switch.uri("*45"))
    agent.wait_call_state(call, "CONFIRMED", 5.0)
    agent.wait_bye(call, 10.0)
    wait_queue_log(switch, lambda r: ("AGENTLOGIN", "NONE", number) in events(r), 5.0)


def dial_sales(switch: Switch, caller: PjsuaPeer, tmp_path: Path) -> int:
    """The caller dials the IVR on 500 and presses 1 by RFC 4733 during the greeting."""
    caller.register(switch.sip_port, "1004", "demo-1004")
    call = caller.call(switch.uri("500"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", 440.0, 20.0)))
    caller.wait_event("media_active", 5.0, call=call)
    caller.send("dtmf", call=call, digits="1", method="rfc4733")
    return call


def test_a_caller_reaches_an_agent_through_the_ivr_and_each_hears_the_other(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    call = dial_sales(centre, caller, tmp_path)
    incoming = agent.wait_incoming(10.0)
    agent_call = incoming["call"]
    agent.send("play", call=agent_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 20.0)))
    agent.send("answer", call=agent_call)  # the agent's phone answers at once
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    wait_queue_log(centre, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    caller_and_agent_hear_each_other(caller, call, agent, agent_call, tmp_path)
    caller.send("hangup", call=call)
    agent.wait_bye(agent_call, 5.0)
    rows = wait_queue_log(centre, lambda r: "COMPLETECALLER" in [e for e, *_ in events(r)], 5.0)
    enter = next(r for r in rows if r["event"] == "ENTERQUEUE")
    assert (enter["queue"], enter["call"]) == ("600", rows[-1]["call"] or enter["call"])
    connect = next(r for r in rows if r["event"] == "CONNECT")
    assert connect["agent"] == "1001" and connect["wait_s"] >= 0
    done = next(r for r in rows if r["event"] == "COMPLETECALLER")
    assert done["agent"] == "1001" and done["talk_s"] >= 2.0
    assert "WRAPUPSTART" in [r["event"] for r in wait_queue_log(
        centre, lambda r: "WRAPUPSTART" in [e for e, *_ in events(r)], 5.0)]  # fmt: skip
    cdr = centre.closed_cdrs(1, 5.0, "callee = ?", ("500",))[0]
    assert json.loads(cdr["variables"]).get("ivr_digits") == "1"
    # The example records every bridged call: from the agent's answer, the caller left and the
    # agent right, and the row names the agent.
    (recording,) = wait_recordings(centre, cdr["call_id"])
    assert recording["agent"] == "1001" and recording["state"] == "closed"
    audio, rate = sf.read(centre.data_dir / RECORDINGS_DIR / recording["path"], always_2d=True)
    assert audio.shape[0] / rate >= 2.0
    talk = audio[int(0.5 * rate) :]
    assert peaks_hz(talk[:, 0], rate)[0] == pytest.approx(440.0, abs=10)
    assert peaks_hz(talk[:, 1], rate)[0] == pytest.approx(1000.0, abs=10)


def wait_recordings(switch: Switch, call_id: str, timeout_s: float = 5.0) -> list[sqlite3.Row]:
    """The call's closed recording rows, once every one is closed."""
    deadline = time.monotonic() + timeout_s
    while True:
        with sqlite3.connect(switch.db_path) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM recording WHERE call_id = ?", (call_id,)).fetchall()
        if rows and all(row["end_ts"] is not None for row in rows):
            return rows
        assert time.monotonic() < deadline, f"recordings of {call_id} not closed: {rows}"
        time.sleep(0.05)


@pytest.mark.parametrize("centre", [{"ring_timeout_s": 2, "max_wait_s": 5}], indirect=True)
def test_an_agent_who_does_not_answer_is_rerouted_and_the_caller_overflows_to_601(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    call = dial_sales(centre, caller, tmp_path)
    agent.wait_incoming(10.0)  # rings, and is never answered
    rows = wait_queue_log(centre, lambda r: ("RINGNOANSWER", "600", "1001") in events(r), 10.0)
    rows = wait_queue_log(
        centre, lambda r: any(e == "EXITWITHTIMEOUT" for e, *_ in events(r)), 10.0
    )
    exit_row = next(r for r in rows if r["event"] == "EXITWITHTIMEOUT")
    assert exit_row["queue"] == "600" and exit_row["wait_s"] >= 5.0
    rows = wait_queue_log(centre, lambda r: ("ENTERQUEUE", "601", "") in events(r), 5.0)
    caller.send("hangup", call=call)
    rows = wait_queue_log(centre, lambda r: ("ABANDON", "601", "") in events(r), 5.0)


def test_dialling_600_with_no_agent_logged_in_leaves_by_join_empty(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    caller = pjsua("caller")
    caller.register(centre.sip_port, "1004", "demo-1004")
    call = caller.call(centre.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.wait_bye(call, 15.0)  # "all agents are busy", goodbye, BYE
    cdr = centre.closed_cdrs(1, 5.0, "callee = ?", ("600",))[0]
    assert cdr["hangup_side"] == "switch" and cdr["hangup_cause"] == "queue join empty"
    assert all(r["event"] != "ENTERQUEUE" for r in queue_log(centre))  # never joined


def test_an_agent_logged_in_by_45_is_ready_in_the_api_and_not_offered_once_paused_by_it(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    """*45 from the phone shows as ready through the API; a supervisor's API pause keeps the
    next queue call away from the phone (it waits, listed by the API), and the API's ready
    makes the phone ring for it at once."""
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    seen = api_call(url, "1001", "demo-1001", lambda api: api.agent("1001"))
    assert (seen["state"], seen["queues"]) == ("ready", ["600"])
    api_call(url, "supervisor", "demo-supervisor", lambda api: api.agent_pause("1001", "lunch"))
    seen = api_call(url, "1001", "demo-1001", lambda api: api.agent("1001"))
    assert (seen["state"], seen["reason"]) == ("not ready", "lunch")
    wait_queue_log(centre, lambda r: ("PAUSE", "NONE", "1001") in events(r), 5.0)

    caller.register(centre.sip_port, "1004", "demo-1004")
    call = caller.call(centre.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    wait_queue_log(centre, lambda r: ("ENTERQUEUE", "600", "") in events(r), 5.0)
    queues = api_call(url, "supervisor", "demo-supervisor", lambda api: api.queues())
    sales = next(q for q in queues if q["queue"] == "600")
    assert [w["caller"] for w in sales["callers"]] == ["1004"]
    assert sales["statistics"]["agents_by_state"] == {"not ready: lunch": 1}
    # The paused phone is not offered the call: a ring now would come within the dispatch of
    # the ENTERQUEUE already logged; 2 s is generous and bounds the wait.
    with pytest.raises(PeerError, match="incoming_call"):
        agent.wait_incoming(2.0)

    api_call(url, "supervisor", "demo-supervisor", lambda api: api.agent_ready("1001"))
    incoming = agent.wait_incoming(10.0)
    assert incoming["call"] is not None
    caller.send("hangup", call=call)
    wait_queue_log(centre, lambda r: ("ABANDON", "600", "") in events(r), 5.0)


@pytest.mark.parametrize("centre", [{"service_level_s": 1.0}], indirect=True)
def test_figures_that_time_changes_are_pushed_and_an_agent_hangs_up_its_queue_call(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    """Queue 600 with T = 1 s: a caller still waiting past T is offered and misses the service
    level with no event of the ACD; the switch pushes queue_statistics at that instant. Then
    the agent's console acts on the queue call it answered (it is neither caller nor callee)."""
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    api_call(url, "supervisor", "demo-supervisor", lambda api: api.agent_pause("1001", "lunch"))
    stats = EventCollector(url, "supervisor", "demo-supervisor", ["queue_statistics"])
    try:
        caller.register(centre.sip_port, "1004", "demo-1004")
        call = caller.call(centre.uri("600"))
        caller.wait_call_state(call, "CONFIRMED", 5.0)
        rows = wait_queue_log(centre, lambda r: ("ENTERQUEUE", "600", "") in events(r), 5.0)
        entered = next(r for r in rows if r["event"] == "ENTERQUEUE")["time"]

        def offered(event: Any) -> bool:
            figures = event.data["intervals"]["15m"]
            return event.data["queue"] == "600" and figures["offered"] == 1

        seen = stats.wait(lambda evs: any(offered(e) for e in evs), 5.0)
        pushed = next(e for e in seen if offered(e))
        late_s = datetime.fromisoformat(pushed.timestamp).timestamp() - (entered + 1.0)
        print(f"pushed {late_s * 1000:.1f} ms after the caller passed T")
        assert 0.0 <= late_s < 0.5
        assert pushed.data["intervals"]["15m"]["service_level"] == 0.0
        assert [r["event"] for r in queue_log(centre)] == [r["event"] for r in rows]  # no event
    finally:
        stats.close()

    api_call(url, "supervisor", "demo-supervisor", lambda api: api.agent_ready("1001"))
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    wait_queue_log(centre, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    mine = api_call(url, "1001", "demo-1001", lambda api: api.calls())
    assert [c.callee for c in mine] == ["600"]  # the queue call, seen by its agent
    api_call(url, "1001", "demo-1001", lambda api: api.hang_up(mine[0].call_id))
    caller.wait_bye(call, 5.0)
    agent.wait_bye(agent_call, 5.0)
