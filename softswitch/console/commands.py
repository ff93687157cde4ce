"""The `:` command line: one table of commands, parsed here, run by the app.

Every action of the console is a command (`:hangup 7`), so a key is only a shortcut for one
and everything can be typed, as k9s's `:` and fs_cli's commands do. `parse` raises
`CommandError` with a message for the status line; it never raises anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

MAX_COMMAND_CHARS: Final = 200


class CommandError(ValueError):
    """A command line that is not a command: the message says what was expected."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str  # arguments, as the help shows them
    help: str
    integers: int  # how many leading arguments must be integers
    min_args: int
    max_args: int


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[str, ...]

    def number(self, index: int, default: int | None = None) -> int:
        if index < len(self.args):
            return int(self.args[index])  # checked by parse
        if default is None:
            raise CommandError(f"{self.name}: argument {index + 1} missing")
        return default


def _specs(*specs: CommandSpec) -> Mapping[str, CommandSpec]:
    return {spec.name: spec for spec in specs}


COMMANDS: Final[Mapping[str, CommandSpec]] = _specs(
    CommandSpec("hangup", "CALL", "hang up call CALL (BYE to every party)", 1, 1, 1),
    CommandSpec("hold", "CALL [LEG]", "hold a party of CALL (leg 1 the caller: default)", 2, 1, 2),
    CommandSpec("resume", "CALL [LEG]", "take a held party of CALL off hold", 2, 1, 2),
    # the call centre (console/centre_actions.py): agents by number, waiting callers by call
    CommandSpec("pause", "AGENT REASON", "make AGENT not ready for REASON (lunch...)", 1, 2, 6),
    CommandSpec("ready", "AGENT", "make AGENT ready (unpause, or log in and ready)", 1, 1, 1),
    CommandSpec("login", "AGENT", "log AGENT in (ready)", 1, 1, 1),
    CommandSpec("logout", "AGENT", "log AGENT out of its queues", 1, 1, 1),
    CommandSpec("wrapup", "AGENT", "end AGENT's wrap-up: ready for the next call", 1, 1, 1),
    CommandSpec("move", "CALL QUEUE", "move waiting CALL to QUEUE (keeps its wait)", 2, 2, 2),
    CommandSpec("head", "CALL", "put waiting caller CALL at the head of its queue", 1, 1, 1),
    CommandSpec("transfer", "CALL TARGET", "blind-transfer the caller of CALL to TARGET", 1, 2, 2),
    CommandSpec(
        "answer", "[CALL]", "answer CALL on your ringing phone (default: the offer)", 1, 0, 1
    ),
    # supervision (console/supervise.py)
    CommandSpec(
        "listen", "AGENT [EXT]", "listen to AGENT's call (rings EXT: default yours)", 1, 1, 2
    ),
    CommandSpec("whisper", "AGENT [EXT]", "whisper to AGENT: only the agent hears you", 1, 1, 2),
    CommandSpec("barge", "AGENT [EXT]", "barge into AGENT's call: both parties hear you", 1, 1, 2),
    CommandSpec("release", "CALL", "force the release of CALL (hang it up)", 1, 1, 1),
    CommandSpec("view", "NAME", "show a view (calls, registrations, log, ...)", 0, 1, 1),
    CommandSpec("filter", "[TEXT]", "show only rows containing TEXT (none: all)", 0, 0, 8),
    CommandSpec("help", "", "the help screen (F1)", 0, 0, 0),
    CommandSpec("keys", "", "the key list (?)", 0, 0, 0),
    CommandSpec("quit", "", "leave the console (under softswitch run: stop the switch)", 0, 0, 0),
)
ALIASES: Final[Mapping[str, str]] = {
    "q": "quit",
    "kill": "hangup",
    "h": "help",
    "unpause": "ready",  # the call centre's
    "logoff": "logout",
}


def parse(line: str) -> Command:
    text = line.strip().removeprefix(":").strip()
    if not text:
        raise CommandError("empty command (try :help)")
    if len(text) > MAX_COMMAND_CHARS:
        raise CommandError("command too long")
    word, *args = text.split()
    name = ALIASES.get(word.lower(), word.lower())
    spec = COMMANDS.get(name)
    if spec is None:
        raise CommandError(f"unknown command {word!r} (try :help)")
    if not spec.min_args <= len(args) <= spec.max_args:
        raise CommandError(f"usage: :{spec.name} {spec.usage}".rstrip())
    for arg in args[: spec.integers]:
        if not arg.isascii() or not arg.isdigit() or len(arg) > 15:
            raise CommandError(f"{spec.name}: {arg!r} is not a number")
    return Command(spec.name, tuple(args))
