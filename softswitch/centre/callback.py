"""Queue callbacks carried out on calls: the agent first, then the caller who kept its place.

The engine decides (acd/engine.py: a callback entry waits at the caller's original position and
is offered like a caller); this carries its decisions out. An `OfferCall` for a callback entry
makes a call of the switch's own (`CallServices.originate`) to the agent's phone, attached to a
`CallbackRun`. The agent's answer is reported to the engine, whose `DialCallback` has the agent
hear "callback for <number>" (a whisper only the agent hears), then the agent's leg moves to a
bridge that dials the number (an extension's phones, or a trunk through the routing plan). The
number answering is `callback_answered`; refusing, not answering or a number nobody routes is
`callback_failed` (the engine retries at the same place or gives up, all in the queue log); an
`EndCallback` (the engine's dial timeout) hangs the attempt up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from softswitch.call_record import Disposition, Side
from softswitch.calls.application import CallServices
from softswitch.calls.bridge import BridgeApplication
from softswitch.calls.call import Call
from softswitch.calls.leg import Leg, LegAnswered, LegEnded, LegEvent
from softswitch.calls.nat import reachable
from softswitch.calls.player import PlayerApplication, PlayerShared
from softswitch.calls.routing import RouteTarget
from softswitch.calls.srtp import reachable as srtp_reachable
from softswitch.config import SrtpMode
from softswitch.ivr.say import SayKind, say
from softswitch.media.endpoint import RemoteAddressError
from softswitch.media.player import Pause, PlaybackFinished
from softswitch.media.ports import PortsExhausted

if TYPE_CHECKING:
    from softswitch.centre.queue import CallCentre

log = logging.getLogger("softswitch.acd")

DIALLABLE = frozenset({"extension", "trunk"})  # what a callback number may route to


class RunState(Enum):
    RINGING_AGENT = "ringing agent"
    WHISPER = "whisper"  # the agent answered and hears whom the callback is for
    DIALING = "dialing"  # the agent's leg is in a bridge that rings the number
    CONNECTED = "connected"
    OVER = "over"


class CallbackRun(PlayerApplication):
    """One attempt of one callback: the switch's call to the agent, then to the number."""

    kind = "callback"
    interruptible = False

    def __init__(
        self,
        centre: CallCentre,
        key: str,
        agent: str,
        number: str,
        services: CallServices,
        call: Call,
        shared: PlayerShared,
    ) -> None:
        super().__init__(services, call, shared)
        self.centre = centre
        self.key = key  # the engine's id of the callback entry (the original caller's call)
        self.agent = agent
        self.number = number
        self.state = RunState.RINGING_AGENT
        self.agent_leg = call.caller_leg

    # ---- the agent's leg ---------------------------------------------------------------
    def rering(self, old: Leg, new: Leg) -> None:
        """A screen's answer (calls/answer.py): `new` rings the agent, the same attempt."""
        if self.agent_leg is old:
            self.agent_leg = new

    def on_event(self, event: LegEvent) -> None:
        if self.state is RunState.RINGING_AGENT:
            if isinstance(event, LegAnswered):
                self._agent_answered(event)
            elif isinstance(event, LegEnded):
                self._agent_refused(event.status or 480)
            return
        super().on_event(event)

    def _agent_answered(self, event: LegAnswered) -> None:
        leg = event.leg
        if event.audio is None or leg.media is None:
            self.services.hang_up(self.call, Side.SWITCH, "agent answered without SDP")
            return
        try:
            leg.media.set_remote(event.audio.address, event.audio.port, event.audio.rtcp_port)
        except RemoteAddressError as exc:
            log.info("callback %s: agent SDP unusable: %s", self.key, exc)
        self.state = RunState.WHISPER
        self.attach(leg)  # answered already: only its audio moves into the engine
        self.centre.step(self.centre.engine.agent_answered, self.key, self.agent)

    def _agent_refused(self, status: int) -> None:
        self.state = RunState.OVER
        self.centre.forget_run(self)
        engine = self.centre.engine
        report = {486: engine.agent_busy, 600: engine.agent_busy, 603: engine.agent_rejected}
        self.services.end(self.call, Disposition.NO_ANSWER, str(status), Side.CALLEE)
        self.centre.step(report.get(status, engine.agent_no_answer), self.key, self.agent)

    # ---- what the engine asks ----------------------------------------------------------
    def dial(self) -> None:
        """DialCallback: the agent hears whom the callback is for, then the number rings."""
        digits = say(SayKind.DIGITS, self.number, "en") if self.number.isdigit() else []
        names = ["callback_for", *digits]
        prompts = self.shared.prompts
        self.play([Pause(0.2), *(self.shared.prompt(n) for n in names if prompts.has("en", n))])

    def finished(self, event: PlaybackFinished) -> None:
        if event.interrupted or self.state is not RunState.WHISPER or self.leg is None:
            return
        target = self.centre.resolve(self.number)
        if target is None or target.kind not in DIALLABLE:
            log.info("callback %s: %s routes to %s: not diallable", self.key, self.number, target)
            self.hang_up_from_switch(f"callback number {self.number} is not diallable")
            return
        self.state = RunState.DIALING
        bridge = BridgeApplication.create(target, self.services, self.call)
        bridge.agent = self.agent
        self.services.move(self.call, self.leg, bridge)

    def cancel(self) -> None:
        """CancelOffer (the agent paused, logged out) or EndCallback: this attempt ends."""
        if self.state is RunState.OVER:
            return
        self.state = RunState.OVER
        self.centre.forget_run(self)
        self.leave_engine()
        if not self.call.ended:
            self.services.hang_up(self.call, Side.SWITCH, "callback cancelled")
            self.services.flush()

    # ---- the call's end, seen by the centre's CallObserver -------------------------------
    def answered(self) -> None:
        if self.state is RunState.DIALING:
            self.state = RunState.CONNECTED
            self.centre.step(self.centre.engine.callback_answered, self.key)

    def ended(self, call: Call) -> None:
        state, self.state = self.state, RunState.OVER
        engine, step = self.centre.engine, self.centre.step
        if state is RunState.RINGING_AGENT:
            step(engine.agent_no_answer, self.key, self.agent)
        elif state in (RunState.WHISPER, RunState.DIALING):
            step(engine.callback_failed, self.key)
        elif state is RunState.CONNECTED:
            # The agent's leg is the bridge's party (it hangs up as the caller side); the
            # number's leg is its callee.
            if call.hangup_side is Side.CALLER:
                step(engine.agent_hung_up, self.key)
            elif call.hangup_side is Side.CALLEE:
                step(engine.caller_hung_up, self.key)
            else:
                step(engine.call_vanished, self.key)


