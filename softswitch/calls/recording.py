"""Which calls are recorded, and when: a bridged call whose extension or trunk has
`record = true` is recorded from the moment its two legs are connected until it ends.

`BridgeApplication` asks `wants` before it connects its legs (a callee answered, a queue's agent
bridge joined): a recorded bridge of one G.711 codec stays on the relay, its packets tapped; in
other codecs it connects its legs in the tick engine, each in its own codec (one path for
recorded and transcoded calls, RFC 4733 digits passed across). Then `bridge_connected` starts
the file, which media/call_recording.py's `RecordingTaps` feeds from the two media endpoints
until the call ends, across hold and resume. As a call observer it stops
the recording when the call ends; the control layer pauses and resumes it by call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softswitch.media.call_recording import RecordingTaps
from softswitch.media.recorder import Recording

if TYPE_CHECKING:
    from collections.abc import Callable

    from softswitch.calls.application import Application
    from softswitch.calls.call import Call
    from softswitch.calls.leg import Leg, LegEvent
    from softswitch.calls.routing import RouteTarget
    from softswitch.config_recording import RecordingConfig


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
        call: Call,
        party: Leg,
        callee: Leg,
        target: RouteTarget,
        agent: str | None = None,
        *,
        relayed: bool = False,
    ) -> Recording | None:
        """A recorded bridge's two legs are connected (relayed, or in the engine): start its
        file."""
        if party.media is None or callee.media is None:
            return None
        recording = self.taps.start_pair(
            call.id,
            call.caller_leg.invite.call_id,
            party.media,
            callee.media,
            caller_name=call.caller,
            callee_name=target.number,
            agent=agent,
            relayed=relayed,
        )
        self._told(call)
        return recording

    def recording_of(self, call: Call) -> Recording | None:
        return self.taps.recording_of(call.id)

    def stop(self, call: Call) -> None:
        """The bridge is over (the party moved away, a transfer took a leg): the file ends."""
        self.taps.stop(call.id)

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
