"""Caller (queue entry) states and their one transition table.

A callback entry has no leg while it waits: it is its own state, so a later hang-up of the
original leg, or a sweep of vanished legs, cannot remove it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from softswitch.acd.errors import InvalidRequest
from softswitch.acd.model import Requirement


class CallerState(Enum):
    WAITING = "waiting"
    OFFERED = "offered"  # one or more agents ringing; the caller keeps its place
    CALLBACK_WAITING = "callback waiting"  # no leg: waits at the original position
    CALLBACK_OFFERED = "callback offered"  # the agent is rung first
    CALLBACK_DIALING = "callback dialing"  # the agent answered: the caller's number is dialled
    CONNECTED = "connected"  # talking to an agent; no longer waiting


class CallerTrigger(Enum):
    OFFER = "offer"
    OFFERS_ENDED = "offers ended"
    ANSWER = "answer"
    CALLBACK_REQUESTED = "callback requested"
    CALLBACK_ANSWERED = "callback answered"
    CALLBACK_FAILED = "callback failed"


S, T = CallerState, CallerTrigger
TRANSITIONS: Final[dict[tuple[CallerState, CallerTrigger], CallerState]] = {
    (S.WAITING, T.OFFER): S.OFFERED,
    (S.OFFERED, T.OFFER): S.OFFERED,  # ring-progressively adds an agent
    (S.OFFERED, T.OFFERS_ENDED): S.WAITING,
    (S.OFFERED, T.ANSWER): S.CONNECTED,
    (S.WAITING, T.CALLBACK_REQUESTED): S.CALLBACK_WAITING,
    (S.OFFERED, T.CALLBACK_REQUESTED): S.CALLBACK_WAITING,
    (S.CALLBACK_WAITING, T.OFFER): S.CALLBACK_OFFERED,
    (S.CALLBACK_OFFERED, T.OFFER): S.CALLBACK_OFFERED,
    (S.CALLBACK_OFFERED, T.OFFERS_ENDED): S.CALLBACK_WAITING,
    (S.CALLBACK_OFFERED, T.ANSWER): S.CALLBACK_DIALING,
    (S.CALLBACK_DIALING, T.CALLBACK_ANSWERED): S.CONNECTED,
    (S.CALLBACK_DIALING, T.CALLBACK_FAILED): S.CALLBACK_WAITING,
}
del S, T

QUEUED: Final = frozenset(
    {
        CallerState.WAITING,
        CallerState.OFFERED,
        CallerState.CALLBACK_WAITING,
        CallerState.CALLBACK_OFFERED,
    }
)
OFFERING: Final = frozenset({CallerState.OFFERED, CallerState.CALLBACK_OFFERED})
READY_FOR_OFFER: Final = frozenset({CallerState.WAITING, CallerState.CALLBACK_WAITING})
ON_THE_LINE: Final = frozenset({CallerState.WAITING, CallerState.OFFERED})  # has a leg, waiting


def next_state(state: CallerState, trigger: CallerTrigger, call: str) -> CallerState:
    """The state `trigger` leads to from `state`; a pair the table lacks is refused."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidRequest(f"call {call}: cannot {trigger.value} when {state.value}") from None


@dataclass
class Caller:
    """One queue entry. `entry_time` is the first queue's entry (kept across overflow), which
    orders callers; `queue_entry_time` starts max wait and widening in the current queue."""

    call: str
    queue: str
    priority: int
    entry_time: float
    queue_entry_time: float
    seq: int
    requirements: tuple[Requirement, ...]  # the current queue's, merged with the extra ones
    extra_requirements: tuple[Requirement, ...] = ()  # from the IVR: kept across overflow
    caller_number: str = ""
    state: CallerState = CallerState.WAITING
    original_position: int = 1
    offers: dict[str, float] = field(default_factory=dict)  # agent -> ring deadline
    offer_order: list[str] = field(default_factory=list)  # ring-progressively: next agents
    next_progressive: float | None = None
    offered_at: float = 0.0
    agent: str | None = None
    answered_by: str = ""  # a phone that is no agent of the queue picked the call up
    connected_at: float = 0.0
    callback_number: str = ""
    callback_attempts: int = 0
    not_before: float = 0.0  # a callback retry waits (keeping its place) until this
    dial_deadline: float = 0.0
    ewt_at_entry_s: float | None = None
    only_agent: str = ""  # back to the same agent (an IVR flow's queue node): nobody else rings

    def sort_key(self) -> tuple[float, int]:
        return (self.entry_time, self.seq)
