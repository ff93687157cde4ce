"""The command line: every command of the table parses, anything else is a CommandError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.console.commands import COMMANDS, CommandError, parse


def test_commands_and_their_arguments() -> None:
    assert parse(":hangup 7").args == ("7",)
    assert parse("kill 7").name == "hangup"
    hold = parse(":hold 7 2")
    assert (hold.name, hold.number(0), hold.number(1, 1)) == ("hold", 7, 2)
    assert parse("resume 7").number(1, 1) == 1
    assert parse(":filter sip 1001").args == ("sip", "1001")
    assert parse(":VIEW log").name == "view"
    assert {parse(name).name for name in ("help", "keys", "quit", "q")} == {"help", "keys", "quit"}


@pytest.mark.parametrize(
    "line", ["", ":", ":nope", ":hangup", ":hangup x", ":hangup 1 2", ":hold ٣", ":view"]
)
def test_what_is_not_a_command(line: str) -> None:
    with pytest.raises(CommandError):
        parse(line)


@given(st.text(max_size=300))
def test_any_line_parses_or_is_a_command_error(line: str) -> None:
    try:
        command = parse(line)
    except CommandError:
        return
    assert command.name in COMMANDS
