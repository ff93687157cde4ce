"""Voicemail boxes: a caller leaves a message with an event code; the box's owner hears it on *97.

A box exists for every extension and every queue (its number). `LeaveMessage` (destination
kind "voicemail": IVR `voicemail` nodes, queue exits `voicemail:BOX`, `*98` + box) answers,
plays the box's greeting and the event-code menu ("for a complaint, press 3", from
`[voicemail] event_codes`), takes the key (RFC 4733, SIP INFO or in-band: one `DigitReceived`),
plays "leave a message after the tone" and the beep, then writes what the caller says to a mono
WAV under `<data dir>/voicemail/<box>/` until `#`, the longest message, or hang-up (the message
is kept). The row (time, caller, event code, duration, box, state new) goes to a `MessageStore`
(the store, in app.py: centre/ does not import store/).

`ListenMessages` (*97) reads the caller's own box: "you have N new messages", then each message
(new first) with its number and event code, and the keys 7 delete (file removed, row marked
deleted), 9 save, # next.

Both are small state machines, one transition table each; a move the table does not allow
raises `VoicemailStateError` instead of falling through.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from softswitch.calls.application import ApplicationFactory, CallServices, Timer
from softswitch.calls.call import Call
from softswitch.calls.leg import DigitReceived, Leg, LegEnded, LegEvent
from softswitch.calls.player import PlayerApplication, PlayerShared
from softswitch.calls.routing import RouteTarget
from softswitch.config_voicemail import VoicemailConfig
from softswitch.ivr.say import SayError, SayKind, say
from softswitch.media.engine import TickFrames
from softswitch.media.engine_leg import EngineLeg
from softswitch.media.message_file import MessageFile, MessageFileError, message_name
from softswitch.media.player import Clip, Pause, PlaybackFinished, PlayItem, ToneClip
from softswitch.media.prompts import PromptError, PromptLibrary, read_audio
from softswitch.media.tones import Tone, ToneKind, tone_plan

log = logging.getLogger("softswitch.voicemail")

VOICEMAIL_DIR: Final = "voicemail"  # under the data dir
LISTEN, DIRECT = "*97", "*98"  # feature codes: hear your box; leave a message in box *98<box>
END_KEY, DELETE_KEY, SAVE_KEY, NEXT_KEY = "#", "7", "9", "#"
# The key that chose voicemail in an IVR can still arrive as RFC 4733 end retransmissions to the
# leg's new receiver (as in centre/queue.py): a key this soon after attaching is that tail.
KEY_GUARD_S: Final = 0.5
DEFAULT_GREETING: Final = "vm_greeting"
MAX_KEY_TRIM_S: Final = 0.5  # the most of a message's end that `#` may take back


class VoicemailStateError(RuntimeError):
    """A move the state table does not allow: a bug here, never the caller's doing."""


@dataclass(frozen=True)
class Message:
    """One voicemail message; field names are the store's columns (store/voicemail.py)."""

    id: int
    box: str
    time: float
    caller: str
    event_code: str  # the key pressed, "" when none
    event: str  # its configured name ("complaint"), "" when none
    duration_s: float
    path: str  # relative to <data dir>/voicemail/
    call_id: str
    state: str  # new, saved, deleted


class MessageStore(Protocol):
    def save(self, message: Message) -> None:
        """Keep a new message's row (its `id` and `state` are the store's to give)."""
        ...

    async def messages(self, box: str) -> list[Message]:
        """The box's messages that are not deleted, new first."""
        ...

    def mark(self, message_id: int, state: str) -> None: ...


class MessageTap:
    """The engine tap that writes each recording leg's audio to its message file, every tick."""

    def __init__(self) -> None:
        self.files: dict[EngineLeg, MessageFile] = {}
        self.registered = False

    def __call__(self, frames: TickFrames) -> None:
        for leg, file in self.files.items():
            if leg.row >= 0:
                file.append(frames.heard[leg.row])


