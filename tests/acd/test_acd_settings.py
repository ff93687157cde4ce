"""[acd], [[queues]], [[agents]] in the TOML config: the demo, and errors by file and key."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.acd.model import EmptyPolicy, Requirement, Target, TargetKind, WideningRule
from softswitch.acd.settings import SettingsError, parse_settings
from softswitch.cli import load_acd
from softswitch.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"
BASE = "".join(f'[[extensions]]\nnumber = "{n}"\npassword = "p"\n' for n in ("1001", "1002"))


def error_of(text: str) -> str:
    data = tomllib.loads(BASE + text)
    extensions = {e.number for e in parse_config(data, "config.toml").extensions}
    with pytest.raises(SettingsError) as caught:
        parse_settings(data, extensions)
    return f"config.toml:{caught.value}"


def test_the_demo_queues_and_agents() -> None:
    acd = load_acd(EXAMPLE, load_config(EXAMPLE))
    queues = {q.number: q for q in acd.queues}
    assert set(queues) == {"600", "601"}
    members = {
        q: sorted(a.number for a in acd.agents if any(m.queue == q for m in a.memberships))
        for q in queues
    }
    assert members == {"600": ["1001", "1002", "1003"], "601": ["1003", "1004", "1005"]}
    sales = queues["600"]
    assert (sales.service_level_s, sales.short_abandon_s, sales.abandon_treatment) == (
        20,
        5,
        "against",
    )
    assert sales.screen_pop_url.startswith("https://crm.example.com/search?number={caller}")
    skills_600 = {a.number: a.proficiency("sales") for a in acd.agents if a.number <= "1003"}
    assert len(set(skills_600.values())) == 3  # different skills
    sales = queues["600"]
    assert sales.requirements == (Requirement("sales", 5),)
    assert sales.widening == (WideningRule(30, 3), WideningRule(60, 0))
    assert sales.overflow == Target(TargetKind.QUEUE, "601")
    assert sales.exit_target("2") == Target(TargetKind.CALLBACK)
    assert queues["601"].join_empty is EmptyPolicy.NO_AGENTS
    assert acd.reason_for_code("2") == "lunch"
    assert (sales.caller_id, queues["601"].caller_id) == ("+15550100600", "")
    outbound = {a.number: a.outbound_queue for a in acd.agents}
    assert outbound == {"1001": "600", "1002": "", "1003": "", "1004": "", "1005": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[queues]]\nnumber = "600"\nstrategy = "best"',
         "config.toml:queues[0].strategy: expected one of "),
        ('[[queues]]\nnumber = "600"\nrequires = { sales = 11 }',
         "config.toml:queues[0].requires.sales: expected a proficiency 1-10, got 11"),
        ('[[queues]]\nnumber = "600"\noverflow = "queue:699"',
         "config.toml:queues[0].overflow: no other queue 699"),
        ('[[queues]]\nnumber = "600"\nexit_keys = { "12" = "hangup" }',
         "config.toml:queues[0].exit_keys.12: exit keys are single DTMF digits"),
        ('[[queues]]\nnumber = "600"\nwiden = [{ after_s = 60 }, { after_s = 30 }]',
         "config.toml:queues[0].widen[1].after_s: rules must be in increasing after_s order"),
        ('[[queues]]\nnumber = "600"\nmax_wait = 3',
         "config.toml:queues[0].max_wait: unknown key"),
        ('[[queues]]\nnumber = "1001"', "config.toml:queues[0].number: 1001 is also an extension"),
        ('[[queues]]\nnumber = "600"\n[[agents]]\nnumber = "1009"',
         "config.toml:agents[0].number: no extension 1009"),
        ('[[queues]]\nnumber = "600"\n[[agents]]\nnumber = "1001"\nqueues = ["601"]',
         "config.toml:agents[0].queues[0].queue: no queue 601"),
        ('[[queues]]\nnumber = "600"\n[[agents]]\nnumber = "1001"\noutbound_queue = "601"',
         "config.toml:agents[0].outbound_queue: no queue 601"),
        ('[[queues]]\nnumber = "600"\nabandon_treatment = "favour"',
         "config.toml:queues[0].abandon_treatment: expected one of ignore, against, in-favour"),
        ('[[queues]]\nnumber = "600"\nservice_level_s = 0',
         "config.toml:queues[0].service_level_s:"),
        ('[[queues]]\nnumber = "600"\nmoh_class = "../etc"',
         "config.toml:queues[0].moh_class: expected a music-on-hold class name"),
        ('[[queues]]\nnumber = "600"\nannounce_every_s = -1',
         "config.toml:queues[0].announce_every_s:"),
        ('[acd]\nnot_ready_reasons = { "x" = "break" }',
         'config.toml:acd.not_ready_reasons: expected a table of "digits" = "reason"'),
    ],
)  # fmt: skip
def test_mistakes_are_reported_by_key(text: str, expected: str) -> None:
    assert error_of(text).startswith(expected)


values = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 700), st.floats(allow_nan=True),
    st.text(max_size=12), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(-2, 12), max_size=3),
)  # fmt: skip
queue_keys = st.sampled_from(
    ["number", "strategy", "requires", "widen", "overflow", "exit_keys", "max_wait_s",
     "join_empty", "callback_retries", "ring_timeout_s", "moh_class", "announce_every_s",
     "bogus"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.dictionaries(queue_keys, values, max_size=6), max_size=3),
    st.lists(st.dictionaries(st.sampled_from(["number", "skills", "queues"]), values), max_size=2),
)
def test_any_input_gives_a_config_or_a_config_error(
    queues: list[dict[str, Any]], agents: list[dict[str, Any]]
) -> None:
    data = tomllib.loads(BASE)
    data["queues"], data["agents"] = queues, agents
    parse_config(data, "config.toml")  # the rest of the file is fine
    try:
        parse_settings(data, {"1001", "1002"})
    except SettingsError as exc:
        assert exc.key and exc.problem


def test_run_and_check_config_report_acd_mistakes_by_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE + '[[queues]]\nnumber = "600"\nstrategy = "best"\n')
    with pytest.raises(ConfigError) as caught:
        load_acd(path, load_config(path))
    assert str(caught.value).startswith(f"{path}:queues[0].strategy: expected one of")


def test_a_queue_music_class_must_exist_in_the_prompts(tmp_path: Path) -> None:
    path = tmp_path / "moh.toml"
    data_dir = tmp_path / "data"
    text = BASE + f'[data]\ndir = "{data_dir}"\n[[queues]]\nnumber = "600"\nmoh_class = "jazz"\n'
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_acd(path, load_config(path))
    assert str(caught.value).startswith(
        f"{path}:queues[0].moh_class: no music-on-hold class 'jazz'; available: default"
    )
    (data_dir / "prompts" / "moh" / "jazz").mkdir(parents=True)
    (data_dir / "prompts" / "moh" / "jazz" / "a.wav").write_bytes(
        (EXAMPLE.parents[0] / "prompts" / "moh" / "default" / "arpeggios.wav").read_bytes()
    )
    (queue,) = load_acd(path, load_config(path)).queues
    assert (queue.moh_class, queue.announce_every_s) == ("jazz", 30.0)
