"""What a leg says and asks for: its settings, the messages it wants sent (the `Outbox`), the
events it reports to its application (`LegRinging`, `LegAnswered`, `LegEnded`, ...). Kept apart
from the state machine (calls/leg.py re-exports every name) so the machine reads on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING

from softswitch.sip.message import Request, Response
from softswitch.sip.refer import ReferTo
from softswitch.sip.sdp import AudioStream, SessionDescription

if TYPE_CHECKING:
    from softswitch.calls.leg import Leg


class Purpose(Enum):
    """What a request of ours is for; the signalling layer routes its responses by it."""

    __hash__ = object.__hash__

    INVITE = auto()
    REINVITE = auto()
    BYE = auto()
    NOTIFY = auto()  # a REFER's progress (RFC 3515 §2.4.4): its answer changes nothing


class EndedBy(Enum):
    REMOTE = "remote"  # the peer: BYE, CANCEL, a final error response
    LOCAL = "local"  # the switch's own command
    TIMEOUT = "timeout"  # no answer to our INVITE, no ACK for our 2xx


# ---- settings and output -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegSettings:
    """What every leg needs to write SIP: our address, Contact and Via for a transport, limits.

    `via(transport)` gives a fresh top Via with a new branch: an id generator, not I/O.
    """

    advertise: str
    contact: Callable[[str], str]
    via: Callable[[str], str]
    allow: str
    user_agent: str
    max_forwards: int = 70


@dataclass(frozen=True, slots=True)
class SendResponse:
    response: Response
    leg: Leg
    first: bool  # the first response of the leg to its INVITE (setup latency is measured here)


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A request that starts a client transaction; the key comes back by `request_sent`."""

    request: Request
    leg: Leg
    purpose: Purpose


@dataclass(frozen=True, slots=True)
class SendAck:
    ack: Request
    leg: Leg


@dataclass(frozen=True, slots=True)
class SendCancel:
    """CANCEL the leg's INVITE transaction (its key is read when the outbox is drained)."""

    cancel: Request
    leg: Leg


Output = SendResponse | SendRequest | SendAck | SendCancel
Outbox = list[Output]


# ---- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegRinging:
    """A provisional response on an outbound leg; `audio` is set for early media (SDP)."""

    leg: Leg
    at: float
    status: int
    reason: str
    audio: AudioStream | None


@dataclass(frozen=True, slots=True)
class LegAnswered:
    """An outbound leg's 2xx, ACKed; `audio` is its SDP answer (or the early one)."""

    leg: Leg
    at: float
    audio: AudioStream | None


@dataclass(frozen=True, slots=True)
class LegEnded:
    """The leg is over. `status`/`reason` are the refusal of an outbound INVITE, if any."""

    leg: Leg
    at: float
    by: EndedBy
    cause: str
    status: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LegReoffered:
    """A re-INVITE with an SDP offer: the application answers it (`answer_reoffer`) or not."""

    leg: Leg
    at: float
    offer: SessionDescription


@dataclass(frozen=True, slots=True)
class LegReofferAnswered:
    """Our re-INVITE on this leg got a 2xx (ACKed); `audio` is the peer's answer."""

    leg: Leg
    at: float
    audio: AudioStream | None


@dataclass(frozen=True, slots=True)
class LegReofferFailed:
    leg: Leg
    at: float
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class LegHeld:
    """The peer put the call on hold (its offer is sendonly, inactive or c=0.0.0.0)."""

    leg: Leg
    at: float


@dataclass(frozen=True, slots=True)
class LegResumed:
    leg: Leg
    at: float


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """A DTMF digit from the peer; `method` is "info" (SIP INFO) or "rfc4733"."""

    leg: Leg
    at: float
    digit: str
    duration_ms: int
    method: str


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """The peer sent REFER in this dialog (RFC 3515), answered 202: where it wants its other
    party to go. The call layer reports back with `Leg.notify_refer`."""

    leg: Leg
    at: float
    refer_to: ReferTo


LegEvent = (
    LegRinging
    | LegAnswered
    | LegEnded
    | LegReoffered
    | LegReofferAnswered
    | LegReofferFailed
    | LegHeld
    | LegResumed
    | DigitReceived
    | TransferRequested
)
