"""The `[acd]`, `[[queues]]` and `[[agents]]` sections of the TOML config, validated into
`AcdConfig`. Every problem is a `SettingsError` naming the key path; `config.py` adds the
file name and reports it like any other config mistake."""

from __future__ import annotations

import re
from typing import Any, Final

from softswitch.acd.model import (
    MAX_PROFICIENCY,
    MIN_PROFICIENCY,
    AcdConfig,
    AgentConfig,
    CallbackPolicy,
    EmptyPolicy,
    Membership,
    QueueConfig,
    Requirement,
    Target,
    TargetKind,
    WideningRule,
)
from softswitch.acd.statistics import AbandonTreatment
from softswitch.acd.strategies import default_registry

ROOT_KEYS: Final = ("acd", "queues", "agents")
_NUMBER_RE: Final = re.compile(r"[0-9*#]+")
_DTMF: Final = frozenset("0123456789*#")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_QUEUE_KEYS: Final = (
    "number", "name", "strategy", "requires", "widen", "ring_timeout_s", "max_no_answer",
    "no_answer_delay_s", "reject_delay_s", "busy_delay_s", "wrap_up_s", "max_wait_s", "overflow",
    "join_empty", "leave_empty", "empty_target", "max_length", "full_target", "exit_keys",
    "priority_step_s", "progressive_step_s", "callback_retries", "callback_retry_delay_s",
    "callback_dial_timeout_s", "default_handle_time_s", "service_level_s", "short_abandon_s",
    "abandon_treatment", "screen_pop_url", "caller_id",
    "moh_class", "announce_every_s",
)  # fmt: skip
_AGENT_KEYS: Final = ("number", "name", "skills", "queues", "outbound_queue")


class SettingsError(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class _Reader:
    """One TOML table: its key path for errors, unknown keys refused."""

    def __init__(self, data: object, path: str, keys: tuple[str, ...]) -> None:
        if not isinstance(data, dict):
            raise SettingsError(path, "expected a table")
        self.data: dict[str, Any] = data
        self.path = path
        for key in data:
            if key not in keys:
                raise self.error(key, "unknown key")

    def error(self, key: str, problem: str) -> SettingsError:
        return SettingsError(f"{self.path}.{key}" if self.path else key, problem)

    def number(self, key: str) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not _NUMBER_RE.fullmatch(value):
            raise self.error(key, f"expected dial digits as a string, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {value!r}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(key, f"expected an integer {low}-{high}, got {value!r}")
        return value

    def seconds(self, key: str, default: float, *, zero: bool = True) -> float:
        value = self.data.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or value < 0 or (not zero and value == 0):
            expected = "a number of seconds >= 0" if zero else "a number of seconds > 0"
            raise self.error(key, f"expected {expected}, got {value!r}")
        return float(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.data.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def skills(self, key: str) -> tuple[tuple[str, int], ...]:
        value = self.data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, "expected a table of skill = proficiency")
        out = []
        for skill, level in value.items():
            if not _NAME_RE.fullmatch(skill):
                raise self.error(f"{key}.{skill}", "skill names are letters, digits, _ and -")
            if (
                not isinstance(level, int)
                or isinstance(level, bool)
                or not MIN_PROFICIENCY <= level <= MAX_PROFICIENCY
            ):
                raise self.error(
                    f"{key}.{skill}",
                    f"expected a proficiency {MIN_PROFICIENCY}-{MAX_PROFICIENCY}, got {level!r}",
                )
            out.append((skill, level))
        return tuple(sorted(out))

    def tables(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, "expected an array")
        return value


def parse_settings(root: dict[str, Any], extensions: set[str]) -> AcdConfig:
    """The ACD part of the decoded TOML `root`; agents must be among `extensions`."""
    acd = _Reader(root.get("acd", {}), "acd", ("not_ready_reasons", "recent_handle_times"))
    reasons = acd.data.get("not_ready_reasons")
    not_ready = AcdConfig().not_ready_reasons
    if reasons is not None:
        if not isinstance(reasons, dict) or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, str) and v
            for k, v in reasons.items()
        ):
            raise acd.error("not_ready_reasons", 'expected a table of "digits" = "reason"')
        not_ready = tuple(sorted(reasons.items()))
    top = _Reader(root, "", tuple(root))
    raw_queues = top.tables("queues")
    numbers = [q.get("number") if isinstance(q, dict) else None for q in raw_queues]
    queues = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_queues):
        queue = _parse_queue(_Reader(raw, f"queues[{index}]", _QUEUE_KEYS), numbers)
        if queue.number in seen:
            raise SettingsError(f"queues[{index}].number", f"queue {queue.number} is defined twice")
        if queue.number in extensions:
            raise SettingsError(
                f"queues[{index}].number", f"{queue.number} is also an extension number"
            )
        seen.add(queue.number)
        queues.append(queue)
    agents = []
    agent_numbers: set[str] = set()
    for index, raw in enumerate(top.tables("agents")):
        reader = _Reader(raw, f"agents[{index}]", _AGENT_KEYS)
        agent = _parse_agent(reader, seen, extensions, order=index)
        if agent.number in agent_numbers:
            raise SettingsError(f"agents[{index}].number", f"agent {agent.number} is defined twice")
        agent_numbers.add(agent.number)
        agents.append(agent)
    return AcdConfig(
        queues=tuple(queues),
        agents=tuple(agents),
        not_ready_reasons=not_ready,
        recent_handle_times=acd.integer("recent_handle_times", 50, 1, 10_000),
    )


