"""Who a call's events are for: the parties on the call, and the supervisors of its queues.

A queue call's caller dials the queue, so its caller and callee name no agent; an agent sees
the events of its call because its own leg is on it. `parties` are the extensions a call
event reaches directly (any role whose reach has one of them: the agent itself, its team's
supervisor, admin); `watchers` are the extensions of the agents of the queues the call waited
in, which make the event visible to those agents' supervisors but not to the agents (a caller
waiting in a queue is nobody's call yet, and another agent's call is none of theirs).

`AgentAnswers` is the `CallObserver` that reports a party answering a call that was answered
already (an agent picking up a queue call, a transfer's target): `call_answered` again, with
the `party` who answered, so an agent's screen sees its own call answered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from softswitch.calls.call import Call, CallState
from softswitch.calls.control import party_of
from softswitch.calls.leg import Leg, LegAnswered, LegEvent
from softswitch.calls.supervision import SupervisionApplication

if TYPE_CHECKING:
    from softswitch.api.events import CallEvents
    from softswitch.calls.application import Application


def supervising(call: Call, leg: Leg) -> bool:
    """A supervisor's leg (listen, whisper, barge): never a party of the call it watches."""
    return isinstance(call.attachments.get(leg), SupervisionApplication)


class CallParties:
    """A call's parties and watchers, from its legs and the queues it has joined."""

    def __init__(self) -> None:
        self._queues: dict[int, set[str]] = {}  # call id -> the queues it joined
        self._members: Callable[[str], Sequence[str]] | None = None
        self._is_queue: Callable[[str], bool] = lambda _number: False

    def attach_centre(
        self, members: Callable[[str], Sequence[str]], is_queue: Callable[[str], bool]
    ) -> None:
        """The call centre's queues: `members` gives the extensions of a queue's agents."""
        self._members = members
        self._is_queue = is_queue

    def joined(self, call_id: int, queue: str) -> None:
        self._queues.setdefault(call_id, set()).add(queue)

    def forget(self, call_id: int) -> None:
        self._queues.pop(call_id, None)

    def parties(self, call: Call, *, ended: bool = False) -> frozenset[str]:
        """The caller, the callee and every leg's party still on the call; once it has
        `ended`, also those who answered and left (an agent that transferred the call on)."""
        found = {call.caller, call.callee}
        for leg in call.legs:
            if leg is call.caller_leg or supervising(call, leg):
                continue
            if not leg.ended or (ended and leg.answered_at is not None):
                found.add(party_of(call, leg))
        return frozenset(found)

    def watchers(self, call: Call) -> frozenset[str]:
        members = self._members
        if members is None:
            return frozenset()
        queues = set(self._queues.get(call.id, ()))
        if self._is_queue(call.callee):
            queues.add(call.callee)
        return frozenset(ext for queue in sorted(queues) for ext in members(queue))


class AgentAnswers:
    """CallObserver: a callee leg answering a call already answered is `call_answered`."""

    def __init__(self, events: CallEvents) -> None:
        self._events = events

    def leg_event(self, call: Call, event: LegEvent) -> None:
        # Observers hear a leg's event before its application: a call answered by this very
        # leg is still unanswered here, and CallRecords reports that first answer.
        # A supervisor's phone joins as a leg too: listening is secret, so it is no party.
        if type(event) is not LegAnswered or call.state is not CallState.ANSWERED:
            return
        if event.leg is not call.caller_leg and not supervising(call, event.leg):
            self._events.party_answered(call, event.leg)

    def call_started(self, call: Call) -> None:
        pass

    def call_answered(self, call: Call) -> None:
        pass

    def call_ended(self, call: Call) -> None:
        pass

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None:
        pass
