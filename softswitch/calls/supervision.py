"""Supervision: a supervisor listens to, whispers to, or barges into the call an extension is on.

Two ways in, one machine:

- from the phone: `*33` + extension (listen), `*34` + extension (whisper), `*35` + extension
  (barge), as `[features]` names them. The phone's extension must be the `extension` of a
  `[[users]]` entry whose role is supervisor or admin; anyone else hears a refusal and is hung
  up on, and the attempt is a line in the security log. While supervising, the digits 4, 5, 6
  switch between listen, whisper and barge (Asterisk's ChanSpy with its `d` option);
- from the control layer (the API, the console): `Supervisions.ring` dials the supervisor's
  phone as a new leg of the supervised call and attaches it when it answers.

The supervised call is a two-party bridge (calls/bridge.py). While it is supervised, its two
legs and the supervisor's are in the tick engine and media/supervision_mix.py mixes them in one
shared mixer: the caller and the agent keep hearing each other, the supervisor hears both, and
is heard by nobody (listen), by the agent (whisper) or by both (barge). When the supervision
ends, legs it took into the engine go back to the bridge's relay.

A supervision ends when the supervisor hangs up, when control stops it, or when a hold takes
the call's media. When the supervised call ends, or one of its two legs moves to another
application (a transfer), a supervision from the phone waits, as ChanSpy does: the supervisor
stays on the line in silence, digits still switch the mode, and the agent's next two-party call
is joined as soon as it is connected (`_attach_waiting`, run after any leg is attached or
answered while someone waits). A supervision control rang ends with the call, its leg being
one of the call's. One state table: RINGING (control only: the supervisor's phone rings),
ACTIVE, WAITING (between the agent's calls), ENDED.

Errors::

    SupervisionError(LookupError)  no call for that extension, no such supervision (404), or
                                   not in a state that allows it (409); `status_hint`
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from softswitch.call_record import Side
from softswitch.calls.application import (
    Application,
    ApplicationFactory,
    CallServices,
    answer_here,
    answer_reoffer_here,
)
from softswitch.calls.bridge import BridgeApplication, BridgeState
from softswitch.calls.call import Call
from softswitch.calls.leg import (
    DigitReceived,
    Leg,
    LegAnswered,
    LegEnded,
    LegEvent,
    LegReoffered,
)
from softswitch.calls.nat import reachable
from softswitch.calls.player import PlayerApplication, PlayerShared
from softswitch.calls.routing import RouteTarget
from softswitch.calls.srtp import reachable as srtp_reachable
from softswitch.config import Config, SrtpMode
from softswitch.config_api import Role
from softswitch.config_supervision import SupervisorCodes
from softswitch.media.endpoint import RemoteAddressError
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.mixer import SupervisorMode
from softswitch.media.player import Pause, PlaybackFinished
from softswitch.media.ports import PortsExhausted
from softswitch.media.prompts import PromptLibrary
from softswitch.media.supervision_mix import SupervisionMix
from softswitch.security.log import field as log_field
from softswitch.sip.sdp import answer_codecs, supported_codecs, widened_offer
from softswitch.sip.transaction import Address

log = logging.getLogger("softswitch.calls")
security_log = logging.getLogger("softswitch.security")

SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


class SupervisionError(LookupError):
    def __init__(self, message: str, status_hint: int = 404) -> None:
        super().__init__(message)
        self.status_hint = status_hint


class SupervisionState(Enum):
    RINGING = "ringing"  # control dialled the supervisor's phone
    ACTIVE = "active"
    WAITING = "waiting"  # the supervised call is over: the agent's next one is joined
    ENDED = "ended"


class SupervisionInput(Enum):
    ANSWERED = "answered"
    MODE = "mode"
    CALL_OVER = "call over"
    NEXT_CALL = "next call"
    END = "end"


_TABLE: dict[tuple[SupervisionState, SupervisionInput], SupervisionState] = {
    (SupervisionState.RINGING, SupervisionInput.ANSWERED): SupervisionState.ACTIVE,
    (SupervisionState.RINGING, SupervisionInput.MODE): SupervisionState.RINGING,
    (SupervisionState.RINGING, SupervisionInput.END): SupervisionState.ENDED,
    (SupervisionState.ACTIVE, SupervisionInput.MODE): SupervisionState.ACTIVE,
    (SupervisionState.ACTIVE, SupervisionInput.END): SupervisionState.ENDED,
    (SupervisionState.ACTIVE, SupervisionInput.CALL_OVER): SupervisionState.WAITING,
    (SupervisionState.WAITING, SupervisionInput.NEXT_CALL): SupervisionState.ACTIVE,
    (SupervisionState.WAITING, SupervisionInput.MODE): SupervisionState.WAITING,
    (SupervisionState.WAITING, SupervisionInput.END): SupervisionState.ENDED,
}


_SWITCHABLE = frozenset({SupervisionState.ACTIVE, SupervisionState.WAITING})  # 4/5/6 count

# ---- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupervisionStarted:
    supervision_id: int
    call_id: int
    agent: str  # the supervised extension
    supervisor: str  # the supervisor's extension
    mode: str


@dataclass(frozen=True, slots=True)
class SupervisionChanged:
    """The mode changed, or the state: "waiting" once the supervised call is over."""

    supervision_id: int
    call_id: int
    agent: str
    supervisor: str
    mode: str
    state: str = "active"


@dataclass(frozen=True, slots=True)
class SupervisionEnded:
    supervision_id: int
    call_id: int
    agent: str
    supervisor: str
    mode: str
    cause: str


SupervisionEvent = SupervisionStarted | SupervisionChanged | SupervisionEnded


class SupervisionListener(Protocol):
    def supervision_event(self, event: SupervisionEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class SupervisionView:
    supervision_id: int
    call_id: int
    agent: str
    supervisor: str
    mode: str
    state: str
    supervisor_leg_id: int


# ---- one supervision -----------------------------------------------------------------------


@dataclass(eq=False)
class Supervision:
    id: int
    mode: SupervisorMode
    agent: str
    supervisor: str
    call: Call  # the supervised call
    bridge: BridgeApplication
    agent_leg: Leg
    other_leg: Leg  # the other party of the agent's call (the caller, mostly)
    supervisor_call: Call  # the supervisor's own call (phone), or `call` (control)
    supervisor_leg: Leg | None = None
    state: SupervisionState = SupervisionState.RINGING
    # What this put into the engine (and releases at the end): the parties' audio it took
    # from the relay, and the supervisor's (kept while waiting: its digits still count).
    taken: list[EngineLeg] = field(default_factory=list)
    mine: EngineLeg | None = None
    relayed: bool = False  # the parties were on the bridge's relay before
    cause: str = ""

    def step(self, event: SupervisionInput) -> None:
        try:
            self.state = _TABLE[(self.state, event)]
        except KeyError:
            raise SupervisionError(
                f"supervision {self.id} is {self.state.value}: no {event.value}", 409
            ) from None

    def view(self) -> SupervisionView:
        leg = self.supervisor_leg
        return SupervisionView(
            self.id,
            self.call.id,
            self.agent,
            self.supervisor,
            self.mode.value,
            self.state.value,
            leg.id if leg is not None else 0,
        )


def mode_named(name: str) -> SupervisorMode:
    try:
        return SupervisorMode(name)
    except ValueError:
        raise SupervisionError(
            f"mode must be listen, whisper or barge, not {name!r}", 400
        ) from None


class Supervisions:
    """Every supervision of the switch, the applications of the supervisor's leg, and a call
    observer (calls/signalling.py) that ends supervisions with their calls."""

    def __init__(self, config: Config, prompts: PromptLibrary | None = None) -> None:
        self.config = config
        self.codes: SupervisorCodes = config.features.supervisor
        self.mix = SupervisionMix(on_broken=self._broken)
        self.shared = PlayerShared(prompts or PromptLibrary(), "en")
        self.listeners: list[SupervisionListener] = []
        # The call layer (calls/signalling.py), set by `bind`: its live calls and services.
        self.calls: Callable[[], dict[int, Call]] = dict
        self.services: CallServices | None = None
        self._by_id: dict[int, Supervision] = {}
        self._ids = itertools.count(1)
        self._mix_registered = False
        self._looking = False  # a pass of `_attach_waiting` is due

    def bind(self, services: CallServices, calls: Callable[[], dict[int, Call]]) -> None:
        self.services = services
        self.calls = calls

    # ---- who may -------------------------------------------------------------------------
    def waits(self, supervision: Supervision) -> bool:
        """Whether the supervision waits for the agent's next call when this one is over:
        from a phone, whose own call goes on (control's leg is one of the supervised call's)."""
        leg = supervision.supervisor_leg
        return (
            supervision.state is SupervisionState.ACTIVE
            and supervision.supervisor_call is not supervision.call
            and leg is not None
            and not leg.ended
        )

    def may_supervise(self, extension: str) -> bool:
        """Whether the phone `extension` belongs to a supervisor or an admin user."""
        return any(
            user.extension == extension and user.role in SUPERVISING_ROLES
            for user in self.config.api.users
        )

    # ---- reading -------------------------------------------------------------------------
    def views(self) -> list[SupervisionView]:
        return [s.view() for s in self._by_id.values()]

    def get(self, supervision_id: int) -> Supervision:
        supervision = self._by_id.get(supervision_id)
        if supervision is None:
            raise SupervisionError(f"no supervision {supervision_id}")
        return supervision

    def target(
        self, extension: str, exclude: Call | None = None, only: Call | None = None
    ) -> tuple[Call, BridgeApplication, Leg, Leg]:
        """The connected two-party call `extension` is on (`only`: that call, if it is):
        (call, bridge, its leg, the other)."""
        for call in self.calls().values():
            if call.ended or call is exclude or (only is not None and call is not only):
                continue
            for application in set(call.attachments.values()):
                if not isinstance(application, BridgeApplication):
                    continue
                bridge = application
                party, callee = bridge.party, bridge.answered_by
                if bridge.state is not BridgeState.CONNECTED or party is None or callee is None:
                    continue
                if party.ended or callee.ended:
                    continue
                if bridge.target.kind == "extension" and bridge.target.target == extension:
                    return call, bridge, callee, party
                if party is call.caller_leg and call.caller == extension:
                    return call, bridge, party, callee
        raise SupervisionError(f"extension {extension} is not on a two-party call")

    def agent_of(self, call: Call) -> str:
        """The agent's extension in a two-party call: the one the bridge rang, else the caller
        (an agent's outbound call)."""
        extensions = {e.number for e in self.config.extensions}
        for application in set(call.attachments.values()):
            if isinstance(application, BridgeApplication):
                target = application.target
                if target.kind == "extension":
                    return target.target
                if call.caller in extensions:
                    return call.caller
        raise SupervisionError(f"call {call.id} has no extension to supervise", 409)

    # ---- commands ------------------------------------------------------------------------
    def begin(
        self,
        services: CallServices,
        extension: str,
        supervisor: str,
        mode: SupervisorMode,
        supervisor_call: Call | None,
        only: Call | None = None,
    ) -> Supervision:
        """A supervision of the call `extension` is on; `supervisor_call` is the supervisor's
        own call (phone), None when control rings the supervisor in the supervised call."""
        call, bridge, agent_leg, other_leg = self.target(extension, supervisor_call, only)
        if bridge.holding:
            raise SupervisionError(f"the call of extension {extension} is on hold", 409)
        if self._supervised(call):
            raise SupervisionError(f"the call of extension {extension} is supervised already", 409)
        supervision = Supervision(
            next(self._ids),
            mode,
            extension,
            supervisor,
            call,
            bridge,
            agent_leg,
            other_leg,
            supervisor_call or call,
        )
        self._by_id[supervision.id] = supervision
        if not self._mix_registered:
            services.engine.add_processor(self.mix)
            self._mix_registered = True
        return supervision

    def _supervised(self, call: Call) -> bool:
        return any(
            s.call is call and s.state is not SupervisionState.WAITING for s in self._by_id.values()
        )

    def ring(
        self,
        services: CallServices,
        extension: str,
        supervisor: str,
        mode: SupervisorMode,
        only: Call | None = None,
    ) -> Supervision:
        """Control: ring the supervisor's phone; on answer it supervises `extension`'s call."""
        bindings = services.registrar.lookup(supervisor)
        phone = next((e for e in self.config.extensions if e.number == supervisor), None)
        if phone is None:
            raise SupervisionError(f"no extension {supervisor}")
        destinations = reachable(bindings, phone.nat) if bindings else []
        destinations = [
            (peer, uri)
            for peer, uri in destinations
            if services.allowed(peer[1]) and srtp_reachable(phone.srtp, peer[0])
        ]
        if not destinations:
            raise SupervisionError(f"extension {supervisor} has no reachable phone", 409)
        supervision = self.begin(services, extension, supervisor, mode, None, only)
        services.spawn(self._dial(services, supervision, destinations[0], phone.srtp))
        return supervision

    async def _dial(
        self,
        services: CallServices,
        supervision: Supervision,
        destination: tuple[Address, str],
        srtp: SrtpMode,
    ) -> None:
        call = supervision.call
        try:
            media = await services.open_media()
        except PortsExhausted:
            self.stop(supervision.id, "no RTP ports left", services)
            return
        if supervision.state is SupervisionState.ENDED or call.ended:
            services.close_media(media)
            return
        offer = call.caller_leg.remote_audio
        template = call.caller_leg.remote_sdp
        assert offer is not None and template is not None
        peer, uri = destination
        leg = services.dial(
            call,
            peer,
            uri,
            supervision.supervisor,
            media,
            template,
            widened_offer(supported_codecs(offer)),
            "sendrecv",
            srtp=srtp,  # the supervisor's phone's own setting: SDES toward it over TLS
        )
        supervision.supervisor_leg = leg
        call.attachments[leg] = SupervisionApplication(self, services, call, supervision)
        services.flush()

        def unanswered() -> None:
            if supervision.state is SupervisionState.RINGING:
                self.stop(supervision.id, "the supervisor did not answer", services)

        services.call_later(self.config.calls.ring_timeout_s, unanswered)

    def set_mode(self, supervision_id: int, mode: SupervisorMode) -> None:
        supervision = self.get(supervision_id)
        supervision.step(SupervisionInput.MODE)
        if mode is supervision.mode:
            return
        supervision.mode = mode
        if supervision.id in self.mix:
            self.mix.set_mode(supervision.id, mode)
        log.info("supervision %d: %s now %s", supervision.id, supervision.supervisor, mode.value)
        self._tell(SupervisionChanged(*_ids(supervision), mode.value))

    def stop(self, supervision_id: int, cause: str, services: CallServices) -> None:
        """End the supervision: the legs it took go back to the bridge, the supervisor's leg
        is hung up (in its own call: that whole call)."""
        supervision = self.get(supervision_id)
        self.finish(supervision, cause, services)
        leg = supervision.supervisor_leg
        if leg is None or leg.ended:
            return
        if supervision.supervisor_call is not supervision.call:
            services.hang_up(supervision.supervisor_call, Side.SWITCH, cause)
        else:
            leg.hang_up(services.now())
        services.flush()

    def activate(self, supervision: Supervision, services: CallServices, leg: Leg) -> None:
        """The supervisor's leg is answered: its audio and the two parties' go to the mix."""
        supervision.supervisor_leg = leg
        supervision.step(SupervisionInput.ANSWERED)
        self._mix(supervision, services, leg)

    def _mix(self, supervision: Supervision, services: CallServices, leg: Leg) -> None:
        engine = services.engine

        def audio(call: Call, party: Leg) -> EngineLeg:
            assert party.media is not None
            existing = engine.leg_of(party.media)
            if existing is not None:
                return existing  # a recorded or transcoded call: its legs are in the engine
            taken = services.take_audio(call, party)
            supervision.taken.append(taken)
            return taken

        caller = audio(supervision.call, supervision.other_leg)
        agent = audio(supervision.call, supervision.agent_leg)
        if supervision.mine is None:
            supervision.mine = services.take_audio(supervision.supervisor_call, leg)
        supervision.relayed = bool(supervision.taken)  # the bridge relayed: again at the end
        self.mix.add(supervision.id, caller, agent, supervision.mine, supervision.mode)
        log.info(
            "supervision %d: %s %s call %d of %s",
            supervision.id,
            supervision.supervisor,
            supervision.mode.value,
            supervision.call.id,
            supervision.agent,
        )
        self._tell(SupervisionStarted(*_ids(supervision), supervision.mode.value))

    def finish(self, supervision: Supervision, cause: str, services: CallServices) -> None:
        """End the supervision's mixing and give the parties back; no leg is hung up here."""
        if supervision.state is SupervisionState.ENDED:
            return
        was_active = supervision.state is SupervisionState.ACTIVE
        was_waiting = supervision.state is SupervisionState.WAITING
        supervision.step(SupervisionInput.END)
        supervision.cause = cause
        self._by_id.pop(supervision.id, None)
        self._give_back(supervision, services)
        self.mix.stop_waiting(supervision.id)
        if supervision.mine is not None:
            services.engine.release(supervision.mine)
            supervision.mine = None
        log.info("supervision %d ended: %s", supervision.id, cause)
        if was_active or was_waiting:
            self._tell(SupervisionEnded(*_ids(supervision), supervision.mode.value, cause))

    def _give_back(self, supervision: Supervision, services: CallServices) -> None:
        """Stop mixing the supervised call; its parties go back to what they had."""
        self.mix.remove(supervision.id)
        for taken in supervision.taken:
            # Only what this took: a leg the engine now holds for another (music on hold) stays.
            services.engine.release(taken)
        supervision.taken.clear()
        if supervision.relayed and not supervision.call.ended:
            supervision.bridge.reconnect()  # back to the relay from the next packet
        supervision.relayed = False

    # ---- ChanSpy's wait for the agent's next call ----------------------------------------
    def _wait(self, supervision: Supervision, cause: str, services: CallServices) -> None:
        self._give_back(supervision, services)
        if supervision.mine is not None:
            self.mix.wait(supervision.id, supervision.mine)
        supervision.step(SupervisionInput.CALL_OVER)
        log.info("supervision %d waits for %s's next call: %s", supervision.id,
                 supervision.agent, cause)  # fmt: skip
        self._tell(SupervisionChanged(*_ids(supervision), supervision.mode.value, "waiting"))
        self._look_for_calls(services)

    def _look_for_calls(self, services: CallServices) -> None:
        """After this event is carried out (a bridge connects after its observers hear the
        answer), join waiting supervisions to their agents' calls; one pass at a time."""
        if self._looking or not any(
            s.state is SupervisionState.WAITING for s in self._by_id.values()
        ):
            return
        self._looking = True
        services.call_later(0.0, lambda: self._attach_waiting(services))

    def _attach_waiting(self, services: CallServices) -> None:
        self._looking = False
        for supervision in list(self._by_id.values()):
            if supervision.state is not SupervisionState.WAITING:
                continue
            try:
                call, bridge, agent_leg, other_leg = self.target(
                    supervision.agent, supervision.supervisor_call
                )
            except SupervisionError:
                continue
            if bridge.holding or self._supervised(call):
                continue
            supervision.call, supervision.bridge = call, bridge
            supervision.agent_leg, supervision.other_leg = agent_leg, other_leg
            supervision.step(SupervisionInput.NEXT_CALL)
            leg = supervision.supervisor_leg
            assert leg is not None
            self._mix(supervision, services, leg)

    def _broken(self, supervision_id: int) -> None:
        """A leg of the mix was taken by something else (music on hold) or closed."""
        supervision = self._by_id.get(supervision_id)
        if supervision is not None:
            self._observed_end(supervision, "the call's media changed (hold)", over=False)

    def _tell(self, event: SupervisionEvent) -> None:
        for listener in self.listeners:
            listener.supervision_event(event)

    # ---- the phone's way in: the application of `*33` + extension ------------------------
    def factory(self) -> ApplicationFactory:
        def create(target: RouteTarget, services: CallServices, call: Call) -> Application:
            return self._from_phone(target, services, call)

        return create

    def _from_phone(self, target: RouteTarget, services: CallServices, call: Call) -> Application:
        extension = target.number[len(self._code_of(target.target)) :]
        supervisor = call.caller
        if call.trunk is not None or not self.may_supervise(supervisor):
            host = call.caller_leg.peer[1]
            security_log.warning(
                "refused %s reason=supervisor-code %s %s",
                log_field("src", host),
                log_field("extension", supervisor),
                log_field("dialled", target.number),
            )
            return _Refusal(services, call, self.shared)
        try:
            supervision = self.begin(
                services, extension, supervisor, SupervisorMode(target.target), call
            )
        except SupervisionError as exc:
            log.info("%s dialled %s: %s", supervisor, target.number, exc)
            return _Refusal(services, call, self.shared)
        return SupervisionApplication(self, services, call, supervision)

    def _code_of(self, mode: str) -> str:
        return next(code for code, name in self.codes.prefixes.items() if name == mode)

    # ---- the call observer ---------------------------------------------------------------
    def call_started(self, call: Call) -> None:
        pass

    def call_answered(self, call: Call) -> None:
        if self.services is not None:
            self._look_for_calls(self.services)

    def call_ended(self, call: Call) -> None:
        for supervision in list(self._by_id.values()):
            if supervision.supervisor_call is call:
                self._observed_end(supervision, "call ended", over=False)
            elif supervision.call is call and supervision.state is not SupervisionState.WAITING:
                self._observed_end(supervision, "call ended")

    def leg_attached(self, call: Call, leg: Leg, application: Application) -> None:
        for supervision in list(self._by_id.values()):
            if supervision.state is SupervisionState.WAITING:
                continue
            moved = leg in (supervision.agent_leg, supervision.other_leg)
            if moved and application is not supervision.bridge:
                self._observed_end(supervision, "a party moved away")
        if self.services is not None:
            self._look_for_calls(self.services)

    def leg_event(self, call: Call, event: LegEvent) -> None:
        if isinstance(event, LegAnswered) and self.services is not None:
            self._look_for_calls(self.services)
        if not isinstance(event, LegEnded):
            return
        for supervision in list(self._by_id.values()):
            if supervision.state is SupervisionState.WAITING:
                continue
            if event.leg in (supervision.agent_leg, supervision.other_leg):
                self._observed_end(supervision, "the supervised call ended")

    def _observed_end(self, supervision: Supervision, cause: str, *, over: bool = True) -> None:
        """`over`: the supervised call is over (a phone's supervision waits for the next)."""
        services = self.services
        if services is None:
            return
        if over and self.waits(supervision):
            self._wait(supervision, cause, services)
        else:
            self.stop(supervision.id, cause, services)


def supervision_prefixes(codes: SupervisorCodes) -> dict[str, RouteTarget]:
    """Routing-plan prefixes: each supervisor code (then the extension) reaches `supervise`."""
    return {code: RouteTarget("supervise", mode, code) for code, mode in codes.prefixes.items()}


def _ids(s: Supervision) -> tuple[int, int, str, str]:
    return (s.id, s.call.id, s.agent, s.supervisor)


class SupervisionApplication:
    """The supervisor's leg: answered here (phone) or dialled by control, mixed with the
    supervised call while it lasts; 4/5/6 (as configured) switch modes."""

    kind = "supervise"

    def __init__(
        self,
        supervisions: Supervisions,
        services: CallServices,
        call: Call,
        supervision: Supervision,
    ) -> None:
        self.supervisions = supervisions
        self.services = services
        self.call = call  # the call the supervisor's leg is in
        self.supervision = supervision

    def attach(self, leg: Leg) -> None:
        """The phone's way in: answer the supervisor's call and start mixing."""
        media = leg.media
        assert media is not None, "a leg is attached once its media endpoint is open"
        if leg.unanswered:
            assert leg.remote_audio is not None
            answer_here(leg, answer_codecs(leg.remote_audio), self.call.id, self.services.now())
            self.services.answered(self.call)
        self.supervisions.activate(self.supervision, self.services, leg)

    def detach(self, leg: Leg) -> None:
        if leg is self.supervision.supervisor_leg:
            self.supervisions.finish(self.supervision, "supervisor moved", self.services)

    def on_event(self, event: LegEvent) -> None:
        supervision = self.supervision
        if event.leg is not supervision.supervisor_leg:
            return
        if isinstance(event, LegAnswered):
            self._answered(event)
        elif isinstance(event, LegEnded):
            self.supervisions.finish(supervision, f"supervisor: {event.cause}", self.services)
            if self.call is supervision.supervisor_call and self.call is not supervision.call:
                self.services.hang_up(self.call, event.leg.side, event.cause)
        elif isinstance(event, LegReoffered):
            answer_reoffer_here(event, self.call.id)
        elif isinstance(event, DigitReceived):
            name = self.supervisions.codes.digits.get(event.digit)
            if name is not None and supervision.state in _SWITCHABLE:
                self.supervisions.set_mode(supervision.id, SupervisorMode(name))

    def _answered(self, event: LegAnswered) -> None:
        leg, audio = event.leg, event.audio
        supervision = self.supervision
        if supervision.state is not SupervisionState.RINGING or audio is None or leg.media is None:
            leg.hang_up(self.services.now())
            return
        try:
            leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
        except RemoteAddressError as exc:
            log.info("supervisor SDP unusable: %s", exc)
        self.supervisions.activate(supervision, self.services, leg)


class _Refusal(PlayerApplication):
    """Who may not supervise, or has no call to supervise: a short refusal, then goodbye."""

    kind = "supervise_refused"
    interruptible = False

    def started(self) -> None:
        names = ("invalid_option", "goodbye")
        self.play([Pause(0.3), *(self.shared.prompt(n) for n in names), Pause(0.3)])

    def finished(self, event: PlaybackFinished) -> None:
        self.hang_up_from_switch("supervision refused")
