"""Attended transfer from DTMF (`*2` + number), as Asterisk's atxfer: the party that keys it
(the transferor, usually the agent) consults the target while the other party hears music on
hold, then hanging up (or keying `*2` again) hands the held party on to the target.

One `Consultation` per call while it lasts. The held party stays attached to the call's bridge
(music on hold from the engine, no re-INVITE toward it); the transferor's leg is attached to a
`ConsultBridge`, a bridge toward the target whose endings come back here instead of ending the
call: the target refusing, not answering (ring timeout) or hanging up, or the transferor keying
the disconnect code (`*0`, as atxferabort), returns the transferor to the held party. The
target's leg joins the same call, so completing moves no leg between calls: the held party is
bridged to the target's leg and the call keeps its id, its IVR variables and its call record,
which names the target, the transferor (`transferred_by`) and `transfer = "attended"`.

The transferor hanging up while the target still rings completes too (Asterisk does the same):
the consultation's ringing stops and the held party is handed on to a new bridge toward the
target. The three-way code (`*3`) while consulting, or `*3` + number from the start (merging as
soon as the target answers), puts all three in a room instead (calls/three_way.py). A target
that is no phone to consult (a queue, an IVR flow, a room) is handed the held
party at once, as a blind transfer would. The held party hanging up leaves the transferor
with the target, ringing or talking (Asterisk does the same): from then on the consultation is
an ordinary call between those two, which ends when either hangs up or the target refuses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum, auto

from softswitch.call_record import Side
from softswitch.calls.application import Application, CallServices
from softswitch.calls.bridge import BridgeApplication, BridgeState
from softswitch.calls.call import Call
from softswitch.calls.conference import Conferences
from softswitch.calls.leg import Leg, LegAnswered, LegEnded
from softswitch.calls.routing import RouteTarget
from softswitch.calls.signalling import Signalling
from softswitch.calls.three_way import ThreeWayApplication

log = logging.getLogger("softswitch.calls")

CONSULTED_KINDS = frozenset({"extension", "trunk"})  # a person answers: there is someone to consult


class ConsultState(Enum):
    __hash__ = object.__hash__

    CONSULTING = auto()  # the target rings or talks with the transferor
    DONE = auto()  # completed, or the transferor is back with the held party


class ConsultBridge(BridgeApplication):
    """The transferor's bridge toward the target: its endings go to the consultation."""

    kind = "consultation"

    def __init__(
        self, target: RouteTarget, services: CallServices, call: Call, owner: Consultation
    ) -> None:
        super().__init__(target, services, call)
        self.owner = owner
        self.standalone = False  # the held party left: the call is the consultation now

    def _record(self) -> None:
        return None  # the consultation is not part of the call's recording

    def _over(self, side: Side, cause: str) -> None:
        """With no held party to go back to, an ending of the consultation ends the call."""
        self.state = BridgeState.OVER
        self._stop_ringing()
        if not self.call.ended:
            self.services.hang_up(self.call, side, cause)

    def _callee_failed(self, status: int, reason: str) -> None:
        if self.standalone:
            self._over(Side.CALLEE, f"{status} {reason}".strip())
            return
        self.state = BridgeState.OVER
        self._stop_ringing()
        self.owner.target_gone(f"{status} {reason}".strip())

    def _fail(self, status: int, reason: str) -> None:
        if self.standalone:
            self._over(Side.SWITCH, f"{status} {reason}")
            return
        self.state = BridgeState.OVER
        self.owner.target_gone(f"{status} {reason}")

    def _ring_timeout(self) -> None:
        self._ring_timer = None
        if self.state is not BridgeState.RINGING:
            return
        if self.standalone:
            self._over(Side.CALLEE, "ring timeout")
            return
        self.state = BridgeState.OVER
        self.owner.target_gone("ring timeout")

    def _fork_ended(self, event: LegEnded) -> None:
        if event.leg is self.answered_by:
            if self.standalone:
                self._over(Side.CALLEE, event.cause)
                return
            self.state = BridgeState.OVER
            self.owner.target_gone("target hung up")
            return
        super()._fork_ended(event)

    def _fork_answered(self, event: LegAnswered) -> None:
        super()._fork_answered(event)
        if self.state is BridgeState.CONNECTED:
            self.owner.answered()

    def _party_ended(self, event: LegEnded) -> None:
        if self.standalone:
            self._over(Side.CALLER, event.cause)  # the transferor is the party that stayed
            return
        self.owner.transferor_left()

    def end_forks(self) -> None:
        """Cancel or hang up the target's legs; the bridge is over."""
        self._stop_music()
        self._disconnect()
        self._stop_ringing()
        self.state = BridgeState.OVER
        now = self.services.now()
        for fork in self.forks:
            fork.hang_up(now)
        if self.media is not None:
            self.services.close_media(self.media)


