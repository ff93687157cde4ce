"""The CTI API against real calls: pjsua2 phones call through the running switch, the API lists
the call, the events arrive in order, and a hang-up through the API sends BYE to both phones
and closes the CDR."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from api_events import EventCollector, api_call, wait_api
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, HANGUP_SWITCH, Switch
from two_phones import Connected, connect

from softswitch.api.client import ApiClient, ApiClientError, CallDetails

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_list_and_hang_up_a_real_call_through_the_api(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    url = switch.ports.api_url
    wait_api(switch.ports.api)
    agent_events = EventCollector(url, "1001", "demo-1001", ["*"])
    other_agent_events = EventCollector(url, "1004", "demo-1004", ["*"])
    try:
        call = connect(switch, pjsua, tmp_path)

        listed = api_call(url, "1001", "demo-1001", lambda api: api.calls())
        assert len(listed) == 1, listed
        seen = listed[0]
        assert (seen.caller, seen.callee, seen.direction, seen.state) == (
            "1001",
            "1002",
            "internal",
            "answered",
        )
        assert [(leg.leg_id, leg.side, leg.state) for leg in seen.legs] == [
            (1, "caller", "answered"),
            (2, "callee", "answered"),
        ]
        assert seen.answered_at is not None

        async def outsider(api: ApiClient) -> tuple[list[CallDetails], int]:
            visible = await api.calls()
            try:
                await api.hang_up(seen.call_id)
            except ApiClientError as exc:
                return visible, exc.status
            return visible, 204

        assert api_call(url, "1004", "demo-1004", outsider) == ([], 403)
        switch.assert_running()

        api_call(url, "1001", "demo-1001", lambda api: api.hang_up(seen.call_id))

        call.caller.wait_bye(call.caller_call, 5.0)
        call.callee.wait_bye(call.callee_call, 5.0)
        row = switch.closed_cdr()
        assert (row["caller"], row["callee"]) == ("1001", "1002")
        assert row["disposition"] == DISPOSITION_ANSWERED
        assert row["hangup_side"] == HANGUP_SWITCH
        assert row["hangup_cause"] == "hung up through the API"

        events = agent_events.wait(lambda e: any(x.name == "call_ended" for x in e), 5.0)
        # The example config records every bridged call: its recording mark comes too.
        marks = [e.data for e in events if e.name == "call_recording"]
        assert marks == [{"call_id": seen.call_id, "state": "recording"}]
        assert seen.recording == "recording"
        events = [e for e in events if e.name != "call_recording"]
        assert [(e.name, e.data["call_id"]) for e in events] == [
            ("call_created", seen.call_id),
            ("call_answered", seen.call_id),
            ("call_ended", seen.call_id),
        ]
        assert events[0].data == {
            "call_id": seen.call_id,
            "caller": "1001",
            "callee": "1002",
            "direction": "internal",
            "trunk": None,  # a call between phones
        }
        assert (events[2].data["disposition"], events[2].data["side"]) == ("answered", "switch")
        assert other_agent_events.events == []  # 1004 is no party of the call
        assert api_call(url, "admin", "demo-admin", lambda api: api.calls()) == []
    finally:
        agent_events.close()
        other_agent_events.close()


def _record_both(call: Connected, tmp_path: Path, label: str) -> tuple[Path, Path]:
    """What each phone hears over the next 2 s."""
    heard = (tmp_path / f"alice-{label}.wav", tmp_path / f"bob-{label}.wav")
    for peer, slot, path in (
        (call.caller, call.caller_call, heard[0]),
        (call.callee, call.callee_call, heard[1]),
    ):
        peer.send("record", call=slot, path=str(path), seconds=2.0)
    for peer, slot, path in (
        (call.caller, call.caller_call, heard[0]),
        (call.callee, call.callee_call, heard[1]),
    ):
        peer.wait_event("recorded", 10.0, call=slot, path=str(path))
    return heard


def test_hold_through_the_api_plays_music_to_the_held_party_and_resume_restores_the_audio(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    url = switch.ports.api_url
    wait_api(switch.ports.api)
    call = connect(switch, pjsua, tmp_path)
    call.caller.send(
        "play", call=call.caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 5.0))
    )
    call.callee.send(
        "play", call=call.callee_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 5.0))
    )
    call_id = api_call(url, "supervisor", "demo-supervisor", lambda api: api.calls())[0].call_id

    async def hold(api: ApiClient) -> CallDetails:
        await api.hold(call_id, 2)
        return await api.call(call_id)

    held = api_call(url, "supervisor", "demo-supervisor", hold)
    assert [leg.held for leg in held.legs] == [False, True]
    alice_heard, bob_heard = _record_both(call, tmp_path, "held")
    assert voiced_seconds(alice_heard, skip_s=0.2) < 0.2, "the caller still hears the held party"
    # The held party hears music on hold, not the caller's 440 Hz.
    assert voiced_seconds(bob_heard, skip_s=0.2) > 1.5, "the held party hears no music"
    assert abs(dominant_frequency(bob_heard, skip_s=0.2) - 440.0) > 20.0

    api_call(url, "1001", "demo-1001", lambda api: api.resume(call_id, 2))
    alice_heard, bob_heard = _record_both(call, tmp_path, "resumed")
    assert voiced_seconds(alice_heard, skip_s=0.2) > 1.2
    assert voiced_seconds(bob_heard, skip_s=0.2) > 1.2
    assert abs(dominant_frequency(alice_heard, skip_s=0.2) - 1000.0) < 20.0
    assert abs(dominant_frequency(bob_heard, skip_s=0.2) - 440.0) < 20.0

    async def resume_again(api: ApiClient) -> int:
        try:
            await api.resume(call_id, 2)
        except ApiClientError as exc:
            return exc.status
        return 204

    assert api_call(url, "admin", "demo-admin", resume_again) == 409