def _target(t: _Reader, key: str, queues: list[Any], own: str, *, exit_key: bool = False) -> Target:
    text = t.data.get(key, "hangup")
    if not isinstance(text, str):
        raise t.error(key, f"expected a target such as 'queue:601', got {text!r}")
    kind_text, _, name = text.partition(":")
    kinds = [k.value for k in TargetKind if exit_key or k is not TargetKind.CALLBACK]
    if kind_text not in kinds:
        raise t.error(key, f"unknown target {text!r} (kinds: {', '.join(kinds)})")
    kind = TargetKind(kind_text)
    if kind in (TargetKind.HANGUP, TargetKind.CALLBACK):
        if name:
            raise t.error(key, f"{kind_text!r} takes no name, got {text!r}")
        return Target(kind)
    if not name:
        raise t.error(key, f"{kind_text!r} needs a name, as in '{kind_text}:NAME'")
    if kind is TargetKind.QUEUE and (name not in queues or name == own):
        raise t.error(key, f"no other queue {name}")
    return Target(kind, name)


def _parse_queue(t: _Reader, queues: list[Any]) -> QueueConfig:
    number = t.number("number")
    strategies = default_registry()
    strategy = t.choice("strategy", "longest-idle", tuple(strategies))
    widening = []
    last = -1.0
    for index, raw in enumerate(t.tables("widen")):
        rule = _Reader(raw, f"{t.path}.widen[{index}]", ("after_s", "min_proficiency"))
        after = rule.seconds("after_s", 0.0)
        if after <= last:
            raise rule.error("after_s", "rules must be in increasing after_s order")
        last = after
        widening.append(WideningRule(after, rule.integer("min_proficiency", 0, 0, MAX_PROFICIENCY)))
    exit_keys = []
    raw_keys = t.data.get("exit_keys", {})
    if not isinstance(raw_keys, dict):
        raise t.error("exit_keys", 'expected a table of "digit" = "target"')
    keys_reader = _Reader(raw_keys, f"{t.path}.exit_keys", tuple(raw_keys))
    for digit in raw_keys:
        if digit not in _DTMF:
            raise keys_reader.error(digit, "exit keys are single DTMF digits (0-9, *, #)")
        exit_keys.append((digit, _target(keys_reader, digit, queues, number, exit_key=True)))
    policies = tuple(p.value for p in EmptyPolicy)
    return QueueConfig(
        number=number,
        name=t.text("name", ""),
        strategy=strategy,
        requirements=tuple(Requirement(s, p) for s, p in t.skills("requires")),
        widening=tuple(widening),
        ring_timeout_s=t.seconds("ring_timeout_s", 15.0, zero=False),
        max_no_answer=t.integer("max_no_answer", 3, 0, 1000),
        no_answer_delay_s=t.seconds("no_answer_delay_s", 0.0),
        reject_delay_s=t.seconds("reject_delay_s", 10.0),
        busy_delay_s=t.seconds("busy_delay_s", 10.0),
        wrap_up_s=t.seconds("wrap_up_s", 0.0),
        max_wait_s=t.seconds("max_wait_s", 0.0),
        overflow=_target(t, "overflow", queues, number),
        join_empty=EmptyPolicy(t.choice("join_empty", "never", policies)),
        leave_empty=EmptyPolicy(t.choice("leave_empty", "never", policies)),
        empty_target=_target(t, "empty_target", queues, number),
        max_length=t.integer("max_length", 0, 0, 100_000),
        full_target=_target(t, "full_target", queues, number),
        exit_keys=tuple(sorted(exit_keys)),
        priority_step_s=t.seconds("priority_step_s", 0.0),
        progressive_step_s=t.seconds("progressive_step_s", 5.0, zero=False),
        callback=CallbackPolicy(
            retries=t.integer("callback_retries", 2, 0, 100),
            retry_delay_s=t.seconds("callback_retry_delay_s", 60.0),
            dial_timeout_s=t.seconds("callback_dial_timeout_s", 30.0, zero=False),
        ),
        default_handle_time_s=t.seconds("default_handle_time_s", 180.0, zero=False),
        service_level_s=t.seconds("service_level_s", 20.0, zero=False),
        short_abandon_s=t.seconds("short_abandon_s", 5.0),
        abandon_treatment=t.choice(
            "abandon_treatment", "against", tuple(a.value for a in AbandonTreatment)
        ),
        screen_pop_url=t.text("screen_pop_url", ""),
        moh_class=_moh_class(t),
        announce_every_s=t.seconds("announce_every_s", 30.0),
        caller_id=t.text("caller_id", ""),
    )


