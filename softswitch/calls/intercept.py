"""Intercept: a supervisor's phone takes over the call an agent is on.

Two ways in, one takeover:

- from the phone: `*36` + extension (`[features] supervise_intercept`), only from a phone of a
  supervisor or admin user (else 403 and a security-log line). The supervisor's INVITE is
  answered inside the agent's call (its leg is adopted there, as a pickup's is), and its own
  call ends with the cause "intercepted call N";
- from the control layer (the API): `Intercepts.ring` dials the supervisor's phone as a new leg
  of the agent's call; its answer takes the call over.

The takeover: the agent's party (the caller) moves to a `BridgeApplication.joining` the
supervisor's leg, with no new dialog toward it; leaving its old bridge hangs up the agent's
leg. Just before, the transfer listeners hear of it with kind "intercept", so the call centre
ends the agent's part (a TRANSFER row naming the supervisor, then wrap-up as after any call)
and the API publishes `call_transferred`. The call's callee becomes the supervisor (the CDR
says who ended with the caller) and its variables get `intercepted_by` and `intercepted_from`.

Only a call the agent was called on (a queue call, a direct call) can be intercepted; an
agent's own outbound call is refused (409), as is a call on hold.

Errors::

    InterceptRefused(LookupError)  no such call or no call for that extension (404), not in a
                                   state that allows it (409); `status_hint`
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from softswitch.call_record import Disposition, Side
from softswitch.calls.application import (
    Application,
    CallServices,
    Timer,
    answer_here,
    answer_reoffer_here,
)
from softswitch.calls.bridge import BridgeApplication
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg, LegAnswered, LegEnded, LegEvent, LegReoffered
from softswitch.calls.nat import reachable
from softswitch.calls.pickup import common_codec
from softswitch.calls.routing import RouteTarget
from softswitch.calls.signalling import Signalling
from softswitch.calls.srtp import reachable as srtp_reachable
from softswitch.calls.supervision import SupervisionError, Supervisions
from softswitch.calls.transfer import TransferListener
from softswitch.config import SrtpMode
from softswitch.media.endpoint import Direction, MediaEndpoint, RemoteAddressError
from softswitch.media.ports import PortsExhausted
from softswitch.security.log import field as log_field
from softswitch.sip.sdp import supported_codecs, widened_offer
from softswitch.sip.transaction import Address

log = logging.getLogger("softswitch.calls")
security_log = logging.getLogger("softswitch.security")


class InterceptRefused(LookupError):
    def __init__(self, message: str, status_hint: int = 409) -> None:
        super().__init__(message)
        self.status_hint = status_hint


@dataclass(frozen=True, slots=True)
class Interception:
    """What control started: the supervisor's phone rings as leg `leg_id` of the call."""

    call_id: int
    agent: str
    supervisor: str
    leg_id: int


@dataclass(eq=False)
class _Target:
    call: Call
    bridge: BridgeApplication
    agent_leg: Leg
    party: Leg  # the caller: the bridge's party, who stays
    agent: str


