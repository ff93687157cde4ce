"""IVR flows as data: one TOML file per flow, a table of nodes by id, parsed into frozen nodes.

A flow file that cannot be understood raises `FlowError(file, node, problem)`, and nothing else
(a property test holds the parser to it). Whether its targets exist and every node is reachable
is `validate.py`'s concern, so that all problems of a set are listed at once.

Node kinds register by name in `NODE_KINDS`; each node lists its targets (the edges a validator
follows) and what it says (the prompts a validator looks up).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from softswitch.ivr.rules import Holidays, NumberPattern, RuleError, TimeRange, parse_days
from softswitch.ivr.say import CURRENCIES, SayKind

MAX_NODES: Final = 500
MAX_FLOW_BYTES: Final = 256 * 1024
DTMF: Final = frozenset("0123456789*#")
_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VARIABLE_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_TEMPLATE_RE: Final = re.compile(r"\$\{([^}]*)\}")


class FlowError(Exception):
    """A flow file that cannot be used: which file, which node (may be empty), what is wrong."""

    def __init__(self, file: str, node: str, problem: str) -> None:
        self.file = file
        self.node = node
        self.problem = problem
        where = f"{file}: node {node!r}" if node else file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True, order=True)
class FlowProblem:
    file: str
    node: str
    problem: str

    def __str__(self) -> str:
        return (
            f"{self.file}: node {self.node!r}: {self.problem}"
            if self.node
            else (f"{self.file}: {self.problem}")
        )


@dataclass(frozen=True)
class Template:
    """Text with ${variable} references, filled in from the call's variables when used."""

    text: str

    def render(self, variables: Mapping[str, str]) -> str:
        return _TEMPLATE_RE.sub(lambda m: variables.get(m[1], ""), self.text)

    @property
    def literal(self) -> str | None:
        return None if _TEMPLATE_RE.search(self.text) else self.text


@dataclass(frozen=True)
class Audio:
    """What to say: recorded prompts, or TTS text (also spoken when a prompt is missing)."""

    prompts: tuple[str, ...] = ()
    text: Template | None = None

    def __bool__(self) -> bool:
        return bool(self.prompts) or self.text is not None


@dataclass(frozen=True)
class Node:
    id: str

    def targets(self) -> Iterator[tuple[str, str]]:
        """(key, node id) of every node this one can go to."""
        return iter(())

    def audio(self) -> Iterator[Audio]:
        return iter(())

    @property
    def waits(self) -> bool:
        """Does this node wait for the caller (a prompt, a key, a timer) or leave the flow?"""
        return True


@dataclass(frozen=True)
class _Next(Node):
    next: str | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        if self.next is not None:
            yield "next", self.next


@dataclass(frozen=True)
class PlayNode(_Next):
    say: Audio = Audio()
    interruptible: bool = True

    def audio(self) -> Iterator[Audio]:
        yield self.say


@dataclass(frozen=True)
class SayNode(_Next):
    what: SayKind = SayKind.NUMBER
    value: Template = Template("")
    currency: str = "CNY"
    interruptible: bool = True


@dataclass(frozen=True)
class MenuNode(Node):
    say: Audio = Audio()
    choices: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    retries: int = 2
    invalid: Audio = Audio()
    timeout: Audio = Audio()
    on_failure: str | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        for digit, target in self.choices.items():
            yield f"choices.{digit}", target
        if self.on_failure is not None:
            yield "on_failure", self.on_failure

    def audio(self) -> Iterator[Audio]:
        yield from (self.say, self.invalid, self.timeout)


@dataclass(frozen=True)
class CollectNode(_Next):
    say: Audio = Audio()
    variable: str = "digits"
    min_digits: int = 1
    max_digits: int = 20
    terminator: str = "#"
    timeout_s: float = 5.0
    inter_digit_timeout_s: float = 3.0
    pattern: re.Pattern[str] | None = None
    retries: int = 2
    invalid: Audio = Audio()
    on_failure: str | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        yield from super().targets()
        if self.on_failure is not None:
            yield "on_failure", self.on_failure

    def audio(self) -> Iterator[Audio]:
        yield from (self.say, self.invalid)


