"""Agent states and their one transition table; every other module asks this one.

Wrap-up is a state of its own, so wallboards see it (Asterisk PR #1377 left it invisible), and
an offer always has a deadline, so no agent can stay reserved (FreeSWITCH #2540).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from softswitch.acd.errors import InvalidRequest
from softswitch.acd.model import AgentConfig, Membership


class AgentState(Enum):
    LOGGED_OUT = "logged out"
    READY = "ready"
    NOT_READY = "not ready"
    OFFERED = "offered"  # ringing: reserved for one caller
    ON_CALL = "on call"
    WRAP_UP = "wrap-up"


class AgentTrigger(Enum):
    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    READY = "ready"
    OFFER = "offer"
    ANSWER = "answer"
    OFFER_ENDED = "offer ended"  # no answer, reject, busy, or the caller went elsewhere
    NO_ANSWER_LIMIT = "no answer limit"  # the Nth consecutive no-answer
    PICKUP = "pickup"  # the agent's phone picked up a queue call ringing another agent
    HANGUP = "hangup"  # the queue call ended and the queue has wrap-up time
    HANGUP_NO_WRAP_UP = "hangup without wrap-up"
    HANGUP_PAUSED = "hangup with a pause pending"
    WRAP_UP_END = "wrap-up end"
    WRAP_UP_END_PAUSED = "wrap-up end with a pause pending"


S, T = AgentState, AgentTrigger
TRANSITIONS: Final[dict[tuple[AgentState, AgentTrigger], AgentState]] = {
    (S.LOGGED_OUT, T.LOGIN): S.READY,
    (S.READY, T.LOGOUT): S.LOGGED_OUT,
    (S.NOT_READY, T.LOGOUT): S.LOGGED_OUT,
    (S.WRAP_UP, T.LOGOUT): S.LOGGED_OUT,
    (S.OFFERED, T.LOGOUT): S.LOGGED_OUT,  # the caller keeps its place
    (S.READY, T.PAUSE): S.NOT_READY,
    (S.NOT_READY, T.PAUSE): S.NOT_READY,  # a new reason
    (S.WRAP_UP, T.PAUSE): S.NOT_READY,
    (S.OFFERED, T.PAUSE): S.NOT_READY,  # the caller keeps its place
    (S.NOT_READY, T.READY): S.READY,
    (S.WRAP_UP, T.READY): S.READY,  # wrap-up ended early by the agent
    (S.READY, T.READY): S.READY,
    (S.READY, T.OFFER): S.OFFERED,
    (S.OFFERED, T.ANSWER): S.ON_CALL,
    (S.OFFERED, T.OFFER_ENDED): S.READY,
    (S.OFFERED, T.NO_ANSWER_LIMIT): S.NOT_READY,
    # A pickup (`*8`, `**` + extension) takes a call whatever the agent was doing but talking:
    # its own offer is withdrawn first, and a not-ready agent goes back to its pause after.
    (S.READY, T.PICKUP): S.ON_CALL,
    (S.NOT_READY, T.PICKUP): S.ON_CALL,
    (S.WRAP_UP, T.PICKUP): S.ON_CALL,
    (S.OFFERED, T.PICKUP): S.ON_CALL,
    (S.ON_CALL, T.HANGUP): S.WRAP_UP,
    (S.ON_CALL, T.HANGUP_NO_WRAP_UP): S.READY,
    (S.ON_CALL, T.HANGUP_PAUSED): S.NOT_READY,
    (S.WRAP_UP, T.WRAP_UP_END): S.READY,
    (S.WRAP_UP, T.WRAP_UP_END_PAUSED): S.NOT_READY,
}
del S, T

# States in which an agent counts as staffing a queue (logged in and not paused).
STAFFED: Final = frozenset(
    {AgentState.READY, AgentState.OFFERED, AgentState.ON_CALL, AgentState.WRAP_UP}
)


def next_state(state: AgentState, trigger: AgentTrigger, agent: str) -> AgentState:
    """The state `trigger` leads to from `state`; a pair the table lacks is refused."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidRequest(f"agent {agent}: cannot {trigger.value} when {state.value}") from None


@dataclass
class Agent:
    """Live state of one agent; `since` is when the current state began."""

    config: AgentConfig
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0
    reason: str = ""  # the not-ready reason
    pending_pause: str | None = None  # paused while on a call: applies when it ends
    call: str | None = None  # the call offered to or connected with the agent
    call_queue: str | None = None
    available_at: float = 0.0  # reject/busy/no-answer delays: not offered before this
    wrap_up_until: float = 0.0
    consecutive_no_answers: int = 0
    calls_answered: int = 0
    talk_time_s: float = 0.0
    last_call_end: float | None = None  # None: no queue call since login
    idle_since: float = 0.0  # when the agent last became ready
    direct_calls: int = 0  # calls not from a queue: while any, no queue call is offered
    memberships: dict[str, Membership] = field(default_factory=dict)

    @property
    def number(self) -> str:
        return self.config.number

    def member_of(self, queue: str) -> Membership | None:
        return self.memberships.get(queue)

    def is_available(self, now: float) -> bool:
        return (
            self.state is AgentState.READY and self.direct_calls == 0 and self.available_at <= now
        )
