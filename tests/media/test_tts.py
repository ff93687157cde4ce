"""Run-time text-to-speech: espeak-ng output cached by text and voice; hostile text is harmless."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from softswitch.media.tts import (
    DEFAULT_MAX_TEXT_CHARS,
    Speaker,
    TextToSpeechFailed,
    TextToSpeechRefused,
    TextToSpeechUnavailable,
    cache_key,
    cache_path,
    check_request,
    telephone_audio,
)

DEADLINE_S = 30.0


def _espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make setup installs it)")


def _run(coroutine: object) -> object:
    async def bounded() -> object:
        async with asyncio.timeout(DEADLINE_S):
            return await coroutine  # type: ignore[misc]

    return asyncio.run(bounded())


def test_cache_key_depends_on_text_and_voice_only() -> None:
    key = cache_key("Your balance is 42 dollars", "en-us")
    assert len(key) == 64 and int(key, 16) >= 0
    assert cache_key("  Your balance is 42 dollars\n", "en-us") == key
    assert cache_key("Your balance is 43 dollars", "en-us") != key
    assert cache_key("Your balance is 42 dollars", "en-gb") != key
    assert (
        cache_path(Path("/data/tts"), "x", "cmn")
        == Path("/data/tts") / cache_key("x", "cmn")[:2] / f"{cache_key('x', 'cmn')}.wav"
    )


@pytest.mark.parametrize("voice", ["", "-w", "--stdout", "en us", "a" * 41, "../x", "en;rm"])
def test_voices_that_could_be_options_are_refused(voice: str) -> None:
    with pytest.raises(TextToSpeechRefused):
        check_request("hello", voice)


def test_text_bounds() -> None:
    with pytest.raises(TextToSpeechRefused, match="empty"):
        check_request(" \n ", "en-us")
    with pytest.raises(TextToSpeechRefused, match="more than"):
        check_request("a" * (DEFAULT_MAX_TEXT_CHARS + 1), "en-us")
    assert check_request("  hi  ", "en-us") == "hi"


@given(st.text(max_size=1200), st.text(max_size=50))
def test_any_request_is_accepted_or_refused_cleanly(text: str, voice: str) -> None:
    try:
        spoken = check_request(text, voice)
    except TextToSpeechRefused:
        return
    assert spoken == text.strip() and spoken and not voice.startswith("-")
    assert len(cache_key(spoken, voice)) == 64


@given(st.binary(max_size=200))
def test_garbage_from_espeak_is_a_declared_failure(data: bytes) -> None:
    with pytest.raises(TextToSpeechFailed):
        telephone_audio(data)


def test_missing_espeak_says_how_to_install_it(tmp_path: Path) -> None:
    speaker = Speaker(tmp_path, espeak="/nonexistent/espeak-ng")
    with pytest.raises(TextToSpeechUnavailable, match="apt-get install espeak-ng"):
        speaker.check_available()
    with pytest.raises(TextToSpeechUnavailable):
        _run(speaker.speak("hello", "en-us"))


def test_speaks_once_then_serves_the_cache(tmp_path: Path) -> None:
    _espeak()
    speaker = Speaker(tmp_path / "tts")
    path = _run(speaker.speak("You are caller number seven", "en-us"))
    assert isinstance(path, Path) and path.is_relative_to(tmp_path / "tts")
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert 1.0 < info.duration < 4.0
    assert _run(speaker.speak("You are caller number seven", "en-us")) == path
    assert speaker.synthesized == 1
    # A new Speaker (a restart) finds the cache warm.
    again = Speaker(tmp_path / "tts")
    assert _run(again.speak("You are caller number seven", "en-us")) == path
    assert again.synthesized == 0
    assert not list((tmp_path / "tts").rglob("*.partial"))


def test_concurrent_requests_for_one_text_run_espeak_once(tmp_path: Path) -> None:
    _espeak()
    speaker = Speaker(tmp_path)

    async def many() -> list[Path]:
        return list(
            await asyncio.gather(*(speaker.speak("您的来电对我们很重要", "cmn") for _ in range(5)))
        )

    paths = _run(many())
    assert isinstance(paths, list) and len(set(paths)) == 1
    assert speaker.synthesized == 1
    audio, rate = sf.read(str(paths[0]))
    assert rate == 8000 and np.abs(audio).max() == pytest.approx(0.5, abs=0.01)


def test_text_that_looks_like_options_is_just_spoken(tmp_path: Path) -> None:
    """Text goes on stdin: '-w FILE' in it writes no file, it is read out."""
    _espeak()
    target = tmp_path / "written-by-espeak.wav"
    path = _run(Speaker(tmp_path / "tts").speak(f"-w {target} --help", "en-us"))
    assert isinstance(path, Path) and path.exists()
    assert not target.exists()


def test_unknown_voice_is_a_failure_with_espeaks_reason(tmp_path: Path) -> None:
    _espeak()
    with pytest.raises(TextToSpeechFailed, match="voice"):
        _run(Speaker(tmp_path).speak("hello", "nosuchvoice"))
    assert not list(tmp_path.rglob("*.wav"))