class Voicemail:
    """What every voicemail call of a switch shares: boxes, settings, prompts, files, store."""

    def __init__(
        self,
        settings: VoicemailConfig,
        boxes: Collection[str],
        root: Path,
        prompts: PromptLibrary,
        store: MessageStore,
        *,
        country: str = "us",
        wall_clock: Callable[[], float] = time.time,
        language: str = "en",
    ) -> None:
        self.settings = settings
        self.boxes = frozenset(boxes)
        self.root = root
        self.shared = PlayerShared(prompts, language)
        self.store = store
        self.wall_clock = wall_clock
        self.tap = MessageTap()
        self.beep = Tone(tone_plan(country).tone(ToneKind.BEEP))

    def prompts(self, names: list[str]) -> list[PlayItem]:
        """Clips of the prompts there are; a missing one is logged and skipped."""
        items: list[PlayItem] = []
        for name in names:
            try:
                items.append(self.shared.prompt(name))
            except PromptError as exc:
                log.warning("voicemail prompt missing: %s", exc)
        return items

    def event_label(self, event: str) -> list[str]:
        return [f"vm_event_{event}"] if event else []

    def leave_factory(self) -> ApplicationFactory:
        def create(target: RouteTarget, services: CallServices, call: Call) -> LeaveMessage:
            box = target.number[len(DIRECT) :] if target.target == DIRECT else target.target
            return LeaveMessage(self, box, services, call)

        return create

    def listen_factory(self) -> ApplicationFactory:
        def create(target: RouteTarget, services: CallServices, call: Call) -> ListenMessages:
            return ListenMessages(self, services, call)

        return create


def missing_prompts(settings: VoicemailConfig, prompts: PromptLibrary, source: str) -> list[str]:
    """For `softswitch check-config`: a box greeting or event-code name with no recording."""
    problems = [
        f"{source}: voicemail.greetings.{box}: no prompt {name!r}"
        for box, name in sorted(settings.greetings.items())
        if not prompts.has("en", name)
    ]
    problems += [
        f"{source}: voicemail.event_codes.{key}: no prompt 'vm_event_{event}' says {event!r}"
        for key, event in sorted(settings.event_codes.items())
        if not prompts.has("en", f"vm_event_{event}")
    ]
    return problems


def feature_prefixes() -> dict[str, RouteTarget]:
    """Routing-plan prefixes: *97 hears your box, *98 + box leaves a message in it."""
    return {
        LISTEN: RouteTarget("voicemail_listen", LISTEN, LISTEN),
        DIRECT: RouteTarget("voicemail", DIRECT, DIRECT),
    }


# ---- leaving a message -------------------------------------------------------------------
class Leave(enum.Enum):
    GREETING = "greeting"  # greeting and event-code menu; waiting for the key
    BEEP = "beep"  # "after the tone", the beep
    RECORDING = "recording"
    CLOSING = "closing"  # thank you, goodbye; then BYE
    DONE = "done"


_LEAVE: Final[Mapping[Leave, frozenset[Leave]]] = {
    Leave.GREETING: frozenset({Leave.BEEP, Leave.CLOSING, Leave.DONE}),
    Leave.BEEP: frozenset({Leave.RECORDING, Leave.CLOSING, Leave.DONE}),
    Leave.RECORDING: frozenset({Leave.CLOSING, Leave.DONE}),
    Leave.CLOSING: frozenset({Leave.DONE}),
    Leave.DONE: frozenset(),
}


