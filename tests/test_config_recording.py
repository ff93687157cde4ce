"""`[recording]` and the `record` keys: what the demo records, defaults, located errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from softswitch.config import ConfigError, load_config, parse_config, summarize
from softswitch.config_recording import RecordingConfig

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"

PHONES = """
[[extensions]]
number = "1001"
password = "a"
record = true

[[extensions]]
number = "1002"
password = "b"

[[trunks]]
name = "carrier"
host = "127.0.0.1"
record = true

[[trunks]]
name = "gateway"
host = "127.0.0.2"
record = false
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(tomllib.loads(text), "config.toml")
    return str(info.value)


def test_the_demo_records_every_bridged_call_and_conference() -> None:
    cfg = load_config(EXAMPLE)
    rec = cfg.recording
    assert rec.sample_rate == 8000 and rec.conferences
    assert rec.extensions == {e.number for e in cfg.extensions}
    assert rec.trunks == {t.name for t in cfg.trunks}
    # Any bridge has a phone or a trunk in it: phone to phone, in from a trunk, trunk to trunk.
    assert rec.records_call(extensions=["1001", "1002"])
    assert rec.records_call(extensions=["1003"], trunk="gateway")
    assert rec.records_call(trunk="carrier")
    assert "conferences on" in summarize(cfg)


def test_per_extension_and_trunk() -> None:
    rec = parse_config(tomllib.loads(PHONES), "c.toml").recording
    assert rec.extensions == {"1001"} and rec.trunks == {"carrier"}
    assert rec.records_call(extensions=["1002", "1001"])
    assert not rec.records_call(extensions=["1002"])
    assert rec.records_call(extensions=["1002"], trunk="carrier")
    assert not rec.records_call(extensions=["1002"], trunk="gateway")
    assert not rec.conferences


def test_defaults_record_nothing() -> None:
    assert parse_config({}, "c.toml").recording == RecordingConfig()
    assert not RecordingConfig().records_call(extensions=["1001"], trunk="carrier")
    assert "calls of nobody" in RecordingConfig().summary()


def test_sample_rate_and_conferences() -> None:
    text = "[recording]\nsample_rate = 16000\nconferences = true\n"
    rec = parse_config(tomllib.loads(text), "c.toml").recording
    assert rec.sample_rate == 16000 and rec.conferences


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[recording]\nsample_rate = 44100",
            "config.toml:recording.sample_rate: expected 8000 or 16000, got 44100",
        ),
        (
            "[recording]\nsample_rate = true",
            "config.toml:recording.sample_rate: expected 8000 or 16000, got True",
        ),
        (
            '[recording]\nconferences = "yes"',
            "config.toml:recording.conferences: expected true or false, got 'yes'",
        ),
        ("[recording]\nformat = 'mp3'", "config.toml:recording.format: unknown key"),
        ("recording = 1", "config.toml:recording: expected a table, got 1"),
        (
            '[[extensions]]\nnumber = "1001"\npassword = "p"\nrecord = 1',
            "config.toml:extensions[0].record: expected true or false, got 1",
        ),
        (
            '[[trunks]]\nname = "t"\nhost = "127.0.0.1"\nrecord = "on"',
            "config.toml:trunks[0].record: expected true or false, got 'on'",
        ),
    ],
)
def test_mistakes_are_located(text: str, message: str) -> None:
    assert error_of(text) == message
