"""Which calls are recorded, and when: a bridged call whose extension or trunk has
`record = true` is recorded from the moment its two legs are connected until it ends.

`CallRecordings` is asked by `BridgeApplication` when its legs connect (a callee answered, a
queue's agent bridge joined): if the config records the call, both legs move into the tick
engine (`services.take_audio`) and media/call_recording.py's `RecordingTaps` relays them and
feeds the recorder. As a call observer it stops the recording when the call ends; the control
layer pauses and resumes it by call.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from softswitch.calls.audio import NoAgreedCodec
from softswitch.media.call_recording import RecordingTaps
from softswitch.media.recorder import Recording

if TYPE_CHECKING:
    from collections.abc import Callable

    from softswitch.calls.application import Application, CallServices
    from softswitch.calls.call import Call
    from softswitch.calls.leg import Leg, LegEvent
    from softswitch.calls.routing import RouteTarget
    from softswitch.config_recording import RecordingConfig

log = logging.getLogger(__name__)


class CallRecordings:
    """The switch's recorded calls, by call; `taps` does the audio."""

    def __init__(self, taps: RecordingTaps, config: RecordingConfig) -> None:
        self.taps = taps
        self.config = config
        # Told (call, "recording" | "paused") when a recording starts, pauses or resumes: the
        # API's call_recording event, the console's recording mark.
        self.listeners: list[Callable[[Call, str], None]] = []

    def mark(self, call: Call) -> str:
        """ "recording", "paused" or "none": what the console's calls table shows."""
        recording = self.recording_of(call)
        if recording is None:
            return "none"
        return "paused" if recording.paused else "recording"

    def _told(self, call: Call) -> None:
        for listener in self.listeners:
            listener(call, self.mark(call))

    def wants(self, call: Call, target: RouteTarget) -> bool:
        """Whether the config records this bridge: an extension in it (the caller's, the one
        dialled), or its trunk (the caller's inbound one, the one dialled out)."""
        numbers = [call.caller]
        if target.kind == "extension":
            numbers.append(target.target)
        outbound = target.target if target.kind == "trunk" else None
        return self.config.records_call(extensions=numbers, trunk=outbound) or (
            self.config.records_call(trunk=call.trunk)
        )

    def bridge_connected(
        self,
        services: CallServices,
        call: Call,
        party: Leg,
        callee: Leg,
        target: RouteTarget,
        agent: str | None = None,
    ) -> Recording | None:
        """A bridge's two legs are connected: if the call is to be recorded, move both into the
        engine (the taps relay them from the next tick) and start its file."""
        if not self.wants(call, target) or party.media is None or callee.media is None:
            return None
        try:
            caller_leg = services.take_audio(call, party)
            callee_leg = services.take_audio(call, callee)
        except NoAgreedCodec as exc:
            log.warning("call %d not recorded: %s", call.id, exc)
            services.release_audio(party)
            if party.media is not None and callee.media is not None:
                party.media.bridge(callee.media)
            return None
        recording = self.taps.start_pair(
            call.id,
            call.caller_leg.invite.call_id,
            caller_leg,
            callee_leg,
            caller_name=call.caller,
            callee_name=target.number,
            agent=agent,
        )
        self._told(call)
        return recording

    def recording_of(self, call: Call) -> Recording | None:
        return self.taps.recording_of(call.id)

    def pause(self, call: Call) -> bool:
        paused = self.taps.pause(call.id)
        self._told(call)
        return paused

    def resume(self, call: Call) -> bool:
        resumed = self.taps.resume(call.id)
        self._told(call)
        return resumed

    # ---- the call observer (calls/signalling.py): a call's end closes its file -----------
    def call_started(self, call: Call) -> None:
        pass

    def call_answered(self, call: Call) -> None:
        pass

    def call_ended(self, call: Call) -> None:
        self.taps.stop(call.id)

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None:
        pass

    def leg_event(self, call: Call, event: LegEvent) -> None:
        pass
