"""Supervisor listen / whisper / barge end to end with pjsua2 phones (one process each).

1002 (the caller, 440 Hz) calls 1001 (the agent, 1000 Hz); 1006 is the demo supervisor's phone
(1600 Hz). What each party recorded is checked by FFT: listen — the supervisor hears both,
neither party hears it; whisper — the agent hears it, the caller does not; barge — both do.
The supervisor's digits 5, 6, 4 switch the mode (ChanSpy's `d`); the API's supervise route rings
the supervisor and is refused to an agent's token; a phone that is not a supervisor's hears a
refusal and is hung up on, and the attempt is in the security log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio import read_mono, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from spectrum import level_db as _spectrum_level_db

from softswitch.api.client import ApiClient, ApiClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CALLER, AGENT, SUPERVISOR = "1002", "1001", "1006"
TONES_HZ = {CALLER: 440.0, AGENT: 1000.0, SUPERVISOR: 1600.0}
HEARD_DB = -15.0
NOT_HEARD_DB = -35.0
RECORD_S = 2.0

Party = tuple[PjsuaPeer, int]


def level_db(samples: np.ndarray, freq_hz: float, rate_hz: int) -> float:
    if not np.any(samples):
        return float("-inf")
    return _spectrum_level_db(samples, freq_hz, rate_hz)


def _wait_log(switch: Switch, text: str, timeout_s: float) -> None:
    """Until the switch's log holds `text` (a condition with a deadline, polled)."""
    deadline = time.monotonic() + timeout_s
    while text not in switch.log_path.read_text(errors="replace"):
        switch.assert_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log; tail:\n{switch.log_tail()}")
        time.sleep(0.05)


def _phone(switch: Switch, pjsua: Callable[[str], PjsuaPeer], user: str) -> PjsuaPeer:
    phone = pjsua(user)
    phone.register(switch.sip_port, user, f"demo-{user}")
    return phone


def _play(phone: PjsuaPeer, call: int, tmp_path: Path, user: str) -> None:
    tone = write_tone(tmp_path / f"{user}.wav", TONES_HZ[user], 60.0)
    phone.send("play", call=call, path=str(tone))


