"""Fault injection on a running switch: legs that die without a BYE never leave an agent
reserved or on a call, nor a caller queued. pjsua2 phones are killed (SIGKILL, no BYE, no more
RTP) while ringing, while talking and while waiting; the switch's ring timeout, its media
timeout and the offer's deadline toward a dead phone clean up, and the CTI API shows
every agent free (or not ready "no answer") and every queue empty."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_events import api_call, wait_api
from audio import write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from test_call_centre import events, log_in, wait_queue_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

MEDIA_TIMEOUT_S = 2.0
SUPERVISOR = ("supervisor", "demo-supervisor")


@pytest.fixture
def faulty(tmp_path: Path, carrier_port: int) -> Any:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["calls"]["media_timeout_s"] = MEDIA_TIMEOUT_S
        sales = next(q for q in cfg["queues"] if q["number"] == "600")
        sales.update(
            ring_timeout_s=3, max_no_answer=1, wrap_up_s=0, max_wait_s=0,
            join_empty="never", requires={},
        )  # fmt: skip
        sales.pop("widen", None)

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    wait_api(sw.ports.api)
    try:
        yield sw
    finally:
        sw.stop()


def centre_state(sw: Switch) -> tuple[dict[str, str], list[str]]:
    """(state by agent, callers waiting in 600) as the API shows them."""

    async def read(api: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return await api.agents(), await api.queues()

    agents, queues = api_call(sw.ports.api_url, *SUPERVISOR, read)
    sales = next(q for q in queues if q["queue"] == "600")
    return {a["agent"]: a["state"] for a in agents}, [w["caller"] for w in sales["callers"]]


def wait_state(
    sw: Switch, predicate: Callable[[dict[str, str], list[str]], bool], timeout_s: float
) -> tuple[dict[str, str], list[str]]:
    deadline = time.monotonic() + timeout_s
    while True:
        agents, waiting = centre_state(sw)
        if predicate(agents, waiting):
            return agents, waiting
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {agents} {waiting}"
        time.sleep(0.2)


def kill(peer: PjsuaPeer) -> None:
    """The phone dies: no BYE, no more RTP, its SIP port closed."""
    peer.proc.kill()
    peer.proc.wait(5.0)


def dial_queue(sw: Switch, caller: PjsuaPeer, tmp_path: Path) -> int:
    caller.register(sw.sip_port, "1004", "demo-1004")
    call = caller.call(sw.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", 440.0, 60.0)))
    return call


def test_an_agent_phone_killed_while_ringing_goes_not_ready_and_frees_the_caller(
    faulty: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(faulty, agent, "1001")
    call = dial_queue(faulty, caller, tmp_path)
    agent.wait_incoming(10.0)
    with urllib.request.urlopen(f"http://127.0.0.1:{faulty.ports.metrics}/metrics") as page:
        metrics = page.read().decode()
    assert "softswitch_queue_offer_seconds_count 1.0" in metrics  # offered at once: timed
    kill(agent)
    # The ring timeout ends the offer: the caller keeps its place, the agent goes not ready.
    wait_queue_log(faulty, lambda r: ("RINGNOANSWER", "600", "1001") in events(r), 10.0)
    agents, waiting = wait_state(faulty, lambda a, w: a["1001"] == "not ready", 5.0)
    assert waiting == ["1004"]
    caller.send("hangup", call=call)
    agents, waiting = wait_state(faulty, lambda a, w: not w, 5.0)
    assert agents["1001"] == "not ready" and "offered" not in agents.values()


def test_both_phones_killed_mid_call_end_by_media_timeout_and_free_the_agent(
    faulty: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(faulty, agent, "1001")
    dial_queue(faulty, caller, tmp_path)
    incoming = agent.wait_incoming(10.0)
    agent.send("answer", call=incoming["call"])
    agent.wait_call_state(incoming["call"], "CONFIRMED", 5.0)
    wait_queue_log(faulty, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    assert centre_state(faulty)[0]["1001"] == "on call"
    kill(agent)
    kill(caller)
    # No RTP either way: the sweep (every 5 s) hangs the call up after the media timeout.
    rows = wait_queue_log(faulty, lambda r: "COMPLETECALLER" in [e for e, *_ in events(r)], 15.0)
    assert next(r for r in rows if r["event"] == "COMPLETECALLER")["agent"] == "1001"
    _agents, waiting = wait_state(faulty, lambda a, w: a["1001"] == "ready", 5.0)
    assert waiting == []
    cdr = faulty.closed_cdrs(1, 5.0, "caller = ?", ("1004",))[0]
    assert cdr["hangup_cause"] == "media timeout"


def test_an_agent_phone_killed_mid_call_while_the_caller_talks_on_frees_both(
    faulty: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """Only the agent's phone dies: the caller's RTP keeps coming, yet the agent's silence is
    enough (per party, as Asterisk's rtptimeout): the caller gets a BYE, the agent is free."""
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(faulty, agent, "1001")
    call = dial_queue(faulty, caller, tmp_path)
    incoming = agent.wait_incoming(10.0)
    agent.send("answer", call=incoming["call"])
    agent.wait_call_state(incoming["call"], "CONFIRMED", 5.0)
    wait_queue_log(faulty, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    kill(agent)
    caller.wait_bye(call, 15.0)  # the sweep runs every 5 s; the limit is 2 s
    _agents, waiting = wait_state(faulty, lambda a, w: a["1001"] == "ready", 5.0)
    assert waiting == []
    cdr = faulty.closed_cdrs(1, 5.0, "caller = ?", ("1004",))[0]
    assert cdr["hangup_cause"] == "media timeout"


def test_a_waiting_caller_killed_is_removed_and_a_dead_agent_phone_is_not_offered_again(
    faulty: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(faulty, agent, "1001")
    api_call(faulty.ports.api_url, *SUPERVISOR, lambda api: api.agent_pause("1001", "break"))
    dial_queue(faulty, caller, tmp_path)
    wait_state(faulty, lambda a, w: w == ["1004"], 5.0)
    kill(caller)
    rows = wait_queue_log(faulty, lambda r: ("ABANDON", "600", "") in events(r), 15.0)
    assert wait_state(faulty, lambda a, w: not w, 5.0)[1] == []
    # The agent's phone dies while not ready; made ready, it is offered the next caller: the
    # INVITE to its closed port goes unanswered, the ring timeout (3 s) ends the offer, the
    # caller keeps its place and the agent goes not ready "no answer".
    kill(agent)
    api_call(faulty.ports.api_url, *SUPERVISOR, lambda api: api.agent_ready("1001"))
    second = pjsua("caller-2")
    call = dial_queue(faulty, second, tmp_path)
    wait_queue_log(faulty, lambda r: ("RINGNOANSWER", "600", "1001") in events(r), 10.0)
    agents, waiting = wait_state(faulty, lambda a, w: a["1001"] == "not ready", 5.0)
    assert waiting == ["1004"]
    second.send("hangup", call=call)
    agents, waiting = wait_state(faulty, lambda a, w: not w, 5.0)
    assert agents["1001"] == "not ready"
    assert len([r for r in rows if r["event"] == "ABANDON"]) == 1
