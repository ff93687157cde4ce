"""Answer from a screen: the switch makes a ringing phone answer by itself.

A SIP phone cannot be told to go off-hook while it rings. What phones do honour is an INVITE
asking to be answered at once, so the switch CANCELs the INVITE ringing the phone and sends it
a new one at once, with the auto-answer headers Polycom, Yealink, Snom, Grandstream and pjsua
read (`Call-Info: <sip:SWITCH>;answer-after=0`, `Alert-Info: <http://127.0.0.1>;info=
alert-autoanswer`). RingCentral's "answer call party" works the same way; Wazo instead sends
the phone an HTTP command through a per-model plugin, FreeSWITCH a `NOTIFY Event: talk` that
only some firmwares accept.

The new leg takes the old one's place in what rang it (`Reringing.rering`): a bridge's forks,
a queue offer's legs, an originate's first leg. So for the ACD it is the same offer (no ring-no-
answer counted, its ring timer runs on, the agent stays offered until the phone answers), the
other phones of a fork keep ringing and are cancelled once one answers, as without the screen.
The old leg is detached before its CANCEL, so its 487 reaches no application.

Errors::

    AnswerRefused(LookupError)  no such call (status_hint 404), or nothing rings that
                                extension in the call, or it cannot be re-rung (409)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from softswitch.calls.application import Application
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg, LegAnswered, LegEnded, LegEvent
from softswitch.calls.signalling import Signalling
from softswitch.config import SrtpMode
from softswitch.sip.sdp import SessionDescription
from softswitch.sip.uri import NameAddr, parse_uri, uri_user

log = logging.getLogger("softswitch.calls")

AUTO_ANSWER_INFO = "answer-after=0"  # Call-Info parameter (Polycom, Yealink, Snom, pjsua)
AUTO_ANSWER_ALERT = "<http://127.0.0.1>;info=alert-autoanswer"  # Alert-Info (Grandstream, Snom)


class AnswerRefused(LookupError):
    def __init__(self, message: str, status_hint: int = 409) -> None:
        super().__init__(message)
        self.status_hint = status_hint


@runtime_checkable
class Reringing(Protocol):
    """An application that rings phones and can swap a ringing leg for its re-INVITE."""

    def rering(self, old: Leg, new: Leg) -> None: ...


@dataclass(frozen=True, slots=True)
class Answering:
    """A re-INVITE with auto-answer out to `extension`'s phone."""

    call_id: int
    leg_id: int
    extension: str


def auto_answer_headers(advertise: str) -> tuple[tuple[str, str], ...]:
    return (
        ("Call-Info", f"<sip:{advertise}>;{AUTO_ANSWER_INFO}"),
        ("Alert-Info", AUTO_ANSWER_ALERT),
    )


def ringing_legs(call: Call, extension: str) -> list[Leg]:
    """The outbound legs of `call` still ringing `extension` (its number in their To)."""
    return [
        leg for leg in call.legs if not leg.inbound and leg.ringing and _to_user(leg) == extension
    ]


def _to_user(leg: Leg) -> str:
    return uri_user(parse_uri(leg.invite.to.uri))


class ScreenAnswers:
    """`answer(call, extension)` for the control layer, and the call observer that keeps track
    of the legs it re-rang (a second ask while one still rings is the same answer)."""

    def __init__(self, signalling: Signalling) -> None:
        self.signalling = signalling
        self._pending: set[Leg] = set()  # re-rung legs not answered or ended yet
        self._rerung: set[Leg] = set()  # every leg rung because a screen asked, until its call ends

    def from_screen(self, leg: Leg) -> bool:
        """Whether `leg` rang because a screen answered for it (the API marks its answer so)."""
        return leg in self._rerung

    def answer(self, call_id: int, extension: str) -> Answering:
        signalling = self.signalling
        call = signalling.calls.get(call_id)
        if call is None or call.ended:
            raise AnswerRefused(f"no call {call_id}", 404)
        legs = ringing_legs(call, extension)
        if not legs:
            raise AnswerRefused(f"call {call_id} is not ringing extension {extension}")
        pending = next((leg for leg in legs if leg in self._pending), None)
        if pending is not None:  # asked twice: the phone is answering already
            return Answering(call.id, pending.id, extension)
        old = legs[0]  # one phone of the extension (the first registered): the others ring on
        application = call.attachments.get(old)
        if not isinstance(application, Reringing):
            raise AnswerRefused(f"call {call_id} cannot be answered from a screen here")
        new = self._rering(call, old, application, extension)
        log.info("call %d: %s answers from a screen (leg %d for %d)", call.id, extension,
                 new.id, old.id)  # fmt: skip
        return Answering(call.id, new.id, extension)

    def _rering(self, call: Call, old: Leg, application: Application, extension: str) -> Leg:
        signalling = self.signalling
        invite = old.invite
        assert old.media is not None and old.sdp_shown is not None
        call.attachments.pop(old, None)  # its 487 is nobody's business
        old.hang_up(signalling.now())  # CANCEL first: it leaves before the new INVITE
        sender = invite.from_
        codecs, direction = old.sdp_shown
        new = signalling.outbound_leg(
            call.id,
            old.peer,
            invite.uri,
            extension,
            old.media,
            SessionDescription.parse(invite.body),
            codecs,
            direction,
            trunk=old.trunk,
            caller=uri_user(parse_uri(sender.uri)),
            display=_display(sender),
            max_forwards=int(invite.header("Max-Forwards") or "70"),
            srtp=self._srtp(extension),
            extra=auto_answer_headers(signalling.advertise),
        )
        call.add_leg(new)
        call.attachments[new] = application
        if call.caller_leg is old:  # an originate's first leg is the call's caller
            call.caller_leg = new
        assert isinstance(application, Reringing)
        application.rering(old, new)
        self._pending.add(new)
        self._rerung.add(new)
        signalling.flush()
        return new

    def _srtp(self, extension: str) -> SrtpMode:
        ext = next((e for e in self.signalling.config.extensions if e.number == extension), None)
        return ext.srtp if ext is not None else SrtpMode.OFF

    # ---- CallObserver --------------------------------------------------------------------
    def call_started(self, call: Call) -> None:
        return

    def call_answered(self, call: Call) -> None:
        return

    def call_ended(self, call: Call) -> None:
        self._pending.difference_update([leg for leg in self._pending if leg.call_ref == call.id])
        self._rerung.difference_update([leg for leg in self._rerung if leg.call_ref == call.id])

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None:
        return

    def leg_event(self, call: Call, event: LegEvent) -> None:
        if isinstance(event, LegAnswered | LegEnded):
            self._pending.discard(event.leg)  # answered (or gone): a second ask re-rings anew


def _display(sender: NameAddr) -> str:
    return (sender.display_name or "").strip().strip('"')
