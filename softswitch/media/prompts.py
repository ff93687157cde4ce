"""Find prompts by language and name, and music-on-hold classes, as 8 kHz int16 audio.

The shipped set is package data of `softswitch_prompts` (the repo's prompts/ folder), read through
importlib.resources so that a checkout, an installed wheel and a frozen binary all work. A user
folder (normally `<data dir>/prompts/`) laid out the same way is searched first: a WAV there
replaces the shipped prompt of that name, a new language folder adds a language, and
`moh/<class>/` adds a music-on-hold class. Any format and rate soundfile reads is accepted and
converted once, when first loaded.

    PromptError
    ├── PromptNotFound   no such language, prompt or class (says what exists)
    └── PromptUnreadable a file that is there but is not audio
"""

from __future__ import annotations

import io
import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from softswitch_codecs import resample_offline

PACKAGE: Final = "softswitch_prompts"
TEXTS: Final = "texts.toml"
MOH_FOLDER: Final = "moh"
RATE_HZ: Final = 8000
AUDIO_SUFFIXES: Final = (".wav", ".flac", ".ogg")


class PromptError(Exception):
    """Base of what the prompt library raises."""


class PromptNotFound(PromptError, LookupError):
    """No prompt, language or music class of that name."""


class PromptUnreadable(PromptError):
    """The file exists but soundfile cannot read it."""


@dataclass(frozen=True, slots=True)
class Language:
    """A prompt language: its tag, the espeak-ng voice that speaks it (for TTS), a description."""

    tag: str
    voice: str
    description: str


def read_audio(data: bytes, origin: str) -> NDArray[np.int16]:
    """Any soundfile-readable bytes as 8 kHz mono int16."""
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise PromptUnreadable(f"{origin}: not audio soundfile can read ({exc})") from None
    mono = samples.mean(axis=1)
    audio = resample_offline(mono, int(rate), RATE_HZ)
    scaled: NDArray[np.float64] = np.rint(audio * 32767.0)
    return np.asarray(np.clip(scaled, np.float64(-32768), np.float64(32767)), dtype=np.int16)


class PromptLibrary:
    """Prompts by language and name: the user's folder first, then the shipped set."""

    def __init__(self, user_dir: Path | None = None, package: str = PACKAGE) -> None:
        self._user_dir = user_dir
        self._shipped: Traversable = resources.files(package)
        texts = tomllib.loads(self._shipped.joinpath(TEXTS).read_text(encoding="utf-8"))
        self._languages = {
            tag: Language(tag, str(table["voice"]), str(table.get("description", tag)))
            for tag, table in texts["languages"].items()
        }
        self._cache: dict[tuple[str, str], NDArray[np.int16]] = {}

    def _roots(self) -> list[Traversable]:
        roots: list[Traversable] = []
        if self._user_dir is not None and self._user_dir.is_dir():
            roots.append(self._user_dir)
        roots.append(self._shipped)
        return roots

    def languages(self) -> list[str]:
        """Every language with at least one prompt, shipped or the user's."""
        found = {
            entry.name
            for root in self._roots()
            for entry in root.iterdir()
            if entry.is_dir() and entry.name != MOH_FOLDER and _audio_files(entry)
        }
        return sorted(found)

    def language(self, tag: str) -> Language:
        """What texts.toml says about a language (a user-only language has no voice)."""
        resolved = self.resolve(tag)
        return self._languages.get(resolved, Language(resolved, "", resolved))

    def resolve(self, tag: str) -> str:
        """The language folder for a tag: exact ("zh-cn"), else its primary subtag ("zh")."""
        wanted = tag.strip().lower().replace("_", "-")
        available = self.languages()
        for candidate in (wanted, wanted.split("-")[0]):
            if candidate in available:
                return candidate
        raise PromptNotFound(f"no prompts in language {tag!r}; available: {', '.join(available)}")

    def names(self, tag: str) -> list[str]:
        language = self.resolve(tag)
        return sorted(
            {
                entry.name.rsplit(".", 1)[0]
                for root in self._roots()
                for entry in _audio_files(root.joinpath(language))
            }
        )

    def has(self, tag: str, name: str) -> bool:
        try:
            return self._find(self.resolve(tag), name) is not None
        except PromptNotFound:
            return False

    def load(self, tag: str, name: str) -> NDArray[np.int16]:
        """The prompt as `int16[samples]` at 8 kHz (read once, then kept)."""
        language = self.resolve(tag)
        key = (language, name)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        entry = self._find(language, name)
        if entry is None:
            raise PromptNotFound(f"no prompt {name!r} in language {language!r}")
        audio = read_audio(entry.read_bytes(), f"prompt {language}/{entry.name}")
        audio.setflags(write=False)  # shared by every player of this prompt
        self._cache[key] = audio
        return audio

    def moh_classes(self) -> list[str]:
        return sorted(
            {
                entry.name
                for root in self._roots()
                for entry in _dirs(root.joinpath(MOH_FOLDER))
                if _audio_files(entry)
            }
        )

    def moh_tracks(self, class_name: str) -> list[Traversable]:
        """The files of a music-on-hold class in play order (by name); the user's class wins."""
        for root in self._roots():
            folder = root.joinpath(MOH_FOLDER).joinpath(class_name)
            tracks = _audio_files(folder)
            if tracks:
                return sorted(tracks, key=lambda t: t.name)
        known = ", ".join(self.moh_classes())
        raise PromptNotFound(f"no music-on-hold class {class_name!r}; available: {known}")

    def _find(self, language: str, name: str) -> Traversable | None:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise PromptNotFound(f"not a prompt name: {name!r}")
        for root in self._roots():
            folder = root.joinpath(language)
            for suffix in AUDIO_SUFFIXES:
                entry = folder.joinpath(name + suffix)
                if entry.is_file():
                    return entry
        return None


def _dirs(folder: Traversable) -> list[Traversable]:
    return [entry for entry in folder.iterdir() if entry.is_dir()] if folder.is_dir() else []


def _audio_files(folder: Traversable) -> list[Traversable]:
    if not folder.is_dir():
        return []
    return [
        entry
        for entry in folder.iterdir()
        if entry.is_file() and entry.name.lower().endswith(AUDIO_SUFFIXES)
    ]
