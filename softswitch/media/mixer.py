"""Conference and supervisor mixing for every room at once: one numpy pass per tick.

Each participant has a row in the mixer (`join` gives it); per tick the engine hands in
`int16[rows, samples]`, the decoded audio of every row, and gets back what each row hears.
Who hears whom, within a room:

- N-1: everyone hears the sum of the others, never itself;
- `talk_gain` scales what a participant says, `listen_gain` what it hears (0..MAX_GAIN, Q12
  fixed point); `muted` is heard by nobody, `deaf` hears nothing;
- `heard_by` restricts a talker's audience to some rows of its room: this is what the
  supervisor modes are made of (`supervise`): LISTEN (the supervisor hears both, is heard by
  none), WHISPER (heard by the agent only), BARGE (heard by both).

Arithmetic is exact integer: each talker's contribution `(x * talk_q) >> 12` in int32, sums
in int32, then `(heard * listen_q) >> 12` and saturation to int16. `mix` does it for all rooms
in one pass (room sums by `np.add.reduceat` over rows sorted by room, minus the row's own
contribution, plus the few restricted talkers added to their listeners); `mix_simple` does
the same room by room with each room's "who hears whom" matrix (`weights`) and is the test
oracle of the fast one (the bench shows why the fast one is needed).

Errors::

    MixerError(Exception)
    ├── MixerFull             every row is taken; status_hint 503
    └── UnknownParticipant    a row that is not in the mixer (our own bug)
    ValueError                a gain outside 0..MAX_GAIN (our own bug)
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
import numpy.typing as npt

GAIN_SHIFT = 12  # Q12 fixed point: 4096 is a gain of 1
GAIN_ONE = 1 << GAIN_SHIFT
MAX_GAIN = 4.0  # +12 dB: keeps x * gain within int32 (2^15 * 2^14)
DEFAULT_MAX_PARTICIPANTS = 4096
DEFAULT_FRAME_SAMPLES = 160  # 20 ms at 8 kHz
INT16_MIN, INT16_MAX = -32768, 32767

Int16Frames = npt.NDArray[np.int16]
RoomId = Hashable


class MixerError(Exception):
    """Base of the mixer's errors."""


class MixerFull(MixerError):
    """No row is free: the switch cannot mix one more participant."""

    status_hint = 503  # RFC 3261 §21.5.4: the caller may retry later


class UnknownParticipant(MixerError, KeyError):
    """The row is not a participant of this mixer."""


class SupervisorMode(Enum):
    """How a supervisor joins an agent's call (the call-centre terms)."""

    LISTEN = "listen"  # hears both, heard by none
    WHISPER = "whisper"  # hears both, heard by the agent only
    BARGE = "barge"  # hears both, heard by both


@dataclass(frozen=True, slots=True)
class Participant:
    room: RoomId
    talk_gain: float = 1.0
    listen_gain: float = 1.0
    muted: bool = False
    deaf: bool = False
    heard_by: frozenset[int] | None = None  # None: everyone in the room


def gain_q(gain: float) -> int:
    """A gain as the Q12 integer the mixer multiplies by."""
    if not 0.0 <= gain <= MAX_GAIN:
        raise ValueError(f"gain {gain} is outside 0..{MAX_GAIN}")
    return round(gain * GAIN_ONE)


@dataclass(frozen=True, slots=True)
class _Bucket:
    """Rooms of one size: their rows back to back, summed as a [rooms, size, samples] block."""

    rows: npt.NDArray[np.intp]  # rooms x size, room by room
    rooms: npt.NDArray[np.intp]  # index of each room in the sums
    size: int