class Consultation:
    """One attended transfer by DTMF in progress; `Transfers` (calls/transfer.py) owns it.

    `hand_on(application)` hands the held party on (the transfer's listeners, the call
    record's notes, the transferor hung up); `done` is told once the consultation is over."""

    def __init__(
        self,
        signalling: Signalling,
        call: Call,
        bridge: BridgeApplication,
        transferor: Leg,
        held: Leg,
        target: RouteTarget,
        *,
        transferor_number: str,
        hand_on: Callable[[Application], None],
        done: Callable[[Consultation], None],
        conferences: Conferences | None = None,
    ) -> None:
        self.signalling = signalling
        self.call = call
        self.bridge = bridge
        self.transferor = transferor
        self.held = held
        self.target = target
        self.state = ConsultState.CONSULTING
        self._hand_on = hand_on
        self._done = done
        self.consult = ConsultBridge(target, signalling, call, self)
        self.consult.calling = transferor_number  # the target sees who consults it
        self.conferences = conferences
        self.merge_on_answer = False  # *3 + number, or a three-way asked before the answer

    def start(self) -> None:
        """Music on hold to the held party; the transferor's leg rings the target. The leg is
        attached by hand: moving it would detach it from the call's bridge, which ends the
        bridge when the transferor is its party."""
        self.bridge.hold_by_switch(self.held, True)
        signalling = self.signalling
        pending = signalling.attach(self.call, self.transferor, self.consult)
        if pending is not None:
            signalling.spawn(pending)
        log.info(
            "call %d: leg %d consults %s", self.call.id, self.transferor.id, self.target.number
        )

    def complete(self) -> None:
        """Hand the held party on to the target: joined with its leg when it answered, else a
        new bridge rings it."""
        if self.state is not ConsultState.CONSULTING:
            return
        self._finish()
        consult, call, signalling = self.consult, self.call, self.signalling
        third = consult.answered_by
        call.attachments.pop(self.transferor, None)
        if consult.state is BridgeState.CONNECTED and third is not None and third.media is not None:
            consult.hand_over(third)
            application: Application = BridgeApplication.joining(
                consult.target, signalling, call, third, third.media
            )
            call.variables["transfer"] = "attended"
        else:
            application = self._unanswered()
        self._hand_on(application)
        log.info("call %d: attended transfer to %s completed", call.id, self.target.number)

    def _unanswered(self) -> Application:
        """Where the held party goes when the transferor leaves before the target answered:
        a new bridge ringing the target."""
        self.consult.end_forks()
        return self.signalling.applications.create(self.target, self.signalling, self.call)

    def merge(self) -> None:
        """Three-way: the held party, the transferor and the answered target into a room of
        their own (calls/three_way.py); nothing happens before the target answers."""
        consult, call, signalling = self.consult, self.call, self.signalling
        third = consult.answered_by
        if self.state is not ConsultState.CONSULTING or consult.state is not BridgeState.CONNECTED:
            self.merge_on_answer = True
            return
        conferences = self.conferences
        if third is None or conferences is None:
            log.info("call %d: no three-way without conferences", call.id)
            return
        self._finish()
        answered = self.bridge.answered_by
        if answered is not None:
            self.bridge.hand_over(answered)  # both parties leave the bridge, neither ends
        consult.hand_over(third)
        room = ThreeWayApplication.for_call(conferences, signalling, call)
        call.variables["three_way"] = self.target.number
        for leg in (self.held, self.transferor, third):
            signalling.move(call, leg, room)
        log.info("call %d: three-way with %s", call.id, self.target.number)

    def answered(self) -> None:
        """The target answered the consultation: a three-way code pressed before joins now."""
        if self.merge_on_answer:
            self.signalling.call_later(0.0, self.merge)

    def abort(self) -> None:
        """The transferor gives up the consultation (the disconnect code)."""
        self.target_gone("aborted by the transferor")

    def target_gone(self, why: str) -> None:
        """The target refused, did not answer or left: back to the held party, whose music
        stops and whose bridge to the transferor is made again."""
        if self.state is not ConsultState.CONSULTING:
            return
        self._finish()
        self.consult.end_forks()
        call, signalling = self.call, self.signalling
        if call.ended or self.transferor.ended:
            return
        call.attachments[self.transferor] = self.bridge
        for observer in signalling.observers:
            observer.leg_attached(call, self.transferor, self.bridge)
        self.bridge.hold_by_switch(self.held, False)
        log.info("call %d: consultation of %s over (%s)", call.id, self.target.number, why)
        signalling.flush()

    def transferor_left(self) -> None:
        self.complete()

    def held_left(self) -> None:
        """The held party hung up while the transferor consults: the transferor stays with
        the target. Called before the call's bridge hears of it (observers hear a leg's events
        first), so the bridge lets the held party go without ending the call."""
        if self.state is not ConsultState.CONSULTING:
            return
        self._finish()
        self.bridge.hand_over(self.held)
        self.call.attachments.pop(self.held, None)
        self.consult.standalone = True
        log.info(
            "call %d: the held party left; leg %d stays with %s",
            self.call.id,
            self.transferor.id,
            self.target.number,
        )

    def _finish(self) -> None:
        self.state = ConsultState.DONE
        self._done(self)