@dataclass(frozen=True)
class SetNode(_Next):
    values: Mapping[str, Template] = field(default_factory=dict)

    @property
    def waits(self) -> bool:
        return False


@dataclass(frozen=True)
class Rule:
    """All conditions given must hold; `goto` is taken by the first rule that matches."""

    goto: str
    caller: NumberPattern | None = None
    called: NumberPattern | None = None
    variable: str | None = None
    equals: Template | None = None
    matches: re.Pattern[str] | None = None
    time: tuple[TimeRange, ...] = ()
    days: frozenset[int] | None = None
    holiday: bool | None = None
    dates: Holidays | None = None


@dataclass(frozen=True)
class BranchNode(Node):
    rules: tuple[Rule, ...] = ()
    default: str = ""

    def targets(self) -> Iterator[tuple[str, str]]:
        for index, rule in enumerate(self.rules):
            yield f"rules[{index}].goto", rule.goto
        yield "default", self.default

    @property
    def waits(self) -> bool:
        return False


# The call variable a queue exit names its one agent in, for the queue to read (and drop).
QUEUE_AGENT = "queue_agent"


class ExitKind(StrEnum):
    """Where a caller can leave a flow for; the call layer attaches the matching application."""

    QUEUE = "queue"
    EXTENSION = "extension"
    CONFERENCE = "conference"
    VOICEMAIL = "voicemail"
    EXTERNAL = "external"
    AGENT = "agent"  # back to the agent who sent the caller into the flow


@dataclass(frozen=True)
class TransferNode(Node):
    kind: ExitKind = ExitKind.EXTENSION
    target: Template = Template("")


@dataclass(frozen=True)
class QueueNode(Node):
    queue: Template = Template("")
    priority: Template | None = None
    skills: tuple[tuple[str, Template], ...] = ()
    skills_variable: str | None = None
    agent: Template | None = None  # "last" or a number: wait for that agent alone


@dataclass(frozen=True)
class GotoFlowNode(Node):
    flow: str = ""
    node: str | None = None

    @property
    def waits(self) -> bool:
        return False


@dataclass(frozen=True)
class ReturnToAgentNode(Node):
    variable: str = "agent"
    fallback: str | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        if self.fallback is not None:
            yield "fallback", self.fallback


@dataclass(frozen=True)
class HangupNode(Node):
    pass


@dataclass(frozen=True)
class Flow:
    name: str
    file: str
    start: str
    nodes: Mapping[str, Node]
    language: str = "en"
    entry_points: tuple[str, ...] = ()
    description: str = ""


# ---- parsing ------------------------------------------------------------------------------------


class _Reader:
    """One node's (or the flow's) table: typed reads failing with FlowError; no unknown keys."""

    def __init__(self, data: Mapping[str, Any], file: str, node: str, keys: tuple[str, ...]):
        self.data, self.file, self.node = data, file, node
        for key in data:
            if key not in keys:
                allowed = ", ".join(keys)
                raise self.error(f"unknown key {key!r} (allowed here: {allowed})")

    def error(self, problem: str) -> FlowError:
        return FlowError(self.file, self.node, problem)

    def _get(self, key: str, default: Any, check: Callable[[Any], bool], expected: str) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(f"{key}: missing (required)")
            return default
        value = self.data[key]
        if not check(value):
            raise self.error(f"{key}: expected {expected}, got {_short(value)}")
        return value

    def string(self, key: str, default: Any = None) -> Any:
        return self._get(
            key, default, lambda v: isinstance(v, str) and v != "", "a non-empty string"
        )

    def node_id(self, key: str, default: Any = None) -> Any:
        return self._get(key, default, _is_id, "a node id (letters, digits, _ and -)")

    def variable(self, key: str, default: Any = None) -> Any:
        return self._get(key, default, _is_variable, "a variable name (letters, digits, _)")

    def template(self, key: str, default: Any = None) -> Template | None:
        text = self._get(key, default, lambda v: isinstance(v, str | int), "a string")
        if text is None:
            return None
        return _template(self, key, str(text))

    def boolean(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, default, lambda v: isinstance(v, bool), "true or false")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value: int = self._get(
            key,
            default,
            lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high,
            f"an integer {low}-{high}",
        )
        return value

    def seconds(self, key: str, default: float) -> float:
        value = self._get(
            key,
            default,
            lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 3600,
            "seconds, more than 0 and at most 3600",
        )
        return float(value)

    def strings(self, key: str) -> list[str]:
        value: list[str] = self._get(
            key,
            [],
            lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v),
            "a list of non-empty strings",
        )
        return value

    def table(self, key: str) -> dict[str, Any]:
        value: dict[str, Any] = self._get(key, {}, lambda v: isinstance(v, dict), "a table")
        return value

    def regex(self, key: str) -> re.Pattern[str] | None:
        text = self.string(key)
        if text is None:
            return None
        try:
            return re.compile(text)
        except re.error as exc:
            raise self.error(f"{key}: not a regular expression ({exc})") from None

    def audio(self, prefix: str = "") -> Audio:
        prompts = self.strings(f"{prefix}prompts")
        for name in prompts:
            if not _PROMPT_RE.fullmatch(name):
                raise self.error(f"{prefix}prompts: bad prompt name {name!r}")
        text = self.template(f"{prefix}text")
        return Audio(tuple(prompts), text)


