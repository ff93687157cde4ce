"""The [voicemail] section: defaults, custom event codes and greetings, and mistakes reported
with the file and key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from softswitch.config import ConfigError, load_config
from softswitch.config_voicemail import DEFAULT_EVENT_CODES, load_voicemail

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_the_example_loads_with_the_business_event_codes() -> None:
    load_config(EXAMPLE)  # config.py accepts the section
    settings = load_voicemail(EXAMPLE)
    assert dict(settings.event_codes) == DEFAULT_EVENT_CODES
    assert "3 complaint" in settings.summary()


def _file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.toml"
    path.write_text(body)
    return path


def test_custom_codes_and_greetings(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '[voicemail]\nevent_codes = { "4" = "refund" }\nmax_message_s = 30\n'
        'greetings = { "600" = "demo_closed" }\n',
    )
    settings = load_voicemail(path)
    assert dict(settings.event_codes) == {"4": "refund"}
    assert settings.max_message_s == 30.0 and settings.greetings == {"600": "demo_closed"}
    assert load_voicemail(_file(tmp_path, "")).max_message_s == 120.0


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('event_codes = { "#" = "x" }', "voicemail.event_codes.#"),
        ('event_codes = { "12" = "x" }', "voicemail.event_codes.12"),
        ('event_codes = { "1" = "Not A Name" }', "voicemail.event_codes.1"),
        ("max_message_s = 0", "voicemail.max_message_s"),
        ('greetings = { "600" = "../etc/passwd" }', "voicemail.greetings.600"),
        ("colour = 1", "voicemail.colour"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = _file(tmp_path, f"[voicemail]\n{body}\n")
    with pytest.raises(ConfigError) as caught:
        load_voicemail(path)
    assert key in str(caught.value) and str(path) in str(caught.value)


def _check_config(path: Path) -> subprocess.CompletedProcess[str]:
    softswitch = Path(sys.executable).with_name("softswitch")
    return subprocess.run(
        [str(softswitch), "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_reports_a_greeting_or_event_name_without_a_prompt(tmp_path: Path) -> None:
    clean = _check_config(EXAMPLE)
    assert clean.returncode == 0, clean.stderr
    assert "voicemail: event codes 1 inquiry, 2 suggestion, 3 complaint" in clean.stdout
    text = EXAMPLE.read_text().replace(
        'event_codes = { "1" = "inquiry", "2" = "suggestion", "3" = "complaint" }',
        'event_codes = { "1" = "inquiry", "4" = "refund" }',
    )
    text = text.replace("greetings = {}", 'greetings = { "601" = "no_such_prompt" }')
    broken = tmp_path / "broken.toml"
    broken.write_text(text)
    result = _check_config(broken)
    assert result.returncode == 2
    assert f"{broken}: voicemail.greetings.601: no prompt 'no_such_prompt'" in result.stderr
    assert f"{broken}: voicemail.event_codes.4: no prompt 'vm_event_refund'" in result.stderr
