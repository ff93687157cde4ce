"""Answer from a screen, end to end: `POST /api/v1/calls/{id}/answer` against pjsua2 phones.

The agent's phone never answers by itself. Like a desk phone, though, it answers an INVITE
whose Call-Info says `answer-after=0` at once (tests/peers/pjsua_peer.py reads the header:
pjsua2 has no such option). The switch CANCELs the ringing INVITE and sends that one; the
queue offer stays the same offer (no RINGNOANSWER, the agent stays offered until the answer),
and caller and agent hear each other (FFT).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_events import EventCollector, api_call, wait_api
from audio import write_tone
from peers.pjsua import PeerError, PjsuaPeer
from running_switch import Switch, start_switch
from test_call_centre import (
    caller_and_agent_hear_each_other,
    centre_config,
    dial_sales,
    events,
    log_in,
    wait_queue_log,
)

from softswitch.api.client import ApiClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SUPERVISOR = ("supervisor", "demo-supervisor")


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Any:
    sw = start_switch(tmp_path, carrier_port, edit=centre_config(ring_timeout_s=15))
    try:
        yield sw
    finally:
        sw.stop()


def _refused(url: str, user: str, call_id: int, extension: str | None = None) -> int:
    async def step(api: Any) -> int:
        try:
            await api.answer(call_id, extension)
        except ApiClientError as exc:
            return exc.status
        return 0

    return api_call(url, user, f"demo-{user}", step)


def test_an_agent_answers_a_queue_offer_from_the_screen_and_both_talk(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    agent.send("auto_answer", on=True)
    agent.wait_event("auto_answer", 5.0)
    log_in(centre, agent, "1001")
    answered = EventCollector(url, "1001", "demo-1001", ["call_answered"])
    try:
        call = dial_sales(centre, caller, tmp_path)
        first = agent.wait_incoming(10.0)
        assert "answer-after" not in first["call_info"]  # an ordinary offer: it just rings
        (queued,) = api_call(url, *SUPERVISOR, lambda api: api.calls())
        seen = api_call(url, "1001", "demo-1001", lambda api: api.agent("1001"))
        assert seen["state"] == "offered"
        assert _refused(url, "1002", queued.call_id, "1001") == 403  # not 1002's phone
        assert _refused(url, "1002", queued.call_id) == 409  # 1002's phone is not ringing

        answering = api_call(url, "1001", "demo-1001", lambda api: api.answer(queued.call_id))
        assert answering["extension"] == "1001"
        agent.wait_call_state(first["call"], "DISCONNECTED", 5.0)  # the CANCEL
        second = agent.wait_incoming(5.0)
        assert "answer-after=0" in second["call_info"]
        assert "info=alert-autoanswer" in second["alert_info"]
        agent_call = second["call"]
        tone = write_tone(tmp_path / "1000.wav", 1000.0, 20.0)
        agent.send("play", call=agent_call, path=str(tone))
        agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
        rows = wait_queue_log(centre, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
        assert [e for e, *_ in events(rows)].count("RINGNOANSWER") == 0
        assert [e for e, *_ in events(rows)].count("CONNECT") == 1
        got = answered.wait(lambda evs: any(e.data.get("by") == "api" for e in evs), 5.0)
        by_api = next(e for e in got if e.data.get("by") == "api")
        assert by_api.data["call_id"] == queued.call_id
        assert (by_api.data["extension"], by_api.data["leg_id"]) == ("1001", answering["leg_id"])
        of_leg = [e for e in got if e.data.get("leg_id") == answering["leg_id"]]
        assert len(of_leg) == 1, got  # one call_answered per answer, not one more for the screen
        seen = api_call(url, "1001", "demo-1001", lambda api: api.agent("1001"))
        assert seen["state"] == "on call"
        caller_and_agent_hear_each_other(caller, call, agent, agent_call, tmp_path)
        assert _refused(url, "1001", queued.call_id) == 409  # answered: nothing rings now
        caller.send("hangup", call=call)
        agent.wait_bye(agent_call, 5.0)
    finally:
        answered.close()


def test_a_direct_call_ringing_two_phones_re_rings_one_and_cancels_the_other_on_answer(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """Extension 1002 has two phones registered; a screen answers for 1002. One phone gets the
    auto-answer INVITE; the other keeps ringing until that one answers, then is cancelled."""
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    desk, soft, caller = pjsua("desk-1002"), pjsua("soft-1002"), pjsua("caller-1003")
    for phone in (desk, soft):
        phone.send("auto_answer", on=True)
        phone.register(centre.sip_port, "1002", "demo-1002")
    caller.register(centre.sip_port, "1003", "demo-1003")
    call = caller.call(centre.uri("1002"))
    rung = {phone.name: phone.wait_incoming(10.0) for phone in (desk, soft)}
    (direct,) = api_call(url, "admin", "demo-admin", lambda api: api.calls())
    api_call(url, "admin", "demo-admin", lambda api: api.answer(direct.call_id, "1002"))

    phone, answering = _auto_answer_invite((desk, soft), 5.0)
    other = soft if phone is desk else desk
    phone.wait_call_state(rung[phone.name]["call"], "DISCONNECTED", 5.0)  # the CANCEL
    # The answer is the phone's 200 (`auto_answering` is written just before it leaves): the
    # switch's ACK to it and its CANCEL to the other phone go in one flush, so the answering
    # phone's CONFIRMED cannot be ordered against that CANCEL, but the 200 comes before both.
    answered = phone.wait_event("auto_answering", 5.0, call=answering["call"])
    phone.wait_call_state(answering["call"], "CONFIRMED", 5.0)
    ended = other.wait_call_state(rung[other.name]["call"], "DISCONNECTED", 5.0)
    assert ended["at"] >= answered["at"]  # the other phone rang on until the answer
    assert not any(_auto_invite(e) for e in other.events)  # and was never re-rung
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    tone = write_tone(tmp_path / "1000.wav", 1000.0, 20.0)
    phone.send("play", call=answering["call"], path=str(tone))
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", 440.0, 20.0)))
    caller_and_agent_hear_each_other(caller, call, phone, answering["call"], tmp_path)
    caller.send("hangup", call=call)
    phone.wait_bye(answering["call"], 5.0)


def _auto_invite(event: dict[str, Any]) -> bool:
    return event["event"] == "incoming_call" and "answer-after=0" in event["call_info"]


def _auto_answer_invite(
    phones: tuple[PjsuaPeer, ...], timeout_s: float
) -> tuple[PjsuaPeer, dict[str, Any]]:
    """The phone that got an INVITE with auto-answer headers, and that event."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for phone in phones:
            with contextlib.suppress(PeerError):
                return phone, phone.wait_for(_auto_invite, 0.05)
    raise AssertionError(f"no phone got the auto-answer INVITE in {timeout_s} s")