@dataclass(eq=False)
class Intercepts:
    """The registry's factory for kind "intercept" and control's `ring`; `signalling` is set by
    b2bua.py once it exists."""

    supervisions: Supervisions
    signalling: Signalling | None = None
    listeners: list[TransferListener] = field(default_factory=list)

    # ---- finding the call ----------------------------------------------------------------
    def _target(self, extension: str, exclude: Call | None, only: Call | None) -> _Target:
        try:
            call, bridge, agent_leg, other = self.supervisions.target(extension, exclude, only)
        except SupervisionError as exc:
            raise InterceptRefused(str(exc), 404) from exc
        if other is not bridge.party:
            raise InterceptRefused(f"extension {extension} placed this call itself")
        if bridge.holding:
            raise InterceptRefused(f"the call of extension {extension} is on hold")
        return _Target(call, bridge, agent_leg, other, extension)

    # ---- the takeover --------------------------------------------------------------------
    def take_over(self, target: _Target, leg: Leg, supervisor: str) -> None:
        """`leg` (the supervisor's, answered, in the target's call) replaces the agent."""
        signalling = self.signalling
        assert signalling is not None and leg.media is not None
        call = target.call
        call.variables["intercepted_by"] = supervisor
        call.variables["intercepted_from"] = target.agent
        call.variables["transferred_by"] = supervisor
        for listener in self.listeners:  # the agent's part ends before the party moves on
            listener.transferring(call, target.agent_leg, supervisor, "intercept")
        call.callee = supervisor
        joined = BridgeApplication.joining(
            RouteTarget("extension", supervisor, supervisor), signalling, call, leg, leg.media
        )
        signalling.move(call, target.party, joined)  # the old bridge hangs the agent up
        log.info("call %d: intercepted from %s by %s", call.id, target.agent, supervisor)

    # ---- from the phone ------------------------------------------------------------------
    def create(self, target: RouteTarget, services: CallServices, call: Call) -> Application:
        return InterceptApplication(self, target.number, target.number[len(target.target) :], call)

    # ---- from control --------------------------------------------------------------------
    def ring(self, call_id: int, supervisor: str) -> Interception:
        signalling = self.signalling
        assert signalling is not None
        call = signalling.calls.get(call_id)
        if call is None or call.ended:
            raise InterceptRefused(f"no call {call_id}", 404)
        try:
            agent = self.supervisions.agent_of(call)
        except SupervisionError as exc:
            raise InterceptRefused(str(exc), exc.status_hint) from exc
        if agent == supervisor:
            raise InterceptRefused("a phone cannot intercept its own call")
        target = self._target(agent, None, call)
        phone = next((e for e in signalling.config.extensions if e.number == supervisor), None)
        if phone is None:
            raise InterceptRefused(f"no extension {supervisor}", 404)
        destinations = [
            (peer, uri)
            for peer, uri in reachable(signalling.registrar.lookup(supervisor), phone.nat)
            if signalling.allowed(peer[1]) and srtp_reachable(phone.srtp, peer[0])
        ]
        if not destinations:
            raise InterceptRefused(f"extension {supervisor} has no reachable phone")
        ringing = _Ringing(self, signalling, target, supervisor, destinations[0], phone.srtp)
        media = signalling.open_media_now()
        if media is None:  # no socket pair bound ahead: the INVITE leaves once one is open
            signalling.spawn(ringing.dial_later())
            return Interception(call.id, agent, supervisor, 0)
        leg = ringing.dial(media)
        log.info("call %d: %s rings to intercept %s", call.id, supervisor, agent)
        return Interception(call.id, agent, supervisor, leg.id)


