"""Call recordings: WAV files for many calls at once, fed by the tick engine every 20 ms.

A two-party call is recorded in stereo, the caller left and the other party right. A conference is
recorded mono, its full mix (every participant summed): a mix has no sides to put left and right,
and one channel halves the disk and the voice-activity work.

Per tick the engine hands `feed()` one `int16[recordings, samples, 2]` array (each sample a WAV
frame: caller, other party; channel 1 ignored for a mix), copied into one buffer for all
recordings by a single numpy assignment. Each recording is written once a second (`flush_due()`,
after the tick's packets are out): voice activity over that second, one `write()` of the buffer's
row (already in the file's byte order, so no copy), then the WAV header's two sizes patched in
place with `pwrite`. The recordings' seconds are staggered over the ticks, so 1000 recordings give
20 writes per tick, never 1000 at once.

libsndfile (soundfile) writes each file's header and reads every file back (recovery, tests, any
user); the audio itself is appended by the recorder: through soundfile's `write()` one second of
stereo cost 77 us here, a plain `write()` of the same bytes 20-40 us. Files are created through
a Python file object, as soundfile's `close()` of a file it opened by name calls `fsync` (1.1 ms
here, a stall of the event loop); a kill does not lose the page cache, so none is needed.

Kill-safety: the audio goes to the file before the header that counts it, so after `kill -9` the
file opens with soundfile and plays up to the last write (at most a second before the kill);
`recover()` at the next start counts whatever was written after it as well.

Errors: `RecorderError` for a recording that cannot be started (the caller goes on without it);
a write that fails later (disk full) ends that recording's file, logged, and its summary says cut.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar, cast

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from softswitch.call_record import ChannelLayout
from softswitch.media.vad import DEFAULT_MODE, FRAME_S, SpeechDetector, TalkCounter, TalkFigures

RECORDINGS_DIR: Final = "recordings"  # under the data dir
SAMPLE_RATES: Final = (8000, 16000)
DEFAULT_CHUNK_TICKS: Final = 50  # ticks buffered per write: one second of audio
# Slots to start with; the buffer doubles when all are taken. np.zeros memory is committed by the
# OS only when touched, and slots are reused lowest first, so a large default costs nothing: a
# doubling copies every buffered second (16 MB at 512 stereo 8 kHz slots), a stall to avoid.
DEFAULT_CAPACITY: Final = 1024
_PARTY_RE: Final = re.compile(r"[^0-9A-Za-z+_-]")
_MAX_PARTY: Final = 32

log = logging.getLogger(__name__)


class RecorderError(Exception):
    """A recording could not be started (its folder or file cannot be created)."""


@dataclass(frozen=True)
class PauseMark:
    """Seconds into the file where a pause began and ended; the audio between is silence."""

    start_s: float
    end_s: float


@dataclass(frozen=True)
class RecordingSummary:
    """What a closed recording is, for its row in the store."""

    path: str  # relative to the recordings folder
    call_id: str
    caller: str
    callee: str
    layout: ChannelLayout
    sample_rate: int
    start_ts: float
    duration_s: float
    pauses: tuple[PauseMark, ...]
    talk: TalkFigures
    cut: bool  # the file ends before the call did (a write failed)


@dataclass(eq=False)
class Recording:
    """One recording in progress: a slot of the shared buffer and its open file."""

    slot: int
    path: str
    call_id: str
    caller: str
    callee: str
    layout: ChannelLayout
    start_ts: float
    channels: int
    _raw: io.FileIO | None = field(repr=False)  # None once closed (or cut by an error)
    _header: tuple[int, int] = field(repr=False)  # data chunk's size field offset, data offset
    _talk: TalkCounter = field(repr=False)
    _detectors: tuple[SpeechDetector, ...] = field(repr=False)  # one per channel
    written_frames: int = 0  # sample frames in the file
    paused: bool = False
    _pauses: list[tuple[int, int | None]] = field(default_factory=list, repr=False)  # ticks
    failed: str | None = None

    def _pause_marks(self, ticks: int) -> tuple[PauseMark, ...]:
        return tuple(
            PauseMark(
                round(start * FRAME_S, 2), round((ticks if end is None else end) * FRAME_S, 2)
            )
            for start, end in self._pauses
        )


class Recorder:
    """Every recording at one sample rate, under `root` (the data dir's `recordings/`)."""

    def __init__(
        self,
        root: Path,
        sample_rate: int = 8000,
        *,
        chunk_ticks: int = DEFAULT_CHUNK_TICKS,
        capacity: int = DEFAULT_CAPACITY,
        vad_mode: int = DEFAULT_MODE,
    ) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"recordings at 8000 or 16000 Hz, not {sample_rate}")
        if chunk_ticks < 1 or capacity < 1:
            raise ValueError("chunk_ticks and capacity must be >= 1")
        self.root = root
        self.sample_rate = sample_rate
        self.frame_samples = round(sample_rate * FRAME_S)
        self.chunk_ticks = chunk_ticks
        self._vad_mode = vad_mode
        # int16[slot, tick in chunk, sample, channel]: one second per slot, in the file's order.
        shape = (capacity, chunk_ticks, self.frame_samples, 2)
        self._pcm: NDArray[np.int16] = np.zeros(shape, dtype=np.int16)
        self._paused_ticks: NDArray[np.bool_] = np.zeros((capacity, chunk_ticks), dtype=np.bool_)
        self._fill: NDArray[np.intp] = np.zeros(capacity, dtype=np.intp)  # ticks buffered
        self._ticks: NDArray[np.int64] = np.zeros(capacity, dtype=np.int64)  # fed since start
        # The fill at which a slot is written next, and at which it is written after that.
        self._due_at: NDArray[np.intp] = np.full(capacity, chunk_ticks, dtype=np.intp)
        self._write_at: NDArray[np.intp] = np.full(capacity, chunk_ticks, dtype=np.intp)
        self._paused: NDArray[np.bool_] = np.zeros(capacity, dtype=np.bool_)
        self._active: NDArray[np.bool_] = np.zeros(capacity, dtype=np.bool_)
        self._free = list(range(capacity - 1, -1, -1))
        self._recordings: dict[int, Recording] = {}
        self._due: list[int] = []
        self._started = 0

    @property
    def recordings(self) -> list[Recording]:
        return list(self._recordings.values())

    def start(
        self,
        *,
        call_id: str,
        caller: str,
        callee: str,
        layout: ChannelLayout,
        start_ts: float,
        lag_ticks: int = 0,
    ) -> Recording:
        """Create the file and take a slot; the engine feeds `recording.slot` from now on.

        `lag_ticks`: how far behind the clock it is fed at most (a packet tap's hold-back); it
        is written that much sooner, so a kill still loses at most a second."""
        if not 0 <= lag_ticks < self.chunk_ticks:
            raise ValueError(f"lag_ticks must be 0 .. {self.chunk_ticks - 1}")
        raw = self._create(recording_path(start_ts, caller, callee, call_id))
        relative = Path(str(raw.name)).relative_to(self.root).as_posix()
        channels = 2 if layout is ChannelLayout.STEREO else 1
        try:
            # libsndfile writes the header (counting no audio yet) and closes; the file stays open.
            sf.SoundFile(raw, "w", self.sample_rate, channels, "PCM_16", format="WAV").close()
            header = wav_data_chunk(os.pread(raw.fileno(), 512, 0))
            raw.seek(header[1])
        except (OSError, sf.LibsndfileError, ValueError) as exc:
            raw.close()
            raise RecorderError(f"cannot start recording {relative}: {exc}") from exc
        if not self._free:
            self._grow()
        slot = self._free.pop()
        # Stagger the first write over the chunk, so that recordings started together (a bench,
        # a restart) do not all write in the same tick afterwards.
        write_at = self.chunk_ticks - lag_ticks
        self._write_at[slot] = write_at
        self._due_at[slot] = 1 + self._started % write_at
        self._started += 1
        # Touch the slot's second of buffer now: the page faults of fresh memory (up to 60 us
        # each here) belong to call setup, not to a tick where many recordings begin.
        self._pcm[slot] = 0
        self._fill[slot] = 0
        self._ticks[slot] = 0
        self._paused[slot] = False
        self._active[slot] = True
        recording = Recording(
            slot=slot,
            path=relative,
            call_id=call_id,
            caller=caller,
            callee=callee,
            layout=layout,
            start_ts=start_ts,
            channels=channels,
            _raw=raw,
            _header=header,
            _talk=TalkCounter(stereo=layout is ChannelLayout.STEREO),
            _detectors=tuple(
                SpeechDetector(self.sample_rate, mode=self._vad_mode) for _ in range(channels)
            ),
        )
        self._recordings[slot] = recording
        return recording

    def pause(self, recording: Recording) -> None:
        """From the next tick the file gets silence (card numbers); the interval is marked."""
        if not recording.paused:
            recording.paused = True
            recording._pauses.append((self.ticks(recording), None))
            self._paused[recording.slot] = True

    def resume(self, recording: Recording) -> None:
        if recording.paused:
            recording.paused = False
            start, _ = recording._pauses[-1]
            recording._pauses[-1] = (start, self.ticks(recording))
            self._paused[recording.slot] = False

    def pause_marks(self, recording: Recording) -> tuple[PauseMark, ...]:
        """Its pauses so far, an open one ending now: for the store as they happen, so that a
        recording cut by a crash keeps them."""
        return recording._pause_marks(self.ticks(recording))

    def ticks(self, recording: Recording) -> int:
        """Ticks fed to `recording` so far: its timeline."""
        return int(self._ticks[recording.slot])

    def feed(self, slots: NDArray[np.intp], frames: NDArray[np.int16]) -> None:
        """One tick of audio: `frames[i]` (`int16[samples, 2]`) belongs to `slots[i]` (unique).

        Every recording is fed every tick (silence when nobody speaks): the file's timeline is
        the ticks it was fed.
        """
        if frames.shape != (slots.size, self.frame_samples, 2):
            raise ValueError(
                f"frames must be int16[{slots.size}, {self.frame_samples}, 2], got {frames.shape}"
            )
        if not self._active[slots].all():
            raise ValueError("feed() given a slot with no recording")
        fill = self._fill[slots]
        full = fill >= self.chunk_ticks
        if full.any():  # its write is still to come (deferred): done now, before it overflows
            for slot in slots[full].tolist():
                self._flush(self._recordings[slot])
                self._due_at[slot] = self._write_at[slot]
            fill = self._fill[slots]
        # One index into (slot, tick) rows: 5x faster than indexing the two axes (measured).
        rows = slots * self.chunk_ticks + fill
        self._pcm.reshape(-1, self.frame_samples, 2)[rows] = frames
        self._paused_ticks.reshape(-1)[rows] = self._paused[slots]
        fill += 1
        self._fill[slots] = fill
        due = slots[fill >= self._due_at[slots]]
        if due.size:
            self._due.extend(due.tolist())
        self._ticks[slots] += 1

    def flush_due(self, limit: int | None = None) -> int:
        """Write every recording whose second is full, or the first `limit` of them (the rest
        stay due: `due_count`); returns how many were written."""
        if limit is None or limit >= len(self._due):
            due, self._due = self._due, []
        else:
            due, self._due = self._due[:limit], self._due[limit:]
        for slot in due:
            recording = self._recordings.get(slot)
            if recording is not None:
                self._flush(recording)
                self._due_at[slot] = self._write_at[slot]
        return len(due)

    @property
    def due_count(self) -> int:
        """Recordings whose second is full and not yet written."""
        return len(self._due)

    def stop(self, recording: Recording) -> RecordingSummary:
        """Write what is buffered, close the file, free the slot; the summary is for the store."""
        if self._recordings.get(recording.slot) is not recording:
            raise ValueError(f"recording {recording.path} is not running")
        self.resume(recording)
        self._flush(recording)
        self._close_file(recording)
        slot = recording.slot
        del self._recordings[slot]
        self._active[slot] = False
        self._paused[slot] = False
        self._free.append(slot)
        return RecordingSummary(
            path=recording.path,
            call_id=recording.call_id,
            caller=recording.caller,
            callee=recording.callee,
            layout=recording.layout,
            sample_rate=self.sample_rate,
            start_ts=recording.start_ts,
            duration_s=recording.written_frames / self.sample_rate,
            pauses=self.pause_marks(recording),
            talk=recording._talk.figures(),
            cut=recording.failed is not None,
        )

    def stop_all(self) -> list[RecordingSummary]:
        """Close every recording (switch shutdown)."""
        return [self.stop(recording) for recording in list(self._recordings.values())]

    def _flush(self, recording: Recording) -> None:
        slot = recording.slot
        ticks = int(self._fill[slot])
        self._fill[slot] = 0
        if ticks == 0 or recording._raw is None:
            return
        chunk = self._pcm[slot, :ticks]  # int16[ticks, samples, 2], a contiguous view
        paused = self._paused_ticks[slot, :ticks]
        if paused.any():
            chunk[paused] = 0
        left = recording._detectors[0].speech(chunk[:, :, 0], skip=paused)
        right = None
        if recording.channels == 2:
            right = recording._detectors[1].speech(chunk[:, :, 1], skip=paused)
            data = chunk
        else:
            data = np.ascontiguousarray(chunk[:, :, 0])
        recording._talk.add(left, right, paused)
        written = recording.written_frames + ticks * self.frame_samples
        try:
            if recording._raw.write(data.data) != data.nbytes:  # no copy: contiguous
                raise OSError("short write")
            _patch_sizes(
                recording._raw.fileno(), recording._header, written * 2 * recording.channels
            )
        except OSError as exc:
            log.error("recording %s cut: %s", recording.path, exc)
            recording.failed = str(exc)
            self._close_file(recording)
            return
        recording.written_frames = written

    def _close_file(self, recording: Recording) -> None:
        raw, recording._raw = recording._raw, None
        if raw is not None:
            try:
                raw.close()
            except OSError as exc:
                log.error("recording %s: closing failed: %s", recording.path, exc)
                recording.failed = recording.failed or str(exc)

    def _create(self, relative: Path) -> io.FileIO:
        """The file opened for reading and writing, created new: never over another recording."""
        folder = self.root / relative.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecorderError(f"cannot create {folder}: {exc.strerror}") from exc
        for attempt in range(100):
            name = relative.name if attempt == 0 else f"{relative.stem}-{attempt}{relative.suffix}"
            try:
                return io.FileIO(folder / name, "x+")
            except FileExistsError:
                continue
            except OSError as exc:
                raise RecorderError(f"cannot create {folder / name}: {exc.strerror}") from exc
        raise RecorderError(f"cannot create {relative}: 100 recordings of that name exist")

    def _grow(self) -> None:
        old = self._pcm.shape[0]
        new = old * 2
        self._pcm = _grown(self._pcm, new, 0)
        self._paused_ticks = _grown(self._paused_ticks, new, False)
        self._fill = _grown(self._fill, new, 0)
        self._ticks = _grown(self._ticks, new, 0)
        self._due_at = _grown(self._due_at, new, self.chunk_ticks)
        self._write_at = _grown(self._write_at, new, self.chunk_ticks)
        self._paused = _grown(self._paused, new, False)
        self._active = _grown(self._active, new, False)
        self._free.extend(range(new - 1, old - 1, -1))


