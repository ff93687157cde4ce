"""Flow files: what the parser refuses (with file and node), and that nothing else escapes it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ivr.helpers import flow

from softswitch.ivr.flow import NODE_KINDS, FlowError, load_flow_text, parse_flow
from softswitch.ivr.interpreter import DigitReceived, FlowRun, PromptFinished, Started, Timer
from softswitch.ivr.validate import validate_flows


@pytest.mark.parametrize(
    ("text", "node", "problem"),
    [
        ('start = "a"', "", "nodes: a flow needs at least one node"),
        ('start = "a"\n[nodes.a]\nkind = "dance"', "a", "kind: expected one of"),
        ('start = "a"\n[nodes.a]\nkind = "play"', "a", "needs prompts or text"),
        ('start = "a"\n[nodes.a]\nkind = "play"\ntext = "x"\nnxt = "b"', "a", "unknown key 'nxt'"),
        ('start = "a"\n[nodes.a]\nkind = "menu"\ntext = "x"', "a", "at least one choice"),
        (
            'start = "a"\n[nodes.a]\nkind = "menu"\ntext = "x"\nchoices = { "11" = "a" }',
            "a",
            "'11' is not a key",
        ),
        (
            'start = "a"\n[nodes.a]\nkind = "collect"\nvariable = "v"\n'
            "min_digits = 5\nmax_digits = 2",
            "a",
            "min_digits 5 is above max_digits 2",
        ),
        ('start = "a"\n[nodes.a]\nkind = "collect"', "a", "variable: missing (required)"),
        (
            'start = "a"\n[nodes.a]\nkind = "collect"\nvariable = "v"\npattern = "(["',
            "a",
            "pattern: not a regular expression",
        ),
        ('start = "a"\n[nodes.a]\nkind = "play"\ntext = "hi ${na me}"', "a", "not a variable name"),
        ('start = "a"\n[nodes.a]\nkind = "play"\ntext = "hi ${name"', "a", "unclosed"),
        ('start = "a"\n[nodes.a]\nkind = "branch"', "a", "default: missing (required)"),
        (
            'start = "a"\n[nodes.a]\nkind = "branch"\ndefault = "a"\n'
            '[[nodes.a.rules]]\ngoto = "a"\ntime = "8-18"',
            "a",
            "rules[0]: expected HH:MM-HH:MM",
        ),
        (
            'start = "a"\n[nodes.a]\nkind = "branch"\ndefault = "a"\n'
            '[[nodes.a.rules]]\ngoto = "a"\nequals = "1"',
            "a",
            "'variable' goes with 'equals' or 'matches'",
        ),
        ('start = "a"\n[nodes.a]\nkind = "queue"\nqueue = "600"\npriority = 12', "a", "priority"),
        (
            'start = "a"\n[nodes.a]\nkind = "queue"\nqueue = "600"\nskills = { sales = 11 }',
            "a",
            "proficiency 1-10",
        ),
        ('start = "a"\n[nodes.a]\nkind = "say"\nsay = "poem"\nvalue = "1"', "a", "say: expected"),
        ('[nodes.a]\nkind = "hangup"', "", "start: missing (required)"),
    ],
)
def test_parse_errors_name_file_node_and_problem(text: str, node: str, problem: str) -> None:
    with pytest.raises(FlowError) as caught:
        load_flow_text(text.encode(), "flows/x.toml", "x")
    assert caught.value.file == "flows/x.toml"
    assert caught.value.node == node
    assert problem in caught.value.problem
    assert str(caught.value).startswith("flows/x.toml")


def test_not_toml_and_not_utf8() -> None:
    with pytest.raises(FlowError, match="not TOML"):
        load_flow_text(b"start = ", "f.toml", "f")
    with pytest.raises(FlowError, match="not UTF-8"):
        load_flow_text(b"\xff\xfe", "f.toml", "f")


def test_every_node_kind_parses() -> None:
    parsed = flow("""
    start = "p"
    [nodes.p]
    kind = "play"
    text = "hi"
    next = "s"
    [nodes.s]
    kind = "say"
    say = "digits"
    value = "${caller}"
    [nodes.m]
    kind = "menu"
    prompts = ["menu"]
    choices = { "1" = "p" }
    [nodes.c]
    kind = "collect"
    variable = "v"
    [nodes.set]
    kind = "set"
    values = { a = "b" }
    [nodes.b]
    kind = "branch"
    default = "p"
    [nodes.q]
    kind = "queue"
    queue = "600"
    [nodes.e]
    kind = "extension"
    target = "1001"
    [nodes.conf]
    kind = "conference"
    target = "8000"
    [nodes.vm]
    kind = "voicemail"
    target = "1001"
    [nodes.x]
    kind = "external"
    target = "+861234"
    [nodes.f]
    kind = "flow"
    flow = "other"
    [nodes.r]
    kind = "return_to_agent"
    [nodes.h]
    kind = "hangup"
    """)
    kinds = {type(node).__name__ for node in parsed.nodes.values()}
    assert len(parsed.nodes) == 14 and len(kinds) == 11
    assert set(NODE_KINDS) == {
        "play", "say", "menu", "collect", "set", "branch", "queue", "extension", "conference",
        "voicemail", "external", "flow", "return_to_agent", "hangup",
    }  # fmt: skip


# ---- property: arbitrary TOML-shaped data never raises anything but FlowError ------------------

_KEYS = sorted(
    {key for keys, _ in NODE_KINDS.values() for key in keys}
    | {"kind", "start", "nodes", "language", "entry_points", "rules", "goto", "caller", "time"}
    | {"days", "holiday", "dates", "equals", "matches", "called", "variable"}
)
_scalars = st.one_of(
    st.sampled_from(["a", "b", "1", "#", "", "${x}", "_1X.", "08:00-18:00", "mon-fri", "[", "en"]),
    st.sampled_from(list(NODE_KINDS)),
    st.text(max_size=8),
    st.integers(-5, 100),
    st.floats(allow_nan=True),
    st.booleans(),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=4)), inner, max_size=5),
    ),
    max_leaves=25,
)
_node = st.dictionaries(st.sampled_from(_KEYS), _values, max_size=6).map(
    lambda d: d if "kind" in d else {**d, "kind": "play"}
)
_flow_data = st.fixed_dictionaries(
    {"nodes": st.dictionaries(st.sampled_from(["a", "b", "c", "1", "x y"]), _node, max_size=4)},
    optional={
        "start": st.sampled_from(["a", "b", "zz", 3]),
        "language": st.sampled_from(["en", "zh", "fr", ""]),
        "entry_points": st.lists(st.sampled_from(["a", "b", "q"]), max_size=2),
        "bogus": _values,
    },
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(_flow_data, st.lists(st.sampled_from(list("0123456789*#A")), max_size=12))
def test_arbitrary_flows_raise_only_flow_error(data: dict[str, Any], keys: list[str]) -> None:
    try:
        parsed = parse_flow(data, "f.toml", "f")
    except FlowError:
        return
    flows = {"f": parsed}
    validate_flows(flows, prompts=lambda language, name: False, tts_available=False)
    if parsed.start not in parsed.nodes:
        return
    # A parsed flow also runs: keys, prompt ends and timers never raise from inside.
    run = FlowRun(flows, "f")
    now = 0.0
    run.handle(Started(now, "1001", "500", {"x": "1"}))
    for key in keys:
        if run.state.value == "done":
            break
        now += 1.0
        run.handle(DigitReceived(key, now))
        if run.state.value == "done":
            break
        run.handle(PromptFinished(now, run._play_id))
        deadline = run.next_deadline()
        if deadline is not None and run.state.value != "done":
            run.handle(Timer(deadline))
