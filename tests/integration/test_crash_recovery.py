"""kill -9 during 50 calls, then a restart on the same data dir (issue 12, "Crashes").

SIPp callers on the `gateway` trunk place 50 concurrent calls, talking (sip-tester's speech):
34 bridged out to a SIPp carrier and recorded, 16 into queue 600, where two logged-in agents
(phones registered by a third party, a SIPp UAS) answer one each and the rest wait with music.
Agent 1003 is paused for lunch, 1004 never logged in. The switch is killed with SIGKILL mid-call
and started again; the phones do not register again. What the restarted switch shows is
asserted: every CDR row closed as cut by the crash at the time it died, every recording
playable, with speech, up to within a second of the kill, the agents in the state they were in
(those on a call ready, the paused one paused with its reason), the queues empty, and the
registrations kept.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from api_events import api_call, wait_api
from running_switch import LOCAL, Switch, start_switch, wait_port_bound
from sipp_process import Sipp

from softswitch.api.client import ApiClient
from softswitch.media.recorder import RECORDINGS_DIR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SCENARIOS = Path(__file__).with_name("scenarios")
SIPP_PCAPS = Path("/usr/share/sip-tester")  # g711a.pcap: 7 s of speech, PCMA
SPEECH_RMS = 0.02  # g711a.pcap's speech: 0.03-0.15 over any 0.5 s; silence is 0
BRIDGED = 34
QUEUED = 16
OUT_NUMBER = "9500"  # out through the carrier trunk; recorded (the gateway trunk records)
QUEUE = "600"
ON_CALL = ("1001", "1002")
PAUSED = "1003"
HOLD_MS = 120_000  # longer than the test: every call is up when the switch dies
TALK_BEFORE_KILL_S = 3.0
ADMIN = ("admin", "demo-admin")
CRASH_CAUSE = "switch crashed"
WRAP_UP_S = 10
# A recording's start_ts is taken when its row is queued, a tick or so after its first frame.
CLOCK_SLACK_S = 0.1


def _edit(cfg: dict[str, Any]) -> None:
    # The gateway's callers reach the queues and the `9` route out through the carrier.
    next(t for t in cfg["trunks"] if t["name"] == "gateway")["context"] = "internal"
    cfg["routes"] = [r for r in cfg["routes"] if r["context"] != "from-gateway"]
    sales = next(q for q in cfg["queues"] if q["number"] == QUEUE)
    sales.update(
        ring_timeout_s=30, max_wait_s=600, widen=[], overflow="hangup", wrap_up_s=WRAP_UP_S
    )


def _admin(switch: Switch, step: Callable[[ApiClient], Any]) -> Any:
    async def run(api: ApiClient) -> Any:
        return await step(api)

    return api_call(switch.ports.api_url, *ADMIN, run)


def _rows(switch: Switch, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{switch.db_path}?mode=ro", uri=True, timeout=2.0)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _wait(what: str, condition: Callable[[], object], timeout_s: float) -> None:
    """Poll `condition` until it is true; it returns what the error shows otherwise."""
    deadline = time.monotonic() + timeout_s
    while (seen := condition()) is not True:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s} s; last seen: {seen}")
        time.sleep(0.1)


def _register(sipp: Callable[..., Sipp], switch: Switch, agent: str, contact_port: int) -> None:
    args = ["-sf", str(SCENARIOS / "register_other_contact.xml"), f"{LOCAL}:{switch.sip_port}"]
    args += ["-s", agent, "-au", agent, "-ap", f"demo-{agent}", "-m", "1"]
    done = sipp(f"register-{agent}", [*args, "-key", "contact_port", str(contact_port)]).result()
    assert (done.returncode, done.successful) == (0, 1), done.summary()


def _callers(sipp: Callable[..., Sipp], switch: Switch, name: str, number: str, calls: int) -> Sipp:
    """Callers that talk (sip-tester's speech, again and again) until they are killed."""
    args = ["-sf", str(SCENARIOS / "caller_talking.xml"), f"{LOCAL}:{switch.sip_port}"]
    args += ["-s", number, "-m", str(calls), "-l", str(calls), "-r", "25"]
    return sipp(name, args, timeout_s=HOLD_MS / 1000)


def test_kill_9_during_50_calls_then_restart_closes_rows_keeps_audio_agents_and_phones(
    tmp_path: Path, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    answer = ["-sf", str(SCENARIOS / "answer_pcma.xml")]
    carrier = sipp("carrier", [*answer, "-p", str(carrier_port)], HOLD_MS / 1000)
    agents_phone = sipp("agents-phone", answer, HOLD_MS / 1000)
    wait_port_bound(carrier_port, 5.0, "SIPp carrier")
    wait_port_bound(agents_phone.sip_port, 5.0, "SIPp agents' phone")

    (tmp_path / "pcap").mkdir()
    shutil.copy(SIPP_PCAPS / "g711a.pcap", tmp_path / "pcap")  # SIPp's working folder
    switch = start_switch(tmp_path, carrier_port, edit=_edit)
    try:
        wait_api(switch.ports.api)
        for agent in (*ON_CALL, PAUSED):
            _register(sipp, switch, agent, agents_phone.sip_port)

        async def staff(api: ApiClient) -> list[dict[str, Any]]:
            for agent in (*ON_CALL, PAUSED):
                await api.agent_login(agent)
            await api.agent_pause(PAUSED, "lunch")
            return await api.registrations()

        registered = _admin(switch, staff)
        _callers(sipp, switch, "bridged", OUT_NUMBER, BRIDGED)
        _callers(sipp, switch, "queued", QUEUE, QUEUED)

        def all_up() -> object:
            rows = _rows(switch, "SELECT callee, answer_ts, end_ts, hangup_cause FROM cdr")
            recorded = _rows(switch, "SELECT callee FROM recording")
            answered = [r for r in rows if r["answer_ts"] and r["end_ts"] is None]
            if len(answered) == BRIDGED + QUEUED and len(recorded) >= BRIDGED + len(ON_CALL):
                return True
            ended = [r for r in rows if r["end_ts"] is not None][:3]
            return (len(rows), len(answered), len(recorded), ended, switch.log_tail(5))

        _wait("50 calls answered and recorded", all_up, 60.0)
        before = _admin(switch, lambda api: api.agents())
        states = {a["agent"]: (a["state"], a["reason"]) for a in before}
        assert [states[a][0] for a in ON_CALL] == ["on call", "on call"], states
        assert states[PAUSED] == ("not ready", "lunch"), states
        waiting = _admin(switch, lambda api: api.queues())
        assert next(q for q in waiting if q["queue"] == QUEUE)["callers"], waiting
        time.sleep(TALK_BEFORE_KILL_S)  # the calls talk: what the recordings must keep
        switch.assert_running()
        killed_at = time.time()
        switch.proc.send_signal(signal.SIGKILL)
        switch.proc.wait(10)
        assert switch.proc.returncode == -signal.SIGKILL
    finally:
        if switch.proc.poll() is None:
            switch.proc.kill()
            switch.proc.wait()
    for peer in (carrier, agents_phone):  # they lost the switch: end them
        peer.stop()

    # As the kill left them, before anything repairs them: every recording plays.
    open_rows = _rows(switch, "SELECT * FROM recording")
    for row in open_rows:
        audio, rate = sf.read(switch.data_dir / RECORDINGS_DIR / row["path"], always_2d=True)
        played_s = audio.shape[0] / rate
        # Speech up to the end: the caller's channel (left) is not padded with silence.
        tail = audio[-rate // 2 :, 0]
        assert float(np.sqrt(np.mean(tail**2))) > SPEECH_RMS, (row, "silent last 0.5 s")
        up_s = killed_at - row["start_ts"]
        assert up_s - 1.0 <= played_s <= up_s + CLOCK_SLACK_S, (row, played_s, up_s)

    restarted = start_switch(tmp_path, carrier_port, edit=_edit)  # the same data dir
    try:
        wait_api(restarted.ports.api)
        agents: list[dict[str, Any]] = []

        def agents_free() -> object:
            # Freed at the crash: those on a call are in wrap-up until it ends, then ready.
            agents[:] = _admin(restarted, lambda api: api.agents())
            states = {a["agent"]: a["state"] for a in agents}
            return all(states[a] == "ready" for a in ON_CALL) or states

        _wait("the agents on a call ready again", agents_free, WRAP_UP_S + 10.0)

        async def look(api: ApiClient) -> tuple[Any, Any]:
            return await api.queues(), await api.registrations()

        queues, registrations = _admin(restarted, look)
        restarted.assert_running()
    finally:
        assert restarted.stop() == 0, restarted.log_tail()
    cdrs = restarted.cdr()
    recordings = _rows(restarted, "SELECT * FROM recording")
    queue_log = _rows(restarted, "SELECT * FROM queue_log ORDER BY id")
    assert "the call centre lost 16 callers with the previous run" in restarted.log_path.read_text()

    # Every call's row is closed: answered, cut by the crash, ending when the switch died.
    assert len(cdrs) == BRIDGED + QUEUED
    for row in cdrs:
        assert row["disposition"] == "answered", row
        assert row["hangup_cause"] == CRASH_CAUSE, row
        assert row["hangup_side"] == "switch", row
        assert killed_at - 2.0 <= row["end_ts"] <= killed_at + 0.1, (row, killed_at)
        assert row["billable_s"] == pytest.approx(row["end_ts"] - row["answer_ts"], abs=1e-6)

    # Every recording: closed as cut, its duration the audio up to within a second of the kill.
    assert len(recordings) == len(open_rows) >= BRIDGED + len(ON_CALL)
    assert {r["call_id"] for r in recordings} <= {r["call_id"] for r in cdrs}
    for row in recordings:
        assert row["state"] == "cut", row
        up_s = killed_at - row["start_ts"]
        assert up_s - 1.0 <= row["duration_s"] <= up_s + CLOCK_SLACK_S, (row, up_s)
        audio, rate = sf.read(restarted.data_dir / RECORDINGS_DIR / row["path"], always_2d=True)
        assert audio.shape[0] / rate == pytest.approx(row["duration_s"], abs=1e-3)

    # Agents: those on a call are free again, the paused one still paused for lunch, 1004 out.
    states = {a["agent"]: (a["state"], a["reason"]) for a in agents}
    assert [states[a] for a in ON_CALL] == [("ready", None)] * 2, states
    assert states[PAUSED] == ("not ready", "lunch"), states
    assert states["1004"][0] == "logged out", states
    # Queues: nobody waits on a call the crash ended; the queue log says how each one left.
    sales = next(q for q in queues if q["queue"] == QUEUE)
    assert sales["callers"] == [], sales
    entered = {r["call"] for r in queue_log if r["event"] == "ENTERQUEUE"}
    left = {
        r["call"] for r in queue_log if r["event"] in ("ABANDON", "COMPLETECALLER", "COMPLETEAGENT")
    }
    assert len(entered) == QUEUED and entered == left, queue_log

    # Registrations: kept without a new REGISTER from the phones.
    assert len(registered) == 3, registered
    assert registrations == registered  # the same phones, contacts and expiry
    assert {r["contact"] for r in registrations} == {
        f"sip:{agent}@{LOCAL}:{agents_phone.sip_port}" for agent in (*ON_CALL, PAUSED)
    }