_Array = TypeVar("_Array", bound=NDArray[Any])


def _grown(array: _Array, size: int, fill: object) -> _Array:
    """`array` with `size` rows: the old ones kept, the new ones `fill`."""
    bigger = np.zeros((size, *array.shape[1:]), dtype=array.dtype)  # untouched pages: free
    bigger[: array.shape[0]] = array
    if fill:
        bigger[array.shape[0] :] = fill
    return cast(_Array, bigger)


def recording_path(start_ts: float, caller: str, callee: str, call_id: str) -> Path:
    """`YYYY/MM/DD/YYYYMMDD-HHMMSS_caller_callee_hash.wav`, dated in UTC (no DST fold).

    Parties are reduced to letters, digits, `+`, `_` and `-` (anything from the network may be in
    them) and the Call-ID to a hash, so the name is safe in any shell and on any file system.
    """
    when = datetime.datetime.fromtimestamp(start_ts, tz=datetime.UTC)

    def safe(party: str) -> str:
        return _PARTY_RE.sub("_", party)[:_MAX_PARTY] or "_"

    digest = hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    name = f"{when:%Y%m%d-%H%M%S}_{safe(caller)}_{safe(callee)}_{digest}.wav"
    return Path(f"{when:%Y}", f"{when:%m}", f"{when:%d}", name)


