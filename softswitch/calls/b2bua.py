"""The back-to-back user agent, wired: signalling, the applications by destination kind, and
the control layer, as one object for app.py to start and stop.

Every call is legs with media anchored here (RFC 7092): `calls/signalling.py` carries SIP to
and from the legs (`calls/leg.py`), each leg is attached to an application (`calls/bridge.py`,
`calls/echo.py`, registered below by destination kind), and `calls/control.py` is how the API
reads and steers calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from softswitch.calls.answer import ScreenAnswers
from softswitch.calls.application import ApplicationRegistry
from softswitch.calls.authentication import RequestAuthenticator
from softswitch.calls.bridge import BridgeApplication
from softswitch.calls.conference import Conferences
from softswitch.calls.control import CallControl
from softswitch.calls.echo import EchoApplication
from softswitch.calls.intercept import Intercepts
from softswitch.calls.pickup import Pickups
from softswitch.calls.player import DtmfTestApplication
from softswitch.calls.registrar import Registrar
from softswitch.calls.routing import RoutingPlan
from softswitch.calls.signalling import CallCounters, CallRecords, SetupLatency, Signalling
from softswitch.calls.supervision import Supervisions
from softswitch.calls.transfer import Transfers
from softswitch.config import Config
from softswitch.media.engine import MediaEngine
from softswitch.media.prompts import PromptLibrary
from softswitch.media.relay import MediaRelay
from softswitch.sip.transaction import Event
from softswitch.sip.transport import SipTransport


def default_applications(conferences: Conferences | None = None) -> ApplicationRegistry:
    """The applications a routed destination can name today (config `destination` kinds);
    conference rooms need the media engine, so only with `conferences`."""
    registry = ApplicationRegistry()
    registry.register("extension", BridgeApplication.create)
    registry.register("trunk", BridgeApplication.create)
    registry.register("echo", EchoApplication.create)
    registry.register("dtmf_test", DtmfTestApplication.factory(PromptLibrary()))
    if conferences is not None:
        registry.register("conference", conferences.create)
    return registry


class B2bua:
    def __init__(
        self,
        config: Config,
        *,
        relay: MediaRelay,
        registrar: Registrar,
        authenticator: RequestAuthenticator,
        records: CallRecords,
        setup_latency: SetupLatency | None = None,
        wall_clock: Callable[[], float] = time.time,
        applications: ApplicationRegistry | None = None,
        engine: MediaEngine | None = None,
        routing: RoutingPlan | None = None,
        extend: Callable[[ApplicationRegistry], None] | None = None,
    ) -> None:
        # One engine for the process: the legs signalling puts in the tick and the rooms.
        engine = engine if engine is not None else MediaEngine()
        self.conferences: Conferences | None = None
        self.pickups = Pickups()  # *8 and ** + extension; it finds ringing calls in signalling
        if config.conference.enabled:
            self.conferences = Conferences(config.conference, engine)
        self.supervisions = Supervisions(config)
        self.intercepts = Intercepts(self.supervisions)  # *36 + extension, and the API's
        self.signalling = Signalling(
            config,
            relay=relay,
            registrar=registrar,
            authenticator=authenticator,
            records=records,
            applications=applications or self._applications(extend),
            setup_latency=setup_latency,
            wall_clock=wall_clock,
            engine=engine,
            routing=routing,
        )
        signalling = self.signalling
        self.pickups.signalling = signalling
        self.supervisions.bind(signalling, lambda: signalling.calls)
        signalling.observers.append(self.supervisions)
        self.control = CallControl(self.signalling, self.supervisions)
        self.transfers = Transfers(self.signalling)
        self.control.transfers = self.transfers
        self.intercepts.signalling = signalling
        self.control.intercepts = self.intercepts
        self.answers = ScreenAnswers(signalling)  # answer from a screen: re-ring, auto-answer
        signalling.observers.append(self.answers)
        self.control.answers = self.answers
        self.transfers.conferences = self.conferences

    def _applications(
        self, extend: Callable[[ApplicationRegistry], None] | None
    ) -> ApplicationRegistry:
        """The default registry, plus what the wiring adds (IVR, queues, feature codes)."""
        registry = default_applications(self.conferences)
        registry.register("supervise", self.supervisions.factory())
        registry.register("pickup", self.pickups.create)
        registry.register("intercept", self.intercepts.create)
        if extend is not None:
            extend(registry)
        return registry

    @property
    def transport(self) -> SipTransport | None:
        return self.signalling.transport

    @transport.setter
    def transport(self, transport: SipTransport) -> None:
        self.signalling.transport = transport

    def handle(self, event: Event) -> None:
        self.signalling.handle(event)

    @property
    def active_calls(self) -> int:
        return self.signalling.active_calls

    @property
    def counters(self) -> CallCounters:
        return self.signalling.counters

    def reap_silent_calls(self, now: float) -> int:
        return self.signalling.reap_silent_calls(now)

    async def shutdown(self, timeout_s: float) -> None:
        await self.signalling.shutdown(timeout_s)
