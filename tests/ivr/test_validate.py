"""check-config's flow checks: each problem with file, node id and what is wrong; exit 2."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from ivr.helpers import flow

from softswitch.ivr.flow import FlowProblem
from softswitch.ivr.folder import builtin_flows, load_folder
from softswitch.ivr.say import PROMPT_TEXT
from softswitch.ivr.validate import library_prompts, validate_flows

REPO = Path(__file__).resolve().parents[2]
SOFTSWITCH = Path(sys.executable).with_name("softswitch")

BROKEN = """
start = "menu"
[nodes.menu]
kind = "menu"
prompts = ["main-menu", "not-recorded"]
choices = { "1" = "sales", "2" = "nowhere" }
on_failure = "bye"
[nodes.sales]
kind = "play"
text = "One moment"
next = "bye"
[nodes.bye]
kind = "hangup"
[nodes.orphan]
kind = "extension"
target = "1001"
[nodes.spin]
kind = "set"
values = { x = "1" }
next = "spin2"
[nodes.spin2]
kind = "branch"
default = "spin"
[nodes.jump]
kind = "flow"
flow = "missing"
"""


def _recorded(language: str, name: str) -> bool:
    return name == "main-menu" or name in PROMPT_TEXT.get(language, {})


def test_each_problem_has_file_node_and_problem() -> None:
    problems = validate_flows(
        {"broken": flow(BROKEN, "broken")}, prompts=_recorded, tts_available=False
    )
    found = {(p.node, p.problem) for p in problems}
    assert all(p.file == "broken.toml" for p in problems)
    assert ("menu", "choices.2: no node 'nowhere'") in found
    assert ("menu", "missing prompt 'not-recorded' for language 'en'") in found
    assert ("orphan", "unreachable from start and entry points") in found
    assert ("jump", "flow: no flow 'missing'") in found
    assert ("spin", "loops without waiting for the caller: spin -> spin2 -> spin") in found
    assert any(n == "sales" and "text needs espeak-ng (not installed)" in p for n, p in found)
    # With espeak-ng, the TTS-only node is fine; the rest stays.
    with_tts = validate_flows(
        {"broken": flow(BROKEN, "broken")}, prompts=_recorded, tts_available=True
    )
    assert not any(p.node == "sales" for p in with_tts)
    assert len(with_tts) == len(problems) - 1


def test_text_covers_a_missing_prompt_only_with_espeak() -> None:
    text = 'start = "a"\n[nodes.a]\nkind = "play"\nprompts = ["x"]\ntext = "hello"'
    flows = {"f": flow(text, "f")}
    assert validate_flows(flows, prompts=lambda lang, name: True, tts_available=False) == []
    assert validate_flows(flows, prompts=lambda lang, name: False, tts_available=True) == []
    [problem] = validate_flows(flows, prompts=lambda lang, name: False, tts_available=False)
    assert "prompt 'x' is missing" in problem.problem
    # No prompt store at all: prompts cannot be checked, and are not reported.
    assert validate_flows(flows, prompts=None, tts_available=False) == []


def test_say_nodes_need_their_prompts_and_a_sayer() -> None:
    text = """
    start = "lang"
    [nodes.lang]
    kind = "set"
    values = { language = "fr" }
    next = "n"
    [nodes.n]
    kind = "say"
    say = "number"
    value = "5"
    """
    problems = validate_flows(
        {"f": flow(text, "f")}, prompts=lambda lang, name: False, tts_available=True
    )
    texts = [p.problem for p in problems]
    assert any("no sayer for language 'fr'" in t for t in texts)
    assert any(t.startswith("say number:") and "'en'" in t for t in texts)


def test_goto_flow_node_must_be_an_entry_point_and_entry_points_must_exist() -> None:
    a = flow('start = "go"\n[nodes.go]\nkind = "flow"\nflow = "b"\nnode = "inner"', "a")
    b = flow(
        'start = "s"\nentry_points = ["ghost"]\n[nodes.s]\nkind = "hangup"\n'
        '[nodes.inner]\nkind = "hangup"',
        "b",
    )
    problems = validate_flows({"a": a, "b": b}, prompts=None, tts_available=True)
    assert (
        FlowProblem("a.toml", "go", "node: 'inner' is not an entry point of flow 'b'") in problems
    )
    assert FlowProblem("b.toml", "", "entry_points: no node 'ghost'") in problems
    assert FlowProblem("b.toml", "inner", "unreachable from start and entry points") in problems


def test_prompts_are_looked_up_in_the_user_folder_then_the_shipped_set(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "demo_menu.wav").write_bytes(b"RIFF")
    lookup = library_prompts(tmp_path)
    assert lookup("zh", "demo_menu") and not lookup("en", "demo_menu")
    assert lookup("en", "welcome") and lookup("zh", "5") and not lookup("en", "no_such_prompt")


def test_the_demo_against_the_shipped_prompts(tmp_path: Path) -> None:
    flows, problems = load_folder(builtin_flows())
    assert problems == []
    lookup = library_prompts(tmp_path)
    assert validate_flows(flows, prompts=lookup, tts_available=True) == []
    # The demo's recordings ship in the prompt set, so it needs no espeak-ng at all.
    assert validate_flows(flows, prompts=lookup, tts_available=False) == []
    # A recording taken out of the set is reported by node, once espeak-ng cannot stand in.
    missing = {"demo_main_menu", "demo_closed"}

    def without(language: str, name: str) -> bool:
        return name not in missing and lookup(language, name)

    problems = validate_flows(flows, prompts=without, tts_available=False)
    assert {p.node for p in problems} == {"main_menu", "closed"}
    assert all("because prompt 'demo_" in p.problem for p in problems)


def _check_config(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SOFTSWITCH), "check-config", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_of_the_example_is_clean() -> None:
    result = _check_config(REPO / "config.example.toml")
    assert result.returncode == 0, result.stderr
    assert "500 -> demo" in result.stdout
    assert result.stdout.strip().endswith("config.example.toml: OK")


def test_check_config_lists_flow_problems_and_exits_2(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.toml").write_text(BROKEN)
    (flows / "bad.toml").write_text('start = "a"\n[nodes.a]\nkind = "dance"\n')
    example = (REPO / "config.example.toml").read_text()
    config = tmp_path / "softswitch.toml"
    config.write_text(
        example.replace('flows_dir = ""', 'flows_dir = "flows"').replace(
            '"500" = "demo"', '"500" = "demo"\n"501" = "broken"'
        )
    )
    result = _check_config(config)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    broken = str(flows / "broken.toml")
    assert f"softswitch: {broken}: node 'menu': choices.2: no node 'nowhere'" in lines
    assert f"softswitch: {broken}: node 'orphan': unreachable from start and entry points" in lines
    assert any(
        line.startswith(f"softswitch: {flows / 'bad.toml'}: node 'a': kind:") for line in lines
    )
    assert f"softswitch: {config}: ivr.numbers.500: no flow 'demo' in the flows folder" in lines


def test_check_config_reports_a_bad_ivr_section_with_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "softswitch.toml"
    config.write_text(
        textwrap.dedent("""
        [ivr]
        time_zone = "Mars/Olympus"
        """)
    )
    result = _check_config(config)
    assert result.returncode == 2
    assert f"{config}:ivr.time_zone: unknown time zone 'Mars/Olympus'" in result.stderr
