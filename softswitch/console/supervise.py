"""Supervisor actions from the console: `:listen AGENT`, `:whisper AGENT`, `:barge AGENT`
(each with an optional supervisor extension; by default the user's own phone rings), and
`:release CALL` (force the call's release: hang it up). Keys `l`, `w`, `b` act on the agent of
the selected row (agents view: the agent; calls view: the called party of the call), `x` fills
`:release CALL` for the selected call, to be confirmed with Enter as `:hangup` is.

Everything goes through the CTI API's supervision routes (api/supervision.py): the console
only asks; the switch rings the supervisor's phone and mixes it in on answer.
"""

from __future__ import annotations

from typing import Final

from textual.widgets import DataTable

from softswitch.api.client import ApiClient
from softswitch.console.commands import Command
from softswitch.console.session import Session
from softswitch.console.state import ConsoleState
from softswitch.console.views import ConsoleView, selected_key

MODES: Final = ("listen", "whisper", "barge")
NAMES: Final = frozenset((*MODES, "release"))
# (key, mode): the app binds each to its `supervise` action.
KEYS: Final = (("l", "listen"), ("w", "whisper"), ("b", "barge"))


def selected_agent(view: ConsoleView | None, state: ConsoleState) -> str | None:
    """The agent of the selected row: the agents view's agent, or a call's called party."""
    if view is None:
        return None
    tables = view.query("#agents")
    if tables:
        table = tables.first(DataTable)
        return selected_key(table)
    call = view.selected_call()
    if call is None or call not in state.calls:
        return None
    return state.calls[call].callee


async def run(session: Session, command: Command) -> str:
    """Run one supervision command; the message for the status line (ApiClientError: refused)."""
    if command.name == "release":
        call = command.number(0)
        await session.command(lambda api: api.hang_up(call))
        return f"call {call} released"
    agent = command.args[0]
    extension = command.args[1] if len(command.args) > 1 else None
    started: list[str] = []

    async def supervise(api: ApiClient) -> None:
        supervision = await api.supervise(agent, command.name, extension)
        started.append(f"supervision {supervision.supervision_id}")

    await session.command(supervise)
    phone = extension or "your phone"
    return f"{command.name} on agent {agent}: {started[0]}, ringing {phone}"
