"""A supervised call's parties for the supervision tests: 1002 (the caller, 440 Hz) calls
1001 (the agent, 1000 Hz); 1006 is the demo supervisor's phone (1600 Hz). What each party
recorded is measured by FFT and checked against what the supervisor's mode lets it hear.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from audio import read_mono, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from spectrum import level_db as _spectrum_level_db

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


def wait_log(switch: Switch, text: str, timeout_s: float) -> None:
    """Until the switch's log holds `text` (a condition with a deadline, polled)."""
    deadline = time.monotonic() + timeout_s
    while text not in switch.log_path.read_text(errors="replace"):
        switch.assert_running()
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log; tail:\n{switch.log_tail()}")
        time.sleep(0.05)


def phone(switch: Switch, pjsua: Callable[[str], PjsuaPeer], user: str) -> PjsuaPeer:
    phone = pjsua(user)
    phone.register(switch.sip_port, user, f"demo-{user}")
    return phone


def play(phone: PjsuaPeer, call: int, tmp_path: Path, user: str) -> None:
    tone = write_tone(tmp_path / f"{user}.wav", TONES_HZ[user], 60.0)
    phone.send("play", call=call, path=str(tone))


def agent_call(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> dict[str, Party]:
    caller, agent = phone(switch, pjsua, CALLER), phone(switch, pjsua, AGENT)
    caller_call = caller.call(switch.uri(AGENT))
    agent_call = agent.wait_incoming(5.0)["call"]
    agent.send("answer", call=agent_call)
    caller.wait_call_state(caller_call, "CONFIRMED", 5.0)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    play(caller, caller_call, tmp_path, CALLER)
    play(agent, agent_call, tmp_path, AGENT)
    return {CALLER: (caller, caller_call), AGENT: (agent, agent_call)}


def record(parties: dict[str, Party], tmp_path: Path, tag: str) -> dict[str, dict[str, float]]:
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


def check(levels: dict[str, dict[str, float]], mode: str) -> None:
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
