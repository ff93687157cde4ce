"""Speak every prompt of prompts/texts.toml with espeak-ng into prompts/<language>/<name>.wav.

This is how the shipped prompt set was made, and how a user re-records it or adds a language:

    python scripts/make_prompts.py                      # every language, every prompt
    python scripts/make_prompts.py --language zh        # one language
    python scripts/make_prompts.py --language en --name goodbye --name thank_you
    python scripts/make_prompts.py --out /tmp/prompts   # somewhere else (the tests do this)

The WAVs are 8 kHz mono 16-bit with the silence at both ends trimmed, peak at −6 dBFS: the same
processing as run-time text-to-speech (softswitch/media/tts.py).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

from softswitch.media.tts import (
    check_request,
    espeak_command,
    find_espeak,
    telephone_audio,
    write_wav,
)

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ROOT / "prompts" / "texts.toml"


def load_texts(path: Path) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(voice by language, text by name by language) from a texts.toml."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    voices = {lang: str(table["voice"]) for lang, table in data["languages"].items()}
    prompts = {
        lang: {str(k): str(v) for k, v in table.items()} for lang, table in data["prompts"].items()
    }
    missing = set(prompts) - set(voices)
    if missing:
        raise SystemExit(f"{path}: [prompts.{sorted(missing)[0]}] has no [languages.*] voice")
    return voices, prompts


def speak(espeak: str, text: str, voice: str) -> bytes:
    completed = subprocess.run(
        espeak_command(espeak, voice),
        input=check_request(text, voice).encode("utf-8"),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if completed.returncode != 0 or not completed.stdout:
        raise SystemExit(f"espeak-ng failed for {voice!r} {text!r}: {completed.stderr.decode()}")
    return completed.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=Path, default=TEXTS, help="texts.toml to read")
    parser.add_argument("--out", type=Path, default=TEXTS.parent, help="folder of language folders")
    parser.add_argument("--language", action="append", help="only this language (repeatable)")
    parser.add_argument("--name", action="append", help="only this prompt (repeatable)")
    parser.add_argument("--espeak", default=None, help="espeak-ng executable")
    args = parser.parse_args(argv)

    voices, prompts = load_texts(args.texts)
    espeak = find_espeak(args.espeak)
    languages = args.language or sorted(prompts)
    for language in languages:
        if language not in prompts:
            raise SystemExit(f"no [prompts.{language}] in {args.texts}")
        names = args.name or sorted(prompts[language])
        folder = args.out / language
        for name in names:
            if name not in prompts[language]:
                raise SystemExit(f"no prompt {name!r} in [prompts.{language}]")
            audio = telephone_audio(speak(espeak, prompts[language][name], voices[language]))
            write_wav(folder / f"{name}.wav", audio)
        stale = sorted(p.stem for p in folder.glob("*.wav") if p.stem not in prompts[language])
        print(f"{language}: {len(names)} prompts in {folder}", file=sys.stderr)
        if stale:
            print(
                f"{language}: not in {args.texts.name}, left alone: {', '.join(stale)}",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
