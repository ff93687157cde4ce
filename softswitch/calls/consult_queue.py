"""Attended transfer to a queue (`*2` + a queue's number): the transferor waits in the queue on
the held party's behalf, hearing the queue's music, while the held party hears music on hold;
the agent who answers talks with the transferor first; completing (hanging up or `*2` again)
joins the held party with that agent.

The queue entry is the held party's own: the queue application (centre/queue.py, a
`ConsultedQueue` here) is created for the call, so the entry carries the call's id, the
caller's number and IVR variables (the offer's screen pop), and the answering agent's CONNECT
counts as a queue call of the original caller, not of the transferor (Asterisk's consult call
enters the queue with the transferor's caller ID). Before the queue takes the entry, the
`QueueConsultListener`s (the call centre) end the transferor's own part of a queue call
(TRANSFER) and keep the transferor from being offered calls while it is still on the phone.

- Transferor hangs up or keys `*2` while waiting: the held party takes its place in the queue
  (same entry, same offers ringing), as Asterisk hands a caller to a queue the transferor
  leaves.
- Agent answers: the transferor's leg moves to a `ConsultBridge` joined to the agent's leg;
  from there it is `Consultation`'s usual endings (complete, `*0`, the agent hanging up).
- The queue lets the transferor go (a timeout, an exit key, nobody to serve it), `*0`, or the
  agent leaving before completion: the entry leaves the queue (ABANDON while waiting, as an
  Asterisk consult channel hanging up; COMPLETEAGENT once an agent talked) and the transferor
  is back with the held party.

An IVR node or a conference room still takes the held party at once (calls/transfer.py): a
flow has nobody to consult, and a room's members hear the party only once it is there.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

from softswitch.calls.application import Application
from softswitch.calls.call import Call
from softswitch.calls.consult import Consultation, ConsultBridge, ConsultState
from softswitch.calls.leg import Leg
from softswitch.calls.routing import RouteTarget
from softswitch.media.endpoint import MediaEndpoint

log = logging.getLogger("softswitch.calls")


class QueueConsultOwner(Protocol):
    """What a consulted queue tells the consultation."""

    def agent_joined(self, agent: str, leg: Leg, media: MediaEndpoint) -> Application:
        """The agent answered: the application the transferor's leg moves to."""

    def queue_left(self, why: str) -> None:
        """The queue let the transferor go without an agent: back to the held party."""

    def transferor_left(self) -> None:
        """The transferor hung up while waiting in the queue."""


@runtime_checkable
class ConsultedQueue(Protocol):
    """A queue application that can hold a consulting transferor (centre/queue.py)."""

    def consult_for(self, owner: QueueConsultOwner | None, transferor: Leg | None) -> None:
        """Wait in the queue for `owner`, with `transferor`'s leg; None: an ordinary caller."""

    def withdraw(self) -> None:
        """The entry leaves the queue, or its agent's part ends; the transferor's leg is let go."""


class QueueConsultListener(Protocol):
    """Told before a transferor starts waiting in `queue` for the call's held party."""

    def consulting_queue(self, call: Call, transferor: Leg, queue: str) -> None: ...


class QueueConsultation(Consultation):
    """`*2` to a queue; `Transfers.consult` (calls/transfer.py) makes and owns it."""

    listeners: tuple[QueueConsultListener, ...] = ()  # set by Transfers before `start`
    queue: Application | None = None
    agent: str = ""  # the agent who answered, once one did

    def start(self) -> None:
        signalling, call = self.signalling, self.call
        queue = signalling.applications.create(self.target, signalling, call)
        if not isinstance(queue, ConsultedQueue):
            raise TypeError(f"{self.target.kind} {self.target.number} cannot be consulted")
        self.queue = queue
        for listener in self.listeners:
            listener.consulting_queue(call, self.transferor, self.target.target)
        self.bridge.hold_by_switch(self.held, True)
        queue.consult_for(self, self.transferor)
        # Attached by hand, as a consultation's bridge is: the call's bridge keeps the leg.
        pending = signalling.attach(call, self.transferor, queue)
        if pending is not None:
            signalling.spawn(pending)
        log.info("call %d: leg %d waits in queue %s for the held party", call.id,
                 self.transferor.id, self.target.number)  # fmt: skip

    # ---- QueueConsultOwner -----------------------------------------------------------------
    def agent_joined(self, agent: str, leg: Leg, media: MediaEndpoint) -> Application:
        self.agent = agent
        consult = ConsultBridge(RouteTarget("extension", agent, agent), self.signalling,
                                self.call, self)  # fmt: skip
        consult.calling = self.consult.calling
        consult.join(leg, media)
        self.consult = consult
        log.info("call %d: agent %s answers the consultation", self.call.id, agent)
        return consult

    def queue_left(self, why: str) -> None:
        self.target_gone(f"queue: {why}")

    # ---- Consultation's endings ------------------------------------------------------------
    def _unanswered(self) -> Application:
        """Nobody answered yet: the held party takes the transferor's place in the queue."""
        assert self.queue is not None
        return self.queue

    def target_gone(self, why: str) -> None:
        if self.state is not ConsultState.CONSULTING:
            return
        if isinstance(self.queue, ConsultedQueue):
            self.queue.withdraw()
        super().target_gone(why)

    def merge(self) -> None:
        log.info("call %d: no three-way while consulting a queue", self.call.id)

    def held_left(self) -> None:
        """The held party hung up: with an agent, as any consultation; still waiting, the
        transferor goes on as an ordinary caller of the queue."""
        if self.agent or not isinstance(self.queue, ConsultedQueue):
            super().held_left()
            return
        if self.state is not ConsultState.CONSULTING:
            return
        self._finish()
        self.bridge.hand_over(self.held)
        self.call.attachments.pop(self.held, None)
        self.queue.consult_for(None, None)
        log.info("call %d: the held party left; leg %d waits on in queue %s", self.call.id,
                 self.transferor.id, self.target.number)  # fmt: skip