def wav_data_chunk(header: bytes) -> tuple[int, int]:
    """(offset of the data chunk's size field, offset of the data) in a RIFF/WAVE header."""
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    offset = 12
    while offset + 8 <= len(header):
        chunk_id = header[offset : offset + 4]
        (size,) = struct.unpack_from("<I", header, offset + 4)
        if chunk_id == b"data":
            return offset + 4, offset + 8
        offset += 8 + size + (size & 1)  # RIFF chunks are padded to even sizes
    raise ValueError("no data chunk in the WAV header")


def _patch_sizes(fd: int, header: tuple[int, int], data_bytes: int) -> None:
    """Make the header count `data_bytes` of audio: the data chunk's size, then the RIFF size
    (the data chunk is the file's last)."""
    size_offset, data_offset = header
    for value, offset in ((data_bytes, size_offset), (data_offset - 8 + data_bytes, 4)):
        if os.pwrite(fd, struct.pack("<I", value), offset) != 4:
            raise OSError("short write to the WAV header")


def recover(path: Path) -> float | None:
    """Duration (s) of a recording a crash left open, its header made to count every whole
    sample frame on disk; None when there is no playable file."""
    try:
        with open(path, "r+b") as raw:
            head = raw.read(512)
            size_offset, data_offset = wav_data_chunk(head)
            file_size = os.fstat(raw.fileno()).st_size
            with sf.SoundFile(path) as probe:  # the format, from libsndfile's reading
                block = probe.channels * 2
                rate: int = probe.samplerate
            data_bytes = max(file_size - data_offset, 0) // block * block
            (counted,) = struct.unpack_from("<I", head, size_offset)
            if counted != data_bytes:
                raw.seek(size_offset)
                raw.write(struct.pack("<I", data_bytes))
                raw.seek(4)
                raw.write(struct.pack("<I", data_offset - 8 + data_bytes))
        with sf.SoundFile(path) as repaired:
            frames: int = repaired.frames
        return frames / rate
    except (OSError, ValueError, sf.LibsndfileError) as exc:
        log.warning("recording %s cannot be recovered: %s", path, exc)
        return None
