"""Conferences: the application a leg dialling a room (8000-8099 in the example) is attached to.

One `Conferences` per switch owns every room (`calls/room.py` over one `media/mixer.py` Mixer)
and is one processor of the media engine: each 20 ms tick it gathers the decoded audio of every
participant of every room, mixes all rooms in one numpy pass (N-1, gains, mute, deaf), and
writes back what each one hears, with the prompts and beeps a member is owed on top.

A leg attached here is answered (first voice codec offered, plus telephone-event), taken into
the engine and either joins its room at once (an open room, or a moderator by extension) or
first hears "please enter" and types the PIN (RFC 4733 or SIP INFO; `#` ends it). Joining and
leaving beep to the room; `announce_count` tells a newcomer its place. A moderator's `*`
mutes everyone else (again: unmutes). The control layer mutes, deafens and sets gains of a
member, and mutes a room, through `Conferences.member_command` (calls/control.py).

Recording the room's mix goes through `MixRecorder` (`recorder=`, calls/recording.py in the
switch): a room is recorded when its `record = true` or `[recording] conferences = true`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from softswitch.call_record import Disposition, Side
from softswitch.calls.application import answer_here, answer_reoffer_here
from softswitch.calls.leg import DigitReceived, Leg, LegEnded, LegEvent, LegReoffered
from softswitch.calls.room import (
    Member,
    PinAccepted,
    PinEntry,
    PinRefused,
    PinWrong,
    Role,
    RoomError,
    RoomFull,
    Rooms,
    role_without_pin,
)
from softswitch.calls.routing import RouteTarget
from softswitch.config_conference import ConferenceConfig, RoomConfig
from softswitch.media.dtmf import DigitEnded, DigitEvent
from softswitch.media.engine import EngineLeg, LegCodec, MediaEngine, TickFrames
from softswitch.media.engine_leg import packet_ms
from softswitch.media.mixer import Int16Frames, Mixer
from softswitch.media.prompts import PromptLibrary, PromptNotFound
from softswitch.media.room_mix import RoomMixPass, beep, joined, overlay
from softswitch.sip.sdp import Codec, answer_codecs

if TYPE_CHECKING:
    from softswitch.calls.application import Application, CallServices
    from softswitch.calls.call import Call

log = logging.getLogger(__name__)

Pcm = Int16Frames
MODERATOR_MUTE_ALL = "*"


class MixRecording(Protocol):
    def write(self, pcm: Pcm) -> None: ...

    def close(self) -> None: ...


class MixRecorder(Protocol):
    """Starts a mono recording of a room's mix (None: it could not be started)."""

    def start(self, room: str, call_ids: Sequence[int]) -> MixRecording | None: ...


@dataclass(eq=False)
class _Seat:
    """A leg in a conference: waiting at the PIN, or a member of its room."""

    leg: Leg
    call: Call
    services: CallServices
    room: RoomConfig
    engine_leg: EngineLeg
    pin: PinEntry | None = None
    member: Member | None = None
    playing: deque[tuple[Pcm, Callable[[], None] | None]] = field(default_factory=deque)
    position: int = 0  # samples of playing[0] played


class ConferenceApplication:
    """The per-call face of the conference (the registry makes one per call)."""

    kind = "conference"

    def __init__(
        self, conferences: Conferences, room: RoomConfig, services: CallServices, call: Call
    ) -> None:
        self.conferences = conferences
        self.room = room
        self.services = services
        self.call = call

    def attach(self, leg: Leg) -> None:
        self.conferences.seat(self, leg)

    def detach(self, leg: Leg) -> None:
        self.conferences.unseat(leg)

    def on_event(self, event: LegEvent) -> None:
        leg = event.leg
        if isinstance(event, LegEnded):
            self.conferences.unseat(leg)
            side = Side.SWITCH if event.cause == "no ACK" else leg.side
            self.services.hang_up(self.call, side, event.cause)
        elif isinstance(event, DigitReceived):
            self.conferences.digit(leg, event.digit, event.at)
        elif isinstance(event, LegReoffered):
            answer_reoffer_here(event, self.call.id)