def _agent_call(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> dict[str, Party]:
    caller, agent = _phone(switch, pjsua, CALLER), _phone(switch, pjsua, AGENT)
    caller_call = caller.call(switch.uri(AGENT))
    agent_call = agent.wait_incoming(5.0)["call"]
    agent.send("answer", call=agent_call)
    caller.wait_call_state(caller_call, "CONFIRMED", 5.0)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    _play(caller, caller_call, tmp_path, CALLER)
    _play(agent, agent_call, tmp_path, AGENT)
    return {CALLER: (caller, caller_call), AGENT: (agent, agent_call)}


def _record(parties: dict[str, Party], tmp_path: Path, tag: str) -> dict[str, dict[str, float]]:
    """What each party hears for RECORD_S: the level of every party's tone, in dB."""
    for user, (phone, call) in parties.items():
        phone.send("record", call=call, path=str(tmp_path / f"{tag}-{user}.wav"), seconds=RECORD_S)
    levels: dict[str, dict[str, float]] = {}
    for user, (phone, call) in parties.items():
        phone.wait_event("recorded", RECORD_S + 10.0, call=call)
        samples, rate = read_mono(tmp_path / f"{tag}-{user}.wav")
        samples = samples[int(0.3 * rate) :]
        assert samples.size >= 1.5 * rate, f"{user} recorded {samples.size} samples"
        levels[user] = {other: level_db(samples, hz, rate) for other, hz in TONES_HZ.items()}
    return levels


def _check(levels: dict[str, dict[str, float]], mode: str) -> None:
    heard_by_caller = {"listen": False, "whisper": False, "barge": True}[mode]
    heard_by_agent = mode != "listen"
    sup = levels[SUPERVISOR]
    assert sup[CALLER] > HEARD_DB and sup[AGENT] > HEARD_DB, f"{mode}: supervisor hears {sup}"
    assert levels[CALLER][AGENT] > HEARD_DB, f"{mode}: caller hears {levels[CALLER]}"
    assert levels[AGENT][CALLER] > HEARD_DB, f"{mode}: agent hears {levels[AGENT]}"
    for user, heard in ((CALLER, heard_by_caller), (AGENT, heard_by_agent)):
        level = levels[user][SUPERVISOR]
        if heard:
            assert level > HEARD_DB, f"{mode}: {user} does not hear the supervisor: {levels[user]}"
        else:
            assert level < NOT_HEARD_DB, f"{mode}: {user} hears the supervisor: {levels[user]}"


def test_listen_whisper_barge_from_the_supervisor_phone_switched_by_4_5_6(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = _agent_call(switch, pjsua, tmp_path)
    supervisor = _phone(switch, pjsua, SUPERVISOR)
    sup_call = supervisor.call(switch.uri("*33" + AGENT))
    supervisor.wait_call_state(sup_call, "CONFIRMED", 5.0)
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    _play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties[SUPERVISOR] = (supervisor, sup_call)
    _check(_record(parties, tmp_path, "listen"), "listen")
    for digit, mode in (("5", "whisper"), ("6", "barge"), ("4", "listen")):
        supervisor.send("dtmf", call=sup_call, digits=digit)
        supervisor.wait_event("dtmf_sent", 5.0, call=sup_call)
        _wait_log(switch, f"now {mode}", 5.0)
        _check(_record(parties, tmp_path, f"{digit}-{mode}"), mode)
    # The supervisor leaves: the call goes on, caller and agent still hear each other.
    supervisor.send("hangup", call=sup_call)
    supervisor.wait_call_state(sup_call, "DISCONNECTED", 5.0)
    _wait_log(switch, "ended: supervisor", 5.0)
    after = _record({CALLER: parties[CALLER], AGENT: parties[AGENT]}, tmp_path, "after")
    assert after[CALLER][AGENT] > HEARD_DB and after[AGENT][CALLER] > HEARD_DB, after


def test_a_phone_that_is_no_supervisors_is_refused_and_logged(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = _agent_call(switch, pjsua, tmp_path)
    intruder = _phone(switch, pjsua, "1003")  # an agent's phone
    call = intruder.call(switch.uri("*35" + AGENT))
    intruder.send("record", call=call, path=str(tmp_path / "refusal.wav"), seconds=1.5)
    intruder.wait_event("recorded", 10.0, call=call)
    samples, _ = read_mono(tmp_path / "refusal.wav")
    assert np.sqrt(np.mean(samples**2)) > 0.01, "the refusal prompt was not heard"
    intruder.wait_bye(call, 15.0)
    _wait_log(switch, "reason=supervisor-code extension=1003", 5.0)
    # The call it aimed at is untouched.
    levels = _record(parties, tmp_path, "untouched")
    assert levels[CALLER][AGENT] > HEARD_DB and levels[AGENT][CALLER] > HEARD_DB


def test_the_api_rings_the_supervisor_whispers_then_barges_and_refuses_an_agent(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = _agent_call(switch, pjsua, tmp_path)
    supervisor = _phone(switch, pjsua, SUPERVISOR)

    async def as_agent() -> int:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login(AGENT, f"demo-{AGENT}")
            with pytest.raises(ApiClientError) as refused:
                await api.supervise(AGENT, "listen", extension=SUPERVISOR)
            return refused.value.status

    assert asyncio.run(as_agent()) == 403

    async def supervise() -> tuple[int, list[str]]:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login("supervisor", "demo-supervisor")
            async with await api.events(["supervision_started"]) as events:
                started = await api.supervise(AGENT, "whisper")
                assert started.state == "ringing" and started.supervisor == SUPERVISOR
                incoming = await asyncio.to_thread(supervisor.wait_incoming, 5.0)
                supervisor.send("answer", call=incoming["call"])
                event = await events.next(timeout_s=5.0)
                assert event is not None and event.name == "supervision_started"
                assert event.data["mode"] == "whisper" and event.data["agent"] == AGENT
            return started.supervision_id, [incoming["call"]]

    supervision_id, (sup_call,) = asyncio.run(supervise())
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    _play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties[SUPERVISOR] = (supervisor, sup_call)
    _check(_record(parties, tmp_path, "api-whisper"), "whisper")

    async def barge_then_stop(stop: bool) -> str:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login("supervisor", "demo-supervisor")
            if stop:
                await api.stop_supervision(supervision_id)
                return "stopped"
            changed = await api.change_supervision(supervision_id, "barge")
            return changed.mode

    assert asyncio.run(barge_then_stop(False)) == "barge"
    _check(_record(parties, tmp_path, "api-barge"), "barge")
    assert asyncio.run(barge_then_stop(True)) == "stopped"
    supervisor.wait_bye(sup_call, 5.0)
    after = _record({CALLER: parties[CALLER], AGENT: parties[AGENT]}, tmp_path, "api-after")
    assert after[CALLER][AGENT] > HEARD_DB and after[AGENT][CALLER] > HEARD_DB, after