def _moh_class(t: _Reader) -> str:
    """A folder name under prompts/moh/ (that it exists is checked against the data dir)."""
    name = t.text("moh_class", "default")
    if not _NAME_RE.fullmatch(name):
        raise t.error("moh_class", "expected a music-on-hold class name (letters, digits, _ -)")
    return name


def _parse_agent(t: _Reader, queues: set[str], extensions: set[str], order: int) -> AgentConfig:
    """`order` (the agent's place in the file) is its default position in every queue."""
    number = t.number("number")
    if number not in extensions:
        raise t.error("number", f"no extension {number}: an agent is an extension's phone")
    memberships: list[Membership] = []
    for index, raw in enumerate(t.tables("queues")):
        key = f"queues[{index}]"
        if isinstance(raw, str):
            raw = {"queue": raw}
        m = _Reader(raw, f"{t.path}.{key}", ("queue", "level", "position", "weight"))
        queue = m.number("queue")
        if queue not in queues:
            raise m.error("queue", f"no queue {queue}")
        if any(x.queue == queue for x in memberships):
            raise m.error("queue", f"agent {number} is in queue {queue} twice")
        weight = m.seconds("weight", 1.0, zero=False)  # any positive number
        memberships.append(
            Membership(
                queue,
                level=m.integer("level", 1, 0, 1000),
                position=m.integer("position", order, 0, 1_000_000),
                weight=weight,
            )
        )
    outbound_queue = t.text("outbound_queue", "")
    if outbound_queue and outbound_queue not in queues:
        raise t.error("outbound_queue", f"no queue {outbound_queue}")
    return AgentConfig(
        number=number,
        name=t.text("name", ""),
        skills=t.skills("skills"),
        memberships=tuple(memberships),
        outbound_queue=outbound_queue,
    )
