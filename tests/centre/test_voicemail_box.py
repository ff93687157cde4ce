"""Voicemail box logic without sockets: the real player and message files, fake call services
with timers fired by hand, a fake store. Leaving: greeting, event code by key, beep, recording
until #, hang-up or the longest message; listening: count, new first, 7 delete, 9 save, # next."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from softswitch.call_record import Side
from softswitch.calls.leg import DigitReceived, EndedBy, LegEnded
from softswitch.calls.routing import RouteTarget
from softswitch.centre.voicemail import (
    DIRECT,
    Leave,
    LeaveMessage,
    Listen,
    ListenMessages,
    Message,
    Voicemail,
    VoicemailStateError,
)
from softswitch.config_voicemail import VoicemailConfig
from softswitch.media.engine import TickFrames
from softswitch.media.message_file import message_name
from softswitch.media.prompts import PromptLibrary

SAMPLES = 160
# 400 Hz is 8 whole cycles a tick, so ticks of it tile into one clean tone.
TONE = (8000 * np.sin(2 * np.pi * 400 * np.arange(SAMPLES) / 8000)).astype(np.int16)


@dataclass
class FakeTimer:
    due: float
    action: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeEngine:
    taps: list[Callable[[TickFrames], None]] = field(default_factory=list)

    def add_tap(self, tap: Callable[[TickFrames], None]) -> None:
        self.taps.append(tap)

    def add_processor(self, processor: object) -> None:
        pass


@dataclass
class FakeServices:
    clock: float = 100.0
    timers: list[FakeTimer] = field(default_factory=list)
    spawned: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    engine: FakeEngine = field(default_factory=FakeEngine)
    hung_up: list[str] = field(default_factory=list)

    def now(self) -> float:
        return self.clock

    def call_later(self, delay_s: float, action: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(self.clock + delay_s, action)
        self.timers.append(timer)
        return timer

    def fire_due(self, seconds: float) -> None:
        self.clock += seconds
        for timer in [t for t in self.timers if not t.cancelled and t.due <= self.clock]:
            timer.cancelled = True
            timer.action()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self.spawned.append(coro)

    def run_spawned(self) -> None:
        while self.spawned:
            coro = self.spawned.pop(0)
            with pytest.raises(StopIteration):
                coro.send(None)  # the fake store answers at once: no real await

    def flush(self) -> None:
        pass

    def release_audio(self, leg: object) -> None:
        pass

    def hang_up(self, call: object, side: Side, cause: str) -> None:
        self.hung_up.append(cause)


@dataclass
class FakeStore:
    saved: list[Message] = field(default_factory=list)
    marks: list[tuple[int, str]] = field(default_factory=list)
    listed: list[Message] = field(default_factory=list)

    def save(self, message: Message) -> None:
        self.saved.append(message)

    async def messages(self, box: str) -> list[Message]:
        return [m for m in self.listed if m.box == box]

    def mark(self, message_id: int, state: str) -> None:
        self.marks.append((message_id, state))


@dataclass(eq=False)
class FakeEngineLeg:
    row: int = 0


@dataclass
class FakeInvite:
    call_id: str = "abc@host"


@dataclass(eq=False)
class FakeLeg:
    side: Side = Side.CALLER
    invite: FakeInvite = field(default_factory=FakeInvite)


@dataclass
class FakeCall:
    caller: str = "1004"
    id: int = 7
    ended: bool = False
    caller_leg: FakeLeg = field(default_factory=FakeLeg)
    variables: dict[str, str] = field(default_factory=dict)


class Rig:
    """One voicemail application on a fake leg, driven tick by tick."""

    def __init__(self, tmp_path: Path, settings: VoicemailConfig | None = None) -> None:
        self.services = FakeServices()
        self.store = FakeStore()
        self.vm = Voicemail(
            settings or VoicemailConfig(max_message_s=10.0),
            ["1005", "600"],
            tmp_path / "voicemail",
            PromptLibrary(tmp_path / "no-user-prompts"),
            self.store,
            wall_clock=lambda: 1_700_000_000.0,
        )
        self.call = FakeCall()
        self.audio = FakeEngineLeg()
        self.said: list[np.ndarray] = []

    def attach(self, app: LeaveMessage | ListenMessages) -> None:
        app.leg = self.call.caller_leg  # type: ignore[assignment]
        app.audio = self.audio  # type: ignore[assignment]
        self.vm.shared.player.hold(self.audio)  # type: ignore[arg-type]
        app.started()
        self.services.clock += 1.0  # past the IVR key's guard

    def leave(self, box: str = "1005") -> LeaveMessage:
        create = self.vm.leave_factory()
        app = create(RouteTarget("voicemail", box, box), self.services, self.call)  # type: ignore[arg-type]
        assert isinstance(app, LeaveMessage)
        self.attach(app)
        return app

    def listen(self) -> ListenMessages:
        create = self.vm.listen_factory()
        target = RouteTarget("voicemail_listen", "*97", "*97")
        app = create(target, self.services, self.call)  # type: ignore[arg-type]
        assert isinstance(app, ListenMessages)
        self.attach(app)
        self.services.run_spawned()
        return app

    def tick(self, heard: np.ndarray | None = None) -> None:
        frames = TickFrames(
            tick=0,
            now=self.services.clock,
            heard=(TONE if heard is None else heard).reshape(1, SAMPLES).copy(),
            say=np.zeros((1, SAMPLES), dtype=np.int16),
            send=np.zeros(1, dtype=np.bool_),
            received=np.ones(1, dtype=np.bool_),
        )
        self.vm.shared.player.process(frames)
        for tap in self.services.engine.taps:
            tap(frames)
        self.said.append(frames.say[0].copy())
        self.services.clock += 0.02

    def until(self, condition: Callable[[], bool], max_ticks: int = 3000) -> int:
        for n in range(max_ticks):
            if condition():
                return n
            self.tick()
        raise AssertionError("condition not reached")

    def key(self, app: LeaveMessage | ListenMessages, digit: str, duration_ms: int = 0) -> None:
        leg: Any = self.call.caller_leg
        app.on_event(DigitReceived(leg, self.services.clock, digit, duration_ms, "rfc4733"))

    def hang_up(self, app: LeaveMessage | ListenMessages) -> None:
        app.on_event(LegEnded(self.call.caller_leg, self.services.clock, EndedBy.REMOTE, "BYE"))  # type: ignore[arg-type]


def test_a_complaint_is_recorded_after_the_beep_until_hash(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    app = rig.leave()
    assert app.state is Leave.GREETING
    rig.until(lambda: len(rig.said) > 50)  # a second of greeting and menu
    assert np.abs(np.concatenate(rig.said)).max() > 1000  # the caller hears it
    rig.key(app, "3")
    assert app.state is Leave.BEEP
    rig.until(lambda: app.state is Leave.RECORDING)
    for _ in range(100):  # two seconds of the caller's tone
        rig.tick()
    rig.key(app, "#", duration_ms=120)  # the key's own 120 ms are cut from the end
    assert app.state is Leave.CLOSING
    [message] = rig.store.saved
    assert (message.box, message.caller, message.event_code, message.event) == (
        "1005",
        "1004",
        "3",
        "complaint",
    )
    assert message.duration_s == pytest.approx(2.0 - 0.12, abs=0.021)
    assert message.path.startswith("1005/") and message.call_id == "abc@host"
    audio, rate = sf.read(str(rig.vm.root / message.path), dtype="int16")
    assert rate == 8000 and audio.size == round(message.duration_s * 8000)
    assert np.array_equal(audio[:SAMPLES], TONE)
    rig.until(lambda: app.state is Leave.DONE)
    rig.services.fire_due(0.0)  # the hang-up runs after the tick
    assert rig.services.hung_up == ["voicemail 1005"]


def test_a_wrong_key_is_refused_and_no_key_leaves_a_message_without_a_code(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    app = rig.leave()
    rig.key(app, "8")
    assert app.state is Leave.GREETING
    rig.until(lambda: not rig.vm.shared.player.playing(rig.audio))  # type: ignore[arg-type]
    rig.services.fire_due(rig.vm.settings.key_timeout_s)
    assert app.state is Leave.BEEP
    rig.until(lambda: app.state is Leave.RECORDING)
    rig.tick()
    rig.key(app, "#")
    assert (rig.store.saved[0].event_code, rig.store.saved[0].event) == ("", "")


def test_hang_up_while_recording_keeps_the_message_and_before_it_keeps_nothing(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    app = rig.leave()
    rig.key(app, "1")
    rig.until(lambda: app.state is Leave.RECORDING)
    for _ in range(25):
        rig.tick()
    rig.hang_up(app)
    assert app.state is Leave.DONE
    assert rig.store.saved[0].duration_s == pytest.approx(0.5, abs=0.021)
    assert rig.store.saved[0].event == "inquiry"
    early = Rig(tmp_path / "early")
    gone = early.leave()
    early.hang_up(gone)
    assert gone.state is Leave.DONE and early.store.saved == []


def test_the_longest_message_ends_the_recording(tmp_path: Path) -> None:
    rig = Rig(tmp_path, VoicemailConfig(max_message_s=1.0))
    app = rig.leave()
    rig.key(app, "2")
    rig.until(lambda: app.state is Leave.RECORDING)
    for _ in range(50):
        rig.tick()
    rig.services.fire_due(1.0)
    assert app.state is Leave.CLOSING
    assert rig.store.saved[0].duration_s == pytest.approx(1.0, abs=0.021)


def test_an_unknown_box_says_so_and_records_nothing(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    app = rig.leave("4242")
    assert app.state is Leave.CLOSING
    rig.key(app, "3")
    rig.until(lambda: app.state is Leave.DONE)
    assert rig.store.saved == [] and not (rig.vm.root / "4242").exists()


def test_star_98_names_the_box_after_the_code(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    app = rig.vm.leave_factory()(RouteTarget("voicemail", DIRECT, "*98600"), rig.services, rig.call)  # type: ignore[arg-type]
    assert isinstance(app, LeaveMessage) and app.box == "600"


def test_the_state_table_refuses_a_move_it_does_not_allow(tmp_path: Path) -> None:
    app = Rig(tmp_path).leave()
    with pytest.raises(VoicemailStateError):
        app._go(Leave.RECORDING)  # never without the beep


def _message(rig: Rig, id: int, state: str, event: str, seconds: float) -> Message:
    folder = rig.vm.root / "1004"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"m{id}.wav"
    sf.write(str(path), np.tile(TONE, round(seconds * 50)), 8000, subtype="PCM_16")
    return Message(id, "1004", 1.0 * id, "1002", "3", event, seconds, f"1004/m{id}.wav", "x", state)


def test_listening_says_the_count_plays_new_first_and_7_deletes_9_saves(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.call.caller = "1004"
    rig.vm.boxes = frozenset({"1004"})
    first = _message(rig, 1, "new", "complaint", 0.5)
    second = _message(rig, 2, "saved", "inquiry", 0.5)
    rig.store.listed = [first, second]
    app = rig.listen()
    assert app.state is Listen.COUNT
    rig.until(lambda: app.state is Listen.MESSAGE)
    start = len(rig.said)
    rig.until(lambda: len(rig.said) - start > 250)  # intro and the message's half second
    heard = np.concatenate(rig.said[start:])
    spectrum = np.abs(np.fft.rfft(heard))
    assert abs(np.fft.rfftfreq(heard.size, 1 / 8000)[int(np.argmax(spectrum))] - 400) < 5
    rig.key(app, "7")
    assert rig.store.marks == [(1, "deleted")]
    assert not (rig.vm.root / first.path).exists()
    assert app.state is Listen.CONFIRM
    rig.until(lambda: app.state is Listen.MESSAGE and app.index == 1)
    rig.key(app, "9")
    assert rig.store.marks[-1] == (2, "saved") and (rig.vm.root / second.path).exists()
    rig.until(lambda: app.state is Listen.DONE)
    rig.services.fire_due(0.0)
    assert rig.services.hung_up == ["voicemail listened"]


def test_hash_skips_and_an_empty_box_says_no_messages(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.vm.boxes = frozenset({"1004"})
    rig.store.listed = [_message(rig, 1, "new", "", 0.2), _message(rig, 2, "new", "", 0.2)]
    app = rig.listen()
    rig.until(lambda: app.state is Listen.MESSAGE)
    rig.key(app, "#")
    assert app.index == 1 and app.state is Listen.MESSAGE and rig.store.marks == []
    empty = Rig(tmp_path / "empty")
    empty.vm.boxes = frozenset({"1004"})
    assert empty.listen().state is Listen.CLOSING


@given(st.text(max_size=80), st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_message_names_are_safe_whatever_the_caller_number(caller: str, when: float) -> None:
    name = message_name(when, caller)
    assert name.endswith(".wav") and "/" not in name and "\\" not in name
    assert not name.startswith(".") and len(name) <= 60
    assert all(c.isascii() and (c.isalnum() or c in "+_-.") for c in name)


def test_a_key_during_the_count_a_confirmation_or_goodbye_never_leaves_the_caller_in_silence(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path)
    rig.vm.boxes = frozenset({"1004"})
    rig.store.listed = [_message(rig, 1, "new", "", 0.2)]
    app = rig.listen()
    rig.key(app, "5")  # cuts the count: the message plays
    assert app.state is Listen.MESSAGE
    rig.key(app, "9")
    assert app.state is Listen.CONFIRM
    rig.key(app, "1")  # cuts "message saved": no more messages, goodbye
    assert app.state is Listen.CLOSING
    rig.key(app, "1")  # cuts goodbye: hung up
    assert app.state is Listen.DONE
    rig.services.fire_due(0.0)
    assert rig.services.hung_up == ["voicemail listened"]
