"""Text-to-speech for dynamic announcements with espeak-ng, cached on disk by text and voice.

The same text in the same voice is spoken once: the WAV lands in `<data dir>/tts/` under the
SHA-256 of (format version, voice, text), so a queue announcing "you are caller number" to a
thousand callers runs espeak-ng once, and a restart finds the cache warm. The pure part (cache
key, command line, turning espeak's 22 050 Hz output into telephone audio) is shared with
`scripts/make_prompts.py`; `Speaker` is the asyncio adapter that runs the subprocess.

Text is untrusted (a caller's name from a CRM): it goes to espeak-ng on stdin, never as an
argument, SSML is off, its length is bounded, and the voice name must look like a voice name.

    TextToSpeechError
    ├── TextToSpeechUnavailable   espeak-ng is not installed (check-config reports this)
    ├── TextToSpeechRefused       text or voice outside the bounds
    └── TextToSpeechFailed        espeak-ng ran and failed (unknown voice, crash, timeout)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import re
import shutil
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from softswitch_codecs import resample_offline

TELEPHONE_RATE_HZ: Final = 8000
CACHE_FORMAT: Final = "1"  # bump when telephone_audio() changes, so old cache entries are unused
DEFAULT_MAX_TEXT_CHARS: Final = 1000
DEFAULT_TIMEOUT_S: Final = 20.0
PEAK: Final = 0.5  # −6 dBFS: loud enough, and headroom for mixing and G.711
SILENCE_DBFS: Final = -45.0  # quieter than this at either end is trimmed
KEEP_S: Final = 0.02  # silence kept at each end after trimming, so a word's onset is whole
_VOICE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+\-]{0,39}")


class TextToSpeechError(Exception):
    """Base of what TTS raises."""


class TextToSpeechUnavailable(TextToSpeechError):
    """espeak-ng cannot be found."""


class TextToSpeechRefused(TextToSpeechError, ValueError):
    """The text or voice is outside what we send to espeak-ng."""


class TextToSpeechFailed(TextToSpeechError):
    """espeak-ng ran but produced no audio."""


def find_espeak(explicit: str | None = None) -> str:
    """The espeak-ng executable, or an error that says how to get it."""
    path = shutil.which(explicit or "espeak-ng")
    if path is None:
        raise TextToSpeechUnavailable(
            f"{explicit or 'espeak-ng'} not found: install it (Debian: apt-get install espeak-ng)"
        )
    return path


def check_request(text: str, voice: str, max_chars: int = DEFAULT_MAX_TEXT_CHARS) -> str:
    """The text as it will be spoken (stripped), or TextToSpeechRefused."""
    if not _VOICE.fullmatch(voice):
        raise TextToSpeechRefused(f"not a voice name: {voice!r}")
    spoken = text.strip()
    if not spoken:
        raise TextToSpeechRefused("nothing to say: the text is empty")
    if len(spoken) > max_chars:
        raise TextToSpeechRefused(f"text is {len(spoken)} characters, more than {max_chars}")
    return spoken


def cache_key(text: str, voice: str) -> str:
    """Hex SHA-256 naming the cached audio of `text` in `voice`."""
    material = "\0".join((CACHE_FORMAT, voice, text.strip()))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def cache_path(cache_dir: Path, text: str, voice: str) -> Path:
    key = cache_key(text, voice)
    return cache_dir / key[:2] / f"{key}.wav"


def espeak_command(espeak: str, voice: str) -> list[str]:
    """espeak-ng reading the text from stdin and writing a WAV to stdout."""
    return [espeak, "-v", voice, "--stdout"]


def telephone_audio(wav: bytes) -> NDArray[np.int16]:
    """espeak-ng's WAV as 8 kHz mono int16: resampled, peak at −6 dBFS, silence trimmed."""
    try:
        samples, rate = sf.read(io.BytesIO(wav), dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise TextToSpeechFailed(f"espeak-ng wrote no readable WAV: {exc}") from None
    mono = np.asarray(samples[:, 0], dtype=np.float64)
    audio = resample_offline(mono, int(rate), TELEPHONE_RATE_HZ)
    peak = np.abs(audio).max() if audio.size else 0.0
    if peak <= 0:
        raise TextToSpeechFailed("espeak-ng produced only silence")
    audio = audio * (PEAK / peak)  # first: the silence threshold is then the same for every text
    loud = np.flatnonzero(np.abs(audio) > 10 ** (SILENCE_DBFS / 20))
    keep = round(KEEP_S * TELEPHONE_RATE_HZ)
    audio = audio[max(0, loud[0] - keep) : loud[-1] + 1 + keep]
    return np.asarray(np.rint(audio * 32767), dtype=np.int16)


def write_wav(path: Path, audio: NDArray[np.int16]) -> None:
    """Write atomically: a reader never sees half a file, even if two writers race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{id(audio):x}.partial")
    try:
        sf.write(str(partial), audio, TELEPHONE_RATE_HZ, subtype="PCM_16", format="WAV")
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


class Speaker:
    """Speaks text into cached WAV files; one espeak-ng process per text not yet cached."""

    def __init__(
        self,
        cache_dir: Path,
        espeak: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_chars: int = DEFAULT_MAX_TEXT_CHARS,
    ) -> None:
        self.cache_dir = cache_dir
        self._espeak = espeak
        self._timeout_s = timeout_s
        self._max_chars = max_chars
        self._pending: dict[Path, asyncio.Future[Path]] = {}
        self.synthesized = 0  # espeak-ng runs, for tests and metrics

    def check_available(self) -> str:
        """The espeak-ng path, or TextToSpeechUnavailable (for check-config)."""
        return find_espeak(self._espeak)

    async def speak(self, text: str, voice: str) -> Path:
        """The path of a WAV (8 kHz, mono, 16-bit) saying `text` in `voice`."""
        spoken = check_request(text, voice, self._max_chars)
        path = cache_path(self.cache_dir, spoken, voice)
        if path.exists():
            return path
        pending = self._pending.get(path)
        if pending is not None:  # the same text asked for twice at once: speak it once
            return await asyncio.shield(pending)
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._pending[path] = future
        try:
            await self._synthesize(spoken, voice, path)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody else awaits is not logged
            raise
        else:
            future.set_result(path)
        finally:
            del self._pending[path]
        return path

    async def _synthesize(self, text: str, voice: str, path: Path) -> None:
        command = espeak_command(find_espeak(self._espeak), voice)
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            wav, errors = await asyncio.wait_for(
                process.communicate(text.encode("utf-8")), self._timeout_s
            )
        except TimeoutError:
            process.kill()
            await process.wait()
            raise TextToSpeechFailed(f"espeak-ng took longer than {self._timeout_s} s") from None
        if process.returncode != 0 or not wav:
            message = errors.decode("utf-8", "replace").strip() or f"exit {process.returncode}"
            raise TextToSpeechFailed(f"espeak-ng failed for voice {voice!r}: {message}")
        self.synthesized += 1
        write_wav(path, telephone_audio(wav))
