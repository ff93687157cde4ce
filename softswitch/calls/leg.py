"""A leg: one SIP dialog of the switch toward one party, as a sans-IO state machine.

A caller's INVITE makes an inbound leg (we are its UAS); every INVITE the switch sends makes an
outbound leg (we are its UAC). The leg owns its INVITE, its dialog, its offer/answer state and
the versions of the SDP it showed (RFC 3264 §8). It never touches a socket or a clock: time comes
in as `now`, the messages to send go to the shared `Outbox` (drained by `calls/signalling.py`
after every step), and what happened comes out as typed events (`LegRinging`, `LegAnswered`,
`LegHeld`, `LegEnded`, `DigitReceived`, ...) for the application the leg is attached to.

Every state change goes through `_TABLE`: an input from our own code that the table does not
allow raises `LocalProtocolError`; one from the network (a late response, a BYE for a leg that
is ending) is absorbed, as the transaction layer does.

Errors::

    LocalProtocolError (sip/errors.py)   a command the leg's state does not allow
    RemoteProtocolError (sip/errors.py)  an unparseable SDP body or in-dialog request from the
                                         peer; its status_hint is the response to send
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from enum import Enum, auto
from typing import TYPE_CHECKING

from softswitch.call_record import Side
from softswitch.calls.leg_events import DigitReceived as DigitReceived
from softswitch.calls.leg_events import EndedBy as EndedBy
from softswitch.calls.leg_events import LegAnswered as LegAnswered
from softswitch.calls.leg_events import LegEnded as LegEnded
from softswitch.calls.leg_events import LegEvent as LegEvent
from softswitch.calls.leg_events import LegHeld as LegHeld
from softswitch.calls.leg_events import LegReofferAnswered as LegReofferAnswered
from softswitch.calls.leg_events import LegReoffered as LegReoffered
from softswitch.calls.leg_events import LegReofferFailed as LegReofferFailed
from softswitch.calls.leg_events import LegResumed as LegResumed
from softswitch.calls.leg_events import LegRinging as LegRinging
from softswitch.calls.leg_events import LegSettings as LegSettings
from softswitch.calls.leg_events import Outbox as Outbox
from softswitch.calls.leg_events import Output as Output
from softswitch.calls.leg_events import Purpose as Purpose
from softswitch.calls.leg_events import SendAck as SendAck
from softswitch.calls.leg_events import SendCancel as SendCancel
from softswitch.calls.leg_events import SendRequest as SendRequest
from softswitch.calls.leg_events import SendResponse as SendResponse
from softswitch.calls.leg_events import TransferRequested as TransferRequested
from softswitch.sip.dialog import Dialog
from softswitch.sip.digest import build_authorization, parse_challenge
from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.message import Request, Response, make_response, warning_value
from softswitch.sip.refer import ReferTo, sipfrag
from softswitch.sip.sdp import AudioStream, Codec, SessionDescription, rewrite
from softswitch.sip.transaction import Address, TransactionKey, build_cancel

if TYPE_CHECKING:
    from softswitch.calls.srtp import LegSrtp
    from softswitch.config import Trunk
    from softswitch.media.endpoint import MediaEndpoint


class LegState(Enum):
    __hash__ = object.__hash__  # identity hash in C: every transition hashes two members

    INCOMING = auto()  # inbound: INVITE received, no provisional with a tag sent yet
    CALLING = auto()  # outbound: INVITE sent, no provisional with a tag received
    EARLY = auto()  # an early dialog: 1xx with a tag sent (inbound) or received (outbound)
    ANSWERED = auto()  # inbound: our 2xx sent, its ACK not yet received
    CONFIRMED = auto()  # the dialog is up: ACK received (inbound) or sent (outbound)
    CANCELLING = auto()  # outbound: CANCEL sent, the INVITE's final response awaited
    ENDING = auto()  # our BYE sent, its final response awaited
    ENDED = auto()


class LegInput(Enum):
    __hash__ = object.__hash__

    # commands from the application (local: a disallowed one raises)
    SEND_PROVISIONAL = auto()
    SEND_SUCCESS = auto()
    SEND_FAILURE = auto()
    SEND_CANCEL = auto()
    SEND_BYE = auto()
    # from the network or a timer (absorbed when not allowed)
    RECV_ACK = auto()
    RECV_CANCEL = auto()
    RECV_BYE = auto()
    RECV_PROVISIONAL = auto()
    RECV_EARLY = auto()  # a provisional with a To tag: an early dialog
    RECV_SUCCESS = auto()
    RECV_FAILURE = auto()
    RETRY_AUTH = auto()  # a challenge to our INVITE, answered with the trunk's credentials
    INVITE_TIMEOUT = auto()  # Timer B: no final response to our INVITE
    ACK_TIMEOUT = auto()  # 64*T1 without ACK for our 2xx (RFC 3261 §13.3.1.4)
    BYE_DONE = auto()  # our BYE got its final response, or timed out


S = LegState
I = LegInput  # noqa: E741 - the table reads better with a one-letter name

_TABLE: dict[tuple[LegState, LegInput], LegState] = {
    # inbound (UAS)
    (S.INCOMING, I.SEND_PROVISIONAL): S.EARLY,  # our 1xx carries our To tag: an early dialog
    (S.INCOMING, I.SEND_SUCCESS): S.ANSWERED,
    (S.INCOMING, I.SEND_FAILURE): S.ENDED,
    (S.INCOMING, I.RECV_CANCEL): S.ENDED,
    (S.EARLY, I.SEND_PROVISIONAL): S.EARLY,
    (S.EARLY, I.SEND_SUCCESS): S.ANSWERED,
    (S.EARLY, I.SEND_FAILURE): S.ENDED,
    (S.EARLY, I.RECV_CANCEL): S.ENDED,
    (S.ANSWERED, I.RECV_ACK): S.CONFIRMED,
    (S.ANSWERED, I.SEND_BYE): S.ENDING,
    (S.ANSWERED, I.RECV_BYE): S.ENDED,
    (S.ANSWERED, I.ACK_TIMEOUT): S.ENDING,
    (S.CONFIRMED, I.RECV_ACK): S.CONFIRMED,  # the ACK of a re-INVITE's 2xx
    # outbound (UAC)
    (S.CALLING, I.RECV_PROVISIONAL): S.CALLING,
    (S.CALLING, I.RECV_EARLY): S.EARLY,
    (S.CALLING, I.RECV_SUCCESS): S.CONFIRMED,  # the 2xx is ACKed at once
    (S.CALLING, I.RECV_FAILURE): S.ENDED,
    (S.CALLING, I.INVITE_TIMEOUT): S.ENDED,
    (S.CALLING, I.SEND_CANCEL): S.CANCELLING,
    (S.CALLING, I.RETRY_AUTH): S.CALLING,
    (S.EARLY, I.RECV_PROVISIONAL): S.EARLY,
    (S.EARLY, I.RECV_EARLY): S.EARLY,
    (S.EARLY, I.RECV_SUCCESS): S.CONFIRMED,
    (S.EARLY, I.RECV_FAILURE): S.ENDED,
    (S.EARLY, I.INVITE_TIMEOUT): S.ENDED,
    (S.EARLY, I.SEND_CANCEL): S.CANCELLING,
    (S.EARLY, I.RETRY_AUTH): S.CALLING,
    (S.CANCELLING, I.RECV_PROVISIONAL): S.CANCELLING,
    (S.CANCELLING, I.RECV_EARLY): S.CANCELLING,
    (S.CANCELLING, I.RECV_SUCCESS): S.ENDING,  # answered as the CANCEL crossed: ACK and BYE
    (S.CANCELLING, I.RECV_FAILURE): S.ENDED,  # the 487 for our CANCEL
    (S.CANCELLING, I.INVITE_TIMEOUT): S.ENDED,
    (S.CONFIRMED, I.RECV_SUCCESS): S.CONFIRMED,  # a retransmitted 2xx: ACK it again (§13.2.2.4)
    (S.ENDING, I.RECV_SUCCESS): S.ENDING,
    # both
    (S.CONFIRMED, I.SEND_BYE): S.ENDING,
    (S.CONFIRMED, I.RECV_BYE): S.ENDED,
    (S.ENDING, I.RECV_BYE): S.ENDING,  # BYEs crossed: ours still awaits its answer
    (S.ENDING, I.BYE_DONE): S.ENDED,
}

_LOCAL = frozenset({I.SEND_PROVISIONAL, I.SEND_SUCCESS, I.SEND_FAILURE, I.SEND_CANCEL, I.SEND_BYE})
_RINGING = frozenset({S.CALLING, S.EARLY})
_UNANSWERED = frozenset({S.INCOMING, S.EARLY})
_IN_DIALOG = frozenset({S.ANSWERED, S.CONFIRMED})


ALLOWED_METHODS = (
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "REFER"
)  # fmt: skip
KNOWN_UNSUPPORTED = frozenset({"SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "PRACK"})
DTMF_DIGITS = frozenset("0123456789*#ABCD")
DTMF_INFO_TYPES = frozenset({"application/dtmf-relay", "application/dtmf"})


# ---- the leg -------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class Leg:
    """One dialog; made by `Leg.inbound` for a received INVITE, `Leg.outbound` for ours."""

    id: int
    side: Side  # CALLER or CALLEE: who this party is in the call, for the call record
    inbound: bool
    peer: Address  # where requests for this leg go (the flow it came from or goes to)
    invite: Request  # the INVITE received (inbound) or the last one sent (outbound)
    local_tag: str
    settings: LegSettings
    outbox: Outbox
    state: LegState = LegState.INCOMING
    invite_key: TransactionKey | None = None
    dialog: Dialog | None = None
    media: MediaEndpoint | None = None
    remote_sdp: SessionDescription | None = None  # the peer's last SDP (offer or answer)
    remote_audio: AudioStream | None = None
    sdp_version: int = 0
    sdp_shown: tuple[tuple[Codec, ...], str] | None = None  # our last SDP: codecs, direction
    trunk: Trunk | None = None  # outbound to a trunk: its credentials answer a challenge
    auth_attempted: bool = False
    first_response_sent: bool = False
    held: bool = False  # the peer's last offer put us on hold
    held_by_switch: bool = False  # control put this leg's party on hold (our re-INVITE)
    # the peer's re-INVITE we have not answered yet, and our own outstanding re-INVITE
    pending_reoffer: Request | None = None
    reoffer_key: TransactionKey | None = None
    session_id: int = 0  # the o= session id of our SDP toward this leg, fixed at its first
    answered_at: float | None = None
    ended_at: float | None = None
    call_ref: int = 0  # the id of the call this leg belongs to (0: none yet)
    srtp: LegSrtp | None = None  # SDES toward this leg (calls/srtp.py); None: plain RTP

    @classmethod
    def inbound_from(
        cls,
        leg_id: int,
        invite: Request,
        source: Address,
        key: TransactionKey | None,
        local_tag: str,
        settings: LegSettings,
        outbox: Outbox,
        *,
        sdp: SessionDescription | None = None,
    ) -> Leg:
        """The caller's leg for a received INVITE; `sdp` is its offer, parsed by the caller
        (or here when not given)."""
        if sdp is None and invite.body:
            sdp = SessionDescription.parse(invite.body)
        leg = cls(
            leg_id, Side.CALLER, True, source, invite, local_tag, settings, outbox, invite_key=key
        )
        if sdp is not None:
            leg.remote_sdp = sdp
            leg.remote_audio = sdp.audio
        return leg

    @classmethod
    def outbound_to(
        cls,
        leg_id: int,
        peer: Address,
        invite: Request,
        settings: LegSettings,
        outbox: Outbox,
        *,
        trunk: Trunk | None = None,
        sdp_version: int = 1,
    ) -> Leg:
        """A callee leg for `invite` (From tag ours); the INVITE is queued to send at once."""
        local_tag = invite.from_.tag or ""
        leg = cls(
            leg_id,
            Side.CALLEE,
            False,
            peer,
            invite,
            local_tag,
            settings,
            outbox,
            state=LegState.CALLING,
            trunk=trunk,
            sdp_version=sdp_version,
        )
        outbox.append(SendRequest(invite, leg, Purpose.INVITE))
        return leg

    # ---- machinery ---------------------------------------------------------------------
    def _transition(self, event: LegInput) -> bool:
        new = _TABLE.get((self.state, event))
        if new is None:
            if event in _LOCAL:
                raise LocalProtocolError(
                    f"leg {self.id}: {event.name} not allowed in {self.state.name}"
                )
            return False
        self.state = new
        return True

    @property
    def ended(self) -> bool:
        return self.state is LegState.ENDED

    @property
    def ringing(self) -> bool:
        """An outbound INVITE still waiting for its final response (and not cancelled)."""
        return self.state in _RINGING and not self.inbound

    @property
    def unanswered(self) -> bool:
        """An inbound INVITE still waiting for our final response."""
        return self.inbound and self.state in _UNANSWERED

    @property
    def up(self) -> bool:
        """The dialog is established (answered; for inbound, maybe not yet ACKed)."""
        return self.state in _IN_DIALOG

    def _respond(
        self,
        status: int,
        reason: str | None,
        *,
        body: bytes = b"",
        warning: str | None = None,
        request: Request | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        """A response to the leg's INVITE (or to `request`), with our Contact on 1xx/2xx."""
        settings = self.settings
        extra = list(extra or ())
        if status < 300:
            extra.append(("Contact", settings.contact(self.peer[0])))
            extra.append(("Allow", settings.allow))
        if body:
            extra.append(("Content-Type", "application/sdp"))
        if warning:
            extra.append(("Warning", warning_value(warning)))
        target = request or self.invite
        response = make_response(
            target, status, reason, to_tag=self.local_tag, extra=extra, body=body
        )
        first = request is None and not self.first_response_sent
        if request is None:
            self.first_response_sent = True
        self.outbox.append(SendResponse(response, self, first))

    def _in_dialog_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        cseq: int | None = None,
        extra: list[tuple[str, str]] | None = None,
    ) -> Request:
        dialog = self.dialog
        assert dialog is not None
        settings = self.settings
        transport = self.peer[0]
        extra = list(extra or ())
        contact = None
        if method == "INVITE":
            contact = settings.contact(transport)
            extra.append(("Content-Type", "application/sdp"))
        return dialog.create_request(
            method,
            via=settings.via(transport),
            contact=contact,
            max_forwards=settings.max_forwards,
            extra=extra,
            body=body,
            cseq=cseq,
        )

    def _ack(self, cseq: int) -> None:
        self.outbox.append(SendAck(self._in_dialog_request("ACK", cseq=cseq), self))

    def _ended(
        self, now: float, by: EndedBy, cause: str, status: int = 0, reason: str = ""
    ) -> LegEnded:
        self.ended_at = now
        return LegEnded(self, now, by, cause, status, reason)

    # ---- our SDP -----------------------------------------------------------------------
    def local_sdp(
        self,
        template: SessionDescription | None,
        codecs: tuple[Codec, ...],
        direction: str,
        session_id: int,
        *,
        bump: bool = False,
    ) -> bytes:
        """Our SDP toward this leg, on its media endpoint's port.

        The same codecs and direction again (183, then 200) keep the version (RFC 3264 §8);
        `bump` forces a new version, as a fresh offer in a re-INVITE needs.
        """
        assert self.media is not None, "a leg shows SDP only once its media endpoint is open"
        if not self.session_id:
            self.session_id = session_id
        session_id = self.session_id
        shown = (codecs, direction)
        if bump or shown != self.sdp_shown:
            self.sdp_version += 1
            self.sdp_shown = shown
        settings = self.settings
        if template is None or template.audio is None:
            sdp = SessionDescription(
                origin_user="softswitch",
                session_id=session_id,
                session_version=self.sdp_version,
                origin_address=settings.advertise,
                session_name="softswitch",
                audio=AudioStream(settings.advertise, self.media.port, codecs, direction),
            )
        else:
            sdp = rewrite(
                template,
                address=settings.advertise,
                port=self.media.port,
                codecs=codecs,
                direction=direction,
                session_id=session_id,
                version=self.sdp_version,
            )
        srtp = self.srtp
        if srtp is not None and sdp.audio is not None:
            sdp.audio = replace(sdp.audio, profile=srtp.profile, crypto=srtp.lines)
        return sdp.serialize()

    # ---- inbound commands --------------------------------------------------------------
    def ring(self, status: int = 180, reason: str | None = None, *, body: bytes = b"") -> None:
        """Send a provisional response (with SDP for early media) to the caller."""
        self._transition(I.SEND_PROVISIONAL)
        self._respond(status, reason, body=body)

    def answer(self, body: bytes, now: float) -> None:
        """Send our 2xx with `body` (an SDP answer); the dialog starts (RFC 3261 §12.1.1)."""
        self._transition(I.SEND_SUCCESS)
        self.dialog = Dialog.as_uas(self.invite, self.local_tag)
        self.answered_at = now
        self._respond(200, None, body=body)

    def reject(
        self,
        status: int,
        reason: str | None = None,
        *,
        warning: str | None = None,
        now: float = 0.0,
    ) -> None:
        """Refuse the caller's INVITE with a final response."""
        self._transition(I.SEND_FAILURE)
        self.ended_at = now
        self._respond(status, reason, warning=warning)

    # ---- outbound commands -------------------------------------------------------------
    def request_sent(
        self, purpose: Purpose, key: TransactionKey | None, now: float
    ) -> list[LegEvent]:
        """The signalling layer sent our request: its transaction key, or None if refused."""
        if purpose is Purpose.INVITE:
            self.invite_key = key
            if key is None and self._transition(I.INVITE_TIMEOUT):
                return [
                    self._ended(
                        now, EndedBy.LOCAL, "destination refused", 503, "Service Unavailable"
                    )
                ]
        elif purpose is Purpose.REINVITE:
            self.reoffer_key = key
            if key is None:
                return [LegReofferFailed(self, now, 503, "Service Unavailable")]
        elif key is None and purpose is Purpose.BYE:
            self._transition(I.BYE_DONE)
        return []

    def cancel(self) -> None:
        """CANCEL our INVITE (RFC 3261 §9.1); the leg ends on the INVITE's final response."""
        self._transition(I.SEND_CANCEL)
        self.outbox.append(SendCancel(build_cancel(self.invite), self))

    def _retry_with_credentials(self, response: Response) -> bool:
        """Answer a carrier's challenge once with the trunk's credentials (RFC 3261 §22.2)."""
        trunk = self.trunk
        if trunk is None or not trunk.username or trunk.password is None or self.auth_attempted:
            return False
        header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        reply = "Authorization" if response.status == 401 else "Proxy-Authorization"
        challenge = None
        for value in response.header_lines(header):
            try:
                challenge = parse_challenge(value)
                break
            except RemoteProtocolError:
                continue
        if challenge is None or not self._transition(I.RETRY_AUTH):
            return False
        invite = self.invite
        credentials = build_authorization(
            challenge,
            method="INVITE",
            uri=invite.uri,
            username=trunk.username,
            password=trunk.password,
            cnonce=secrets.token_hex(8),
            nc=1,
        )
        headers = [(name, value) for name, value in invite.headers if name not in ("Via", "CSeq")]
        headers.insert(0, ("Via", self.settings.via(self.peer[0])))
        headers.append(("CSeq", f"{invite.cseq.seq + 1} INVITE"))
        headers.append((reply, credentials))
        self.auth_attempted = True
        self.invite = Request("INVITE", invite.uri, headers, invite.body)
        self.invite_key = None
        self.outbox.append(SendRequest(self.invite, self, Purpose.INVITE))
        return True

    # ---- both --------------------------------------------------------------------------
    def hang_up(self, now: float, *, status: int = 487) -> None:
        """End the leg whatever its state: BYE in a dialog, CANCEL while it rings, a final
        `status` to an unanswered caller; nothing once it is ending. Commands emit no events:
        the application that hangs up knows it did."""
        if self.state in _IN_DIALOG:
            self._transition(I.SEND_BYE)
            self.ended_at = now
            self.outbox.append(SendRequest(self._in_dialog_request("BYE"), self, Purpose.BYE))
        elif self.ringing:
            self.cancel()
        elif self.unanswered:
            self.reject(status, now=now)

    def reoffer(self, body: bytes) -> None:
        """Send a re-INVITE with our new SDP offer (hold, resume, a new address)."""
        if self.state is not S.CONFIRMED or self.reoffer_key is not None:
            raise LocalProtocolError(f"leg {self.id}: no re-INVITE in {self.state.name}")
        request = self._in_dialog_request("INVITE", body=body)
        self.outbox.append(SendRequest(request, self, Purpose.REINVITE))

    def answer_reoffer(self, body: bytes) -> None:
        request = self.pending_reoffer
        if request is None:
            raise LocalProtocolError(f"leg {self.id}: no re-INVITE to answer")
        self.pending_reoffer = None
        self._respond(200, None, body=body, request=request)

    def reject_reoffer(self, status: int, reason: str | None = None) -> None:
        request = self.pending_reoffer
        if request is None:
            raise LocalProtocolError(f"leg {self.id}: no re-INVITE to refuse")
        self.pending_reoffer = None
        self._respond(status, reason, request=request)

    # ---- network input -----------------------------------------------------------------
    def receive_ack(self, request: Request, now: float) -> None:
        self._transition(I.RECV_ACK)

    def receive_cancel(self, now: float) -> list[LegEvent]:
        """The caller cancelled its INVITE: 487 to it (RFC 3261 §9.2)."""
        if not self._transition(I.RECV_CANCEL):
            return []
        self._respond(487, None)
        return [self._ended(now, EndedBy.REMOTE, "CANCEL")]

    def ack_timed_out(self, now: float) -> list[LegEvent]:
        """Our 2xx was never ACKed: the caller is gone; BYE it (RFC 3261 §13.3.1.4)."""
        if not self._transition(I.ACK_TIMEOUT):
            return []
        self.outbox.append(SendRequest(self._in_dialog_request("BYE"), self, Purpose.BYE))
        return [self._ended(now, EndedBy.TIMEOUT, "no ACK")]

    def receive_request(self, request: Request, now: float) -> list[LegEvent]:
        """An in-dialog request (not ACK): answered here, or handed on as an event."""
        assert self.dialog is not None
        self.dialog.accept_request(request)
        method = request.method
        if method == "BYE":
            self._respond(200, None, request=request)
            was_ending = self.state is S.ENDING
            if self._transition(I.RECV_BYE) and not was_ending:
                return [self._ended(now, EndedBy.REMOTE, "BYE")]
            return []
        if method == "INVITE":
            return self._receive_reinvite(request, now)
        if method == "INFO":
            self._respond(200, None, request=request)
            return self._dtmf_info(request, now)
        if method == "REFER":
            return self._refer(request, now)
        if method == "OPTIONS" or (method == "UPDATE" and not request.body):
            self._respond(200, None, request=request)
        elif method == "UPDATE":
            self._respond(488, None, request=request, warning="UPDATE with SDP is not supported")
        elif method in KNOWN_UNSUPPORTED:
            self._respond(405, None, request=request, extra=[("Allow", self.settings.allow)])
        else:
            self._respond(501, None, request=request, extra=[("Allow", self.settings.allow)])
        return []

    def _receive_reinvite(self, request: Request, now: float) -> list[LegEvent]:
        assert self.dialog is not None
        self.dialog.update_target(request)
        if not request.body:
            # An offerless re-INVITE only refreshes the session: our current SDP is the offer.
            body = self._current_sdp()
            self._respond(200, None, body=body, request=request)
            return []
        if self.pending_reoffer is not None or self.reoffer_key is not None:
            self._respond(491, None, request=request)  # RFC 3261 §14.2: an offer is outstanding
            return []
        offer = SessionDescription.parse(request.body)
        if offer.audio is None:
            self._respond(488, None, request=request)
            return []
        self.pending_reoffer = request
        self.remote_sdp = offer
        self.remote_audio = offer.audio
        if self.srtp is not None:
            self.srtp.reoffered(offer.audio)  # a re-key; an offer without one keeps the keys
        events: list[LegEvent] = []
        held = offer.audio.on_hold
        if held != self.held:
            self.held = held
            events.append(LegHeld(self, now) if held else LegResumed(self, now))
        events.append(LegReoffered(self, now, offer))
        return events

    def _refer(self, request: Request, now: float) -> list[LegEvent]:
        """RFC 3515 §2.4.2: accept with 202 in a confirmed dialog; the NOTIFYs follow."""
        if self.state is not S.CONFIRMED:
            self._respond(491 if self.state is S.ANSWERED else 481, None, request=request)
            return []
        refer_to = ReferTo.of(request)  # a RemoteProtocolError is answered 400 by signalling
        self._respond(202, None, request=request)
        return [TransferRequested(self, now, refer_to)]

    def notify_refer(self, status: int, reason: str, *, final: bool) -> None:
        """Tell the transferor how its REFER's call went: a sipfrag NOTIFY (RFC 3515 §2.4.5)."""
        if self.state is not S.CONFIRMED:
            return
        state = "terminated;reason=noresource" if final else "active;expires=60"
        extra = [
            ("Event", "refer"),
            ("Subscription-State", state),
            ("Content-Type", "message/sipfrag;version=2.0"),
        ]
        request = self._in_dialog_request("NOTIFY", body=sipfrag(status, reason), extra=extra)
        self.outbox.append(SendRequest(request, self, Purpose.NOTIFY))

    def _current_sdp(self) -> bytes:
        assert self.media is not None
        codecs = self.sdp_shown[0] if self.sdp_shown else ()
        direction = self.sdp_shown[1] if self.sdp_shown else "sendrecv"
        return self.local_sdp(None, codecs, direction, 0, bump=True)

    def _dtmf_info(self, request: Request, now: float) -> list[LegEvent]:
        """RFC 2976 INFO with application/dtmf-relay ("Signal=5") or application/dtmf ("5")."""
        content_type = request.content_type
        if content_type not in DTMF_INFO_TYPES or not request.body:
            return []
        text = request.body.decode("ascii", "replace")
        digit = ""
        duration_ms = 0
        if content_type == "application/dtmf":
            digit = text.strip()
        else:
            for line in text.splitlines():
                name, _, value = line.partition("=")
                name = name.strip().lower()
                if name == "signal":
                    digit = value.strip()
                elif name == "duration" and value.strip().isdigit():
                    duration_ms = min(int(value.strip()), 60_000)
        digit = digit.upper()
        if len(digit) != 1 or digit not in DTMF_DIGITS:
            return []
        return [DigitReceived(self, now, digit, duration_ms, "info")]

    def receive_response(self, response: Response, purpose: Purpose, now: float) -> list[LegEvent]:
        """A response to one of our requests on this leg."""
        if purpose is Purpose.INVITE:
            return self._invite_response(response, now)
        if purpose is Purpose.REINVITE:
            return self._reinvite_response(response, now)
        if response.status >= 200 and purpose is Purpose.BYE:
            self._transition(I.BYE_DONE)
        return []

    def _invite_response(self, response: Response, now: float) -> list[LegEvent]:
        status = response.status
        if status < 200:
            if status == 100:
                return []
            early = I.RECV_EARLY if response.to.tag else I.RECV_PROVISIONAL
            if not self._transition(early) or self.state is S.CANCELLING:
                return []
            audio = self._sdp_of(response)
            return [LegRinging(self, now, status, response.reason, audio)]
        if status < 300:
            return self._invite_success(response, now)
        if status in (401, 407) and self._retry_with_credentials(response):
            return []
        if not self._transition(I.RECV_FAILURE):
            return []
        return [self._ended(now, EndedBy.REMOTE, str(status), status, response.reason)]

    def _invite_success(self, response: Response, now: float) -> list[LegEvent]:
        was = self.state
        if not self._transition(I.RECV_SUCCESS):
            return []
        if self.dialog is None:
            self.dialog = Dialog.as_uac(self.invite, response)
        self._ack(self.invite.cseq.seq)
        if was is S.CANCELLING:
            # Answered while our CANCEL crossed it: the dialog exists, end it with BYE.
            self.outbox.append(SendRequest(self._in_dialog_request("BYE"), self, Purpose.BYE))
            return []
        if was not in _RINGING:
            return []  # a retransmitted 2xx, ACKed again above
        self.answered_at = now
        audio = self._sdp_of(response) or self.remote_audio
        return [LegAnswered(self, now, audio)]

    def _reinvite_response(self, response: Response, now: float) -> list[LegEvent]:
        status = response.status
        if status < 200:
            return []
        self.reoffer_key = None
        if status >= 300:
            return [LegReofferFailed(self, now, status, response.reason)]
        assert self.dialog is not None
        self.dialog.update_target(response)
        self._ack(response.cseq.seq)
        return [LegReofferAnswered(self, now, self._sdp_of(response))]

    def invite_timed_out(self, now: float) -> list[LegEvent]:
        """Timer B: our INVITE got no final response; for the caller it is this phone's 408."""
        if not self._transition(I.INVITE_TIMEOUT):
            return []
        return [self._ended(now, EndedBy.TIMEOUT, "408", 408, "Request Timeout")]

    def request_timed_out(self, purpose: Purpose, now: float) -> list[LegEvent]:
        if purpose is Purpose.INVITE:
            return self.invite_timed_out(now)
        if purpose is Purpose.REINVITE:
            self.reoffer_key = None
            return [LegReofferFailed(self, now, 408, "Request Timeout")]
        if purpose is Purpose.BYE:
            self._transition(I.BYE_DONE)
        return []

    def receive_stray_success(self, response: Response) -> None:
        """A 2xx retransmitted after its transaction ended: ACK it again (§13.2.2.4)."""
        if self.dialog is not None and not self.inbound:
            self._ack(self.invite.cseq.seq)

    def _sdp_of(self, response: Response) -> AudioStream | None:
        if not response.body or response.content_type != "application/sdp":
            return None
        sdp = SessionDescription.parse(response.body)
        if sdp.audio is None:
            return None
        self.remote_sdp = sdp
        self.remote_audio = sdp.audio
        srtp = self.srtp
        if srtp is not None:
            accepted = srtp.answered(sdp.audio)
            if srtp.mandatory:
                srtp.failed = not accepted  # a 183 without our line may be followed by a 200 with
            elif not accepted:
                srtp.offered = ()  # best effort declined: plain RTP (calls/srtp.py apply)
        return sdp.audio
