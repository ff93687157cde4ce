"""The flow set: selection by called and caller number, atomic reload, runs keep their flows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from softswitch.ivr.flowset import FlowChoice, FlowLoadError, FlowSet, Refused, select_flow
from softswitch.ivr.interpreter import Play, PromptFinished, TransferTo
from softswitch.ivr.rules import NumberPattern
from softswitch.ivr.settings import IvrSettings

ONE = 'start = "a"\n[nodes.a]\nkind = "extension"\ntarget = "1001"\n'
TWO = 'start = "a"\n[nodes.a]\nkind = "extension"\ntarget = "1002"\n'


def _settings(folder: Path, **kwargs: object) -> IvrSettings:
    return IvrSettings(flows_dir=folder, numbers={"500": "main", "501": "other"}, **kwargs)  # type: ignore[arg-type]


def _folder(tmp_path: Path, **files: str) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.toml").write_text(text)
    return folder


def test_select_by_called_number_vip_and_blocked() -> None:
    settings = IvrSettings(
        numbers={"500": "main", "501": "other"},
        vip_callers=(NumberPattern.parse("_139XXXXXXXX"), NumberPattern.parse("1004")),
        vip_priority=7,
        blocked_callers=(NumberPattern.parse("_0900."),),
    )
    assert select_flow(settings, "500", "1001") == FlowChoice("main")
    assert select_flow(settings, "501", "1004") == FlowChoice(
        "other", {"vip": "1", "priority": "7"}
    )
    assert select_flow(settings, "500", "09001234") == Refused("caller 09001234 is blocked")
    assert select_flow(settings, "502", "1001") == Refused("no flow for 502")
    diverted = IvrSettings(
        numbers={"500": "main"},
        vip_callers=(NumberPattern.parse("1004"),),
        vip_flow="vip",
        blocked_callers=(NumberPattern.parse("1003"),),
        blocked_flow="sorry",
    )
    assert select_flow(diverted, "500", "1004").flow == "vip"  # type: ignore[union-attr]
    assert select_flow(diverted, "500", "1003") == FlowChoice("sorry", {"blocked": "1"})


def test_start_runs_the_selected_flow_with_the_selection_variables(tmp_path: Path) -> None:
    folder = _folder(
        tmp_path,
        main='start = "q"\n[nodes.q]\nkind = "queue"\nqueue = "600"\npriority = "${priority}"\n',
        other=ONE,
    )
    flows = FlowSet(_settings(folder, vip_callers=(NumberPattern.parse("1004"),)))
    started = flows.start(0.0, "500", "1004")
    assert not isinstance(started, Refused)
    _, commands = started
    assert isinstance(commands[-1], TransferTo) and commands[-1].priority == 9
    assert flows.start(0.0, "509", "1004") == Refused("no flow for 509")


def test_reload_swaps_for_new_calls_and_running_calls_keep_their_flow(tmp_path: Path) -> None:
    play = (
        'start = "p"\n[nodes.p]\nkind = "play"\ntext = "v1"\nnext = "x"\n'
        '[nodes.x]\nkind = "extension"\ntarget = "1001"\n'
    )
    folder = _folder(tmp_path, main=play, other=ONE)
    flows = FlowSet(_settings(folder))
    assert flows.current.generation == 1
    started = flows.start(0.0, "500", "1001")
    assert not isinstance(started, Refused)
    old_run, commands = started
    assert isinstance(commands[0], Play) and commands[0].segments[0].text == "v1"

    (folder / "main.toml").write_text(play.replace("v1", "v2").replace('"1001"', '"1009"'))
    assert flows.reload() == []
    assert flows.current.generation == 2
    started = flows.start(0.0, "500", "1001")
    assert not isinstance(started, Refused)
    _, commands = started
    assert isinstance(commands[0], Play) and commands[0].segments[0].text == "v2"
    # The call that started before the reload finishes in the old flow.
    [exit_command] = old_run.handle(PromptFinished(1.0, 1))
    assert isinstance(exit_command, TransferTo) and exit_command.target == "1001"


def test_a_broken_reload_keeps_the_current_set(tmp_path: Path) -> None:
    folder = _folder(tmp_path, main=ONE, other=TWO)
    flows = FlowSet(_settings(folder))
    (folder / "main.toml").write_text(ONE.replace('"1001"', "[1001]"))  # not a string
    (folder / "extra.toml").write_text(TWO)
    problems = flows.reload()
    assert {(p.file, p.node) for p in problems} == {
        (str(folder / "main.toml"), "a"),
        ("config", ""),
    }
    assert flows.current.generation == 1 and set(flows.current.flows) == {"main", "other"}
    (folder / "other.toml").unlink()  # the settings still name 'other'
    (folder / "main.toml").write_text(ONE)
    problems = flows.reload()
    assert [p.problem for p in problems] == ["ivr.numbers.501: no flow 'other' in the flows folder"]


def test_a_set_that_does_not_check_clean_is_refused_at_start(tmp_path: Path) -> None:
    folder = _folder(tmp_path, main=ONE)
    with pytest.raises(FlowLoadError, match="no flow 'other'"):
        FlowSet(_settings(folder))
    shutil.rmtree(folder)
    with pytest.raises(FlowLoadError, match="flows folder does not exist"):
        FlowSet(_settings(folder))
