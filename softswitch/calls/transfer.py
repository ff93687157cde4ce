"""Transfer by REFER (RFC 3515), blind and attended (Refer-To with Replaces, RFC 3891), and by
the in-call codes (`#1` blind, `*2` attended: calls/consult.py).

A phone in a bridged call sends REFER; its leg answers 202 and hands us `TransferRequested`.
The number in Refer-To is resolved by the routing plan in the transferor's own context (an
extension's, a trunk's), so a phone can transfer to whatever it could dial: an extension, a
queue, an IVR flow, a room, an external number through a trunk. The transferred party keeps
its dialog and its endpoint: its leg moves to a new application (no INVITE toward it), and the
call keeps its id, its variables and its call record, which names the final party and who
transferred (`transferred_by`, `transferred_to` in its variables).

The transferor hears how it went in sipfrag NOTIFYs (RFC 3515 §2.4.5): `100 Trying` at once,
then `200 OK` once the party is moved (as Asterisk reports a blind transfer: the transfer is
done when the party is handed on, not when the target answers), or the refusal (404 for a
number nothing answers to, 603 for a call that is not a two-party bridge); after success its
leg is hung up.

Attended: the transferor (an agent) has the caller in one call and a consultation call with a
third phone; its REFER on the first names the consultation dialog in Replaces. The switch joins
the caller's leg with the third phone's leg (that leg moves into the caller's call, so the
caller's record follows it) and ends both of the transferor's legs; the consultation call's
record ends with "attended transfer". No INVITE goes to either remaining party.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from softswitch.call_record import Side
from softswitch.calls.application import Application, UnknownDestinationKind
from softswitch.calls.bridge import BridgeApplication
from softswitch.calls.call import Call
from softswitch.calls.conference import Conferences
from softswitch.calls.consult import CONSULTED_KINDS, Consultation
from softswitch.calls.consult_queue import QueueConsultation, QueueConsultListener
from softswitch.calls.feature_codes import FeaturePressed, InCallCodes
from softswitch.calls.leg import (
    DigitReceived,
    Leg,
    LegAnswered,
    LegEnded,
    LegEvent,
    TransferRequested,
)
from softswitch.calls.routing import RouteTarget
from softswitch.calls.signalling import Signalling
from softswitch.config import INTERNAL_CONTEXT
from softswitch.sip.refer import Replaces
from softswitch.sip.uri import parse_uri, uri_user

log = logging.getLogger("softswitch.calls")

QUEUE_KIND = "queue"  # the one destination besides phones where `*2` has someone to consult


@dataclass(frozen=True, slots=True)
class TransferRefused(Exception):
    """Why a transfer cannot be made; `status`/`reason` go to the transferor's sipfrag."""

    status: int
    reason: str


class TransferListener(Protocol):
    """Told just before a call's party is handed on (the call centre ends the agent's part
    there, before the party may enter another queue); `kind` is "blind" or "attended" (by
    REFER, the in-call codes or control alike), the call's variables say by whom
    (`transferred_by`)."""

    def transferring(self, call: Call, transferor: Leg, target: str, kind: str) -> None: ...


