"""What the ACD core produces: commands for the call layer, agent state changes, and queue-log
entries with Asterisk's event names (so report tools that read queue_log understand them)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from softswitch.acd.agent import AgentState
from softswitch.acd.model import Target


class QueueLogEvent(StrEnum):
    ENTERQUEUE = "ENTERQUEUE"
    RINGNOANSWER = "RINGNOANSWER"
    RINGCANCELED = "RINGCANCELED"
    CONNECT = "CONNECT"
    COMPLETECALLER = "COMPLETECALLER"
    COMPLETEAGENT = "COMPLETEAGENT"
    ABANDON = "ABANDON"
    EXITWITHTIMEOUT = "EXITWITHTIMEOUT"
    EXITWITHKEY = "EXITWITHKEY"
    EXITEMPTY = "EXITEMPTY"
    TRANSFER = "TRANSFER"
    PAUSE = "PAUSE"
    UNPAUSE = "UNPAUSE"
    AGENTLOGIN = "AGENTLOGIN"
    AGENTLOGOFF = "AGENTLOGOFF"
    WRAPUPSTART = "WRAPUPSTART"
    CALLBACKREQUEST = "CALLBACKREQUEST"
    CALLBACKATTEMPT = "CALLBACKATTEMPT"
    CALLBACKFAILED = "CALLBACKFAILED"
    CALLBACKGIVEUP = "CALLBACKGIVEUP"
    OUTBOUND = "OUTBOUND"  # an agent dialled out through a trunk (data: the number dialled)


@dataclass(frozen=True)
class QueueLogEntry:
    """One queue_log row: `data` holds the event's extra fields in Asterisk's order."""

    time: float
    event: QueueLogEvent
    queue: str = ""
    call: str = ""
    agent: str = ""
    wait_s: float = 0.0
    talk_s: float = 0.0
    data: tuple[str, ...] = ()


class ExitReason(Enum):
    TIMEOUT = "timeout"  # max wait
    KEY = "key"
    JOIN_EMPTY = "join empty"
    LEAVE_EMPTY = "leave empty"
    FULL = "full"


@dataclass(frozen=True)
class OfferCall:
    """Ring `agent` for `call`; for a callback the agent hears whom it is for, then the
    engine asks for the caller to be dialled."""

    call: str
    agent: str
    queue: str
    caller_number: str
    ring_timeout_s: float
    callback: bool = False


@dataclass(frozen=True)
class CancelOffer:
    """Stop ringing `agent` for `call` (another agent answered, the caller left, a timeout)."""

    call: str
    agent: str


@dataclass(frozen=True)
class ConnectAgent:
    """The agent answered: bridge the caller's leg to the agent's."""

    call: str
    agent: str
    queue: str


@dataclass(frozen=True)
class DialCallback:
    """The agent is connected: dial the caller back at `number` (attempt 1, 2, ...)."""

    call: str
    agent: str
    queue: str
    number: str
    attempt: int
    timeout_s: float


@dataclass(frozen=True)
class EndCallback:
    """A callback attempt failed: release the agent's leg."""

    call: str
    agent: str


@dataclass(frozen=True)
class CallbackKeyPressed:
    """The caller pressed the callback key: confirm `caller_number` with them, then call
    `Engine.request_callback`; until then the caller keeps waiting."""

    call: str
    queue: str
    caller_number: str


@dataclass(frozen=True)
class CallerMoved:
    """The caller overflowed into another queue, keeping its original entry time."""

    call: str
    from_queue: str
    to_queue: str


@dataclass(frozen=True)
class CallerExited:
    """The caller leaves the queue for `target` (voicemail, a flow, hang-up)."""

    call: str
    queue: str
    reason: ExitReason
    target: Target


@dataclass(frozen=True)
class AgentStateChanged:
    agent: str
    old: AgentState
    new: AgentState
    reason: str
    at: float


AcdEvent = (
    QueueLogEntry
    | OfferCall
    | CancelOffer
    | ConnectAgent
    | DialCallback
    | EndCallback
    | CallbackKeyPressed
    | CallerMoved
    | CallerExited
    | AgentStateChanged
)
