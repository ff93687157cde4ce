"""Call control: the commands the API and the console use, and the stream of what happens.

Commands: list calls (`calls`, `call`), attach or move a leg to an application (`move`, one
step: detach from the old, attach to the new, no new dialog toward the party), `hold` and
`resume` a leg (a re-INVITE from the switch), `hang_up` a call, `originate` one (click-to-call,
calls/originate.py), `transfer` a party (blind, or attended: the transferor consults the
target, then `transfer_complete` or `transfer_cancel`, calls/consult.py), add a third party
(`three_way`), and for a leg in a conference
room `conference_member` (mute, deaf, talk and listen gain) and `conference_mute_all`; and
supervision (calls/supervision.py): `supervise` an extension's call or `supervise_call` a given
one (the supervisor's phone rings, then listens, whispers or barges), `supervision_mode`,
`stop_supervision`. Reading
calls goes through here only, as frozen views, so nothing outside `calls/` holds a live call.

Events: `subscribe()` gives an async iterator of typed, frozen events (`CallStarted`,
`CallAnswered`, `LegAttached`, `LegChanged`, `CallEnded`). Each subscriber has a bounded
queue; a subscriber that falls behind loses the oldest events (counted in `dropped`) instead
of slowing calls down.

Errors::

    ControlError(LookupError)   no such call or leg (status_hint 404), or the leg's state does
                                not allow the command (status_hint 409)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from softswitch.call_record import Side
from softswitch.calls.answer import Answering, AnswerRefused, ScreenAnswers
from softswitch.calls.application import Application, UnknownDestinationKind
from softswitch.calls.bridge import BridgeApplication
from softswitch.calls.call import Call
from softswitch.calls.conference import ConferenceApplication, Conferences
from softswitch.calls.consult import Consultation
from softswitch.calls.intercept import Interception, InterceptRefused, Intercepts
from softswitch.calls.leg import (
    DigitReceived,
    Leg,
    LegAnswered,
    LegEnded,
    LegEvent,
    LegHeld,
    LegReofferAnswered,
    LegResumed,
    LegRinging,
    LegState,
)
from softswitch.calls.originate import OriginateRefused, originate
from softswitch.calls.routing import RouteTarget
from softswitch.calls.signalling import Signalling
from softswitch.calls.supervision import (
    SupervisionError,
    Supervisions,
    SupervisionView,
    mode_named,
)
from softswitch.calls.transfer import TransferRefused, Transfers
from softswitch.media.endpoint import Direction
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.uri import parse_uri, uri_user

DEFAULT_QUEUE_SIZE = 1000


class ControlError(LookupError):
    def __init__(self, message: str, status_hint: int = 404) -> None:
        super().__init__(message)
        self.status_hint = status_hint


# ---- views ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegView:
    leg_id: int
    side: str
    state: str
    peer: str
    application: str  # the kind of what the leg is attached to, "" when none
    held: bool
    media_port: int | None


@dataclass(frozen=True, slots=True)
class CallView:
    call_id: int
    caller: str
    callee: str
    direction: str
    state: str
    started_at: float
    answered_at: float | None
    legs: tuple[LegView, ...]
    recording: str = "none"  # "recording", "paused" or "none"


# ---- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: int
    caller: str
    callee: str
    direction: str


@dataclass(frozen=True, slots=True)
class CallAnswered:
    call_id: int
    answered_at: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: int
    disposition: str
    cause: str
    side: str


@dataclass(frozen=True, slots=True)
class LegAttached:
    call_id: int
    leg_id: int
    application: str


@dataclass(frozen=True, slots=True)
class LegChanged:
    """A leg rang, answered, was held or resumed (by its party, or by control: `detail`
    "control"), answered our re-INVITE, ended, or sent a digit (`detail`)."""

    call_id: int
    leg_id: int
    change: str  # ringing, answered, held, resumed, renegotiated, ended, digit
    detail: str = ""


class HoldListener(Protocol):
    """Told when a party goes on or off hold: `by` is "phone" (its own re-INVITE) or
    "control" (the API's or the console's `hold`/`resume`)."""

    def hold_changed(self, call: Call, leg: Leg, held: bool, by: str) -> None: ...


ControlEvent = CallStarted | CallAnswered | CallEnded | LegAttached | LegChanged


class Subscription:
    """One subscriber's events, in order; iterate with `async for`, stop with `close()`."""

    def __init__(self, owner: CallControl, maxsize: int) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[ControlEvent | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._closed = False

    def put(self, event: ControlEvent) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._owner._subscribers.discard(self)
            if not self._queue.full():  # wake a reader waiting on an empty queue
                self._queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[ControlEvent]:
        return self

    async def __anext__(self) -> ControlEvent:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event


class CallControl:
    """Commands over the live calls of one `Signalling`, and its event stream."""

    def __init__(self, signalling: Signalling, supervisions: Supervisions | None = None) -> None:
        self._signalling = signalling
        self._supervisions = supervisions
        self._subscribers: set[Subscription] = set()
        self.transfers: Transfers | None = None  # wired by b2bua.py, which makes both
        self.hold_listeners: list[HoldListener] = []  # the API's call_held / call_resumed
        self.answers: ScreenAnswers | None = None  # calls/answer.py, wired by b2bua.py
        self.intercepts: Intercepts | None = None  # calls/intercept.py, wired by b2bua.py
        signalling.observers.append(self)

    # ---- reading -----------------------------------------------------------------------
    def calls(self) -> list[CallView]:
        return [self._view(call) for call in self._signalling.calls.values()]

    def call(self, call_id: int) -> CallView:
        return self._view(self._call(call_id))

    def _view(self, call: Call) -> CallView:
        recordings = self._signalling.recordings
        return _view(call, "none" if recordings is None else recordings.mark(call))

    @property
    def calls_by_disposition(self) -> dict[str, int]:
        return dict(self._signalling.counters.by_disposition)

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        subscription = Subscription(self, maxsize)
        self._subscribers.add(subscription)
        return subscription

    # ---- commands ----------------------------------------------------------------------
    def move(
        self, call_id: int, leg_id: int, kind: str, target: str = "", number: str = ""
    ) -> None:
        """Attach the leg to a new application of `kind` (e.g. "echo", "extension" "1001"),
        detaching it from the one it is attached to: no new dialog toward its party."""
        call = self._call(call_id)
        leg = self._leg(call, leg_id)
        if not leg.up:
            raise ControlError(f"leg {leg_id} is {leg.state.name.lower()}, not answered", 409)
        signalling = self._signalling
        try:
            application = signalling.applications.create(
                RouteTarget(kind, target, number or target), signalling, call
            )
        except UnknownDestinationKind as exc:
            raise ControlError(str(exc)) from exc
        signalling.move(call, leg, application)

    async def originate(self, extension: str, number: str, caller_id: str = "") -> int:
        """Click-to-call (calls/originate.py): ring the extension, then dial `number` from it
        (`caller_id` shown if it goes out through a trunk); the new call's id."""
        try:
            return await originate(self._signalling, extension, number, caller_id)
        except OriginateRefused as refused:
            raise ControlError(str(refused), refused.status_hint) from refused

    def answer(self, call_id: int, extension: str) -> Answering:
        """Make `extension`'s phone, ringing for the call, answer: CANCEL and a new INVITE
        with auto-answer headers (calls/answer.py). 409 when it is not ringing for it."""
        if self.answers is None:
            raise ControlError("answering from a screen is not available", 409)
        try:
            return self.answers.answer(call_id, extension)
        except AnswerRefused as exc:
            raise ControlError(str(exc), exc.status_hint) from exc

    def intercept(self, call_id: int, supervisor: str) -> Interception:
        """Ring `supervisor`'s phone; answered, it takes the call over from its agent, who is
        hung up (calls/intercept.py)."""
        if self.intercepts is None:
            raise ControlError("intercept is not available", 409)
        try:
            return self.intercepts.ring(call_id, supervisor)
        except InterceptRefused as exc:
            raise ControlError(str(exc), exc.status_hint) from exc

    def transfer(self, call_id: int, leg_id: int, target: str, *, attended: bool) -> None:
        """The party of leg `leg_id` transfers its peer to `target` (routed in its context, as
        if it dialled): blind hands the peer on at once and hangs the leg up; attended rings
        the target from the leg's phone while the peer hears music on hold."""
        transfers, call = self._transfers(), self._call(call_id)
        leg = self._leg(call, leg_id)
        if not leg.up:
            raise ControlError(f"leg {leg_id} is {leg.state.name.lower()}, not answered", 409)
        if transfers.consultation_of(call) is not None:
            raise ControlError(f"call {call_id} is in an attended transfer already", 409)
        try:
            if attended:
                transfers.consult(call, leg, target)
            else:
                transfers.blind(call, leg, target, refer=False)
        except TransferRefused as refused:
            status = 404 if refused.status == 404 else 409
            raise ControlError(f"transfer to {target!r}: {refused.reason}", status) from refused
        finally:
            self._signalling.flush()

    def three_way(self, call_id: int, target: str, leg_id: int | None = None) -> None:
        """The party of `leg_id` (default: the answered callee's leg) adds `target`: its phone
        rings the target while its peer hears music, and once the target answers all three
        talk in a room of their own (calls/three_way.py). An attended transfer going on is
        turned into the three-way at once."""
        transfers, call = self._transfers(), self._call(call_id)
        consultation = transfers.consultation_of(call)
        if consultation is not None:
            consultation.merge()
            self._signalling.flush()
            return
        if leg_id is None:
            bridge = call.attachments.get(call.caller_leg)
            answered = bridge.answered_by if isinstance(bridge, BridgeApplication) else None
            if answered is None:
                raise ControlError(f"call {call_id} is not a two-party call", 409)
            leg_id = answered.id
        leg = self._leg(call, leg_id)
        if not leg.up:
            raise ControlError(f"leg {leg_id} is {leg.state.name.lower()}, not answered", 409)
        try:
            transfers.consult(call, leg, target, three_way=True)
        except TransferRefused as refused:
            status = 404 if refused.status == 404 else 409
            raise ControlError(f"three-way with {target!r}: {refused.reason}", status) from refused
        finally:
            self._signalling.flush()

    def transfer_complete(self, call_id: int) -> None:
        """Hand the held party of the call's attended transfer on to the target."""
        self._consultation(call_id).complete()
        self._signalling.flush()

    def transfer_cancel(self, call_id: int) -> None:
        """End the consultation: the target's leg ends, the transferor is back with its peer."""
        self._consultation(call_id).abort()
        self._signalling.flush()

    def _transfers(self) -> Transfers:
        if self.transfers is None:
            raise ControlError("transfers are not available", 409)
        return self.transfers

    def _consultation(self, call_id: int) -> Consultation:
        consultation = self._transfers().consultation_of(self._call(call_id))
        if consultation is None:
            raise ControlError(f"call {call_id} has no attended transfer going on", 409)
        return consultation

    def hold(self, call_id: int, leg_id: int) -> None:
        """Put the leg's party on hold: our re-INVITE says sendonly (RFC 3264 §8.4); a bridged
        party hears music on hold, any other hears nothing, and no one hears it, until resume."""
        self._reoffer(call_id, leg_id, hold=True)

    def resume(self, call_id: int, leg_id: int) -> None:
        self._reoffer(call_id, leg_id, hold=False)

    def pause_recording(self, call_id: int, paused: bool) -> None:
        """Pause (silence in the file, marked in its row: a card number) or resume the call's
        recording; 409 when the call is not being recorded or is already so."""
        call = self._call(call_id)
        recordings = self._signalling.recordings
        recording = None if recordings is None else recordings.recording_of(call)
        if recordings is None or recording is None:
            raise ControlError(f"call {call_id} is not being recorded", 409)
        if recording.paused is paused:
            state = "paused" if paused else "running"
            raise ControlError(f"the recording of call {call_id} is {state} already", 409)
        if paused:
            recordings.pause(call)
        else:
            recordings.resume(call)

    def hang_up(self, call_id: int, cause: str = "hung up by control") -> None:
        """End the call for someone outside SIP; `cause` lands in the CDR (who asked)."""
        signalling = self._signalling
        signalling.hang_up(self._call(call_id), Side.SWITCH, cause)
        signalling.flush()

    def conference_member(
        self,
        call_id: int,
        leg_id: int,
        *,
        muted: bool | None = None,
        deaf: bool | None = None,
        talk_gain: float | None = None,
        listen_gain: float | None = None,
    ) -> None:
        """Mute, deafen or set the gains (0..4, 1 = as is) of a conference member."""
        conferences, leg = self._conference_leg(call_id, leg_id)
        try:
            conferences.member_command(
                leg, muted=muted, deaf=deaf, talk_gain=talk_gain, listen_gain=listen_gain
            )
        except ValueError as exc:  # a gain out of range
            raise ControlError(str(exc), 409) from exc

    def conference_mute_all(self, call_id: int, leg_id: int, on: bool) -> None:
        """Mute (or unmute) every participant of the leg's room; moderators keep their voice."""
        conferences, leg = self._conference_leg(call_id, leg_id)
        conferences.member_command(leg, mute_all=on)

    # ---- supervision (calls/supervision.py) --------------------------------------------
    def supervisions(self) -> list[SupervisionView]:
        return [] if self._supervisions is None else self._supervisions.views()

    def supervise(self, extension: str, supervisor: str, mode: str) -> SupervisionView:
        """Ring `supervisor`'s phone; answered, it listens to (whispers to, barges into) the
        call `extension` is on. 404 when that extension is on no two-party call."""
        supervisions = self._supervision_layer()
        try:
            supervision = supervisions.ring(
                self._signalling, extension, supervisor, mode_named(mode)
            )
        except SupervisionError as exc:
            raise ControlError(str(exc), exc.status_hint) from exc
        return supervision.view()

    def supervise_call(self, call_id: int, supervisor: str, mode: str) -> SupervisionView:
        """The same for a given call: its agent is the extension the call rang (or its caller)."""
        call = self._call(call_id)
        supervisions = self._supervision_layer()
        try:
            extension = supervisions.agent_of(call)
            supervision = supervisions.ring(
                self._signalling, extension, supervisor, mode_named(mode), only=call
            )
        except SupervisionError as exc:
            raise ControlError(str(exc), exc.status_hint) from exc
        return supervision.view()

    def supervision_mode(self, supervision_id: int, mode: str) -> SupervisionView:
        supervisions = self._supervision_layer()
        try:
            supervisions.set_mode(supervision_id, mode_named(mode))
            return supervisions.get(supervision_id).view()
        except SupervisionError as exc:
            raise ControlError(str(exc), exc.status_hint) from exc

    def stop_supervision(self, supervision_id: int) -> None:
        supervisions = self._supervision_layer()
        try:
            supervisions.stop(supervision_id, "stopped by control", self._signalling)
        except SupervisionError as exc:
            raise ControlError(str(exc), exc.status_hint) from exc

    def _supervision_layer(self) -> Supervisions:
        if self._supervisions is None:
            raise ControlError("this switch has no supervision", 404)
        return self._supervisions

    def _conference_leg(self, call_id: int, leg_id: int) -> tuple[Conferences, Leg]:
        call = self._call(call_id)
        leg = self._leg(call, leg_id)
        application = call.attachments.get(leg)
        if not isinstance(application, ConferenceApplication):
            raise ControlError(f"leg {leg_id} of call {call_id} is not in a conference", 409)
        if application.conferences.member_of(leg) is None:
            raise ControlError(f"leg {leg_id} has not joined its room yet (PIN)", 409)
        return application.conferences, leg

    def _reoffer(self, call_id: int, leg_id: int, *, hold: bool) -> None:
        call = self._call(call_id)
        leg = self._leg(call, leg_id)
        if leg.held_by_switch is hold:
            state = "already held" if hold else "not held"
            raise ControlError(f"leg {leg_id} of call {call_id} is {state}", 409)
        if leg.state is not LegState.CONFIRMED or leg.reoffer_key is not None or leg.media is None:
            raise ControlError(f"leg {leg_id} cannot take a re-INVITE now", 409)
        codecs = leg.sdp_shown[0] if leg.sdp_shown else ()
        leg.held_by_switch = hold
        application = call.attachments.get(leg)
        held = Direction.INACTIVE  # media stopped both ways, unless music on hold plays
        if isinstance(application, BridgeApplication):
            application.hold_by_switch(leg, hold)
            held = Direction.SENDONLY
        leg.media.set_direction(held if hold else Direction.SENDRECV)
        offered = Direction.SENDONLY if hold else Direction.SENDRECV
        leg.reoffer(leg.local_sdp(leg.remote_sdp, codecs, offered.value, call.id, bump=True))
        self._signalling.flush()
        for listener in self.hold_listeners:
            listener.hold_changed(call, leg, hold, "control")
        if self._subscribers:
            self._publish(LegChanged(call.id, leg.id, "held" if hold else "resumed", "control"))

    def _call(self, call_id: int) -> Call:
        call = self._signalling.calls.get(call_id)
        if call is None or call.ended:
            raise ControlError(f"no call {call_id}")
        return call

    @staticmethod
    def _leg(call: Call, leg_id: int) -> Leg:
        for leg in call.legs:
            if leg.id == leg_id and not leg.ended:
                return leg
        raise ControlError(f"call {call.id} has no leg {leg_id}")

    # ---- the event stream (CallObserver) -----------------------------------------------
    def _publish(self, event: ControlEvent) -> None:
        for subscription in self._subscribers:
            subscription.put(event)

    def call_started(self, call: Call) -> None:
        if self._subscribers:
            self._publish(CallStarted(call.id, call.caller, call.callee, call.direction))

    def call_answered(self, call: Call) -> None:
        if self._subscribers:
            self._publish(CallAnswered(call.id, call.answered_at or 0.0))

    def call_ended(self, call: Call) -> None:
        if self._subscribers:
            disposition = call.disposition.value if call.disposition else ""
            side = call.hangup_side.value if call.hangup_side else ""
            self._publish(CallEnded(call.id, disposition, call.hangup_cause, side))

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None:
        if self._subscribers:
            self._publish(LegAttached(call.id, leg.id, application.kind))

    def leg_event(self, call: Call, event: LegEvent) -> None:
        if isinstance(event, LegHeld | LegResumed):
            for listener in self.hold_listeners:
                listener.hold_changed(call, event.leg, isinstance(event, LegHeld), "phone")
        if not self._subscribers:
            return
        change = _CHANGES.get(type(event))
        if change is None:
            return
        detail = ""
        if isinstance(event, DigitReceived):
            detail = event.digit
        elif isinstance(event, LegEnded):
            detail = event.cause
        elif isinstance(event, LegRinging):
            detail = str(event.status)
        self._publish(LegChanged(call.id, event.leg.id, change, detail))


_CHANGES: dict[type, str] = {
    LegRinging: "ringing",
    LegAnswered: "answered",
    LegHeld: "held",
    LegResumed: "resumed",
    LegReofferAnswered: "renegotiated",  # our re-INVITE was answered
    LegEnded: "ended",
    DigitReceived: "digit",
}


# What a leg's state means to a person watching the call (API, console); the SIP detail
# (ANSWERED = our 2xx not yet ACKed, CONFIRMED = ACKed) stays inside the leg.
_PARTY_STATES: dict[LegState, str] = {
    LegState.INCOMING: "calling",
    LegState.CALLING: "calling",
    LegState.EARLY: "ringing",
    LegState.ANSWERED: "answered",
    LegState.CONFIRMED: "answered",
    LegState.CANCELLING: "ending",
    LegState.ENDING: "ending",
    LegState.ENDED: "ended",
}


def party_of(call: Call, leg: Leg) -> str:
    """The number of a leg's party, as a screen names it: the caller's number; for a leg the
    switch placed, the number it called (an agent's extension for a queue call, whose callee
    is the queue): the To of our INVITE, since its Request-URI is the phone's registered
    contact, whose user part is whatever the phone chose; for a phone that came in on a call
    of its own and was joined to this one (a pickup), who that phone is (its From)."""
    if leg is call.caller_leg:
        return call.caller
    if leg.inbound:
        return _user_of(leg.invite.from_.uri) or call.callee
    return _user_of(leg.invite.to.uri) or _user_of(leg.invite.uri) or call.callee


def _user_of(uri: str) -> str:
    try:
        return uri_user(parse_uri(uri))
    except RemoteProtocolError:  # a From or To of a scheme we do not read: no user to name
        return ""


def _view(call: Call, recording: str) -> CallView:
    legs = tuple(
        LegView(
            leg.id,
            leg.side,
            _PARTY_STATES[leg.state],
            f"{leg.peer[0]}:{leg.peer[1]}:{leg.peer[2]}",
            app.kind if (app := call.attachments.get(leg)) is not None else "",
            leg.held or leg.held_by_switch,
            leg.media.port if leg.media is not None else None,
        )
        for leg in call.legs
        if not leg.ended
    )
    return CallView(
        call.id,
        call.caller,
        call.callee,
        call.direction,
        call.state.value,
        call.started_at,
        call.answered_at,
        legs,
        recording,
    )
