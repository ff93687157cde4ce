"""Legs the switch places itself honour the callee's `srtp`: a pjsua2 phone registered over TLS
with SRTP mandatory (it answers only an RTP/SAVP offer with a=crypto, else 488) is reached as
the supervisor's phone rung by the API, as the first leg of an API originate, and as the
agent a queue callback rings first, and as the consulted third party of a three-way call, and
hears what it should (FFT of what it recorded).
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest
from audio import dominant_frequency, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, free_port, start_switch
from supervised_call import AGENT, CALLER, HEARD_DB, SUPERVISOR, agent_call, play, record
from test_attended_dtmf import _consult, _unrecorded
from test_call_centre import centre_config, events, wait_queue_log
from test_queue_callback import book_callback
from test_three_way import HEARD_DB as THREE_WAY_HEARD_DB
from test_three_way import NOT_HEARD_DB, _levels
from two_phones import connect

from softswitch.api.client import ApiClient
from softswitch.certificates import self_signed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOCAL = "127.0.0.1"


def _switch(
    tmp_path: Path, carrier_port: int, mandatory: str, edit: Any = None
) -> tuple[Switch, int]:
    cert, key = self_signed(tmp_path / "switch-tls")
    sw = start_switch(
        tmp_path,
        carrier_port,
        {
            "sip": {"transports": ["udp", "tcp", "tls"]},
            "tls": {"port": free_port(), "certificate": str(cert), "private_key": str(key)},
        },
        extensions={mandatory: {"srtp": "mandatory", "record": False}},
        edit=edit,
    )
    return sw, int(tomllib.loads(sw.config_path.read_text())["tls"]["port"])


def test_the_supervisors_mandatory_srtp_phone_is_rung_with_srtp_and_hears_both(
    tmp_path: Path, carrier_port: int
) -> None:
    sw, tls_port = _switch(tmp_path, carrier_port, SUPERVISOR)
    phones: list[PjsuaPeer] = []

    def pjsua(name: str) -> PjsuaPeer:
        phones.append(PjsuaPeer(name, tmp_path))
        return phones[-1]

    try:
        parties = agent_call(sw, pjsua, tmp_path)  # plain UDP phones, plain RTP
        supervisor = pjsua(SUPERVISOR)
        supervisor.register(tls_port, SUPERVISOR, f"demo-{SUPERVISOR}", "tls", srtp="mandatory")

        async def ring() -> int:
            async with ApiClient(sw.ports.api_url) as api:
                await api.login("supervisor", "demo-supervisor")
                started = await api.supervise(AGENT, "listen")
                assert started.state == "ringing" and started.supervisor == SUPERVISOR
            return int(supervisor.wait_incoming(5.0)["call"])

        call = asyncio.run(ring())
        supervisor.send("answer", call=call)
        supervisor.wait_call_state(call, "CONFIRMED", 5.0)
        supervisor.wait_event("media_active", 5.0, call=call)
        play(supervisor, call, tmp_path, SUPERVISOR)
        parties[SUPERVISOR] = (supervisor, call)
        levels = record(parties, tmp_path, "srtp-listen")
    finally:
        for phone in phones:
            phone.close()
        sw.stop()
    heard = levels[SUPERVISOR]
    assert heard[CALLER] > HEARD_DB and heard[AGENT] > HEARD_DB, heard


def test_an_api_originate_rings_a_mandatory_srtp_phone_with_srtp(
    tmp_path: Path, carrier_port: int
) -> None:
    """POST /api/v1/calls from 1001 (SRTP mandatory over TLS) to the echo test 9196: 1001
    answers the switch's RTP/SAVP offer and hears its own tone back."""
    sw, tls_port = _switch(tmp_path, carrier_port, "1001")
    phone = PjsuaPeer("1001", tmp_path)
    try:
        phone.register(tls_port, "1001", "demo-1001", "tls", srtp="mandatory")

        async def originate() -> None:
            async with ApiClient(sw.ports.api_url) as api:
                await api.login("admin", "demo-admin")
                await api.originate("1001", "9196")

        asyncio.run(originate())
        call = int(phone.wait_incoming(5.0)["call"])
        heard = tmp_path / "echo.wav"
        phone.play_and_record(call, write_tone(tmp_path / "700.wav", 700.0, 6.0), heard, 2.5)
        phone.send("answer", call=call)
        phone.wait_call_state(call, "CONFIRMED", 5.0)
        phone.wait_event("recorded", 10.0, call=call)
        phone.send("hangup", call=call)
    finally:
        phone.close()
        sw.stop()
    assert dominant_frequency(heard, skip_s=0.5) == pytest.approx(700.0, abs=15.0)