@dataclass(frozen=True, slots=True)
class _Layout:
    """Index arrays for one mixer state; rebuilt only when membership or flags change."""

    buckets: tuple[_Bucket, ...]
    room_count: int
    group: npt.NDArray[np.intp]  # row -> its room's index in the sums (0 for free rows)
    talk_q: npt.NDArray[np.int32] | None  # [rows, 1]; None when every talk gain is 1
    talk_mask: npt.NDArray[np.int32] | None  # [rows, 1] 0/1, when gains are only 0 or 1
    broadcast: npt.NDArray[np.int32] | None  # [rows, 1]: 1 when heard by the whole room
    listen_q: npt.NDArray[np.int64] | None  # [rows, 1]; None when every listen gain is 0/1
    listen_mask: npt.NDArray[np.int32]  # [rows, 1] 0/1: deaf and free rows hear nothing
    add_listener: npt.NDArray[np.intp]
    add_talker: npt.NDArray[np.intp]
    rooms: dict[RoomId, int]


class _Work:
    """Arrays one `mix` writes into, kept for the next tick."""

    def __init__(self, rows: int, layout: _Layout, samples: int) -> None:
        self.said = np.zeros((rows, samples), dtype=np.int32)
        self.to_room = np.zeros((rows, samples), dtype=np.int32)
        self.heard = np.zeros((rows, samples), dtype=np.int32)
        self.wide = np.zeros((rows, samples), dtype=np.int64)
        self.out = np.zeros((rows, samples), dtype=np.int16)
        self.sums = np.zeros((layout.room_count, samples), dtype=np.int32)
        self.blocks = [
            np.zeros((b.rooms.size, b.size, samples), dtype=np.int32) for b in layout.buckets
        ]
        self.totals = [np.zeros((b.rooms.size, samples), dtype=np.int32) for b in layout.buckets]


