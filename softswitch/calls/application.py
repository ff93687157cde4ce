"""Applications: what a leg is attached to (a bridge to other phones, the echo test, and later a
player, a conference, an IVR flow, a queue, voicemail), and the registry that makes one for a
routed destination.

An application is a small object with three methods. `attach(leg)` takes the leg over (answer
it, ring someone, route its media); `on_event(event)` gets every event of the legs attached to
it; `detach(leg)` gives the leg back before it moves on, leaving its dialog and its media
endpoint as they are. Moving a leg (IVR → queue → agent bridge → IVR) is `CallServices.move`:
detach from the old application, attach to the new one. The caller's dialog stays, and so does
its endpoint: only where its packets go changes, so no re-INVITE and no audible gap.

A new kind of destination plugs in by registering a factory for its kind, without touching
the signalling code::

    registry.register("echo", EchoApplication.create)
    app = registry.create(RouteTarget("echo", "", "9196"), services, call)

Media applications ask for a leg's audio with `services.take_audio(call, leg)`: the leg's
endpoint moves into the tick engine (media/engine.py) with the codec its SDP agreed, and a
processor added with `services.engine.add_processor` hears it and speaks to it every 20 ms;
`release_audio(leg)` and then `bridge()`/`echo()` return it to the cheap pass-through paths.

Errors::

    UnknownDestinationKind(LookupError)  no application is registered for a kind; status_hint 404
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Protocol

from softswitch.calls.leg import Leg, LegEvent, LegReoffered
from softswitch.calls.routing import RouteTarget
from softswitch.config import SrtpMode
from softswitch.media.endpoint import Direction, RemoteAddressError
from softswitch.sip.sdp import ANSWER_DIRECTION, Codec, answer_codecs

if TYPE_CHECKING:
    from softswitch.call_record import Disposition, Side
    from softswitch.calls.call import Call
    from softswitch.calls.recording import CallRecordings
    from softswitch.calls.registrar import Registrar
    from softswitch.config import Config, Trunk
    from softswitch.media.endpoint import MediaEndpoint
    from softswitch.media.engine import MediaEngine
    from softswitch.media.engine_leg import EngineLeg
    from softswitch.media.moh import MusicOnHold
    from softswitch.sip.sdp import Codec, SessionDescription
    from softswitch.sip.transaction import Address


class UnknownDestinationKind(LookupError):
    status_hint = 404


class Application(Protocol):
    """Owns the legs attached to it; one instance per call (or per room, per queue)."""

    @property
    def kind(self) -> str: ...

    def attach(self, leg: Leg) -> Coroutine[object, object, None] | None:
        """Take the leg over; work that must wait (opening media) comes back as a coroutine,
        which the call layer runs at once (no task of its own on the call-setup path)."""
        ...

    def on_event(self, event: LegEvent) -> None: ...

    def detach(self, leg: Leg) -> None: ...


class Timer(Protocol):
    def cancel(self) -> None: ...


class CallServices(Protocol):
    """What the call layer offers applications: clocks, tasks, media, new legs, call records.

    Implemented by calls/signalling.py; a test may implement it over a fake network.
    """

    @property
    def config(self) -> Config: ...

    @property
    def registrar(self) -> Registrar: ...

    @property
    def advertise(self) -> str: ...

    def now(self) -> float:
        """The loop clock."""
        ...

    def spawn(self, coro: Coroutine[object, object, None]) -> None: ...

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer: ...

    async def open_media(self) -> MediaEndpoint:
        """A new endpoint from the port range (PortsExhausted when none is left)."""
        ...

    def open_media_now(self) -> MediaEndpoint | None:
        """An endpoint without a loop turn (pre-opened), or None: then `open_media`."""
        ...

    def close_media(self, endpoint: MediaEndpoint) -> None: ...

    @property
    def engine(self) -> MediaEngine:
        """The process's tick engine: processors and taps are added here."""
        ...

    @property
    def music_on_hold(self) -> MusicOnHold:
        """Every music-on-hold class, one source each, as a processor of the engine."""
        ...

    @property
    def recordings(self) -> CallRecordings | None:
        """The switch's call recorder (calls/recording.py); None when nothing records."""
        ...

    def take_audio(self, call: Call, leg: Leg, *, inband: bool = True) -> EngineLeg:
        """Move the leg's endpoint into the tick path with the codec its SDP agreed; digits in
        its media come to its application as `DigitReceived` (as SIP INFO digits do);
        `inband=False` skips in-band detection (the audio is passed on, tones and all)."""
        ...

    def release_audio(self, leg: Leg) -> None:
        """Take the leg out of the tick path; its endpoint is left unrouted for the caller."""
        ...

    def allowed(self, host: str) -> bool:
        """Whether the destination policy lets the switch send SIP to `host`."""
        ...

    def dial(
        self,
        call: Call,
        peer: Address,
        request_uri: str,
        to_number: str,
        media: MediaEndpoint,
        template: SessionDescription,
        codecs: tuple[Codec, ...],
        direction: str,
        *,
        trunk: Trunk | None = None,
        srtp: SrtpMode = SrtpMode.OFF,
        caller: str | None = None,
    ) -> Leg:
        """A new outbound leg of `call` on `media`, its INVITE on its way with our SDP offer
        (`template` rewritten to our address, `codecs` and `direction`; SDES per `srtp`); From
        names `caller`, or the call's caller when None."""
        ...

    def originate(
        self,
        caller: str,
        peer: Address,
        request_uri: str,
        to_number: str,
        media: MediaEndpoint,
        *,
        srtp: SrtpMode = SrtpMode.OFF,
    ) -> Call:
        """A call the switch places itself, its first leg outbound to `peer` with our offer
        (SDES per `srtp`, the callee's setting)."""
        ...

    def application_for(self, target: RouteTarget, call: Call) -> Application | None:
        """A new application for `target` from the registry; None when its kind has none."""
        ...

    def answered(self, call: Call) -> None:
        """The call is answered: for the record, ring timers, metrics."""
        ...

    def end(self, call: Call, disposition: Disposition, cause: str, side: Side) -> None:
        """Close the call's record; legs still up are the caller's business (`hang_up`)."""
        ...

    def hang_up(self, call: Call, side: Side, cause: str) -> None:
        """End the call from `side`: BYE or CANCEL every other leg, then close the record."""
        ...

    def move(self, call: Call, leg: Leg, to: Application) -> None:
        """Detach `leg` from its application and attach it to `to`, in one step."""
        ...

    def flush(self) -> None:
        """Send what legs have queued (the services do it after every event they deliver)."""
        ...