_REQUIRED: Final[Any] = object()
_PROMPT_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as media/prompts.py stores them


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def _is_variable(value: Any) -> bool:
    return isinstance(value, str) and _VARIABLE_RE.fullmatch(value) is not None


def _template(reader: _Reader, key: str, text: str) -> Template:
    for name in _TEMPLATE_RE.findall(text):
        if not _VARIABLE_RE.fullmatch(name):
            raise reader.error(f"{key}: ${{{name}}} is not a variable name")
    if "${" in _TEMPLATE_RE.sub("", text):
        raise reader.error(f"{key}: unclosed ${{ in {_short(text)}")
    return Template(text)


_AUDIO_KEYS: Final = ("prompts", "text")


def _play(r: _Reader) -> Node:
    say = r.audio()
    if not say:
        raise r.error("needs prompts or text")
    return PlayNode(r.node, r.node_id("next"), say, r.boolean("interruptible", True))


def _say(r: _Reader) -> Node:
    what = r._get("say", _REQUIRED, lambda v: v in tuple(SayKind), "one of " + ", ".join(SayKind))
    currencies = "one of " + ", ".join(CURRENCIES)
    currency = r._get("currency", "CNY", lambda v: v in CURRENCIES, currencies)
    value = r.template("value", _REQUIRED)
    assert value is not None
    return SayNode(
        r.node, r.node_id("next"), SayKind(what), value, currency, r.boolean("interruptible", True)
    )


def _menu(r: _Reader) -> Node:
    choices: dict[str, str] = {}
    for digit, target in r.table("choices").items():
        if digit not in DTMF:
            raise r.error(f"choices: {digit!r} is not a key (0-9, *, #)")
        if not _is_id(target):
            raise r.error(f"choices.{digit}: expected a node id, got {_short(target)}")
        choices[digit] = target
    if not choices:
        raise r.error("choices: a menu needs at least one choice")
    say = r.audio()
    if not say:
        raise r.error("needs prompts or text")
    invalid = r.audio("invalid_")
    return MenuNode(
        r.node,
        say,
        choices,
        r.seconds("timeout_s", 5.0),
        r.integer("retries", 2, 0, 10),
        invalid,
        r.audio("timeout_") or invalid,
        r.node_id("on_failure"),
    )


def _collect(r: _Reader) -> Node:
    min_digits = r.integer("min_digits", 1, 1, 64)
    max_digits = r.integer("max_digits", 20, 1, 64)
    if min_digits > max_digits:
        raise r.error(f"min_digits {min_digits} is above max_digits {max_digits}")
    terminator = r._get("terminator", "#", lambda v: v in ("", "#", "*"), "'#', '*' or '' (none)")
    return CollectNode(
        r.node,
        r.node_id("next"),
        r.audio(),
        r.variable("variable", _REQUIRED),
        min_digits,
        max_digits,
        terminator,
        r.seconds("timeout_s", 5.0),
        r.seconds("inter_digit_timeout_s", 3.0),
        r.regex("pattern"),
        r.integer("retries", 2, 0, 10),
        r.audio("invalid_"),
        r.node_id("on_failure"),
    )