class Mixer:
    """Rows of participants in rooms; `mix` gives every row what it hears this tick."""

    def __init__(
        self,
        max_participants: int = DEFAULT_MAX_PARTICIPANTS,
        frame_samples: int = DEFAULT_FRAME_SAMPLES,
    ) -> None:
        self.max_participants = max_participants
        self.frame_samples = frame_samples
        self._participants: dict[int, Participant] = {}
        self._free: list[int] = []
        self._rows = 0
        self._layout: _Layout | None = None
        self._work = _Work(0, self._build(), frame_samples)

    @property
    def rows(self) -> int:
        """Rows of the arrays `mix` takes and gives (free rows among them stay silent)."""
        return self._rows

    def join(
        self,
        room: RoomId,
        *,
        talk_gain: float = 1.0,
        listen_gain: float = 1.0,
        muted: bool = False,
        deaf: bool = False,
    ) -> int:
        """Add a participant to `room` (made on first use); returns its row."""
        gain_q(talk_gain), gain_q(listen_gain)
        if self._free:
            row = self._free.pop()
        elif self._rows < self.max_participants:
            row = self._rows
            self._rows += 1
        else:
            raise MixerFull(f"all {self.max_participants} mixer rows are taken")
        self._participants[row] = Participant(room, talk_gain, listen_gain, muted, deaf)
        self._layout = None
        return row

    def leave(self, row: int) -> None:
        self._get(row)
        del self._participants[row]
        for other, participant in self._participants.items():
            if participant.heard_by is not None and row in participant.heard_by:
                heard_by = participant.heard_by - {row}
                self._participants[other] = replace(participant, heard_by=heard_by)
        self._free.append(row)
        self._layout = None

    def update(
        self,
        row: int,
        *,
        talk_gain: float | None = None,
        listen_gain: float | None = None,
        muted: bool | None = None,
        deaf: bool | None = None,
    ) -> None:
        participant = self._get(row)
        if talk_gain is not None:
            gain_q(talk_gain)
            participant = replace(participant, talk_gain=talk_gain)
        if listen_gain is not None:
            gain_q(listen_gain)
            participant = replace(participant, listen_gain=listen_gain)
        if muted is not None:
            participant = replace(participant, muted=muted)
        if deaf is not None:
            participant = replace(participant, deaf=deaf)
        self._participants[row] = participant
        self._layout = None

    def set_heard_by(self, row: int, listeners: Collection[int] | None) -> None:
        """Only these rows of the room hear `row` (None: everyone, the default)."""
        participant = self._get(row)
        heard_by = None if listeners is None else frozenset(listeners)
        if heard_by is not None:
            for listener in heard_by:
                self._get(listener)
        self._participants[row] = replace(participant, heard_by=heard_by)
        self._layout = None

    def supervise(self, supervisor: int, agent: int, mode: SupervisorMode) -> None:
        """Set how `supervisor` is heard in `agent`'s room; it hears everyone in every mode."""
        if self._get(supervisor).room != self._get(agent).room:
            raise ValueError("the supervisor and the agent must be in the same room")
        audience = {
            SupervisorMode.LISTEN: frozenset[int](),
            SupervisorMode.WHISPER: frozenset((agent,)),
            SupervisorMode.BARGE: None,
        }[mode]
        self.set_heard_by(supervisor, audience)

    def participant(self, row: int) -> Participant:
        return self._get(row)

    def members(self, room: RoomId) -> list[int]:
        return sorted(row for row, p in self._participants.items() if p.room == room)

    def _get(self, row: int) -> Participant:
        try:
            return self._participants[row]
        except KeyError:
            raise UnknownParticipant(row) from None

    def hears(self, listener: int, talker: int) -> bool:
        """Whether `listener` gets `talker`'s audio at all (before gains)."""
        heard = self._get(talker)
        hearing = self._get(listener)
        return (
            listener != talker
            and heard.room == hearing.room
            and not heard.muted
            and not hearing.deaf
            and (heard.heard_by is None or listener in heard.heard_by)
        )

    def weights(self, room: RoomId) -> tuple[list[int], npt.NDArray[np.int8]]:
        """The room's rows and its "who hears whom" matrix: W[i, j] = 1 when row i hears j."""
        rows = self.members(room)
        matrix = np.array([[self.hears(i, j) for j in rows] for i in rows], dtype=np.int8).reshape(
            len(rows), len(rows)
        )
        return rows, matrix

    # -- the fast path --------------------------------------------------------------------

    def _build(self) -> _Layout:
        n = self._rows
        rooms: dict[RoomId, int] = {}
        members: dict[int, list[int]] = {}
        group = np.zeros(n, dtype=np.intp)
        talk = np.zeros((n, 1), dtype=np.int32)
        broadcast = np.zeros((n, 1), dtype=np.int32)
        listen = np.zeros((n, 1), dtype=np.int64)
        add_listener: list[int] = []
        add_talker: list[int] = []
        for row, p in self._participants.items():
            index = rooms.setdefault(p.room, len(rooms))
            members.setdefault(index, []).append(row)
            group[row] = index
            talk[row] = 0 if p.muted else gain_q(p.talk_gain)
            listen[row] = 0 if p.deaf else gain_q(p.listen_gain)
            if p.heard_by is None:
                broadcast[row] = 1
            else:
                for listener in sorted(p.heard_by):
                    if listener != row and self._participants[listener].room == p.room:
                        add_listener.append(listener)
                        add_talker.append(row)
        by_size: dict[int, list[int]] = {}
        for index, rows in members.items():
            by_size.setdefault(len(rows), []).append(index)
        buckets = tuple(
            _Bucket(
                rows=np.array([r for i in indices for r in members[i]], dtype=np.intp),
                rooms=np.array(indices, dtype=np.intp),
                size=size,
            )
            for size, indices in sorted(by_size.items())
        )
        everyone_hears_everyone = all(p.heard_by is None for p in self._participants.values())
        plain_talk = bool(np.isin(talk, (0, GAIN_ONE)).all())
        plain_listen = bool(np.isin(listen, (0, GAIN_ONE)).all())
        listen_mask = (listen != 0).astype(np.int32)
        return _Layout(
            buckets=buckets,
            room_count=len(rooms),
            group=group,
            talk_q=None if plain_talk else talk,
            talk_mask=(talk != 0).astype(np.int32) if plain_talk else None,
            broadcast=None if everyone_hears_everyone else broadcast,
            listen_q=None if plain_listen else listen,
            listen_mask=listen_mask,
            add_listener=np.array(add_listener, dtype=np.intp),
            add_talker=np.array(add_talker, dtype=np.intp),
            rooms=rooms,
        )

    def mix(self, frames: Int16Frames) -> Int16Frames:
        """What each row hears: int16[rows, samples] in, int16[rows, samples] out.

        The result is the mixer's own buffer, overwritten by the next `mix`: the work arrays
        are kept from tick to tick, since fresh ones cost a page fault per 4 KiB.
        """
        self._check(frames)
        layout = self._layout
        if layout is None:
            layout = self._layout = self._build()
            self._work = _Work(self._rows, layout, self.frame_samples)
        work = self._work
        if not self._participants:
            work.out[:] = 0
            return work.out
        said = work.said
        np.copyto(said, frames)
        if layout.talk_q is not None:
            said *= layout.talk_q
            said >>= GAIN_SHIFT
        elif layout.talk_mask is not None:
            said *= layout.talk_mask
        to_room = said
        if layout.broadcast is not None:
            to_room = work.to_room
            np.multiply(said, layout.broadcast, out=to_room)
        sums = work.sums
        for bucket, block, total in zip(layout.buckets, work.blocks, work.totals, strict=True):
            to_room.take(bucket.rows, axis=0, out=block.reshape(-1, self.frame_samples))
            if bucket.size <= 8:
                # A few adds beat a reduction over a short axis.
                np.copyto(total, block[:, 0])
                for position in range(1, bucket.size):
                    total += block[:, position]
            else:
                block.sum(axis=1, dtype=np.int32, out=total)
            sums[bucket.rooms] = total
        heard = work.heard
        sums.take(layout.group, axis=0, out=heard)
        heard -= to_room
        if layout.add_listener.size:
            np.add.at(heard, layout.add_listener, said[layout.add_talker])
        if layout.listen_q is not None:
            wide = work.wide
            np.multiply(heard, layout.listen_q, out=wide)
            wide >>= GAIN_SHIFT
            np.clip(wide, np.int64(INT16_MIN), np.int64(INT16_MAX), out=wide)
            np.copyto(work.out, wide, casting="unsafe")
            return work.out
        heard *= layout.listen_mask
        np.clip(heard, np.int32(INT16_MIN), np.int32(INT16_MAX), out=heard)
        np.copyto(work.out, heard, casting="unsafe")
        return work.out

    def room_mix(self, room: RoomId) -> Int16Frames:
        """What the whole room said in the last `mix` (for recording the conference): the sum
        of every talker heard by the whole room, saturated to int16[samples]."""
        layout = self._layout
        if layout is None or room not in layout.rooms:
            return np.zeros(self.frame_samples, dtype=np.int16)
        sums = self._work.sums[layout.rooms[room]]
        mixed: Int16Frames = np.clip(sums, np.int32(INT16_MIN), np.int32(INT16_MAX)).astype(
            np.int16
        )
        return mixed

    def _check(self, frames: Int16Frames) -> None:
        if frames.shape != (self._rows, self.frame_samples) or frames.dtype != np.int16:
            raise ValueError(
                f"mix takes int16[{self._rows}, {self.frame_samples}], got "
                f"{frames.dtype}{list(frames.shape)}"
            )

    # -- the simple path: the oracle ------------------------------------------------------

    def mix_simple(self, frames: Int16Frames) -> Int16Frames:
        """The same result as `mix`, room by room through each room's weight matrix."""
        self._check(frames)
        out = np.zeros_like(frames)
        for room in {p.room for p in self._participants.values()}:
            rows, matrix = self.weights(room)
            talk = np.array(
                [
                    0 if self._participants[r].muted else gain_q(self._participants[r].talk_gain)
                    for r in rows
                ],
                dtype=np.int64,
            )
            listen = np.array(
                [
                    0 if self._participants[r].deaf else gain_q(self._participants[r].listen_gain)
                    for r in rows
                ],
                dtype=np.int64,
            )
            said = (frames[rows].astype(np.int64) * talk[:, None]) >> GAIN_SHIFT
            heard = matrix.astype(np.int64) @ said
            out[rows] = np.clip(
                (heard * listen[:, None]) >> GAIN_SHIFT, np.int64(INT16_MIN), np.int64(INT16_MAX)
            )
        return out