def test_a_queue_callback_rings_a_mandatory_srtp_agent_with_srtp_and_they_talk(
    tmp_path: Path, carrier_port: int
) -> None:
    """Agent 1001 (SRTP mandatory, TLS) is paused, 1004 books a callback on queue 600; when
    1001 is ready the switch calls it first with SRTP, then 1004 (plain): tones both ways."""
    base = centre_config(ring_timeout_s=10, max_wait_s=0)

    def edit(cfg: dict[str, Any]) -> None:
        base(cfg)
        sales = next(q for q in cfg["queues"] if q["number"] == "600")
        sales.update(callback_retries=1, callback_retry_delay_s=1, wrap_up_s=0)

    sw, tls_port = _switch(tmp_path, carrier_port, "1001", edit)
    agent, caller = PjsuaPeer("agent-1001", tmp_path), PjsuaPeer("caller-1004", tmp_path)

    def code(digits: str) -> None:
        call = agent.call(f"sip:{digits}@{LOCAL}:{tls_port};transport=tls")
        agent.wait_call_state(call, "CONFIRMED", 5.0)
        agent.wait_bye(call, 10.0)

    try:
        agent.register(tls_port, "1001", "demo-1001", "tls", srtp="mandatory")
        code("*45")  # log in
        wait_queue_log(sw, lambda r: ("AGENTLOGIN", "NONE", "1001") in events(r), 5.0)
        code("*47")  # not ready: the callback waits for the agent
        wait_queue_log(sw, lambda r: ("PAUSE", "NONE", "1001") in events(r), 5.0)
        book_callback(sw, caller, tmp_path)
        code("*48")
        agent_call = agent.wait_incoming(10.0)["call"]  # the switch's SRTP offer
        tone = write_tone(tmp_path / "1000.wav", 1000.0, 30.0)
        agent.send("play", call=agent_call, path=str(tone))
        agent.send("answer", call=agent_call)
        agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
        caller_call = caller.wait_incoming(15.0)["call"]
        tone = write_tone(tmp_path / "440.wav", 440.0, 30.0)
        caller.send("play", call=caller_call, path=str(tone))
        caller.send("answer", call=caller_call)
        caller.wait_call_state(caller_call, "CONFIRMED", 5.0)
        wait_queue_log(sw, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
        caller_heard, agent_heard = tmp_path / "caller-heard.wav", tmp_path / "agent-heard.wav"
        caller.send("record", call=caller_call, path=str(caller_heard), seconds=2.0)
        agent.send("record", call=agent_call, path=str(agent_heard), seconds=2.0)
        caller.wait_event("recorded", 10.0, call=caller_call)
        agent.wait_event("recorded", 10.0, call=agent_call)
        caller.send("hangup", call=caller_call)
        agent.wait_bye(agent_call, 5.0)
    finally:
        agent.close()
        caller.close()
        sw.stop()
    assert dominant_frequency(caller_heard, skip_s=0.3) == pytest.approx(1000.0, abs=20.0)
    assert dominant_frequency(agent_heard, skip_s=0.3) == pytest.approx(440.0, abs=20.0)


def test_a_consulted_mandatory_srtp_phone_joins_a_three_way_call(
    tmp_path: Path, carrier_port: int
) -> None:
    """1001 calls 1002 (plain UDP); 1002 consults 1003 (SRTP mandatory over TLS) with *2 1003 #
    and keys *3: all three hear the two others."""
    sw, tls_port = _switch(tmp_path, carrier_port, "1003", _unrecorded)
    phones: list[PjsuaPeer] = []

    def pjsua(name: str) -> PjsuaPeer:
        phones.append(PjsuaPeer(name, tmp_path))
        return phones[-1]

    try:
        carol = pjsua("1003")
        carol.register(tls_port, "1003", "demo-1003", "tls", srtp="mandatory")
        c = connect(sw, pjsua, tmp_path)
        for phone, call, hz in (
            (c.caller, c.caller_call, 440.0),
            (c.callee, c.callee_call, 1000.0),
        ):
            phone.send("play", call=call, path=str(write_tone(tmp_path / f"{hz}.wav", hz, 60.0)))
        c.callee.wait_event("media_active", 5.0, call=c.callee_call)
        carol_call = _consult(c, carol, tmp_path)  # the switch's SRTP offer to 1003
        carol.send("answer", call=carol_call)
        carol.wait_call_state(carol_call, "CONFIRMED", 5.0)
        c.callee.send("dtmf", call=c.callee_call, digits="*3")
        levels = _levels(
            {
                "1001": (c.caller, c.caller_call),
                "1002": (c.callee, c.callee_call),
                "1003": (carol, carol_call),
            },
            tmp_path,
            "three",
        )
        c.caller.send("hangup", call=c.caller_call)
    finally:
        for phone in phones:
            phone.close()
        sw.stop()
    for user, heard in levels.items():
        for other, level in heard.items():
            if other == user:
                assert level < NOT_HEARD_DB, f"{user} hears itself: {heard}"
            else:
                assert level > THREE_WAY_HEARD_DB, f"{user} does not hear {other}: {heard}"