class Transfers:
    """Carries out the REFERs of every call (a `CallObserver` of the signalling)."""

    def __init__(self, signalling: Signalling) -> None:
        self._signalling = signalling
        self.listeners: list[TransferListener] = []
        self.queue_listeners: list[QueueConsultListener] = []  # `*2` to a queue (the centre)
        self.codes = InCallCodes(signalling, self._feature)
        self._consultations: dict[Call, Consultation] = {}  # attended transfers by DTMF
        self.conferences: Conferences | None = None  # for three-way calls; wired by b2bua.py
        signalling.observers.append(self)

    # ---- CallObserver ------------------------------------------------------------------
    def call_started(self, call: Call) -> None:
        return None

    def call_answered(self, call: Call) -> None:
        return None

    def call_ended(self, call: Call) -> None:
        self.codes.forget(call)
        self._consultations.pop(call, None)

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None:
        self.codes.watch(call)

    def leg_event(self, call: Call, event: LegEvent) -> None:
        kind = type(event)
        if kind is TransferRequested:
            assert isinstance(event, TransferRequested)
            self._refer(call, event)
        elif kind is LegAnswered:
            # Observers hear an event before the leg's application: the bridge connects after.
            self._signalling.call_later(0.0, lambda: self.codes.watch(call))
        elif kind is DigitReceived:
            assert isinstance(event, DigitReceived)
            if event.method == "info":  # RFC 4733 digits of a bridged leg come by the tap
                self.codes.digit(call, event.leg, event.digit)
        elif kind is LegEnded:
            consultation = self._consultations.get(call)
            if consultation is not None and event.leg is consultation.held:
                consultation.held_left()

    # ---- the transfer ------------------------------------------------------------------
    def _feature(self, call: Call, leg: Leg, pressed: FeaturePressed) -> None:
        """A feature code from a bridged party: `#1` + number, `*2` + number, `*0`; while a
        consultation lasts, its own meanings (`_consulting_feature`)."""
        signalling = self._signalling
        consultation = self._consultations.get(call)
        try:
            if consultation is not None:
                self._consulting_feature(consultation, leg, pressed)
            elif pressed.feature == "disconnect":
                side = Side.CALLER if leg is call.caller_leg else Side.CALLEE
                signalling.hang_up(call, side, "disconnect feature code")
            elif pressed.feature == "blind_transfer":
                self.blind(call, leg, pressed.number, refer=False)
            elif pressed.feature == "attended_transfer":
                self.consult(call, leg, pressed.number)
            elif pressed.feature == "three_way":
                self.consult(call, leg, pressed.number, three_way=True)
        except TransferRefused as refused:
            log.info("call %d: DTMF %s to %s refused: %d %s", call.id, pressed.feature,
                     pressed.number, refused.status, refused.reason)  # fmt: skip
        signalling.flush()

    @staticmethod
    def _consulting_feature(consultation: Consultation, leg: Leg, pressed: FeaturePressed) -> None:
        """The transferor's `*2` completes, `*3` joins all three and `*0` aborts (Asterisk's
        atxfercomplete, atxferthreeway, atxferabort); the target's `*0` ends its part; any
        other code waits for the end."""
        if leg is consultation.transferor and pressed.feature == "attended_transfer":
            consultation.complete()
        elif leg is consultation.transferor and pressed.feature == "three_way":
            consultation.merge()
        elif pressed.feature == "disconnect" and (
            leg is consultation.transferor or leg in consultation.consult.forks
        ):
            consultation.abort()

    def consult(self, call: Call, transferor: Leg, number: str, *, three_way: bool = False) -> None:
        """Attended transfer by DTMF (calls/consult.py): the transferor's peer hears music on
        hold while the transferor consults `number`, routed in its context; in a queue, the
        transferor waits for an agent (calls/consult_queue.py). An IVR flow or a room takes
        the peer at once (not for `three_way`: all three join a room once the target answers).
        Raises `TransferRefused`."""
        signalling = self._signalling
        bridge, held = self._peer_of(call, transferor)
        context = self._context_of(call, bridge, transferor)
        target = signalling.routing.resolve(context, number)
        if target is None or target.kind not in signalling.applications:
            raise TransferRefused(404, "Not Found")
        if target.kind not in CONSULTED_KINDS:
            if three_way:
                raise TransferRefused(488, f"no three-way with a {target.kind}")
            if target.kind != QUEUE_KIND:
                self.blind(call, transferor, number, refer=False)
                return
        if three_way and self.conferences is None:
            raise TransferRefused(503, "no three-way: conferences are off")

        def hand_on(application: Application) -> None:
            self._note(call, bridge, transferor, target.number)
            self._hand_on(call, bridge, transferor, held, application, "attended", refer=False)

        kind = QueueConsultation if target.kind == QUEUE_KIND else Consultation
        consultation = kind(
            signalling,
            call,
            bridge,
            transferor,
            held,
            target,
            transferor_number=_number_of(call, bridge, transferor),
            hand_on=hand_on,
            done=self._consulted,
            conferences=self.conferences,
        )
        consultation.merge_on_answer = three_way
        if isinstance(consultation, QueueConsultation):
            consultation.listeners = tuple(self.queue_listeners)
        self._consultations[call] = consultation
        self.codes.set_consulting(transferor, True)
        consultation.start()

    def consultation_of(self, call: Call) -> Consultation | None:
        """The call's attended transfer by DTMF or control, while the transferor consults."""
        return self._consultations.get(call)

    def _consulted(self, consultation: Consultation) -> None:
        self._consultations.pop(consultation.call, None)
        self.codes.set_consulting(consultation.transferor, False)

    def _refer(self, call: Call, event: TransferRequested) -> None:
        transferor = event.leg
        transferor.notify_refer(100, "Trying", final=False)
        try:
            replaces = event.refer_to.replaces
            if replaces is None:
                self.blind(call, transferor, event.refer_to.number)
            else:
                self.attended(call, transferor, replaces)
        except TransferRefused as refused:
            log.info("call %d: transfer refused: %d %s", call.id, refused.status, refused.reason)
            transferor.notify_refer(refused.status, refused.reason, final=True)

    def blind(self, call: Call, transferor: Leg, number: str, *, refer: bool = True) -> None:
        """Move the transferor's peer to `number` (routed in the transferor's context), then
        tell the transferor (NOTIFY 200) and hang its leg up. Raises `TransferRefused`."""
        signalling = self._signalling
        bridge, transferred = self._peer_of(call, transferor)
        context = self._context_of(call, bridge, transferor)
        target = signalling.routing.resolve(context, number)
        if target is None:
            raise TransferRefused(404, "Not Found")
        try:
            application = signalling.applications.create(target, signalling, call)
        except UnknownDestinationKind as exc:
            raise TransferRefused(404, "Not Found") from exc
        self._note(call, bridge, transferor, target.number)
        self._hand_on(call, bridge, transferor, transferred, application, "blind", refer=refer)
        log.info("call %d: transferred to %s (%s)", call.id, target.number, target.kind)

    def attended(self, call: Call, transferor: Leg, replaces: Replaces) -> None:
        """RFC 3891 through REFER: the transferor's peer in this call is joined with the party
        at the other end of the dialog `replaces` names (the transferor's consultation call);
        both of the transferor's legs end. Raises `TransferRefused`."""
        signalling = self._signalling
        bridge, transferred = self._peer_of(call, transferor)
        # The tags are the transferor's view of the consultation dialog: its to-tag is ours.
        found = signalling.find_dialog(
            replaces.call_id, replaces.to_tag, replaces.from_tag
        ) or signalling.find_dialog(replaces.call_id, replaces.from_tag, replaces.to_tag)
        if found is None:
            raise TransferRefused(481, "Call/Transaction Does Not Exist")
        consult_call, consult_leg = found
        if consult_call is call:
            raise TransferRefused(603, "Declined")
        consult_bridge, third = self._peer_of(consult_call, consult_leg)
        if third.media is None:
            raise TransferRefused(603, "Declined")
        number = _number_of(consult_call, consult_bridge, third)
        consult_bridge.hand_over(third)
        signalling.adopt(call, third, consult_call)
        joined = BridgeApplication.joining(
            RouteTarget("extension", number, number), signalling, call, third, third.media
        )
        self._note(call, bridge, transferor, number)
        call.variables["transfer"] = "attended"
        self._hand_on(call, bridge, transferor, transferred, joined, "attended")
        signalling.hang_up(consult_call, Side.CALLER, "attended transfer")
        signalling.flush()
        log.info("call %d: joined with %s of call %d", call.id, number, consult_call.id)

    def _peer_of(self, call: Call, leg: Leg) -> tuple[BridgeApplication, Leg]:
        """The bridge `leg` is in and the answered party at its other end."""
        if call.ended:
            raise TransferRefused(481, "Call/Transaction Does Not Exist")
        bridge = call.attachments.get(leg)
        if not isinstance(bridge, BridgeApplication) or bridge.answered_by is None:
            raise TransferRefused(603, "Declined")
        other = bridge.answered_by if leg is bridge.party else bridge.party
        if other is None or not other.up:
            raise TransferRefused(603, "Declined")
        return bridge, other

    @staticmethod
    def _note(call: Call, bridge: BridgeApplication, transferor: Leg, number: str) -> None:
        """For the call record: who transferred, and the final party."""
        call.variables["transferred_by"] = _number_of(call, bridge, transferor)
        call.variables["transferred_to"] = number
        call.callee = number

    def _hand_on(
        self,
        call: Call,
        bridge: BridgeApplication,
        transferor: Leg,
        transferred: Leg,
        application: Application,
        kind: str,
        *,
        refer: bool = True,
    ) -> None:
        """Tell the transferor it worked, move its peer on, and hang the transferor up."""
        signalling = self._signalling
        for listener in self.listeners:
            listener.transferring(call, transferor, call.callee, kind)
        if refer:  # the 200 goes before the BYE: in-dialog requests leave in CSeq order
            transferor.notify_refer(200, "OK", final=True)
        if transferred is bridge.party:
            # detach() of the party ends every callee leg, the transferor's among them.
            signalling.move(call, transferred, application)
            return
        bridge.hand_over(transferred)
        signalling.move(call, transferred, application)
        call.attachments.pop(transferor, None)
        transferor.hang_up(signalling.now())
        signalling.flush()

    def _context_of(self, call: Call, bridge: BridgeApplication, transferor: Leg) -> str:
        """The routing context the transferor dials in: its extension's or its trunk's."""
        config = self._signalling.config
        number = _number_of(call, bridge, transferor)
        if transferor is bridge.party and call.caller_leg is transferor and call.trunk:
            trunk_context = next((t.context for t in config.trunks if t.name == call.trunk), None)
            if trunk_context is not None and call.direction.value in ("inbound", "transit"):
                return trunk_context
        if transferor is not bridge.party and bridge.target.kind == "trunk":
            trunk = next((t for t in config.trunks if t.name == bridge.target.target), None)
            if trunk is not None:
                return trunk.context
        extension = next((e for e in config.extensions if e.number == number), None)
        return extension.context if extension is not None else INTERNAL_CONTEXT


def _number_of(call: Call, bridge: BridgeApplication, leg: Leg) -> str:
    """Who the transferor is: the caller's number, or the number the switch called."""
    if leg is call.caller_leg:
        return call.caller
    target: RouteTarget = bridge.target
    if target.kind == "extension":
        return target.target
    return uri_user(parse_uri(leg.invite.uri)) or target.number