def _set(r: _Reader) -> Node:
    values: dict[str, Template] = {}
    for name, value in r.table("values").items():
        if not _is_variable(name):
            raise r.error(f"values: {name!r} is not a variable name")
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise r.error(f"values.{name}: expected a string, got {_short(value)}")
        values[name] = _template(r, f"values.{name}", str(value))
    if not values:
        raise r.error("values: nothing to set")
    return SetNode(r.node, r.node_id("next"), values)


_RULE_KEYS: Final = (
    "goto", "caller", "called", "variable", "equals", "matches", "time", "days", "holiday", "dates",
)  # fmt: skip


def _rule(r: _Reader, index: int, data: Any) -> Rule:
    if not isinstance(data, dict):
        raise r.error(f"rules[{index}]: expected a table, got {_short(data)}")
    q = _Reader(data, r.file, r.node, _RULE_KEYS)
    try:
        caller, called = (
            NumberPattern.parse(text) if (text := q.string(key)) is not None else None
            for key in ("caller", "called")
        )
        times = q._get("time", [], lambda v: isinstance(v, str | list), "HH:MM-HH:MM or a list")
        times = [times] if isinstance(times, str) else times
        if not all(isinstance(t, str) for t in times):
            raise RuleError("time: expected strings HH:MM-HH:MM")
        days = q.strings("days")
        dates = q.strings("dates")
        rule = Rule(
            goto=q.node_id("goto", _REQUIRED),
            caller=caller,
            called=called,
            variable=q.variable("variable"),
            equals=q.template("equals"),
            matches=q.regex("matches"),
            time=tuple(TimeRange.parse(t) for t in times),
            days=parse_days(days) if days else None,
            holiday=q._get("holiday", None, lambda v: isinstance(v, bool), "true or false"),
            dates=Holidays.parse(dates) if dates else None,
        )
    except RuleError as exc:
        raise r.error(f"rules[{index}]: {exc}") from None
    except FlowError as exc:
        raise r.error(f"rules[{index}]: {exc.problem}") from None
    if (rule.equals is not None or rule.matches is not None) != (rule.variable is not None):
        raise r.error(f"rules[{index}]: 'variable' goes with 'equals' or 'matches'")
    return rule


def _branch(r: _Reader) -> Node:
    items = r._get("rules", [], lambda v: isinstance(v, list), "an array of tables ([[...rules]])")
    rules = tuple(_rule(r, index, item) for index, item in enumerate(items))
    return BranchNode(r.node, rules, r.node_id("default", _REQUIRED))


def _transfer(kind: ExitKind) -> Callable[[_Reader], Node]:
    def parse(r: _Reader) -> Node:
        target = r.template("target", _REQUIRED)
        assert target is not None
        return TransferNode(r.node, kind, target)

    return parse


def _queue(r: _Reader) -> Node:
    queue = r.template("queue", _REQUIRED)
    assert queue is not None
    skills: list[tuple[str, Template]] = []
    for skill, level in r.table("skills").items():
        if not _is_variable(skill):
            raise r.error(f"skills: {skill!r} is not a skill name (letters, digits, _)")
        if isinstance(level, bool) or not (
            isinstance(level, str) or (isinstance(level, int) and 1 <= level <= 10)
        ):
            raise r.error(f"skills.{skill}: expected a proficiency 1-10 or '${{variable}}'")
        skills.append((skill, _template(r, f"skills.{skill}", str(level))))
    priority = r._get(
        "priority",
        None,
        lambda v: isinstance(v, str) or (_is_int(v) and 0 <= v <= 9),
        "a priority 0-9 or '${variable}'",
    )
    return QueueNode(
        r.node,
        queue,
        _template(r, "priority", str(priority)) if priority is not None else None,
        tuple(skills),
        r.variable("skills_variable"),
        r.template("agent", None),
    )


def _goto_flow(r: _Reader) -> Node:
    flow = r.node_id("flow", _REQUIRED)
    return GotoFlowNode(r.node, flow, r.node_id("node"))


