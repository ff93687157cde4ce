"""The IVR application: a leg attached here runs a `FlowRun` (interpreter.py) to its end.

It is the thin adapter between the sans-IO run and the call layer: it answers the call, turns
`Play` into the tick engine's player (recordings, or espeak-ng text when a recording is
missing), digits (RFC 4733, in-band, SIP INFO) into the run's `DigitReceived`, the run's one
deadline into one `call_later` timer, and the exits into a move of the leg: `TransferTo` makes
the destination's application from the registry (queue, extension, conference, voicemail,
external number through the routing plan) and moves the leg there; `HangUp` sends BYE.

What the flow learnt (keys, collected digits, set variables) is copied into `call.variables`
before the leg leaves, so the queue, the agent's offer and the call record see it. A
destination with no application registered (a kind this switch was built without) is logged
and the call is hung up, rather than left in silence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from softswitch.call_record import Disposition, Side
from softswitch.calls.application import (
    ApplicationFactory,
    ApplicationRegistry,
    CallServices,
    Timer,
)
from softswitch.calls.call import Call
from softswitch.calls.leg import DigitReceived as LegDigit
from softswitch.calls.leg import Leg
from softswitch.calls.player import PlayerApplication, PlayerShared
from softswitch.calls.routing import RouteTarget
from softswitch.ivr.flow import QUEUE_AGENT, ExitKind
from softswitch.ivr.flowset import FlowSet, Refused
from softswitch.ivr.interpreter import (
    CollectDigits,
    Command,
    DigitReceived,
    Event,
    FlowRun,
    HangUp,
    Play,
    PromptFinished,
    RunState,
    Segment,
    StopPlayback,
    TransferTo,
)
from softswitch.ivr.interpreter import Timer as RunTimer
from softswitch.media.player import Clip, Pause, PlaybackFinished, PlayItem
from softswitch.media.prompts import read_audio
from softswitch.media.tts import Speaker, TextToSpeechError

log = logging.getLogger("softswitch.ivr")

# Where a flow's exit goes in the application registry.
_EXIT_KINDS: Mapping[ExitKind, str] = {
    ExitKind.QUEUE: "queue",
    ExitKind.EXTENSION: "extension",
    ExitKind.CONFERENCE: "conference",
    ExitKind.VOICEMAIL: "voicemail",
    ExitKind.AGENT: "extension",
}

Resolve = Callable[[str], RouteTarget | None]


class IvrApplication(PlayerApplication):
    kind = "ivr"
    interruptible = False  # the run says what a key cuts (StopPlayback)

    def __init__(
        self,
        target: RouteTarget,
        services: CallServices,
        call: Call,
        shared: PlayerShared,
        wiring: IvrWiring,
    ) -> None:
        super().__init__(services, call, shared)
        self.target = target
        self.wiring = wiring
        self.run: FlowRun | None = None
        self._timer: Timer | None = None
        self._playing_id = 0

    # ---- the application interface ---------------------------------------------------
    def attach(self, leg: Leg) -> None:
        wiring = self.wiring
        started = wiring.flows.start(
            wiring.wall_clock(), self.target.number, self.call.caller, self.call.variables
        )
        if isinstance(started, Refused):
            log.info("call %d: ivr refused: %s", self.call.id, started.reason)
            if leg.unanswered:
                leg.reject(403 if "blocked" in started.reason else 404, now=self.services.now())
                self.services.end(self.call, Disposition.FAILED, started.reason, Side.SWITCH)
            else:
                self.services.hang_up(self.call, Side.SWITCH, started.reason)
            return
        self.run, commands = started
        super().attach(leg)
        self._carry_out(commands)

    def detach(self, leg: Leg) -> None:
        self._cancel_timer()
        super().detach(leg)

    def digit(self, event: LegDigit) -> None:
        self._feed(DigitReceived(event.digit, self.wiring.wall_clock()))

    # ---- driving the run ---------------------------------------------------------------
    def _feed(self, event: Event) -> None:
        run = self.run
        if run is None or run.state is RunState.DONE or self.call.ended or self.leg is None:
            return
        self._carry_out(run.handle(event))

    def _carry_out(self, commands: list[Command]) -> None:
        for command in commands:
            if isinstance(command, Play):
                self._play(command)
            elif isinstance(command, StopPlayback):
                if self.audio is not None:
                    self.shared.player.stop(self.audio)
            elif isinstance(command, CollectDigits):
                pass  # digit detection is always on for a leg in the engine
            elif isinstance(command, TransferTo):
                self._transfer(command)
                return
            elif isinstance(command, HangUp):
                self._remember(command.variables, command.digits)
                log.info("call %d: ivr hangs up: %s", self.call.id, command.reason)
                self._cancel_timer()
                self.leave_engine()
                self.services.hang_up(self.call, Side.SWITCH, f"ivr: {command.reason}")
                self.services.flush()
                return
        self._arm_timer()

    def _arm_timer(self) -> None:
        self._cancel_timer()
        run = self.run
        deadline = run.next_deadline() if run is not None else None
        if deadline is not None:
            delay = max(0.0, deadline - self.wiring.wall_clock())
            self._timer = self.services.call_later(delay, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._feed(RunTimer(self.wiring.wall_clock()))
        self.services.flush()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---- playing -----------------------------------------------------------------------
    def _play(self, command: Play) -> None:
        self._playing_id = command.play_id
        items, missing = self._items(command.segments)
        if missing and self.wiring.speaker is not None:
            self.services.spawn(self._speak_then_play(command))
            return
        self._start(command.play_id, items)

    def _start(self, play_id: int, items: list[PlayItem]) -> None:
        audio = self.audio
        if audio is None or play_id != self._playing_id:
            return

        def finished(event: PlaybackFinished) -> None:
            if not event.interrupted:
                self._feed(PromptFinished(self.wiring.wall_clock(), play_id))
                self.services.flush()

        self.shared.player.stop(audio)  # a new play replaces what is left of the last one
        self.shared.player.play(audio, [*items, Pause(0.02)], finished)

    def _items(self, segments: tuple[Segment, ...]) -> tuple[list[PlayItem], bool]:
        """Clips of every recording there is; True when a segment needs its text spoken."""
        prompts = self.shared.prompts
        items: list[PlayItem] = []
        missing = False
        for segment in segments:
            if all(prompts.has(segment.language, name) for name in segment.prompts):
                items += [Clip(prompts.load(segment.language, n)) for n in segment.prompts]
            elif segment.text:
                missing = True
            else:
                log.warning("call %d: prompts %s missing", self.call.id, segment.prompts)
        return items, missing

    async def _speak_then_play(self, command: Play) -> None:
        speaker = self.wiring.speaker
        assert speaker is not None
        prompts = self.shared.prompts
        items: list[PlayItem] = []
        for segment in command.segments:
            if all(prompts.has(segment.language, name) for name in segment.prompts):
                items += [Clip(prompts.load(segment.language, n)) for n in segment.prompts]
            elif segment.text:
                voice = prompts.language(segment.language).voice or segment.language
                try:
                    path = await speaker.speak(segment.text, voice)
                except TextToSpeechError as exc:
                    log.warning("call %d: text to speech failed: %s", self.call.id, exc)
                    continue
                items.append(Clip(read_audio(path.read_bytes(), str(path))))
        self._start(command.play_id, items)

    # ---- leaving -----------------------------------------------------------------------
    def _remember(self, variables: Mapping[str, str], digits: str) -> None:
        self.call.variables.update(variables)
        if digits:
            self.call.variables["ivr_digits"] = digits

    def _transfer(self, command: TransferTo) -> None:
        self._cancel_timer()
        self._remember(command.variables, command.digits)
        call, leg = self.call, self.leg
        assert leg is not None
        if command.priority is not None:
            call.variables["priority"] = str(command.priority)
        if command.agent:
            call.variables[QUEUE_AGENT] = command.agent
        if command.skills:
            call.variables["skills"] = ",".join(
                f"{s.skill}:{s.min_proficiency}" for s in command.skills
            )
        target = self._destination(command)
        registry = self.wiring.registry
        if target is None or target.kind not in registry:
            log.warning(
                "call %d: ivr %s:%s has no application here (flow %s node %s): hanging up",
                call.id,
                command.kind,
                command.target,
                command.flow,
                command.node,
            )
            self.services.hang_up(call, Side.SWITCH, f"ivr: no {command.kind} application")
            self.services.flush()
            return
        log.info("call %d: ivr %s node %s -> %s", call.id, command.flow, command.node, target)
        self.services.move(call, leg, registry.create(target, self.services, call))

    def _destination(self, command: TransferTo) -> RouteTarget | None:
        if command.kind is ExitKind.EXTERNAL:
            return self.wiring.resolve(command.target)
        kind = _EXIT_KINDS[command.kind]
        return RouteTarget(kind, command.target, command.target)


class IvrWiring:
    """What every IVR call of a switch shares: the flows, the registry of destinations, the
    routing of external numbers, text to speech and the wall clock the flows read."""

    def __init__(
        self,
        flows: FlowSet,
        registry: ApplicationRegistry,
        resolve: Resolve,
        *,
        speaker: Speaker | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.flows = flows
        self.registry = registry
        self.resolve = resolve
        self.speaker = speaker
        self.wall_clock = wall_clock

    def factory(self, shared: PlayerShared) -> ApplicationFactory:
        def create(target: RouteTarget, services: CallServices, call: Call) -> IvrApplication:
            return IvrApplication(target, services, call, shared, self)

        return create
