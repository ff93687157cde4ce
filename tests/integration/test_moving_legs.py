"""Moving a caller's leg between applications through the control layer, with real softphones.

The switch runs in this process (on its own loop, in a thread) so that the test can use
`calls/control.py` as the API will: 1001 calls the echo line and hears itself, is moved to a
bridge that rings 1002 and hears 1002's tone, then is moved back to the echo and hears itself
again; the caller's dialog is untouched meanwhile (the switch sends one INVITE, to 1002).
Then control holds (silence), resumes (answered) and hangs up the call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop
from audio import dominant_frequency, voiced_seconds, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import SwitchPorts, dump_toml, free_port, free_rtp_range, switch_config

from softswitch.app import Switch
from softswitch.calls.control import (
    CallAnswered,
    CallControl,
    CallEnded,
    ControlEvent,
    LegAttached,
    LegChanged,
)
from softswitch.config import load_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T = TypeVar("T")
RECORD_S = 2.5


class SwitchThread:
    """A Switch on its own event loop in a thread; `run` executes a function on that loop."""

    def __init__(self, switch: Switch) -> None:
        self.switch = switch
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(switch.start())

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 15.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def run(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.call(wrapped())

    @property
    def control(self) -> CallControl:
        assert self.switch.b2bua is not None
        return self.switch.b2bua.control

    def invites_sent(self) -> int:
        transport = self.switch.transport
        assert transport is not None
        return self.run(lambda: transport.counters.requests_out.get("INVITE", 0))

    def stop(self) -> None:
        self.call(self.switch.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        self.loop.close()


@pytest.fixture
def in_process_switch(tmp_path: Path) -> Iterator[SwitchThread]:
    ports = SwitchPorts(free_port(), free_rtp_range(), free_port(), free_port())
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = tmp_path / "softswitch.toml"
    path.write_text(dump_toml(switch_config(ports, data_dir)))
    running = SwitchThread(Switch(load_config(path)))
    try:
        yield running
    finally:
        running.stop()


def test_a_caller_moved_echo_bridge_echo_keeps_its_dialog_and_hears_each(
    in_process_switch: SwitchThread, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    sw = in_process_switch
    port = sw.switch.config.sip.port
    events = sw.run(sw.control.subscribe)
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(port, "1001", "demo-1001")
    bob.register(port, "1002", "demo-1002")
    call = alice.call(f"sip:9196@127.0.0.1:{port}")
    alice.wait_call_state(call, "CONFIRMED", 5.0)
    alice.play_and_record(
        call, write_tone(tmp_path / "600.wav", 600.0, 20.0), tmp_path / "1.wav", RECORD_S
    )
    alice.wait_event("recorded", 8.0, call=call)

    (view,) = sw.run(sw.control.calls)
    (caller_leg,) = view.legs
    assert caller_leg.application == "echo" and caller_leg.state == "answered"
    sw.run(lambda: sw.control.move(view.call_id, caller_leg.leg_id, "extension", "1002"))
    incoming = bob.wait_incoming(5.0)
    bob_call = incoming["call"]
    bob.send("play", call=bob_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 20.0)))
    bob.send("answer", call=bob_call)
    bob.wait_call_state(bob_call, "CONFIRMED", 5.0)
    (bridged,) = sw.run(sw.control.calls)
    assert [leg.application for leg in bridged.legs] == ["bridge", "bridge"]
    assert bridged.legs[0].media_port == caller_leg.media_port  # the caller's endpoint stayed
    alice.send("record", call=call, path=str(tmp_path / "2.wav"), seconds=RECORD_S)
    alice.wait_event("recorded", 8.0, call=call)

    sw.run(lambda: sw.control.move(view.call_id, caller_leg.leg_id, "echo"))
    bob.wait_bye(bob_call, 5.0)
    alice.send("record", call=call, path=str(tmp_path / "3.wav"), seconds=RECORD_S)
    alice.wait_event("recorded", 8.0, call=call)
    (back,) = sw.run(sw.control.calls)
    assert [leg.application for leg in back.legs] == ["echo"]

    assert dominant_frequency(tmp_path / "1.wav") == pytest.approx(600.0, abs=15.0)
    assert dominant_frequency(tmp_path / "2.wav") == pytest.approx(1000.0, abs=15.0)
    assert dominant_frequency(tmp_path / "3.wav") == pytest.approx(600.0, abs=15.0)
    assert voiced_seconds(tmp_path / "3.wav", skip_s=0.2) > RECORD_S - 0.6
    # One INVITE in all, the one to 1002: nothing new toward the caller, not even a re-INVITE.
    assert sw.invites_sent() == 1

    # Hold and resume from the control layer: our re-INVITEs; on hold the echo falls silent.
    # Recording starts once the phone answered it (it rebuilds its audio stream then).
    seen: list[ControlEvent] = []

    def wait_for(change: str) -> None:
        """Read the event stream until a LegChanged `change`, or CallEnded for "call ended"."""
        while True:
            event = sw.call(asyncio.wait_for(events.__anext__(), 5.0))
            seen.append(event)
            if isinstance(event, LegChanged) and event.change == change:
                return
            if isinstance(event, CallEnded) and change == "call ended":
                return

    sw.run(lambda: sw.control.hold(view.call_id, caller_leg.leg_id))
    wait_for("renegotiated")
    alice.send("record", call=call, path=str(tmp_path / "4.wav"), seconds=RECORD_S)
    alice.wait_event("recorded", 8.0, call=call)
    assert voiced_seconds(tmp_path / "4.wav") < 0.3
    sw.run(lambda: sw.control.resume(view.call_id, caller_leg.leg_id))
    wait_for("renegotiated")  # pjsua2 answered our sendrecv offer
    assert sw.invites_sent() == 3

    sw.run(lambda: sw.control.hang_up(view.call_id))
    alice.wait_call_state(call, "DISCONNECTED", 5.0)
    wait_for("call ended")
    sw.run(events.close)
    attached = [e.application for e in seen if isinstance(e, LegAttached)]
    assert attached == ["echo", "bridge", "echo"]
    assert sum(isinstance(e, CallAnswered) for e in seen) == 1