class _Ringing:
    """The supervisor's phone ringing for control's intercept; its answer takes over."""

    kind = "intercept"

    def __init__(
        self,
        intercepts: Intercepts,
        signalling: Signalling,
        target: _Target,
        supervisor: str,
        destination: tuple[Address, str],
        srtp: SrtpMode,
    ) -> None:
        self.intercepts = intercepts
        self.signalling = signalling
        self.target = target
        self.supervisor = supervisor
        self.destination = destination
        self.srtp = srtp
        self.timer: Timer | None = None

    def dial(self, media: MediaEndpoint) -> Leg:
        """The supervisor's phone as a new leg of the agent's call, on the caller's codecs."""
        signalling, call = self.signalling, self.target.call
        offer, template = call.caller_leg.remote_audio, call.caller_leg.remote_sdp
        assert offer is not None and template is not None
        peer, uri = self.destination
        leg = signalling.dial(
            call, peer, uri, self.supervisor, media, template,
            widened_offer(supported_codecs(offer)), "sendrecv", srtp=self.srtp,
        )  # fmt: skip
        call.attachments[leg] = self
        self.timer = signalling.call_later(signalling.config.calls.ring_timeout_s, self.timeout)
        signalling.flush()
        return leg

    async def dial_later(self) -> None:
        signalling = self.signalling
        try:
            media = await signalling.open_media()
        except PortsExhausted:
            log.warning("call %d: no RTP ports left to intercept", self.target.call.id)
            return
        if self.target.call.ended:
            signalling.close_media(media)
            return
        self.dial(media)

    def attach(self, leg: Leg) -> None:
        return None

    def detach(self, leg: Leg) -> None:
        return None

    def timeout(self) -> None:
        self.timer = None
        for leg in self.target.call.legs:
            if self.target.call.attachments.get(leg) is self and leg.ringing:
                log.info("call %d: %s did not answer the intercept", leg.call_ref, self.supervisor)
                leg.hang_up(self.signalling.now())
        self.signalling.flush()

    def on_event(self, event: LegEvent) -> None:
        leg, signalling = event.leg, self.signalling
        if isinstance(event, LegReoffered):
            answer_reoffer_here(event, self.target.call.id)
            return
        if isinstance(event, LegEnded):
            self._stop_timer()
            return
        if not isinstance(event, LegAnswered):
            return
        self._stop_timer()
        audio = event.audio
        try:
            target = self.intercepts._target(self.target.agent, None, self.target.call)
        except InterceptRefused as exc:
            log.info("call %d: intercept by %s dropped: %s", leg.call_ref, self.supervisor, exc)
            leg.hang_up(signalling.now())
            signalling.flush()
            return
        if audio is None or leg.media is None:
            leg.hang_up(signalling.now())
            signalling.flush()
            return
        try:
            leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
        except RemoteAddressError as exc:
            log.info("supervisor SDP unusable: %s", exc)
        leg.media.set_direction(Direction.SENDRECV)
        self.intercepts.take_over(target, leg, self.supervisor)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class InterceptApplication:
    """`*36` + extension from a supervisor's phone: its leg is answered in the agent's call."""

    kind = "intercept"

    def __init__(self, intercepts: Intercepts, dialled: str, extension: str, call: Call) -> None:
        self.intercepts = intercepts
        self.dialled = dialled
        self.extension = extension
        self.call = call

    def attach(self, leg: Leg) -> None:
        intercepts, call = self.intercepts, self.call
        signalling = intercepts.signalling
        assert signalling is not None
        supervisor = call.caller
        if call.trunk is not None or not intercepts.supervisions.may_supervise(supervisor):
            security_log.warning(
                "refused %s reason=intercept-code %s %s",
                log_field("src", call.caller_leg.peer[1]),
                log_field("extension", supervisor),
                log_field("dialled", self.dialled),
            )
            self._refuse(leg, 403, "only a supervisor may intercept")
            return
        try:
            target = intercepts._target(self.extension, call, None)
        except InterceptRefused as exc:
            self._refuse(leg, 480, str(exc))
            return
        common = common_codec(target.party, leg)
        if common is None:
            self._refuse(leg, 488, "no codec in common with the call")
            return
        signalling.adopt(target.call, leg, call)
        answer_here(leg, common[1], target.call.id, signalling.now())
        intercepts.take_over(target, leg, supervisor)
        signalling.answered(call)
        signalling.end(call, Disposition.ANSWERED, f"intercepted call {target.call.id}",
                       Side.CALLER)  # fmt: skip
        signalling.flush()

    def _refuse(self, leg: Leg, status: int, reason: str) -> None:
        signalling = self.intercepts.signalling
        assert signalling is not None
        signalling.fail(self.call, status, reason)  # `leg` is the supervisor's, the caller's
        signalling.flush()

    def detach(self, leg: Leg) -> None:
        return None

    def on_event(self, event: LegEvent) -> None:
        return None  # the supervisor's leg leaves this call in attach


def intercept_prefix(code: str) -> dict[str, RouteTarget]:
    """The routing-plan prefix of `supervise_intercept` (then the extension); none when off."""
    return {code: RouteTarget("intercept", code, code)} if code else {}