class Conferences:
    """Every room of the switch, and the tick processor that mixes them all at once."""

    def __init__(
        self,
        config: ConferenceConfig,
        engine: MediaEngine,
        *,
        prompts: PromptLibrary | None = None,
        recorder: MixRecorder | None = None,
        max_participants: int = 4096,
        country: str = "us",
    ) -> None:
        self.config = config
        self.engine = engine
        self.rooms = Rooms(Mixer(max_participants))
        self.prompts = prompts or PromptLibrary()
        self.recorder = recorder
        # [recording] conferences = true records every room; a room's own record = true, that
        # room (config_conference.py): one rule, either flag.
        self.record_all = False
        self._recordings: dict[str, MixRecording] = {}
        self._seats: dict[Leg, _Seat] = {}
        self.beep: Pcm = beep(country)
        self._prompt_cache: dict[str, Pcm] = {}
        self._mix_pass = RoomMixPass(self.rooms.mixer)
        engine.add_processor(self)

    def create(self, target: RouteTarget, services: CallServices, call: Call) -> Application:
        """The registry's factory for destination kind "conference" (target: the room)."""
        return ConferenceApplication(self, self.config.room(target.target), services, call)

    # ---- seating -------------------------------------------------------------------------
    def seat(self, app: ConferenceApplication, leg: Leg) -> None:
        services, call, room = app.services, app.call, app.room
        media = leg.media
        assert media is not None, "a leg is attached once its media endpoint is open"
        role = role_without_pin(room, call.caller)
        if leg.unanswered:
            offer = leg.remote_audio
            assert offer is not None
            codecs = answer_codecs(offer)
            refusal = self._refusal(room, role, codecs)
            if refusal is not None:
                status, reason = refusal
                leg.reject(status, warning=reason, now=services.now())
                disposition = Disposition.BUSY if status == 486 else Disposition.FAILED
                services.end(call, disposition, f"{status} {reason}", Side.SWITCH)
                return
            answer_here(leg, codecs, call.id, services.now())
            services.answered(call)
        else:
            codecs = leg.sdp_shown[0] if leg.sdp_shown else ()
        ptime = None if leg.remote_audio is None else leg.remote_audio.ptime_ms
        engine_leg = self.engine.take(
            media, _leg_codec(codecs, ptime), on_digit=lambda event: self._engine_digit(leg, event)
        )
        seat = _Seat(leg, call, services, room, engine_leg)
        self._seats[leg] = seat
        if role is not None:
            self._join(seat, role)
        else:
            now = services.now()
            seat.pin = PinEntry(room, self.config.pin_attempts, self.config.pin_timeout_s, now)
            self._play(seat, ["please_enter"])

    def _refusal(
        self, room: RoomConfig, role: Role | None, codecs: tuple[Codec, ...]
    ) -> tuple[int, str] | None:
        if not any(c.name.upper() != "TELEPHONE-EVENT" for c in codecs):
            return 488, "no codec in common"
        current = self.rooms.get(room.number)
        if role is not None and current is not None and current.count >= room.max_participants:
            return 486, f"conference {room.number} is full"
        return None

    def unseat(self, leg: Leg) -> None:
        """The leg leaves (hung up, or moved to another application): its room hears a beep."""
        seat = self._seats.pop(leg, None)
        if seat is None:
            return
        if seat.member is not None:
            number = seat.room.number
            self.rooms.leave(number, seat.member.id)
            room = self.rooms.get(number)
            if room is None:
                self._stop_recording(number)
            elif self.config.join_tones:
                self._beep_room(number)
        self.engine.release(seat.engine_leg)

    def _join(self, seat: _Seat, role: Role) -> None:
        try:
            seat.member = self.rooms.join(seat.room, seat.leg.id, role)
        except RoomFull:
            self._play(seat, ["goodbye"], then=lambda: self._hang_up(seat, "conference full"))
            return
        number = seat.room.number
        room = self.rooms.get(number)
        assert room is not None
        log.info("leg %d joined conference %s as %s", seat.leg.id, number, role.value)
        recorded = seat.room.record or self.record_all
        if recorded and self.recorder is not None and number not in self._recordings:
            recording = self.recorder.start(number, [seat.call.id])
            if recording is not None:
                self._recordings[number] = recording
        if seat.room.announce_count:
            self._play(seat, ["you_are_caller_number", *_number_prompts(room.count)])
        if self.config.join_tones:
            self._beep_room(number)

    def _hang_up(self, seat: _Seat, cause: str) -> None:
        self.unseat(seat.leg)
        seat.services.hang_up(seat.call, Side.SWITCH, cause)
        seat.services.flush()

    # ---- digits --------------------------------------------------------------------------
    def _engine_digit(self, leg: Leg, event: DigitEvent) -> None:
        if isinstance(event, DigitEnded):
            seat = self._seats.get(leg)
            if seat is not None:
                self.digit(leg, event.digit, event.at)
                seat.services.flush()

    def digit(self, leg: Leg, digit: str, now: float) -> None:
        seat = self._seats.get(leg)
        if seat is None:
            return
        if seat.pin is not None:
            self._pin_outcome(seat, seat.pin.digit(digit, now))
        elif seat.member is not None and digit == MODERATOR_MUTE_ALL:
            room = self.rooms.get(seat.room.number)
            if room is not None and seat.member.role is Role.MODERATOR:
                room.mute_all(not room.all_muted, by=seat.member.id)
                self._play(seat, [], beep=True)

    def _pin_outcome(
        self, seat: _Seat, outcome: PinAccepted | PinWrong | PinRefused | None
    ) -> None:
        if outcome is None:
            return
        seat.playing.clear()
        seat.position = 0
        if isinstance(outcome, PinAccepted):
            seat.pin = None
            role = outcome.role
            self._play(seat, ["thank_you"], then=lambda: self._join(seat, role))
        elif isinstance(outcome, PinWrong):
            self._play(seat, ["invalid_option", "please_enter"])
        else:
            log.info("leg %d refused by conference %s: wrong PIN", seat.leg.id, seat.room.number)
            self._play(
                seat,
                ["invalid_option", "goodbye"],
                then=lambda: self._hang_up(seat, "conference PIN refused"),
            )

    # ---- control -------------------------------------------------------------------------
    def member_command(
        self,
        leg: Leg,
        *,
        muted: bool | None = None,
        deaf: bool | None = None,
        talk_gain: float | None = None,
        listen_gain: float | None = None,
        mute_all: bool | None = None,
    ) -> None:
        """What calls/control.py asks of a member (RoomError: not in a room yet)."""
        seat = self._seats.get(leg)
        if seat is None or seat.member is None:
            raise RoomError(f"leg {leg.id} is not in a conference room")
        room = self.rooms.get(seat.room.number)
        assert room is not None
        if muted is not None:
            room.set_muted(seat.member.id, muted)
        if deaf is not None:
            room.set_deaf(seat.member.id, deaf)
        if talk_gain is not None or listen_gain is not None:
            room.set_gains(seat.member.id, talk=talk_gain, listen=listen_gain)
        if mute_all is not None:
            room.mute_all(mute_all)

    def member_of(self, leg: Leg) -> tuple[str, Member] | None:
        seat = self._seats.get(leg)
        if seat is None or seat.member is None:
            return None
        return seat.room.number, seat.member

    # ---- audio ---------------------------------------------------------------------------
    def _prompt(self, name: str) -> Pcm:
        pcm = self._prompt_cache.get(name)
        if pcm is None:
            try:
                pcm = self.prompts.load(self.config.language, name)
            except PromptNotFound:
                log.warning("conference prompt %s/%s is missing", self.config.language, name)
                pcm = joined([])
            self._prompt_cache[name] = pcm
        return pcm

    def _play(
        self,
        seat: _Seat,
        names: Sequence[str],
        *,
        then: Callable[[], None] | None = None,
        beep: bool = False,
    ) -> None:
        pieces = [self._prompt(name) for name in names] + ([self.beep] if beep else [])
        seat.playing.append((joined(pieces), then))

    def _beep_room(self, number: str) -> None:
        for seat in self._seats.values():
            if seat.member is not None and seat.room.number == number:
                seat.playing.append((self.beep, None))

    def _stop_recording(self, number: str) -> None:
        recording = self._recordings.pop(number, None)
        if recording is not None:
            recording.close()

    def process(self, frames: TickFrames) -> None:
        """One tick: every room mixed at once, then each seat's prompt or beep on top."""
        seats = list(self._seats.values())
        if not seats:
            return
        for seat in seats:
            if seat.leg.ended or seat.engine_leg.row < 0:
                self.unseat(seat.leg)  # the call ended without telling us (hung up by control)
        seats = [seat for seat in seats if seat.leg in self._seats]
        members = [seat for seat in seats if seat.member is not None]
        samples = frames.say.shape[1]
        if members:
            engine_rows = [s.engine_leg.row for s in members]
            mixer_rows = [s.member.row for s in members if s.member is not None]
            self._mix_pass.run(frames.heard, frames.say, frames.send, engine_rows, mixer_rows)
            for number, recording in self._recordings.items():
                recording.write(self.rooms.mixer.room_mix(number))
        for seat in seats:
            row = seat.engine_leg.row
            if seat.pin is not None:
                frames.send[row] = True  # the caller hears the prompt, or silence
                self._pin_outcome(seat, seat.pin.handle_timer(frames.now))
            if seat.playing:
                self._overlay(seat, frames.say, row, samples)

    def _overlay(self, seat: _Seat, say: Pcm, row: int, samples: int) -> None:
        pcm, then = seat.playing[0]
        overlay(say, row, pcm[seat.position : seat.position + samples])
        seat.position += samples
        if seat.position >= pcm.size:
            seat.playing.popleft()
            seat.position = 0
            if then is not None:
                then()


def _leg_codec(codecs: tuple[Codec, ...], ptime_ms: int | None) -> LegCodec:
    voice = next(c for c in codecs if c.name.upper() != "TELEPHONE-EVENT")
    events = next((c for c in codecs if c.name.upper() == "TELEPHONE-EVENT"), None)
    return LegCodec(
        voice.name.upper(),
        voice.payload_type,
        events.payload_type if events else None,
        packet_ms(ptime_ms),
    )


def _number_prompts(number: int) -> list[str]:
    """Prompt names that say a small number ("20", "1" for 21), as the prompt set has them."""
    if number <= 20 or (number % 10 == 0 and number < 100):
        return [str(number)]
    if number < 100:
        return [str(number - number % 10), str(number % 10)]
    return [str(digit) for digit in str(number)]