def _return_to_agent(r: _Reader) -> Node:
    return ReturnToAgentNode(r.node, r.variable("variable", "agent"), r.node_id("fallback"))


def _hangup(r: _Reader) -> Node:
    return HangupNode(r.node)


# kind name -> (keys allowed besides 'kind', parser)
NODE_KINDS: Final[dict[str, tuple[tuple[str, ...], Callable[[_Reader], Node]]]] = {
    "play": ((*_AUDIO_KEYS, "interruptible", "next"), _play),
    "say": (("say", "value", "currency", "interruptible", "next"), _say),
    "menu": (
        (
            *_AUDIO_KEYS,
            "choices",
            "timeout_s",
            "retries",
            "invalid_prompts",
            "invalid_text",
            "timeout_prompts",
            "timeout_text",
            "on_failure",
        ),
        _menu,
    ),
    "collect": (
        (
            *_AUDIO_KEYS,
            "variable",
            "min_digits",
            "max_digits",
            "terminator",
            "timeout_s",
            "inter_digit_timeout_s",
            "pattern",
            "retries",
            "invalid_prompts",
            "invalid_text",
            "next",
            "on_failure",
        ),
        _collect,
    ),
    "set": (("values", "next"), _set),
    "branch": (("rules", "default"), _branch),
    "queue": (("queue", "priority", "skills", "skills_variable", "agent"), _queue),
    "extension": (("target",), _transfer(ExitKind.EXTENSION)),
    "conference": (("target",), _transfer(ExitKind.CONFERENCE)),
    "voicemail": (("target",), _transfer(ExitKind.VOICEMAIL)),
    "external": (("target",), _transfer(ExitKind.EXTERNAL)),
    "flow": (("flow", "node"), _goto_flow),
    "return_to_agent": (("variable", "fallback"), _return_to_agent),
    "hangup": ((), _hangup),
}

_FLOW_KEYS: Final = ("start", "language", "entry_points", "description", "nodes")


def parse_flow(data: Mapping[str, Any], file: str, name: str) -> Flow:
    """Build a Flow from decoded TOML; FlowError on anything it cannot use."""
    top = _Reader(data, file, "", _FLOW_KEYS)
    nodes_data = top.table("nodes")
    if not nodes_data:
        raise top.error("nodes: a flow needs at least one node ([nodes.ID])")
    if len(nodes_data) > MAX_NODES:
        raise top.error(f"nodes: more than {MAX_NODES} nodes")
    nodes: dict[str, Node] = {}
    for node_id, body in nodes_data.items():
        if not _is_id(node_id):
            raise top.error(f"nodes: {_short(node_id)} is not a node id (letters, digits, _ and -)")
        if not isinstance(body, dict):
            raise FlowError(file, node_id, f"expected a table, got {_short(body)}")
        kind = body.get("kind")
        if not isinstance(kind, str) or kind not in NODE_KINDS:
            raise FlowError(
                file, node_id, f"kind: expected one of {', '.join(NODE_KINDS)}, got {_short(kind)}"
            )
        keys, parse = NODE_KINDS[kind]
        nodes[node_id] = parse(_Reader(body, file, node_id, ("kind", *keys)))
    entry_points = top.strings("entry_points")
    for entry in entry_points:
        if not _is_id(entry):
            raise top.error(f"entry_points: {_short(entry)} is not a node id")
    language = top._get("language", "en", _is_id, "a language code")
    return Flow(
        name=name,
        file=file,
        start=top.node_id("start", _REQUIRED),
        nodes=nodes,
        language=language,
        entry_points=tuple(entry_points),
        description=top._get("description", "", lambda v: isinstance(v, str), "a string"),
    )


def load_flow_text(text: bytes, file: str, name: str) -> Flow:
    """Decode and parse one flow file's bytes."""
    if len(text) > MAX_FLOW_BYTES:
        raise FlowError(file, "", f"larger than {MAX_FLOW_BYTES} bytes")
    try:
        data = tomllib.loads(text.decode())
    except UnicodeDecodeError as exc:
        raise FlowError(file, "", f"not UTF-8 ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise FlowError(file, "", f"not TOML: {exc}") from None
    return parse_flow(data, file, name)