async def ring_agent(
    centre: CallCentre,
    services: CallServices,
    shared: PlayerShared,
    key: str,
    agent: str,
    number: str,
    caller_id: str,
) -> None:
    """An OfferCall for a callback entry: the switch calls the agent's first reachable phone."""
    bindings = services.registrar.lookup(agent)
    extension = next((e for e in services.config.extensions if e.number == agent), None)
    destinations = reachable(bindings, extension.nat) if bindings and extension else []
    srtp = extension.srtp if extension is not None else SrtpMode.OFF
    destinations = [
        (peer, uri)
        for peer, uri in destinations
        if services.allowed(peer[1]) and srtp_reachable(srtp, peer[0])
    ]
    engine = centre.engine
    if not destinations:
        log.info("callback %s: agent %s has no reachable phone", key, agent)
        centre.step(engine.agent_no_answer, key, agent)
        return
    try:
        media = await services.open_media()
    except PortsExhausted:
        centre.step(engine.agent_no_answer, key, agent)
        return
    if not centre.still_offered(key, agent):
        services.close_media(media)
        return
    peer, uri = destinations[0]
    with centre.originating():
        call = services.originate(caller_id, peer, uri, agent, media, srtp=srtp)
    run = CallbackRun(centre, key, agent, number, services, call, shared)
    call.attachments[call.caller_leg] = run
    centre.track_run(run)
    services.flush()


Resolver = Callable[[str], RouteTarget | None]
