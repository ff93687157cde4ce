"""Voicemail message files: mono 16-bit 8 kHz WAV, written as the caller speaks, kill-safe.

One `MessageFile` per message being left. `append(frame)` buffers a tick's `int16[160]`; once a
second the buffer goes to the file with one `write()`, then the WAV header's two sizes are
patched in place (the recorder's scheme, media/recorder.py): after `kill -9` the file plays up to
the last second written, and the message's row (written at its end) may be missing but the
audio is not. `close()` writes the rest (less the end key's tone, when asked) and returns the
duration the file holds.

Errors: `MessageFileError` when the file cannot be created; a later write failure (disk full)
ends the file where it is, logged, and `close()` reports what was kept.
"""

from __future__ import annotations

import datetime
import io
import logging
import os
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from softswitch.media.recorder import _patch_sizes, wav_data_chunk

RATE_HZ: Final = 8000
FLUSH_FRAMES: Final = 50  # ticks per write: one second
_SAFE: Final = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+_-")

log = logging.getLogger(__name__)


class MessageFileError(Exception):
    """A message file could not be created (its folder or file)."""


def message_name(time_s: float, caller: str) -> str:
    """`YYYYMMDD-HHMMSS_caller.wav` in UTC; the caller reduced to safe characters."""
    when = datetime.datetime.fromtimestamp(time_s, tz=datetime.UTC)
    safe = "".join(c if c in _SAFE else "_" for c in caller)[:32] or "_"
    return f"{when:%Y%m%d-%H%M%S}_{safe}.wav"


class MessageFile:
    """One message being written under `folder` (the box's folder)."""

    def __init__(self, folder: Path, name: str) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MessageFileError(f"cannot create {folder}: {exc.strerror}") from exc
        self._raw = _create(folder, name)
        self.path = Path(str(self._raw.name))
        try:
            sf.SoundFile(self._raw, "w", RATE_HZ, 1, "PCM_16", format="WAV").close()
            self._header = wav_data_chunk(os.pread(self._raw.fileno(), 512, 0))
            self._raw.seek(self._header[1])
        except (OSError, sf.LibsndfileError, ValueError) as exc:
            self._raw.close()
            raise MessageFileError(f"cannot start {self.path}: {exc}") from exc
        self._chunks: list[NDArray[np.int16]] = []
        self.written_samples = 0
        self.failed = False

    def append(self, frame: NDArray[np.int16]) -> None:
        """One tick of what the caller said (`int16[samples]`); written once a second."""
        if self.failed:
            return
        self._chunks.append(frame.copy())
        if len(self._chunks) >= FLUSH_FRAMES:
            self._flush()

    @property
    def duration_s(self) -> float:
        buffered = sum(chunk.size for chunk in self._chunks)
        return (self.written_samples + buffered) / RATE_HZ

    def close(self, trim_s: float = 0.0) -> float:
        """Write what is buffered, cut the last `trim_s` (the key that ended the message), and
        close; the seconds of audio the file holds."""
        self._flush()
        trim = min(round(trim_s * RATE_HZ), self.written_samples)
        if trim > 0 and not self.failed:
            kept = self.written_samples - trim
            try:
                os.ftruncate(self._raw.fileno(), self._header[1] + kept * 2)
                _patch_sizes(self._raw.fileno(), self._header, kept * 2)
                self.written_samples = kept
            except OSError as exc:
                log.error("voicemail %s: cannot trim the end key: %s", self.path, exc)
        try:
            self._raw.close()
        except OSError as exc:
            log.error("voicemail %s: closing failed: %s", self.path, exc)
        return self.written_samples / RATE_HZ

    def _flush(self) -> None:
        if not self._chunks or self.failed:
            self._chunks.clear()
            return
        data = np.concatenate(self._chunks).astype("<i2", copy=False)
        self._chunks.clear()
        written = self.written_samples + data.size
        try:
            if self._raw.write(data.tobytes()) != data.nbytes:
                raise OSError("short write")
            _patch_sizes(self._raw.fileno(), self._header, written * 2)
        except OSError as exc:
            log.error("voicemail %s cut: %s", self.path, exc)
            self.failed = True
            return
        self.written_samples = written


def _create(folder: Path, name: str) -> io.FileIO:
    """The file created new, never over another message (a suffix when the name is taken)."""
    stem, suffix = name.rsplit(".", 1)
    for attempt in range(100):
        candidate = name if attempt == 0 else f"{stem}-{attempt}.{suffix}"
        try:
            return io.FileIO(folder / candidate, "x+")
        except FileExistsError:
            continue
        except OSError as exc:
            raise MessageFileError(f"cannot create {folder / candidate}: {exc.strerror}") from exc
    raise MessageFileError(f"cannot create {name} in {folder}: 100 messages of that name exist")
