"""The player application: a leg attached here hears prompts, TTS, tones; and the DTMF test line.

`PlayerApplication` answers an unanswered leg itself (first voice codec offered, as the echo
does), moves its audio into the tick engine and plays what it is given (`play(items)`); a digit
interrupts the playback when `interruptible`; `finished(event)` is called when a list has
played. Moving the leg away (`detach`) cuts the playback in the same tick, and gives the
endpoint back unrouted for the next application.

`DtmfTestApplication` (9197 in the example config, `features.dtmf_test`) reads back every digit
it hears with the digit prompts, and on `#` says goodbye and hangs up: a phone's RFC 4733,
SIP INFO and in-band digits can be checked by ear, and by tests.

One `Player` processor and one prompt library serve every call of a kind (the factory holds
them); nothing here is global.
"""

from __future__ import annotations

from collections.abc import Iterable

from softswitch.call_record import Side
from softswitch.calls.application import (
    ApplicationFactory,
    CallServices,
    answer_here,
    answer_reoffer_here,
)
from softswitch.calls.call import Call
from softswitch.calls.leg import DigitReceived, Leg, LegEnded, LegEvent, LegReoffered
from softswitch.calls.routing import RouteTarget
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.player import Clip, Pause, PlaybackFinished, Player, PlayItem
from softswitch.media.prompts import PromptLibrary
from softswitch.sip.sdp import answer_codecs

DIGIT_PROMPTS = {**{d: d for d in "0123456789"}, "*": "star", "#": "pound"}


class _Shared:
    """What every call of one application kind shares: the player and the prompts."""

    def __init__(self, prompts: PromptLibrary, language: str) -> None:
        self.player = Player()
        self.prompts = prompts
        self.language = language
        self.registered = False

    def player_on(self, services: CallServices) -> Player:
        if not self.registered:
            services.engine.add_processor(self.player)
            self.registered = True
        return self.player

    def prompt(self, name: str) -> Clip:
        return Clip(self.prompts.load(self.language, name))


PlayerShared = _Shared  # for the applications built on the player in the layers above


class PlayerApplication:
    kind = "player"
    interruptible = True

    def __init__(self, services: CallServices, call: Call, shared: _Shared) -> None:
        self.services = services
        self.call = call
        self.shared = shared
        self.leg: Leg | None = None
        self.audio: EngineLeg | None = None

    # ---- the application interface ---------------------------------------------------
    def attach(self, leg: Leg) -> None:
        media = leg.media
        assert media is not None, "a leg is attached once its media endpoint is open"
        self.leg = leg
        if leg.unanswered:
            assert leg.remote_audio is not None
            answer_here(leg, answer_codecs(leg.remote_audio), self.call.id, self.services.now())
            self.services.answered(self.call)
        self.audio = self.services.take_audio(self.call, leg)
        self.shared.player_on(self.services).hold(self.audio)
        self.started()

    def detach(self, leg: Leg) -> None:
        if leg is not self.leg:
            return
        if self.audio is not None:
            self.shared.player.stop(self.audio, forget=True)
            self.audio = None
        self.services.release_audio(leg)
        self.leg = None

    def on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegEnded):
            if self.audio is not None:
                self.shared.player.stop(self.audio, forget=True)
                self.audio = None
            side = Side.SWITCH if event.cause == "no ACK" else event.leg.side
            self.services.hang_up(self.call, side, event.cause)
        elif isinstance(event, LegReoffered):
            answer_reoffer_here(event, self.call.id)
        elif isinstance(event, DigitReceived):
            if self.interruptible and self.audio is not None:
                self.shared.player.stop(self.audio)
            self.digit(event)

    # ---- what a kind of player does ----------------------------------------------------
    def started(self) -> None:
        """The leg is answered and in the engine: queue what it hears first."""

    def digit(self, event: DigitReceived) -> None:
        """A digit from the party (RFC 4733, SIP INFO or in-band: the same event)."""

    def finished(self, event: PlaybackFinished) -> None:
        """What was played has ended (or was interrupted)."""

    def leave_engine(self) -> None:
        """Take the leg out of the player and the tick path before the switch hangs it up: its
        endpoint closes with the call, before the BYE's answer brings LegEnded."""
        if self.audio is not None:
            self.shared.player.stop(self.audio, forget=True)
            self.audio = None
        if self.leg is not None:
            self.services.release_audio(self.leg)

    def hang_up_from_switch(self, cause: str) -> None:
        """Hang up as the switch (a playback's end, a digit): safe inside the engine's tick,
        which applies the leg's release when it ends."""
        self.leave_engine()
        if not self.call.ended:
            self.services.hang_up(self.call, Side.SWITCH, cause)
            self.services.flush()

    def play(self, items: Iterable[PlayItem]) -> None:
        if self.audio is not None:
            self.shared.player.play(self.audio, items, self.finished)


class DtmfTestApplication(PlayerApplication):
    kind = "dtmf_test"
    interruptible = False  # every digit is read back, in order

    def __init__(self, services: CallServices, call: Call, shared: _Shared) -> None:
        super().__init__(services, call, shared)
        self.heard: list[str] = []
        self.ending = False

    @classmethod
    def factory(cls, prompts: PromptLibrary, language: str = "en") -> ApplicationFactory:
        shared = _Shared(prompts, language)

        def create(target: RouteTarget, services: CallServices, call: Call) -> DtmfTestApplication:
            return cls(services, call, shared)

        return create

    def digit(self, event: DigitReceived) -> None:
        if self.ending:
            return
        self.heard.append(event.digit)
        if event.digit == "#":
            self.ending = True
            self.play([Pause(0.2), self.shared.prompt("goodbye"), Pause(0.3)])
            return
        name = DIGIT_PROMPTS.get(event.digit)
        if name is not None:
            self.play([self.shared.prompt(name), Pause(0.1)])

    def finished(self, event: PlaybackFinished) -> None:
        if self.ending and not event.interrupted:
            self.hang_up_from_switch("dtmf test finished")
