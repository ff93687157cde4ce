"""What a call detail record says about a call: its direction, disposition and who hung up,
and what the channels of its recording hold.

Call control (`calls/`) and the recorder (`media/`) decide these facts and the store (`store/`)
keeps them; none of them may import the store or be imported by it, so the one definition lives
here, below all, and imports nothing of ours. The values are the text stored in the `cdr` and
`recording` tables and shown in metrics labels.
"""

from __future__ import annotations

from enum import StrEnum


class CallDirection(StrEnum):
    INTERNAL = "internal"  # extension to extension (or to a feature)
    INBOUND = "inbound"  # trunk to extension or feature
    OUTBOUND = "outbound"  # extension to trunk
    TRANSIT = "transit"  # trunk to trunk


class Disposition(StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"
    FAILED = "failed"
    UNKNOWN_NUMBER = "unknown_number"


class Side(StrEnum):
    """A party of a call: a leg's role, and who ended the call (the switch itself included)."""

    CALLER = "caller"
    CALLEE = "callee"
    SWITCH = "switch"


class ChannelLayout(StrEnum):
    """What the channels of a call recording hold (media/ writes it, store/ keeps it)."""

    STEREO = "stereo"  # left: the caller; right: the other party
    MIX = "mix"  # one channel: a conference's mix of every participant
