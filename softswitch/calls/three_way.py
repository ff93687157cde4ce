"""Three-way calling: the two parties of a call and a consulted third one (calls/consult.py) in
a room of their own, mixed by the conference engine (calls/conference.py), with no new dialog
toward anyone: each leg moves from its bridge into the room.

The room is named after the call (`three-way-<call id>`), has no PIN and seats three. Anyone
may leave; the last two keep talking in the room, and the call ends when fewer than two are
left, as Asterisk's three-way does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from softswitch.call_record import Side
from softswitch.calls.conference import ConferenceApplication, Conferences
from softswitch.calls.leg import LegEnded, LegEvent
from softswitch.config_conference import RoomConfig

if TYPE_CHECKING:
    from softswitch.calls.application import CallServices
    from softswitch.calls.call import Call

THREE_WAY_PARTIES = 3


class ThreeWayApplication(ConferenceApplication):
    """The room of one call's three parties."""

    kind = "three_way"

    @classmethod
    def for_call(
        cls, conferences: Conferences, services: CallServices, call: Call
    ) -> ThreeWayApplication:
        room = RoomConfig(
            number=f"three-way-{call.id}",
            name="three-way call",
            max_participants=THREE_WAY_PARTIES,
        )
        return cls(conferences, room, services, call)

    def on_event(self, event: LegEvent) -> None:
        if not isinstance(event, LegEnded):
            super().on_event(event)
            return
        self.conferences.unseat(event.leg)
        call = self.call
        call.attachments.pop(event.leg, None)
        left = [leg for leg in call.live_legs() if call.attachments.get(leg) is self]
        if len(left) < 2:
            side = Side.SWITCH if event.cause == "no ACK" else event.leg.side
            self.services.hang_up(call, side, event.cause)