ApplicationFactory = Callable[[RouteTarget, CallServices, "Call"], Application]


class ApplicationRegistry:
    """Destination kind ("extension", "trunk", "echo", ...) → the factory of its application."""

    def __init__(self) -> None:
        self._factories: dict[str, ApplicationFactory] = {}

    def register(self, kind: str, factory: ApplicationFactory) -> None:
        if kind in self._factories:
            raise ValueError(f"an application is registered for {kind!r} already")
        self._factories[kind] = factory

    def __contains__(self, kind: object) -> bool:
        return kind in self._factories

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted(self._factories))

    def create(self, target: RouteTarget, services: CallServices, call: Call) -> Application:
        factory = self._factories.get(target.kind)
        if factory is None:
            raise UnknownDestinationKind(f"destination kind {target.kind} is not available")
        return factory(target, services, call)


def answer_here(leg: Leg, codecs: tuple[Codec, ...], session_id: int, now: float) -> None:
    """Answer a party's INVITE at the switch with `codecs`, in the direction its offer asks
    for (sendonly gets recvonly), the endpoint set to that direction first."""
    offer = leg.remote_audio
    assert offer is not None and leg.media is not None
    direction = ANSWER_DIRECTION[offer.direction]
    leg.media.set_direction(Direction(direction))
    leg.answer(leg.local_sdp(leg.remote_sdp, codecs, direction, session_id), now)


def answer_reoffer_here(event: LegReoffered, session_id: int) -> None:
    """A party's own re-INVITE (hold, resume, a new address) to an application whose media ends
    in the switch (echo, player, conference): answered here, 488 when nothing fits."""
    leg, audio = event.leg, event.offer.audio
    assert audio is not None and leg.media is not None
    try:
        leg.media.set_remote(audio.address, audio.port, audio.rtcp_port)
    except RemoteAddressError:
        leg.reject_reoffer(488)
        return
    codecs = answer_codecs(audio)
    if not codecs:
        leg.reject_reoffer(488)
        return
    direction = ANSWER_DIRECTION[audio.direction]
    leg.media.set_direction(Direction(direction))
    leg.answer_reoffer(leg.local_sdp(event.offer, codecs, direction, session_id))
