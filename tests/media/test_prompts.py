"""The shipped prompt set, the script that makes it, and the loader that finds prompts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from spectrum import peaks_hz, rms

from softswitch.media.prompts import PromptLibrary, PromptNotFound, PromptUnreadable

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "prompts"
TEXTS = tomllib.loads((PROMPTS / "texts.toml").read_text(encoding="utf-8"))
# What every language must have (the list, plus what reading back digits needs).
COMMON = [
    *(str(d) for d in range(10)),
    "please_hold",
    "you_are_caller_number",
    "all_agents_busy",
    "leave_message_after_tone",
    "goodbye",
    "thank_you",
    "call_important",
    "invalid_option",
    "please_enter",
    "press",
    "for",
    "to",
    "minutes",
    "seconds",
    "hundred",
    "thousand",
    "star",
    "pound",
    "you_entered",
]
NUMBER_WORDS = {
    "en": [*(str(n) for n in range(10, 20)), *(str(n) for n in range(20, 100, 10)), "million"],
    "zh": ["10", "liang", "ten_thousand", "hundred_million"],
}


def _wavs(language: str) -> list[Path]:
    return sorted((PROMPTS / language).glob("*.wav"))


def test_both_languages_ship_the_common_set_and_their_number_words() -> None:
    for language in ("en", "zh"):
        names = {p.stem for p in _wavs(language)}
        assert set(COMMON) <= names, sorted(set(COMMON) - names)
        assert set(NUMBER_WORDS[language]) <= names


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_text_has_its_wav_and_every_wav_its_text(language: str) -> None:
    assert {p.stem for p in _wavs(language)} == set(TEXTS["prompts"][language])


@pytest.mark.parametrize("language", ["en", "zh"])
def test_wavs_are_telephone_audio_with_silence_trimmed(language: str) -> None:
    for path in _wavs(language):
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16"), path.name
        audio, _ = sf.read(str(path), dtype="float64")
        # Words and short phrases; a whole announcement (the demo's office hours) runs to ~7 s.
        longest_s = 10.0 if path.stem.startswith("demo_") else 5.0
        assert 0.15 <= audio.size / 8000 <= longest_s, path.name
        loud = np.flatnonzero(np.abs(audio) > 10 ** (-45 / 20))
        assert loud[0] <= 0.025 * 8000 and audio.size - loud[-1] <= 0.025 * 8000, path.name
        assert np.abs(audio).max() == pytest.approx(0.5, abs=0.01), path.name
        # Speech, not silence or noise: most energy in the telephone band.
        spectrum = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / 8000)
        assert spectrum[(freqs >= 100) & (freqs <= 3400)].sum() / spectrum.sum() > 0.9, path.name


def test_library_finds_prompts_by_language_and_name() -> None:
    library = PromptLibrary()
    assert library.languages() == ["en", "zh"]
    assert set(COMMON) <= set(library.names("zh"))
    audio = library.load("en", "goodbye")
    assert audio.dtype == np.int16 and audio.size == sf.info(str(PROMPTS / "en/goodbye.wav")).frames
    assert library.load("en", "goodbye") is audio  # read once, shared by every player
    assert not audio.flags.writeable
    assert library.resolve("zh-CN") == "zh" and library.resolve("EN_us") == "en"
    assert library.language("zh").voice == "cmn"
    assert library.has("en", "please_hold") and not library.has("en", "nonsense")


def test_library_errors_say_what_exists() -> None:
    library = PromptLibrary()
    with pytest.raises(PromptNotFound, match="available: en, zh"):
        library.load("fr", "goodbye")
    with pytest.raises(PromptNotFound, match="'nonsense'"):
        library.load("en", "nonsense")
    for hostile in ("../zh/goodbye", "", ".hidden", "a\\b"):
        with pytest.raises(PromptNotFound):
            library.load("en", hostile)
    with pytest.raises(PromptNotFound, match="available: default"):
        library.moh_tracks("jazz")


def test_user_folder_overrides_and_adds(tmp_path: Path) -> None:
    """A user's WAV (any rate, stereo) replaces a shipped prompt; new folders add languages."""
    t = np.arange(16000) / 16000
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 500 * t)] * 2, axis=1)
    (tmp_path / "en").mkdir()
    sf.write(str(tmp_path / "en" / "goodbye.wav"), stereo, 16000)
    (tmp_path / "fr").mkdir()
    sf.write(str(tmp_path / "fr" / "goodbye.flac"), stereo[:, 0], 16000)
    (tmp_path / "moh" / "jazz").mkdir(parents=True)
    sf.write(str(tmp_path / "moh" / "jazz" / "b.wav"), stereo, 16000)
    sf.write(str(tmp_path / "moh" / "jazz" / "a.wav"), stereo, 16000)
    (tmp_path / "en" / "broken.wav").write_bytes(b"RIFF not really")

    library = PromptLibrary(user_dir=tmp_path)
    audio = library.load("en", "goodbye")
    assert audio.size == 8000  # one second, now at 8 kHz
    assert abs(peaks_hz(audio, 8000)[0] - 500) <= 2
    assert rms(audio) == pytest.approx(0.3 / np.sqrt(2) * 32767, rel=0.02)
    assert library.languages() == ["en", "fr", "zh"]
    assert library.load("fr", "goodbye").size == 8000
    assert library.load("en", "thank_you").size > 0  # the shipped one still there
    assert library.moh_classes() == ["default", "jazz"]
    assert [t.name for t in library.moh_tracks("jazz")] == ["a.wav", "b.wav"]
    with pytest.raises(PromptUnreadable, match=r"en/broken\.wav"):
        library.load("en", "broken")


def test_loads_from_a_zip_as_a_frozen_binary_would(tmp_path: Path) -> None:
    """Nothing assumes a real folder: a zipped copy of the package serves the same prompts."""
    archive = tmp_path / "frozen.zip"
    package = "frozen_prompts_copy"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in PROMPTS.rglob("*"):
            if path.is_file() and path.suffix in {".py", ".toml", ".wav"}:
                zipped.write(path, f"{package}/{path.relative_to(PROMPTS)}")
    sys.path.insert(0, str(archive))
    try:
        library = PromptLibrary(package=package)
        assert library.languages() == ["en", "zh"]
        np.testing.assert_array_equal(
            library.load("zh", "goodbye"), PromptLibrary().load("zh", "goodbye")
        )
        assert [t.name for t in library.moh_tracks("default")] == ["arpeggios.wav"]
    finally:
        sys.path.remove(str(archive))
        sys.modules.pop(package, None)


def _espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make setup installs it)")


@pytest.mark.parametrize(("language", "name"), [("en", "goodbye"), ("zh", "please_hold")])
def test_the_script_makes_a_prompt_like_the_shipped_one(
    tmp_path: Path, language: str, name: str
) -> None:
    _espeak()
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_prompts.py"), "--language", language,
         "--name", name, "--out", str(tmp_path)],
        check=True,
        timeout=60,
        capture_output=True,
    )  # fmt: skip
    made = tmp_path / language / f"{name}.wav"
    info = sf.info(str(made))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    shipped = sf.info(str(PROMPTS / language / f"{name}.wav"))
    # Another espeak-ng version may speak a little differently; the same one gives the same.
    assert info.frames == pytest.approx(shipped.frames, rel=0.3)


def test_the_script_refuses_what_texts_do_not_have(tmp_path: Path) -> None:
    _espeak()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_prompts.py"), "--language", "xx",
         "--out", str(tmp_path)],
        timeout=60,
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "no [prompts.xx]" in result.stderr