def test_a_click_to_call_is_answered_from_the_screen_then_dials_the_number(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """Originate from 1001 to 1002: 1001's phone rings first; the screen answers it, and the
    switch then dials 1002 from it, as if the phone had picked up."""
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    mine, theirs = pjsua("phone-1001"), pjsua("phone-1002")
    mine.send("auto_answer", on=True)
    mine.register(centre.sip_port, "1001", "demo-1001")
    theirs.register(centre.sip_port, "1002", "demo-1002")
    me = ("1001", "demo-1001")
    call_id = api_call(url, *me, lambda api: api.originate("1001", "1002"))
    first = mine.wait_incoming(10.0)
    assert "answer-after" not in first["call_info"]
    api_call(url, *me, lambda api: api.answer(call_id))
    mine.wait_call_state(first["call"], "DISCONNECTED", 5.0)
    second = mine.wait_incoming(5.0)
    assert "answer-after=0" in second["call_info"]
    mine.send("play", call=second["call"], path=str(write_tone(tmp_path / "440.wav", 440.0, 20.0)))
    mine.wait_call_state(second["call"], "CONFIRMED", 5.0)
    far = theirs.wait_incoming(10.0)["call"]  # dialled only once 1001 is up
    theirs.send("play", call=far, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 20.0)))
    theirs.send("answer", call=far)
    theirs.wait_call_state(far, "CONFIRMED", 5.0)
    caller_and_agent_hear_each_other(mine, second["call"], theirs, far, tmp_path)
    mine.send("hangup", call=second["call"])
    theirs.wait_bye(far, 5.0)