class LeaveMessage(PlayerApplication):
    kind = "voicemail"
    interruptible = False  # the state says what a key cuts

    def __init__(self, vm: Voicemail, box: str, services: CallServices, call: Call) -> None:
        super().__init__(services, call, vm.shared)
        self.vm = vm
        self.box = box
        self.state = Leave.GREETING
        self.event_code = ""
        self.file: MessageFile | None = None
        self.started_at = 0.0  # wall clock, when recording began
        self._timer: Timer | None = None
        self._attached_at = 0.0

    def _go(self, state: Leave) -> None:
        if state not in _LEAVE[self.state]:
            raise VoicemailStateError(f"voicemail: {self.state.value} -> {state.value}")
        self.state = state

    def started(self) -> None:
        self._attached_at = self.services.now()
        vm = self.vm
        if self.box not in vm.boxes:
            log.info("call %d: no voicemail box %r", self.call.id, self.box)
            self._go(Leave.CLOSING)
            self.play([Pause(0.2), *vm.prompts(["vm_no_box", "goodbye"]), Pause(0.3)])
            return
        greeting = vm.settings.greetings.get(self.box, DEFAULT_GREETING)
        names = [greeting]
        for key, event in sorted(vm.settings.event_codes.items()):
            names += ["for", *vm.event_label(event), "press", key]
        self.play([Pause(0.2), *vm.prompts(names)])
        if not vm.settings.event_codes:
            self._to_beep()

    def digit(self, event: DigitReceived) -> None:
        if self.services.now() - self._attached_at < KEY_GUARD_S:
            return
        if self.state is Leave.GREETING:
            if event.digit in self.vm.settings.event_codes:
                self.event_code = event.digit
                self._to_beep()
            else:
                self._stop_playing()
                self.play(self.vm.prompts(["invalid_option"]))
                self._arm(self.vm.settings.key_timeout_s, self._to_beep)
        elif self.state is Leave.RECORDING and event.digit == END_KEY:
            # The key is reported once it has ended: its tone is the message's last moments.
            self._finish_message(min(event.duration_ms / 1000, MAX_KEY_TRIM_S))

    def finished(self, event: PlaybackFinished) -> None:
        if event.interrupted or self.call.ended:
            return
        if self.state is Leave.GREETING:
            self._arm(self.vm.settings.key_timeout_s, self._to_beep)
        elif self.state is Leave.BEEP:
            self._start_recording()
        elif self.state is Leave.CLOSING:
            self._go(Leave.DONE)
            self.hang_up_after_tick(f"voicemail {self.box}")

    def on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegEnded) and self.state is not Leave.DONE:
            self._cancel()
            if self.state is Leave.RECORDING:
                self._end_recording()  # hang-up ends the message: it is kept
            self._go(Leave.DONE)
        super().on_event(event)

    def detach(self, leg: Leg) -> None:
        self._cancel()
        if self.state is Leave.RECORDING:
            self._end_recording()
        super().detach(leg)

    # ---- steps -------------------------------------------------------------------------
    def _to_beep(self) -> None:
        self._cancel()
        if self.state is not Leave.GREETING:
            return
        self._go(Leave.BEEP)
        self._stop_playing()
        beep = ToneClip(self.vm.beep, self.vm.beep.length / 8000)
        self.play([Pause(0.2), *self.vm.prompts(["leave_message_after_tone"]), Pause(0.2), beep])

    def _start_recording(self) -> None:
        vm, audio = self.vm, self.audio
        if audio is None:
            return
        now = vm.wall_clock()
        try:
            self.file = MessageFile(vm.root / self.box, message_name(now, self.call.caller))
        except MessageFileError as exc:
            log.error("call %d: voicemail %s: %s", self.call.id, self.box, exc)
            self._go(Leave.CLOSING)
            self.play(vm.prompts(["goodbye"]))
            return
        self._go(Leave.RECORDING)
        self.started_at = now
        if not vm.tap.registered:
            self.services.engine.add_tap(vm.tap)
            vm.tap.registered = True
        vm.tap.files[audio] = self.file
        log.info("call %d: voicemail %s recording to %s", self.call.id, self.box, self.file.path)
        self._arm(vm.settings.max_message_s, self._finish_message)

    def _finish_message(self, trim_s: float = 0.0) -> None:
        """`#` or the longest message: keep it, thank the caller, say goodbye."""
        if self.state is not Leave.RECORDING:
            return
        self._end_recording(trim_s)
        self._go(Leave.CLOSING)
        self.play([Pause(0.2), *self.vm.prompts(["thank_you", "goodbye"]), Pause(0.3)])

    def _end_recording(self, trim_s: float = 0.0) -> None:
        self._cancel()
        file, self.file = self.file, None
        if self.audio is not None:
            self.vm.tap.files.pop(self.audio, None)
        if file is None:
            return
        duration = file.close(trim_s)
        event = self.vm.settings.event_codes.get(self.event_code, "")
        message = Message(
            id=0,
            box=self.box,
            time=self.started_at,
            caller=self.call.caller,
            event_code=self.event_code,
            event=event,
            duration_s=round(duration, 3),
            path=file.path.relative_to(self.vm.root).as_posix(),
            call_id=self.call.caller_leg.invite.call_id,
            state="new",
        )
        self.vm.store.save(message)
        self.call.variables["voicemail_box"] = self.box
        log.info("call %d: voicemail %s: %.1f s, event %r", self.call.id, self.box,
                 duration, event)  # fmt: skip

    def _stop_playing(self) -> None:
        if self.audio is not None:
            self.shared.player.stop(self.audio)

    def _arm(self, delay_s: float, action: Callable[[], None]) -> None:
        self._cancel()

        def fire() -> None:
            self._timer = None
            action()
            self.services.flush()

        self._timer = self.services.call_later(delay_s, fire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# ---- listening to a box ------------------------------------------------------------------
class Listen(enum.Enum):
    LOADING = "loading"  # reading the box from the store
    COUNT = "count"  # "you have N new messages"
    MESSAGE = "message"  # a message and its menu; waiting for 7, 9 or #
    CONFIRM = "confirm"  # "message deleted" / "saved"
    CLOSING = "closing"  # no more messages, goodbye; then BYE
    DONE = "done"


_LISTEN: Final[Mapping[Listen, frozenset[Listen]]] = {
    Listen.LOADING: frozenset({Listen.COUNT, Listen.CLOSING, Listen.DONE}),
    Listen.COUNT: frozenset({Listen.MESSAGE, Listen.CLOSING, Listen.DONE}),
    Listen.MESSAGE: frozenset({Listen.MESSAGE, Listen.CONFIRM, Listen.CLOSING, Listen.DONE}),
    Listen.CONFIRM: frozenset({Listen.MESSAGE, Listen.CLOSING, Listen.DONE}),
    Listen.CLOSING: frozenset({Listen.DONE}),
    Listen.DONE: frozenset(),
}


class ListenMessages(PlayerApplication):
    kind = "voicemail_listen"
    interruptible = True  # a key cuts the message it is about

    def __init__(self, vm: Voicemail, services: CallServices, call: Call) -> None:
        super().__init__(services, call, vm.shared)
        self.vm = vm
        self.box = call.caller
        self.state = Listen.LOADING
        self.messages: list[Message] = []
        self.index = 0
        self._timer: Timer | None = None

    def _go(self, state: Listen) -> None:
        if state not in _LISTEN[self.state]:
            raise VoicemailStateError(f"voicemail listen: {self.state.value} -> {state.value}")
        self.state = state

    def started(self) -> None:
        if self.box not in self.vm.boxes:
            self._close(["vm_no_box", "goodbye"])
            return
        self.services.spawn(self._load())

    async def _load(self) -> None:
        messages = await self.vm.store.messages(self.box)
        if self.state is not Listen.LOADING or self.call.ended:
            return
        self.messages = messages
        new = sum(1 for m in messages if m.state == "new")
        if not messages:
            self._close(["vm_no_messages", "goodbye"])
            return
        self._go(Listen.COUNT)
        self.play([Pause(0.3), *self.vm.prompts(["vm_you_have", *_number(new), "vm_new_messages"])])
        self.services.flush()

    def _play_message(self) -> None:
        self._cancel()
        if self.index >= len(self.messages):
            self._close(["vm_no_more_messages", "goodbye"])
            return
        self._go(Listen.MESSAGE)
        message = self.messages[self.index]
        vm = self.vm
        intro = vm.prompts(["vm_message", *_number(self.index + 1)])
        intro += vm.prompts(vm.event_label(message.event))
        path = vm.root / message.path
        try:
            body: list[PlayItem] = [Clip(read_audio(path.read_bytes(), str(path)))]
        except (OSError, PromptError) as exc:
            log.warning("voicemail %s: message %d unreadable: %s", self.box, message.id, exc)
            body = []
        menu = vm.prompts(["vm_menu", "vm_next"])
        self.play([Pause(0.3), *intro, Pause(0.3), *body, Pause(0.3), *menu])

    def digit(self, event: DigitReceived) -> None:
        # A key cuts whatever is playing (interruptible): the count or a confirmation goes on
        # to the message, goodbye hangs up at once; only a message's menu reads the key.
        if self.state in (Listen.COUNT, Listen.CONFIRM):
            self._play_message()
            return
        if self.state is Listen.CLOSING:
            self._go(Listen.DONE)
            self.hang_up_after_tick("voicemail listened")
            return
        if self.state is not Listen.MESSAGE:
            return
        message = self.messages[self.index]
        if event.digit == DELETE_KEY:
            self.vm.store.mark(message.id, "deleted")
            path = self.vm.root / message.path
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                log.error("voicemail %s: cannot remove %s: %s", self.box, path, exc)
            log.info("voicemail %s: message %d deleted", self.box, message.id)
            self._confirm("vm_deleted")
        elif event.digit == SAVE_KEY:
            self.vm.store.mark(message.id, "saved")
            self._confirm("vm_saved")
        elif event.digit == NEXT_KEY:
            self.index += 1
            self._play_message()
        else:
            self.play(self.vm.prompts(["invalid_option", "vm_menu", "vm_next"]))

    def _confirm(self, prompt: str) -> None:
        self._cancel()
        self._go(Listen.CONFIRM)
        self.index += 1
        self.play([Pause(0.1), *self.vm.prompts([prompt])])

    def finished(self, event: PlaybackFinished) -> None:
        if event.interrupted or self.call.ended:
            return
        if self.state in (Listen.COUNT, Listen.CONFIRM):
            self._play_message()
        elif self.state is Listen.MESSAGE:
            # No key after the menu: the next message, as # would.
            def skip() -> None:
                if self.state is Listen.MESSAGE:
                    self.index += 1
                    self._play_message()

            self._arm(self.vm.settings.key_timeout_s, skip)
        elif self.state is Listen.CLOSING:
            self._go(Listen.DONE)
            self.hang_up_after_tick("voicemail listened")

    def on_event(self, event: LegEvent) -> None:
        if isinstance(event, LegEnded) and self.state is not Listen.DONE:
            self._cancel()
            self._go(Listen.DONE)
        super().on_event(event)

    def detach(self, leg: Leg) -> None:
        self._cancel()
        super().detach(leg)

    def _close(self, names: list[str]) -> None:
        self._cancel()
        self._go(Listen.CLOSING)
        if self.audio is not None:
            self.shared.player.stop(self.audio)
        self.play([Pause(0.2), *self.vm.prompts(names), Pause(0.3)])
        self.services.flush()

    def _arm(self, delay_s: float, action: Callable[[], None]) -> None:
        self._cancel()

        def fire() -> None:
            self._timer = None
            action()
            self.services.flush()

        self._timer = self.services.call_later(delay_s, fire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _number(value: int) -> list[str]:
    try:
        return say(SayKind.NUMBER, str(value), "en")
    except SayError:
        return []
