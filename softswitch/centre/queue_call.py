"""A caller waiting in a queue (`QueueCall`, the queue application of centre/queue.py's
`CallCentre`), and the agents' legs ringing for it.

The caller's leg is answered and hears the queue's announcements and music. An `OfferCall`
rings every registered phone of the agent as outbound legs of the caller's call (`offer`); the
first answer is reported to the engine, whose `ConnectAgent` moves the caller's leg to a bridge
joined to the agent's leg (`connect`), cutting the music in the same tick. Two others may take
the caller instead of an offered agent: a phone picking it up (`pick_up`, calls/pickup.py) and
a transferor waiting here for the caller it holds (`consult_for`, calls/consult_queue.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from softswitch.acd.caller import CallerState
from softswitch.acd.errors import AcdError
from softswitch.acd.events import (
    CallerExited,
    OfferCall,
)
from softswitch.acd.model import Requirement, TargetKind
from softswitch.call_record import Side
from softswitch.calls.application import Application, CallServices, Timer
from softswitch.calls.bridge import BridgeApplication
from softswitch.calls.call import Call
from softswitch.calls.consult_queue import QueueConsultOwner
from softswitch.calls.leg import DigitReceived, Leg, LegAnswered, LegEnded, LegEvent
from softswitch.calls.nat import reachable
from softswitch.calls.player import PlayerApplication
from softswitch.calls.routing import RouteTarget
from softswitch.calls.srtp import reachable as srtp_reachable
from softswitch.config import SrtpMode
from softswitch.ivr.flow import QUEUE_AGENT
from softswitch.ivr.say import SayError, SayKind, say
from softswitch.media.endpoint import MediaEndpoint, RemoteAddressError
from softswitch.media.player import Pause, PlaybackFinished, PlayItem
from softswitch.media.ports import PortsExhausted

log = logging.getLogger("softswitch.acd")

if TYPE_CHECKING:
    from softswitch.centre.queue import CallCentre

# (transport, host, port) of a phone to ring, as sip.transaction.Address (centre/ reads no sip/)
Address = tuple[str, str, int]


@dataclass
class _Offer:
    agent: str
    legs: list[Leg] = field(default_factory=list)
    media: MediaEndpoint | None = None
    cancelled: bool = False


class QueueCall(PlayerApplication):
    """A caller's leg while it waits in a queue, and the agents' legs ringing for it."""

    kind = "queue"
    interruptible = False  # keys are exit keys, music goes on

    def __init__(self, centre: CallCentre, queue: str, services: CallServices, call: Call) -> None:
        super().__init__(services, call, centre.shared)
        self.centre = centre
        self.queue = queue
        self.key = str(call.id)
        self.offers: dict[str, _Offer] = {}
        self.connected_agent: str | None = None
        self._announce: Timer | None = None
        self._leaving = False
        self._leave_cause = ""
        self._answered_by: Leg | None = None
        self._callback_number: str | None = None  # offered to the caller, not yet confirmed
        self._entered_at: float | None = None  # perf_counter at queue entry, until first offer
        self._picked: tuple[str, Leg] | None = None  # (extension, leg) picking the call up
        # `*2` to this queue (calls/consult_queue.py): the transferor waits here for the held
        # party; `consulting` is its leg until the transfer is done or given up.
        self._owner: QueueConsultOwner | None = None
        self.consulting: Leg | None = None
        self._former: Leg | None = None  # the transferor's leg, once the held party took over

    # ---- a transferor consulting (calls/consult_queue.py's ConsultedQueue) ---------------
    def consult_for(self, owner: QueueConsultOwner | None, transferor: Leg | None) -> None:
        self._owner = owner
        self.consulting = transferor

    def attach(self, leg: Leg) -> None:
        if self._owner is not None and self.leg is not None and leg is not self.leg:
            self._take_place(leg)
            return
        super().attach(leg)

    def _take_place(self, leg: Leg) -> None:
        """The held party takes the transferor's place: same entry, same offers ringing."""
        former = self.leg
        if former is not None:
            super().detach(former)
            self.call.attachments.pop(former, None)
        self._former, self._owner = former, None
        self.leg = leg
        self.audio = self.services.take_audio(self.call, leg)
        self.shared.player_on(self.services).hold(self.audio)
        self.play(self.centre.moh(self.queue))
        log.info("call %d: the held party waits in queue %s", self.call.id, self.queue)

    def withdraw(self) -> None:
        self._owner = None
        self.consulting = None
        self._stop_announcing()
        if self.leg is not None:
            super().detach(self.leg)
        if self.centre.calls.get(self.key) is not self:
            return  # the engine let the entry go already (a timeout, an exit key)
        del self.centre.calls[self.key]
        engine = self.centre.engine
        if self.connected_agent is not None:
            self.centre.step(engine.agent_hung_up, self.key)
        else:
            self.centre.step(engine.caller_hung_up, self.key)

    # ---- the caller's side -------------------------------------------------------------
    def started(self) -> None:
        self.centre.calls[self.key] = self
        call = self.call
        variables = call.variables
        priority = _int(variables.get("priority", ""), 0, 9)
        only_agent = variables.pop(QUEUE_AGENT, "")  # for this queue entry only
        self._enqueue(priority, _requirements(variables.get("skills", "")), only_agent)

    def _enqueue(
        self, priority: int, requirements: tuple[Requirement, ...], only_agent: str = ""
    ) -> None:
        centre = self.centre
        self._entered_at = time.perf_counter()  # sub-millisecond: uvloop's clock counts ms
        try:
            events = centre.engine.enqueue(
                self.key,
                self.queue,
                centre.wall_clock(),
                priority=priority,
                requirements=requirements,
                caller_number=self.call.caller,
                only_agent=only_agent,
            )
        except AcdError as exc:
            log.warning("call %d: queue %s refused: %s", self.call.id, self.queue, exc)
            self._say_and_hang_up(["all_agents_busy", "goodbye"], f"queue: {exc}")
            return
        offered_now = any(isinstance(e, OfferCall) and e.call == self.key for e in events)
        if not offered_now:
            self._entered_at = None  # no agent was free: the wait is not the offer's latency
        centre.apply(events)  # the agent's INVITE is on its way before anything is played
        if self._leaving or self.audio is None:
            return
        if offered_now:
            # An agent rings already: music, and the position only if the caller still waits
            # when the next announcement is due (building one costs milliseconds).
            self.shared.player.stop(self.audio)
            self.play(self.centre.moh(self.queue))
            every = self.centre.queue_configs[self.queue].announce_every_s
            if every > 0:
                self._announce = self.services.call_later(every, self._announce_now)
        else:
            self._announce_now()

    def digit(self, event: DigitReceived) -> None:
        number, self._callback_number = self._callback_number, None
        if number is None:
            self.centre.step(self.centre.engine.caller_pressed, self.key, event.digit)
        elif event.digit == "1":
            self._book_callback(number)
        else:
            self._announce_now()  # not confirmed: the caller just waits on

    def offer_callback(self, number: str) -> None:
        """The callback key: read the number back and ask for 1 to confirm."""
        if not number.isdigit() or self.audio is None or self._leaving:
            log.info("call %d: no callback to %r", self.call.id, number)
            return
        self._callback_number = number
        self._stop_announcing()
        self.shared.player.stop(self.audio)
        names = ["callback_offer", *say(SayKind.DIGITS, number, "en"), "callback_confirm"]
        self.play([Pause(0.2), *(self.shared.prompt(n) for n in names), Pause(0.5)])

    def _book_callback(self, number: str) -> None:
        engine = self.centre.engine
        self.centre.step(engine.request_callback, self.key, number)
        entry = engine.caller(self.key)
        if entry is not None and entry.state is CallerState.CALLBACK_WAITING:
            # The entry waits at this place without a leg: the caller may hang up.
            self.centre.keep_variables(self.key, self.call.variables)
            self._say_and_hang_up(["callback_booked", "goodbye"], "callback requested")
        else:
            self._announce_now()

    def detach(self, leg: Leg) -> None:
        if leg is self.leg:
            self._stop_announcing()
        super().detach(leg)

    def _announce_now(self) -> None:
        self._announce = None
        if self.audio is None or self._leaving:
            return
        self.shared.player.stop(self.audio)
        self.play([*self._announcement(), Pause(0.3), *self.centre.moh(self.queue)])
        every = self.centre.queue_configs[self.queue].announce_every_s
        if every > 0:
            self._announce = self.services.call_later(every, self._announce_now)

    def _announcement(self) -> list[PlayItem]:
        engine, now = self.centre.engine, self.centre.wall_clock()
        names = ["please_hold"]
        try:
            position = engine.position(self.key, now)
            ewt = engine.estimated_wait(self.key, now)
            names += ["you_are_caller_number", *say(SayKind.NUMBER, str(position), "en")]
            if ewt is not None and ewt >= 60:
                minutes = str(round(ewt / 60))
                names += ["estimated_wait", *say(SayKind.MINUTES, minutes, "en")]
        except (AcdError, SayError) as exc:
            log.debug("call %d: no position to announce: %s", self.call.id, exc)
        return [self.shared.prompt(name) for name in names if self.shared.prompts.has("en", name)]

    def finished(self, event: PlaybackFinished) -> None:
        if event.interrupted or self.audio is None:
            return
        if self._leaving:
            self.hang_up_from_switch(self._leave_cause)
        else:
            self.play(self.centre.moh(self.queue))  # the music loops until the next announcement

    def _stop_announcing(self) -> None:
        if self._announce is not None:
            self._announce.cancel()
            self._announce = None

    def gone(self) -> None:
        self._stop_announcing()

    def _say_and_hang_up(self, names: list[str], cause: str) -> None:
        owner = self._owner
        if owner is not None:  # the transferor goes back to the held party instead
            self.centre.calls.pop(self.key, None)
            self.services.call_later(0.0, lambda: owner.queue_left(cause))
            return
        self._leaving = True
        self._leave_cause = cause
        self._stop_announcing()
        if self.audio is None:
            self.services.hang_up(self.call, Side.SWITCH, cause)
            return
        self.shared.player.stop(self.audio)
        self.play([Pause(0.2), *(self.shared.prompt(n) for n in names), Pause(0.3)])

    def exit(self, event: CallerExited) -> None:
        """Leave for voicemail, a flow or hang-up (another queue is `moved`)."""
        target = event.target
        registry = self.centre.registry
        kind = "ivr" if target.kind is TargetKind.FLOW else str(target.kind)
        log.info("call %d: leaves queue %s (%s) for %s", self.call.id, event.queue,
                 event.reason.value, target)  # fmt: skip
        self.centre.calls.pop(self.key, None)
        if self._owner is not None:
            self._owner.queue_left(f"{event.reason.value} to {target}")
            return
        leg = self.leg
        if (
            target.kind is not TargetKind.HANGUP
            and registry is not None
            and kind in registry
            and leg is not None
        ):
            self.services.move(
                self.call, leg, registry.create(RouteTarget(kind, target.name, target.name),
                                                self.services, self.call)
            )  # fmt: skip
            return
        if target.kind is not TargetKind.HANGUP:
            log.warning("call %d: no %s application yet: hanging up", self.call.id, target.kind)
        self._say_and_hang_up(["all_agents_busy", "goodbye"], f"queue {event.reason.value}")

    def moved(self, queue: str) -> None:
        self.queue = queue

    # ---- the agents' side --------------------------------------------------------------
    def offer(self, agent: str) -> None:
        """Ring the agent in this tick when an endpoint is ready (the engine's decision and
        the INVITE in one loop turn); else once one is opened."""
        offer = self.offers[agent] = _Offer(agent)
        destinations, srtp = self._destinations(offer.agent)
        if not destinations:
            log.info("call %d: agent %s has no reachable phone", self.call.id, offer.agent)
            self._offer_failed(offer, 480)
            return
        media = self.services.open_media_now()
        if media is None:
            self.services.spawn(self._ring(offer, destinations, srtp))
        else:
            self._dial(offer, media, destinations, srtp, self.leg)

    def _destinations(self, agent: str) -> tuple[list[tuple[Address, str]], SrtpMode]:
        services = self.services
        bindings = services.registrar.lookup(agent)
        extension = next((e for e in services.config.extensions if e.number == agent), None)
        destinations = reachable(bindings, extension.nat) if bindings and extension else []
        destinations = [(peer, uri) for peer, uri in destinations if services.allowed(peer[1])]
        srtp = extension.srtp if extension is not None else SrtpMode.OFF
        destinations = [(peer, uri) for peer, uri in destinations if srtp_reachable(srtp, peer[0])]
        return destinations, srtp

    async def _ring(
        self, offer: _Offer, destinations: list[tuple[Address, str]], srtp: SrtpMode
    ) -> None:
        party = self.leg
        try:
            media = await self.services.open_media()
        except PortsExhausted:
            self._offer_failed(offer, 503)
            return
        self._dial(offer, media, destinations, srtp, party)

    def _dial(
        self,
        offer: _Offer,
        media: MediaEndpoint,
        destinations: list[tuple[Address, str]],
        srtp: SrtpMode,
        party: Leg | None,
    ) -> None:
        services, call = self.services, self.call
        if offer.cancelled or call.ended or party is None or self.leg is not party:
            services.close_media(media)
            return
        offer.media = media
        offer_sdp = party.remote_sdp
        assert offer_sdp is not None and party.sdp_shown is not None
        codecs = party.sdp_shown[0]
        for peer, uri in destinations:
            leg = services.dial(
                call, peer, uri, offer.agent, media, offer_sdp, codecs, "sendrecv", srtp=srtp
            )
            offer.legs.append(leg)
            call.attachments[leg] = self
        services.flush()
        latency, entered = self.centre.offer_latency, self._entered_at
        if latency is not None and entered is not None:
            self._entered_at = None  # the first offer only: later ones waited for an agent
            latency.observe(time.perf_counter() - entered)

    def rering(self, old: Leg, new: Leg) -> None:
        """A screen's answer (calls/answer.py): `new` rings the agent's phone for the same
        offer, so the engine sees no new offer and its ring timer runs on."""
        offer = self._offer_of(old)
        if offer is not None:
            offer.legs[offer.legs.index(old)] = new

    def _offer_of(self, leg: Leg) -> _Offer | None:
        return next((o for o in self.offers.values() if leg in o.legs), None)

    def on_event(self, event: LegEvent) -> None:
        owner = self._owner
        if owner is not None and event.leg is self.leg and isinstance(event, LegEnded):
            owner.transferor_left()  # the held party takes its place, in `attach`
            return
        if event.leg is self._former:
            return
        if event.leg is self.leg or event.leg is self.call.caller_leg:
            super().on_event(event)
            return
        offer = self._offer_of(event.leg)
        if offer is None:
            return
        if isinstance(event, LegAnswered):
            if offer.cancelled or self.connected_agent is not None or event.audio is None:
                event.leg.hang_up(self.services.now())
                return
            media = event.leg.media
            if media is not None:
                try:
                    media.set_remote(event.audio.address, event.audio.port, event.audio.rtcp_port)
                except RemoteAddressError as exc:
                    log.info("agent SDP unusable: %s", exc)
            self._answered_by = event.leg
            self.centre.step(self.centre.engine.agent_answered, self.key, offer.agent)
        elif isinstance(event, LegEnded):
            if offer.cancelled or any(not leg.ended for leg in offer.legs):
                return
            self._offer_failed(offer, event.status or 480)

    def _offer_failed(self, offer: _Offer, status: int) -> None:
        if self.offers.get(offer.agent) is not offer:
            return
        del self.offers[offer.agent]
        engine = self.centre.engine
        report = {486: engine.agent_busy, 600: engine.agent_busy, 603: engine.agent_rejected}
        self.centre.step(report.get(status, engine.agent_no_answer), self.key, offer.agent)

    def cancel(self, agent: str) -> None:
        offer = self.offers.pop(agent, None)
        if offer is None:
            return
        offer.cancelled = True
        now = self.services.now()
        for leg in offer.legs:
            leg.hang_up(now)

    # ---- pickup (calls/pickup.py's PickableCall) ------------------------------------------
    def ringing_extensions(self) -> list[str]:
        """The agents whose phones ring for this caller now: what `*8`/`**` can take."""
        entry = self.centre.engine.caller(self.key)
        if entry is None or entry.state is not CallerState.OFFERED or self.leg is None:
            return []
        return [
            agent
            for agent, offer in self.offers.items()
            if not offer.cancelled and any(not leg.ended and not leg.up for leg in offer.legs)
        ]

    def pick_up(self, picker: str, leg: Leg) -> None:
        """`leg` (the picker's, answered and in this call) takes the caller: the engine withdraws
        the offers and connects the picker, as agent or as the phone that answered."""
        self._picked = (picker, leg)
        self.centre.step(self.centre.engine.picked_up, self.key, picker)
        self._picked = None

    def connect(self, agent: str) -> None:
        party = self.leg
        if self._picked is not None and self._picked[0] == agent:
            answered: Leg | None = self._picked[1]
            media = answered.media if answered is not None else None
        else:
            offer = self.offers.pop(agent, None)
            answered = self._answered_by
            media = offer.media if offer is not None else None
            if offer is not None:
                now = self.services.now()
                for leg in offer.legs:
                    if leg is not answered:
                        leg.hang_up(now)
        if answered is None or media is None or party is None:
            log.warning("call %d: connect to %s without an answered leg", self.call.id, agent)
            return
        self.connected_agent = agent
        # Context for what follows: a flow the agent sends the caller into can return the
        # caller to this agent (`return_to_agent`, or a queue node with `agent = "last"`).
        self.call.variables["agent"] = agent
        self.call.variables["agent_queue"] = self.queue
        self._leaving = False
        target = RouteTarget("extension", agent, agent)
        bridge: Application
        if self._owner is not None:  # the transferor talks with the agent first
            bridge = self._owner.agent_joined(agent, answered, media)
            self._owner = None
        else:
            bridge = BridgeApplication.joining(target, self.services, self.call, answered, media)
        # detach() stops the music in this tick; the bridge relays the two endpoints from the
        # very next packet.
        self.services.move(self.call, party, bridge)
        log.info("call %d: queue %s connected to agent %s", self.call.id, self.queue, agent)


def _int(text: str, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(text)))
    except ValueError:
        return low


def _requirements(text: str) -> tuple[Requirement, ...]:
    """`skill:level,...` (the IVR's form) as engine requirements; malformed parts are skipped."""
    out = []
    for part in text.split(","):
        skill, _, level = part.strip().partition(":")
        if skill and level.isdigit():
            out.append(Requirement(skill, int(level)))
    return tuple(out)
