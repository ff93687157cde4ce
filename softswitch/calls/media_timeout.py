"""Which answered call a party has vanished from without a BYE (as Asterisk's rtptimeout):
the rule `Signalling.reap_silent_calls` applies to every call, kept pure for its tests."""

from __future__ import annotations

from softswitch.calls.call import Call


def vanished(call: Call, now: float, limit: float) -> bool:
    """A party silent past `limit` seconds is gone; on hold, only when every party is."""
    # A leg still ringing sends nothing yet: only answered parties count.
    legs = [(leg, leg.media) for leg in call.live_legs() if leg.up and leg.media is not None]
    idle = [media.idle_seconds(now) > limit for _, media in legs]
    if any(leg.held for leg, _ in legs):
        return all(idle)
    return any(idle)
